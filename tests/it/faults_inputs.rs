//! Hostile inputs on real processes (issue 10, points 3 and 5): a real
//! Mosquitto (stock limits: it passes a message of tens of MiB), the
//! greengate binary and a real VictoriaMetrics.
//!
//! - A poison message (20 MiB, over `max_payload_bytes` but under
//!   `receive_limit_bytes`) queued first on the persistent session, and again
//!   while connected: every good message behind it is stored, it is one dead
//!   letter each time, and the session never reconnects.
//! - Forged readings: a payload that names another device, or an indicator
//!   measurement (`gg_*`), cannot speak for it.

use crate::common;
use crate::faults_support;

use std::time::Duration;

use common::{free_port, Mosquitto, Victoria};
use faults_support::*;

const BROKER: &str = "max_queued_messages 0\nmax_inflight_messages 1000\n";
const LONG: Duration = Duration::from_secs(240);
const POISON_BYTES: usize = 20 << 20;

fn messages(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(lp_message).collect()
}

/// A line-protocol-looking message far over the payload limit.
fn poison() -> String {
    let mut s = String::from("fault seq=666666i ");
    s.push_str(&"9".repeat(POISON_BYTES - s.len()));
    s
}

fn assert_poison_dead_letters(dir: &std::path::Path, n: usize) {
    let dead = dead_letters(dir);
    assert_eq!(
        dead.len(),
        n,
        "one dead letter per poison message: {dead:?}"
    );
    for d in dead {
        assert_eq!(d["origin"], LP_TOPIC, "{d}");
        let reason = d["reason"].as_str().unwrap_or_default();
        assert!(
            reason.starts_with("oversized: payload of 20971520 bytes"),
            "{reason}"
        );
        let payload = d["payload"].as_str().unwrap_or_default();
        assert!(
            payload.starts_with("fault seq=666666i 999"),
            "{payload:.40}"
        );
        assert!(
            payload.len() <= 4096,
            "the dead letter keeps the start only"
        );
    }
}

#[test]
fn a_poison_message_is_dead_lettered_and_never_blocks_the_ones_behind_it() {
    let n = env_count("FAULTS_POISON_GOOD", 2_000);
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start_persistent(BROKER);
    let vm = Victoria::start();
    let http_port = free_port();
    let cfg = write_config(
        dir.path(),
        broker.port(),
        http_port,
        &vm,
        "",
        "max_payload_bytes = 4096",
    );
    // The session exists; greengate is away while the poison is queued first.
    let mut d = Daemon::start(&cfg, http_port, dir.path());
    assert_eq!(d.stop(), 0, "{}", d.log());
    let half = n / 2;
    let mut queued = vec![poison()];
    queued.extend(messages(0..half));
    publish(broker.port(), LP_TOPIC, queued);

    // Restart: the broker redelivers the poison first.
    let d = Daemon::start_run(&cfg, http_port, dir.path(), 1);
    let s = wait_for_distinct(&vm, "fault_seq", half, LONG);
    assert_all_stored(&s, half, &d.log());
    assert_poison_dead_letters(dir.path(), 1);

    // While connected: another poison message, then good ones.
    let mut live = vec![poison()];
    live.extend(messages(half..n));
    publish(broker.port(), LP_TOPIC, live);
    let s = wait_for_distinct(&vm, "fault_seq", n, LONG);
    assert_all_stored(&s, n, &d.log());
    assert_poison_dead_letters(dir.path(), 2);
    let m = d.metrics();
    assert_eq!(metric_sum(&m, "mqtt_connection_errors_total"), 0.0, "{m}");
    assert_eq!(metric_sum(&m, "mqtt_connections_total"), 1.0, "{m}");
    assert!(
        m.contains(r#"greengate_mqtt_messages_rejected_total{reason="oversized"} 2"#),
        "{m}"
    );

    // Both were acknowledged: a restart redelivers neither.
    let mut d = d;
    assert_eq!(d.stop(), 0, "{}", d.log());
    let d = Daemon::start_run(&cfg, http_port, dir.path(), 2);
    publish(broker.port(), LP_TOPIC, messages(n..n + 10));
    let s = wait_for_distinct(&vm, "fault_seq", n + 10, LONG);
    assert_all_stored(&s, n + 10, &d.log());
    assert_poison_dead_letters(dir.path(), 2);
    let m = d.metrics();
    assert_eq!(metric_sum(&m, "mqtt_connection_errors_total"), 0.0, "{m}");
    assert_eq!(metric_sum(&m, "mqtt_connections_total"), 1.0, "{m}");
}

#[test]
fn forged_readings_cannot_speak_for_another_device_or_as_an_indicator() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start_with(BROKER);
    let vm = Victoria::start();
    let http_port = free_port();
    let cfg = write_config(dir.path(), broker.port(), http_port, &vm, "", "");
    let d = Daemon::start(&cfg, http_port, dir.path());
    // LP_TOPIC names dev-1; the first payload claims devB, the second is an
    // indicator of another device.
    let ts = |i: i64| (BASE_MS + i) * 1_000_000;
    let mut forged = vec![
        format!("fault,device=devB seq=0i {}", ts(0)),
        format!("gg_noise_day,device=noise-01 ld=20 {}", ts(1)),
    ];
    forged.extend(messages(1..10));
    publish(broker.port(), LP_TOPIC, forged);
    let s = wait_for_distinct(&vm, "fault_seq", 10, LONG);
    assert_all_stored(&s, 10, &d.log());
    let series = vm.export(r#"{__name__=~"fault_seq|gg_.*"}"#);
    assert!(!series.is_empty());
    for s in &series {
        assert_eq!(s["metric"]["__name__"], "fault_seq", "{s}");
        assert_eq!(
            s["metric"]["device"], "dev-1",
            "stored as the topic's device: {s}"
        );
    }
    let dead = dead_letters(dir.path());
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["origin"], LP_TOPIC);
    let reason = dead[0]["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("reserved_measurement: "), "{reason}");
    let m = d.metrics();
    assert_eq!(metric_sum(&m, "mqtt_device_overrides_total"), 1.0, "{m}");
    assert!(
        m.contains(r#"greengate_mqtt_messages_rejected_total{reason="reserved_measurement"} 1"#),
        "{m}"
    );
}

/// What the docs say happens above `receive_limit_bytes`, and the fix.
#[test]
fn above_the_receive_limit_the_brokers_message_size_limit_must_drop_it() {
    let big = "x".repeat(2 << 20);
    let mqtt = "max_payload_bytes = 4096\nreceive_limit_bytes = 1048576";

    // Without a broker limit: the packet cannot be read, so it cannot be
    // acknowledged; it is redelivered and blocks what is behind it.
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start_with(BROKER);
    let vm = Victoria::start();
    let http_port = free_port();
    let cfg = write_config(dir.path(), broker.port(), http_port, &vm, "", mqtt);
    let d = Daemon::start(&cfg, http_port, dir.path());
    let mut queued = vec![big.clone()];
    queued.extend(messages(0..5));
    publish(broker.port(), LP_TOPIC, queued);
    wait_until("the packet to be refused twice", LONG, || {
        let m = d.metrics();
        m.contains(r#"reason="packet_too_large""#)
            && metric_sum(&m, "mqtt_messages_rejected_total") >= 2.0
    });
    assert!(d.metric("mqtt_connection_errors_total") >= 2.0);
    assert!(d.log().contains("MqttPacketTooLarge"), "{}", d.log());
    assert!(
        stored(&vm, "fault_seq").by_ts.is_empty(),
        "the messages behind it are blocked (the documented failure)"
    );
    drop(d);

    // With message_size_limit below receive_limit_bytes the broker drops it
    // on arrival (Mosquitto 2.0.11 logs "Dropped too large PUBLISH"; an MQTT
    // 3.1.1 publisher gets a PUBACK or, at times, a closed connection), so
    // nothing blocks.
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start_with(&format!("{BROKER}message_size_limit 524288\n"));
    let vm = Victoria::start();
    let http_port = free_port();
    let cfg = write_config(dir.path(), broker.port(), http_port, &vm, "", mqtt);
    let d = Daemon::start(&cfg, http_port, dir.path());
    let _ = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(common::publish::publish_all(
            broker.port(),
            LP_TOPIC.to_string(),
            vec![big],
            1,
        ));
    publish(broker.port(), LP_TOPIC, messages(0..5));
    let s = wait_for_distinct(&vm, "fault_seq", 5, LONG);
    assert_all_stored(&s, 5, &d.log());
    assert_eq!(d.metric("mqtt_connection_errors_total"), 0.0);
    assert!(
        dead_letters(dir.path()).is_empty(),
        "it never reached greengate"
    );
}
