//! The MQTT source against a real Mosquitto: readings and dead letters in
//! receive order, manual acks, oversized messages, unknown topics, and
//! reconnects after broker restarts with and without a persistent session.
//! Its helpers serve `mqtt5` too (the same source over MQTT 5).

use crate::common;

use common::{free_port, Mosquitto};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use greengate::config::Check;
use greengate::lineproto::to_line;
use greengate::pipeline::SourceBatch;
use greengate::profiles::config::ProfilesConfig;
use greengate::profiles::ProfileSet;
use greengate::sources::mqtt::config::{MqttConfig, Subscription};

pub const NOISE_TOPIC: &str = "community/c1/noise/nl-7/up";

pub fn profiles() -> Arc<ProfileSet> {
    let mut cx = Check::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config"));
    let set = ProfileSet::load(&ProfilesConfig::default(), &mut cx);
    assert!(cx.problems().is_empty(), "{:?}", cx.problems());
    Arc::new(set)
}

pub fn config(port: u16, client_id: &str) -> MqttConfig {
    let cfg = MqttConfig {
        port,
        client_id: client_id.into(),
        keep_alive: Duration::from_secs(5),
        reconnect_min: Duration::from_millis(100),
        reconnect_max: Duration::from_millis(800),
        subscriptions: vec![
            Subscription {
                filter: "community/+site/noise/+device/up".into(),
                profile: "fiware-noise".into(),
                ..Default::default()
            },
            Subscription {
                filter: "community/+site/lp/+device".into(),
                profile: "line-protocol".into(),
                tags: greengate::config::Tags([("zone".to_string(), "roof".to_string())].into()),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    match cfg.planned(std::path::Path::new("."), &profiles()) {
        Ok(cfg) => cfg,
        Err(p) => panic!("{p}"),
    }
}

pub struct Running {
    pub rx: mpsc::Receiver<SourceBatch>,
    pub stop: CancellationToken,
    pub task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Runs `cfg` planned as `Config::load` plans it (a test may have
    /// changed its subscriptions since [`config`]).
    pub fn start(cfg: MqttConfig) -> Running {
        let cfg = match cfg.planned(std::path::Path::new("."), &profiles()) {
            Ok(cfg) => cfg,
            Err(p) => panic!("{p}"),
        };
        let (tx, rx) = mpsc::channel(16);
        let stop = CancellationToken::new();
        let task = tokio::spawn(greengate::sources::mqtt::run(cfg, tx, stop.clone()));
        Running { rx, stop, task }
    }

    /// The next batch; a generous liveness guard, not a timing assertion.
    pub async fn next(&mut self) -> SourceBatch {
        tokio::time::timeout(Duration::from_secs(30), self.rx.recv())
            .await
            .expect("no batch from the MQTT source within 30 s")
            .expect("source channel closed")
    }

    pub async fn try_next(&mut self, wait: Duration) -> Option<SourceBatch> {
        tokio::time::timeout(wait, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

pub fn lines(b: &SourceBatch) -> Vec<String> {
    b.readings.iter().map(|r| to_line(r).unwrap()).collect()
}

pub fn noise(laeq: f64) -> String {
    format!(r#"{{"dateObserved": "2025-11-29T12:00:00+08:00", "LAeq": {laeq}, "LAmax": 70}}"#)
}

/// Publishes until the source delivers a batch: the subscription may not be
/// in place yet right after a (re)connect.
pub async fn publish_until_received(
    broker: &Mosquitto,
    run: &mut Running,
    topic: &str,
    payload: &str,
) -> SourceBatch {
    for _ in 0..60 {
        broker.publish(topic, payload, 1);
        if let Some(b) = run.try_next(Duration::from_millis(500)).await {
            return b;
        }
    }
    panic!("nothing received on {topic}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn good_and_bad_messages_arrive_in_order_as_readings_and_dead_letters() {
    let broker = Mosquitto::start();
    let mut run = Running::start(config(broker.port(), "gg-order"));
    let first = publish_until_received(&broker, &mut run, NOISE_TOPIC, &noise(50.0)).await;
    assert_eq!(
        lines(&first),
        ["noise,device=nl-7,site=c1 laeq=50,lamax=70 1764388800000000000"]
    );
    broker.publish(NOISE_TOPIC, "{not json", 1);
    broker.publish(
        NOISE_TOPIC,
        r#"{"dateObserved": "2025-11-29T12:00:00+08:00", "LAmax": 70}"#,
        1,
    );
    broker.publish(
        "community/c1/lp/gw-1",
        "env temp=21.5 5\nenv,zone=own rh=40i 6",
        1,
    );
    broker.publish(NOISE_TOPIC, &noise(51.5), 1);

    let bad_json = run.next().await;
    assert!(bad_json.readings.is_empty());
    assert_eq!(bad_json.dead.len(), 1);
    assert_eq!(bad_json.dead[0].origin, NOISE_TOPIC);
    assert!(
        bad_json.dead[0].reason.starts_with("invalid_json: "),
        "{}",
        bad_json.dead[0].reason
    );
    assert_eq!(bad_json.dead[0].payload, b"{not json");
    assert!(
        bad_json.ack.is_some(),
        "rejected messages are acknowledged too"
    );

    let missing = run.next().await;
    assert_eq!(
        missing.dead[0].reason,
        r#"missing_field: profile fiware-noise: field laeq: path "LAeq" not found"#
    );

    let lp = run.next().await;
    assert_eq!(
        lines(&lp),
        [
            "env,device=gw-1,site=c1,zone=roof temp=21.5 5",
            "env,device=gw-1,site=c1,zone=own rh=40i 6"
        ]
    );
    let last = run.next().await;
    assert_eq!(
        lines(&last),
        ["noise,device=nl-7,site=c1 laeq=51.5,lamax=70 1764388800000000000"]
    );
    for b in [first, bad_json, missing, lp, last] {
        b.ack.unwrap().fire();
    }
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_acknowledged_messages_are_not_redelivered() {
    let broker = Mosquitto::start();
    let mut run = Running::start(config(broker.port(), "gg-acks"));
    let acked = publish_until_received(&broker, &mut run, NOISE_TOPIC, &noise(40.0)).await;
    acked.ack.unwrap().fire();
    broker.publish(NOISE_TOPIC, &noise(41.0), 1);
    let unacked = run.next().await;
    assert_eq!(
        lines(&unacked),
        ["noise,device=nl-7,site=c1 laeq=41,lamax=70 1764388800000000000"]
    );
    drop(unacked); // never stored: its ack must never reach the broker
    run.stop().await;

    // Same client id, persistent session: the broker redelivers only 41.
    let mut run = Running::start(config(broker.port(), "gg-acks"));
    let again = run.next().await;
    assert_eq!(
        lines(&again),
        ["noise,device=nl-7,site=c1 laeq=41,lamax=70 1764388800000000000"]
    );
    again.ack.unwrap().fire();
    broker.publish(NOISE_TOPIC, &noise(42.0), 1);
    let next = run.next().await;
    assert_eq!(
        lines(&next),
        ["noise,device=nl-7,site=c1 laeq=42,lamax=70 1764388800000000000"]
    );
    next.ack.unwrap().fire();
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_are_dead_lettered_without_losing_the_next_good_one() {
    let broker = Mosquitto::start();
    let mut cfg = config(broker.port(), "gg-big");
    cfg.max_payload_bytes = 1024;
    let mut run = Running::start(cfg);
    let warm = publish_until_received(&broker, &mut run, NOISE_TOPIC, &noise(30.0)).await;
    warm.ack.unwrap().fire();

    // Above max_payload_bytes: dead-lettered whole up to 4 KiB, by its
    // first 4 KiB beyond (rumqttc's limit is receive_limit_bytes, 32 MiB by
    // default, so neither fails the connection).
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(2000));
    broker.publish(NOISE_TOPIC, &big, 1);
    let huge = format!("{{\"pad\": \"{}\"}}", "y".repeat(100_000));
    broker.publish(NOISE_TOPIC, &huge, 1);
    broker.publish(NOISE_TOPIC, &noise(31.0), 1);

    let mut seen = std::collections::BTreeSet::new();
    let good = loop {
        let b = run.next().await;
        if !b.readings.is_empty() {
            break b;
        }
        assert!(
            b.dead[0].reason.starts_with("oversized: payload of"),
            "{}",
            b.dead[0].reason
        );
        seen.insert(b.dead[0].payload.len());
        b.ack.unwrap().fire();
    };
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), [big.len(), 4096]);
    assert_eq!(
        lines(&good),
        ["noise,device=nl-7,site=c1 laeq=31,lamax=70 1764388800000000000"]
    );
    good.ack.unwrap().fire();
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_left_over_from_an_old_subscription_are_rejected_as_unknown_topic() {
    let broker = Mosquitto::start();
    let mut old = config(broker.port(), "gg-old");
    old.subscriptions.push(Subscription {
        filter: "legacy/+device".into(),
        profile: "fiware-noise".into(),
        ..Default::default()
    });
    let mut run = Running::start(old);
    let b = publish_until_received(&broker, &mut run, "legacy/d1", &noise(20.0)).await;
    b.ack.unwrap().fire();
    run.stop().await;

    // Queued in the persistent session while greengate is away; the new
    // config no longer routes it.
    broker.publish("legacy/d1", &noise(21.0), 1);
    let mut run = Running::start(config(broker.port(), "gg-old"));
    let b = run.next().await;
    assert!(b.readings.is_empty());
    assert_eq!(b.dead[0].origin, "legacy/d1");
    assert!(
        b.dead[0].reason.starts_with("unknown_topic"),
        "{}",
        b.dead[0].reason
    );
    b.ack.unwrap().fire();
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_come_back_after_a_broker_restart_that_lost_the_session() {
    let port = free_port();
    let broker = Mosquitto::start_in(tempfile::tempdir().unwrap(), port, "");
    let mut run = Running::start(config(port, "gg-resub"));
    let b = publish_until_received(&broker, &mut run, NOISE_TOPIC, &noise(60.0)).await;
    b.ack.unwrap().fire();

    drop(broker); // killed, no persistence: the session is gone
    let broker = Mosquitto::start_in(tempfile::tempdir().unwrap(), port, "");
    // Nothing subscribes for us on the new broker: only a resubscribe after
    // the session-less ConnAck lets this through.
    let b = publish_until_received(&broker, &mut run, NOISE_TOPIC, &noise(61.0)).await;
    assert_eq!(
        lines(&b),
        ["noise,device=nl-7,site=c1 laeq=61,lamax=70 1764388800000000000"]
    );
    b.ack.unwrap().fire();
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_and_its_queue_survive_a_persistent_broker_restart() {
    let broker = Mosquitto::start_persistent("");
    let port = broker.port();
    let mut run = Running::start(config(port, "gg-persist"));
    let b = publish_until_received(&broker, &mut run, NOISE_TOPIC, &noise(70.0)).await;
    b.ack.unwrap().fire();
    run.stop().await;

    // Queued for the absent session, then a clean broker shutdown (SIGTERM
    // writes the persistence file) and restart.
    broker.publish(NOISE_TOPIC, &noise(71.0), 1);
    let _broker = broker.stop().start();

    let mut run = Running::start(config(port, "gg-persist"));
    let b = run.next().await;
    assert_eq!(
        lines(&b),
        ["noise,device=nl-7,site=c1 laeq=71,lamax=70 1764388800000000000"]
    );
    b.ack.unwrap().fire();
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_source_reconnects_when_the_broker_comes_back() {
    let port = free_port();
    // No broker yet: the source backs off and keeps trying.
    let mut run = Running::start(config(port, "gg-late"));
    tokio::time::sleep(Duration::from_millis(700)).await;
    let broker = Mosquitto::start_in(tempfile::tempdir().unwrap(), port, "");
    let b = publish_until_received(&broker, &mut run, NOISE_TOPIC, &noise(80.0)).await;
    assert_eq!(
        lines(&b),
        ["noise,device=nl-7,site=c1 laeq=80,lamax=70 1764388800000000000"]
    );
    b.ack.unwrap().fire();
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_fired_after_shutdown_still_reach_the_broker() {
    let broker = Mosquitto::start();
    let mut run = Running::start(config(broker.port(), "gg-drain"));
    let b = publish_until_received(&broker, &mut run, NOISE_TOPIC, &noise(90.0)).await;
    // Sources stop first; the pipeline stores what it has and acks after.
    run.stop.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
    b.ack.unwrap().fire();
    run.task.await.unwrap();

    let mut run = Running::start(config(broker.port(), "gg-drain"));
    broker.publish(NOISE_TOPIC, &noise(91.0), 1);
    let next = run.next().await;
    assert_eq!(
        lines(&next),
        ["noise,device=nl-7,site=c1 laeq=91,lamax=70 1764388800000000000"],
        "90 was acknowledged during shutdown and must not come back"
    );
    next.ack.unwrap().fire();
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_pipeline_makes_the_source_wait_and_nothing_is_lost() {
    let broker = Mosquitto::start();
    let mut run = Running::start(config(broker.port(), "gg-slow"));
    let b = publish_until_received(&broker, &mut run, NOISE_TOPIC, &noise(1.0)).await;
    b.ack.unwrap().fire();
    // Far more than the channel holds (16) while nobody reads.
    for i in 0..60 {
        broker.publish(NOISE_TOPIC, &noise(100.0 + i as f64), 1);
    }
    for i in 0..60 {
        let b = run.next().await;
        assert_eq!(
            lines(&b),
            [format!(
                "noise,device=nl-7,site=c1 laeq={},lamax=70 1764388800000000000",
                100 + i
            )]
        );
        b.ack.unwrap().fire();
    }
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_sessions_split_the_stream_and_deliver_every_message_once() {
    let broker = Mosquitto::start();
    let mut cfg = config(broker.port(), "gg-shared");
    cfg.sessions = 3;
    let mut run = Running::start(cfg);
    let b = publish_until_received(&broker, &mut run, NOISE_TOPIC, &noise(1.0)).await;
    b.ack.unwrap().fire();
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..30 {
        broker.publish(NOISE_TOPIC, &noise(200.0 + i as f64), 1);
    }
    while seen.len() < 30 {
        let b = run.next().await;
        let laeq = b.readings[0]
            .field("laeq")
            .and_then(|v| v.as_f64())
            .unwrap();
        if laeq >= 200.0 {
            assert!(seen.insert(laeq as i64), "{laeq} delivered twice");
        }
        b.ack.unwrap().fire();
    }
    assert_eq!(seen, (200..230).collect());
    run.stop().await;
}
