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

/// A GB 3096-2008 acoustic environment zone class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ZoneClass {
    C0,
    C1,
    C2,
    C3,
    C4a,
    C4b,
}

impl ZoneClass {
    pub const ALL: [ZoneClass; 6] = [
        ZoneClass::C0,
        ZoneClass::C1,
        ZoneClass::C2,
        ZoneClass::C3,
        ZoneClass::C4a,
        ZoneClass::C4b,
    ];

    /// `"0"`, `"1"`, `"2"`, `"3"`, `"4a"`, `"4b"` (the one spelling check accepts).
    pub fn parse(s: &str) -> Option<ZoneClass> {
        Self::ALL.into_iter().find(|z| z.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        ZONE_CLASSES[self as usize]
    }
}

/// Which limits a noise sensor is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NoiseStandard {
    /// GB 3096-2008, ambient noise (the default).
    #[default]
    Gb3096,
    /// GB 22337-2008, noise at a social-activity source's boundary.
    Gb22337,
}

impl NoiseStandard {
    pub fn parse(s: &str) -> Option<NoiseStandard> {
        match s {
            "gb3096" => Some(NoiseStandard::Gb3096),
            "gb22337" => Some(NoiseStandard::Gb22337),
            _ => None,
        }
    }
}

/// A water meter's place in its district's balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MeterRole {
    Master,
    Sub,
    /// The default.
    #[default]
    Household,
    Inlet,
    Public,
}

impl MeterRole {
    const ALL: [MeterRole; 5] = [
        MeterRole::Master,
        MeterRole::Sub,
        MeterRole::Household,
        MeterRole::Inlet,
        MeterRole::Public,
    ];

    pub fn parse(s: &str) -> Option<MeterRole> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MeterRole::Master => "master",
            MeterRole::Sub => "sub",
            MeterRole::Household => "household",
            MeterRole::Inlet => "inlet",
            MeterRole::Public => "public",
        }
    }
}

impl DeviceAttributes {
    /// The zone class, parsed (`None` when unset; `check` refused any other).
    pub fn zone(&self) -> Option<ZoneClass> {
        self.zone_class.as_deref().and_then(ZoneClass::parse)
    }

    /// The standard, parsed (default GB 3096).
    pub fn noise_standard(&self) -> NoiseStandard {
        self.standard
            .as_deref()
            .and_then(NoiseStandard::parse)
            .unwrap_or_default()
    }

    /// The meter role, parsed (default household).
    pub fn meter_role(&self) -> MeterRole {
        self.role
            .as_deref()
            .and_then(MeterRole::parse)
            .unwrap_or_default()
    }
}

impl Validate for DeviceAttributes {
    fn validate(&self, path: &str, cx: &mut Check) {
        if let Some(z) = &self.zone_class {
            if ZoneClass::parse(z).is_none() {
                cx.problem(
                    join(path, "zone_class"),
                    format!("expected 0, 1, 2, 3, 4a or 4b, got {z:?}"),
                );
            }
        }
        if let Some(s) = &self.standard {
            if NoiseStandard::parse(s).is_none() {
                cx.problem(
                    join(path, "standard"),
                    format!("expected gb3096 or gb22337, got {s:?}"),
                );
            }
        }
        if let Some(r) = &self.role {
            if MeterRole::parse(r).is_none() {
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
