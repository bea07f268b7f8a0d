//! The one data model every source produces and every sink consumes.
//!
//! A [`Reading`] is one point: a measurement (the device class such as `noise`
//! or `water_meter`, or an indicator name), a set of tags, typed fields and a
//! UTC timestamp in nanoseconds. Units are normalised at ingestion (see
//! [`Unit`]), so downstream code never converts: a noise level is always
//! dB(A), a volume always m³, energy kWh, power W.
//!
//! Invariants (enforced by [`Reading::validate`], which sources call before a
//! reading enters the pipeline):
//! - the measurement, tag keys and field keys are non-empty and contain no
//!   newline or carriage return; tag values likewise (empty tag values are
//!   dropped, as InfluxDB does);
//! - there is at least one field, and no float field is NaN or infinite;
//! - no name or tag value has a backslash at its end or right before a
//!   backslash, comma, space, equals sign or double quote, and the
//!   measurement does not start with `#` or a tab: line protocol cannot
//!   carry these exactly (InfluxDB rejects the line, changes the name, or
//!   takes it for a comment);
//! - tags are sorted by key with no duplicates (line protocol's canonical
//!   order, which keeps InfluxDB's series index cheap).

use std::fmt;

/// A typed field value.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Float(f64),
    Int(i64),
    UInt(u64),
    Bool(bool),
    Str(String),
}

impl FieldValue {
    /// The value as a float, where that makes sense (bools are 0/1).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            FieldValue::Float(v) => Some(*v),
            FieldValue::Int(v) => Some(*v as f64),
            FieldValue::UInt(v) => Some(*v as f64),
            FieldValue::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            FieldValue::Str(_) => None,
        }
    }
}

/// One point of data, from any source.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub measurement: String,
    /// Sorted by key, unique keys, no empty values.
    pub tags: Vec<(String, String)>,
    pub fields: Vec<(String, FieldValue)>,
    /// Nanoseconds since the Unix epoch, UTC.
    pub time_ns: i64,
}

/// Why a reading cannot enter the pipeline.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReadingError {
    #[error("empty measurement name")]
    EmptyMeasurement,
    #[error("reading has no fields")]
    NoFields,
    #[error("empty {0} key")]
    EmptyKey(&'static str),
    #[error("newline in {0} {1:?}")]
    Newline(&'static str, String),
    #[error("field {0:?} is not a finite number")]
    NotFinite(String),
    #[error("{0} {1:?} cannot be written as line protocol exactly (a backslash at its end or before a backslash, comma, space, equals sign or double quote; or a measurement starting with '#' or a tab)")]
    Unrepresentable(&'static str, String),
}

/// Whether line protocol can carry `s` as a name or tag value. InfluxDB 1.x
/// unescapes differently per element (`\=` and `\"` lose their backslash in
/// a measurement or field key but not in a tag), so a backslash is accepted
/// only before a character no element escapes, never at the end.
fn representable(s: &str) -> bool {
    let b = s.as_bytes();
    !b.iter().enumerate().any(|(i, c)| {
        *c == b'\\'
            && match b.get(i + 1) {
                None => true,
                Some(n) => b"\\,= \"".contains(n),
            }
    })
}

fn has_newline(s: &str) -> bool {
    s.bytes().any(|b| b == b'\n' || b == b'\r')
}

/// Neither a newline nor a backslash: then [`has_newline`] is false and
/// [`representable`] true, checked in one pass (the common case: validation
/// runs on every reading, twice on the MQTT path).
fn plain(s: &str) -> bool {
    !s.bytes().any(|b| matches!(b, b'\n' | b'\r' | b'\\'))
}

impl Reading {
    /// Makes `self` a copy of `src`, reusing `self`'s strings and vectors:
    /// a device's readings have the same shape every time, so keeping the
    /// latest one (the status page) allocates nothing once warm.
    pub fn copy_from(&mut self, src: &Reading) {
        fn pairs<V: Clone>(dst: &mut Vec<(String, V)>, src: &[(String, V)], set: fn(&mut V, &V)) {
            dst.truncate(src.len());
            for (i, (k, v)) in src.iter().enumerate() {
                match dst.get_mut(i) {
                    Some((dk, dv)) => {
                        dk.clone_from(k);
                        set(dv, v);
                    }
                    None => dst.push((k.clone(), v.clone())),
                }
            }
        }
        self.measurement.clone_from(&src.measurement);
        pairs(&mut self.tags, &src.tags, String::clone_from);
        pairs(&mut self.fields, &src.fields, |d, s| match (d, s) {
            (FieldValue::Str(d), FieldValue::Str(s)) => d.clone_from(s),
            (d, s) => *d = s.clone(),
        });
        self.time_ns = src.time_ns;
    }

    pub fn new(measurement: impl Into<String>, time_ns: i64) -> Self {
        Reading {
            measurement: measurement.into(),
            tags: Vec::new(),
            fields: Vec::new(),
            time_ns,
        }
    }

    /// Sets a tag, replacing an existing one with the same key; keeps tags sorted.
    /// Empty values are ignored (InfluxDB has no empty tag values).
    pub fn set_tag(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let (key, value) = (key.into(), value.into());
        if value.is_empty() {
            return;
        }
        match self.tags.binary_search_by(|(k, _)| k.as_str().cmp(&key)) {
            Ok(i) => self.tags[i].1 = value,
            Err(i) => self.tags.insert(i, (key, value)),
        }
    }

    /// Sets a tag only when it is not already present.
    pub fn default_tag(&mut self, key: &str, value: &str) {
        if value.is_empty() {
            return;
        }
        if let Err(i) = self.tags.binary_search_by(|(k, _)| k.as_str().cmp(key)) {
            self.tags.insert(i, (key.to_string(), value.to_string()));
        }
    }

    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| self.tags[i].1.as_str())
    }

    pub fn field(&self, key: &str) -> Option<&FieldValue> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn add_field(&mut self, key: impl Into<String>, value: FieldValue) {
        self.fields.push((key.into(), value));
    }

    /// Checks the invariants in the module doc.
    pub fn validate(&self) -> Result<(), ReadingError> {
        if self.measurement.is_empty() {
            return Err(ReadingError::EmptyMeasurement);
        }
        if has_newline(&self.measurement) {
            return Err(ReadingError::Newline(
                "measurement",
                self.measurement.clone(),
            ));
        }
        // A line starting with '#' is a comment; leading tabs are skipped.
        let first = self.measurement.bytes().next().unwrap_or(b' ');
        if first == b'#'
            || (first != b' ' && first.is_ascii_whitespace())
            || !representable(&self.measurement)
        {
            return Err(ReadingError::Unrepresentable(
                "measurement",
                self.measurement.clone(),
            ));
        }
        if self.fields.is_empty() {
            return Err(ReadingError::NoFields);
        }
        for (k, v) in &self.tags {
            if k.is_empty() {
                return Err(ReadingError::EmptyKey("tag"));
            }
            if plain(k) && plain(v) {
                continue;
            }
            if has_newline(k) || has_newline(v) {
                return Err(ReadingError::Newline("tag", k.clone()));
            }
            if !representable(k) || !representable(v) {
                return Err(ReadingError::Unrepresentable("tag", format!("{k}={v}")));
            }
        }
        for (k, v) in &self.fields {
            if k.is_empty() {
                return Err(ReadingError::EmptyKey("field"));
            }
            let plain_key = plain(k);
            if !plain_key && has_newline(k) {
                return Err(ReadingError::Newline("field key", k.clone()));
            }
            if !plain_key && !representable(k) {
                return Err(ReadingError::Unrepresentable("field key", k.clone()));
            }
            match v {
                FieldValue::Float(f) if !f.is_finite() => {
                    return Err(ReadingError::NotFinite(k.clone()))
                }
                FieldValue::Str(s) if has_newline(s) => {
                    return Err(ReadingError::Newline("string field", k.clone()))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Units a device may report in, and the canonical unit each is stored in.
///
/// Canonical units: dB(A), m³, kWh, W, V, A, %, °C, Pa, m, s, bool, none.
/// `Unit::convert` maps a value in a source unit to its canonical unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    DbA,
    CubicMetre,
    Litre,
    KiloWattHour,
    WattHour,
    MegaWattHour,
    Watt,
    KiloWatt,
    Volt,
    MilliVolt,
    Ampere,
    MilliAmpere,
    Percent,
    Celsius,
    Pascal,
    KiloPascal,
    Metre,
    Millimetre,
    Second,
    CubicMetrePerHour,
    LitrePerHour,
    None,
}

impl Unit {
    /// Parses the unit names accepted in profiles.
    pub fn parse(s: &str) -> Option<Unit> {
        Some(match s {
            "dB(A)" | "dBA" | "dB" | "db" | "dba" => Unit::DbA,
            "m3" | "m³" => Unit::CubicMetre,
            "L" | "l" | "litre" | "liter" => Unit::Litre,
            "kWh" | "kwh" => Unit::KiloWattHour,
            "Wh" | "wh" => Unit::WattHour,
            "MWh" => Unit::MegaWattHour,
            "W" | "w" => Unit::Watt,
            "kW" | "kw" => Unit::KiloWatt,
            "V" | "v" => Unit::Volt,
            "mV" | "mv" => Unit::MilliVolt,
            "A" | "a" => Unit::Ampere,
            "mA" | "ma" => Unit::MilliAmpere,
            "%" | "percent" => Unit::Percent,
            "°C" | "C" | "degC" | "celsius" => Unit::Celsius,
            "Pa" => Unit::Pascal,
            "kPa" => Unit::KiloPascal,
            "m" => Unit::Metre,
            "mm" => Unit::Millimetre,
            "s" => Unit::Second,
            "m3/h" | "m³/h" => Unit::CubicMetrePerHour,
            "L/h" | "l/h" => Unit::LitrePerHour,
            "" | "none" | "bool" | "string" | "count" => Unit::None,
            _ => return None,
        })
    }

    /// The canonical unit values of this unit are stored in.
    pub fn canonical(self) -> Unit {
        match self {
            Unit::Litre => Unit::CubicMetre,
            Unit::WattHour | Unit::MegaWattHour => Unit::KiloWattHour,
            Unit::KiloWatt => Unit::Watt,
            Unit::MilliVolt => Unit::Volt,
            Unit::MilliAmpere => Unit::Ampere,
            Unit::KiloPascal => Unit::Pascal,
            Unit::Millimetre => Unit::Metre,
            Unit::LitrePerHour => Unit::CubicMetrePerHour,
            u => u,
        }
    }

    /// Converts a value in this unit to the canonical unit.
    pub fn to_canonical(self, v: f64) -> f64 {
        match self {
            Unit::Litre => v / 1000.0,
            Unit::WattHour => v / 1000.0,
            Unit::MegaWattHour => v * 1000.0,
            Unit::KiloWatt => v * 1000.0,
            Unit::MilliVolt | Unit::MilliAmpere | Unit::Millimetre => v / 1000.0,
            Unit::KiloPascal => v * 1000.0,
            Unit::LitrePerHour => v / 1000.0,
            _ => v,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Unit::DbA => "dB(A)",
            Unit::CubicMetre => "m³",
            Unit::Litre => "L",
            Unit::KiloWattHour => "kWh",
            Unit::WattHour => "Wh",
            Unit::MegaWattHour => "MWh",
            Unit::Watt => "W",
            Unit::KiloWatt => "kW",
            Unit::Volt => "V",
            Unit::MilliVolt => "mV",
            Unit::Ampere => "A",
            Unit::MilliAmpere => "mA",
            Unit::Percent => "%",
            Unit::Celsius => "°C",
            Unit::Pascal => "Pa",
            Unit::KiloPascal => "kPa",
            Unit::Metre => "m",
            Unit::Millimetre => "mm",
            Unit::Second => "s",
            Unit::CubicMetrePerHour => "m³/h",
            Unit::LitrePerHour => "L/h",
            Unit::None => "",
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// Wall-clock now in nanoseconds since the epoch.
pub fn now_ns() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_from_gives_an_equal_reading_whatever_was_there() {
        let mut a = Reading::new("noise", 1);
        a.set_tag("device", "n1");
        a.set_tag("site", "c1");
        a.add_field("laeq", FieldValue::Float(50.0));
        a.add_field("state", FieldValue::Str("ok".into()));
        let mut b = Reading::new("lighting", 2);
        b.set_tag("device", "lamp-7");
        b.add_field("on", FieldValue::Bool(true));
        b.add_field("note", FieldValue::Str("x".into()));
        b.add_field("power_w", FieldValue::Float(90.0));
        let mut held = a.clone();
        held.copy_from(&b);
        assert_eq!(held, b);
        held.copy_from(&a);
        assert_eq!(held, a);
    }

    #[test]
    fn tags_stay_sorted_and_unique() {
        let mut r = Reading::new("noise", 1);
        r.set_tag("zone", "2");
        r.set_tag("device", "n1");
        r.set_tag("zone", "3");
        r.set_tag("empty", "");
        assert_eq!(
            r.tags,
            vec![("device".into(), "n1".into()), ("zone".into(), "3".into())]
        );
        r.default_tag("device", "other");
        assert_eq!(r.tag("device"), Some("n1"));
    }

    #[test]
    fn nan_fields_are_rejected() {
        let mut r = Reading::new("noise", 1);
        r.add_field("laeq", FieldValue::Float(f64::NAN));
        assert!(matches!(r.validate(), Err(ReadingError::NotFinite(_))));
    }

    #[test]
    fn litres_become_cubic_metres() {
        let u = Unit::parse("L").unwrap();
        assert_eq!(u.canonical(), Unit::CubicMetre);
        assert_eq!(u.to_canonical(1500.0), 1.5);
    }
}
