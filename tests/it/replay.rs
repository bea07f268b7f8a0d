//! `greengate replay`: a simulated day fed live to a daemon in event time
//! (MQTT line protocol in, real InfluxDB 1.x out), then the same readings
//! replayed from a line-protocol file and read back from that InfluxDB with
//! InfluxQL: the `gg_*` indicators equal the live ones to the digit.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::daemon::Daemon;
use crate::common::{free_port, Influx1, Mosquitto};
use crate::replay_support::{day_lines, gg_points, stored_lines, write_config, FROM, TO};

fn replay(cfg: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_greengate"))
        .args(["replay", "-c"])
        .arg(cfg)
        .args(args)
        .output()
        .expect("run greengate replay");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "replay {args:?} failed:\n{err}");
    err
}

fn count(influx: &Influx1, db: &str, q: &str) -> i64 {
    influx
        .rows(db, q)
        .first()
        .and_then(|r| r.get("count").and_then(|v| v.as_i64()))
        .unwrap_or(0)
}

fn publish_day(broker: &Mosquitto, lines: &[(i64, String)]) {
    // One message per minute of event time, in time order.
    let mut messages: Vec<String> = Vec::new();
    let mut minute = i64::MIN;
    for (t, l) in lines {
        let m = t / 60_000_000_000;
        if m != minute || messages.is_empty() {
            messages.push(String::new());
            minute = m;
        }
        let last = messages.last_mut().unwrap();
        last.push_str(l);
        last.push('\n');
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(crate::common::publish::publish_all(
            broker.port(),
            "community/garden/lp".into(),
            messages,
            20,
        ))
        .expect("publish the day");
}

#[test]
fn a_replayed_day_equals_the_live_day_to_the_digit() {
    let dir = tempfile::tempdir().unwrap();
    let influx = Influx1::start();
    for db in ["live", "replayed"] {
        influx.create_db(db);
    }
    // Every message kept and many in flight: the daemon acks after its group commit.
    let broker = Mosquitto::start_with("max_queued_messages 0\nmax_inflight_messages 1000\n");
    let http_port = free_port();
    let live_cfg = write_config(
        &dir.path().join("live.toml"),
        broker.port(),
        http_port,
        &influx,
        "live",
        "live",
        "4a",
    );
    let lines = day_lines();
    let noise = lines.iter().filter(|(_, l)| l.starts_with("noise")).count() as i64;
    let water = lines.len() as i64 - noise;

    // Live: the daemon in event time, the day at full speed over MQTT.
    let mut d = Daemon::start(&live_cfg, http_port, dir.path());
    publish_day(&broker, &lines);
    let start = Instant::now();
    while count(&influx, "live", "SELECT count(laeq) FROM noise") < noise
        || count(&influx, "live", "SELECT count(total_m3) FROM water_meter") < water
    {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "noise {} water {}\n{}\n{}",
            count(&influx, "live", "SELECT count(laeq) FROM noise"),
            count(&influx, "live", "SELECT count(total_m3) FROM water_meter"),
            d.metrics(),
            d.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // The assessment from the engine's own history, from the day before
    // (the noise day holding the replayed night began at 06:00 then).
    let since = "2026-03-09T00:00:00+08:00";
    let q = format!(
        "/assess?from={}&to={}",
        since.replace('+', "%2B"),
        TO.replace('+', "%2B")
    );
    let (status, engine_assessment) = crate::common::http("GET", http_port, &q, b"").unwrap();
    assert_eq!(status, 200, "{engine_assessment}");
    assert_eq!(d.stop(), 0, "{}", d.log());
    let live = gg_points(&influx, "live");

    // The same period assessed from the gg_* points in InfluxDB.
    let out = Command::new(env!("CARGO_BIN_EXE_greengate"))
        .args(["assess", "-c"])
        .arg(&live_cfg)
        .args(["--from-store", "--from", since, "--to", TO, "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_store: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let from_engine: serde_json::Value = serde_json::from_str(&engine_assessment).unwrap();
    assert_eq!(from_store, from_engine);
    // And from a running daemon's `/assess?from_store=1` (restarted, so it
    // could be a replaced box with an empty engine): the same again.
    let mut again = Daemon::start_run(&live_cfg, http_port, dir.path(), 1);
    let (status, body) =
        crate::common::http("GET", http_port, &format!("{q}&from_store=1"), b"").unwrap();
    assert_eq!(status, 200, "{body}\n{}", again.log());
    let served: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(served, from_store);
    assert_eq!(again.stop(), 0, "{}", again.log());
    let c10 = &from_store["criteria"][9];
    assert!(
        c10["figures"]["night_valid_point_days"].as_f64() > Some(0.0),
        "{c10}"
    );
    for m in [
        "gg_noise_minute ",
        "gg_noise_hour ",
        "gg_noise_day ",
        "gg_noise_compliance ",
        "gg_water_interval ",
        "gg_water_day ",
        "gg_water_balance ",
        "gg_water_night_flow ",
        "gg_device_health ",
    ] {
        assert!(
            live.iter().any(|p| p.starts_with(m)),
            "no {m}live:\n{}",
            d.log()
        );
    }
    // 24 hours of minutes per sensor (06:00 of the day before has no readings).
    let minutes = live
        .iter()
        .filter(|p| p.starts_with("gg_noise_minute "))
        .count();
    assert_eq!(minutes, 2 * 1440, "{}", d.log());

    // The same readings from a file, written to another database.
    let input = dir.path().join("day.lp");
    let text: String = lines.iter().map(|(_, l)| format!("{l}\n")).collect();
    std::fs::write(&input, text).unwrap();
    let to_store_cfg = write_config(
        &dir.path().join("replay.toml"),
        broker.port(),
        free_port(),
        &influx,
        "live",
        "replayed",
        "4a",
    );
    let input_s = input.to_str().unwrap();
    let summary = replay(
        &to_store_cfg,
        &["--input", input_s, "--from", FROM, "--to", TO, "--to-store"],
    );
    assert!(summary.contains(", 0 late"), "{summary}");
    let replayed = gg_points(&influx, "replayed");
    assert_eq!(live.len(), replayed.len(), "{summary}");
    for (l, r) in live.iter().zip(&replayed) {
        assert_eq!(l, r, "live vs replayed from a file");
    }

    // From the file and from the store (the daemon's raw readings, read back
    // with InfluxQL a page at a time), to files: the same lines.
    let from_file = dir.path().join("from-file.lp");
    let from_store = dir.path().join("from-store.lp");
    let out = |p: &Path| p.to_str().unwrap().to_string();
    replay(
        &live_cfg,
        &[
            "--input",
            input_s,
            "--from",
            FROM,
            "--to",
            TO,
            "--output",
            &out(&from_file),
        ],
    );
    let summary = replay(
        &live_cfg,
        &[
            "--from-store",
            "--from",
            FROM,
            "--to",
            TO,
            "--output",
            &out(&from_store),
        ],
    );
    let (a, b) = (stored_lines(&from_file), stored_lines(&from_store));
    assert_eq!(a.len(), live.len(), "{summary}");
    assert_eq!(a, b, "from a file vs from the store");

    // A corrected attribute changes the result: noise-02 judged as zone 1.
    let corrected = write_config(
        &dir.path().join("corrected.toml"),
        broker.port(),
        free_port(),
        &influx,
        "live",
        "live",
        "1",
    );
    let fixed = dir.path().join("corrected.lp");
    replay(
        &corrected,
        &[
            "--input",
            input_s,
            "--from",
            FROM,
            "--to",
            TO,
            "--output",
            &out(&fixed),
        ],
    );
    let day = |lines: &[String]| {
        lines
            .iter()
            .find(|l| l.starts_with("gg_noise_day,") && l.contains("device=noise-02"))
            .cloned()
            .unwrap_or_default()
    };
    assert!(day(&a).contains("zone_class=4a") && day(&a).contains("night_limit=55"));
    let c = stored_lines(&fixed);
    assert!(
        day(&c).contains("zone_class=1") && day(&c).contains("night_limit=45"),
        "{}",
        day(&c)
    );
}
