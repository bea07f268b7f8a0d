//! Configuration: one TOML file, overridden by `GREENGATE__...` environment
//! variables, parsed completely and validated with every problem reported at
//! once, each with its key path (`sources.mqtt.port: ...`).
//!
//! Shape: each module owns a `config.rs` with its serde structs and a
//! [`Validate`] impl (no I/O beyond checking that referenced files exist).
//! This module only merges the layers, deserialises each top-level section on
//! its own (so one broken section does not hide problems in the others),
//! collects unknown keys as problems, and runs validation.
//!
//! Every key is documented in `config/greengate.example.toml`; a test loads
//! every file under `config/`.

mod duration;
mod secret;

pub use duration::{duration, opt_duration};
pub use secret::{read_small_file, Secret, SecretSource};

use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// One thing wrong with a configuration, at a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// All problems found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "error: {p}")?;
        }
        Ok(())
    }
}

/// The validation context: where relative paths resolve, and the problems so far.
pub struct Check {
    base_dir: PathBuf,
    problems: Vec<Problem>,
}

impl Check {
    pub fn new(base_dir: impl Into<PathBuf>) -> Self {
        Check {
            base_dir: base_dir.into(),
            problems: Vec::new(),
        }
    }

    pub fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    /// A path from the config, resolved against the config file's directory.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// Records a problem when the file does not exist or cannot be read.
    pub fn readable_file(&mut self, path: &str, p: &Path) {
        let full = self.resolve(p);
        if let Err(e) = std::fs::metadata(&full) {
            self.problem(path, format!("cannot read {}: {e}", full.display()));
        }
    }

    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    pub fn into_result(self) -> Result<(), Problems> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(Problems(self.problems))
        }
    }
}

/// Validation of a deserialised config section; `path` is its key path.
pub trait Validate {
    fn validate(&self, path: &str, cx: &mut Check);
}

/// Joins key paths: `join("sources", "mqtt")` is `sources.mqtt`.
pub fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_string()
    } else {
        format!("{base}.{key}")
    }
}

/// Deserialises `value` as a `T`, recording unknown keys and the type error
/// (if any) as problems under `path`. Returns `None` on a type error.
pub fn parse_value<T: DeserializeOwned>(
    value: serde_json::Value,
    path: &str,
    cx: &mut Check,
) -> Option<T> {
    let mut unknown = Vec::new();
    let result: Result<T, _> = serde_path_to_error::deserialize(serde_ignored::Deserializer::new(
        value,
        &mut |p: serde_ignored::Path| unknown.push(p.to_string()),
    ));
    for u in unknown {
        cx.problem(join(path, &u), "unknown key");
    }
    match result {
        Ok(t) => Some(t),
        Err(e) => {
            let inner = e.path().to_string();
            let at = if inner == "." {
                path.to_string()
            } else {
                join(path, &inner)
            };
            cx.problem(at, e.into_inner().to_string());
            None
        }
    }
}

/// Reads a TOML file into a JSON value tree (for files loaded by modules,
/// such as device profiles).
pub fn read_toml_file(file: &Path) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read: {e}"))?;
    let v: toml::Value = toml::from_str(&text).map_err(|e| e.to_string())?;
    serde_json::to_value(v).map_err(|e| e.to_string())
}

/// Merges the TOML file with `GREENGATE__...` environment variables.
///
/// The `config` crate lowercases environment keys, so every key is lowercase
/// snake_case; arrays of tables cannot be addressed from the environment.
pub fn load_layers(file: &Path) -> Result<serde_json::Value, Problems> {
    let built = config::Config::builder()
        .add_source(config::File::from(file).format(config::FileFormat::Toml))
        .add_source(
            config::Environment::with_prefix("GREENGATE")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        )
        .build()
        .and_then(|c| c.try_deserialize::<serde_json::Value>());
    built.map_err(|e| {
        Problems(vec![Problem {
            path: file.display().to_string(),
            message: e.to_string(),
        }])
    })
}

/// Deserialises each known top-level section of `root` separately and
/// reports unknown top-level keys.
pub fn sections(
    root: serde_json::Value,
    known: &[&str],
    cx: &mut Check,
) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    match root {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                if known.contains(&k.as_str()) {
                    out.insert(k, v);
                } else {
                    cx.problem(k, "unknown key");
                }
            }
        }
        serde_json::Value::Null => {}
        _ => cx.problem("", "the configuration must be a table"),
    }
    out
}

/// Takes one section out of `sections` and parses it, or its default when absent.
pub fn section<T: DeserializeOwned + Default>(
    sections: &mut BTreeMap<String, serde_json::Value>,
    name: &str,
    cx: &mut Check,
) -> Option<T> {
    match sections.remove(name) {
        Some(v) => parse_value(v, name, cx),
        None => Some(T::default()),
    }
}

/// `true`, for serde defaults.
pub fn yes() -> bool {
    true
}

/// A plain string-to-string map of static tags, checked for empty keys.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Tags(pub BTreeMap<String, String>);

impl Validate for Tags {
    fn validate(&self, path: &str, cx: &mut Check) {
        for (k, v) in &self.0 {
            if k.is_empty() {
                cx.problem(path, "empty tag key");
            }
            if k.contains(['\n', '\r']) || v.contains(['\n', '\r']) {
                cx.problem(join(path, k), "tags cannot contain newlines");
            }
        }
    }
}

/// Checks of references from one section into the loaded device profiles
/// (a subscription's or device's `profile` must name a loaded profile).
pub trait CheckRefs {
    fn check_refs(&self, path: &str, profiles: &crate::profiles::ProfileSet, cx: &mut Check);
}
