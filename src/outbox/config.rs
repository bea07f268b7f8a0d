//! Outbox settings. (Stub: being written.)

use serde::Deserialize;

use crate::config::{Check, Validate};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OutboxConfig {
    pub dir: std::path::PathBuf,
}

impl Validate for OutboxConfig {
    fn validate(&self, _path: &str, _cx: &mut Check) {}
}
