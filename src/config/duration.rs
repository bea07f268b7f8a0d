//! Durations in config are humantime strings: `"250ms"`, `"5s"`, `"1h 30m"`.

use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// `#[serde(deserialize_with = "crate::config::duration")]`
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s)
        .map_err(|e| serde::de::Error::custom(format!("invalid duration {s:?}: {e}")))
}

/// `#[serde(default, deserialize_with = "crate::config::opt_duration")]`
pub fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}
