//! Water indicators: deltas from cumulative totals (rollover, replacement,
//! reset, jitter, implausible jumps), district balance, minimum night flow,
//! household leaks and per-capita use.

use greengate::devices::{DeviceConfig, Devices};
use greengate::indicators::config::{DeviceAttributes, IndicatorsConfig, MeterReplacement};
use greengate::indicators::water::{delta, Quality, WaterAttrs};
use greengate::indicators::window::{MINUTE, SECOND};
use greengate::indicators::IndicatorEngine;
use greengate::model::{FieldValue, Reading};

/// 2026-01-05 06:00 in Asia/Shanghai (+08:00).
const DAY0: i64 = 1_767_564_000 * SECOND;
const HOUR: i64 = 60 * MINUTE;

fn meter(role: &str, district: &str) -> DeviceAttributes {
    DeviceAttributes {
        class: Some("water_meter".into()),
        role: Some(role.into()),
        district: Some(district.into()),
        ..Default::default()
    }
}

fn engine(list: Vec<(&str, DeviceAttributes)>) -> IndicatorEngine {
    engine_with(&IndicatorsConfig::default(), list)
}

/// Meters read live: their windows close at `allowed_lateness`, as they do
/// for a meter whose water lateness is set to it.
fn live_engine(list: Vec<(&str, DeviceAttributes)>) -> IndicatorEngine {
    let mut cfg = IndicatorsConfig::default();
    cfg.water.lateness = cfg.allowed_lateness;
    engine_with(&cfg, list)
}

fn engine_with(cfg: &IndicatorsConfig, list: Vec<(&str, DeviceAttributes)>) -> IndicatorEngine {
    let mut d = Devices::new();
    for (id, a) in list {
        d.insert(
            id.into(),
            DeviceConfig {
                indicators: a,
                ..Default::default()
            },
        );
    }
    IndicatorEngine::new(cfg, &d, "c1", 8 * 3600)
}

fn reading(id: &str, t: i64, field: &str, v: f64) -> Reading {
    let mut r = Reading::new("water_meter", t);
    r.set_tag("device", id);
    r.add_field(field, FieldValue::Float(v));
    r
}

fn f(r: &Reading, k: &str) -> f64 {
    r.field(k).and_then(FieldValue::as_f64).unwrap_or(f64::NAN)
}

fn find<'a>(out: &'a [Reading], m: &str, dev: &str) -> Vec<&'a Reading> {
    out.iter()
        .filter(|r| r.measurement == m && r.tag("device").map_or(true, |d| d == dev))
        .collect()
}

fn attrs() -> WaterAttrs {
    WaterAttrs::new(&DeviceAttributes {
        rollover_at_m3: Some(10_000.0),
        max_flow_m3h: Some(5.0),
        ..Default::default()
    })
}

#[test]
fn consumption_survives_a_register_rollover() {
    let s = delta((0, 9_999.5), (10 * MINUTE, 0.3), &attrs(), 0.1);
    assert_eq!(s.quality, Quality::Rollover);
    assert!((s.delta - 0.8).abs() < 1e-9);
}

#[test]
fn a_small_drop_is_jitter_and_a_large_drop_is_a_reset() {
    let a = attrs();
    let j = delta((0, 100.0), (MINUTE, 99.95), &a, 0.1);
    assert_eq!((j.delta, j.quality, j.rebase), (0.0, Quality::Ok, false));
    let r = delta((0, 100.0), (MINUTE, 2.0), &a, 0.1);
    assert_eq!((r.delta, r.quality, r.rebase), (0.0, Quality::Reset, true));
}

#[test]
fn a_jump_above_the_overload_flow_is_rejected() {
    let s = delta((0, 100.0), (MINUTE, 200.0), &attrs(), 0.1);
    assert_eq!(
        (s.delta, s.quality, s.rebase),
        (0.0, Quality::Rejected, false)
    );
    let ok = delta((0, 100.0), (HOUR, 104.0), &attrs(), 0.1);
    assert_eq!(ok.quality, Quality::Ok);
}

#[test]
fn a_configured_meter_replacement_joins_old_final_and_new_start() {
    let mut e = engine(vec![(
        "m1",
        DeviceAttributes {
            replacements: vec![MeterReplacement {
                at: "2026-01-05T06:20:00+08:00".into(),
                old_final_m3: 500.0,
                new_start_m3: 0.0,
            }],
            ..meter("household", "A")
        },
    )]);
    e.record(&reading("m1", DAY0 + 10 * MINUTE, "total_m3", 499.0));
    e.record(&reading("m1", DAY0 + 30 * MINUTE, "total_m3", 0.5));
    let out = e.advance(DAY0 + HOUR + 3 * MINUTE);
    let i = find(&out, "gg_water_interval", "m1");
    assert_eq!(i.len(), 1);
    assert!((f(i[0], "consumption_m3") - 1.5).abs() < 1e-9);
    assert_eq!(
        i[0].field("quality"),
        Some(&FieldValue::Str("replacement".into()))
    );
    assert_eq!(f(i[0], "deltas_replacement"), 1.0);
}

#[test]
fn a_rollover_through_the_engine_is_flagged_on_its_interval() {
    let mut e = engine(vec![(
        "m1",
        DeviceAttributes {
            rollover_at_m3: Some(10_000.0),
            ..meter("household", "A")
        },
    )]);
    e.record(&reading("m1", DAY0, "total_m3", 9_999.5));
    e.record(&reading("m1", DAY0 + 10 * MINUTE, "total_m3", 0.3));
    let out = e.advance(DAY0 + HOUR + 3 * MINUTE);
    let i = find(&out, "gg_water_interval", "m1");
    assert!((f(i[0], "consumption_m3") - 0.8).abs() < 1e-9);
    assert_eq!(
        i[0].field("quality"),
        Some(&FieldValue::Str("rollover".into()))
    );
}

#[test]
fn district_balance_aligns_meters_read_at_different_times() {
    let mut e = engine(vec![
        ("master", meter("master", "A")),
        ("s1", meter("sub", "A")),
        ("s2", meter("sub", "A")),
    ]);
    e.record(&reading("master", DAY0, "total_m3", 100.0));
    e.record(&reading("master", DAY0 + HOUR, "total_m3", 110.0));
    e.record(&reading("s1", DAY0, "total_m3", 50.0));
    e.record(&reading("s1", DAY0 + HOUR, "total_m3", 54.0));
    // Read half an hour off: half of its 6 m³ belongs to this hour.
    e.record(&reading("s2", DAY0 - 30 * MINUTE, "total_m3", 20.0));
    e.record(&reading("s2", DAY0 + 30 * MINUTE, "total_m3", 26.0));
    let out = e.advance(DAY0 + HOUR + 3 * MINUTE);
    let b: Vec<_> = out
        .iter()
        .filter(|r| r.measurement == "gg_water_balance" && r.time_ns == DAY0)
        .collect();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].tag("district"), Some("A"));
    assert!((f(b[0], "subs_m3") - 7.0).abs() < 1e-9);
    assert_eq!(f(b[0], "loss_pct"), 30.0);
    assert_eq!(b[0].field("status"), Some(&FieldValue::Str("alarm".into())));
}

#[test]
fn household_meters_count_as_the_districts_sub_meters_in_the_balance() {
    let mut e = engine(vec![
        ("inlet", meter("inlet", "A")),
        ("h1", meter("household", "A")),
        ("h2", meter("household", "A")),
    ]);
    for (id, a, b) in [
        ("inlet", 100.0, 110.0),
        ("h1", 50.0, 55.0),
        ("h2", 20.0, 24.0),
    ] {
        e.record(&reading(id, DAY0, "total_m3", a));
        e.record(&reading(id, DAY0 + HOUR, "total_m3", b));
    }
    let out = e.advance(DAY0 + HOUR + 3 * MINUTE);
    let b: Vec<_> = out
        .iter()
        .filter(|r| r.measurement == "gg_water_balance" && r.time_ns == DAY0)
        .collect();
    assert_eq!(b.len(), 1);
    assert!((f(b[0], "subs_m3") - 9.0).abs() < 1e-9);
    assert!((f(b[0], "loss_pct") - 10.0).abs() < 1e-9);
}

#[test]
fn minimum_night_flow_rising_three_nights_raises_an_alarm() {
    let mut e = live_engine(vec![(
        "inlet",
        DeviceAttributes {
            connections: Some(100),
            ..meter("inlet", "A")
        },
    )]);
    let mut last = None;
    for night in 0..4i64 {
        let two_am = DAY0 + 20 * HOUR + night * 24 * HOUR;
        // The engine drops readings too far ahead of the clock it was given.
        e.advance(two_am);
        for k in 0..12 {
            let flow = 0.5 + night as f64 * 0.1 + k as f64 * 0.05;
            e.record(&reading(
                "inlet",
                two_am + k * 10 * MINUTE,
                "flow_m3h",
                flow,
            ));
        }
        let out = e.advance(two_am + 2 * HOUR + 3 * MINUTE);
        last = find(&out, "gg_water_night_flow", "inlet")
            .first()
            .cloned()
            .cloned();
        let n = last.as_ref().unwrap();
        assert!((f(n, "corrected_m3h") - (0.2 + night as f64 * 0.1)).abs() < 1e-9);
    }
    let n = last.unwrap();
    assert_eq!(f(&n, "legit_use_m3h"), 0.3);
    assert_eq!(f(&n, "rising_nights"), 3.0);
    assert_eq!(n.field("alarm"), Some(&FieldValue::Bool(true)));
}

#[test]
fn a_household_meter_flowing_every_night_is_flagged_as_a_leak() {
    let mut e = live_engine(vec![("h1", meter("household", "A"))]);
    let mut flags = Vec::new();
    for night in 0..3i64 {
        let two_am = DAY0 + 20 * HOUR + night * 24 * HOUR;
        e.advance(two_am);
        e.record(&reading("h1", two_am + 5 * MINUTE, "flow_m3h", 0.01));
        let out = e.advance(two_am + 2 * HOUR + 3 * MINUTE);
        let n = find(&out, "gg_water_night_flow", "h1")[0].clone();
        flags.push(n.field("leak_suspected").cloned());
    }
    let b = |v| Some(FieldValue::Bool(v));
    assert_eq!(flags, vec![b(false), b(false), b(true)]);
}

#[test]
fn per_capita_use_is_litres_per_person_and_day() {
    let mut e = engine(vec![(
        "h1",
        DeviceAttributes {
            persons: Some(3),
            ..meter("household", "A")
        },
    )]);
    let midnight = DAY0 + 18 * HOUR;
    e.record(&reading("h1", midnight, "total_m3", 10.0));
    e.record(&reading("h1", midnight + 24 * HOUR, "total_m3", 10.3));
    let out = e.advance(midnight + 24 * HOUR + 3 * MINUTE);
    let d = find(&out, "gg_water_day", "h1");
    let d = d.iter().find(|r| r.time_ns == midnight).unwrap();
    assert!((f(d, "per_capita_lpd") - 100.0).abs() < 0.01);
    assert_eq!(
        d.field("per_capita_in_range"),
        Some(&FieldValue::Bool(true))
    );
}

#[test]
fn a_rollover_read_on_the_boundary_flags_the_interval_its_volume_is_in() {
    let mut e = engine(vec![(
        "m1",
        DeviceAttributes {
            rollover_at_m3: Some(10_000.0),
            ..meter("household", "A")
        },
    )]);
    // 06:00 and 07:00 exactly: the rollover's 0.8 m³ is 06:00-07:00's.
    e.record(&reading("m1", DAY0, "total_m3", 9_999.5));
    e.record(&reading("m1", DAY0 + HOUR, "total_m3", 0.3));
    e.record(&reading("m1", DAY0 + 2 * HOUR, "total_m3", 0.5));
    let out = e.advance(DAY0 + 2 * HOUR + 3 * MINUTE);
    let i = find(&out, "gg_water_interval", "m1");
    let at = |t: i64| {
        i.iter()
            .find(|r| r.time_ns == t)
            .unwrap_or_else(|| panic!("no interval at {t} in {i:?}"))
    };
    assert!((f(at(DAY0), "consumption_m3") - 0.8).abs() < 1e-9);
    assert_eq!(
        at(DAY0).field("quality"),
        Some(&FieldValue::Str("rollover".into()))
    );
    assert!((f(at(DAY0 + HOUR), "consumption_m3") - 0.2).abs() < 1e-9);
    assert_eq!(
        at(DAY0 + HOUR).field("quality"),
        Some(&FieldValue::Str("ok".into()))
    );
}

#[test]
fn a_district_without_sub_meter_data_says_insufficient_data_not_a_loss() {
    let mut e = engine(vec![
        ("master", meter("master", "A")),
        ("s1", meter("sub", "A")),
    ]);
    e.record(&reading("master", DAY0, "total_m3", 100.0));
    e.record(&reading("master", DAY0 + HOUR, "total_m3", 110.0));
    let out = e.advance(DAY0 + HOUR + 3 * MINUTE);
    let b: Vec<_> = out
        .iter()
        .filter(|r| r.measurement == "gg_water_balance" && r.time_ns == DAY0)
        .collect();
    assert_eq!(b.len(), 1);
    assert_eq!(f(b[0], "master_m3"), 10.0);
    assert_eq!(f(b[0], "subs_reporting"), 0.0);
    assert_eq!(
        b[0].field("status"),
        Some(&FieldValue::Str("insufficient_data".into()))
    );
    assert!(b[0].field("loss_pct").is_none(), "{:?}", b[0]);
    assert!(b[0].field("loss_m3").is_none(), "{:?}", b[0]);
}
