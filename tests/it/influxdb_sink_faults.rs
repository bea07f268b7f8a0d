//! The InfluxDB writer against answers a real store will not give on demand:
//! 429 with Retry-After, 503, 413 (from a tiny HTTP stub).

use crate::common::http_stub;

use greengate::deadletter::DeadLetterWriter;
use greengate::metrics;
use greengate::sinks::influxdb::config::InfluxDbConfig;
use greengate::sinks::influxdb::{InfluxWriter, Interrupted, Written};
use http_stub::{HttpStub, Reply};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn config(url: &str, gzip: bool) -> InfluxDbConfig {
    serde_json::from_value(serde_json::json!({
        "url": url, "org": "o", "bucket": "b", "token": "t0ken", "gzip": gzip,
        "retry_min": "10ms", "retry_max": "3s", "timeout": "500ms",
    }))
    .unwrap()
}

struct Setup {
    writer: InfluxWriter,
    _dir: tempfile::TempDir,
    dead_path: std::path::PathBuf,
}

fn writer(stub: &HttpStub, sink: &str, gzip: bool) -> Setup {
    writer_to(&stub.url(), sink, gzip)
}

fn writer_to(url: &str, sink: &str, gzip: bool) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let dead_path = dir.path().join("dead.jsonl");
    let dead = DeadLetterWriter::open(dead_path.clone(), 1 << 20).unwrap();
    let writer = InfluxWriter::new(&config(url, gzip), sink, dead).unwrap();
    Setup {
        writer,
        _dir: dir,
        dead_path,
    }
}

fn batch(n: usize) -> (Vec<u8>, Vec<String>) {
    let lines: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "m,device=d{i} v={i}i {}",
                1_700_000_000_000_000_000i64 + i as i64
            )
        })
        .collect();
    let mut data = lines.join("\n").into_bytes();
    data.push(b'\n');
    (data, lines)
}

fn dead_letters(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn count(name: &str, sink: &str) -> u64 {
    let text = metrics::registry().render();
    text.lines()
        .filter(|l| {
            l.starts_with(&format!("greengate_{name}{{")) && l.contains(&format!("sink=\"{sink}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test]
async fn throttled_batch_waits_for_retry_after_then_is_written() {
    let stub = HttpStub::start(|_, i| {
        if i == 0 {
            Reply::status(429)
                .header("Retry-After", "1")
                .body("{\"error\":\"slow down\"}")
        } else {
            Reply::status(204)
        }
    });
    let mut s = writer(&stub, "t429", true);
    let (data, lines) = batch(5);
    let done = s
        .writer
        .write(&data, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        done,
        Written {
            lines_written: 5,
            lines_dead_lettered: 0
        }
    );
    let reqs = stub.requests();
    assert_eq!(reqs.len(), 2);
    assert!(
        reqs[1].at - reqs[0].at >= Duration::from_millis(950),
        "Retry-After ignored"
    );
    assert_eq!(
        reqs[0].lines(),
        reqs[1].lines(),
        "the same batch is retried"
    );
    assert_eq!(stub.accepted_lines(), lines);
    assert_eq!(count("influx_batches_retried_total", "t429"), 1);
    assert_eq!(count("influx_write_errors_total", "t429"), 1);
}

#[tokio::test]
async fn v2_requests_carry_token_org_bucket_precision_and_gzip() {
    let stub = HttpStub::start(|_, _| Reply::status(204));
    let mut s = writer(&stub, "thdr", true);
    let (data, lines) = batch(3);
    s.writer
        .write(&data, &CancellationToken::new())
        .await
        .unwrap();
    let r = &stub.requests()[0];
    assert_eq!(
        r.path_and_query,
        "/api/v2/write?org=o&bucket=b&precision=ns"
    );
    assert_eq!(r.header("authorization"), Some("Token t0ken"));
    assert!(r.gzipped);
    assert_eq!(r.lines(), lines);
    let stub2 = HttpStub::start(|_, _| Reply::status(204));
    let mut plain = writer(&stub2, "thdr", false);
    plain
        .writer
        .write(&data, &CancellationToken::new())
        .await
        .unwrap();
    assert!(!stub2.requests()[0].gzipped);
    assert_eq!(stub2.accepted_lines(), lines);
}

#[tokio::test]
async fn unavailable_store_is_retried_until_it_accepts() {
    let stub = HttpStub::start(|_, i| {
        if i < 3 {
            Reply::status(503).body("overloaded")
        } else {
            Reply::status(204)
        }
    });
    let mut s = writer(&stub, "t503", true);
    let (data, lines) = batch(7);
    let done = s
        .writer
        .write(&data, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(done.lines_written, 7);
    assert_eq!(stub.requests().len(), 4);
    assert_eq!(stub.accepted_lines(), lines);
    assert_eq!(count("influx_batches_retried_total", "t503"), 3);
    assert!(dead_letters(&s.dead_path).is_empty());
}

#[tokio::test]
async fn oversized_batches_are_split_until_every_line_arrives_in_order() {
    let stub = HttpStub::start(|r, _| {
        if r.lines().len() > 3 {
            Reply::status(413).body("{\"error\":\"Request Entity Too Large\"}")
        } else {
            Reply::status(204)
        }
    });
    let mut s = writer(&stub, "t413", true);
    let (data, lines) = batch(20);
    let done = s
        .writer
        .write(&data, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        done,
        Written {
            lines_written: 20,
            lines_dead_lettered: 0
        }
    );
    assert_eq!(stub.accepted_lines(), lines);
    assert!(stub
        .requests()
        .iter()
        .filter(|r| r.status == 204)
        .all(|r| r.lines().len() <= 3));
    assert!(count("influx_batch_splits_total", "t413") >= 5);
}

#[tokio::test]
async fn the_stores_size_limit_is_learned_from_the_first_413() {
    let stub = HttpStub::start(|r, _| {
        if r.lines().len() > 3 {
            Reply::status(413)
        } else {
            Reply::status(204)
        }
    });
    let mut s = writer(&stub, "t413learn", true);
    let (data, lines) = batch(16);
    s.writer
        .write(&data, &CancellationToken::new())
        .await
        .unwrap();
    let refused_first = stub.requests().iter().filter(|r| r.status == 413).count();
    assert!(refused_first >= 1);
    s.writer
        .write(&data, &CancellationToken::new())
        .await
        .unwrap();
    let refused = stub.requests().iter().filter(|r| r.status == 413).count();
    assert_eq!(
        refused, refused_first,
        "the second batch was split before sending"
    );
    let mut twice = lines.clone();
    twice.extend(lines);
    assert_eq!(stub.accepted_lines(), twice);
}

#[tokio::test]
async fn a_single_line_too_large_for_the_store_is_dead_lettered() {
    let stub = HttpStub::start(|r, _| {
        if r.lines().iter().any(|l| l.contains("huge")) {
            Reply::status(413).body("too large")
        } else {
            Reply::status(204)
        }
    });
    let mut s = writer(&stub, "t413one", false);
    let (mut data, mut lines) = batch(4);
    data.extend_from_slice(b"m,device=huge v=1i 5\n");
    let (more, more_lines) = batch(2);
    data.extend_from_slice(&more);
    lines.extend(more_lines);
    let done = s
        .writer
        .write(&data, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        done,
        Written {
            lines_written: 6,
            lines_dead_lettered: 1
        }
    );
    let mut accepted = stub.accepted_lines();
    accepted.sort();
    lines.sort();
    assert_eq!(accepted, lines);
    let dl = dead_letters(&s.dead_path);
    assert_eq!(dl.len(), 1);
    assert_eq!(dl[0]["payload"], "m,device=huge v=1i 5");
    assert_eq!(dl[0]["source"], "influxdb");
    assert_eq!(dl[0]["reason"], "HTTP 413: too large");
    assert_eq!(count("influx_lines_dead_lettered_total", "t413one"), 1);
}

#[tokio::test]
async fn shutdown_while_the_store_is_down_leaves_the_batch_unacknowledged() {
    let stub = HttpStub::start(|_, _| Reply::status(503));
    let mut s = writer(&stub, "tstop", true);
    let (data, _) = batch(3);
    let shutdown = CancellationToken::new();
    let cancel = shutdown.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        cancel.cancel();
    });
    assert_eq!(s.writer.write(&data, &shutdown).await, Err(Interrupted));
    assert!(!stub.requests().is_empty());
    assert!(stub.accepted_lines().is_empty());
    assert!(dead_letters(&s.dead_path).is_empty());
}

#[tokio::test]
async fn an_unreachable_store_is_retried_until_shutdown_and_nothing_is_dropped() {
    // A port nobody listens on: connection refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut s = writer_to(&format!("http://127.0.0.1:{port}"), "tconn", true);
    let (data, _) = batch(3);
    let shutdown = CancellationToken::new();
    let cancel = shutdown.clone();
    tokio::spawn(async move {
        while count("influx_write_errors_total", "tconn") < 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        cancel.cancel();
    });
    assert_eq!(s.writer.write(&data, &shutdown).await, Err(Interrupted));
    let text = metrics::registry().render();
    assert!(
        text.contains("greengate_influx_write_errors_total{sink=\"tconn\",kind=\"connect\"}"),
        "{text}"
    );
    assert!(dead_letters(&s.dead_path).is_empty());
}

#[tokio::test]
async fn the_sink_stops_when_its_outbox_is_drained_and_closed() {
    let dir = tempfile::tempdir().unwrap();
    // The writing half is dropped at the end of the block: the outbox is closed.
    let reader = {
        let (_writer, reader) =
            greengate::outbox::open(dir.path(), &greengate::outbox::OutboxConfig::default())
                .unwrap();
        reader
    };
    let stub = HttpStub::start(|_, _| Reply::status(204));
    let dead = DeadLetterWriter::open(dir.path().join("dead.jsonl"), 1 << 20).unwrap();
    greengate::sinks::influxdb::run(
        config(&stub.url(), true),
        reader,
        dead,
        CancellationToken::new(),
    )
    .await;
}

#[tokio::test]
async fn a_store_answer_that_echoes_the_token_is_logged_and_dead_lettered_redacted() {
    const TOKEN: &str = "s3cret-T0ken-value";
    // A proxy that echoes the request headers (and the token once more) in its 400.
    let stub = HttpStub::start(|r, _| {
        let auth = r.header("authorization").unwrap_or_default().to_string();
        Reply::status(400).body(&format!(
            r#"{{"error":"bad line","headers":{{"Authorization":"{auth}"}},"seen":"{TOKEN}"}}"#
        ))
    });
    let dir = tempfile::tempdir().unwrap();
    let dead_path = dir.path().join("dead.jsonl");
    let dead = DeadLetterWriter::open(dead_path.clone(), 1 << 20).unwrap();
    let cfg: InfluxDbConfig = serde_json::from_value(serde_json::json!({
        "url": stub.url(), "org": "o", "bucket": "b", "token": TOKEN,
        "retry_min": "10ms", "retry_max": "1s", "timeout": "500ms",
    }))
    .unwrap();
    let mut w = InfluxWriter::new(&cfg, "tredact", dead).unwrap();
    let (data, _) = batch(1);
    let done = w.write(&data, &CancellationToken::new()).await.unwrap();
    assert_eq!(done.lines_dead_lettered, 1);
    assert_eq!(
        stub.requests()[0].header("authorization"),
        Some(format!("Token {TOKEN}").as_str()),
        "the stub did see the token"
    );
    let text = std::fs::read_to_string(&dead_path).unwrap();
    assert!(!text.contains(TOKEN), "{text}");
    let dl = dead_letters(&dead_path);
    assert_eq!(
        dl[0]["reason"],
        r#"HTTP 400: {"error":"bad line","headers":{"Authorization":"Token <redacted>"},"seen":"<redacted>"}"#
    );
}
