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
pub mod layers;
mod offset;
mod secret;

pub use duration::{duration, opt_duration};
pub use layers::{looks_secret, Layers};
pub use offset::{BadOffset, UtcOffset};
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
    /// Key paths the environment set, with their variable names.
    env: BTreeMap<String, String>,
}

impl Check {
    pub fn new(base_dir: impl Into<PathBuf>) -> Self {
        Check {
            base_dir: base_dir.into(),
            problems: Vec::new(),
            env: BTreeMap::new(),
        }
    }

    /// Records which key paths the environment set ([`Layers::env`]).
    pub fn with_env(mut self, env: BTreeMap<String, String>) -> Self {
        self.env = env;
        self
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

/// Resolving a section's relative file paths against the config file's
/// directory. `Config::load` does it once, after validation, so the running
/// daemon opens every path as it is and never resolves one again.
pub trait Rebase {
    fn rebase(&mut self, base: &Path);
}

/// `p` joined to `base` when it is relative.
pub fn rebase_path(p: &mut PathBuf, base: &Path) {
    if p.is_relative() {
        *p = base.join(&*p);
    }
}

/// [`rebase_path`] for each path that is set.
pub fn rebase_paths<'a>(paths: impl IntoIterator<Item = &'a mut Option<PathBuf>>, base: &Path) {
    for p in paths.into_iter().flatten() {
        rebase_path(p, base);
    }
}

impl<T: Rebase> Rebase for Option<T> {
    fn rebase(&mut self, base: &Path) {
        if let Some(t) = self {
            t.rebase(base);
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
///
/// A string the environment set where the key wants a number or a bool is
/// converted and the value deserialised again (see [`layers`]). The type
/// error at a key that looks like a secret never shows the value.
///
/// Unknown keys are found by `serde_ignored`, which cannot see into
/// `#[serde(untagged)]` enums or `#[serde(flatten)]` fields (serde buffers
/// them): config structs use neither.
pub fn parse_value<T: DeserializeOwned>(
    mut value: serde_json::Value,
    path: &str,
    cx: &mut Check,
) -> Option<T> {
    // Each retry turns one more environment string into a number or bool.
    for _ in 0..=cx.env.len() {
        let mut unknown = Vec::new();
        let result: Result<T, _> = serde_path_to_error::deserialize(
            serde_ignored::Deserializer::new(value.clone(), &mut |p: serde_ignored::Path| {
                unknown.push(ignored_path(&p))
            }),
        );
        let err = match result {
            Ok(t) => {
                for u in unknown {
                    cx.problem(join(path, &u), "unknown key");
                }
                return Some(t);
            }
            Err(e) => e,
        };
        let inner = err.path().to_string();
        let at = if inner == "." {
            path.to_string()
        } else {
            join(path, &inner)
        };
        let from_env = cx.env.get(&at).cloned();
        if from_env.is_some() && layers::coerce_env_string(&mut value, err.path()) {
            continue;
        }
        for u in unknown {
            cx.problem(join(path, &u), "unknown key");
        }
        let mut message = err.into_inner().to_string();
        if looks_secret(&at) {
            message = match message.find("expected") {
                Some(i) => format!("invalid value (not shown: a secret), {}", &message[i..]),
                None => "invalid value (not shown: a secret)".to_string(),
            };
        }
        if let Some(var) = from_env {
            message = format!("{message} (set by {var})");
        }
        cx.problem(at, message);
        return None;
    }
    cx.problem(path, "too many environment values that fit no key");
    None
}

/// An ignored key's path in the same form as every other problem:
/// `sinks.influxdb.tokn`, `sources.mqtt.subscriptions[2].filtr` (no `?`
/// for an `Option` or a newtype on the way).
fn ignored_path(p: &serde_ignored::Path) -> String {
    use serde_ignored::Path as P;
    match p {
        P::Root => String::new(),
        P::Seq { parent, index } => format!("{}[{index}]", ignored_path(parent)),
        P::Map { parent, key } => join(&ignored_path(parent), key),
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            ignored_path(parent)
        }
    }
}

/// Reads a TOML file into a JSON value tree (for files loaded by modules,
/// such as device profiles).
pub fn read_toml_file(file: &Path) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read: {e}"))?;
    layers::parse_toml(&text)
}

/// Reads the TOML file and overlays `GREENGATE__...` environment variables
/// as strings ([`layers`]).
///
/// Keys are lowercased from the environment, so every key is lowercase
/// snake_case; arrays of tables cannot be addressed from the environment.
pub fn load_layers(file: &Path) -> Result<Layers, Problems> {
    layers::load(file)
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
