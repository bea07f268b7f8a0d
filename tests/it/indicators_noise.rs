//! Noise indicators end to end through the engine: windows in +08:00, the
//! watermark, late data, checkpoint/restore, and hand-computed golden values.

use greengate::devices::{DeviceConfig, Devices};
use greengate::indicators::config::{DeviceAttributes, IndicatorsConfig};
use greengate::indicators::levels::{leq, LevelStats};
use greengate::indicators::window::{MINUTE, SECOND};
use greengate::indicators::{IndicatorEngine, Verdict};
use greengate::model::{FieldValue, Reading};
use proptest::prelude::*;
use std::time::Duration;

/// 2026-01-05 06:00 in Asia/Shanghai (+08:00).
const DAY0: i64 = 1_767_564_000 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const CST: i32 = 8 * 3600;

fn devices(sample: Duration) -> Devices {
    let mut d = Devices::new();
    d.insert(
        "n1".into(),
        DeviceConfig {
            indicators: DeviceAttributes {
                zone_class: Some("1".into()),
                sample_interval: Some(sample),
                ..Default::default()
            },
            ..Default::default()
        },
    );
    d
}

fn noise(t: i64, laeq: f64, lamax: Option<f64>) -> Reading {
    let mut r = Reading::new("noise", t);
    r.set_tag("device", "n1");
    r.add_field("laeq", FieldValue::Float(laeq));
    if let Some(m) = lamax {
        r.add_field("lamax", FieldValue::Float(m));
    }
    r
}

fn f(r: &Reading, k: &str) -> f64 {
    r.field(k).and_then(FieldValue::as_f64).unwrap_or(f64::NAN)
}

fn of<'a>(out: &'a [Reading], m: &'a str) -> impl Iterator<Item = &'a Reading> + 'a {
    out.iter().filter(move |r| r.measurement == m)
}

fn engine(sample: Duration) -> IndicatorEngine {
    IndicatorEngine::new(&IndicatorsConfig::default(), &devices(sample), "c1", CST)
}

/// One reading a minute for 24 h from 06:00: 50 dB by day, 40 dB by night,
/// and one loud minute (Lmax 61 = night limit 45 + 16) at 23:30.
fn feed_day(e: &mut IndicatorEngine, from_min: i64, to_min: i64, out: &mut Vec<Reading>) {
    for m in from_min..to_min {
        let t = DAY0 + m * MINUTE + 5 * SECOND;
        let local_hour = (6 + m / 60) % 24;
        let level = if (6..22).contains(&local_hour) {
            50.0
        } else {
            40.0
        };
        let lamax = (m == 17 * 60 + 30).then_some(61.0);
        e.record(&noise(t, level, lamax));
        if m % 10 == 0 {
            out.extend(e.advance(t));
        }
    }
}

#[test]
fn half_the_time_at_50_and_half_at_60_gives_57_4_db() {
    let mut e = engine(Duration::from_secs(1));
    for s in 0..60 {
        let level = if s < 30 { 50.0 } else { 60.0 };
        e.record(&noise(DAY0 + s * SECOND, level, None));
    }
    let out = e.advance(DAY0 + 10 * MINUTE);
    let m: Vec<_> = of(&out, "gg_noise_minute").collect();
    assert_eq!(m.len(), 1);
    assert!((f(m[0], "leq") - 57.4).abs() < 0.05, "{}", f(m[0], "leq"));
    assert_eq!(f(m[0], "lmax"), 60.0);
    assert_eq!(f(m[0], "lmin"), 50.0);
    assert_eq!(f(m[0], "count"), 60.0);
    assert_eq!(f(m[0], "valid_rate"), 1.0);
    assert_eq!(m[0].tag("community"), Some("c1"));
    assert_eq!(m[0].tag("zone_class"), Some("1"));
}

#[test]
fn a_synthetic_day_in_shanghai_splits_day_and_night_at_22_and_06() {
    let mut e = engine(Duration::from_secs(60));
    let mut out = Vec::new();
    feed_day(&mut e, 0, 24 * 60, &mut out);
    out.extend(e.advance(DAY0 + 24 * HOUR + 3 * MINUTE));
    assert_eq!(of(&out, "gg_noise_minute").count(), 1440);
    let hours: Vec<_> = of(&out, "gg_noise_hour").collect();
    assert_eq!(hours.len(), 24);
    // 21:00–22:00 local is day (50 dB), 22:00–23:00 is night (40 dB).
    let h21 = hours
        .iter()
        .find(|r| r.time_ns == DAY0 + 15 * HOUR)
        .unwrap();
    let h22 = hours
        .iter()
        .find(|r| r.time_ns == DAY0 + 16 * HOUR)
        .unwrap();
    assert_eq!(f(h21, "leq"), 50.0);
    assert_eq!(f(h22, "leq"), 40.0);
    let days: Vec<_> = of(&out, "gg_noise_day").collect();
    assert_eq!(
        days.len(),
        1,
        "the noise day closes at 06:00 the next morning"
    );
    let d = days[0];
    assert_eq!(d.time_ns, DAY0);
    assert_eq!(d.field("date"), Some(&FieldValue::Str("2026-01-05".into())));
    assert_eq!(f(d, "ld"), 50.0);
    assert_eq!(f(d, "ln"), 40.0);
    assert_eq!(f(d, "ldn"), 50.0, "Ldn adds 10 dB to the night");
    assert_eq!(f(d, "day_hours_valid"), 16.0);
    assert_eq!(f(d, "night_hours_valid"), 8.0);
    assert_eq!(f(d, "day_exceedance_db"), -5.0);
    assert_eq!(d.field("day_compliant"), Some(&FieldValue::Bool(true)));
    assert_eq!(d.field("night_compliant"), Some(&FieldValue::Bool(true)));
    assert_eq!(
        f(d, "night_sudden_events"),
        1.0,
        "Lmax 16 dB over the night limit"
    );
    let c: Vec<_> = of(&out, "gg_noise_compliance").collect();
    assert_eq!(c.len(), 1);
    assert_eq!(f(c[0], "day_rate_pct"), 100.0);
    assert_eq!(f(c[0], "night_valid_points"), 1.0);
    let a = e.assess(DAY0 - HOUR, DAY0 + 2 * 24 * HOUR);
    let c10 = a.criteria.iter().find(|c| c.number == 10).unwrap();
    assert_eq!(c10.verdict, Verdict::Pass);
    assert_eq!(c10.figures["night_sudden_events"], 1.0);
}

#[test]
fn a_night_lmax_within_fifteen_db_raises_no_event() {
    let mut e = engine(Duration::from_secs(60));
    let t = DAY0 + 17 * HOUR;
    e.record(&noise(t, 40.0, Some(60.0)));
    let out = e.advance(DAY0 + 24 * HOUR + 3 * MINUTE);
    let d = of(&out, "gg_noise_day").next().unwrap();
    assert_eq!(f(d, "night_sudden_events"), 0.0);
    assert!(
        d.field("ln").is_none(),
        "one valid hour is not a valid night"
    );
}

#[test]
fn late_data_inside_the_allowed_lateness_counts_and_outside_is_dropped() {
    let mut e = engine(Duration::from_secs(60));
    e.record(&noise(DAY0 + 10 * SECOND, 50.0, None));
    // Watermark = now − 2 min = DAY0 + 1 min: the first minute closes.
    let out = e.advance(DAY0 + 3 * MINUTE);
    assert_eq!(of(&out, "gg_noise_minute").count(), 1);
    e.record(&noise(DAY0 + 30 * SECOND, 70.0, None)); // its minute closed: late
    e.record(&noise(DAY0 + 90 * SECOND, 60.0, None)); // 90 s old, minute still open
    assert_eq!(e.late_readings(), 1);
    let out = e.advance(DAY0 + 5 * MINUTE);
    let m: Vec<_> = of(&out, "gg_noise_minute").collect();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].time_ns, DAY0 + MINUTE);
    assert_eq!(f(m[0], "leq"), 60.0);
}

#[test]
fn a_restart_mid_day_keeps_the_days_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("indicators.json");
    let mut straight = engine(Duration::from_secs(60));
    let mut expected = Vec::new();
    feed_day(&mut straight, 0, 24 * 60, &mut expected);
    expected.extend(straight.advance(DAY0 + 24 * HOUR + 3 * MINUTE));

    let mut first = engine(Duration::from_secs(60));
    let mut got = Vec::new();
    feed_day(&mut first, 0, 13 * 60, &mut got);
    first.save(&path).unwrap();
    drop(first);
    let mut second = engine(Duration::from_secs(60));
    assert!(second.load(&path).unwrap());
    feed_day(&mut second, 13 * 60, 24 * 60, &mut got);
    got.extend(second.advance(DAY0 + 24 * HOUR + 3 * MINUTE));
    let day = |v: &[Reading]| of(v, "gg_noise_day").cloned().collect::<Vec<_>>();
    assert_eq!(day(&got), day(&expected));
    assert_eq!(got.len(), expected.len());
}

#[test]
fn a_checkpoint_of_another_version_is_refused() {
    let mut e = engine(Duration::from_secs(60));
    let err = e.restore(br#"{"version": 99}"#).unwrap_err();
    assert!(err.to_string().contains("version 99"));
    assert!(e.restore(b"not json").is_err());
}

#[test]
fn unknown_devices_are_tracked_without_limits() {
    let mut e = engine(Duration::from_secs(60));
    let mut r = noise(DAY0, 55.0, None);
    r.set_tag("device", "stranger");
    e.record(&r);
    let out = e.advance(DAY0 + 5 * MINUTE);
    let m = of(&out, "gg_noise_minute").next().unwrap();
    assert_eq!(m.tag("device"), Some("stranger"));
    assert!(m.tag("zone_class").is_none());
}

proptest! {
    #[test]
    fn leq_lies_between_min_and_max(levels in prop::collection::vec(20.0f64..130.0, 1..200)) {
        let l = leq(&levels).unwrap();
        let lo = levels.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = levels.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        prop_assert!(l >= lo - 1e-9 && l <= hi + 1e-9);
    }

    #[test]
    fn splitting_a_window_and_recombining_gives_the_same_leq(
        levels in prop::collection::vec(20.0f64..130.0, 2..200),
        cut in 1usize..199,
    ) {
        let cut = cut.min(levels.len() - 1);
        let mut whole = LevelStats::default();
        let (mut a, mut b) = (LevelStats::default(), LevelStats::default());
        for (i, l) in levels.iter().enumerate() {
            whole.add(*l, *l, *l);
            if i < cut { a.add(*l, *l, *l) } else { b.add(*l, *l, *l) }
        }
        a.merge(&b);
        let (w, m) = (whole.summary().unwrap(), a.summary().unwrap());
        prop_assert!((w.leq - m.leq).abs() < 1e-9);
        prop_assert_eq!(w.l10, m.l10);
        prop_assert_eq!(w.lmax, m.lmax);
        prop_assert_eq!(w.count, m.count);
    }
}

#[test]
fn a_checkpoint_restores_to_the_same_bytes() {
    let mut e = engine(Duration::from_secs(60));
    let mut out = Vec::new();
    feed_day(&mut e, 0, 17 * 60, &mut out);
    let bytes = e.checkpoint();
    let mut other = engine(Duration::from_secs(60));
    other.restore(&bytes).unwrap();
    assert_eq!(other.checkpoint(), bytes);
    assert_eq!(other.watermark(), e.watermark());
}

#[test]
fn loading_a_missing_checkpoint_starts_empty() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = engine(Duration::from_secs(60));
    assert!(!e.load(&dir.path().join("none.json")).unwrap());
}

/// A log buffer for `tracing` (the test's own subscriber).
#[derive(Clone, Default)]
struct LogBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_one_minute_sensor_left_at_the_default_interval_is_reported_not_silent() {
    let id = "n-cadence-1min";
    let mut d = Devices::new();
    let attrs = DeviceAttributes {
        zone_class: Some("1".into()),
        ..Default::default()
    };
    let cfg = DeviceConfig {
        indicators: attrs,
        ..Default::default()
    };
    d.insert(id.into(), cfg);
    // The default sample_interval, "1s".
    let mut e = IndicatorEngine::new(&IndicatorsConfig::default(), &d, "c1", CST);
    let logs = LogBuf::default();
    let w = logs.clone();
    let sub = tracing_subscriber::fmt()
        .with_writer(move || w.clone())
        .with_ansi(false)
        .finish();
    let out = tracing::subscriber::with_default(sub, || {
        let mut out = Vec::new();
        for m in 0..70 {
            let t = DAY0 + m * MINUTE + 30 * SECOND;
            out.extend(e.advance(t));
            let mut r = noise(t, 50.0, None);
            r.set_tag("device", id);
            e.record(&r);
        }
        out.extend(e.advance(DAY0 + 2 * HOUR + 5 * MINUTE));
        // The noise day closes at 06:00 the next morning.
        out.extend(e.advance(DAY0 + 24 * HOUR + 5 * MINUTE));
        out
    });
    let day = out
        .iter()
        .find(|r| r.measurement == "gg_noise_day")
        .expect("the noise day");
    assert_eq!(
        day.field("observed_interval_s"),
        Some(&FieldValue::Float(60.0))
    );
    let a = e.assess(DAY0 - HOUR, DAY0 + 2 * 24 * HOUR);
    let c10 = a
        .criteria
        .iter()
        .find(|c| c.number == 10)
        .expect("criterion 10");
    assert!(
        c10.notes
            .iter()
            .any(|n| n.contains(id) && n.contains("60 s") && n.contains("sample_interval")),
        "{:?}",
        c10.notes
    );
    let hour = out
        .iter()
        .find(|r| r.measurement == "gg_noise_hour" && r.time_ns == DAY0)
        .expect("the 06:00 hour");
    assert_eq!(hour.field("valid"), Some(&FieldValue::Bool(false)));
    assert_eq!(
        hour.field("invalid_reason"),
        Some(&FieldValue::Str("sample_interval_mismatch".into()))
    );
    assert_eq!(
        hour.field("observed_interval_s"),
        Some(&FieldValue::Float(60.0))
    );
    let gauge = |name| {
        greengate::metrics::registry()
            .gauge_values(name)
            .into_iter()
            .find(|(l, _)| l.iter().any(|(k, v)| *k == "device" && v == id))
            .map(|(_, v)| v)
    };
    assert_eq!(gauge("indicator_sample_interval_mismatch"), Some(1));
    assert_eq!(
        gauge("indicator_observed_sample_interval_seconds"),
        Some(60)
    );
    let text =
        String::from_utf8_lossy(&logs.0.lock().unwrap_or_else(|e| e.into_inner())).to_string();
    let lines: Vec<_> = text
        .lines()
        .filter(|l| l.contains("NoiseSampleIntervalMismatch"))
        .collect();
    assert_eq!(lines.len(), 1, "logged once: {text}");
    assert!(
        lines[0].contains(id) && lines[0].contains("observed_s=60"),
        "{}",
        lines[0]
    );
}
