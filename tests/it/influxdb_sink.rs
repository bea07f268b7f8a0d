//! The InfluxDB writer against real stores: VictoriaMetrics through the v2
//! API, InfluxDB 1.x through the v1 API, exact points back.

use crate::common;

use common::{Influx1, Victoria};
use greengate::deadletter::DeadLetterWriter;
use greengate::lineproto;
use greengate::metrics;
use greengate::model::{FieldValue, Reading};
use greengate::sinks::influxdb::config::InfluxDbConfig;
use greengate::sinks::influxdb::{InfluxWriter, Written};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(30);

struct Dead {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    writer: DeadLetterWriter,
}

fn dead() -> Dead {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dead.jsonl");
    let writer = DeadLetterWriter::open(path.clone(), 1 << 20).unwrap();
    Dead {
        _dir: dir,
        path,
        writer,
    }
}

fn dead_letters(d: &Dead) -> Vec<Value> {
    std::fs::read_to_string(&d.path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn v1(url: &str, db: &str, gzip: bool) -> InfluxDbConfig {
    serde_json::from_value(json!({
        "url": url, "api": "v1", "database": db, "username": "gg", "password": "pw",
        "gzip": gzip, "retry_min": "50ms", "retry_max": "1s",
    }))
    .unwrap()
}

fn encode(readings: &[Reading]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in readings {
        lineproto::encode(r, &mut out).unwrap();
    }
    out
}

fn noise(device: &str, laeq: f64, lamax: i64, ok: bool, time_ns: i64) -> Reading {
    let mut r = Reading::new("noise", time_ns);
    r.set_tag("community", "c1");
    r.set_tag("device", device);
    r.add_field("laeq", FieldValue::Float(laeq));
    r.add_field("lamax", FieldValue::Int(lamax));
    r.add_field("ok", FieldValue::Bool(ok));
    r
}

fn series<'a>(export: &'a [Value], name: &str, device: &str) -> &'a Value {
    export
        .iter()
        .find(|s| s["metric"]["__name__"] == name && s["metric"]["device"] == device)
        .unwrap_or_else(|| panic!("no series {name} for {device} in {export:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_writes_land_in_victoria_as_exact_points_with_and_without_gzip() {
    let vm = Victoria::start();
    let t0 = 1_700_000_000_123_456_789i64;
    for (gzip, device) in [(true, "n-gz"), (false, "n-plain")] {
        let cfg: InfluxDbConfig = serde_json::from_value(json!({
            "url": vm.url(), "org": "o", "bucket": "b", "token": "t", "gzip": gzip,
        }))
        .unwrap();
        let d = dead();
        let mut w = InfluxWriter::new(&cfg, "vm", d.writer.clone()).unwrap();
        let data = encode(&[
            noise(device, 55.5, 70, true, t0),
            noise(device, 40.25, 61, false, t0 + 1_000_000_000),
        ]);
        let done = w.write(&data, &CancellationToken::new()).await.unwrap();
        assert_eq!(
            done,
            Written {
                lines_written: 2,
                lines_dead_lettered: 0
            }
        );
    }
    let e = vm.wait_for_samples(r#"{__name__=~"noise_.*"}"#, 12, WAIT);
    for device in ["n-gz", "n-plain"] {
        let laeq = series(&e, "noise_laeq", device);
        assert_eq!(laeq["metric"]["community"], "c1");
        assert_eq!(laeq["values"], json!([55.5, 40.25]));
        assert_eq!(
            laeq["timestamps"],
            json!([1_700_000_000_123i64, 1_700_000_001_123i64])
        );
        assert_eq!(series(&e, "noise_lamax", device)["values"], json!([70, 61]));
        assert_eq!(series(&e, "noise_ok", device)["values"], json!([1, 0]));
    }
    assert!(metrics::registry().counter_total("influx_lines_written_total") >= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_writes_land_in_influxdb_as_exact_points_with_and_without_gzip() {
    let db = Influx1::start();
    db.create_db("gg");
    let t0 = 1_700_000_000_123_456_789i64;
    for (gzip, device) in [(true, "l-gz"), (false, "l-plain")] {
        let d = dead();
        let mut w = InfluxWriter::new(&v1(&db.url(), "gg", gzip), "v1", d.writer.clone()).unwrap();
        let mut r = Reading::new("lighting", t0);
        r.set_tag("community", "c1");
        r.set_tag("device", device);
        r.add_field("on", FieldValue::Bool(true));
        r.add_field("power_w", FieldValue::Float(35.5));
        r.add_field("status", FieldValue::Str("defective Lamp, \"col\"".into()));
        r.add_field("status_code", FieldValue::Int(-3));
        let done = w
            .write(&encode(&[r]), &CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(done.lines_written, 1);
    }
    let rows = db.wait_for_rows("gg", "SELECT * FROM lighting GROUP BY *", 2, WAIT);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    for row in rows {
        assert_eq!(row["time"], json!(t0));
        assert_eq!(row["community"], "c1");
        assert_eq!(row["on"], json!(true));
        assert_eq!(row["power_w"], json!(35.5));
        assert_eq!(row["status"], "defective Lamp, \"col\"");
        assert_eq!(row["status_code"], json!(-3));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_lines_are_isolated_and_dead_lettered_while_good_lines_are_stored() {
    let db = Influx1::start();
    db.create_db("gg");
    let d = dead();
    let mut w = InfluxWriter::new(&v1(&db.url(), "gg", true), "bisect", d.writer.clone()).unwrap();
    let t0 = 1_700_000_000_000_000_000i64;
    let first = format!("m,i=first f=1i {t0}\n");
    w.write(first.as_bytes(), &CancellationToken::new())
        .await
        .unwrap();
    // 20 lines; lines 3, 11 and 12 conflict with the integer field type.
    let bad = [3usize, 11, 12];
    let mut data = String::new();
    for i in 0..20 {
        if bad.contains(&i) {
            data.push_str(&format!("m,i={i} f=\"str{i}\" {}\n", t0 + i as i64));
        } else {
            data.push_str(&format!("m,i={i} f={i}i {}\n", t0 + i as i64));
        }
    }
    let done = w
        .write(data.as_bytes(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(done.lines_dead_lettered, 3);
    let rows = db.wait_for_rows("gg", "SELECT * FROM m", 18, WAIT);
    let mut stored: Vec<String> = rows
        .iter()
        .map(|r| r["i"].as_str().unwrap().to_string())
        .collect();
    stored.sort();
    let mut want: Vec<String> = (0..20)
        .filter(|i| !bad.contains(i))
        .map(|i| i.to_string())
        .chain(["first".to_string()])
        .collect();
    want.sort();
    assert_eq!(stored, want);
    for row in &rows {
        assert!(row["f"].is_i64(), "{row:?}");
    }
    let dl = dead_letters(&d);
    let payloads: Vec<&str> = dl.iter().map(|x| x["payload"].as_str().unwrap()).collect();
    assert_eq!(
        payloads,
        bad.iter()
            .map(|i| format!("m,i={i} f=\"str{i}\" {}", t0 + *i as i64))
            .collect::<Vec<_>>()
    );
    for x in &dl {
        assert_eq!(x["source"], "influxdb");
        assert!(x["origin"].as_str().unwrap().ends_with("db=gg"), "{x}");
        let reason = x["reason"].as_str().unwrap();
        assert!(reason.starts_with("HTTP 400: "), "{reason}");
        assert!(reason.contains("field type conflict"), "{reason}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_database_holds_the_data_until_it_is_created() {
    let db = Influx1::start();
    let d = dead();
    let mut w =
        InfluxWriter::new(&v1(&db.url(), "late", true), "missingdb", d.writer.clone()).unwrap();
    let data = encode(&[noise("n-1", 50.5, 60, true, 1_700_000_000_000_000_001)]);
    let task = tokio::spawn(async move { w.write(&data, &CancellationToken::new()).await });
    let config_errors = || {
        metrics::registry().render().lines().any(|l| {
            l.contains("sink=\"missingdb\"") && l.contains("kind=\"config\"") && !l.ends_with(" 0")
        })
    };
    while !config_errors() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!task.is_finished());
    let db = tokio::task::spawn_blocking(move || {
        db.create_db("late");
        db
    })
    .await
    .unwrap();
    let done = task.await.unwrap().unwrap();
    assert_eq!(
        done,
        Written {
            lines_written: 1,
            lines_dead_lettered: 0
        }
    );
    let rows = db.wait_for_rows("late", "SELECT * FROM noise", 1, WAIT);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["time"], json!(1_700_000_000_000_000_001i64));
    assert_eq!(rows[0]["laeq"], json!(50.5));
    assert!(dead_letters(&d).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_writes_go_to_the_configured_retention_policy() {
    let db = Influx1::start();
    db.create_db("gg");
    let q = "CREATE RETENTION POLICY \"one year\" ON \"gg\" DURATION 52w REPLICATION 1";
    let (status, body) = common::http(
        "POST",
        db.port(),
        "/query",
        format!("q={}", common::enc(q)).as_bytes(),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let mut cfg = v1(&db.url(), "gg", true);
    cfg.retention_policy = "one year".into();
    let d = dead();
    let mut w = InfluxWriter::new(&cfg, "rp", d.writer.clone()).unwrap();
    let t = greengate::model::now_ns();
    let data = encode(&[noise("n-rp", 42.5, 50, true, t)]);
    w.write(&data, &CancellationToken::new()).await.unwrap();
    let rows = db.wait_for_rows("gg", "SELECT * FROM \"gg\".\"one year\".\"noise\"", 1, WAIT);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["time"], json!(t));
    assert_eq!(rows[0]["laeq"], json!(42.5));
    assert!(db
        .rows("gg", "SELECT * FROM \"gg\".\"autogen\".\"noise\"")
        .is_empty());
}

fn count(name: &str, sink: &str) -> u64 {
    metrics::registry()
        .render()
        .lines()
        .filter(|l| l.starts_with(&format!("greengate_{name}{{")))
        .filter(|l| l.contains(&format!("sink=\"{sink}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_the_store_drops_entirely_is_dead_lettered_without_bisecting() {
    let db = Influx1::start();
    db.create_db("gg");
    let d = dead();
    let mut w =
        InfluxWriter::new(&v1(&db.url(), "gg", true), "alldropped", d.writer.clone()).unwrap();
    let t0 = 1_700_000_000_000_000_000i64;
    let first = format!("m f=1i {t0}\n");
    w.write(first.as_bytes(), &CancellationToken::new())
        .await
        .unwrap();
    let data: String = (1..=8)
        .map(|i| format!("m,i={i} f=\"s\" {}\n", t0 + i))
        .collect();
    let done = w
        .write(data.as_bytes(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        done,
        Written {
            lines_written: 0,
            lines_dead_lettered: 8
        }
    );
    assert_eq!(count("influx_batch_splits_total", "alldropped"), 0);
    assert_eq!(count("influx_lines_dead_lettered_total", "alldropped"), 8);
    assert_eq!(dead_letters(&d).len(), 8);
    assert_eq!(db.rows("gg", "SELECT * FROM m").len(), 1);
}

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_store_times_out_and_the_batch_is_written_once_it_answers() {
    let vm = Victoria::start();
    let pid = vm.proc.child.id();
    let cfg: InfluxDbConfig = serde_json::from_value(json!({
        "url": vm.url(), "org": "o", "bucket": "b", "token": "t",
        "timeout": "300ms", "retry_min": "50ms", "retry_max": "500ms",
    }))
    .unwrap();
    let d = dead();
    let mut w = InfluxWriter::new(&cfg, "hung", d.writer.clone()).unwrap();
    // A stopped process keeps its socket: connections queue, nothing answers.
    signal(pid, "-STOP");
    let data = encode(&[noise("n-hung", 45.5, 50, true, 1_700_000_000_000_000_000)]);
    let task = tokio::spawn(async move { w.write(&data, &CancellationToken::new()).await });
    let timeouts = || {
        metrics::registry().render().lines().any(|l| {
            l.contains("sink=\"hung\"") && l.contains("kind=\"timeout\"") && !l.ends_with(" 0")
        })
    };
    while !timeouts() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    signal(pid, "-CONT");
    let done = task.await.unwrap().unwrap();
    assert_eq!(
        done,
        Written {
            lines_written: 1,
            lines_dead_lettered: 0
        }
    );
    let e = vm.wait_for_samples("noise_laeq", 1, WAIT);
    // Requests that timed out may still be processed after the store wakes:
    // duplicates are allowed, as identical points only.
    let s = series(&e, "noise_laeq", "n-hung");
    let values = s["values"].as_array().unwrap();
    assert!(!values.is_empty());
    assert!(values.iter().all(|v| *v == json!(45.5)), "{s}");
    assert!(
        s["timestamps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| *t == json!(1_700_000_000_000i64)),
        "{s}"
    );
}
