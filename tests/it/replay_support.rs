//! The simulated day behind `tests/it/replay.rs`: readings of two noise
//! sensors and three water meters of one district, as line protocol, and
//! greengate's configuration for them.

use std::path::{Path, PathBuf};

use crate::common::Influx1;

pub const COMMUNITY: &str = "cn-replay-0001";
const S: i64 = 1_000_000_000;
/// 2026-03-10T00:00:00+08:00: the replayed day, long before any test run.
pub const DAY: i64 = 1_773_072_000 * S;
pub const FROM: &str = "2026-03-10T00:00:00+08:00";
pub const TO: &str = "2026-03-11T00:00:00+08:00";

/// Noise every 10 s, water every 5 min (each meter at its own second),
/// 00:00 to 24:00 local, in time order; then one noise reading at 00:03 the
/// next day, which moves a live daemon's event clock past the day's end.
pub fn day_lines() -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for s in (0..86_400).step_by(10) {
        let hour = s / 3600;
        let night = !(6..22).contains(&hour);
        for (k, dev) in ["noise-01", "noise-02"].iter().enumerate() {
            let k = k as i64;
            let base = if night { 41.0 } else { 54.0 } + 4.0 * k as f64;
            let wobble = ((s * 7919 + k * 104_729) % 97) as f64 / 10.0;
            let laeq = ((base + wobble) * 10.0).round() / 10.0;
            let mut lamax = laeq + (s % 13) as f64 * 0.7;
            // A night-time sudden noise on noise-01, 02:00 to 02:02.
            if k == 0 && (7200..7320).contains(&s) {
                lamax = 78.4;
            }
            let lamax = (lamax * 10.0).round() / 10.0;
            out.push((
                DAY + s * S,
                format!("noise,device={dev} laeq={laeq},lamax={lamax}"),
            ));
        }
    }
    let (mut master, mut sub, mut home) = (1000.0_f64, 200.0_f64, 50.0_f64);
    for i in 0..288i64 {
        let hour = i / 12;
        let use_ = match hour {
            0..=5 => 0.2,
            6..=8 | 18..=21 => 1.6,
            _ => 0.9,
        };
        let sub_inc = 0.0123 * use_ + 0.0007 * ((i * 31) % 7) as f64;
        let home_inc = 0.0041 * use_ + 0.0003 * ((i * 17) % 5) as f64;
        master += sub_inc + home_inc + 0.0019;
        sub += sub_inc;
        home += home_inc;
        for (dev, offset, total) in [
            ("wm-master", 0, master),
            ("wm-sub", 37, sub),
            ("wm-home", 83, home),
        ] {
            out.push((
                DAY + (i * 300 + offset) * S,
                format!("water_meter,device={dev} total_m3={total}"),
            ));
        }
    }
    out.push((
        DAY + (86_400 + 180) * S,
        "noise,device=noise-01 laeq=44.5,lamax=50.1".into(),
    ));
    out.sort_by_key(|(t, _)| *t);
    out.into_iter()
        .map(|(t, l)| (t, format!("{l} {t}")))
        .collect()
}

/// greengate's configuration: MQTT line protocol in, InfluxDB 1.x `sink_db`
/// out, `[store]` on `store_db`, event time; `zone2` is noise-02's zone class.
pub fn write_config(
    path: &Path,
    mqtt_port: u16,
    http_port: u16,
    influx: &Influx1,
    sink_db: &str,
    store_db: &str,
    zone2: &str,
) -> PathBuf {
    let dir = path.parent().unwrap();
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

[devices.noise-01.indicators]
class = "noise"
zone_class = "1"
sample_interval = "10s"

[devices.noise-02.indicators]
class = "noise"
zone_class = "{zone2}"
sample_interval = "10s"

[devices.wm-master.indicators]
class = "water_meter"
role = "master"
district = "A"
connections = 2

[devices.wm-sub.indicators]
class = "water_meter"
role = "sub"
district = "A"

[devices.wm-home.indicators]
class = "water_meter"
role = "household"
district = "A"
persons = 3

[sources.mqtt]
host = "127.0.0.1"
port = {mqtt_port}
client_id = "greengate-replay"

[[sources.mqtt.subscriptions]]
filter = "community/+site/lp"
profile = "line-protocol"

[sinks]
shutdown_grace = "20s"

[sinks.influxdb]
url = "{url}"
api = "v1"
database = "{sink_db}"
linger = "100ms"

[indicators]
watermark = "event_time"

[store]
url = "{url}"
database = "{store_db}"
page = "1h"
chunk_size = 500
"#,
        dir = dir.display(),
        repo = env!("CARGO_MANIFEST_DIR"),
        url = influx.url(),
    );
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

/// Every `gg_*` point of a database as text: measurement, tags and field
/// values as InfluxDB answers them (JSON), time; sorted.
pub fn gg_points(influx: &Influx1, db: &str) -> Vec<String> {
    let v = influx.query(db, "SHOW MEASUREMENTS");
    let names: Vec<String> = v["results"][0]["series"][0]["values"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r[0].as_str().map(str::to_string))
        .filter(|m| m.starts_with("gg_"))
        .collect();
    let mut out = Vec::new();
    for m in names {
        for row in influx.rows(db, &format!("SELECT * FROM \"{m}\" GROUP BY *")) {
            let kv: Vec<String> = row
                .iter()
                .filter(|(_, v)| !v.is_null() && *v != "")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            out.push(format!("{m} {}", kv.join(",")));
        }
    }
    out.sort();
    out
}

/// The lines of a line-protocol file as a store keeps them: the last line
/// of each series and time wins (a water window emitted again after a
/// later reading changed it replaces the first emission).
pub fn stored_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut last = std::collections::BTreeMap::new();
    for line in text.lines() {
        let r = greengate::lineproto::parse_line(line, 0).unwrap();
        let mut key = r.measurement.clone();
        for (k, v) in &r.tags {
            key += &format!(",{k}={v}");
        }
        last.insert((key, r.time_ns), line.to_string());
    }
    last.into_values().collect()
}
