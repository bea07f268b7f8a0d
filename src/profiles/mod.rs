//! Device profiles: how one device model's messages or registers become
//! readings. One TOML file per model under `config/devices/`; a file has a
//! common header (`name`, `class`, `description`, `tags`) and either an
//! `[mqtt]` table (payload decoding, see `mqtt.rs`) or a `[modbus]` table
//! (register map, see `crate::sources::modbus::profile`).
//!
//! (Loader being written.)

pub mod config;

use std::collections::BTreeMap;

use crate::config::{Check, Tags};

/// One device model.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub name: String,
    /// The measurement readings of this model go to (`noise`, `water_meter`, ...).
    pub class: String,
    pub tags: Tags,
    pub modbus: Option<crate::sources::modbus::profile::RegisterMap>,
}

/// Every profile by name.
#[derive(Debug, Clone, Default)]
pub struct ProfileSet {
    pub profiles: BTreeMap<String, Profile>,
}

impl ProfileSet {
    /// Loads every profile the `[profiles]` section points at, recording
    /// problems (with the file and key path) in `cx`.
    pub fn load(_cfg: &config::ProfilesConfig, _cx: &mut Check) -> ProfileSet {
        ProfileSet::default()
    }

    pub fn get(&self, name: &str) -> Option<&Profile> {
        self.profiles.get(name)
    }
}
