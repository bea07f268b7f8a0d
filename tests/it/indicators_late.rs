//! Late and batched uploads (issue 12 point 2): household meters that upload
//! a day of hourly totals at once give the same water indicators as meters
//! read live, once their batches are in, also across a checkpoint and
//! restore; a reading beyond its lateness is counted and left out.

use std::collections::BTreeMap;

use greengate::devices::{DeviceConfig, Devices};
use greengate::indicators::config::{DeviceAttributes, IndicatorsConfig};
use greengate::indicators::window::{MINUTE, SECOND};
use greengate::indicators::IndicatorEngine;
use greengate::model::{FieldValue, Reading};

const HOUR: i64 = 60 * MINUTE;
/// 2026-01-05 00:00 in Asia/Shanghai (+08:00): local midnight.
const M: i64 = 1_767_542_400 * SECOND;
/// The simulation covers 60 h; results are compared for the first two days.
const END: i64 = M + 60 * HOUR;
const COMPARED_BEFORE: i64 = M + 48 * HOUR;
const WATER: [&str; 4] = [
    "gg_water_interval",
    "gg_water_day",
    "gg_water_balance",
    "gg_water_night_flow",
];

fn engine() -> IndicatorEngine {
    let meter = |role: &str| DeviceAttributes {
        class: Some("water_meter".into()),
        role: Some(role.into()),
        district: Some("A".into()),
        persons: Some(3),
        ..Default::default()
    };
    let mut d = Devices::new();
    for (id, role) in [("mst", "master"), ("h1", "household"), ("h2", "household")] {
        let cfg = DeviceConfig {
            indicators: meter(role),
            ..Default::default()
        };
        d.insert(id.into(), cfg);
    }
    IndicatorEngine::new(&IndicatorsConfig::default(), &d, "c1", 8 * 3600)
}

fn total(id: &str, t: i64, m3: f64) -> Reading {
    let mut r = Reading::new("water_meter", t);
    r.set_tag("device", id);
    r.add_field("total_m3", FieldValue::Float(m3));
    r
}

/// A cumulative total with a daily pattern (never quite zero at night for
/// `h2`, so its leak flag has something to say).
fn household_total(id: &str, t: i64) -> f64 {
    let hours = (t - M) / HOUR;
    let base = if id == "h1" { 0.0 } else { 0.004 };
    (0..hours)
        .map(|h| {
            let local = h % 24;
            base + if (7..9).contains(&local) || (18..21).contains(&local) {
                0.06
            } else if (1..5).contains(&local) {
                0.0
            } else {
                0.015
            }
        })
        .sum::<f64>()
        + if id == "h1" { 120.0 } else { 340.0 }
}

/// The master sees both households plus a small loss, every 15 min.
fn master_total(t: i64) -> f64 {
    let quarters = (t - M) / (15 * MINUTE);
    5_000.0 + quarters as f64 * 0.01 + household_total("h1", t) + household_total("h2", t) - 460.0
}

/// How the households upload: live, or in batches of the readings up to a
/// batch's time (27:00 and 51:00), each arriving together at that time.
#[derive(Clone, Copy)]
enum Upload {
    Live,
    Batched,
}

/// When a household reading stamped `t` reaches the engine.
fn arrival(t: i64, how: Upload) -> i64 {
    match how {
        Upload::Live => t,
        Upload::Batched if t <= M + 3 * HOUR || t > M + 51 * HOUR => t,
        Upload::Batched if t <= M + 27 * HOUR => M + 27 * HOUR,
        Upload::Batched => M + 51 * HOUR,
    }
}

type Key = (String, i64, Vec<(String, String)>);

/// Runs the scenario; returns the last emission per (measurement, time,
/// tags) and how many times each key was emitted. With `restart_at`, the
/// engine is checkpointed at that time and a new one restored from it.
fn run(how: Upload, restart_at: Option<i64>) -> (BTreeMap<Key, Reading>, BTreeMap<Key, usize>) {
    let mut e = engine();
    let mut last = BTreeMap::new();
    let mut count = BTreeMap::new();
    let mut pending: Vec<Reading> = Vec::new();
    let mut t = M;
    while t <= END {
        // The clock first (readings stamped ahead of it are refused), then
        // what arrived at this time.
        for r in e.advance(t) {
            if !WATER.contains(&r.measurement.as_str()) {
                continue;
            }
            let key = (r.measurement.clone(), r.time_ns, r.tags.clone());
            *count.entry(key.clone()).or_insert(0) += 1;
            last.insert(key, r);
        }
        e.record(&total("mst", t, master_total(t)));
        if t % HOUR == 0 {
            for id in ["h1", "h2"] {
                pending.push(total(id, t, household_total(id, t)));
            }
        }
        // Everything that has arrived by now, in the order it was stamped.
        pending.retain(|r| {
            let due = arrival(r.time_ns, how) <= t;
            if due {
                e.record(r);
            }
            !due
        });
        if restart_at == Some(t) {
            let bytes = e.checkpoint();
            e = engine();
            e.restore(&bytes)
                .expect("the engine's own checkpoint restores");
        }
        t += 15 * MINUTE;
    }
    assert!(pending.is_empty(), "every reading was delivered");
    (last, count)
}

fn compared(m: &BTreeMap<Key, Reading>) -> BTreeMap<&Key, String> {
    m.iter()
        .filter(|(k, _)| k.1 < COMPARED_BEFORE)
        .map(|(k, r)| {
            let fields: Vec<String> = r.fields.iter().map(|(f, v)| format!("{f}={v:?}")).collect();
            (k, fields.join(","))
        })
        .collect()
}

fn assert_same(live: &BTreeMap<Key, Reading>, late: &BTreeMap<Key, Reading>, what: &str) {
    let (a, b) = (compared(live), compared(late));
    for (k, v) in &a {
        assert_eq!(b.get(k), Some(v), "{what}: {k:?} differs from the live run");
    }
    for k in b.keys() {
        assert!(a.contains_key(k), "{what}: {k:?} only in the batched run");
    }
}

#[test]
fn batched_household_uploads_give_the_live_results_once_they_are_in() {
    let (live, live_count) = run(Upload::Live, None);
    let (late, late_count) = run(Upload::Batched, None);
    // The scenario covers what it claims: every water measurement, with the
    // district balance of both households.
    for m in WATER {
        assert!(
            compared(&live).keys().any(|k| k.0 == m),
            "the live run emits {m}"
        );
    }
    let balance = live
        .iter()
        .find(|(k, _)| k.0 == "gg_water_balance" && k.1 == M + 10 * HOUR)
        .map(|(_, r)| r)
        .expect("a balance for 10:00");
    assert_eq!(
        balance.field("subs_reporting"),
        Some(&FieldValue::Int(2)),
        "{balance:?}"
    );
    assert!(
        live_count.values().all(|&n| n == 1),
        "live meters are emitted once per window"
    );
    // Windows of the batched hours were emitted again when the batch came.
    assert!(late_count.values().any(|&n| n > 1));
    assert_same(&live, &late, "batched");
}

#[test]
fn batched_uploads_across_a_checkpoint_and_restore_give_the_same_results() {
    let (live, _) = run(Upload::Live, None);
    let (restored, _) = run(Upload::Batched, Some(M + 20 * HOUR));
    assert_same(&live, &restored, "restored at 20:00");
}

#[test]
fn a_reading_beyond_the_water_lateness_is_counted_and_left_out() {
    let mut e = engine();
    e.record(&total("h1", M, 100.0));
    e.record(&total("h1", M + HOUR, 100.1));
    e.advance(M + 40 * HOUR);
    let before = e.late_readings();
    // 26 h is the default water lateness: 30 h late is beyond it ...
    e.record(&total("h1", M + 10 * HOUR, 100.2));
    assert_eq!(e.late_readings(), before + 1);
    // ... and 20 h late is inside it.
    e.record(&total("h1", M + 20 * HOUR, 100.3));
    assert_eq!(e.late_readings(), before + 1);
}

#[test]
fn a_meter_read_past_the_hour_books_each_interval_its_share_and_corrects_it() {
    // Read at hh:05: the delta 10:05 → 11:05 belongs 55/60 to 10:00–11:00
    // and 5/60 to 11:00–12:00. The 10:00 window is emitted at 11:02 with
    // what it has, and again once the 11:05 reading brings its last part.
    let mut e = engine();
    let mut last = BTreeMap::new();
    let mut emitted = 0;
    let mut t = M;
    let mut m3 = 100.0;
    while t <= M + 14 * HOUR {
        for r in e.advance(t) {
            if r.measurement == "gg_water_interval" && r.time_ns == M + 10 * HOUR {
                emitted += 1;
                last.insert(r.tag("device").unwrap_or("").to_string(), r);
            }
        }
        if t % HOUR == 5 * MINUTE {
            // 0.6 m³ an hour before 10:05, 1.2 m³ an hour after.
            m3 += if t <= M + 10 * HOUR + 5 * MINUTE {
                0.6
            } else {
                1.2
            };
            e.record(&total("h1", t, m3));
        }
        t += MINUTE;
    }
    let r = last.get("h1").expect("10:00 emitted for h1");
    let got = r.field("consumption_m3").and_then(FieldValue::as_f64);
    let want = 0.6 * 5.0 / 60.0 + 1.2 * 55.0 / 60.0;
    assert!(
        matches!(got, Some(v) if (v - want).abs() < 1e-9),
        "{got:?} != {want}"
    );
    assert_eq!(
        emitted, 2,
        "emitted at 11:02, again after the 11:05 reading"
    );
}
