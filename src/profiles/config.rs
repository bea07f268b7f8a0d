//! Where profiles are loaded from. (Stub: being written.)

use serde::Deserialize;

use crate::config::{Check, Validate};

/// The `[profiles]` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProfilesConfig {}

impl Validate for ProfilesConfig {
    fn validate(&self, _path: &str, _cx: &mut Check) {}
}
