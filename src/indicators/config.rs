//! Indicator settings. (Stub: being written.)

use serde::Deserialize;

use crate::config::{Check, Validate};

/// The `[indicators]` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct IndicatorsConfig {}

impl Validate for IndicatorsConfig {
    fn validate(&self, _path: &str, _cx: &mut Check) {}
}

/// Per-device attributes under `[devices.<id>.indicators]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct DeviceAttributes {}

impl Validate for DeviceAttributes {
    fn validate(&self, _path: &str, _cx: &mut Check) {}
}
