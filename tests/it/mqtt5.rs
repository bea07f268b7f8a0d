//! The MQTT source with `protocol = 5` against a real Mosquitto (issue 10
//! point 3, issue 15 point 3): the same manual acks and persistent session
//! as 3.1.1, the receive limit announced as Maximum Packet Size (the broker
//! drops a larger message and the ones behind it arrive), Receive Maximum
//! as the broker's window, shared subscriptions, and reason codes of
//! CONNACK and SUBACK counted in `mqtt_reason_codes_total` (a broker
//! DISCONNECT's is unit-tested in `common::mqtt::client`: Mosquitto 2.0.11
//! sent none in any case tried here).

use crate::common;
use crate::faults_support::{
    assert_all_stored, dead_letters, lp_message, publish, wait_for_distinct, write_config, Daemon,
    LP_TOPIC,
};
use crate::mqtt::{config, lines, noise, publish_until_received, Running, NOISE_TOPIC};

use common::{Mosquitto, Victoria};
use std::time::Duration;

use greengate::config::{Check, Validate};
use greengate::sources::mqtt::config::{MqttConfig, Protocol};

fn config5(port: u16, client_id: &str) -> MqttConfig {
    let mut cfg = config(port, client_id);
    cfg.protocol = Protocol::V5;
    let mut cx = Check::new(".");
    cfg.validate("sources.mqtt", &mut cx);
    assert!(cx.problems().is_empty(), "{:?}", cx.problems());
    cfg
}

pub(crate) fn reason_count(packet: &str, code: &str) -> u64 {
    greengate::common::mqtt::client::reason_counter(packet, code).get()
}

fn line(laeq: u32) -> String {
    format!("noise,device=nl-7,site=c1 laeq={laeq},lamax=70 1764388800000000000")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_acknowledged_messages_are_not_redelivered_with_mqtt_5() {
    let broker = Mosquitto::start();
    let mut run = Running::start(config5(broker.port(), "gg5-acks"));
    let acked = publish_until_received(&broker, &mut run, NOISE_TOPIC, &noise(40.0)).await;
    acked.ack.unwrap().fire();
    broker.publish(NOISE_TOPIC, &noise(41.0), 1);
    let unacked = run.next().await;
    assert_eq!(lines(&unacked), [line(41)]);
    drop(unacked); // never stored: its ack must never reach the broker
    run.stop().await;

    let mut run = Running::start(config5(broker.port(), "gg5-acks"));
    let again = run.next().await;
    assert_eq!(lines(&again), [line(41)], "only the unacknowledged one");
    again.ack.unwrap().fire();
    broker.publish(NOISE_TOPIC, &noise(42.0), 1);
    let next = run.next().await;
    assert_eq!(lines(&next), [line(42)]);
    next.ack.unwrap().fire();
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_published_while_greengate_is_down_arrive_after_its_restart_with_mqtt_5() {
    let broker = Mosquitto::start();
    let mut cfg = config5(broker.port(), "gg5-away");
    cfg.session_expiry = Some(Duration::from_secs(3600));
    let mut run = Running::start(cfg.clone());
    let b = publish_until_received(&broker, &mut run, NOISE_TOPIC, &noise(70.0)).await;
    b.ack.unwrap().fire();
    run.stop().await;

    // Nobody connected: the broker keeps them in the expiring session.
    for i in 0..5 {
        broker.publish(NOISE_TOPIC, &noise(71.0 + f64::from(i)), 1);
    }
    let mut run = Running::start(cfg);
    for i in 0..5 {
        let b = run.next().await;
        assert_eq!(lines(&b), [line(71 + i)]);
        b.ack.unwrap().fire();
    }
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receive_maximum_is_the_brokers_window_not_its_max_inflight_messages() {
    // The broker alone would have 2 unacknowledged messages out to us.
    let broker = Mosquitto::start_with("max_inflight_messages 2\n");
    let mut cfg = config5(broker.port(), "gg5-window");
    cfg.receive_maximum = Some(20);
    let mut run = Running::start(cfg);
    let b = publish_until_received(&broker, &mut run, NOISE_TOPIC, &noise(1.0)).await;
    b.ack.unwrap().fire();
    for i in 0..20 {
        broker.publish(NOISE_TOPIC, &noise(100.0 + f64::from(i)), 1);
    }
    // All 20 arrive while none is acknowledged.
    let mut held = Vec::new();
    for i in 0..20 {
        let b = run.next().await;
        assert_eq!(lines(&b), [line(100 + i)]);
        held.push(b);
    }
    for b in held {
        b.ack.unwrap().fire();
    }
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_sessions_split_the_stream_and_deliver_every_message_once_with_mqtt_5() {
    let broker = Mosquitto::start();
    let mut cfg = config5(broker.port(), "gg5-shared");
    cfg.sessions = 3;
    let mut run = Running::start(cfg);
    let b = publish_until_received(&broker, &mut run, NOISE_TOPIC, &noise(1.0)).await;
    b.ack.unwrap().fire();
    for i in 0..30 {
        broker.publish(NOISE_TOPIC, &noise(200.0 + f64::from(i)), 1);
    }
    let mut seen = std::collections::BTreeSet::new();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connack_is_counted_by_its_reason_code_and_retried() {
    let broker = Mosquitto::start_with("allow_anonymous false\n");
    let before = reason_count("connack", "not_authorized");
    let run = Running::start(config5(broker.port(), "gg5-refused"));
    // Mosquitto answers CONNACK 0x87 (not authorized); the source backs off
    // and tries again, counting each refusal.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while reason_count("connack", "not_authorized") < before + 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "no CONNACK not_authorized counted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suback_codes_are_counted_and_a_taken_over_session_comes_back() {
    let broker = Mosquitto::start();
    let cfg = config5(broker.port(), "gg5-reasons");
    let granted = reason_count("suback", "granted_qos_1");
    let mut run = Running::start(cfg);
    let b = publish_until_received(&broker, &mut run, NOISE_TOPIC, &noise(10.0)).await;
    b.ack.unwrap().fire();
    assert!(
        reason_count("suback", "granted_qos_1") >= granted + 2,
        "one per subscription"
    );

    // Another client with our id takes the session over (and, with no
    // session expiry of its own, ends it). Mosquitto 2.0.11 closes our
    // connection without a DISCONNECT reason code; we reconnect, find no
    // session and subscribe again.
    let mut o = rumqttc::v5::MqttOptions::new("gg5-reasons", "127.0.0.1", broker.port());
    o.set_clean_start(false);
    let (_c, mut ev) = rumqttc::v5::AsyncClient::new(o, 10);
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ev.poll()).await {
            Ok(Ok(rumqttc::v5::Event::Incoming(rumqttc::v5::Incoming::ConnAck(_)))) => break,
            Ok(Ok(_)) => {}
            other => panic!("the intruder could not connect: {other:?}"),
        }
    }
    drop(ev);
    let b = publish_until_received(&broker, &mut run, NOISE_TOPIC, &noise(11.0)).await;
    assert_eq!(lines(&b), [line(11)]);
    b.ack.unwrap().fire();
    assert!(reason_count("suback", "granted_qos_1") >= granted + 4);
    run.stop().await;
}

/// Issue 10 point 3 with MQTT 5: `receive_limit_bytes` is announced as the
/// Maximum Packet Size, so the broker drops a larger message instead of
/// sending it, and nothing blocks (with 3.1.1 and no broker limit it is
/// redelivered forever: `faults_inputs::above_the_receive_limit_...`).
#[test]
fn with_mqtt_5_the_broker_drops_a_message_over_the_receive_limit_and_the_ones_behind_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(); // no message_size_limit
    let vm = Victoria::start();
    let http_port = common::free_port();
    let mqtt = "protocol = 5\nmax_payload_bytes = 4096\nreceive_limit_bytes = 1048576";
    let cfg = write_config(dir.path(), broker.port(), http_port, &vm, "", mqtt);
    let d = Daemon::start(&cfg, http_port, dir.path());
    let mut queued = vec!["x".repeat(2 << 20)];
    queued.extend((0..5).map(lp_message));
    publish(broker.port(), LP_TOPIC, queued);
    let s = wait_for_distinct(&vm, "fault_seq", 5, Duration::from_secs(120));
    assert_all_stored(&s, 5, &d.log());
    let m = d.metrics();
    assert_eq!(d.metric("mqtt_connection_errors_total"), 0.0, "{m}");
    assert_eq!(d.metric("mqtt_connections_total"), 1.0, "{m}");
    assert!(!m.contains("packet_too_large"), "{m}");
    assert!(
        m.contains(r#"greengate_mqtt_reason_codes_total{packet="connack",code="success"} 1"#),
        "{m}"
    );
    assert!(
        dead_letters(dir.path()).is_empty(),
        "the broker dropped it: it never reached greengate"
    );
    assert!(d.log().contains("MQTT 5 connected"), "{}", d.log());
}

/// Issue 15 point 3: a profile takes the payload timestamp from an MQTT 5
/// user property (the shipped `mqtt5-noise` profile, `ts` in epoch ms); a
/// message without it is dead-lettered as a bad timestamp, not stored at
/// the receive time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_payload_timestamp_comes_from_a_user_property_with_mqtt_5() {
    let broker = Mosquitto::start();
    let mut cfg = config5(broker.port(), "gg5-props");
    cfg.subscriptions = vec![greengate::sources::mqtt::config::Subscription {
        filter: "community/+site/noise5/+device/up".into(),
        profile: "mqtt5-noise".into(),
        ..Default::default()
    }];
    let mut run = Running::start(cfg);
    let topic = "community/c1/noise5/ns-42/up";
    let first = loop {
        // The subscription may not be in place right after the connect.
        broker.publish_v5(
            topic,
            r#"{"laeq": 55.5, "lamax": 70.1}"#,
            1,
            &[("origin", "sensor"), ("ts", "1764388800123")],
        );
        if let Some(b) = run.try_next(Duration::from_millis(500)).await {
            break b;
        }
    };
    assert_eq!(
        lines(&first),
        ["noise,device=ns-42,site=c1 laeq=55.5,lamax=70.1 1764388800123000000"]
    );
    first.ack.unwrap().fire();

    broker.publish_v5(topic, r#"{"laeq": 56}"#, 1, &[]);
    let missing = run.next().await;
    assert!(missing.readings.is_empty());
    assert_eq!(
        missing.dead[0].reason,
        r#"bad_timestamp: profile mqtt5-noise: time: user property "ts" not found (it is carried by MQTT 5 only)"#
    );
    missing.ack.unwrap().fire();

    broker.publish_v5(topic, r#"{"laeq": 57}"#, 1, &[("ts", "1764388801000")]);
    let next = run.next().await;
    assert_eq!(
        lines(&next),
        ["noise,device=ns-42,site=c1 laeq=57 1764388801000000000"]
    );
    next.ack.unwrap().fire();
    run.stop().await;
}
