//! The city northbound against real stores: indicators reach a second
//! VictoriaMetrics while raw readings do not, and a city store that is down
//! neither blocks the pipeline nor the main store.

use crate::common;

use common::Victoria;
use greengate::deadletter::DeadLetterWriter;
use greengate::model::{FieldValue, Reading};
use greengate::outbox::{self, OutboxConfig};
use greengate::pipeline::{Enrich, Pipeline, PipelineOptions, SourceBatch};
use greengate::sinks::city::config::CityConfig;
use greengate::sinks::{city, influxdb};
use serde_json::json;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(30);

fn reading(measurement: &str, device: &str, v: f64, t: i64) -> Reading {
    let mut r = Reading::new(measurement, t);
    r.set_tag("device", device);
    r.add_field("laeq", FieldValue::Float(v));
    r
}

fn influx(url: &str) -> influxdb::config::InfluxDbConfig {
    serde_json::from_value(json!({
        "url": url, "org": "o", "bucket": "b", "linger": "50ms",
        "retry_min": "50ms", "retry_max": "500ms", "timeout": "2s",
    }))
    .unwrap()
}

struct Setup {
    _dir: tempfile::TempDir,
    tx: mpsc::Sender<SourceBatch>,
    pipeline: tokio::task::JoinHandle<greengate::pipeline::PipelineExit>,
    stop: CancellationToken,
}

/// A pipeline with a main outbox (everything) and a city outbox (`gg_*`),
/// each drained by its sink into its own store.
fn setup(main_url: &str, city_url: &str, city_outbox: OutboxConfig) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let dead = DeadLetterWriter::open(dir.path().join("dead.jsonl"), 1 << 20).unwrap();
    let (mw, mr) = outbox::open(&dir.path().join("influxdb"), &OutboxConfig::default()).unwrap();
    let (cw, cr) = outbox::open(&dir.path().join("city"), &city_outbox).unwrap();
    let city_cfg = CityConfig {
        influxdb: Some(influx(city_url)),
        ..CityConfig::default()
    };
    let stop = CancellationToken::new();
    tokio::spawn(influxdb::run(
        influx(main_url),
        mr,
        dead.clone(),
        stop.clone(),
    ));
    tokio::spawn(city::run(
        city_cfg.clone(),
        "c7".into(),
        cr,
        dead.clone(),
        stop.clone(),
    ));
    let enrich = Enrich {
        community_id: "c7".into(),
        ..Enrich::default()
    };
    let p = Pipeline::new(enrich, vec![mw], dead, None, PipelineOptions::default())
        .with_routed_outbox(cw, city_cfg.route());
    let (tx, rx) = mpsc::channel(16);
    let pipeline = tokio::spawn(p.run(rx));
    Setup {
        _dir: dir,
        tx,
        pipeline,
        stop,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indicators_reach_the_city_store_and_raw_readings_do_not() {
    let main = Victoria::start();
    let city_vm = Victoria::start();
    let s = setup(&main.url(), &city_vm.url(), OutboxConfig::default());
    let t0 = 1_700_000_000_000_000_000i64;
    let batch = SourceBatch {
        readings: vec![
            reading("noise", "n1", 55.0, t0),
            reading("gg_noise_hour", "n1", 54.0, t0),
            reading("gg_noise_day", "n1", 53.0, t0),
        ],
        ..SourceBatch::default()
    };
    s.tx.send(batch).await.unwrap();
    let city_pts = tokio::task::spawn_blocking(move || {
        let e = city_vm.wait_for_samples(r#"{__name__=~"gg_.*"}"#, 2, WAIT);
        let raw = city_vm.sample_count(r#"{__name__=~"noise_.*"}"#);
        (e, raw)
    })
    .await
    .unwrap();
    let (city_export, city_raw) = city_pts;
    let main_count = tokio::task::spawn_blocking(move || {
        main.wait_for_samples(
            r#"{__name__=~"(noise|gg_noise_hour|gg_noise_day)_laeq"}"#,
            3,
            WAIT,
        )
    })
    .await
    .unwrap();
    assert_eq!(city_export.len(), 2, "{city_export:#?}");
    for s in &city_export {
        assert_eq!(s["metric"]["community"], "c7", "{s:#?}");
    }
    assert_eq!(city_raw, 0, "raw readings must not go north");
    assert_eq!(main_count.len(), 3, "{main_count:#?}");
    drop(s.tx);
    s.pipeline.await.unwrap();
    s.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn city_store_down_does_not_stop_the_main_store() {
    let main = Victoria::start();
    // Nothing listens on this port: the city store is down for the whole test,
    // and its small outbox fills up and drops its oldest data.
    let down = format!("http://127.0.0.1:{}", common::free_port());
    let small: OutboxConfig =
        serde_json::from_value(json!({"segment_bytes": 4096, "max_bytes": 8192})).unwrap();
    let s = setup(&main.url(), &down, small);
    let t0 = 1_700_000_000_000_000_000i64;
    let n = 2000i64;
    for i in 0..n {
        let batch = SourceBatch {
            readings: vec![
                reading("noise", "n1", 50.0, t0 + i * 1_000_000_000),
                reading("gg_noise_minute", "n1", 50.0, t0 + i * 1_000_000_000),
            ],
            ..SourceBatch::default()
        };
        s.tx.send(batch).await.unwrap();
    }
    drop(s.tx);
    // The pipeline finishes although the city outbox is full and its store down.
    s.pipeline.await.unwrap();
    let got = tokio::task::spawn_blocking(move || {
        main.wait_for_samples("noise_laeq", n as usize, WAIT);
        (
            main.sample_count("noise_laeq"),
            main.sample_count("gg_noise_minute_laeq"),
        )
    })
    .await
    .unwrap();
    assert_eq!(got, (n as usize, n as usize));
    let reg = greengate::metrics::registry();
    let dropped = reg.counter_total("outbox_records_dropped_total")
        + reg.counter_total("pipeline_routed_readings_dropped_total");
    assert!(dropped > 0, "the full city outbox dropped nothing");
    s.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indicators_are_published_to_the_city_broker_with_qos1() {
    let broker = common::Mosquitto::start();
    let main = Victoria::start();
    let dir = tempfile::tempdir().unwrap();
    let dead = DeadLetterWriter::open(dir.path().join("dead.jsonl"), 1 << 20).unwrap();
    let (mw, mr) = outbox::open(&dir.path().join("influxdb"), &OutboxConfig::default()).unwrap();
    let (cw, cr) = outbox::open(&dir.path().join("city"), &OutboxConfig::default()).unwrap();
    let city_cfg: CityConfig = serde_json::from_value(json!({
        "only": ["gg_noise_hour"],
        "mqtt": {"host": "127.0.0.1", "port": broker.port(), "retry": "100ms"},
    }))
    .unwrap();
    // A subscriber that is subscribed before anything is published.
    let mut o = rumqttc::MqttOptions::new("city-test-sub", "127.0.0.1", broker.port());
    o.set_keep_alive(Duration::from_secs(30));
    let (client, mut ev) = rumqttc::AsyncClient::new(o, 16);
    client
        .subscribe("city/#", rumqttc::QoS::AtLeastOnce)
        .await
        .unwrap();
    loop {
        if let rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_)) = ev.poll().await.unwrap() {
            break;
        }
    }
    let stop = CancellationToken::new();
    tokio::spawn(influxdb::run(
        influx(&main.url()),
        mr,
        dead.clone(),
        stop.clone(),
    ));
    tokio::spawn(city::run(
        city_cfg.clone(),
        "c7".into(),
        cr,
        dead.clone(),
        stop.clone(),
    ));
    let enrich = Enrich {
        community_id: "c7".into(),
        ..Enrich::default()
    };
    let p = Pipeline::new(enrich, vec![mw], dead, None, PipelineOptions::default())
        .with_routed_outbox(cw, city_cfg.route());
    let (tx, rx) = mpsc::channel(16);
    let pipeline = tokio::spawn(p.run(rx));
    let t0 = 1_700_000_000_000_000_000i64;
    let batch = SourceBatch {
        readings: vec![
            reading("noise", "n1", 55.0, t0),
            reading("gg_noise_minute", "n1", 54.0, t0),
            reading("gg_noise_hour", "n1", 53.0, t0),
            reading("gg_noise_hour", "n2", 52.0, t0),
        ],
        ..SourceBatch::default()
    };
    tx.send(batch).await.unwrap();
    let mut got = Vec::new();
    while got.len() < 2 {
        let e = tokio::time::timeout(WAIT, ev.poll())
            .await
            .expect("no message");
        if let rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)) = e.unwrap() {
            got.push(format!(
                "{} {}",
                p.topic,
                String::from_utf8_lossy(&p.payload)
            ));
        }
    }
    assert_eq!(
        got,
        vec![
            "city/c7/gg_noise_hour gg_noise_hour,community=c7,device=n1 laeq=53 1700000000000000000",
            "city/c7/gg_noise_hour gg_noise_hour,community=c7,device=n2 laeq=52 1700000000000000000",
        ]
    );
    drop(tx);
    pipeline.await.unwrap();
    stop.cancel();
}
