//! Settings for this module. (Stub: being written.)

use serde::Deserialize;

use crate::config::{Check, Validate};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ModbusConfig {}

impl Validate for ModbusConfig {
    fn validate(&self, _path: &str, _cx: &mut Check) {}
}

impl crate::config::CheckRefs for ModbusConfig {
    fn check_refs(&self, _path: &str, _profiles: &crate::profiles::ProfileSet, _cx: &mut Check) {}
}
