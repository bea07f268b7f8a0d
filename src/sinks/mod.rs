//! Sinks: where readings go. Each is a folder with `config.rs`, and each
//! reads from its own outbox.

pub mod influxdb;

use serde::Deserialize;

use crate::config::{join, Check, Validate};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SinksConfig {
    pub influxdb: Option<influxdb::config::InfluxDbConfig>,
}

impl Validate for SinksConfig {
    fn validate(&self, path: &str, cx: &mut Check) {
        if let Some(s) = &self.influxdb {
            s.validate(&join(path, "influxdb"), cx);
        }
    }
}
