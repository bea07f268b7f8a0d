//! Property tests: encoders and decoders agree, and no byte string panics
//! a decoder or stalls a stream.

use chrono::NaiveDate;
use proptest::prelude::*;

use super::read;
use super::*;
use crate::protocols::bcd::Decimal;

fn quantity() -> impl Strategy<Value = Option<Quantity>> {
    proptest::option::of(
        (0i64..=99_999_999, any::<u8>()).prop_map(|(raw, u)| Quantity {
            value: Decimal { raw, decimals: 2 },
            unit: Unit::from_code(u),
        }),
    )
}

fn water() -> impl Strategy<Value = WaterData> {
    let time = proptest::option::of(
        (
            2000i32..2100,
            1u32..=12,
            1u32..=28,
            0u32..24,
            0u32..60,
            0u32..60,
        )
            .prop_map(|(y, mo, d, h, mi, s)| {
                NaiveDate::from_ymd_opt(y, mo, d)
                    .and_then(|d| d.and_hms_opt(h, mi, s))
                    .unwrap_or_default()
            }),
    );
    let status = proptest::option::of(
        (any::<u8>(), any::<u8>())
            .prop_filter("FF FF is absent", |s| *s != (0xff, 0xff))
            .prop_map(|(st1, st2)| Status { st1, st2 }),
    );
    (quantity(), quantity(), time, status).prop_map(|(current, settlement, time, status)| {
        WaterData {
            current,
            settlement,
            time,
            status,
        }
    })
}

proptest! {
    #[test]
    fn encoded_frames_decode_to_their_input(
        t in 0x10u8..=0x49, a in any::<[u8; 7]>(),
        c in any::<u8>().prop_filter("no abnormal bit", |c| *c & 0x40 == 0),
        data in proptest::collection::vec(any::<u8>(), 0..=255), preamble in 0usize..5,
    ) {
        let mut out = Vec::new();
        encode(MeterType(t), &Address(a), Control(c), &data, preamble, &mut out).unwrap();
        let (f, len) = decode_complete(&out).unwrap();
        prop_assert_eq!((f.meter_type, f.address, f.control, f.data, len), (MeterType(t), Address(a), Control(c), &data[..], out.len()));
    }

    #[test]
    fn water_replies_decode_to_their_input(w in water(), ser in any::<u8>(), high_first in any::<bool>(), a in any::<[u8; 7]>()) {
        let order = if high_first { DiOrder::HighFirst } else { DiOrder::LowFirst };
        let mut payload = Vec::new();
        w.encode(&mut payload).unwrap();
        let mut out = Vec::new();
        read::encode_reply(MeterType::COLD_WATER, &Address(a), function::READ_DATA, DataId::READ_DATA, order, ser, &payload, 2, &mut out).unwrap();
        let (f, _) = decode_complete(&out).unwrap();
        let r = reply_for(&f, function::READ_DATA, DataId::READ_DATA).unwrap();
        prop_assert_eq!((r.order, r.ser), (order, ser));
        prop_assert_eq!(WaterData::decode(r.payload).unwrap(), w);
    }

    #[test]
    fn a_frame_behind_any_noise_is_found(noise in proptest::collection::vec(any::<u8>(), 0..40), data in proptest::collection::vec(any::<u8>(), 0..40)) {
        let mut buf = noise;
        encode(MeterType::COLD_WATER, &Address([1, 2, 3, 4, 5, 6, 7]), Control(0x81), &data, 0, &mut buf).unwrap();
        let mut rest = &buf[..];
        let found = loop {
            match decode(rest) {
                Ok(Decoded::Frame { frame, .. }) => break Some(frame.data.to_vec()),
                Ok(Decoded::NeedMore) => break None,
                Err(e) => { prop_assert!(e.skip() >= 1); rest = &rest[e.skip().min(rest.len())..]; }
            }
        };
        prop_assert_eq!(found, Some(data));
    }

    #[test]
    fn no_byte_string_panics_or_stalls_the_decoders(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut rest = &bytes[..];
        while let Err(e) = decode(rest) {
            prop_assert!(e.skip() >= 1 || rest.is_empty());
            rest = rest.get(e.skip()..).unwrap_or(&[]);
        }
        let _ = decode_complete(&bytes);
        let _ = WaterData::decode(&bytes);
    }

    #[test]
    fn frames_of_any_content_never_panic_the_reply_readers(c in any::<u8>(), data in proptest::collection::vec(any::<u8>(), 0..40)) {
        let mut out = Vec::new();
        encode(MeterType::COLD_WATER, &Address::ANY, Control(c), &data, 0, &mut out).unwrap();
        if let Ok((f, _)) = decode_complete(&out) {
            if let Ok(r) = reply_for(&f, f.control.function(), DataId::READ_DATA) {
                let _ = WaterData::decode(r.payload);
            }
        }
    }
}
