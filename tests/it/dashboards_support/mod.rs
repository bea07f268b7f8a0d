//! The simulated community behind `tests/it/dashboards.rs`: greengate's
//! configuration for it, 26 hours of device messages in time order (payloads
//! as in the shipped MQTT profiles), and the greengate binary as a child
//! process.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{free_port, http};

pub const DB: &str = "greengate";
pub const COMMUNITY: &str = "cn-dash-0001";
pub const HOUR: i64 = 3600;
/// The site's UTC offset (+08:00), in seconds.
pub const LOCAL: i64 = 8 * HOUR;

/// The greengate binary, killed on drop.
pub struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    pub fn start(config: &Path, http_port: u16, dir: &Path) -> Daemon {
        let log = dir.join("greengate.log");
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_greengate"))
            .args(["run", "-c"])
            .arg(config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .expect("start greengate");
        let mut d = Daemon { child, log };
        let start = Instant::now();
        loop {
            let metrics = http("GET", http_port, "/metrics", b"").map(|(_, b)| b);
            if metrics.is_some_and(|m| m.contains("greengate_component_ready{component=\"mqtt:")) {
                return d;
            }
            if let Ok(Some(s)) = d.child.try_wait() {
                panic!("greengate exited early ({s}):\n{}", d.log());
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "not ready:\n{}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub use crate::common::repo;

/// When water-03 is replaced by a new meter (configured), water-02 is reset,
/// and water-02 jumps implausibly (a rejected delta), from the start.
const REPLACED_AFTER: i64 = 7 * HOUR;
const RESET_AFTER: i64 = 9 * HOUR;
const JUMP_AFTER: i64 = 12 * HOUR;
/// water-01's register wraps to 0 here (litres).
const ROLLOVER_L: f64 = 100_500.0;

/// greengate's configuration for the simulated community starting at `start`.
pub fn write_config(
    dir: &Path,
    mqtt_port: u16,
    http_port: u16,
    influx: &str,
    modbus_port: u16,
    start: i64,
) -> PathBuf {
    let mut devices = String::new();
    for (i, zone) in ["1", "2", "4a"].iter().enumerate() {
        devices += &format!(
            "[devices.noise-0{n}.indicators]\nclass = \"noise\"\nzone_class = \"{zone}\"\nsample_interval = \"10m\"\n",
            n = i + 1
        );
    }
    devices += &format!(
        "[devices.water-01.indicators]\nclass = \"water_meter\"\nrole = \"master\"\ndistrict = \"A\"\nconnections = 2\nrollover_at_m3 = {}\n",
        ROLLOVER_L / 1000.0
    );
    devices += "[devices.water-02.indicators]\nclass = \"water_meter\"\nrole = \"sub\"\ndistrict = \"A\"\npersons = 3\nmax_flow_m3h = 1.0\n";
    // water-03's old register read 30,175 L when it was replaced (see `simulated`).
    devices += &format!(
        "[devices.water-03.indicators]\nclass = \"water_meter\"\nrole = \"household\"\ndistrict = \"A\"\npersons = 2\nreplacements = [{{ at = \"{}\", old_final_m3 = 30.2, new_start_m3 = 0.0 }}]\n",
        rfc3339(start + REPLACED_AFTER - 300)
    );
    for n in 1..=3 {
        devices += &format!(
            "[devices.light-0{n}.indicators]\nclass = \"lighting\"\nrated_power_w = 80.0\n"
        );
        devices += &format!(
            "[devices.parking-0{n}.indicators]\nclass = \"parking\"\nlot = \"north\"\nfire_lane = {}\n",
            n == 1
        );
        devices += &format!("[devices.sec-0{n}.indicators]\nclass = \"security\"\nsecurity_type = \"access\"\ncategory = \"security\"\n");
    }
    let text = format!(
        r#"
[site]
community_id = "{COMMUNITY}"
utc_offset = "+08:00"

[http]
listen = "127.0.0.1:{http_port}"

[outbox]
dir = "{dir}/outbox"
fsync = "never"

[dead_letter]
path = "{dir}/dead-letter.jsonl"

[profiles]
dirs = ["{repo}/config/devices"]

{devices}

[sources.mqtt]
host = "127.0.0.1"
port = {mqtt_port}
client_id = "greengate-dashboards"

[[sources.mqtt.subscriptions]]
filter = "community/+site/noise/+device/up"
profile = "fiware-noise"

[[sources.mqtt.subscriptions]]
filter = "community/+site/water/+/up"
profile = "smart-water-meter"

[[sources.mqtt.subscriptions]]
filter = "community/+site/lighting/+device/telemetry"
profile = "street-light"

[[sources.mqtt.subscriptions]]
filter = "application/+/device/+/event/up"
profile = "geomagnetic-parking"

[[sources.mqtt.subscriptions]]
filter = "community/+site/security/+device/event"
profile = "access-alarm"

[[sources.modbus.endpoints]]
name = "noise-bus"
transport = "tcp"
address = "127.0.0.1:{modbus_port}"
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
id = "mb-noise-2"
unit = 1
profile = "modbus-noise-rs485"
poll_interval = "1s"

[sinks]
shutdown_grace = "5s"

[sinks.influxdb]
url = "{influx}"
api = "v1"
database = "{DB}"
linger = "100ms"

[indicators]
watermark = "event_time"
max_clock_skew = "7d"
interval = "1h"

[indicators.security]
heartbeat_timeout = "15m"
"#,
        dir = dir.display(),
        repo = repo().display(),
        closed = free_port(),
    );
    let path = dir.join("greengate.toml");
    std::fs::write(&path, text).unwrap();
    path
}

use crate::common::rfc3339_local as rfc3339;

/// Seconds since local midnight.
fn local_tod(t: i64) -> i64 {
    (t + LOCAL).rem_euclid(24 * HOUR)
}

fn between(t: i64, from_h: f64, to_h: f64) -> bool {
    let h = local_tod(t) as f64 / HOUR as f64;
    if from_h <= to_h {
        h >= from_h && h < to_h
    } else {
        h >= from_h || h < to_h
    }
}

/// (time, topic, payload) of the simulated community from `start` for 26 h.
pub fn simulated(start: i64) -> Vec<(i64, String, String)> {
    let mut out = Vec::new();
    let mut totals = [100_000.0f64, 20_000.0, 30_000.0];
    let mut energy = [0.0f64; 3];
    for step in 0..=(26 * 6) {
        let t = start + step * 600;
        let day = between(t, 6.0, 22.0);
        for n in 1..=3 {
            let mut laeq = if day { 50.0 } else { 40.0 } + n as f64 * 2.0 + (step % 5) as f64 * 0.3;
            let mut lamax = laeq + 8.0;
            if n == 1 && local_tod(t) == 23 * HOUR + 1800 {
                laeq += 10.0;
                lamax = 78.0; // a night sudden-noise event
            }
            let p = format!(
                r#"{{"id":"urn:ngsi-ld:NoiseLevelObserved:noise-0{n}","type":"NoiseLevelObserved","dateObserved":"{}","LAeq":{laeq:.1},"LAmax":{lamax:.1},"LA90":{:.1}}}"#,
                rfc3339(t),
                laeq - 6.0
            );
            out.push((t, format!("community/green-garden/noise/noise-0{n}/up"), p));
        }
        // Water is used by day; water-02 (a building's sub-meter) stops at
        // night, the household water-03 never does (a leak); the master sees
        // both plus 15 % network loss.
        let flows = {
            let h2 = if between(t, 0.0, 5.0) { 0.0 } else { 30.0 };
            let h3 = if between(t, 0.0, 5.0) { 6.0 } else { 25.0 };
            [(h2 + h3) * 1.15, h2, h3]
        };
        for (i, f) in flows.iter().enumerate() {
            totals[i] += f / 6.0;
            match (i, t - start) {
                (1, RESET_AFTER) => totals[i] = 0.0,    // reset: quality "reset"
                (1, JUMP_AFTER) => totals[i] += 5000.0, // 30 m³/h: "rejected"
                (2, REPLACED_AFTER) => totals[i] = f / 6.0, // the new meter: "replacement"
                _ => {}
            }
            let register = if i == 0 {
                totals[i] % ROLLOVER_L
            } else {
                totals[i]
            }; // "rollover"
            let p = format!(
                r#"{{"meterId":"water-0{n}","batteryMv":3600,"readings":[{{"ts":{t},"totalL":{:.1},"flowLph":{f:.1},"leak":0}}]}}"#,
                register,
                n = i + 1
            );
            out.push((t, "community/green-garden/water/gw-01/up".into(), p));
        }
        let lit = between(t, 18.0, 6.0);
        for n in 1..=3usize {
            let (power, status) = match (lit, n) {
                (false, _) => (0.0, 0),
                (true, 3) => (6.0, 1), // on but drawing almost nothing: defective lamp
                (true, _) => (62.0, 0),
            };
            energy[n - 1] += power / 6.0;
            let lamp = if lit { "ON" } else { "OFF" };
            let p = format!(
                r#"{{"time":"{}","data":{{"lamp":"{lamp}","power":{power},"voltage":229.8,"current":0.3,"energyWh":{:.1},"dim":80,"status":{status}}}}}"#,
                rfc3339(t),
                energy[n - 1]
            );
            out.push((
                t,
                format!("community/green-garden/lighting/light-0{n}/telemetry"),
                p,
            ));
        }
        for n in 1..=3 {
            let occupied = match n {
                1 => t >= start + 15 * HOUR && t < start + 15 * HOUR + 1800, // a fire lane, 30 min
                2 => between(t, 18.0, 8.0),
                _ => between(t, 12.0, 14.0) || between(t, 19.0, 7.0),
            };
            let when = chrono::DateTime::from_timestamp(t, 0)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let p = format!(
                r#"{{"applicationID":"3","deviceName":"parking-0{n}","rxInfo":[{{"time":"{when}","rssi":-97}}],"object":{{"parkFlag":{},"batteryMv":3587}}}}"#,
                occupied as u8
            );
            out.push((
                t,
                format!("application/3/device/a8404100018{n}/event/up"),
                p,
            ));
        }
        for n in 1..=3 {
            let p = format!(r#"{{"ts":{},"event":"heartbeat","online":true}}"#, t * 1000);
            out.push((
                t,
                format!("community/green-garden/security/sec-0{n}/event"),
                p,
            ));
        }
    }
    // An alarm, acknowledged after 3 s and cleared after 10 min.
    let a = start + 16 * HOUR + 60;
    for (dt, ev) in [(0, "alarm"), (3, "ack"), (600, "clear")] {
        let p = format!(
            r#"{{"ts":{},"event":"{ev}","alarmType":"forcedOpen","alarmId":"A-1","online":true}}"#,
            (a + dt) * 1000
        );
        out.push((
            a + dt,
            "community/green-garden/security/sec-01/event".into(),
            p,
        ));
    }
    out.sort_by_key(|(t, _, _)| *t);
    out
}

/// Publishes in order over one QoS 1 session; returns once all are acknowledged.
pub fn publish(port: u16, messages: &[(i64, String, String)]) {
    let mut opts = rumqttc::MqttOptions::new("dashboards-sim", "127.0.0.1", port);
    opts.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut conn) = rumqttc::Client::new(opts, 64);
    let n = messages.len();
    let acks = std::thread::spawn(move || {
        let mut acked = 0;
        for ev in conn.iter() {
            match ev {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => acked += 1,
                Ok(_) => {}
                Err(e) => panic!("simulator connection: {e}"),
            }
            if acked == n {
                return;
            }
        }
    });
    for (_, topic, payload) in messages {
        client
            .publish(
                topic.as_str(),
                rumqttc::QoS::AtLeastOnce,
                false,
                payload.as_bytes(),
            )
            .expect("publish");
    }
    acks.join().expect("all messages acknowledged");
    let _ = client.disconnect();
}
