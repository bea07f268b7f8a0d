//! Config reload on SIGHUP against real processes: a device and a
//! subscription are added without a restart, nothing published around the
//! reload is lost (persistent session), and an invalid config keeps the
//! running one.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::{free_port, Mosquitto, Victoria};

fn hup(d: &Daemon) {
    let ok = Command::new("kill")
        .args(["-HUP", &d.child.id().to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "kill -HUP failed");
}

/// Waits until the daemon's log contains `needle` `n` times.
fn wait_log(d: &Daemon, needle: &str, n: usize) {
    let start = Instant::now();
    while d.log().matches(needle).count() < n {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no {needle:?} in the log:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn write_config(dir: &Path, mqtt_port: u16, http_port: u16, vm: &str, extra: &str) -> PathBuf {
    let text = format!(
        r#"
[site]
community_id = "cn-reload"

[http]
listen = "127.0.0.1:{http_port}"

[outbox]
dir = "{dir}/outbox"
fsync = "always"

[dead_letter]
path = "{dir}/dead-letter.jsonl"

[profiles]
dirs = ["{repo}/config/devices"]

[devices.nl-a]
tags = {{ building = "1" }}

[sources.mqtt]
host = "127.0.0.1"
port = {mqtt_port}
client_id = "greengate-reload"

[[sources.mqtt.subscriptions]]
filter = "community/+site/noise/+device/up"
profile = "fiware-noise"

{extra}

[sinks.influxdb]
url = "{vm}"
org = "o"
bucket = "b"
token = "t"
linger = "50ms"
"#,
        dir = dir.display(),
        repo = env!("CARGO_MANIFEST_DIR"),
    );
    let path = dir.join("greengate.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A noise message for second `s` after 12:00 (distinct points).
fn noise(s: u32) -> String {
    format!(
        r#"{{"dateObserved":"2025-11-29T12:{:02}:{:02}+08:00","LAeq":50.5,"LAmax":60}}"#,
        s / 60,
        s % 60
    )
}

const ADDED: &str = r#"
[devices.nl-b]
tags = { building = "2", zone = "east" }

[[sources.mqtt.subscriptions]]
filter = "community/+site/noise-new/+device/up"
profile = "fiware-noise"
"#;

#[test]
fn sighup_adds_a_device_and_a_subscription_without_losing_data() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start();
    let vm = Victoria::start();
    let http_port = free_port();
    let cfg = write_config(dir.path(), broker.port(), http_port, &vm.url(), "");
    let mut d = Daemon::start(&cfg, http_port, dir.path());
    broker.publish("community/g/noise/nl-a/up", &noise(0), 1);
    vm.wait_for_samples(r#"noise_laeq{device="nl-a"}"#, 1, Duration::from_secs(20));

    // Add device B (registry tags) and a new subscription, then SIGHUP and
    // keep publishing for A while the sources restart.
    write_config(dir.path(), broker.port(), http_port, &vm.url(), ADDED);
    hup(&d);
    for s in 1..=20 {
        broker.publish("community/g/noise/nl-a/up", &noise(s), 1);
    }
    wait_log(&d, "Config reloaded", 1);
    d.wait_ready();
    broker.publish("community/g/noise-new/nl-b/up", &noise(100), 1);

    let b = vm.wait_for_samples(r#"noise_laeq{device="nl-b"}"#, 1, Duration::from_secs(20));
    assert_eq!(b.len(), 1, "{b:?}\n{}", d.log());
    assert_eq!(b[0]["metric"]["building"], "2", "new registry tags apply");
    assert_eq!(b[0]["metric"]["zone"], "east");
    assert_eq!(b[0]["metric"]["community"], "cn-reload");
    let a = vm.wait_for_samples(r#"noise_laeq{device="nl-a"}"#, 21, Duration::from_secs(20));
    let got: usize = a
        .iter()
        .map(|s| s["values"].as_array().unwrap().len())
        .sum();
    assert_eq!(
        got,
        21,
        "every message published around the reload arrives\n{}",
        d.log()
    );
    assert_eq!(a[0]["metric"]["building"], "1");

    // An invalid config on SIGHUP is rejected; the running config stays.
    std::fs::write(&cfg, "[site]\ncommunity_id = 7\n").unwrap();
    hup(&d);
    wait_log(&d, "Config reload rejected", 1);
    broker.publish("community/g/noise-new/nl-b/up", &noise(101), 1);
    let b = vm.wait_for_samples(r#"noise_laeq{device="nl-b"}"#, 2, Duration::from_secs(20));
    let got: usize = b
        .iter()
        .map(|s| s["values"].as_array().unwrap().len())
        .sum();
    assert_eq!(got, 2, "{}", d.log());
    assert!(d.metrics().contains("config_reload_rejected_total"));

    assert_eq!(d.stop(), 0, "{}", d.log());
}

/// The reload's indicator part: `[devices.<id>.indicators]` attributes.
/// The engine runs on event time so the test moves the clock with its
/// readings (stamped just ahead of now, within `max_clock_skew`).
const INDICATORS: &str = r#"
[indicators]
watermark = "event_time"
allowed_lateness = "0s"

[devices.nl-a.indicators]
zone_class = "ZONE_A"
"#;

fn noise_at(t_ns: i64) -> String {
    let t = chrono::DateTime::from_timestamp_nanos(t_ns).to_rfc3339();
    format!(r#"{{"dateObserved":"{t}","LAeq":50.5,"LAmax":60}}"#)
}

/// Every series matching `selector`, including points stamped ahead of
/// now (the export's default range ends now).
fn export_ahead(vm: &Victoria, selector: &str) -> Vec<serde_json::Value> {
    let _ = common::http("GET", vm.port(), "/internal/force_flush", b"");
    let q = format!(
        "/api/v1/export?match[]={}&end=4102444800",
        common::enc(selector)
    );
    let (status, body) = common::http("GET", vm.port(), &q, b"").expect("export");
    assert_eq!(status, 200, "export: {body}");
    body.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// `(device, zone_class, minute start in ms)` of every closed noise minute.
fn minutes(vm: &Victoria) -> Vec<(String, String, i64)> {
    let mut out = Vec::new();
    for s in export_ahead(vm, r#"{__name__="gg_noise_minute_leq"}"#) {
        let tag = |k: &str| s["metric"][k].as_str().unwrap_or("").to_string();
        for t in s["timestamps"].as_array().cloned().unwrap_or_default() {
            out.push((tag("device"), tag("zone_class"), t.as_i64().unwrap_or(0)));
        }
    }
    out.sort_by_key(|m| (m.2, m.0.clone()));
    out
}

fn wait_minutes(vm: &Victoria, n: usize, d: &Daemon) -> Vec<(String, String, i64)> {
    let start = Instant::now();
    loop {
        let m = minutes(vm);
        if m.len() >= n {
            return m;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{m:?}\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn sighup_updates_the_indicator_attributes_of_devices() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start();
    let vm = Victoria::start();
    let http_port = free_port();
    let zone = |a: &str, extra: &str| INDICATORS.replace("ZONE_A", a) + extra;
    let cfg = write_config(
        dir.path(),
        broker.port(),
        http_port,
        &vm.url(),
        &zone("1", ""),
    );
    let mut d = Daemon::start(&cfg, http_port, dir.path());
    const MIN: i64 = 60_000_000_000;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let t0 = (now / MIN + 1) * MIN;
    let a = "community/g/noise/nl-a/up";
    broker.publish(a, &noise_at(t0 + 10_000_000_000), 1);
    broker.publish(a, &noise_at(t0 + MIN + 10_000_000_000), 1);
    wait_minutes(&vm, 1, &d);

    // Zone class 1 → 2 for nl-a, and a new device nl-b with zone class 3.
    let added = "\n[devices.nl-b.indicators]\nzone_class = \"3\"\n";
    write_config(
        dir.path(),
        broker.port(),
        http_port,
        &vm.url(),
        &zone("2", added),
    );
    hup(&d);
    wait_log(&d, "Config reloaded", 1);
    d.wait_ready();
    // Minute t0+1 opened before the reload; minute t0+2 after it. The
    // pipeline hands the engine the new attributes before this reading.
    broker.publish(a, &noise_at(t0 + 2 * MIN + 10_000_000_000), 1);
    wait_log(&d, "Indicator device attributes reloaded", 1);
    broker.publish(
        "community/g/noise/nl-b/up",
        &noise_at(t0 + 2 * MIN + 15_000_000_000),
        1,
    );
    broker.publish(a, &noise_at(t0 + 3 * MIN + 10_000_000_000), 1);
    let m = wait_minutes(&vm, 4, &d);
    let ms = |k: i64| (t0 + k * MIN) / 1_000_000;
    assert_eq!(
        m,
        vec![
            ("nl-a".into(), "1".into(), ms(0)),
            ("nl-a".into(), "1".into(), ms(1)),
            ("nl-a".into(), "2".into(), ms(2)),
            ("nl-b".into(), "3".into(), ms(2)),
        ],
        "{}",
        d.log()
    );
    assert_eq!(d.stop(), 0, "{}", d.log());
}
