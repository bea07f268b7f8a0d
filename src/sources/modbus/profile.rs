//! Modbus register maps in device profiles. (Stub: being written.)

use serde::Deserialize;

use crate::config::{Check, Validate};

/// The `[modbus]` table of a device profile.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct RegisterMap {}

impl Validate for RegisterMap {
    fn validate(&self, _path: &str, _cx: &mut Check) {}
}
