//! The `[mqtt]` table of a device profile: how one model's MQTT payloads
//! become readings.
//!
//! ```toml
//! [mqtt]
//! format = "json"                      # json | line_protocol
//! measurement = "noise"                # default: the profile's class
//! records = "readings"                 # optional: one reading per array element
//! time = { path = "ts", format = "ms" } # s | ms | us | ns | rfc3339; default: receive time
//! # time = { property = "ts", format = "ms" } # or from an MQTT 5 user property
//! tags = { device = "$.id" }           # tags from payload paths
//!
//! [mqtt.fields.laeq]                   # canonical field name
//! path = "LAeq"                        # where it is in the record
//! type = "float"                       # float | int | bool | string
//! unit = "dB(A)"                       # the device's unit, converted to the canonical one
//! scale = 1.0                          # value * scale + offset, before the unit conversion
//! offset = 0.0
//! optional = false                     # a missing/null value skips the field instead of rejecting
//! map = { ON = true, OFF = false }     # raw value (as text) -> value, before the type coercion
//! ```
//!
//! Paths are relative to the record (the element of `records`, or the whole
//! message); `$.` anchors one at the message root.

use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

use super::jsonpath::JsonPath;
use super::timestamp::TimeSpec;
use crate::config::{join, Check, Validate};
use crate::model::Unit;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    #[default]
    Json,
    /// InfluxDB line protocol, passed through with tag enrichment.
    LineProtocol,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    #[default]
    Float,
    Int,
    Bool,
    String,
}

/// One field of a reading.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct FieldSpec {
    pub path: Option<JsonPath>,
    #[serde(rename = "type")]
    pub kind: FieldType,
    #[serde(deserialize_with = "unit_opt")]
    pub unit: Option<Unit>,
    pub scale: f64,
    pub offset: f64,
    pub optional: bool,
    pub map: BTreeMap<String, serde_json::Value>,
}

impl Default for FieldSpec {
    fn default() -> Self {
        FieldSpec {
            path: None,
            kind: FieldType::Float,
            unit: None,
            scale: 1.0,
            offset: 0.0,
            optional: false,
            map: BTreeMap::new(),
        }
    }
}

fn unit_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Unit>, D::Error> {
    let s = String::deserialize(d)?;
    Unit::parse(&s).map(Some).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "unknown unit {s:?} (known: dB(A), m3, L, kWh, Wh, MWh, W, kW, V, mV, A, mA, %, °C, Pa, kPa, m, mm, s, m3/h, L/h)"
        ))
    })
}

/// How one model's payloads are decoded.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct MqttProfile {
    pub format: Format,
    /// Overrides the profile's class as the measurement.
    pub measurement: Option<String>,
    /// Path to an array (or a wildcard path): one reading per element.
    pub records: Option<JsonPath>,
    pub time: Option<TimeSpec>,
    /// Tags taken from the payload (`device = "$.deviceId"`).
    pub tags: BTreeMap<String, JsonPath>,
    pub fields: BTreeMap<String, FieldSpec>,
}

fn bad_key(k: &str) -> bool {
    k.is_empty() || k.contains(['\n', '\r'])
}

impl Validate for MqttProfile {
    fn validate(&self, path: &str, cx: &mut Check) {
        if let Some(m) = &self.measurement {
            if bad_key(m) {
                cx.problem(
                    join(path, "measurement"),
                    "must be non-empty, without newlines",
                );
            }
            if let Some(p) = super::guard::reserved_problem(m) {
                cx.problem(join(path, "measurement"), p);
            }
        }
        if let Some(t) = &self.time {
            match (&t.path, &t.property) {
                (Some(_), Some(_)) => cx.problem(
                    join(path, "time"),
                    "give either path (in the payload) or property (an MQTT 5 user property), not both",
                ),
                (None, None) => cx.problem(
                    join(path, "time"),
                    "needs path (in the payload) or property (an MQTT 5 user property)",
                ),
                (None, Some(p)) if p.is_empty() => {
                    cx.problem(join(&join(path, "time"), "property"), "must not be empty")
                }
                _ => {}
            }
        }
        for k in self.tags.keys() {
            if bad_key(k) {
                cx.problem(join(path, "tags"), format!("invalid tag name {k:?}"));
            }
        }
        match self.format {
            Format::LineProtocol => {
                for key in [
                    (!self.fields.is_empty()).then_some("fields"),
                    self.records.is_some().then_some("records"),
                    self.time.is_some().then_some("time"),
                    (!self.tags.is_empty()).then_some("tags"),
                    self.measurement.is_some().then_some("measurement"),
                ]
                .into_iter()
                .flatten()
                {
                    cx.problem(join(path, key), "not used with format = \"line_protocol\"");
                }
            }
            Format::Json => {
                if self.fields.is_empty() {
                    cx.problem(
                        join(path, "fields"),
                        "a JSON profile needs at least one field",
                    );
                }
            }
        }
        for (name, f) in &self.fields {
            let fp = join(&join(path, "fields"), name);
            if bad_key(name) {
                cx.problem(&fp, "invalid field name");
            }
            if f.path.is_none() {
                cx.problem(
                    join(&fp, "path"),
                    "missing: where the value is in the payload",
                );
            }
            if f.path.as_ref().is_some_and(JsonPath::has_wildcard) {
                cx.problem(
                    join(&fp, "path"),
                    "a field path cannot contain [*] (use records)",
                );
            }
            if !f.scale.is_finite() || f.scale == 0.0 {
                cx.problem(join(&fp, "scale"), "must be a finite, non-zero number");
            }
            if !f.offset.is_finite() {
                cx.problem(join(&fp, "offset"), "must be a finite number");
            }
            let numeric = matches!(f.kind, FieldType::Float | FieldType::Int);
            if !numeric
                && (f.unit.is_some_and(|u| u != Unit::None) || f.scale != 1.0 || f.offset != 0.0)
            {
                cx.problem(
                    &fp,
                    "unit, scale and offset apply only to float and int fields",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: serde_json::Value) -> (Option<MqttProfile>, Vec<String>) {
        let mut cx = Check::new(".");
        let p: Option<MqttProfile> = crate::config::parse_value(v, "p.mqtt", &mut cx);
        if let Some(p) = &p {
            p.validate("p.mqtt", &mut cx);
        }
        (p, cx.problems().iter().map(|p| p.to_string()).collect())
    }

    #[test]
    fn unknown_units_are_reported_at_their_key() {
        let (_, probs) = parse(serde_json::json!({
            "fields": {"laeq": {"path": "LAeq", "unit": "furlongs"}}
        }));
        assert_eq!(probs.len(), 1);
        assert!(
            probs[0].starts_with("p.mqtt.fields.laeq.unit: unknown unit"),
            "{probs:?}"
        );
    }

    #[test]
    fn scale_on_a_bool_field_is_a_problem() {
        let (_, probs) = parse(serde_json::json!({
            "fields": {"on": {"path": "s", "type": "bool", "scale": 2.0}}
        }));
        assert_eq!(
            probs,
            ["p.mqtt.fields.on: unit, scale and offset apply only to float and int fields"]
        );
    }

    #[test]
    fn a_profile_cannot_configure_an_indicator_measurement() {
        let (_, probs) = parse(serde_json::json!({
            "measurement": "gg_noise_day", "fields": {"ld": {"path": "ld"}}
        }));
        assert_eq!(probs.len(), 1, "{probs:?}");
        assert!(
            probs[0].starts_with("p.mqtt.measurement: \"gg_noise_day\" has the prefix \"gg_\""),
            "{probs:?}"
        );
    }

    #[test]
    fn line_protocol_profiles_take_no_field_mappings() {
        let (_, probs) = parse(serde_json::json!({
            "format": "line_protocol", "fields": {"x": {"path": "x"}}
        }));
        assert_eq!(
            probs,
            ["p.mqtt.fields: not used with format = \"line_protocol\""]
        );
    }
}
