//! Readings per second through the indicator engine: 1,000 devices of mixed
//! classes (400 noise, 300 water meters, 150 lamps, 100 parking bays,
//! 50 security devices), every device reporting once a simulated second,
//! `advance` called once a simulated second (closing minutes, hours and
//! intervals as they pass). Run: `cargo bench --bench indicators`.
//!
//! `GG_BENCH_LATE_PCT=10` makes that share of the devices report 5 minutes
//! behind (every reading of theirs arrives stamped 300 s in the past):
//! noise lateness is then 10 min (their minutes stay open longer), water
//! meters re-open emitted intervals (re-emission, balances summed again),
//! and the other classes' late readings are counted and dropped.

// A test or bench binary has no API: its `pub` only shares between its modules.
#![allow(unreachable_pub)]

use greengate::devices::{DeviceConfig, Devices};
use greengate::indicators::config::{DeviceAttributes, IndicatorsConfig};
use greengate::indicators::IndicatorEngine;
use greengate::model::{FieldValue, Reading};
use std::hint::black_box;
use std::time::Instant;

const SECOND: i64 = 1_000_000_000;
/// 2026-01-05 06:00 +08:00.
const T0: i64 = 1_767_564_000 * SECOND;

fn setup() -> (Devices, Vec<Reading>) {
    let mut devices = Devices::new();
    let mut templates = Vec::new();
    for i in 0..1000 {
        let (class, id, attrs, field) = match i {
            0..400 => (
                "noise",
                format!("noise-{i}"),
                DeviceAttributes {
                    zone_class: Some("1".into()),
                    ..Default::default()
                },
                "laeq",
            ),
            400..700 => (
                "water_meter",
                format!("water-{i}"),
                DeviceAttributes {
                    role: Some(if i % 50 == 0 { "master" } else { "sub" }.into()),
                    district: Some(format!("d{}", i / 50)),
                    ..Default::default()
                },
                "total_m3",
            ),
            700..850 => (
                "lighting",
                format!("lamp-{i}"),
                DeviceAttributes {
                    rated_power_w: Some(100.0),
                    ..Default::default()
                },
                "power_w",
            ),
            850..950 => (
                "parking",
                format!("bay-{i}"),
                DeviceAttributes {
                    lot: Some("p".into()),
                    fire_lane: i % 25 == 0,
                    ..Default::default()
                },
                "occupied",
            ),
            _ => (
                "security",
                format!("cam-{i}"),
                DeviceAttributes {
                    security_type: Some("camera".into()),
                    ..Default::default()
                },
                "event",
            ),
        };
        let mut r = Reading::new(class, T0);
        r.set_tag("community", "c1");
        r.set_tag("device", id.as_str());
        let v = match field {
            "occupied" => FieldValue::Bool(false),
            "event" => FieldValue::Str("heartbeat".into()),
            _ => FieldValue::Float(0.0),
        };
        r.add_field(field, v);
        if class == "lighting" {
            r.add_field("on", FieldValue::Bool(true));
        }
        devices.insert(
            id,
            DeviceConfig {
                indicators: DeviceAttributes {
                    class: Some(class.into()),
                    ..attrs
                },
                ..Default::default()
            },
        );
        templates.push(r);
    }
    (devices, templates)
}

fn main() {
    let seconds: i64 = std::env::var("GG_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3600);
    let late_pct: usize = std::env::var("GG_BENCH_LATE_PCT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let late_every = if late_pct == 0 {
        0
    } else {
        100 / late_pct.min(100)
    };
    let (devices, mut templates) = setup();
    let mut cfg = IndicatorsConfig::default();
    if late_every > 0 {
        cfg.noise.lateness = Some(std::time::Duration::from_secs(600));
    }
    let mut engine = IndicatorEngine::new(&cfg, &devices, "c1", 8 * 3600);
    let mut emitted = 0usize;
    let start = Instant::now();
    for s in 0..seconds {
        let base = T0 + s * SECOND;
        for (i, r) in templates.iter_mut().enumerate() {
            let behind = if late_every > 0 && i % late_every == 0 {
                300 * SECOND
            } else {
                0
            };
            r.time_ns = base + i as i64 * 1000 - behind;
            match &mut r.fields[0].1 {
                FieldValue::Float(v) if r.measurement == "noise" => {
                    *v = 40.0 + ((s + i as i64) % 30) as f64
                }
                FieldValue::Float(v) if r.measurement == "water_meter" => *v += 0.001,
                FieldValue::Float(v) => *v = 90.0 + (s % 10) as f64,
                FieldValue::Bool(b) => *b = (s / 600 + i as i64) % 3 == 0,
                _ => {}
            }
            engine.record(black_box(r));
        }
        emitted += engine.advance(base + SECOND).len();
    }
    let secs = start.elapsed().as_secs_f64();
    let n = seconds as f64 * templates.len() as f64;
    println!(
        "indicators: {n:.0} readings from 1000 devices ({seconds} simulated s, {late_pct} % \
         of devices 5 min late) in {secs:.3} s = {:.0} readings/s on one core; {emitted} \
         indicator readings emitted; {} readings left out as late",
        n / secs,
        engine.late_readings()
    );
}
