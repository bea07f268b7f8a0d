//! Decoding one MQTT message into readings: a pure function of the profile,
//! the subscription's tags, the topic captures, the payload and the receive
//! time. Every reading it returns has passed [`Reading::validate`].
//!
//! Tag precedence, lowest first: profile tags, subscription tags, topic
//! captures, payload tags (the most specific wins). Every reading must end up
//! with a `device` tag. The one exception is applied after decoding, by the
//! MQTT source ([`super::guard`]): a device the topic names wins over the
//! payload's, and `gg_*` measurements are refused.

use std::collections::BTreeMap;

use super::json::Json;
use super::jsonpath::JsonPath;
use super::mqtt::{FieldSpec, FieldType, Format, MqttProfile};
use super::timestamp;
use super::Profile;
use crate::lineproto;
use crate::model::{FieldValue, Reading, ReadingError, Unit};

/// Why a message was rejected. `Display` names the problem precisely
/// (`field laeq: path "LAeq" not found`); [`DecodeError::reason`] is the
/// low-cardinality label for metrics.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("profile {0:?} has no [mqtt] table")]
    NotMqttProfile(String),
    #[error("payload is not UTF-8")]
    NotUtf8,
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    #[error("records: path \"{0}\" selects no array elements")]
    NoRecords(String),
    #[error("{what}: path \"{path}\" not found")]
    Missing { what: String, path: String },
    #[error("{what}: path \"{path}\" selects {n} values, expected one")]
    Ambiguous {
        what: String,
        path: String,
        n: usize,
    },
    #[error("{what}: {problem}")]
    WrongType { what: String, problem: String },
    #[error("time: {0}")]
    BadTime(String),
    #[error("no device tag: the topic filter or the profile must supply `device`")]
    NoDevice,
    #[error("invalid reading: {0}")]
    Invalid(#[from] ReadingError),
    #[error(transparent)]
    LineProtocol(#[from] lineproto::ParseError),
}

impl DecodeError {
    /// The metric label for this kind of rejection.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::NotMqttProfile(_) => "profile",
            DecodeError::NotUtf8 | DecodeError::InvalidJson(_) => "invalid_json",
            DecodeError::NoRecords(_) | DecodeError::Missing { .. } => "missing_field",
            DecodeError::Ambiguous { .. } | DecodeError::WrongType { .. } => "wrong_type",
            DecodeError::BadTime(_) => "bad_timestamp",
            DecodeError::NoDevice => "no_device",
            DecodeError::Invalid(_) => "invalid_reading",
            DecodeError::LineProtocol(_) => "invalid_line_protocol",
        }
    }
}

/// Decodes one message. `sub_tags` are the subscription's static tags,
/// `captures` the topic filter's captures (borrowed from the filter and the
/// topic, see [`super::topic::TopicFilter::matches`]).
pub fn decode(
    profile: &Profile,
    sub_tags: &BTreeMap<String, String>,
    captures: &[(&str, &str)],
    payload: &[u8],
    received_ns: i64,
) -> Result<Vec<Reading>, DecodeError> {
    decode_with_properties(profile, sub_tags, captures, payload, &[], received_ns)
}

/// [`decode`] of a message with MQTT 5 user properties (`time = { property
/// = .. }` reads one; empty with 3.1.1).
pub fn decode_with_properties(
    profile: &Profile,
    sub_tags: &BTreeMap<String, String>,
    captures: &[(&str, &str)],
    payload: &[u8],
    properties: &[(String, String)],
    received_ns: i64,
) -> Result<Vec<Reading>, DecodeError> {
    let mqtt = profile
        .mqtt
        .as_ref()
        .ok_or_else(|| DecodeError::NotMqttProfile(profile.name.clone()))?;
    let text = std::str::from_utf8(payload).map_err(|_| DecodeError::NotUtf8)?;
    // Static tags, lowest precedence first.
    let mut base = Reading::new(String::new(), received_ns);
    for (k, v) in profile.tags.0.iter().chain(sub_tags) {
        base.set_tag(k.as_str(), v.as_str());
    }
    for (k, v) in captures {
        base.set_tag(*k, *v);
    }
    let readings = match mqtt.format {
        Format::LineProtocol => {
            let mut rs = lineproto::parse_lines(text, received_ns)?;
            if rs.is_empty() {
                return Err(lineproto::ParseError {
                    at: 0,
                    reason: "payload has no lines".into(),
                }
                .into());
            }
            for r in &mut rs {
                // The line's own tags win over enrichment.
                for (k, v) in &base.tags {
                    r.default_tag(k, v);
                }
            }
            rs
        }
        Format::Json => {
            // Borrowed from `text` (issue 15): no String per key or value.
            let root = Json::parse(text).map_err(|e| DecodeError::InvalidJson(e.to_string()))?;
            let measurement = mqtt.measurement.as_deref().unwrap_or(&profile.class);
            base.measurement = measurement.to_string();
            let records: Vec<&Json> = match &mqtt.records {
                None => return finish(vec![record(mqtt, base, &root, &root, properties)?]),
                Some(p) => {
                    let sel = p.select(&root, &root);
                    let mut out = Vec::new();
                    for v in sel {
                        match v {
                            Json::Arr(a) if !p.has_wildcard() => out.extend(a.iter()),
                            other => out.push(other),
                        }
                    }
                    if out.is_empty() {
                        return Err(DecodeError::NoRecords(p.to_string()));
                    }
                    out
                }
            };
            records
                .into_iter()
                .map(|rec| record(mqtt, base.clone(), &root, rec, properties))
                .collect::<Result<Vec<_>, _>>()?
        }
    };
    finish(readings)
}

/// Every reading has a device and passes [`Reading::validate`].
fn finish(readings: Vec<Reading>) -> Result<Vec<Reading>, DecodeError> {
    for r in &readings {
        if r.tag("device").is_none() {
            return Err(DecodeError::NoDevice);
        }
        r.validate()?;
    }
    Ok(readings)
}

/// One record's reading, built on `r` (the static tags and the receive time).
fn record(
    mqtt: &MqttProfile,
    mut r: Reading,
    root: &Json,
    rec: &Json,
    properties: &[(String, String)],
) -> Result<Reading, DecodeError> {
    r.fields.reserve_exact(mqtt.fields.len());
    if let Some(t) = &mqtt.time {
        r.time_ns = match (&t.path, &t.property) {
            (Some(path), _) => {
                let v = one(path, root, rec, || "time".into())?
                    .ok_or_else(|| DecodeError::BadTime(format!("path \"{path}\" not found")))?;
                timestamp::to_ns(v, t.format)
            }
            (None, Some(name)) => {
                let v = properties
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
                    .ok_or_else(|| {
                        DecodeError::BadTime(format!(
                            "user property {name:?} not found (it is carried by MQTT 5 only)"
                        ))
                    })?;
                timestamp::text_to_ns(v, t.format)
                    .map_err(|e| format!("user property {name:?}: {e}"))
            }
            // Refused by the profile's checks.
            (None, None) => Ok(r.time_ns),
        }
        .map_err(DecodeError::BadTime)?;
    }
    for (k, p) in &mqtt.tags {
        let what = || format!("tag {k}");
        if let Some(v) = one(p, root, rec, what)? {
            let s = match v {
                Json::Str(s) => s.to_string(),
                Json::Num(n) => n.to_string(),
                Json::Bool(b) => b.to_string(),
                Json::Null => continue,
                other => {
                    return Err(DecodeError::WrongType {
                        what: what(),
                        problem: format!("expected text or a number, got {}", other.kind()),
                    })
                }
            };
            r.set_tag(k.as_str(), s);
        }
    }
    for (name, spec) in &mqtt.fields {
        if let Some(v) = field(name, spec, root, rec)? {
            r.add_field(name.as_str(), v);
        }
    }
    Ok(r)
}

/// The one value `p` selects; `what` names it in an error (built only then).
fn one<'a, 'j>(
    p: &JsonPath,
    root: &'a Json<'j>,
    rec: &'a Json<'j>,
    what: impl FnOnce() -> String,
) -> Result<Option<&'a Json<'j>>, DecodeError> {
    p.one(root, rec).map_err(|n| DecodeError::Ambiguous {
        what: what(),
        path: p.to_string(),
        n,
    })
}

/// The raw value as map key text: strings as-is, integral numbers without `.0`.
fn key_text(v: &Json) -> Option<String> {
    match v {
        Json::Str(s) => Some(s.to_string()),
        Json::Num(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn field(
    name: &str,
    spec: &FieldSpec,
    root: &Json,
    rec: &Json,
) -> Result<Option<FieldValue>, DecodeError> {
    let what = || format!("field {name}");
    let Some(path) = &spec.path else {
        return Ok(None);
    };
    let raw = match one(path, root, rec, what)? {
        None | Some(Json::Null) if spec.optional => return Ok(None),
        None => {
            return Err(DecodeError::Missing {
                what: what(),
                path: path.to_string(),
            })
        }
        Some(v) => v,
    };
    let wrong = |problem: String| DecodeError::WrongType {
        what: format!("field {name}"),
        problem,
    };
    if !spec.map.is_empty() {
        let key = key_text(raw).unwrap_or_default();
        let mapped = spec
            .map
            .get(&key)
            .ok_or_else(|| wrong(format!("value {raw} is not in the field's map")))?;
        return coerce(&Json::from_value(mapped), spec.kind, 1.0, 0.0, None)
            .map(Some)
            .map_err(wrong);
    }
    coerce(raw, spec.kind, spec.scale, spec.offset, spec.unit)
        .map(Some)
        .map_err(wrong)
}

fn number(v: &Json) -> Result<f64, String> {
    match v {
        Json::Num(n) => n.as_f64().ok_or_else(|| format!("{n} is out of range")),
        Json::Str(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("expected a number, got {s:?}")),
        Json::Bool(b) => Ok(if *b { 1.0 } else { 0.0 }),
        other => Err(format!("expected a number, got {}", other.kind())),
    }
}

/// Rounds a converted value to 15 significant digits, so that 123470.2 L
/// is stored as 123.4702 m³ and not 123.47019999999999 (binary division
/// noise); f64 holds 15.9 significant digits, so nothing real is lost.
fn tidy(y: f64) -> f64 {
    format!("{y:.14e}").parse().unwrap_or(y)
}

fn coerce(
    v: &Json,
    kind_: FieldType,
    scale: f64,
    offset: f64,
    unit: Option<Unit>,
) -> Result<FieldValue, String> {
    let identity = scale == 1.0 && offset == 0.0 && unit.map_or(true, |u| u.canonical() == u);
    let convert = |x: f64| {
        let mut y = unit.unwrap_or(Unit::None).to_canonical(x * scale + offset);
        if !identity {
            y = tidy(y);
        }
        if y.is_finite() {
            Ok(y)
        } else {
            Err(format!("{v} is not a finite number"))
        }
    };
    match kind_ {
        FieldType::Float => convert(number(v)?).map(FieldValue::Float),
        FieldType::Int => {
            // Exact integers pass through untouched when nothing scales them.
            let identity =
                scale == 1.0 && offset == 0.0 && unit.map_or(true, |u| u.canonical() == u);
            if let (true, Some(i)) = (identity, v.as_i64()) {
                return Ok(FieldValue::Int(i));
            }
            let y = convert(number(v)?)?;
            if y.fract().abs() > 1e-9 {
                return Err(format!("expected an integer, got {y}"));
            }
            if y.abs() >= 9.2e18 {
                return Err(format!("{y} is out of the integer range"));
            }
            Ok(FieldValue::Int(y.round() as i64))
        }
        FieldType::Bool => match v {
            Json::Bool(b) => Ok(FieldValue::Bool(*b)),
            Json::Num(n) => match n.as_f64() {
                Some(0.0) => Ok(FieldValue::Bool(false)),
                Some(1.0) => Ok(FieldValue::Bool(true)),
                _ => Err(format!("expected 0 or 1, got {n}")),
            },
            Json::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(FieldValue::Bool(true)),
                "false" | "0" => Ok(FieldValue::Bool(false)),
                _ => Err(format!("expected true/false or 0/1, got {s:?} (add a map)")),
            },
            other => Err(format!("expected a bool, got {}", other.kind())),
        },
        FieldType::String => match v {
            Json::Str(s) => Ok(FieldValue::Str(s.to_string())),
            Json::Num(n) => Ok(FieldValue::Str(n.to_string())),
            Json::Bool(b) => Ok(FieldValue::Str(b.to_string())),
            other => Err(format!("expected text, got {}", other.kind())),
        },
    }
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
