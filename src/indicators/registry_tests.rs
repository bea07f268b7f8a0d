use crate::devices::{DeviceConfig, Devices};
use crate::indicators::config::{DeviceAttributes, IndicatorsConfig};
use crate::indicators::window::{DAY, MINUTE, SECOND};
use crate::indicators::IndicatorEngine;
use crate::model::{FieldValue, Reading};

/// 2026-01-05 12:00 UTC (the site is on UTC here; noise days start 06:00).
const T0: i64 = 1_767_614_400 * SECOND;

fn devices(zones: &[(&str, &str)]) -> Devices {
    zones
        .iter()
        .map(|(id, z)| {
            let c = DeviceConfig {
                indicators: DeviceAttributes {
                    zone_class: Some(z.to_string()),
                    ..Default::default()
                },
                ..Default::default()
            };
            (id.to_string(), c)
        })
        .collect()
}

fn engine(d: &Devices) -> IndicatorEngine {
    let cfg = IndicatorsConfig {
        allowed_lateness: std::time::Duration::ZERO,
        ..Default::default()
    };
    IndicatorEngine::new(&cfg, d, "c1", 0)
}

fn noise(id: &str, t: i64) -> Reading {
    let mut r = Reading::new("noise", t);
    r.set_tag("device", id);
    r.add_field("laeq", FieldValue::Float(52.0));
    r
}

/// `(time, zone_class tag, day_limit)` of the `measurement` readings of `id`.
fn rows(out: &[Reading], measurement: &str, id: &str) -> Vec<(i64, Option<String>, Option<f64>)> {
    out.iter()
        .filter(|r| r.measurement == measurement && r.tag("device") == Some(id))
        .map(|r| {
            (
                r.time_ns,
                r.tag("zone_class").map(str::to_string),
                r.field("day_limit").and_then(FieldValue::as_f64),
            )
        })
        .collect()
}

fn zone(z: &str) -> Option<String> {
    Some(z.to_string())
}

#[test]
fn a_device_added_by_a_reload_gets_its_attributes_on_its_next_readings() {
    let mut e = engine(&Devices::new());
    e.advance(T0);
    e.update_devices(&devices(&[("n2", "2")]));
    e.record(&noise("n2", T0 + 10 * SECOND));
    let out = e.advance(T0 + 2 * MINUTE);
    assert_eq!(
        rows(&out, "gg_noise_minute", "n2"),
        vec![(T0, zone("2"), None)]
    );
}

#[test]
fn a_changed_zone_class_applies_to_windows_opened_after_the_reload() {
    let mut e = engine(&devices(&[("n1", "1")]));
    e.record(&noise("n1", T0 + 10 * SECOND));
    let mut out = e.advance(T0 + 30 * SECOND);
    e.update_devices(&devices(&[("n1", "2")]));
    e.record(&noise("n1", T0 + 70 * SECOND));
    out.extend(e.advance(T0 + DAY));
    e.record(&noise("n1", T0 + DAY + 10 * SECOND));
    out.extend(e.advance(T0 + 3 * DAY));
    let minutes = rows(&out, "gg_noise_minute", "n1");
    assert_eq!(
        minutes,
        vec![
            (T0, zone("1"), None),
            (T0 + MINUTE, zone("2"), None),
            (T0 + DAY, zone("2"), None),
        ]
    );
    // The noise day in progress at the reload keeps its class-1 limits
    // (55 dB by day); the next day is judged against class 2 (60 dB).
    let days = rows(&out, "gg_noise_day", "n1");
    assert_eq!(
        days,
        vec![
            (T0 - 6 * 3600 * SECOND, zone("1"), Some(55.0)),
            (T0 - 6 * 3600 * SECOND + DAY, zone("2"), Some(60.0)),
        ]
    );
}

#[test]
fn a_removed_device_still_emits_its_open_windows_and_is_then_forgotten() {
    let mut e = engine(&devices(&[("n1", "1"), ("n2", "1")]));
    e.record(&noise("n1", T0 + 10 * SECOND));
    e.record(&noise("n2", T0 + 10 * SECOND));
    let mut out = e.advance(T0 + 30 * SECOND);
    e.update_devices(&devices(&[("n2", "1")]));
    e.record(&noise("n2", T0 + 3700 * SECOND));
    out.extend(e.advance(T0 + 2 * DAY));
    assert_eq!(
        rows(&out, "gg_noise_minute", "n1"),
        vec![(T0, zone("1"), None)]
    );
    assert_eq!(
        rows(&out, "gg_noise_day", "n1"),
        vec![(T0 - 6 * 3600 * SECOND, zone("1"), Some(55.0))]
    );
    // Device health: both count in the interval open at the reload; only
    // n2 afterwards.
    let health = |t: i64| {
        out.iter()
            .find(|r| r.measurement == "gg_device_health" && r.time_ns == t)
            .and_then(|r| r.field("devices").cloned())
    };
    assert_eq!(health(T0), Some(FieldValue::Int(2)));
    assert_eq!(health(T0 + 3600 * SECOND), Some(FieldValue::Int(1)));
}

#[test]
fn earlier_attributes_are_forgotten_once_no_window_can_use_them() {
    let mut e = engine(&devices(&[("n1", "1")]));
    e.advance(T0);
    e.update_devices(&devices(&[("n1", "2")]));
    assert_eq!(e.earlier.len(), 1);
    e.advance(T0 + 3 * DAY);
    assert!(e.earlier.is_empty());
}
