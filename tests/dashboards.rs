//! Every Grafana panel returns data: simulated community data goes through
//! the real greengate binary (MQTT in through a real Mosquitto, indicators
//! with an event-time watermark, v1 sink) into a real InfluxDB 1.x; then every
//! query of every dashboard in `deploy/grafana/dashboards/` runs with
//! Grafana's macros substituted, and must return at least one series with a
//! non-null value. Failures are listed by dashboard and panel title.
//!
//! The data: 26 simulated hours (05:00 tomorrow to 07:00 the day after, at
//! +08:00), a reading per device every 10 minutes, in time order, so the
//! hourly windows, a noise day (06:00–06:00), a water day and a night-flow
//! window all close. One Modbus device behind a closed port gives the
//! `device_status` readings (offline) at wall-clock time.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{free_port, http, Influx1, Mosquitto};
use serde_json::Value;

const DB: &str = "greengate";
const COMMUNITY: &str = "cn-dash-0001";
const HOUR: i64 = 3600;
const LOCAL: i64 = 8 * HOUR;

/// The greengate binary, killed on drop.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(config: &Path, http_port: u16, dir: &Path) -> Daemon {
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

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn write_config(dir: &Path, mqtt_port: u16, http_port: u16, influx: &str) -> PathBuf {
    let mut devices = String::new();
    for (i, zone) in ["1", "2", "4a"].iter().enumerate() {
        devices += &format!(
            "[devices.noise-0{n}.indicators]\nclass = \"noise\"\nzone_class = \"{zone}\"\nsample_interval = \"10m\"\n",
            n = i + 1
        );
    }
    devices += "[devices.water-01.indicators]\nclass = \"water_meter\"\nrole = \"master\"\ndistrict = \"A\"\nconnections = 2\n";
    for (n, persons) in [(2, 3), (3, 2)] {
        devices += &format!("[devices.water-0{n}.indicators]\nclass = \"water_meter\"\nrole = \"household\"\ndistrict = \"A\"\npersons = {persons}\n");
    }
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
address = "127.0.0.1:{closed}"
timeout = "200ms"
degraded_after = 1
reconnect_max = "1s"
status_interval = "1s"

[[sources.modbus.endpoints.devices]]
id = "mb-noise-1"
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

/// Local (+08:00) RFC 3339 of a UTC epoch second.
fn rfc3339(t: i64) -> String {
    let off = chrono::FixedOffset::east_opt(LOCAL as i32).unwrap();
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .with_timezone(&off)
        .to_rfc3339()
}

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
fn simulated(start: i64) -> Vec<(i64, String, String)> {
    let mut out = Vec::new();
    let mut totals = [100_000.0f64, 20_000.0, 30_000.0];
    let mut energy = [0.0f64; 3];
    let reset_at = start + 7 * HOUR;
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
        // Households use water by day; water-02 stops at night, water-03 never
        // does (a leak); the master sees both plus 15 % network loss.
        let flows = {
            let h2 = if between(t, 0.0, 5.0) { 0.0 } else { 30.0 };
            let h3 = if between(t, 0.0, 5.0) { 6.0 } else { 25.0 };
            [(h2 + h3) * 1.15, h2, h3]
        };
        for (i, f) in flows.iter().enumerate() {
            totals[i] += f / 6.0;
            if i == 2 && t == reset_at {
                totals[i] = 0.0; // the meter was reset: quality "reset"
            }
            let p = format!(
                r#"{{"meterId":"water-0{n}","batteryMv":3600,"readings":[{{"ts":{t},"totalL":{:.1},"flowLph":{f:.1},"leak":0}}]}}"#,
                totals[i],
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
fn publish(port: u16, messages: &[(i64, String, String)]) {
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

/// One panel query, with where it comes from.
struct PanelQuery {
    dashboard: String,
    panel: String,
    query: String,
}

/// Every raw query of every panel (rows' nested panels included) and the
/// template-variable queries, from the provisioned dashboard files.
fn dashboard_queries() -> (Vec<PanelQuery>, Vec<PanelQuery>) {
    let dir = repo().join("deploy/grafana/dashboards");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no dashboards in {}", dir.display());
    let (mut panels, mut vars) = (Vec::new(), Vec::new());
    for f in files {
        let d: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let title = d["title"].as_str().unwrap_or("?").to_string();
        for v in d["templating"]["list"].as_array().into_iter().flatten() {
            if let Some(q) = v["query"].as_str() {
                let name = format!("variable ${}", v["name"].as_str().unwrap_or("?"));
                vars.push(PanelQuery {
                    dashboard: title.clone(),
                    panel: name,
                    query: q.into(),
                });
            }
        }
        let mut stack: Vec<Value> = d["panels"].as_array().cloned().unwrap_or_default();
        while let Some(p) = stack.pop() {
            stack.extend(p["panels"].as_array().cloned().unwrap_or_default());
            let targets = p["targets"].as_array().cloned().unwrap_or_default();
            if p["type"] != "row" && p["type"] != "text" {
                assert!(
                    !targets.is_empty(),
                    "{title} / {}: a panel without queries",
                    p["title"]
                );
            }
            for t in targets {
                assert_eq!(
                    t["rawQuery"], true,
                    "{title} / {}: not a raw InfluxQL query",
                    p["title"]
                );
                let q = t["query"].as_str().unwrap_or_default().to_string();
                let panel = format!(
                    "{} [{}]",
                    p["title"].as_str().unwrap_or("?"),
                    t["refId"].as_str().unwrap_or("?")
                );
                panels.push(PanelQuery {
                    dashboard: title.clone(),
                    panel,
                    query: q,
                });
            }
        }
    }
    (panels, vars)
}

/// Grafana's macros and the `$community` variable, as Grafana substitutes them.
fn substitute(q: &str, from_ms: i64, to_ms: i64, interval: &str, community: &str) -> String {
    let interval_ms = humantime::parse_duration(interval)
        .unwrap()
        .as_millis()
        .to_string();
    let filter = format!("time >= {from_ms}ms and time <= {to_ms}ms");
    let mut s = q.to_string();
    for (k, v) in [
        ("$__timeFilter", filter.as_str()),
        ("$timeFilter", filter.as_str()),
        ("$__interval_ms", interval_ms.as_str()),
        ("$__interval", interval),
        ("$interval", interval),
        ("$__from", &from_ms.to_string()),
        ("$__to", &to_ms.to_string()),
        ("${community}", community),
        ("[[community]]", community),
        ("$community", community),
    ] {
        s = s.replace(k, v);
    }
    s
}

/// Why a query result does not count as data, or None when it does.
fn no_data(result: &Value) -> Option<String> {
    let r = &result["results"][0];
    if let Some(e) = r["error"].as_str().or(result["error"].as_str()) {
        return Some(format!("error: {e}"));
    }
    let Some(series) = r["series"].as_array() else {
        return Some("no series".into());
    };
    let has_value = series.iter().any(|s| {
        s["values"].as_array().into_iter().flatten().any(|row| {
            let row = row.as_array().cloned().unwrap_or_default();
            // The first column is time, except for SHOW queries.
            let skip = usize::from(s["columns"][0] == "time");
            row.iter().skip(skip).any(|v| !v.is_null())
        })
    });
    (!has_value).then(|| "no non-null value".to_string())
}

fn failures(db: &Influx1, qs: &[PanelQuery], sub: impl Fn(&str) -> String) -> Vec<String> {
    qs.iter()
        .filter_map(|p| {
            let q = sub(&p.query);
            let macro_left = q.match_indices('$').any(|(i, _)| {
                q[i + 1..].starts_with(|c: char| c.is_alphabetic() || c == '_' || c == '{')
            });
            if macro_left || q.contains("[[") {
                return Some(format!(
                    "{} / {}: unsubstituted macro in {q}",
                    p.dashboard, p.panel
                ));
            }
            no_data(&db.query(DB, &q))
                .map(|w| format!("{} / {}: {w}\n    {q}", p.dashboard, p.panel))
        })
        .collect()
}

/// What is in the database: per measurement, the points and the last time.
fn stored(db: &Influx1) -> String {
    let ms = db.rows(DB, "SHOW MEASUREMENTS");
    ms.iter()
        .filter_map(|m| m["name"].as_str())
        .map(|m| {
            let q = format!("SELECT count(*) FROM \"{m}\"");
            let last = format!("SELECT * FROM \"{m}\" ORDER BY time DESC LIMIT 1");
            format!("  {m}: {:?} last {:?}", db.rows(DB, &q), db.rows(DB, &last))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_dashboard_panel_returns_data_from_greengate_in_influxdb_1x() {
    let (panels, vars) = dashboard_queries();
    let dir = tempfile::tempdir().unwrap();
    // The simulator publishes faster than greengate takes; Mosquitto's default
    // queue (1000 messages per session) would drop the rest.
    let broker = Mosquitto::start_with("max_queued_messages 100000");
    let db = Influx1::start();
    db.create_db(DB);
    let http_port = free_port();
    let cfg = write_config(dir.path(), broker.port(), http_port, &db.url());
    let d = Daemon::start(&cfg, http_port, dir.path());

    // 05:00 local tomorrow: in the future, so the event-time watermark (never
    // behind the wall clock) closes the simulated windows.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let tomorrow = (now + LOCAL).div_euclid(24 * HOUR) * 24 * HOUR + 24 * HOUR - LOCAL;
    let start = tomorrow + 5 * HOUR;
    publish(broker.port(), &simulated(start));

    let (from_ms, to_ms) = ((now - 600) * 1000, (start + 27 * HOUR) * 1000);
    let started = Instant::now();
    loop {
        // The template variable's first value, as Grafana would preselect it.
        let community = db.rows(DB, &substitute(&vars[0].query, from_ms, to_ms, "10m", ""));
        let community = community
            .first()
            .and_then(|r| r["value"].as_str())
            .unwrap_or("")
            .to_string();
        let sub = |q: &str| substitute(q, from_ms, to_ms, "10m", &community);
        let mut bad = failures(&db, &vars, sub);
        bad.extend(failures(&db, &panels, sub));
        if bad.is_empty() {
            assert_eq!(community, COMMUNITY);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{} of {} panel queries return no data:\n{}\n\nstored:\n{}\n\ngreengate log:\n{}",
            bad.len(),
            panels.len(),
            bad.join("\n"),
            stored(&db),
            d.log()
                .lines()
                .filter(|l| !l.contains("Modbus connect failed"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}
