//! `protocol = 5`: which MQTT version a client speaks. 3.1.1 is the
//! default; `4` (its protocol level) and `"3.1.1"` both name it.

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// MQTT 3.1.1 (protocol level 4).
    #[default]
    V4,
    /// MQTT 5.
    V5,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::V4 => "3.1.1",
            Protocol::V5 => "5",
        })
    }
}

const EXPECTED: &str = "5, 4 or \"3.1.1\"";

impl Protocol {
    fn parse(s: &str) -> Option<Protocol> {
        match s.trim() {
            "5" | "5.0" => Some(Protocol::V5),
            "4" | "3.1.1" => Some(Protocol::V4),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Protocol {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Protocol, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Protocol;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Protocol, E> {
                match n {
                    5 => Ok(Protocol::V5),
                    4 => Ok(Protocol::V4),
                    _ => Err(E::custom(format!("expected {EXPECTED}, got {n}"))),
                }
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Protocol, E> {
                match u64::try_from(n) {
                    Ok(n) => self.visit_u64(n),
                    Err(_) => Err(E::custom(format!("expected {EXPECTED}, got {n}"))),
                }
            }
            // Environment overrides arrive as strings.
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Protocol, E> {
                Protocol::parse(s)
                    .ok_or_else(|| E::custom(format!("expected {EXPECTED}, got {s:?}")))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: serde_json::Value) -> Result<Protocol, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn five_four_and_3_1_1_are_accepted_and_the_default_is_3_1_1() {
        assert_eq!(Protocol::default(), Protocol::V4);
        assert_eq!(parse(serde_json::json!(5)), Ok(Protocol::V5));
        assert_eq!(parse(serde_json::json!("5")), Ok(Protocol::V5));
        assert_eq!(parse(serde_json::json!(4)), Ok(Protocol::V4));
        assert_eq!(parse(serde_json::json!("4")), Ok(Protocol::V4));
        assert_eq!(parse(serde_json::json!("3.1.1")), Ok(Protocol::V4));
    }

    #[test]
    fn other_versions_are_refused_with_the_accepted_ones() {
        for v in [
            serde_json::json!(3),
            serde_json::json!("3.1"),
            serde_json::json!(-1),
        ] {
            let e = parse(v).unwrap_err();
            assert!(e.contains(r#"expected 5, 4 or "3.1.1""#), "{e}");
        }
    }
}
