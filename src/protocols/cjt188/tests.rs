//! The checked example of protocols.md (CJ/T 188 section) and frames built
//! by hand from the standard's layout (checksums summed outside the codec).
//! Expected bytes are literals, never produced by the code under test.

use chrono::NaiveDate;

use super::read::{self, WATER_DATA_LEN};
use super::*;
use crate::protocols::bcd::{BcdError, Decimal};

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).expect("hex byte"))
        .collect()
}

const METER: Address = Address([0x44, 0x33, 0x22, 0x11, 0x00, 0x33, 0x78]);
/// protocols.md: the read request to cold-water meter 78330011223344.
const REQUEST: &str = "68 10 44 33 22 11 00 33 78 01 03 1F 90 00 80 16";
/// The standard's reply example as widely copied (flow bytes `00 77 66 55`,
/// unit 2C, as protocols.md quotes them; the rest from public copies of the
/// example), with its printed checksum 08 …
const REPLY_AS_PRINTED: &str =
    "68 10 44 33 22 11 00 33 78 81 16 1F 90 00 00 77 66 55 2C 00 77 66 55 2C 31 01 22 11 05 15 20 21 84 08 16";
/// … and with the checksum its bytes actually sum to (13).
const REPLY: &str = "68 10 44 33 22 11 00 33 78 81 16 1F 90 00 00 77 66 55 2C 00 77 66 55 2C 31 01 22 11 05 15 20 21 84 13 16";

fn m3(raw: i64) -> Option<Quantity> {
    Some(Quantity {
        value: Decimal { raw, decimals: 2 },
        unit: Unit::CubicMetre,
    })
}

#[test]
fn read_request_matches_the_checked_example() {
    let mut out = Vec::new();
    read_request(
        MeterType::COLD_WATER,
        &METER,
        DataId::READ_DATA,
        DiOrder::LowFirst,
        0,
        0,
        &mut out,
    )
    .unwrap();
    assert_eq!(out, hex(REQUEST));
    let (f, len) = decode_complete(&out).unwrap();
    assert_eq!(
        (f.meter_type, f.address, f.control, f.data, len),
        (
            MeterType(0x10),
            METER,
            Control(0x01),
            &[0x1F, 0x90, 0x00][..],
            16
        )
    );
}

#[test]
fn nameplate_address_is_printed_most_significant_first() {
    assert_eq!(Address::from_nameplate("78330011223344").unwrap(), METER);
    assert_eq!(METER.to_string(), "78330011223344");
    assert!(Address::ANY.accepts_reply_from(&METER));
    assert!(Address::from_nameplate("7833001122334").is_err());
}

#[test]
fn the_misprinted_checksum_of_the_standards_example_is_refused() {
    // protocols.md: the printed CS is 08 but the bytes sum to 13: trust the sum.
    assert_eq!(
        decode(&hex(REPLY_AS_PRINTED)),
        Err(Error::BadChecksum {
            got: 0x08,
            want: 0x13,
            len: 35
        })
    );
}

#[test]
fn the_example_reply_decodes_to_556677_m3() {
    let buf = hex(REPLY);
    let (f, len) = decode_complete(&buf).unwrap();
    assert_eq!(len, 35);
    let r = reply_for(&f, function::READ_DATA, DataId::READ_DATA).unwrap();
    assert_eq!(
        (r.order, r.ser, r.payload.len()),
        (DiOrder::LowFirst, 0, WATER_DATA_LEN)
    );
    let w = WaterData::decode(r.payload).unwrap();
    assert_eq!(w.current, m3(55_667_700));
    assert_eq!(w.current.and_then(Quantity::m3), Some(556_677.0));
    assert_eq!(w.settlement, m3(55_667_700));
    let t = NaiveDate::from_ymd_opt(2015, 5, 11).and_then(|d| d.and_hms_opt(22, 1, 31));
    assert_eq!(w.time, t);
    let st = w.status.unwrap();
    assert_eq!(
        (st.st1, st.st2, st.valve(), st.battery_low()),
        (0x21, 0x84, Valve::Closed, false)
    );
}

#[test]
fn an_identifier_in_either_byte_order_is_matched_and_the_checksum_is_the_same() {
    let buf = hex("68 10 44 33 22 11 00 33 78 81 16 90 1F 00 00 77 66 55 2C 00 77 66 55 2C 31 01 22 11 05 15 20 21 84 13 16");
    let (f, _) = decode_complete(&buf).unwrap();
    let r = reply_for(&f, function::READ_DATA, DataId::READ_DATA).unwrap();
    assert_eq!(r.order, DiOrder::HighFirst);
    let mut out = Vec::new();
    read_request(
        MeterType::COLD_WATER,
        &METER,
        DataId::READ_DATA,
        DiOrder::HighFirst,
        0,
        0,
        &mut out,
    )
    .unwrap();
    assert_eq!(out, hex("68 10 44 33 22 11 00 33 78 01 03 90 1F 00 80 16"));
    assert_eq!(
        reply_for(&f, function::READ_DATA, DataId(0x1234)),
        Err(Error::WrongIdentifier {
            want: DataId(0x1234),
            got: [0x90, 0x1F]
        })
    );
}

#[test]
fn ff_filled_fields_are_absent_not_numbers() {
    let buf = hex("68 10 44 33 22 11 00 33 78 81 16 1F 90 05 50 34 12 00 2C FF FF FF FF FF FF FF FF FF FF FF FF 04 00 D2 16");
    let (f, _) = decode_complete(&buf).unwrap();
    let r = reply_for(&f, function::READ_DATA, DataId::READ_DATA).unwrap();
    let w = WaterData::decode(r.payload).unwrap();
    assert_eq!(
        (r.ser, w.current, w.settlement, w.time),
        (5, m3(123_450), None, None)
    );
    let st = w.status.unwrap();
    assert_eq!((st.valve(), st.battery_low()), (Valve::Open, true));
}

#[test]
fn a_short_reply_and_an_unknown_unit_keep_what_they_have() {
    let buf = hex("68 10 44 33 22 11 00 33 78 81 0D 1F 90 06 50 34 12 00 29 FF FF FF FF FF CA 16");
    let (f, _) = decode_complete(&buf).unwrap();
    let w = WaterData::decode(
        reply_for(&f, function::READ_DATA, DataId::READ_DATA)
            .unwrap()
            .payload,
    )
    .unwrap();
    let q = w.current.unwrap();
    assert_eq!(
        (q.unit, q.m3()),
        (Unit::Other(0x29), None),
        "only 0x2C is a confirmed unit"
    );
    assert_eq!((w.settlement, w.time, w.status), (None, None, None));
}

#[test]
fn flow_that_is_not_bcd_is_an_error() {
    let buf = hex("68 10 44 33 22 11 00 33 78 81 08 1F 90 00 0A 77 66 55 2C 6D 16");
    let (f, _) = decode_complete(&buf).unwrap();
    let r = reply_for(&f, function::READ_DATA, DataId::READ_DATA).unwrap();
    assert_eq!(
        WaterData::decode(r.payload),
        Err(Error::Value(BcdError::NotBcd(0x0A)))
    );
}

#[test]
fn status_bits_name_the_valve_and_the_battery() {
    let s = |st1| Status { st1, st2: 0 };
    assert_eq!(s(0x00).valve(), Valve::Open);
    assert_eq!(s(0x01).valve(), Valve::Closed);
    assert_eq!(s(0x03).valve(), Valve::Abnormal);
    assert_eq!(s(0x02).valve(), Valve::Undefined);
    assert!(s(0x04).battery_low() && !s(0x03).battery_low());
}

#[test]
fn read_address_goes_to_any_meter_and_the_reply_names_it() {
    let mut out = Vec::new();
    read_address_request(MeterType::ANY, DiOrder::LowFirst, 0, 0, &mut out).unwrap();
    assert_eq!(out, hex("68 AA AA AA AA AA AA AA AA 03 03 0A 81 00 49 16"));
    // A vendor manual's reply (identifier 81 0A, high byte first; CS 9B sums).
    let buf = hex("FE FE FE 68 10 12 00 00 00 00 00 00 83 03 81 0A 00 9B 16");
    let (f, len) = decode_complete(&buf).unwrap();
    assert_eq!(
        (f.address.to_string(), len),
        ("00000000000012".to_string(), 19)
    );
    let r = reply_for(&f, function::READ_ADDRESS, DataId::READ_ADDRESS).unwrap();
    assert_eq!(r.order, DiOrder::HighFirst);
}

#[test]
fn a_heat_meter_may_answer_with_another_type_of_its_family() {
    assert!(MeterType::HEAT.accepts_reply(MeterType(0x25)));
    assert!(!MeterType::HEAT.accepts_reply(MeterType::COLD_WATER));
    assert!(MeterType::ANY.accepts_reply(MeterType::GAS));
    let buf = hex(&format!(
        "68 25 44 33 22 11 00 33 78 81 2E 1F 90 01{} 41 16",
        " 00".repeat(43)
    ));
    let (f, _) = decode_complete(&buf).unwrap();
    assert!(f.meter_type.is_heat() && !f.meter_type.is_water());
    assert_eq!(
        reply_for(&f, function::READ_DATA, DataId::READ_DATA)
            .unwrap()
            .payload
            .len(),
        43
    );
}

#[test]
fn abnormal_reply_is_its_own_error() {
    let buf = hex("68 10 44 33 22 11 00 33 78 C1 05 1F 90 00 00 00 42 16");
    assert_eq!(
        decode(&buf),
        Err(Error::ErrorReply {
            meter_type: MeterType(0x10),
            address: METER,
            function: 0x01,
            len: 18
        })
    );
}

#[test]
fn wake_up_noise_and_stray_68_are_skipped() {
    let mut buf = hex("FE FE 00 68");
    buf.extend(hex(REPLY));
    buf.push(0xFE);
    assert_eq!(decode(&buf), Err(Error::NotAFrame { skip: 3 }));
    assert_eq!(
        decode(&buf[3..]),
        Err(Error::NotAFrame { skip: 1 }),
        "68 68: 0x68 is no meter type"
    );
    assert!(matches!(
        decode(&buf[4..]),
        Ok(Decoded::Frame { len: 36, .. })
    ));
    assert_eq!(decode(&hex(REPLY)[..20]), Ok(Decoded::NeedMore));
    assert_eq!(
        decode_complete(&hex(REPLY)[..20]),
        Err(Error::Truncated { have: 20, need: 35 })
    );
    let mut bad = hex(REPLY);
    bad[34] = 0x17;
    assert_eq!(decode(&bad), Err(Error::BadEnd { got: 0x17, len: 35 }));
}

#[test]
fn water_reply_encoder_writes_the_corrected_example() {
    let w = WaterData {
        current: m3(55_667_700),
        settlement: m3(55_667_700),
        time: NaiveDate::from_ymd_opt(2015, 5, 11).and_then(|d| d.and_hms_opt(22, 1, 31)),
        status: Some(Status {
            st1: 0x21,
            st2: 0x84,
        }),
    };
    let mut payload = Vec::new();
    w.encode(&mut payload).unwrap();
    let mut out = Vec::new();
    read::encode_reply(
        MeterType::COLD_WATER,
        &METER,
        function::READ_DATA,
        DataId::READ_DATA,
        DiOrder::LowFirst,
        0,
        &payload,
        0,
        &mut out,
    )
    .unwrap();
    assert_eq!(out, hex(REPLY));
}
