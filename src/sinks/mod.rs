//! Sinks: where readings go. Each is a folder with `config.rs`, and each
//! reads from its own outbox.

pub mod city;
pub mod hj212;
pub mod influxdb;

use serde::Deserialize;

use crate::config::{join, Check, Rebase, Validate};

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SinksConfig {
    /// After the sources stop, how long sinks may keep draining their
    /// outboxes before they are stopped (what is unsent stays on disk).
    #[serde(deserialize_with = "crate::config::duration")]
    pub shutdown_grace: std::time::Duration,
    pub influxdb: Option<influxdb::config::InfluxDbConfig>,
    /// The city northbound (indicators only), with its own outbox.
    pub city: Option<city::config::CityConfig>,
    /// HJ 212 environmental platforms (noise indicators), each with its own outbox.
    pub hj212: Option<hj212::config::Hj212Config>,
}

impl Default for SinksConfig {
    fn default() -> Self {
        SinksConfig {
            shutdown_grace: std::time::Duration::from_secs(10),
            influxdb: None,
            city: None,
            hj212: None,
        }
    }
}

impl Rebase for SinksConfig {
    fn rebase(&mut self, base: &std::path::Path) {
        self.influxdb.rebase(base);
        self.city.rebase(base);
        self.hj212.rebase(base);
    }
}

impl Validate for SinksConfig {
    fn validate(&self, path: &str, cx: &mut Check) {
        if let Some(s) = &self.influxdb {
            s.validate(&join(path, "influxdb"), cx);
        }
        if let Some(s) = &self.city {
            s.validate(&join(path, "city"), cx);
        }
        if let Some(s) = &self.hj212 {
            s.validate(&join(path, "hj212"), cx);
        }
    }
}
