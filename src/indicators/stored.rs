//! The assessment history rebuilt from stored `gg_*` points, so an
//! assessment survives a replaced edge box and covers any period, not only
//! `history_days`. Each point maps to the record the engine keeps when it
//! emits it (see `History::push` callers).

use super::engine::IndicatorEngine;
use super::history::{numeric, History};
use super::noise::NoiseDayRecord;
use crate::model::{FieldValue, Reading};

/// The measurements the assessment reads.
pub const KINDS: &[&str] = &[
    "gg_device_health",
    "gg_lighting",
    "gg_parking",
    "gg_fire_lane_event",
    "gg_charger",
    "gg_security",
    "gg_water_balance",
    "gg_water_day",
    "gg_water_night_flow",
    "gg_noise_day",
];

/// The history of stored indicator points.
pub fn history(points: &[Reading]) -> History {
    let mut h = History::default();
    for r in points {
        let tag = |k: &str| r.tag(k).unwrap_or("").to_string();
        let f = |k: &str| r.field(k).and_then(FieldValue::as_f64);
        let b = |k: &str| match r.field(k) {
            Some(FieldValue::Bool(v)) => Some(*v),
            _ => None,
        };
        let (t, m) = (r.time_ns, r.measurement.as_str());
        match m {
            "gg_device_health" => {
                let key = format!("{}:{}", tag("category"), tag("class"));
                h.push(t, m, &key, numeric(r));
            }
            "gg_lighting" | "gg_charger" | "gg_security" => h.push(t, m, "", numeric(r)),
            "gg_parking" | "gg_fire_lane_event" => h.push(t, m, &tag("lot"), numeric(r)),
            "gg_water_night_flow" => h.push(t, m, &tag("device"), numeric(r)),
            "gg_water_balance" if r.tag("period") == Some("day") => {
                if let (Some(master), Some(loss)) = (f("master_m3"), f("loss_m3")) {
                    let fields = vec![("master_m3".into(), master), ("loss_m3".into(), loss)];
                    h.push(t, m, &tag("district"), fields);
                }
            }
            "gg_water_day" => {
                if let (Some(m3), Some(p)) = (f("consumption_m3"), f("persons")) {
                    let fields = vec![("consumption_m3".into(), m3), ("persons".into(), p)];
                    h.push(t, m, &tag("device"), fields);
                }
            }
            "gg_noise_day" => h.noise.push(NoiseDayRecord {
                day: t,
                device: tag("device"),
                zone: r.tag("zone_class").map(str::to_string),
                ld: f("ld"),
                ln: f("ln"),
                day_ok: b("day_compliant"),
                night_ok: b("night_compliant"),
                night_events: f("night_sudden_events").unwrap_or(0.0) as u32,
                night_lmax: f("night_lmax"),
                observed_interval_s: f("observed_interval_s"),
            }),
            _ => {}
        }
    }
    h
}

impl IndicatorEngine {
    /// Replaces the assessment history (with one rebuilt from the store).
    pub fn set_history(&mut self, h: History) {
        self.state.history = h;
    }
}
