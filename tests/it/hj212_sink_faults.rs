//! The HJ 212 sink against a misbehaving platform, on real TCP and a real
//! outbox (the pipeline routes `gg_noise_minute` points into it): a
//! platform down for a while, then up, gets everything in time order, each
//! answered once; a platform that does not answer gets the upload again
//! per ReCount (which it set with CN 1000), then a new connection; nothing
//! is dropped; garbage and a bad CRC from the platform are skipped.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use greengate::config::Secret;
use greengate::deadletter::DeadLetterWriter;
use greengate::model::{FieldValue, Reading};
use greengate::outbox::{self, OutboxConfig};
use greengate::pipeline::{Enrich, Pipeline, PipelineOptions, SourceBatch};
use greengate::sinks::hj212::{self, config::PlatformConfig};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::common::free_port;
use crate::hj212_sink_platform::{Action, Platform, Seg, State};

/// 2026-03-10 06:00 +08:00.
const DAY0: i64 = 1_773_093_600 * 1_000_000_000;
const MIN: i64 = 60 * 1_000_000_000;
const PW: &str = "123456";

fn platform_cfg(name: &str, port: u16, extra: serde_json::Value) -> PlatformConfig {
    let mut v = json!({
        "name": name, "address": format!("127.0.0.1:{port}"), "pw": PW,
        "over_time": "300ms", "re_count": 3, "retry": "100ms", "retry_max": "500ms",
        "points": {"n1": "GG0001"},
    });
    if let (Some(b), Some(o)) = (v.as_object_mut(), extra.as_object()) {
        b.extend(o.clone());
    }
    serde_json::from_value(v).unwrap()
}

fn minute(i: i64) -> Reading {
    let mut r = Reading::new("gg_noise_minute", DAY0 + i * MIN);
    r.set_tag("device", "n1");
    r.add_field("leq", FieldValue::Float(50.0 + i as f64 / 100.0));
    r.add_field("valid", FieldValue::Bool(true));
    r
}

struct Setup {
    _dir: tempfile::TempDir,
    tx: mpsc::Sender<SourceBatch>,
    pipeline: tokio::task::JoinHandle<greengate::pipeline::PipelineExit>,
    sink: tokio::task::JoinHandle<()>,
    _stop: CancellationToken,
}

fn setup(cfg: PlatformConfig) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let dead = DeadLetterWriter::open(dir.path().join("dead.jsonl"), 1 << 20).unwrap();
    let (mw, _mr) = outbox::open(&dir.path().join("main"), &OutboxConfig::default()).unwrap();
    let (w, r) = outbox::open(&dir.path().join(cfg.sink_name()), &OutboxConfig::default()).unwrap();
    let route = cfg.route();
    let stop = CancellationToken::new();
    let sink = tokio::spawn(hj212::run(cfg, Secret::new(PW), 8 * 3600, r, stop.clone()));
    let p = Pipeline::new(
        Enrich::default(),
        vec![mw],
        dead,
        None,
        PipelineOptions::default(),
    )
    .with_routed_outbox(w, route);
    let (tx, rx) = mpsc::channel(16);
    Setup {
        _dir: dir,
        tx,
        pipeline: tokio::spawn(p.run(rx)),
        sink,
        _stop: stop,
    }
}

async fn send(tx: &mpsc::Sender<SourceBatch>, readings: Vec<Reading>) {
    let b = SourceBatch {
        readings,
        ..SourceBatch::default()
    };
    tx.send(b).await.unwrap();
}

async fn wait_answered(state: &Arc<Mutex<State>>, n: usize) -> Vec<Seg> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let a = state.lock().unwrap().answered.clone();
        if a.len() >= n || Instant::now() > deadline {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn counter(name: &str, sink: &str) -> u64 {
    greengate::metrics::registry()
        .counter_values(name)
        .into_iter()
        .filter(|(l, _)| l.iter().any(|(k, v)| *k == "sink" && v == sink))
        .map(|(_, v)| v)
        .sum()
}

/// Stops the pipeline and waits for the sink to drain and end by itself.
async fn finish(s: Setup) {
    drop(s.tx);
    s.pipeline.await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), s.sink)
        .await
        .expect("the sink ends once its outbox is drained and closed")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_down_then_up_gets_every_record_in_time_order_answered_once() {
    let port = free_port();
    let s = setup(platform_cfg("down-up", port, json!({})));
    for chunk in (0..300).collect::<Vec<i64>>().chunks(50) {
        send(&s.tx, chunk.iter().map(|i| minute(*i)).collect()).await;
    }
    // Nothing listens for a while: the sink retries with its backoff.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(counter("hj212_sink_connection_errors_total", "hj212-down-up") >= 2);
    let state = Arc::new(Mutex::new(State::default()));
    let platform = Platform::start(port, state.clone(), Box::new(|_| Action::Answer)).await;
    let got = wait_answered(&state, 300).await;
    assert_eq!(got.len(), 300);
    for (i, u) in got.iter().enumerate() {
        let f = u.cp_fields();
        let t = chrono::DateTime::from_timestamp_nanos(
            DAY0 + i as i64 * MIN + 8 * 3600 * 1_000_000_000,
        )
        .naive_utc()
        .format("%Y%m%d%H%M%S")
        .to_string();
        assert_eq!(
            (u.cn(), f["DataTime"].as_str()),
            (2051, t.as_str()),
            "{}",
            u.text
        );
        let want = 50.0 + i as f64 / 100.0;
        assert_eq!(f["Leq-Data"].parse::<f64>().unwrap(), want, "{}", u.text);
        assert_eq!(f["Leq-Flag"], "N");
    }
    assert_eq!(state.lock().unwrap().uploads.len(), 300, "each sent once");
    assert!(state.lock().unwrap().bad_frames.is_empty());
    finish(s).await;
    assert_eq!(
        counter("hj212_sink_records_uploaded_total", "hj212-down-up"),
        300
    );
    platform.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_upload_is_sent_again_per_recount_then_on_a_new_connection() {
    let port = free_port();
    let state = Arc::new(Mutex::new(State::default()));
    // The first four upload frames get no answer.
    let platform = Platform::start(
        port,
        state.clone(),
        Box::new(|n| {
            if n < 4 {
                Action::Ignore
            } else {
                Action::Answer
            }
        }),
    )
    .await;
    // Sent as soon as greengate connects: garbage, a frame with a wrong
    // CRC, then CN 1000 with an epoch-millisecond QN: OverTime 1 s, ReCount 1.
    platform.raw(b"hello\r\n##0010QN=1;CN=10FFFF\r\n".to_vec());
    platform.command(&format!(
        "QN=1773099000999;ST=91;CN=1000;PW={PW};MN=GG0001;Flag=5;CP=&&OverTime=1;ReCount=1&&"
    ));
    let s = setup(platform_cfg("silent", port, json!({})));
    send(&s.tx, (0..5).map(minute).collect()).await;
    let got = wait_answered(&state, 5).await;
    assert_eq!(got.len(), 5);
    {
        let st = state.lock().unwrap();
        let first: Vec<(String, usize)> = st.uploads[..5]
            .iter()
            .map(|u| (u.get("QN").to_string(), u.conn))
            .collect();
        let qn = first[0].0.clone();
        assert_eq!(
            first,
            [1, 1, 2, 2, 3].map(|c| (qn.clone(), c)),
            "ReCount 1: two sends per connection, then a reconnect; same QN"
        );
        assert_eq!(st.uploads.len(), 9, "nothing dropped, nothing extra");
        let replies: Vec<String> = st
            .replies
            .iter()
            .map(|r| format!("{} {} {}", r.get("QN"), r.cn(), r.cp))
            .collect();
        assert_eq!(
            replies,
            ["1773099000999 9011 QnRtn=1", "1773099000999 9012 ExeRtn=1"]
        );
    }
    assert_eq!(
        counter("hj212_sink_uploads_unanswered_total", "hj212-silent"),
        2
    );
    assert_eq!(
        counter("hj212_sink_uploads_retried_total", "hj212-silent"),
        2
    );
    assert!(counter("hj212_sink_frames_rejected_total", "hj212-silent") >= 2);
    finish(s).await;
    platform.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_answers_requested_a_record_leaves_once_written() {
    let port = free_port();
    let state = Arc::new(Mutex::new(State::default()));
    let platform = Platform::start(port, state.clone(), Box::new(|_| Action::Ignore)).await;
    let s = setup(platform_cfg("no-answers", port, json!({"answers": false})));
    send(&s.tx, (0..20).map(minute).collect()).await;
    finish(s).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while state.lock().unwrap().uploads.len() < 20 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let st = state.lock().unwrap();
    assert_eq!(st.uploads.len(), 20);
    assert!(st.answered.is_empty());
    assert!(st.uploads.iter().all(|u| u.get("Flag") == "4"));
    drop(st);
    platform.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_laeq_goes_up_as_2011_once_per_real_time_interval() {
    let port = free_port();
    let state = Arc::new(Mutex::new(State::default()));
    let platform = Platform::start(port, state.clone(), Box::new(|_| Action::Answer)).await;
    let cfg = platform_cfg(
        "realtime",
        port,
        json!({"realtime": true, "rtd_interval": "30s", "minute": false}),
    );
    let s = setup(cfg);
    let raw = |i: i64| {
        let mut r = Reading::new("noise", DAY0 + i * 10_000_000_000);
        r.set_tag("device", "n1");
        r.add_field("laeq", FieldValue::Float(50.0 + i as f64));
        r
    };
    // Every 10 s for 2 min, and a minute point the platform does not take.
    let mut readings: Vec<Reading> = (0..12).map(raw).collect();
    readings.push(minute(0));
    send(&s.tx, readings).await;
    let got = wait_answered(&state, 4).await;
    finish(s).await;
    let sent: Vec<(u32, String)> = got.iter().map(|u| (u.cn(), u.cp.clone())).collect();
    assert_eq!(
        sent,
        [
            (
                2011,
                "DataTime=20260310060000;LA-Rtd=50,LA-Flag=N".to_string()
            ),
            (
                2011,
                "DataTime=20260310060030;LA-Rtd=53,LA-Flag=N".to_string()
            ),
            (
                2011,
                "DataTime=20260310060100;LA-Rtd=56,LA-Flag=N".to_string()
            ),
            (
                2011,
                "DataTime=20260310060130;LA-Rtd=59,LA-Flag=N".to_string()
            ),
        ]
    );
    assert_eq!(state.lock().unwrap().uploads.len(), 4);
    assert_eq!(
        counter("hj212_sink_records_skipped_total", "hj212-realtime"),
        8,
        "the 8 readings inside the interval"
    );
    platform.stop();
}
