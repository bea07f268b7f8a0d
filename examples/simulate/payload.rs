//! MQTT topics and JSON payloads of the simulated devices: what a device of
//! each shipped profile (`config/devices/*.toml`) sends. Pure functions of
//! the model's canonical values and the simulated time.

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::model::{get, Event, Values, V};

/// The five MQTT device classes, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Noise,
    Water,
    Lighting,
    Parking,
    Security,
}

pub const CLASSES: [Class; 5] = [
    Class::Noise,
    Class::Water,
    Class::Lighting,
    Class::Parking,
    Class::Security,
];

impl Class {
    /// The topic level and the measurement.
    pub fn name(self) -> &'static str {
        match self {
            Class::Noise => "noise",
            Class::Water => "water_meter",
            Class::Lighting => "lighting",
            Class::Parking => "parking",
            Class::Security => "security",
        }
    }

    /// Device id prefix (`noise-01`, `water-02`, ...).
    pub fn prefix(self) -> &'static str {
        match self {
            Class::Noise => "noise",
            Class::Water => "water",
            Class::Lighting => "light",
            Class::Parking => "parking",
            Class::Security => "sec",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

pub fn device_id(class: Class, n: usize) -> String {
    format!("{}-{:02}", class.prefix(), n)
}

/// `community/<community>/<class>/<device>/up`, matched by the filter
/// `community/+site/<class>/+device/up`.
pub fn topic(community: &str, class: Class, device: &str) -> String {
    format!("community/{community}/{}/{device}/up", class.name())
}

fn shanghai(t: DateTime<Utc>) -> String {
    let tz = FixedOffset::east_opt(8 * 3600)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"));
    t.with_timezone(&tz)
        .to_rfc3339_opts(SecondsFormat::Millis, false)
}

fn f(v: &Values, k: &str) -> f64 {
    get(v, k).map_or(0.0, V::as_f64)
}

fn b(v: &Values, k: &str) -> bool {
    matches!(get(v, k), Some(V::B(true)))
}

/// The payload of one reading.
pub fn payload(class: Class, device: &str, t: DateTime<Utc>, v: &Values) -> Value {
    match class {
        // FIWARE NoiseLevelObserved (NGSI-LD key-values).
        Class::Noise => json!({
            "id": format!("urn:ngsi-ld:NoiseLevelObserved:{device}"),
            "type": "NoiseLevelObserved",
            "dateObserved": shanghai(t),
            "LAeq": f(v, "laeq"),
            "LAmax": f(v, "lamax"),
            "LA90": f(v, "la90"),
        }),
        // An NB-IoT household meter: epoch milliseconds, readings nested.
        Class::Water => json!({
            "meterId": device,
            "ts": t.timestamp_millis(),
            "data": {
                "totalVolume": f(v, "total_m3"),
                "flowRate": f(v, "flow_m3h"),
                "leakAlarm": b(v, "leak"),
                "batteryVoltage": f(v, "battery_v"),
            },
        }),
        // A single-lamp street-light controller: epoch seconds.
        Class::Lighting => json!({
            "id": device,
            "timestamp": t.timestamp(),
            "lampState": if b(v, "on") { "ON" } else { "OFF" },
            "power": f(v, "power_w"),
            "voltage": f(v, "voltage_v"),
            "current": f(v, "current_a"),
            "energy": f(v, "energy_kwh"),
            "dimming": f(v, "dimming_pct"),
            "statusCode": f(v, "status_code") as i64,
        }),
        // A geomagnetic bay sensor behind a LoRaWAN network server.
        Class::Parking => json!({
            "deviceName": device,
            "time": t.to_rfc3339_opts(SecondsFormat::Millis, true),
            "object": {
                "parkingStatus": i64::from(b(v, "occupied")),
                "batteryVoltage": f(v, "battery_v"),
                "fireLane": b(v, "fire_lane"),
            },
            "rssi": f(v, "rssi") as i64,
        }),
        Class::Security => security(device, t, "heartbeat", None),
    }
}

/// An access-control/alarm panel event; `heartbeat` carries no alarm.
pub fn security(device: &str, t: DateTime<Utc>, event: &str, alarm: Option<&Event>) -> Value {
    let mut p = json!({
        "deviceId": device,
        "ts": t.timestamp_millis(),
        "event": event,
        "online": true,
    });
    if let (Some(a), Some(m)) = (alarm, p.as_object_mut()) {
        m.insert("alarmType".into(), Value::from(a.alarm_type.clone()));
        m.insert("alarmId".into(), Value::from(a.alarm_id.clone()));
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_payload_has_fiware_names_and_shanghai_time() {
        let t = DateTime::from_timestamp(1_764_400_000, 0).unwrap();
        let v = vec![
            ("laeq", V::F(55.5)),
            ("lamax", V::F(60.0)),
            ("la90", V::F(50.0)),
        ];
        let p = payload(Class::Noise, "noise-01", t, &v);
        assert_eq!(p["LAeq"], 55.5);
        assert_eq!(p["dateObserved"], "2025-11-29T15:06:40.000+08:00");
        assert_eq!(
            topic("c1", Class::Noise, "noise-01"),
            "community/c1/noise/noise-01/up"
        );
    }
}
