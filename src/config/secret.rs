//! Secrets (InfluxDB token, MQTT password): from the config value, an
//! environment override (`GREENGATE__SINKS__INFLUXDB__TOKEN`), or a file
//! (`token_file`), never printed by `Debug` or `Display`.

use super::{join, Check};
use std::fmt;
use std::path::PathBuf;

/// A secret string whose `Debug` and `Display` print a redaction.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself: call only where it goes on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// A secret given either inline (`key`) or by file (`key_file`).
pub struct SecretSource<'a> {
    pub key: &'a str,
    pub value: &'a Option<Secret>,
    pub file: &'a Option<PathBuf>,
}

impl SecretSource<'_> {
    /// Resolves the secret; a file's trailing newline is trimmed. Records a
    /// problem when both or an unreadable file are given.
    pub fn resolve(&self, path: &str, cx: &mut Check) -> Option<Secret> {
        match (self.value, self.file) {
            (Some(_), Some(_)) => {
                cx.problem(
                    join(path, self.key),
                    format!("give either {} or {}_file, not both", self.key, self.key),
                );
                None
            }
            (Some(v), None) => Some(v.clone()),
            (None, Some(f)) => {
                let full = cx.resolve(f);
                match std::fs::read_to_string(&full) {
                    Ok(s) => Some(Secret(s.trim_end_matches(['\n', '\r']).to_string())),
                    Err(e) => {
                        cx.problem(
                            join(path, &format!("{}_file", self.key)),
                            format!("cannot read {}: {e}", full.display()),
                        );
                        None
                    }
                }
            }
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_or_display() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?} {s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }
}
