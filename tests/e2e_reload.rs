//! Config reload on SIGHUP against real processes: a device and a
//! subscription are added without a restart, nothing published around the
//! reload is lost (persistent session), and an invalid config keeps the
//! running one.

mod common;

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
