//! Settings for this module. (Stub: being written.)

use serde::Deserialize;

use crate::config::{Check, Validate};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct InfluxDbConfig {}

impl Validate for InfluxDbConfig {
    fn validate(&self, _path: &str, _cx: &mut Check) {}
}
