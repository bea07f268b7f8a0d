//! MQTT topics and JSON payloads of the simulated devices: what a device of
//! each shipped profile (`config/devices/*.toml`) sends. Pure functions of
//! the model's canonical values and the simulated time.

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::sim::model::{get, Event, Values, V};

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

/// The device's topic, as the subscriptions of the shipped profiles expect:
/// - noise: `community/<c>/noise/<device>/up` (`community/+site/noise/+device/up`)
/// - water: `community/<c>/water/<gateway>/up`, ten meters per gateway
///   `gw-01`.. (`community/+site/water/+/up`; the device is the payload's `meterId`)
/// - lighting: `community/<c>/lighting/<device>/telemetry` (`community/+site/lighting/+device/telemetry`)
/// - parking: `application/1/device/<devEUI>/event/up` (`application/+/device/+/event/up`;
///   the device is the payload's `deviceName`)
/// - security: `community/<c>/security/<device>/event` (`community/+site/security/+device/event`)
pub fn topic(community: &str, class: Class, n: usize, device: &str) -> String {
    match class {
        Class::Noise => format!("community/{community}/noise/{device}/up"),
        Class::Water => format!(
            "community/{community}/water/gw-{:02}/up",
            (n.max(1) - 1) / 10 + 1
        ),
        Class::Lighting => format!("community/{community}/lighting/{device}/telemetry"),
        Class::Parking => format!("application/1/device/{}/event/up", dev_eui(n)),
        Class::Security => format!("community/{community}/security/{device}/event"),
    }
}

/// A LoRaWAN device EUI for bay `n`.
pub fn dev_eui(n: usize) -> String {
    format!("a840410000{:06x}", n & 0xff_ffff)
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

fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}

/// The payload of one reading (water: of a batch of readings, each with
/// its own time; the other classes take the first).
pub fn payload(class: Class, device: &str, n: usize, batch: &[(DateTime<Utc>, Values)]) -> Value {
    let Some((t, v)) = batch.last() else {
        return Value::Null;
    };
    let t = *t;
    match class {
        // FIWARE NoiseLevelObserved (key-values), profile `fiware-noise`.
        Class::Noise => json!({
            "id": format!("urn:ngsi-ld:NoiseLevelObserved:{device}"),
            "type": "NoiseLevelObserved",
            "dateObserved": shanghai(t),
            "LAeq": f(v, "laeq"),
            "LAmax": f(v, "lamax"),
            "LAmin": f(v, "lamin"),
            "LA90": f(v, "la90"),
            "sonometerClass": "1",
        }),
        // A meter gateway's batch, profile `smart-water-meter`: litres, L/h, mV.
        Class::Water => json!({
            "meterId": device,
            "batteryMv": (f(v, "battery_v") * 1000.0).round() as i64,
            "readings": batch.iter().map(|(t, v)| json!({
                "ts": t.timestamp(),
                "totalL": round(f(v, "total_m3") * 1000.0, 1),
                "flowLph": round(f(v, "flow_m3h") * 1000.0, 1),
                "leak": i64::from(b(v, "leak")),
            })).collect::<Vec<_>>(),
        }),
        // A street-light controller, profile `street-light`: W, V, A, Wh, %.
        Class::Lighting => json!({
            "time": shanghai(t),
            "data": {
                "lamp": if b(v, "on") { "ON" } else { "OFF" },
                "power": f(v, "power_w"),
                "voltage": f(v, "voltage_v"),
                "current": f(v, "current_a"),
                "energyWh": (f(v, "energy_kwh") * 1000.0).round() as i64,
                "dim": f(v, "dimming_pct") as i64,
                "status": f(v, "status_code") as i64,
            },
        }),
        // A ChirpStack v3 uplink of a geomagnetic bay sensor, profile
        // `geomagnetic-parking`; `fireLane` is informational (the registry
        // tags fire-lane bays).
        Class::Parking => json!({
            "applicationID": "1",
            "applicationName": "parking",
            "deviceName": device,
            "devEUI": dev_eui(n),
            "rxInfo": [{
                "gatewayID": "b827ebfffe6ad5e4",
                "time": t.to_rfc3339_opts(SecondsFormat::Millis, true),
                "rssi": f(v, "rssi") as i64,
                "loRaSNR": 7.5,
            }],
            "fCnt": f(v, "fcnt") as i64,
            "fPort": 2,
            "object": {
                "parkFlag": i64::from(b(v, "occupied")),
                "batteryMv": (f(v, "battery_v") * 1000.0).round() as i64,
                "fireLane": b(v, "fire_lane"),
            },
        }),
        Class::Security => security(t, "heartbeat", None),
    }
}

/// An access-control/alarm controller's message, profile `access-alarm`;
/// a `heartbeat` carries no alarm fields.
pub fn security(t: DateTime<Utc>, event: &str, alarm: Option<&Event>) -> Value {
    let mut p = json!({
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
        let p = payload(Class::Noise, "noise-01", 1, &[(t, v)]);
        assert_eq!(p["LAeq"], 55.5);
        assert_eq!(p["dateObserved"], "2025-11-29T15:06:40.000+08:00");
        assert_eq!(
            topic("c1", Class::Noise, 1, "noise-01"),
            "community/c1/noise/noise-01/up"
        );
    }

    #[test]
    fn water_batch_is_in_litres_with_one_record_per_step() {
        let t = DateTime::from_timestamp(1_764_400_000, 0).unwrap();
        let v = vec![
            ("total_m3", V::F(123.4567)),
            ("flow_m3h", V::F(0.0125)),
            ("leak", V::B(true)),
            ("battery_v", V::F(3.61)),
        ];
        let p = payload(Class::Water, "water-01", 1, &[(t, v.clone()), (t, v)]);
        assert_eq!(p["readings"][1]["totalL"], 123456.7);
        assert_eq!(p["readings"][0]["leak"], 1);
        assert_eq!(p["batteryMv"], 3610);
        assert_eq!(
            topic("c1", Class::Water, 11, "water-11"),
            "community/c1/water/gw-02/up"
        );
    }

    #[test]
    fn parking_uplink_carries_bay_state_and_millivolts() {
        let t = DateTime::from_timestamp(1_764_400_000, 0).unwrap();
        let v = vec![
            ("occupied", V::B(true)),
            ("battery_v", V::F(3.587)),
            ("rssi", V::I(-97)),
        ];
        let p = payload(Class::Parking, "parking-12", 12, &[(t, v)]);
        assert_eq!(p["object"]["parkFlag"], 1);
        assert_eq!(p["object"]["batteryMv"], 3587);
        assert_eq!(p["rxInfo"][0]["rssi"], -97);
        assert_eq!(
            topic("c1", Class::Parking, 12, "parking-12"),
            "application/1/device/a84041000000000c/event/up"
        );
    }
}
