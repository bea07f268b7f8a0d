//! Device profiles: how one device model's messages or registers become
//! readings. One TOML file per model under `config/devices/`; a file has a
//! common header (`name`, `class`, `description`, `tags`) and either an
//! `[mqtt]` table (payload decoding, see [`mqtt`]), a `[modbus]` table
//! (register map, see [`modbus`]) or a `[meter]` table (DL/T 645 and
//! CJ/T 188 data identifiers, see [`meter`]).
//!
//! Loading reads every `*.toml` file of the configured directories in sorted
//! order and reports every problem with a path that starts with the file
//! (`config/devices/x.toml.mqtt.fields.laeq.unit: unknown unit "dBZ"`), so
//! `greengate check` points at the line to fix. A broken file costs only
//! itself: the other profiles still load.

pub mod config;
pub mod decode;
pub mod guard;
pub mod json;
pub mod jsonpath;
pub mod meter;
pub mod modbus;
pub mod mqtt;
pub mod timestamp;
pub mod topic;

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::{join, parse_value, read_toml_file, Check, Tags, Validate};
pub use decode::{decode, decode_with_properties, DecodeError};
pub use mqtt::MqttProfile;

/// One device model.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub name: String,
    /// The measurement readings of this model go to (`noise`, `water_meter`, ...).
    pub class: String,
    pub description: String,
    pub tags: Tags,
    pub modbus: Option<modbus::RegisterMap>,
    pub mqtt: Option<MqttProfile>,
    /// The `[meter]` map (DL/T 645, CJ/T 188), resolved when loaded.
    pub meter: Option<meter::Resolved>,
    /// The file it was loaded from.
    pub file: PathBuf,
}

/// Every profile by name.
#[derive(Debug, Clone, Default)]
pub struct ProfileSet {
    pub profiles: BTreeMap<String, Profile>,
}

/// A profile file's header; the `[mqtt]`/`[modbus]` tables are parsed apart
/// so their problems carry their own paths.
#[derive(Deserialize)]
struct Header {
    name: String,
    class: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    tags: Tags,
    mqtt: Option<serde_json::Value>,
    modbus: Option<serde_json::Value>,
    meter: Option<serde_json::Value>,
}

fn valid_ident(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl ProfileSet {
    /// Loads every profile the `[profiles]` section points at, recording
    /// problems (with the file and key path) in `cx`.
    pub fn load(cfg: &config::ProfilesConfig, cx: &mut Check) -> ProfileSet {
        let (dirs, explicit) = cfg.dirs();
        let mut set = ProfileSet::default();
        for (i, d) in dirs.iter().enumerate() {
            let dir = cx.resolve(d);
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) => {
                    if explicit || dir.exists() {
                        cx.problem(
                            format!("profiles.dirs[{i}]"),
                            format!("cannot read {}: {e}", dir.display()),
                        );
                    }
                    continue;
                }
            };
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
                .collect();
            files.sort();
            for f in files {
                if let Some(p) = Self::load_file(&f, cx) {
                    match set.profiles.get(&p.name) {
                        Some(first) => cx.problem(
                            join(&f.display().to_string(), "name"),
                            format!(
                                "duplicate profile name {:?} (also in {})",
                                p.name,
                                first.file.display()
                            ),
                        ),
                        None => {
                            set.profiles.insert(p.name.clone(), p);
                        }
                    }
                }
            }
        }
        set
    }

    /// Loads one profile file; `None` (with problems recorded) if it is unusable.
    pub fn load_file(file: &Path, cx: &mut Check) -> Option<Profile> {
        let at = file.display().to_string();
        let value = match read_toml_file(file) {
            Ok(v) => v,
            Err(e) => {
                cx.problem(&at, e);
                return None;
            }
        };
        let h: Header = parse_value(value, &at, cx)?;
        let before = cx.problems().len();
        if !valid_ident(&h.name) {
            cx.problem(join(&at, "name"), "use letters, digits, '-', '_' and '.'");
        }
        if h.class.is_empty() || h.class.contains(['\n', '\r']) {
            cx.problem(
                join(&at, "class"),
                "must be a measurement name such as \"noise\"",
            );
        }
        if let Some(p) = guard::reserved_problem(&h.class) {
            cx.problem(join(&at, "class"), p);
        }
        h.tags.validate(&join(&at, "tags"), cx);
        let mqtt = h.mqtt.and_then(|v| {
            let path = join(&at, "mqtt");
            let m: MqttProfile = parse_value(v, &path, cx)?;
            m.validate(&path, cx);
            Some(m)
        });
        let modbus = h.modbus.and_then(|v| {
            let path = join(&at, "modbus");
            let m: modbus::RegisterMap = parse_value(v, &path, cx)?;
            m.validate(&path, cx);
            Some(m)
        });
        let meter = h.meter.and_then(|v| {
            let path = join(&at, "meter");
            let m: meter::MeterMap = parse_value(v, &path, cx)?;
            m.resolve(&path, cx)
        });
        if mqtt.is_none() && modbus.is_none() && meter.is_none() && cx.problems().len() == before {
            cx.problem(
                &at,
                "a profile needs an [mqtt], a [modbus] or a [meter] table",
            );
        }
        (cx.problems().len() == before).then(|| Profile {
            name: h.name,
            class: h.class,
            description: h.description,
            tags: h.tags,
            modbus,
            mqtt,
            meter,
            file: file.to_path_buf(),
        })
    }

    pub fn get(&self, name: &str) -> Option<&Profile> {
        self.profiles.get(name)
    }
}

/// Checks of references from one section into the loaded device profiles
/// (a subscription's or device's `profile` must name a loaded profile).
///
/// It lives here, not in `config`: `config` is the generic layer every
/// section builds on and knows no section's types.
pub trait CheckRefs {
    fn check_refs(&self, path: &str, profiles: &ProfileSet, cx: &mut Check);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_whose_class_is_an_indicator_measurement_is_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("forged.toml");
        std::fs::write(
            &f,
            "name = \"forged\"\nclass = \"gg_noise_day\"\n[modbus]\n",
        )
        .unwrap();
        let mut cx = Check::new(dir.path());
        assert!(ProfileSet::load_file(&f, &mut cx).is_none());
        let at = format!("{}.class: ", f.display());
        assert!(
            cx.problems().iter().any(|p| p.to_string().starts_with(&at)),
            "{:?}",
            cx.problems()
        );
    }
}
