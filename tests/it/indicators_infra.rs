//! Lighting, parking and fire lanes, chargers, security and device health
//! through the engine, with hand-computed values.

use greengate::devices::{DeviceConfig, Devices};
use greengate::indicators::config::{DeviceAttributes, IndicatorsConfig};
use greengate::indicators::window::{MINUTE, SECOND};
use greengate::indicators::{IndicatorEngine, Verdict};
use greengate::model::{FieldValue, Reading};

/// 2026-01-05 06:00 in Asia/Shanghai (+08:00).
const DAY0: i64 = 1_767_564_000 * SECOND;
const HOUR: i64 = 60 * MINUTE;

fn engine(list: Vec<(&str, DeviceAttributes)>) -> IndicatorEngine {
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
    IndicatorEngine::new(&IndicatorsConfig::default(), &d, "c1", 8 * 3600)
}

fn attrs(class: &str) -> DeviceAttributes {
    DeviceAttributes {
        class: Some(class.into()),
        ..Default::default()
    }
}

fn reading(m: &str, id: &str, t: i64, fields: Vec<(&str, FieldValue)>) -> Reading {
    let mut r = Reading::new(m, t);
    r.set_tag("device", id);
    for (k, v) in fields {
        r.add_field(k, v);
    }
    r
}

/// Moves the clock to `t`, then records.
fn at(e: &mut IndicatorEngine, out: &mut Vec<Reading>, r: Reading) {
    out.extend(e.advance(r.time_ns));
    e.record(&r);
}

fn f(r: &Reading, k: &str) -> f64 {
    r.field(k).and_then(FieldValue::as_f64).unwrap_or(f64::NAN)
}

fn one<'a>(out: &'a [Reading], m: &str, t: i64) -> &'a Reading {
    let v: Vec<_> = out
        .iter()
        .filter(|r| r.measurement == m && r.time_ns == t)
        .collect();
    assert_eq!(v.len(), 1, "{m} at {t}: {out:#?}");
    v[0]
}

use FieldValue::{Bool, Float, Str};

#[test]
fn lit_rate_counts_a_dark_lamp_as_not_lit_during_the_schedule() {
    let lamp = |_| DeviceAttributes {
        rated_power_w: Some(100.0),
        ..attrs("lighting")
    };
    let mut e = engine(vec![("l1", lamp(1)), ("l2", lamp(2))]);
    let ws = DAY0 + 13 * HOUR; // 19:00 local, inside 18:00–06:00
    let mut out = Vec::new();
    for k in 0..6 {
        let t = ws + k * 10 * MINUTE;
        at(
            &mut e,
            &mut out,
            reading(
                "lighting",
                "l1",
                t,
                vec![
                    ("on", Bool(true)),
                    ("power_w", Float(95.0)),
                    ("status", Str("ok".into())),
                ],
            ),
        );
        // Commanded on but drawing 5 % of rated power: a lamp or driver fault.
        at(
            &mut e,
            &mut out,
            reading(
                "lighting",
                "l2",
                t,
                vec![("on", Bool(true)), ("power_w", Float(5.0))],
            ),
        );
    }
    out.extend(e.advance(ws + HOUR + 3 * MINUTE));
    let r = one(&out, "gg_lighting", ws);
    assert_eq!(f(r, "lamps"), 2.0);
    assert_eq!(f(r, "lit_rate_pct"), 50.0);
    assert_eq!(f(r, "fault_rate_pct"), 50.0);
    assert_eq!(f(r, "online_rate_pct"), 100.0);
    assert_eq!(f(r, "burn_hours"), 2.0);
    assert!((f(r, "energy_kwh") - 0.1).abs() < 1e-9);
    assert_eq!(f(r, "reference_kwh"), 0.2);
    assert_eq!(f(r, "saving_rate_pct"), 50.0);
    assert_eq!(f(r, "day_burn_minutes"), 0.0);
}

#[test]
fn a_lamp_burning_in_daylight_counts_day_burning_minutes() {
    let mut e = engine(vec![("l1", attrs("lighting"))]);
    let ws = DAY0 + 4 * HOUR; // 10:00 local
    let mut out = Vec::new();
    for k in 0..3 {
        at(
            &mut e,
            &mut out,
            reading(
                "lighting",
                "l1",
                ws + k * 10 * MINUTE,
                vec![("on", Bool(true)), ("power_w", Float(50.0))],
            ),
        );
    }
    at(
        &mut e,
        &mut out,
        reading(
            "lighting",
            "l1",
            ws + 30 * MINUTE,
            vec![("on", Bool(false))],
        ),
    );
    out.extend(e.advance(ws + HOUR + 3 * MINUTE));
    let r = one(&out, "gg_lighting", ws);
    assert_eq!(f(r, "day_burn_minutes"), 30.0);
    assert!(
        r.field("lit_rate_pct").is_none(),
        "no scheduled on-period in this hour"
    );
}

#[test]
fn fire_lane_occupation_is_debounced_by_dwell_and_clear_times() {
    let bay = |lane: bool| DeviceAttributes {
        lot: Some("north".into()),
        fire_lane: lane,
        ..attrs("parking")
    };
    let mut e = engine(vec![
        ("f1", bay(true)),
        ("p1", bay(false)),
        ("p2", bay(false)),
    ]);
    let ws = DAY0;
    let occ = |id: &str, m: i64, v: bool| {
        reading("parking", id, ws + m * MINUTE, vec![("occupied", Bool(v))])
    };
    let mut out = Vec::new();
    for r in [
        occ("p1", 0, true),
        occ("f1", 5, true),
        occ("f1", 10, false),
        occ("p2", 10, true),
        occ("f1", 20, true), // one minute only: below the dwell time
        occ("f1", 21, false),
        occ("p1", 30, false),
    ] {
        at(&mut e, &mut out, r);
    }
    out.extend(e.advance(ws + HOUR + 3 * MINUTE));
    let ev: Vec<_> = out
        .iter()
        .filter(|r| r.measurement == "gg_fire_lane_event")
        .collect();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].time_ns, ws + 5 * MINUTE);
    assert_eq!(f(ev[0], "duration_s"), 300.0);
    assert_eq!(f(ev[0], "time_to_clear_s"), 180.0);
    let p = one(&out, "gg_parking", ws);
    assert_eq!(p.tag("lot"), Some("north"));
    assert_eq!(f(p, "spaces"), 2.0);
    assert_eq!(f(p, "occupancy_pct"), 50.0);
    assert_eq!(f(p, "turnover"), 1.0);
    assert_eq!(f(p, "time_utilisation_pct"), 66.67);
    assert_eq!(f(p, "mean_dwell_minutes"), 30.0, "p1 stayed 30 minutes");
    assert_eq!(f(p, "fire_lane_events"), 1.0);
    assert_eq!(f(p, "fire_lane_occupied_minutes"), 6.0);
    let a = e.assess(ws, ws + 24 * HOUR);
    let c8 = a.criteria.iter().find(|c| c.number == 8).unwrap();
    assert_eq!(c8.verdict, Verdict::Fail);
    assert_eq!(c8.figures["longest_event_s"], 300.0);
}

#[test]
fn charger_utilisation_is_charging_time_over_charger_time() {
    let mut e = engine(vec![("k1", attrs("charger"))]);
    let mut out = Vec::new();
    at(
        &mut e,
        &mut out,
        reading(
            "charger",
            "k1",
            DAY0,
            vec![("status", Str("Charging".into()))],
        ),
    );
    at(
        &mut e,
        &mut out,
        reading(
            "charger",
            "k1",
            DAY0 + 30 * MINUTE,
            vec![("status", Str("Available".into()))],
        ),
    );
    out.extend(e.advance(DAY0 + HOUR + 3 * MINUTE));
    let r = one(&out, "gg_charger", DAY0);
    assert_eq!(f(r, "utilisation_pct"), 50.0);
    assert_eq!(f(r, "availability_pct"), 100.0);
}

#[test]
fn security_online_rate_and_alarm_response_times() {
    let cam = DeviceAttributes {
        security_type: Some("camera".into()),
        ..attrs("security")
    };
    let alarm = DeviceAttributes {
        security_type: Some("alarm".into()),
        ..attrs("security")
    };
    let mut e = engine(vec![("c1", cam.clone()), ("c2", cam), ("a1", alarm)]);
    let ws = DAY0;
    let ev = |id: &str, t: i64, event: &str| {
        reading(
            "security",
            id,
            t,
            vec![
                ("event", Str(event.into())),
                ("alarm_type", Str("intrusion".into())),
                ("alarm_id", Str("x".into())),
            ],
        )
    };
    let mut out = Vec::new();
    for r in [
        ev("a1", ws + 10 * MINUTE, "alarm"),
        ev("a1", ws + 10 * MINUTE + 3 * SECOND, "ack"),
        ev("a1", ws + 20 * MINUTE, "clear"),
        ev("c1", ws + 58 * MINUTE, "heartbeat"),
    ] {
        at(&mut e, &mut out, r);
    }
    out.extend(e.advance(ws + HOUR + 3 * MINUTE));
    let s = one(&out, "gg_security", ws);
    assert_eq!(f(s, "devices"), 3.0);
    assert_eq!(
        f(s, "online"),
        1.0,
        "only c1 sent a heartbeat within 5 minutes of the end"
    );
    assert_eq!(f(s, "alarms"), 1.0);
    assert_eq!(f(s, "response_mean_s"), 3.0);
    assert_eq!(f(s, "response_within_pct"), 100.0);
    assert_eq!(f(s, "handling_within_pct"), 100.0);
    assert_eq!(f(s, "unacknowledged"), 0.0);
    let t = out
        .iter()
        .find(|r| r.measurement == "gg_security_alarms")
        .unwrap();
    assert_eq!(t.tag("alarm_type"), Some("intrusion"));
    let h = out
        .iter()
        .find(|r| {
            r.measurement == "gg_device_health"
                && r.time_ns == ws
                && r.tag("class") == Some("security")
        })
        .unwrap();
    assert_eq!((f(h, "devices"), f(h, "online")), (3.0, 2.0));
    let a = e.assess(ws, ws + HOUR);
    let c11 = a.criteria.iter().find(|c| c.number == 11).unwrap();
    assert_eq!(
        c11.verdict,
        Verdict::Fail,
        "33 % online is below the 90 % default"
    );
    let text = greengate::indicators::render_text(&a);
    assert!(text.contains("11. "));
    assert!(serde_json::to_string(&a)
        .unwrap()
        .contains("insufficient_data"));
}

#[test]
fn an_offline_status_from_a_source_marks_the_device_offline() {
    let mut e = engine(vec![("n1", attrs("noise"))]);
    let mut out = Vec::new();
    at(
        &mut e,
        &mut out,
        reading("noise", "n1", DAY0, vec![("laeq", Float(50.0))]),
    );
    at(
        &mut e,
        &mut out,
        reading(
            "device_status",
            "n1",
            DAY0 + MINUTE,
            vec![("online", Bool(false))],
        ),
    );
    out.extend(e.advance(DAY0 + HOUR + 3 * MINUTE));
    let h = one(&out, "gg_device_health", DAY0);
    assert_eq!(h.tag("class"), Some("noise"));
    assert_eq!(f(h, "online"), 0.0);
}

#[path = "indicators_infra_boundaries.rs"]
mod boundaries;
