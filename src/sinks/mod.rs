//! Sinks: where readings go. Each is a folder with `config.rs`, and each
//! reads from its own outbox.

pub mod influxdb;

use serde::Deserialize;

use crate::config::{join, Check, Validate};

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SinksConfig {
    /// After the sources stop, how long sinks may keep draining their
    /// outboxes before they are stopped (what is unsent stays on disk).
    #[serde(deserialize_with = "crate::config::duration")]
    pub shutdown_grace: std::time::Duration,
    pub influxdb: Option<influxdb::config::InfluxDbConfig>,
}

impl Default for SinksConfig {
    fn default() -> Self {
        SinksConfig {
            shutdown_grace: std::time::Duration::from_secs(10),
            influxdb: None,
        }
    }
}

impl Validate for SinksConfig {
    fn validate(&self, path: &str, cx: &mut Check) {
        if let Some(s) = &self.influxdb {
            s.validate(&join(path, "influxdb"), cx);
        }
    }
}
