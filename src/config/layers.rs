//! The configuration's two layers, merged into one JSON value tree: the TOML
//! file, then `GREENGATE__...` environment variables (`__` separates keys,
//! keys are lowercased: `GREENGATE__SINKS__INFLUXDB__TOKEN` is
//! `sinks.influxdb.token`; arrays of tables cannot be addressed).
//!
//! Invariants:
//! - An environment value stays the string it was: `0001`, `true` or `1e3`
//!   given for a string key (a token, a password, a community id) arrive as
//!   written. Where the key is a number or a bool, [`super::parse_value`]
//!   converts the string when deserialising fails on exactly that path, and
//!   only for paths the environment set (a TOML `port = "1883"` stays a type
//!   error). (With `try_parsing`, the `config` crate guessed types from the
//!   text instead; it now merges the layers with every value kept as text.)
//! - No error echoes a secret: a TOML syntax error names the line, the column
//!   and the parser's message, never the line's text (it may be a token); a
//!   type error at a key that looks like a secret ([`looks_secret`]) never
//!   shows the value.

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

use super::{Problem, Problems};

/// The environment prefix and key separator.
pub const ENV_PREFIX: &str = "GREENGATE__";
const ENV_SEPARATOR: &str = "__";

/// The merged tree and which paths the environment set (path -> variable).
#[derive(Debug, Default)]
pub struct Layers {
    pub root: Value,
    pub env: BTreeMap<String, String>,
}

/// Reads `file` and overlays the process environment.
pub fn load(file: &Path) -> Result<Layers, Problems> {
    load_from(file, None)
}

/// Like [`load`], with `vars` in place of the process environment. Tests
/// pass variables this way: `std::env::set_var` is unsound while other
/// threads (the test harness's) may read the environment.
pub fn load_with_env(
    file: &Path,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Layers, Problems> {
    load_from(file, Some(vars.into_iter().collect()))
}

/// `vars`: `None` reads the process environment.
fn load_from(file: &Path, vars: Option<config::Map<String, String>>) -> Result<Layers, Problems> {
    let at = file.display().to_string();
    let problem = |message: String| {
        Problems(vec![Problem {
            path: at.clone(),
            message,
        }])
    };
    let text = std::fs::read_to_string(file).map_err(|e| problem(format!("cannot read: {e}")))?;
    // The syntax first, with an error that never quotes the text; then which
    // paths the environment sets (and whether it can set them), on the file's tree.
    let mut tree = parse_toml(&text).map_err(problem)?;
    let env = match &vars {
        Some(vars) => overlay_env(
            &mut tree,
            vars.iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v))),
        ),
        None => overlay_env(&mut tree, std::env::vars_os()),
    }
    .map_err(Problems)?;
    // The merge itself is the `config` crate's: the file, then the
    // environment with every value kept as the text it was.
    let merged = config::Config::builder()
        .add_source(config::File::from_str(&text, config::FileFormat::Toml))
        .add_source(
            config::Environment::with_prefix("GREENGATE")
                .prefix_separator(ENV_SEPARATOR)
                .separator(ENV_SEPARATOR)
                .try_parsing(false)
                .source(vars),
        )
        .build()
        .and_then(|c| c.try_deserialize::<Value>());
    let root = merged.map_err(|e| {
        // Its messages may quote a value: only without secrets in play.
        let secret = env.keys().any(|k| looks_secret(k));
        problem(if secret {
            "cannot merge the config file and the environment".to_string()
        } else {
            format!("cannot merge the config file and the environment: {e}")
        })
    })?;
    Ok(Layers { root, env })
}

/// Parses TOML text into a JSON value tree; the error names the line and
/// column and never quotes the text (see the module doc).
pub fn parse_toml(text: &str) -> Result<Value, String> {
    let v: toml::Value = toml::from_str(text).map_err(|e| {
        let msg = e.message().trim();
        match e.span() {
            Some(span) => {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!("TOML syntax error at line {line}, column {column}: {msg}")
            }
            None => format!("TOML syntax error: {msg}"),
        }
    })?;
    serde_json::to_value(v).map_err(|e| e.to_string())
}

/// Whether the key at `path` holds a secret (its value is never shown).
pub fn looks_secret(path: &str) -> bool {
    let key = path
        .rsplit(['.', '['])
        .next()
        .unwrap_or(path)
        .to_ascii_lowercase();
    [
        "token",
        "password",
        "passwd",
        "secret",
        "credential",
        "private_key",
        "api_key",
    ]
    .iter()
    .any(|s| key.contains(s))
        // HJ 212's password field (`[sources.hj212] pw`).
        || key == "pw"
}

/// Sets every `GREENGATE__A__B=v` of `vars` as the string `v` at `a.b` in
/// `root`; returns the paths set, with their variable names.
pub fn overlay_env(
    root: &mut Value,
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> Result<BTreeMap<String, String>, Vec<Problem>> {
    let mut set = BTreeMap::new();
    let mut problems = Vec::new();
    let mut vars: Vec<(OsString, OsString)> = vars.into_iter().collect();
    vars.sort();
    for (name, value) in vars {
        let Some(name) = name.to_str() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let keys: Vec<String> = rest
            .split(ENV_SEPARATOR)
            .map(str::to_ascii_lowercase)
            .collect();
        let path = keys.join(".");
        let Some(value) = value.to_str() else {
            problems.push(Problem {
                path: name.to_string(),
                message: "the value is not UTF-8".into(),
            });
            continue;
        };
        if keys.iter().any(String::is_empty) {
            problems.push(Problem {
                path: name.to_string(),
                message: "empty key between separators".into(),
            });
            continue;
        }
        match set_at(root, &keys, value) {
            Ok(()) => {
                set.insert(path, name.to_string());
            }
            Err(at) => problems.push(Problem {
                path: name.to_string(),
                message: format!("cannot override {at}: it is not a table in the config file"),
            }),
        }
    }
    if problems.is_empty() {
        Ok(set)
    } else {
        Err(problems)
    }
}

/// Sets `keys` to the string `value`, creating tables on the way; `Err`
/// names the first key that holds a non-table value.
fn set_at(root: &mut Value, keys: &[String], value: &str) -> Result<(), String> {
    if root.is_null() {
        *root = Value::Object(Map::new());
    }
    let mut node = root;
    for (i, k) in keys.iter().enumerate() {
        let Value::Object(map) = node else {
            return Err(keys[..i].join("."));
        };
        if i + 1 == keys.len() {
            map.insert(k.clone(), Value::String(value.to_string()));
            return Ok(());
        }
        node = map
            .entry(k.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    Ok(())
}

/// Converts the environment string at `path` (a serde_path_to_error path
/// within `value`) to the bool or number it spells; `false` if there is no
/// string there or it spells neither.
pub fn coerce_env_string(value: &mut Value, path: &serde_path_to_error::Path) -> bool {
    use serde_path_to_error::Segment;
    let mut node = value;
    for seg in path.iter() {
        node = match (seg, node) {
            (Segment::Map { key }, Value::Object(m)) => match m.get_mut(key) {
                Some(v) => v,
                None => return false,
            },
            (Segment::Seq { index }, Value::Array(a)) => match a.get_mut(*index) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    let Value::String(s) = node else {
        return false;
    };
    let t = s.trim();
    let parsed = match t {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => match (t.parse::<i64>(), t.parse::<u64>(), t.parse::<f64>()) {
            (Ok(i), _, _) => Value::from(i),
            (_, Ok(u), _) => Value::from(u),
            (_, _, Ok(f)) if f.is_finite() => Value::from(f),
            _ => return false,
        },
    };
    *node = parsed;
    true
}

#[cfg(test)]
#[path = "layers_tests.rs"]
mod tests;
