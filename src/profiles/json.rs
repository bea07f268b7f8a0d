//! A JSON value that borrows its strings from the payload text.
//!
//! Why: decoding into [`serde_json::Value`] allocates one `String` per key
//! and per string value and one `BTreeMap` node set per object; on the
//! issue-15 workload (JSON noise messages of ~100 bytes) parsing and dropping
//! those Values was ~8 % of the daemon's CPU. [`Json`] parses with the same
//! parser (`serde_json::from_str`, so the same grammar, error texts and
//! recursion limit of 128) but keeps strings without escapes as slices of the
//! input and objects as small vectors.
//!
//! Invariants (what the decoder relies on, identical to `Value`):
//! - an object's entries are sorted by key (byte order, as a `BTreeMap`) and
//!   its keys are unique: of duplicate keys the LAST one wins;
//! - [`fmt::Display`] prints exactly the text `Value`'s `Display` prints for
//!   the same value (escaping, number text, key order);
//! - numbers are `serde_json::Number`s built as `Value` builds them
//!   (`u64`, `i64`, finite `f64`).

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Number, Value};
use std::borrow::Cow;
use std::fmt;

/// A parsed JSON value borrowing from the text it was parsed from.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    Num(Number),
    /// Borrowed unless the text had escapes.
    Str(Cow<'a, str>),
    Arr(Vec<Json<'a>>),
    /// Sorted by key, keys unique (see the module doc).
    Obj(Vec<(Cow<'a, str>, Json<'a>)>),
}

/// Initial capacity of arrays and objects: a typical sensor message fits.
const SMALL: usize = 8;

impl<'a> Json<'a> {
    /// Parses JSON text; the error is serde_json's (same text as for `Value`).
    pub fn parse(text: &'a str) -> Result<Json<'a>, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// A view of a `serde_json::Value` (strings borrowed from it).
    pub fn from_value(v: &'a Value) -> Json<'a> {
        match v {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => Json::Num(n.clone()),
            Value::String(s) => Json::Str(Cow::Borrowed(s)),
            Value::Array(a) => Json::Arr(a.iter().map(Json::from_value).collect()),
            // A Map iterates in key order with unique keys: the invariant holds.
            Value::Object(m) => Json::Obj(
                m.iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), Json::from_value(v)))
                    .collect(),
            ),
        }
    }

    /// The value of `key` if this is an object that has it.
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Obj(m) => m
                .binary_search_by(|(k, _)| k.as_ref().cmp(key))
                .ok()
                .map(|i| &m[i].1),
            _ => None,
        }
    }

    /// As `Value::as_i64`: an integer number that fits an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Json::Num(n) => n.as_i64(),
            _ => None,
        }
    }

    /// As `Value::as_f64`: any number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Num(n) => n.as_f64(),
            _ => None,
        }
    }

    /// The kind's name as error messages use it ("a number", "text", ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a bool",
            Json::Num(_) => "a number",
            Json::Str(_) => "text",
            Json::Arr(_) => "an array",
            Json::Obj(_) => "an object",
        }
    }
}

/// Sorts an object's entries by key and keeps the last of equal keys, which
/// is what inserting them one by one into a `BTreeMap` gives.
fn normalise(entries: &mut Vec<(Cow<'_, str>, Json<'_>)>) {
    if entries.windows(2).all(|w| w[0].0 < w[1].0) {
        return; // already sorted and unique: the common case is one pass
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0)); // stable: equal keys keep their order
    entries.dedup_by(|later, kept| {
        if later.0 == kept.0 {
            std::mem::swap(later, kept); // the later one stays, the earlier goes
            true
        } else {
            false
        }
    });
}

/// A string borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Json<'de>, E> {
        Ok(Json::Num(Number::from(i)))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Json<'de>, E> {
        Ok(Json::Num(Number::from(u)))
    }
    fn visit_f64<E>(self, x: f64) -> Result<Json<'de>, E> {
        // As Value: a non-finite float (never from JSON text) is null.
        Ok(Number::from_f64(x).map_or(Json::Null, Json::Num))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Owned(s.to_owned())))
    }
    fn visit_string<E>(self, s: String) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Owned(s)))
    }
    fn visit_none<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }
    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Json<'de>, D::Error> {
        Json::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(SMALL).min(SMALL));
        while let Some(e) = seq.next_element()? {
            v.push(e);
        }
        Ok(Json::Arr(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut m = Vec::with_capacity(map.size_hint().unwrap_or(SMALL).min(SMALL));
        while let Some((Key(k), v)) = map.next_entry::<Key<'de>, Json<'de>>()? {
            m.push((k, v));
        }
        normalise(&mut m);
        Ok(Json::Obj(m))
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::Num(n) => n.serialize(s),
            Json::Str(t) => s.serialize_str(t),
            Json::Arr(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for e in a {
                    seq.serialize_element(e)?;
                }
                seq.end()
            }
            Json::Obj(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    map.serialize_entry(k.as_ref(), v)?;
                }
                map.end()
            }
        }
    }
}

/// The text `serde_json::Value`'s `Display` prints (`{:#}`: pretty), by
/// the same serializer. Only error messages print values, so the temporary
/// `String` costs nothing on the good path.
impl fmt::Display for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = if f.alternate() {
            serde_json::to_string_pretty(self)
        } else {
            serde_json::to_string(self)
        };
        f.write_str(&text.map_err(|_| fmt::Error)?)
    }
}

#[cfg(test)]
#[path = "json_tests.rs"]
mod tests;
