//! Sources: where readings come from. Each is a folder with `config.rs`.

pub mod bus;
pub mod hj212;
pub mod meters;
pub mod modbus;
pub mod mqtt;

use serde::Deserialize;

use crate::config::{join, Check, Rebase, Validate};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SourcesConfig {
    pub mqtt: Option<mqtt::config::MqttConfig>,
    pub modbus: Option<modbus::config::ModbusConfig>,
    pub meters: Option<meters::config::MetersConfig>,
    pub hj212: Option<hj212::config::Hj212Config>,
}

impl Rebase for SourcesConfig {
    /// Serial ports (`/dev/ttyUSB0`) are device names, not config files:
    /// only the MQTT source has paths to resolve.
    fn rebase(&mut self, base: &std::path::Path) {
        self.mqtt.rebase(base);
    }
}

impl Validate for SourcesConfig {
    fn validate(&self, path: &str, cx: &mut Check) {
        if let Some(m) = &self.mqtt {
            m.validate(&join(path, "mqtt"), cx);
        }
        if let Some(m) = &self.modbus {
            m.validate(&join(path, "modbus"), cx);
        }
        if let Some(m) = &self.meters {
            m.validate(&join(path, "meters"), cx);
        }
        if let Some(h) = &self.hj212 {
            h.validate(&join(path, "hj212"), cx);
        }
    }
}
