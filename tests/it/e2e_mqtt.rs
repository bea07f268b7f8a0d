//! End to end on real processes: a real MQTT client publishes through a real
//! Mosquitto into the greengate binary, which writes to a real
//! VictoriaMetrics (v2 API) or InfluxDB 1.x (v1 API); the tests assert the
//! exact points (measurement, tags, fields, timestamps) in the store.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::daemon::Daemon;
use common::{free_port, http, Influx1, Mosquitto, Victoria};

use common::repo;

fn write_config(dir: &Path, mqtt_port: u16, http_port: u16, sink: &str) -> PathBuf {
    let text = format!(
        r#"
[site]
community_id = "cn-e2e-0001"
tags = {{ district = "test" }}

[http]
listen = "127.0.0.1:{http_port}"

[outbox]
dir = "{dir}/outbox"
fsync = "always"

[dead_letter]
path = "{dir}/dead-letter.jsonl"

[profiles]
dirs = ["{repo}/config/devices"]

[devices.nl-0007]
tags = {{ building = "3", zone = "north" }}

[sources.mqtt]
host = "127.0.0.1"
port = {mqtt_port}
client_id = "greengate-e2e"

[[sources.mqtt.subscriptions]]
filter = "community/+site/noise/+device/up"
profile = "fiware-noise"

[[sources.mqtt.subscriptions]]
filter = "community/+site/security/+device/event"
profile = "access-alarm"

[[sources.mqtt.subscriptions]]
filter = "community/+site/lighting/+device/telemetry"
profile = "street-light"

[sinks]
shutdown_grace = "5s"

[sinks.influxdb]
linger = "50ms"
{sink}
"#,
        dir = dir.display(),
        repo = repo().display(),
    );
    let path = dir.join("greengate.toml");
    std::fs::write(&path, text).unwrap();
    path
}

const NOISE: &str = r#"{"id":"urn:ngsi-ld:NoiseLevelObserved:nl-0007","type":"NoiseLevelObserved","dateObserved":"2025-11-29T12:00:00.123+08:00","LAeq":58.3,"LAmax":71.2}"#;
const ALARM: &str = r#"{"ts": 1764388800123, "event": "alarm", "alarmType": "forced open", "alarmId": "A-1,\"x\"", "online": true}"#;
const LIGHT: &str = r#"{"time":"2025-11-29T20:00:00.250+08:00","data":{"lamp":"ON","power":68.5,"voltage":229.8,"current":0.31,"energyWh":1532250,"dim":80,"status":1}}"#;

fn publish_all(m: &Mosquitto) {
    m.publish("community/green-garden/noise/nl-0007/up", NOISE, 1);
    m.publish("community/green-garden/noise/nl-0008/up", "{not json", 1);
    m.publish("community/green-garden/security/door-3-1/event", ALARM, 1);
    m.publish(
        "community/green-garden/lighting/sl-n-017/telemetry",
        LIGHT,
        1,
    );
    m.publish(
        "community/green-garden/noise/nl-0009/up",
        r#"{"dateObserved":"2025-11-29T12:00:00+08:00","LAmax":70}"#,
        1,
    );
}

#[test]
fn mqtt_readings_arrive_in_victoria_metrics_with_exact_points() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start();
    let vm = Victoria::start();
    let http_port = free_port();
    let sink = format!("url = \"{}\"\napi = \"v2\"\norg = \"greengate\"\nbucket = \"community\"\ntoken = \"secret-token\"", vm.url());
    let cfg = write_config(dir.path(), broker.port(), http_port, &sink);
    let mut d = Daemon::start(&cfg, http_port, dir.path());
    publish_all(&broker);

    let e = vm.wait_for_samples("noise_laeq", 1, Duration::from_secs(20));
    assert_eq!(e.len(), 1, "{e:?}\n{}", d.log());
    let m = &e[0]["metric"];
    assert_eq!(m["__name__"], "noise_laeq");
    assert_eq!(m["community"], "cn-e2e-0001");
    assert_eq!(m["device"], "nl-0007");
    assert_eq!(m["site"], "green-garden");
    assert_eq!(m["building"], "3", "registry tags are added");
    assert_eq!(m["zone"], "north");
    assert_eq!(m["district"], "test", "site tags are added");
    assert_eq!(e[0]["values"][0], 58.3);
    // 2025-11-29T12:00:00.123+08:00 = 1764388800.123 s (VictoriaMetrics keeps ms).
    assert_eq!(e[0]["timestamps"][0], 1_764_388_800_123i64);

    let lamax = vm.wait_for_samples("noise_lamax", 1, Duration::from_secs(10));
    assert_eq!(lamax[0]["values"][0], 71.2);

    let power = vm.wait_for_samples("lighting_power_w", 1, Duration::from_secs(10));
    assert_eq!(power[0]["metric"]["device"], "sl-n-017");
    assert_eq!(power[0]["values"][0], 68.5);
    assert_eq!(power[0]["timestamps"][0], 1_764_417_600_250i64);
    let energy = vm.wait_for_samples("lighting_energy_kwh", 1, Duration::from_secs(10));
    assert_eq!(energy[0]["values"][0], 1532.25, "Wh normalised to kWh");
    let on = vm.wait_for_samples("lighting_on", 1, Duration::from_secs(10));
    assert_eq!(on[0]["values"][0], 1.0);

    // The malformed message and the one missing a field are dead-lettered with
    // their topic and reason; the good messages around them arrived.
    let dead = std::fs::read_to_string(dir.path().join("dead-letter.jsonl")).unwrap_or_default();
    let dead: Vec<serde_json::Value> = dead
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert_eq!(dead[0]["origin"], "community/green-garden/noise/nl-0008/up");
    assert_eq!(dead[0]["payload"], "{not json");
    assert_eq!(dead[1]["origin"], "community/green-garden/noise/nl-0009/up");
    assert!(
        dead[1]["reason"].as_str().unwrap().contains("laeq"),
        "{dead:?}"
    );
    let metrics = d.metrics();
    assert!(
        metrics.contains("greengate_mqtt_messages_rejected_total"),
        "{metrics}"
    );

    // The assessment endpoint answers with every criterion of the annex.
    let (status, body) = http(
        "GET",
        d.http_port,
        "/assess?from=2025-11-01T00:00:00%2B08:00",
        b"",
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let a: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(a["community"], "cn-e2e-0001");
    assert_eq!(
        a["criteria"].as_array().map(|c| c.len()),
        Some(16),
        "{body}"
    );
    let (status, _) = http("GET", d.http_port, "/assess?from=yesterday", b"").unwrap();
    assert_eq!(status, 400);

    assert_eq!(d.stop(), 0, "{}", d.log());
}

#[test]
fn mqtt_readings_arrive_in_influxdb_1x_with_exact_points_and_strings() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start();
    let db = Influx1::start();
    db.create_db("community");
    let http_port = free_port();
    let sink = format!(
        "url = \"{}\"\napi = \"v1\"\ndatabase = \"community\"",
        db.url()
    );
    let cfg = write_config(dir.path(), broker.port(), http_port, &sink);
    let mut d = Daemon::start(&cfg, http_port, dir.path());
    publish_all(&broker);

    let rows = db.wait_for_rows(
        "community",
        "SELECT * FROM security",
        1,
        Duration::from_secs(20),
    );
    assert_eq!(rows.len(), 1, "{rows:?}\n{}", d.log());
    let r = &rows[0];
    assert_eq!(r["time"], 1_764_388_800_123_000_000i64);
    assert_eq!(r["event"], "alarm");
    assert_eq!(r["alarm_type"], "forced open");
    assert_eq!(r["alarm_id"], "A-1,\"x\"");
    assert_eq!(r["online"], true);
    assert_eq!(r["device"], "door-3-1");
    assert_eq!(r["community"], "cn-e2e-0001");

    let rows = db.wait_for_rows(
        "community",
        "SELECT * FROM lighting",
        1,
        Duration::from_secs(10),
    );
    assert_eq!(rows[0]["status"], "defectiveLamp");
    assert_eq!(rows[0]["status_code"], 1);
    assert_eq!(rows[0]["time"], 1_764_417_600_250_000_000i64);

    let rows = db.wait_for_rows(
        "community",
        "SELECT laeq, lamax FROM noise",
        1,
        Duration::from_secs(10),
    );
    assert_eq!(rows[0]["laeq"], 58.3);
    assert_eq!(rows[0]["time"], 1_764_388_800_123_000_000i64);

    assert_eq!(d.stop(), 0, "{}", d.log());
}

#[test]
fn readings_published_while_greengate_is_down_arrive_after_restart() {
    // The persistent session keeps QoS 1 messages for greengate while it is
    // stopped; the outbox keeps what was received but not yet written.
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start();
    let vm = Victoria::start();
    let http_port = free_port();
    let sink = format!(
        "url = \"{}\"\norg = \"o\"\nbucket = \"b\"\ntoken = \"t\"",
        vm.url()
    );
    let cfg = write_config(dir.path(), broker.port(), http_port, &sink);
    let mut d = Daemon::start(&cfg, http_port, dir.path());
    assert_eq!(d.stop(), 0, "{}", d.log());
    for i in 0..20 {
        let payload = NOISE.replace("12:00:00.123", &format!("12:00:{i:02}.000"));
        broker.publish("community/green-garden/noise/nl-0007/up", &payload, 1);
    }
    let d2 = Daemon::start_run(&cfg, http_port, dir.path(), 1);
    let e = vm.wait_for_samples("noise_laeq", 20, Duration::from_secs(20));
    let n: usize = e
        .iter()
        .map(|s| s["values"].as_array().map(|a| a.len()).unwrap_or(0))
        .sum();
    assert_eq!(n, 20, "{}", d2.log());
}
