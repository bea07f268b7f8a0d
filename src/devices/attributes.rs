//! Per-device indicator attributes: `[devices.<id>.indicators]` (noise zone
//! class and standard, water meter role and district, lamp rated power,
//! parking lot and fire lane, security device type, ...).
//!
//! They live with the device registry, not with the indicator engine that
//! reads them: a device entry is parsed and checked by `devices`, which sits
//! below `indicators` (the engine imports these types, never the reverse).

use serde::Deserialize;
use std::time::Duration;

use crate::config::{join, Check, Validate};

/// Per-device attributes under `[devices.<id>.indicators]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct DeviceAttributes {
    /// Device class (`noise`, `water_meter`, ...); by default the measurement
    /// of the device's readings.
    pub class: Option<String>,
    /// Infrastructure category for criterion 4 (water, power, lighting,
    /// drainage, fire, waste, security, parking, environment).
    pub category: Option<String>,
    /// How long after a window ends this device's readings still count
    /// (noise and water meters); by default its class's lateness.
    #[serde(default, deserialize_with = "crate::config::opt_duration")]
    pub lateness: Option<Duration>,
    // --- noise ---
    /// GB 3096 zone class: "0", "1", "2", "3", "4a", "4b".
    pub zone_class: Option<String>,
    /// "gb3096" (ambient, default) or "gb22337" (boundary emission).
    pub standard: Option<String>,
    /// Measured indoors with windows open: limit − 10 dB.
    pub indoor: bool,
    #[serde(default, deserialize_with = "crate::config::opt_duration")]
    pub sample_interval: Option<Duration>,
    // --- water ---
    /// "master", "sub", "household", "inlet" or "public".
    pub role: Option<String>,
    pub district: Option<String>,
    pub persons: Option<u32>,
    /// Service connections behind an inlet (legitimate night use).
    pub connections: Option<u32>,
    /// The total at which the register wraps to zero (e.g. 100000 m³).
    pub rollover_at_m3: Option<f64>,
    /// Flows above this (the meter's overload flow) are rejected as implausible.
    pub max_flow_m3h: Option<f64>,
    pub replacements: Vec<MeterReplacement>,
    // --- lighting ---
    pub rated_power_w: Option<f64>,
    // --- parking ---
    pub lot: Option<String>,
    pub fire_lane: bool,
    // --- security ---
    /// "camera", "access", "alarm", "intercom", ...
    pub security_type: Option<String>,
}

/// A configured meter replacement: the old meter's final and the new one's
/// start reading.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct MeterReplacement {
    /// RFC 3339 time of the swap ("2026-03-01T10:00:00+08:00").
    pub at: String,
    pub old_final_m3: f64,
    pub new_start_m3: f64,
}

impl MeterReplacement {
    pub fn at_ns(&self) -> Option<i64> {
        chrono::DateTime::parse_from_rfc3339(&self.at)
            .ok()
            .and_then(|t| t.timestamp_nanos_opt())
    }
}

pub const ZONE_CLASSES: [&str; 6] = ["0", "1", "2", "3", "4a", "4b"];

impl Validate for DeviceAttributes {
    fn validate(&self, path: &str, cx: &mut Check) {
        if let Some(z) = &self.zone_class {
            if !ZONE_CLASSES.contains(&z.as_str()) {
                cx.problem(
                    join(path, "zone_class"),
                    format!("expected 0, 1, 2, 3, 4a or 4b, got {z:?}"),
                );
            }
        }
        if let Some(s) = &self.standard {
            if s != "gb3096" && s != "gb22337" {
                cx.problem(
                    join(path, "standard"),
                    format!("expected gb3096 or gb22337, got {s:?}"),
                );
            }
        }
        if let Some(r) = &self.role {
            if !["master", "sub", "household", "inlet", "public"].contains(&r.as_str()) {
                cx.problem(
                    join(path, "role"),
                    format!("expected master, sub, household, inlet or public, got {r:?}"),
                );
            }
        }
        if matches!(self.lateness, Some(l) if l > Duration::from_secs(7 * 86_400)) {
            cx.problem(join(path, "lateness"), "must be at most 7 days");
        }
        if matches!(self.rollover_at_m3, Some(v) if v <= 0.0) {
            cx.problem(join(path, "rollover_at_m3"), "must be positive");
        }
        if matches!(self.max_flow_m3h, Some(v) if v <= 0.0) {
            cx.problem(join(path, "max_flow_m3h"), "must be positive");
        }
        for (i, r) in self.replacements.iter().enumerate() {
            if r.at_ns().is_none() {
                cx.problem(
                    format!("{}[{i}].at", join(path, "replacements")),
                    format!("expected an RFC 3339 time, got {:?}", r.at),
                );
            }
        }
        if matches!(self.sample_interval, Some(d) if d.is_zero()) {
            cx.problem(join(path, "sample_interval"), "must be positive");
        }
    }
}
