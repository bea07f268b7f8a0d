//! The meter source's pure parts against the checked frames of
//! protocols.md, written out byte by byte.

use std::collections::BTreeMap;

use super::link::{step, MeterError, Step};
use super::reply::{field, interpret, request, Target, Values};
use crate::model::{FieldValue, Unit};
use crate::profiles::meter::{Di, Extract, MeterProtocol, MeterSpec, WaterValue};
use crate::protocols::bcd::Format;
use crate::protocols::{cjt188, dlt645};

const REPLY: [u8; 20] = [
    0x68, 0x37, 0x03, 0x00, 0x92, 0x81, 0x39, 0x68, 0x91, 0x08, 0x33, 0x33, 0x34, 0x33, 0x37, 0x33,
    0x33, 0x33, 0x8C, 0x16,
];

fn dlt_target() -> Target {
    Target::Dlt645(dlt645::Address::from_nameplate("398192000337").unwrap())
}

fn energy() -> MeterSpec {
    MeterSpec {
        name: "energy_kwh".into(),
        di: Di::Dlt645(0x0001_0000),
        extract: Extract::Bcd {
            format: Format::new(4, 2, false),
            index: 0,
        },
        scale: 1.0,
        unit: Unit::KiloWattHour,
        group: None,
    }
}

#[test]
fn the_checked_energy_reply_becomes_energy_kwh() {
    let v = interpret(&dlt_target(), Di::Dlt645(0x0001_0000), &REPLY).unwrap();
    let f = field(&energy(), &v, &BTreeMap::new()).unwrap();
    assert_eq!(f, Some(FieldValue::Float(0.04)));
}

#[test]
fn the_checked_request_frame_is_what_goes_on_the_wire() {
    let t = Target::Dlt645(dlt645::Address::ANY);
    let bytes = request(&t, Di::Dlt645(0x0001_0000), None, 4, 0);
    assert_eq!(
        bytes,
        [
            0xFE, 0xFE, 0xFE, 0xFE, 0x68, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0x68, 0x11, 0x04,
            0x33, 0x33, 0x34, 0x33, 0xAE, 0x16
        ]
    );
}

#[test]
fn a_reply_from_another_address_is_refused() {
    let other = Target::Dlt645(dlt645::Address::from_nameplate("398192000338").unwrap());
    assert!(matches!(
        interpret(&other, Di::Dlt645(0x0001_0000), &REPLY),
        Err(MeterError::WrongAddress { .. })
    ));
}

#[test]
fn an_error_reply_names_its_error_byte() {
    // 68 A0..A5 68 D1 01 (02+33) CS 16 for meter 398192000337.
    let mut f = vec![
        0x68, 0x37, 0x03, 0x00, 0x92, 0x81, 0x39, 0x68, 0xD1, 0x01, 0x35,
    ];
    let cs = f.iter().fold(0u8, |a, b| a.wrapping_add(*b));
    f.extend([cs, 0x16]);
    match interpret(&dlt_target(), Di::Dlt645(0x0001_0000), &f) {
        Err(MeterError::ErrorReply(s)) => assert!(s.contains("0x02"), "{s}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(step(MeterProtocol::Dlt645, &f), Step::Frame(f.len()));
}

#[test]
fn framing_drops_noise_waits_for_more_and_reports_a_bad_checksum() {
    let mut noisy = vec![0x00, 0x13];
    noisy.extend(REPLY);
    assert_eq!(step(MeterProtocol::Dlt645, &noisy), Step::Skip(2));
    assert_eq!(step(MeterProtocol::Dlt645, &REPLY[..9]), Step::NeedMore);
    let mut bad = REPLY;
    bad[18] ^= 0x01;
    assert!(matches!(
        step(MeterProtocol::Dlt645, &bad),
        Step::Bad(_, 20)
    ));
}

#[test]
fn the_cold_water_reply_gives_total_m3_valve_and_battery_and_unknown_codes_are_refused() {
    // 68 10 A0..A6 81 L 1F 90 SER, 00 77 66 55 2C, FF×5, FF×7, ST1 04 ST2 00, CS 16.
    let mut f = vec![
        0x68, 0x10, 0x44, 0x33, 0x22, 0x11, 0x00, 0x33, 0x78, 0x81, 0x16, 0x1F, 0x90, 0x00,
    ];
    f.extend([0x00, 0x77, 0x66, 0x55, 0x2C]);
    f.extend([0xFF; 12]);
    f.extend([0x04, 0x00]);
    let cs = f.iter().fold(0u8, |a, b| a.wrapping_add(*b));
    f.extend([cs, 0x16]);
    let t = Target::Cjt188 {
        meter_type: cjt188::MeterType::COLD_WATER,
        address: cjt188::Address::from_nameplate("78330011223344").unwrap(),
        order: cjt188::DiOrder::LowFirst,
    };
    let v = interpret(&t, Di::Cjt188(0x901F), &f).unwrap();
    let spec = |name: &str, w| MeterSpec {
        name: name.into(),
        di: Di::Cjt188(0x901F),
        extract: Extract::Water(w),
        scale: 1.0,
        unit: Unit::None,
        group: None,
    };
    let codes: BTreeMap<u8, Unit> = [(0x2C, Unit::CubicMetre)].into();
    let total = field(&spec("total_m3", WaterValue::Total), &v, &codes).unwrap();
    assert_eq!(total, Some(FieldValue::Float(556677.0)));
    let valve = field(&spec("valve_open", WaterValue::ValveOpen), &v, &codes).unwrap();
    assert_eq!(valve, Some(FieldValue::Bool(true)));
    let low = field(&spec("battery_low", WaterValue::BatteryLow), &v, &codes).unwrap();
    assert_eq!(low, Some(FieldValue::Bool(true)));
    let settled = field(&spec("s", WaterValue::SettlementTotal), &v, &codes).unwrap();
    assert_eq!(settled, None, "FF-filled is absent");
    let litres: BTreeMap<u8, Unit> = [(0x29, Unit::Litre)].into();
    assert!(matches!(
        field(&spec("total_m3", WaterValue::Total), &v, &litres),
        Err(MeterError::UnitCode(0x2C))
    ));
    assert!(matches!(v, Values::Water(_)));
}

#[test]
fn no_byte_string_panics_the_framing_or_the_reply_check() {
    use proptest::prelude::*;
    proptest!(|(bytes in proptest::collection::vec(any::<u8>(), 0..80))| {
        let _ = step(MeterProtocol::Dlt645, &bytes);
        let _ = step(MeterProtocol::Cjt188, &bytes);
        let _ = interpret(&dlt_target(), Di::Dlt645(0x0001_0000), &bytes);
    });
}
