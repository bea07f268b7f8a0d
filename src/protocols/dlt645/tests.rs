//! The checked frames of protocols.md (DL/T 645 section) and frames built
//! by hand from the standard's layout (checksums summed outside the codec).
//! Expected bytes are literals, never produced by the code under test.

use super::app::{self, ReplySpec};
use super::*;
use crate::protocols::bcd::{BcdError, Decimal, Format};

/// protocols.md: request (forward active energy, any meter).
const REQUEST_ANY: [u8; 20] = [
    0xFE, 0xFE, 0xFE, 0xFE, 0x68, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0x68, 0x11, 0x04, 0x33, 0x33,
    0x34, 0x33, 0xAE, 0x16,
];
/// protocols.md: its reply, value bytes `04 00 00 00` = 000000.04 kWh.
const REPLY: [u8; 20] = [
    0x68, 0x37, 0x03, 0x00, 0x92, 0x81, 0x39, 0x68, 0x91, 0x08, 0x33, 0x33, 0x34, 0x33, 0x37, 0x33,
    0x33, 0x33, 0x8C, 0x16,
];
const METER: Address = Address([0x37, 0x03, 0x00, 0x92, 0x81, 0x39]);
const ENERGY: DataId = DataId::V2007(0x0001_0000);

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).expect("hex byte"))
        .collect()
}

fn frame(buf: &[u8]) -> (Frame<'_>, usize) {
    decode_complete(buf).expect("a valid frame")
}

#[test]
fn read_request_to_any_meter_matches_the_checked_frame() {
    let mut out = Vec::new();
    app::read_request(&Address::ANY, ENERGY, 4, &mut out).unwrap();
    assert_eq!(out, REQUEST_ANY);
    let (f, len) = frame(&REQUEST_ANY);
    assert_eq!(
        (f.address, f.control, len),
        (Address::ANY, Control(0x11), 20)
    );
    assert_eq!(f.data().collect::<Vec<_>>(), [0x00, 0x00, 0x01, 0x00]);
}

#[test]
fn checked_reply_decodes_to_four_hundredths_of_a_kwh() {
    let (f, len) = frame(&REPLY);
    assert_eq!(len, 20);
    assert_eq!(f.address.to_string(), "398192000337");
    let r = app::read_reply_for(&f, ENERGY).unwrap();
    assert_eq!(
        r.value_bytes().collect::<Vec<_>>(),
        [0x04, 0x00, 0x00, 0x00]
    );
    let fmt = known(ENERGY).unwrap().format;
    assert_eq!(
        r.value(fmt).unwrap(),
        Some(Decimal {
            raw: 4,
            decimals: 2
        })
    );
    assert!(!r.more);
}

#[test]
fn nameplate_address_is_the_reply_address_reversed() {
    assert_eq!(Address::from_nameplate("398192000337").unwrap(), METER);
    assert_eq!("AAAAAAAAAAAA".parse::<Address>().unwrap(), Address::ANY);
    assert!(Address::ANY.accepts_reply_from(&METER));
    assert!(METER.accepts_reply_from(&METER));
    assert!(!METER.accepts_reply_from(&Address([0x38, 0x03, 0x00, 0x92, 0x81, 0x39])));
    // 2007's abbreviated address: high bytes AA match any meter ending 0337.
    assert!(Address([0x37, 0x03, 0xAA, 0xAA, 0xAA, 0xAA]).accepts_reply_from(&METER));
}

#[test]
fn signed_current_carries_its_sign_in_bit_7() {
    // 02 02 01 00 phase-A current, plain value bytes 00 15 80 = -1.500 A.
    let buf = hex("68 37 03 00 92 81 39 68 91 07 33 34 35 35 33 48 B3 ED 16");
    let (f, _) = frame(&buf);
    let di = DataId::V2007(0x0202_0100);
    let r = app::read_reply_for(&f, di).unwrap();
    let k = known(di).unwrap();
    assert_eq!((k.unit, k.format), ("A", Format::new(3, 3, true)));
    assert_eq!(r.value(k.format).unwrap().unwrap().to_f64(), -1.5);
}

#[test]
fn power_and_voltage_use_their_identifiers_decimal_places() {
    let buf = hex("68 37 03 00 92 81 39 68 91 07 33 33 36 35 83 45 33 BA 16");
    let (f, _) = frame(&buf);
    let di = DataId::V2007(0x0203_0000);
    let v = app::read_reply_for(&f, di)
        .unwrap()
        .value(known(di).unwrap().format)
        .unwrap();
    assert_eq!(
        v,
        Some(Decimal {
            raw: 1250,
            decimals: 4
        })
    ); // 00.1250 kW
    let buf = hex("68 37 03 00 92 81 39 68 91 06 33 34 34 35 38 55 4A 16");
    let (f, _) = frame(&buf);
    let di = DataId::V2007(0x0201_0100);
    let v = app::read_reply_for(&f, di)
        .unwrap()
        .value(known(di).unwrap().format)
        .unwrap();
    assert_eq!(
        v,
        Some(Decimal {
            raw: 2205,
            decimals: 1
        })
    ); // 220.5 V
}

#[test]
fn block_read_returns_one_value_per_tariff_with_ff_as_absent() {
    // 00 01 FF 00: total, T1..T4. T3 is FF-filled (0x32 on the wire, FF
    // after the offset), T4 is half FF (not BCD).
    let buf = hex(
        "68 37 03 00 92 81 39 68 91 18 33 32 34 33 67 45 33 33 67 45 33 33 33 33 33 33 32 32 32 32 65 32 32 32 7E 16",
    );
    let (f, _) = frame(&buf);
    let di = DataId::V2007(0x0001_FF00);
    let r = app::read_reply_for(&f, di).unwrap();
    let fmt = known(di).expect("a block reads like its members").format;
    let v: Vec<_> = r.values(fmt).collect();
    assert_eq!(
        v,
        [
            Ok(Some(Decimal {
                raw: 1234,
                decimals: 2
            })),
            Ok(Some(Decimal {
                raw: 1234,
                decimals: 2
            })),
            Ok(Some(Decimal {
                raw: 0,
                decimals: 2
            })),
            Ok(None),
            Err(BcdError::NotBcd(0xFF)),
        ]
    );
    assert!(r.value(fmt).is_err(), "a block is not one value");
}

#[test]
fn error_reply_is_its_own_error_with_the_err_bits_decoded() {
    let buf = hex("68 37 03 00 92 81 39 68 D1 01 35 5D 16");
    let e = decode(&buf).unwrap_err();
    let Error::ErrorReply {
        address,
        function,
        code,
        len,
    } = e
    else {
        panic!("{e:?}")
    };
    assert_eq!((address, function, len), (METER, 0x11, 13));
    assert!(code.no_such_data() && !code.unauthorised());
    assert_eq!(code.to_string(), "ERR 0x02: no such data requested");
    assert_eq!(
        ErrorCode(0x05).reasons().collect::<Vec<_>>(),
        ["other error", "wrong password or unauthorised"]
    );
    let mut out = Vec::new();
    app::encode_error_reply(&METER, 0x11, ErrorCode(0x02), 0, &mut out).unwrap();
    assert_eq!(out, buf);
}

#[test]
fn edition_1997_uses_two_byte_identifiers_and_its_own_codes() {
    let req = hex("68 37 03 00 92 81 39 68 01 02 44 E9 86 16");
    let mut out = Vec::new();
    app::read_request(&METER, DataId::V1997(0xB611), 0, &mut out).unwrap();
    assert_eq!(out, req);
    let reply = hex("68 37 03 00 92 81 39 68 81 04 44 E9 53 35 90 16");
    let (f, _) = frame(&reply);
    let r = app::read_reply_for(&f, DataId::V1997(0xB611)).unwrap();
    assert_eq!(
        r.value(known(r.di).unwrap().format).unwrap(),
        Some(Decimal {
            raw: 220,
            decimals: 0
        })
    );
    assert_eq!(
        known(DataId::V1997(0xB621)).unwrap().format,
        Format::new(2, 2, false)
    );
    assert_eq!(
        known(DataId::V1997(0xB630)).unwrap().format,
        Format::new(3, 4, false)
    );
    let err = hex("68 37 03 00 92 81 39 68 C1 01 35 4D 16");
    assert!(matches!(
        decode(&err),
        Err(Error::ErrorReply {
            function: 0x01,
            code: ErrorCode(0x02),
            ..
        })
    ));
}

#[test]
fn follow_up_frames_carry_d5_and_the_sequence_number() {
    let buf1 = hex("68 37 03 00 92 81 39 68 B1 08 33 33 34 33 37 33 33 33 AC 16");
    let (f, _) = frame(&buf1);
    assert!(app::read_reply(&f).unwrap().more);
    let mut out = Vec::new();
    app::read_follow_up_request(&METER, ENERGY, 1, 0, &mut out).unwrap();
    assert_eq!(
        out,
        hex("68 37 03 00 92 81 39 68 12 05 33 33 34 33 34 6E 16")
    );
    let buf2 = hex("68 37 03 00 92 81 39 68 92 09 33 33 34 33 38 33 33 33 34 C3 16");
    let (f, _) = frame(&buf2);
    let r = app::read_reply_for(&f, ENERGY).unwrap();
    assert_eq!((r.seq, r.more), (Some(1), false));
    assert_eq!(
        r.value(Format::new(4, 2, false)).unwrap(),
        Some(Decimal {
            raw: 5,
            decimals: 2
        })
    );
}

#[test]
fn read_address_discovers_the_single_meter() {
    let mut out = Vec::new();
    app::read_address_request(0, &mut out).unwrap();
    assert_eq!(out, hex("68 AA AA AA AA AA AA 68 13 00 DF 16"));
    let buf3 = hex("68 37 03 00 92 81 39 68 93 06 6A 36 33 C5 B4 6C A7 16");
    let (f, _) = frame(&buf3);
    assert_eq!(app::address_reply(&f).unwrap(), METER);
}

#[test]
fn wake_up_bytes_before_and_a_trailing_fe_after_are_consumed() {
    let mut buf = vec![0xFE; 4];
    buf.extend_from_slice(&REPLY);
    buf.push(0xFE);
    assert!(matches!(decode(&buf), Ok(Decoded::Frame { len: 25, .. })));
    assert_eq!(decode(&[0xFE, 0xFE]), Ok(Decoded::NeedMore));
}

#[test]
fn noise_and_a_stray_68_before_the_start_are_skipped_in_steps() {
    let mut buf = vec![0x00, 0x12, 0x68];
    buf.extend_from_slice(&REPLY);
    assert_eq!(decode(&buf), Err(Error::NotAFrame { skip: 2 }));
    assert_eq!(decode(&buf[2..]), Err(Error::NotAFrame { skip: 1 }));
    assert!(matches!(
        decode(&buf[3..]),
        Ok(Decoded::Frame { len: 20, .. })
    ));
    assert_eq!(decode(&[0x01, 0x02]), Err(Error::NotAFrame { skip: 2 }));
}

#[test]
fn stray_68_before_a_meter_whose_a5_is_68_is_still_skipped() {
    // The stray candidate sees a second 68 at offset 7, then control 0x68,
    // a request with the error bit: impossible, so not a frame start.
    let real = hex("68 37 03 00 92 81 68 68 91 08 33 33 34 33 37 33 33 33 BB 16");
    let mut buf = vec![0x68];
    buf.extend_from_slice(&real);
    assert_eq!(decode(&buf), Err(Error::NotAFrame { skip: 1 }));
    assert!(matches!(
        decode(&buf[1..]),
        Ok(Decoded::Frame { len: 20, .. })
    ));
}

#[test]
fn a_false_start_with_a_plausible_header_resynchronises_on_the_checksum() {
    let mut buf = hex("68 00 00 00 00 00 00 68 11 02");
    buf.extend_from_slice(&REPLY);
    assert_eq!(decode(&buf), Err(Error::NotAFrame { skip: 10 }));
    // With the real frame still arriving, wait rather than call it damaged.
    assert_eq!(decode(buf.get(..20).unwrap()), Ok(Decoded::NeedMore));
}

#[test]
fn damaged_frames_are_typed_and_say_how_much_to_drop() {
    let mut bad = REPLY;
    bad[18] = 0x8D;
    assert_eq!(
        decode(&bad),
        Err(Error::BadChecksum {
            got: 0x8D,
            want: 0x8C,
            len: 20
        })
    );
    let mut bad = REPLY;
    bad[19] = 0x17;
    assert_eq!(decode(&bad), Err(Error::BadEnd { got: 0x17, len: 20 }));
    assert_eq!(decode(&REPLY[..15]), Ok(Decoded::NeedMore));
    assert_eq!(
        decode_complete(&REPLY[..15]),
        Err(Error::Truncated { have: 15, need: 20 })
    );
    // L over 200 cannot be a frame.
    let long = hex("68 37 03 00 92 81 39 68 91 C9");
    assert_eq!(decode(&long), Err(Error::NotAFrame { skip: 1 }));
}

#[test]
fn replies_for_another_identifier_or_function_are_refused() {
    let (f, _) = frame(&REPLY);
    assert_eq!(
        app::read_reply_for(&f, DataId::V2007(0x0201_0100)),
        Err(Error::WrongIdentifier {
            want: DataId::V2007(0x0201_0100),
            got: ENERGY
        })
    );
    let (req, _) = frame(&REQUEST_ANY);
    assert!(matches!(
        app::read_reply(&req),
        Err(Error::UnexpectedControl { got: 0x11, .. })
    ));
    assert!(matches!(
        app::address_reply(&f),
        Err(Error::UnexpectedControl { .. })
    ));
}

#[test]
fn reply_encoder_writes_the_checked_reply() {
    let mut out = Vec::new();
    let spec = ReplySpec {
        address: METER,
        di: ENERGY,
        values: &[0x04, 0, 0, 0],
        more: false,
        follow_up: false,
        seq: 0,
    };
    app::encode_read_reply(&spec, 0, &mut out).unwrap();
    assert_eq!(out, REPLY);
    assert_eq!(
        encode(&METER, Control(0x91), &[0; 201], 0, &mut out),
        Err(Error::TooLong(201))
    );
}

#[test]
fn every_identifier_protocols_md_lists_has_its_layout() {
    let k = |d| known(d).map(|k| (k.unit, k.format));
    assert_eq!(
        k(DataId::V2007(0x0000_0000)),
        Some(("kWh", Format::new(4, 2, false)))
    );
    assert_eq!(
        k(DataId::V2007(0x0001_0000)),
        Some(("kWh", Format::new(4, 2, false)))
    );
    assert_eq!(
        k(DataId::V2007(0x0201_0100)),
        Some(("V", Format::new(2, 1, false)))
    );
    assert_eq!(
        k(DataId::V2007(0x0202_0100)),
        Some(("A", Format::new(3, 3, true)))
    );
    assert_eq!(
        k(DataId::V2007(0x0203_0000)),
        Some(("kW", Format::new(3, 4, true)))
    );
    assert_eq!(
        k(DataId::V1997(0xB611)),
        Some(("V", Format::new(2, 0, false)))
    );
    assert_eq!(k(DataId::V2007(0x0401_0000)), None);
    assert_eq!(DataId::V2007(0x0001_FF00).to_string(), "0001FF00");
}
