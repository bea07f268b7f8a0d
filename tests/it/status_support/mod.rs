//! Shared parts of the status-page tests (`status_page.rs`): the daemon's
//! config, the messages, and reading `/status.json` and the rendered DOM.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::daemon::Daemon;
use crate::common::free_port;
use crate::http_support::request;

pub const MQTT_PASSWORD: &str = "mqtt-pw-NOT-FOR-PAGES";
pub const INFLUX_TOKEN: &str = "influx-token-NOT-FOR-PAGES";
pub const HTTP_TOKEN: &str = "http-token-NOT-FOR-PAGES";
pub const HTTP_PASSWORD: &str = "viewer-pw-NOT-FOR-PAGES";
pub const HOUR: i64 = 3600;
pub const LOCAL: i64 = 8 * HOUR;

pub use crate::common::repo;

/// `meters`: the port of a serial device server with CJ/T 188 water
/// meter `00000000112233` behind it (bus `dtu-1`, meter `wm-1`).
pub fn write_config(
    dir: &Path,
    mqtt: u16,
    http: &str,
    vm: &str,
    modbus: u16,
    meters: u16,
) -> PathBuf {
    let text = format!(
        r#"
[site]
community_id = "cn-status-0001"

[http]
{http}

[outbox]
dir = "{dir}/outbox"
fsync = "never"

[dead_letter]
path = "{dir}/dead-letter.jsonl"

[profiles]
dirs = ["{repo}/config/devices"]

[devices.nl-01.indicators]
zone_class = "1"
sample_interval = "10m"

[sources.mqtt]
host = "127.0.0.1"
port = {mqtt}
client_id = "greengate-status"
username = "greengate"
password = "{MQTT_PASSWORD}"

[[sources.mqtt.subscriptions]]
filter = "community/+site/noise/+device/up"
profile = "fiware-noise"

[[sources.mqtt.subscriptions]]
filter = "community/+site/security/+device/event"
profile = "access-alarm"

[[sources.modbus.endpoints]]
name = "noise-bus"
transport = "tcp"
address = "127.0.0.1:{modbus}"
timeout = "500ms"
status_interval = "1s"

[[sources.modbus.endpoints.devices]]
id = "mb-noise-1"
unit = 1
profile = "modbus-noise-rs485"
poll_interval = "1s"

[[sources.modbus.endpoints]]
name = "dead-bus"
transport = "tcp"
address = "127.0.0.1:{closed}"
timeout = "200ms"
degraded_after = 1
reconnect_max = "1s"
status_interval = "1s"

[[sources.modbus.endpoints.devices]]
id = "mb-dead"
unit = 1
profile = "modbus-noise-rs485"
poll_interval = "1s"

[[sources.meters.buses]]
name = "dtu-1"
transport = "tcp"
address = "127.0.0.1:{meters}"
timeout = "500ms"
status_interval = "1s"

[[sources.meters.buses.meters]]
id = "wm-1"
address = "00000000112233"
profile = "cjt188-cold-water"
poll_interval = "1s"

[sinks]
shutdown_grace = "5s"

[sinks.influxdb]
url = "{vm}"
api = "v2"
org = "greengate"
bucket = "community"
token = "{INFLUX_TOKEN}"
linger = "50ms"

[indicators]
watermark = "event_time"
max_clock_skew = "7d"
allowed_lateness = "0s"
"#,
        dir = dir.display(),
        repo = repo().display(),
        closed = free_port(),
    );
    let path = dir.join("greengate.toml");
    std::fs::write(&path, text).unwrap();
    path
}

pub use crate::common::rfc3339_local as rfc3339;

pub fn noise(t: i64, laeq: f64) -> String {
    format!(
        r#"{{"id":"urn:ngsi-ld:NoiseLevelObserved:nl-01","type":"NoiseLevelObserved","dateObserved":"{}","LAeq":{laeq:.1},"LAmax":{:.1}}}"#,
        rfc3339(t),
        laeq + 8.0
    )
}

/// `/status.json`, with an `Authorization` value when given.
pub fn status(port: u16, auth: Option<&str>) -> Value {
    let r = request(port, "GET", "/status.json", auth).expect("status.json");
    assert_eq!(r.status, 200, "{}", r.body);
    serde_json::from_str(&r.body).expect("status.json is JSON")
}

pub fn device<'a>(s: &'a Value, id: &str) -> &'a Value {
    (s["devices"].as_array().unwrap().iter())
        .find(|d| d["id"] == id)
        .unwrap_or_else(|| panic!("no device {id} in {s:#}"))
}

/// Polls `/status.json` until `done` holds (the daemon is asynchronous:
/// the broker, the pollers and the indicator clock each take their time).
pub fn wait_status(d: &mut Daemon, auth: Option<&str>, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let s = status(d.http_port, auth);
        if done(&s) {
            return s;
        }
        d.assert_running();
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "status never reached the expected state:\n{s:#}\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The text of the element with `id` in a serialized DOM (no nesting).
pub fn text_of<'a>(dom: &'a str, id: &str) -> &'a str {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in the DOM:\n{dom}"));
    let rest = &dom[at..];
    let start = rest.find('>').unwrap() + 1;
    let end = rest[start..].find('<').unwrap() + start;
    &rest[start..end]
}

/// The serialized `<tr>` whose `data-<attr>` is `value`.
pub fn row<'a>(dom: &'a str, attr: &str, value: &str) -> &'a str {
    let at = dom
        .find(&format!("data-{attr}=\"{value}\""))
        .unwrap_or_else(|| panic!("no row data-{attr}={value} in the DOM:\n{dom}"));
    let end = dom[at..].find("</tr>").unwrap() + at;
    &dom[at..end]
}

/// Polls `/readyz` with credentials until the daemon is ready and subscribed.
pub fn wait_ready_with(d: &mut Daemon, auth: &str) {
    let start = Instant::now();
    loop {
        let ready =
            request(d.http_port, "GET", "/readyz", Some(auth)).is_some_and(|r| r.status == 200);
        let metrics = request(d.http_port, "GET", "/metrics", Some(auth)).map(|r| r.body);
        if ready
            && metrics.is_some_and(|m| m.contains("greengate_component_ready{component=\"mqtt:"))
        {
            return;
        }
        d.assert_running();
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "not ready:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
