//! The device registry: per-device static tags and attributes, keyed by the
//! device id that sources put in the `device` tag. Adding a device of a known
//! model is one entry here (plus, for Modbus, its address on a bus).
//!
//! ```toml
//! [devices.noise-07]
//! profile = "fiware-noise"
//! tags = { building = "3", zone = "north" }
//! ```

mod attributes;

use serde::Deserialize;
use std::collections::BTreeMap;

use crate::config::{join, Check, Tags, Validate};
pub use attributes::{
    DeviceAttributes, MeterReplacement, MeterRole, NoiseStandard, ZoneClass, ZONE_CLASSES,
};

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct DeviceConfig {
    /// The device profile (model) name; optional for MQTT devices, whose
    /// subscription names the profile.
    pub profile: Option<String>,
    /// Static tags added to every reading of this device.
    pub tags: Tags,
    /// Attributes the indicator engine needs (noise zone class, meter role, ...).
    pub indicators: DeviceAttributes,
}

/// All devices by id.
pub type Devices = BTreeMap<String, DeviceConfig>;

impl Validate for DeviceConfig {
    fn validate(&self, path: &str, cx: &mut Check) {
        self.tags.validate(&join(path, "tags"), cx);
        self.indicators.validate(&join(path, "indicators"), cx);
    }
}
