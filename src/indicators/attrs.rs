//! A device's static indicator settings, resolved from its
//! `[devices.<id>.indicators]` attributes and the site defaults.

use super::config::DeviceAttributes;
use super::ctx::Ctx;
use super::noise::{zone_limits, NoiseAttrs};
use super::water::WaterAttrs;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Noise,
    Water,
    Lighting,
    Parking,
    Charger,
    Security,
    Other,
    Unknown,
}

impl Class {
    pub(crate) fn parse(s: &str) -> Class {
        match s {
            "noise" => Class::Noise,
            "water_meter" => Class::Water,
            "lighting" => Class::Lighting,
            "parking" => Class::Parking,
            "charger" => Class::Charger,
            "security" => Class::Security,
            _ => Class::Other,
        }
    }

    /// The default infrastructure category (criterion 4).
    pub(crate) fn category(self) -> &'static str {
        match self {
            Class::Noise => "environment",
            Class::Water => "water",
            Class::Lighting => "lighting",
            Class::Parking => "parking",
            Class::Charger => "power",
            Class::Security => "security",
            Class::Other | Class::Unknown => "other",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Attrs {
    pub class: Class,
    /// The class name as reported (`noise`, `waterlogging`, ...).
    pub class_name: String,
    pub category: String,
    pub noise: NoiseAttrs,
    pub water: WaterAttrs,
    pub rated_power_w: Option<f64>,
    pub lot: String,
    pub fire_lane: bool,
    pub security_type: String,
    /// How long after a window ends this device's readings still count, ns:
    /// the device's `lateness`, else its class's (noise, water), else
    /// `allowed_lateness`.
    pub lateness: i64,
}

impl Attrs {
    pub(crate) fn new(cx: &Ctx, cfg: Option<&DeviceAttributes>, seen_class: Option<&str>) -> Attrs {
        let empty = DeviceAttributes::default();
        let c = cfg.unwrap_or(&empty);
        let class_name = c
            .class
            .clone()
            .or_else(|| seen_class.map(str::to_string))
            .unwrap_or_default();
        let class = if class_name.is_empty() {
            Class::Unknown
        } else {
            Class::parse(&class_name)
        };
        let nc = &cx.cfg.noise;
        let zone = c.zone();
        let lim = zone.map(|z| zone_limits(c.noise_standard(), z));
        let off = if c.indoor { nc.indoor_offset_db } else { 0.0 };
        let interval = c.sample_interval.unwrap_or(nc.sample_interval);
        let secs = interval.as_secs_f64();
        let lateness = c
            .lateness
            .or(match class {
                Class::Noise => nc.lateness,
                Class::Water => Some(cx.cfg.water.lateness),
                _ => None,
            })
            .map_or(cx.lateness, |d| d.as_nanos().min(i64::MAX as u128) as i64);
        Attrs {
            lateness,
            class,
            category: c
                .category
                .clone()
                .unwrap_or_else(|| class.category().to_string()),
            noise: NoiseAttrs {
                zone,
                limits: lim.map(|(d, n)| (d - off, n - off)),
                due_per_minute: if secs > 0.0 { 60.0 / secs } else { 0.0 },
                sample_interval_ns: interval.as_nanos().min(i64::MAX as u128) as i64,
            },
            water: WaterAttrs::new(c),
            rated_power_w: c.rated_power_w,
            lot: c.lot.clone().unwrap_or_else(|| "default".into()),
            fire_lane: c.fire_lane,
            security_type: c.security_type.clone().unwrap_or_else(|| "other".into()),
            class_name,
        }
    }
}
