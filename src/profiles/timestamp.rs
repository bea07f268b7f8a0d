//! Timestamps from payloads: epoch seconds, milliseconds, microseconds or
//! nanoseconds (numbers or numeric strings; seconds may have a fraction), or
//! RFC 3339 text. Without a `time` spec a reading takes the receive time.
//!
//! Everything is converted to nanoseconds since the Unix epoch; values that
//! do not fit an `i64` of nanoseconds (years before 1677 or after 2262) are
//! errors, never wrapped.

use serde::Deserialize;

use super::json::Json;
use super::jsonpath::JsonPath;

/// How a payload timestamp is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeFormat {
    /// Epoch seconds (integer or fractional).
    S,
    Ms,
    Us,
    Ns,
    /// `2026-11-29T04:00:00.123Z`, `2026-11-29T12:00:00+08:00`.
    Rfc3339,
}

impl TimeFormat {
    fn ns_per_unit(self) -> i64 {
        match self {
            TimeFormat::S => 1_000_000_000,
            TimeFormat::Ms => 1_000_000,
            TimeFormat::Us => 1_000,
            TimeFormat::Ns | TimeFormat::Rfc3339 => 1,
        }
    }
}

/// The `time` table of an MQTT profile: where the timestamp is, in the
/// payload (`time = { path = "ts", format = "ms" }`) or in an MQTT 5 user
/// property of the PUBLISH (`time = { property = "ts", format = "ms" }`).
/// Exactly one of `path` and `property` (checked by the profile).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TimeSpec {
    #[serde(default)]
    pub path: Option<JsonPath>,
    /// The name of a user property (the first of that name wins).
    #[serde(default)]
    pub property: Option<String>,
    pub format: TimeFormat,
}

/// Converts a user property's text (epoch number or RFC 3339) to
/// nanoseconds since the epoch.
pub fn text_to_ns(s: &str, format: TimeFormat) -> Result<i64, String> {
    to_ns(&Json::Str(std::borrow::Cow::Borrowed(s)), format)
}

/// Converts one JSON value to nanoseconds since the epoch.
pub fn to_ns(v: &Json<'_>, format: TimeFormat) -> Result<i64, String> {
    match (format, v) {
        (TimeFormat::Rfc3339, Json::Str(s)) => rfc3339_ns(s),
        (TimeFormat::Rfc3339, other) => Err(format!("expected RFC 3339 text, got {other}")),
        (f, Json::Num(n)) => {
            if let Some(i) = n.as_i64() {
                scale_int(i, f)
            } else if let Some(x) = n.as_f64() {
                scale_float(x, f)
            } else {
                Err(format!("{n} is out of range"))
            }
        }
        (f, Json::Str(s)) => {
            let t = s.trim();
            if let Ok(i) = t.parse::<i64>() {
                scale_int(i, f)
            } else if let Ok(x) = t.parse::<f64>() {
                scale_float(x, f)
            } else {
                Err(format!("expected an epoch number, got {s:?}"))
            }
        }
        (_, other) => Err(format!("expected an epoch number, got {other}")),
    }
}

fn scale_int(i: i64, f: TimeFormat) -> Result<i64, String> {
    i.checked_mul(f.ns_per_unit())
        .ok_or_else(|| format!("{i} {f:?} is out of range"))
}

fn scale_float(x: f64, f: TimeFormat) -> Result<i64, String> {
    if !x.is_finite() {
        return Err(format!("{x} is not a finite number"));
    }
    let unit = f.ns_per_unit() as f64;
    // Whole units and the fraction apart, so seconds keep sub-µs precision.
    let whole = x.trunc();
    let frac = ((x - whole) * unit).round();
    let ns = whole * unit + frac;
    if ns.abs() >= 9.2e18 {
        return Err(format!("{x} {f:?} is out of range"));
    }
    (whole as i64)
        .checked_mul(f.ns_per_unit())
        .and_then(|w| w.checked_add(frac as i64))
        .ok_or_else(|| format!("{x} {f:?} is out of range"))
}

/// Parses RFC 3339 text into nanoseconds since the epoch.
pub fn rfc3339_ns(s: &str) -> Result<i64, String> {
    let t = chrono::DateTime::parse_from_rfc3339(s.trim())
        .map_err(|e| format!("{s:?} is not RFC 3339: {e}"))?;
    t.timestamp_nanos_opt()
        .ok_or_else(|| format!("{s:?} is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `to_ns` of the value `json!` builds (viewed as a [`Json`]).
    fn to_ns(v: &serde_json::Value, f: TimeFormat) -> Result<i64, String> {
        super::to_ns(&Json::from_value(v), f)
    }

    const T: i64 = 1_764_388_800_000_000_000; // 2025-11-29T04:00:00Z

    #[test]
    fn epoch_units_convert_to_nanoseconds() {
        assert_eq!(to_ns(&json!(1_764_388_800), TimeFormat::S), Ok(T));
        assert_eq!(to_ns(&json!(1_764_388_800_000i64), TimeFormat::Ms), Ok(T));
        assert_eq!(
            to_ns(&json!(1_764_388_800_000_000i64), TimeFormat::Us),
            Ok(T)
        );
        assert_eq!(to_ns(&json!(T), TimeFormat::Ns), Ok(T));
    }

    #[test]
    fn fractional_seconds_keep_their_milliseconds() {
        assert_eq!(
            to_ns(&json!(1_764_388_800.25), TimeFormat::S),
            Ok(T + 250_000_000)
        );
        assert_eq!(
            to_ns(&json!("1764388800.5"), TimeFormat::S),
            Ok(T + 500_000_000)
        );
    }

    #[test]
    fn extreme_floats_never_overflow() {
        for x in [9.2e9, -9.2e9, 9.22e18, f64::MAX, f64::MIN_POSITIVE, -0.0] {
            for f in [
                TimeFormat::S,
                TimeFormat::Ms,
                TimeFormat::Us,
                TimeFormat::Ns,
            ] {
                let _ = to_ns(&json!(x), f);
            }
        }
    }

    #[test]
    fn user_property_text_converts_like_payload_text() {
        assert_eq!(text_to_ns("1764388800000", TimeFormat::Ms), Ok(T));
        assert_eq!(
            text_to_ns("2025-11-29T04:00:00Z", TimeFormat::Rfc3339),
            Ok(T)
        );
        assert!(text_to_ns("soon", TimeFormat::Ms).is_err());
    }

    #[test]
    fn numeric_strings_are_accepted() {
        assert_eq!(to_ns(&json!("1764388800000"), TimeFormat::Ms), Ok(T));
    }

    #[test]
    fn rfc3339_with_offsets_and_fractions_is_utc_nanoseconds() {
        assert_eq!(
            to_ns(&json!("2025-11-29T04:00:00Z"), TimeFormat::Rfc3339),
            Ok(T)
        );
        assert_eq!(
            to_ns(&json!("2025-11-29T12:00:00.5+08:00"), TimeFormat::Rfc3339),
            Ok(T + 500_000_000)
        );
    }

    #[test]
    fn out_of_range_and_garbage_are_errors_not_wraps() {
        assert!(to_ns(&json!(i64::MAX), TimeFormat::S).is_err());
        assert!(to_ns(&json!(1e30), TimeFormat::Ms).is_err());
        assert!(to_ns(&json!("yesterday"), TimeFormat::S).is_err());
        assert!(to_ns(&json!(true), TimeFormat::S).is_err());
        assert!(to_ns(&json!(5), TimeFormat::Rfc3339).is_err());
        assert!(to_ns(&json!("2025-13-01T00:00:00Z"), TimeFormat::Rfc3339).is_err());
    }
}
