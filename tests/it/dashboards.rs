//! Every Grafana panel returns data: simulated community data goes through
//! the real greengate binary (MQTT in through a real Mosquitto, indicators
//! with an event-time watermark, v1 sink) into a real InfluxDB 1.x; then every
//! query of every dashboard in `deploy/grafana/dashboards/` runs with
//! Grafana's macros substituted, and must return at least one series in which
//! every selected column has a non-null value somewhere (every line and cell
//! of the panel shows data). Failures are listed by dashboard and panel title.
//!
//! The data (`dashboards_support`): 26 simulated hours (05:00 tomorrow to
//! 07:00 the day after, at +08:00), a reading per device every 10 minutes, in
//! time order, so the hourly windows, a noise day (06:00–06:00), a water day
//! and a night-flow window all close; a night noise burst, a fire-lane
//! occupation, an alarm acknowledged and cleared, a defective lamp, a leaking
//! household, and a meter rollover, reset, replacement and implausible jump.
//! Two Modbus noise sensors, one answering (a tokio-modbus server) and one
//! behind a closed port, give `device_status` readings at wall-clock time.

use crate::common;
use crate::dashboards_support;
#[allow(unused_imports)] // its harness re-export serves other tests
use crate::modbus_support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{free_port, Influx1, Mosquitto};
use dashboards_support::{
    publish, repo, simulated, write_config, Daemon, COMMUNITY, DB, HOUR, LOCAL,
};
use serde_json::Value;

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
    // Every column (each line or cell of the panel) needs a value somewhere.
    let mut columns: Vec<(String, bool)> = Vec::new();
    for s in series {
        let names: Vec<&str> = s["columns"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c.as_str().unwrap_or(""))
            .collect();
        for (i, name) in names.iter().enumerate() {
            if *name == "time" {
                continue;
            }
            let found = s["values"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|row| !row[i].is_null());
            match columns.iter_mut().find(|(n, _)| n == name) {
                Some(c) => c.1 |= found,
                None => columns.push((name.to_string(), found)),
            }
        }
    }
    let empty: Vec<&str> = columns
        .iter()
        .filter(|c| !c.1)
        .map(|c| c.0.as_str())
        .collect();
    if columns.is_empty() {
        Some("no columns".into())
    } else if !empty.is_empty() {
        Some(format!("no non-null value in {}", empty.join(", ")))
    } else {
        None
    }
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
    // 05:00 local tomorrow: in the future, so the event-time watermark (never
    // behind the wall clock) closes the simulated windows.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let tomorrow = (now + LOCAL).div_euclid(24 * HOUR) * 24 * HOUR + 24 * HOUR - LOCAL;
    let start = tomorrow + 5 * HOUR;
    // A Modbus noise sensor that answers (device_status online, with a
    // round-trip time); the config adds one behind a closed port (offline).
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bank = modbus_support::Bank::default();
    bank.holding(1, 0, &[655]);
    let device = rt.block_on(modbus_support::TcpDevice::start(bank));
    let cfg = write_config(
        dir.path(),
        broker.port(),
        http_port,
        &db.url(),
        device.addr.port(),
        start,
    );
    let d = Daemon::start(&cfg, http_port, dir.path());
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

#[test]
fn committed_dashboards_are_the_generators_output() {
    // deploy/grafana/generate.py is the source of the JSON files.
    let out = tempfile::tempdir().unwrap();
    let gen = repo().join("deploy/grafana/generate.py");
    let status = std::process::Command::new(common::require_tool("python3", "python3"))
        .arg(&gen)
        .env("GRAFANA_DASHBOARDS_OUT", out.path())
        .status()
        .expect("python3");
    assert!(status.success(), "{} failed", gen.display());
    let committed = repo().join("deploy/grafana/dashboards");
    let mut names: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    let mut on_disk: Vec<_> = std::fs::read_dir(&committed)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    on_disk.sort();
    assert_eq!(
        names, on_disk,
        "dashboard files differ from the generator's"
    );
    for n in names {
        let a = std::fs::read_to_string(out.path().join(&n)).unwrap();
        let b = std::fs::read_to_string(committed.join(&n)).unwrap();
        assert!(
            a == b,
            "{} differs from the output of deploy/grafana/generate.py: run it and commit",
            n.to_string_lossy()
        );
    }
}

#[test]
fn compose_stack_greengate_config_is_valid() {
    // deploy/compose/greengate/greengate.toml, with the container's profile
    // and state directories moved to this checkout and a temp directory.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join("deploy/compose/greengate/greengate.toml"))
        .unwrap()
        .replace(
            "/etc/greengate/devices",
            &repo().join("config/devices").display().to_string(),
        )
        .replace("/var/lib/greengate", &dir.path().display().to_string());
    let path = dir.path().join("greengate.toml");
    std::fs::write(&path, text).unwrap();
    if let Err(p) = greengate::app::Config::load(&path) {
        panic!("deploy/compose/greengate/greengate.toml:\n{p}");
    }
}
