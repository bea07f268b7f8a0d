//! `greengate demo` as a user runs it: the real binary, nothing else
//! installed (embedded broker, in-process devices and daemon), and, with
//! `--influx-url`, into a real VictoriaMetrics.

#![cfg(feature = "demo")]

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{enc, http, Influx1, Victoria};

const CLASSES: [&str; 5] = ["noise", "water_meter", "lighting", "parking", "security"];

fn demo(args: &[&str]) -> (std::process::ExitStatus, String, String) {
    let data = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_greengate"))
        .arg("demo")
        .args(["--http", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .args(args)
        .output()
        .expect("run greengate demo");
    let log = std::fs::read_to_string(data.path().join("greengate.log")).unwrap_or_default();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        format!(
            "{}\n--- greengate.log ---\n{log}",
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The number after `key=` in `line`.
fn count(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The final summary (after "(final)").
fn final_summary(stdout: &str) -> &str {
    stdout
        .find("greengate demo (final)")
        .map_or("", |i| &stdout[i..])
}

#[test]
fn demo_runs_a_whole_community_alone_and_exits_zero() {
    let (status, stdout, stderr) = demo(&["--seconds", "20", "--accel", "600", "--rate", "2"]);
    assert!(status.success(), "exit {status}\n{stdout}\n{stderr}");
    assert!(
        stdout.matches("greengate demo (live)").count() >= 3,
        "no live summary every few seconds:\n{stdout}"
    );
    let fin = final_summary(&stdout);
    let published = fin
        .lines()
        .find(|l| l.trim_start().starts_with("published"))
        .unwrap_or_else(|| panic!("no published line:\n{stdout}\n{stderr}"));
    for class in CLASSES {
        assert!(
            count(published, class) > 0,
            "{class} not published: {published}"
        );
    }
    let messages = fin
        .lines()
        .find(|l| l.trim_start().starts_with("messages"))
        .unwrap_or_else(|| panic!("no messages line:\n{stdout}"));
    let received: u64 = messages
        .split('(')
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(received > 0, "no MQTT message received: {messages}");
    let online = fin
        .lines()
        .find(|l| l.trim_start().starts_with("devices on"))
        .unwrap_or_else(|| panic!("no devices line:\n{stdout}"));
    for class in CLASSES {
        assert!(
            online.contains(&format!(" {class} ")),
            "{class} missing: {online}"
        );
    }
    for key in [
        "亮灯率",
        "parking",
        "alarms",
        "water loss",
        "noise",
        "outbox",
    ] {
        assert!(fin.contains(key), "{key} missing:\n{fin}");
    }
    assert!(fin.contains("/healthz") && fin.contains("/assess"), "{fin}");
}

/// Series matching `selector` with at least one sample, over every time
/// (the simulated clock runs ahead of the wall clock), waiting up to 30 s.
fn series(vm: &Victoria, selector: &str) -> Vec<serde_json::Value> {
    let end = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        + 30 * 86_400;
    for _ in 0..120 {
        let _ = http("GET", vm.port(), "/internal/force_flush", b"");
        let q = format!("/api/v1/export?match[]={}&start=0&end={end}", enc(selector));
        if let Some((200, body)) = http("GET", vm.port(), &q, b"") {
            let got: Vec<serde_json::Value> = body
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            if !got.is_empty() {
                return got;
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Vec::new()
}

#[test]
fn demo_writes_readings_and_indicators_to_influxdb_when_given() {
    let vm = Victoria::start();
    let (status, stdout, stderr) = demo(&[
        "--seconds",
        "15",
        "--accel",
        "600",
        "--influx-url",
        &vm.url(),
    ]);
    assert!(status.success(), "exit {status}\n{stdout}\n{stderr}");
    for metric in [
        "noise_laeq",
        "water_meter_total_m3",
        "lighting_power_w",
        "parking_occupied",
        "security_online",
    ] {
        let got = series(&vm, metric);
        assert!(
            !got.is_empty(),
            "no {metric} in VictoriaMetrics\n{stdout}\n{stderr}"
        );
        assert_eq!(
            got[0]["metric"]["community"], "cn-sh-demo-0001",
            "{metric}: {:?}",
            got[0]["metric"]
        );
    }
    let gg = series(&vm, r#"{__name__=~"gg_.+"}"#);
    assert!(
        !gg.is_empty(),
        "no indicator reached VictoriaMetrics\n{stdout}"
    );
    // Modbus devices too (their ids come from the demo config).
    let mb = series(&vm, r#"{__name__=~"noise_.+",device="mb-noise-1"}"#);
    assert!(!mb.is_empty(), "no Modbus reading\n{stdout}\n{stderr}");
}

#[test]
fn demo_writes_to_influxdb_1_with_the_database_flag() {
    let influx = Influx1::start();
    influx.create_db("demo");
    let (status, stdout, stderr) = demo(&[
        "--seconds",
        "10",
        "--accel",
        "600",
        "--influx-url",
        &influx.url(),
        "--influx-db",
        "demo",
    ]);
    assert!(status.success(), "exit {status}\n{stdout}\n{stderr}");
    // String fields keep their text in InfluxDB 1.x: the alarm events.
    for q in [
        "SELECT laeq FROM noise",
        "SELECT occupied FROM parking",
        "SELECT event FROM security",
    ] {
        let rows = influx.wait_for_rows("demo", q, 1, Duration::from_secs(30));
        assert!(!rows.is_empty(), "{q}: nothing\n{stdout}\n{stderr}");
    }
}

#[test]
fn sigterm_stops_the_demo_cleanly() {
    let data = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_greengate"))
        .arg("demo")
        .args(["--http", "127.0.0.1:0", "--accel", "600", "--data-dir"])
        .arg(data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn greengate demo");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    // Until Ctrl-C by default: wait for the first live summary.
    for line in lines.by_ref() {
        if line.expect("read").contains("greengate demo (live)") {
            break;
        }
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let exit = child.wait().expect("wait");
    assert!(exit.success(), "exit {exit}: {rest:?}");
    assert!(
        rest.iter().any(|l| l.contains("greengate demo (final)")),
        "{rest:?}"
    );
    // The outbox and the configuration stay in --data-dir.
    assert!(data.path().join("greengate.toml").is_file());
    assert!(data.path().join("outbox").is_dir());
}
