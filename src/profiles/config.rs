//! The `[profiles]` section: where device profiles are loaded from.
//!
//! ```toml
//! [profiles]
//! # Directories of profile files (*.toml, one model per file), relative to
//! # this config file's directory.
//! dirs = ["devices"]
//! ```

use serde::Deserialize;
use std::path::PathBuf;

use crate::config::{Check, Validate};

/// The `[profiles]` section.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct ProfilesConfig {
    /// Directories searched for `*.toml` profiles, in order; default
    /// `["devices"]`. A missing default directory is not a problem (no
    /// profiles), a missing configured one is.
    pub dirs: Option<Vec<PathBuf>>,
}

impl ProfilesConfig {
    /// The directories to read, and whether they were configured explicitly.
    pub fn dirs(&self) -> (Vec<PathBuf>, bool) {
        match &self.dirs {
            Some(d) => (d.clone(), true),
            None => (vec![PathBuf::from("devices")], false),
        }
    }
}

impl Validate for ProfilesConfig {
    // Directories are checked by `ProfileSet::load`, which reads them.
    fn validate(&self, _path: &str, _cx: &mut Check) {}
}
