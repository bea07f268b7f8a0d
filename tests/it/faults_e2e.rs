//! Fault tests on real processes (issue 5, item 7): a real QoS 1 publisher
//! (`mosquitto_pub`), a real Mosquitto, the greengate binary and a real
//! VictoriaMetrics. Each test breaks one thing under load and then checks
//! conservation: every message the broker accepted is stored exactly as sent
//! or dead-lettered; a duplicate is allowed only as the identical point.
//!
//! Sizes come from the environment so the full issue figures can be run by
//! hand: `FAULTS_MESSAGES=100000 FAULTS_OUTAGE_SECS=60 FAULTS_BAD=10000
//! cargo test --release --test it -- faults_e2e:: --test-threads 1`.

use crate::common;
use crate::faults_support;

use std::time::Duration;

use common::{free_port, Mosquitto, Victoria};
use faults_support::*;

/// Broker settings the tests rely on (see docs/delivery.md): keep every
/// queued message for a disconnected persistent session.
const BROKER: &str = "max_queued_messages 0\nmax_inflight_messages 1000\n";

const LONG: Duration = Duration::from_secs(240);

fn messages(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(lp_message).collect()
}

#[test]
fn kill_9_while_publishing_loses_no_message() {
    let n = env_count("FAULTS_MESSAGES", 20_000);
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start_with(BROKER);
    let vm = Victoria::start();
    let http_port = free_port();
    let cfg = write_config(dir.path(), broker.port(), http_port, &vm, "", "");
    let mut d = Daemon::start(&cfg, http_port, dir.path());

    let mut publisher = Publisher::start(broker.port(), LP_TOPIC, messages(0..n));
    // Kill greengate mid-stream: once it has stored a tenth of the messages.
    wait_until("greengate to store a tenth", LONG, || {
        d.metric("pipeline_readings_total") >= (n / 10) as f64 || publisher.done()
    });
    d.kill9();
    publisher.finish();

    let d = Daemon::start_run(&cfg, http_port, dir.path(), 1);
    let s = wait_for_distinct(&vm, "fault_seq", n, LONG);
    assert_all_stored(&s, n, &d.log());
    assert!(
        dead_letters(dir.path()).is_empty(),
        "nothing is dead-lettered"
    );
}

#[test]
fn store_outage_under_load_loses_nothing_and_backlog_drains() {
    let n = env_count("FAULTS_MESSAGES", 20_000);
    let outage = Duration::from_secs(env_count("FAULTS_OUTAGE_SECS", 10) as u64);
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start_with(BROKER);
    let vm = Victoria::start();
    let http_port = free_port();
    let cfg = write_config(dir.path(), broker.port(), http_port, &vm, "", "");
    let mut d = Daemon::start(&cfg, http_port, dir.path());

    let half = n / 2;
    let publisher = Publisher::start(broker.port(), LP_TOPIC, messages(0..half));
    // The store stops answering (its sockets stay open: the worst case,
    // every write times out) while the publisher keeps going.
    signal("STOP", vm.proc.child.id());
    publisher.finish();
    publish(broker.port(), LP_TOPIC, messages(half..n));
    // Acknowledgements do not wait for the store: the readings reach the
    // outbox while the store is down, and build a backlog there.
    wait_until("readings to reach the outbox", LONG, || {
        d.metric("pipeline_readings_total") >= n as f64
    });
    std::thread::sleep(outage);
    d.assert_running();
    assert!(d.metric("outbox_bytes") > 0.0, "a backlog built up");
    signal("CONT", vm.proc.child.id());

    let s = wait_for_distinct(&vm, "fault_seq", n, LONG);
    assert_all_stored(&s, n, &d.log());
    // The backlog drains completely: every appended record acknowledged.
    wait_until("the outbox to drain", LONG, || {
        let m = d.metrics();
        metric_sum(&m, "outbox_records_acked_total")
            >= metric_sum(&m, "outbox_records_appended_total")
    });
    assert!(
        d.metric("influx_batches_retried_total") > 0.0,
        "writes to the stopped store were retried"
    );
    assert_eq!(d.stop(), 0, "{}", d.log());
}

#[test]
fn broker_restart_with_persistence_under_load_loses_nothing() {
    let n = env_count("FAULTS_MESSAGES", 20_000);
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start_persistent(&format!("{BROKER}autosave_interval 1\n"));
    let port = broker.port();
    let vm = Victoria::start();
    let http_port = free_port();
    let cfg = write_config(dir.path(), port, http_port, &vm, "", "");
    let d = Daemon::start(&cfg, http_port, dir.path());

    let half = n / 2;
    publish(port, LP_TOPIC, messages(0..half));
    // Restart while greengate is still working through the first half.
    let broker = broker.stop().start();
    publish(broker.port(), LP_TOPIC, messages(half..n));

    let s = wait_for_distinct(&vm, "fault_seq", n, LONG);
    assert_all_stored(&s, n, &d.log());
    assert!(
        dead_letters(dir.path()).is_empty(),
        "nothing is dead-lettered"
    );
}

/// Message `i` of the noise device: LAeq = `i`, observed at `BASE_MS + i` ms
/// (RFC 3339 in +08:00, as the FIWARE profile expects).
fn noise_message(i: usize) -> String {
    let ms = i % 1000;
    let s = (i / 1000) % 60;
    let m = (i / 60_000) % 60;
    let h = 12 + i / 3_600_000;
    format!(
        r#"{{"id":"nl-1","type":"NoiseLevelObserved","dateObserved":"2025-11-29T{h:02}:{m:02}:{s:02}.{ms:03}+08:00","LAeq":{i},"LAmax":90.5}}"#
    )
}

/// Bad message `k`: malformed JSON, oversized, or a wrong field type, in turn.
fn bad_message(k: usize) -> String {
    match k % 3 {
        0 => format!("{{\"dateObserved\": broken {k}"),
        1 => format!(r#"{{"pad":"{}","LAeq":1}}"#, "x".repeat(4096 + k % 100)),
        _ => format!(
            r#"{{"dateObserved":"2025-11-29T12:00:00+08:00","LAeq":"loud-{k}","LAmax":90.5}}"#
        ),
    }
}

#[test]
fn bad_messages_mixed_into_good_traffic_are_dead_lettered_and_counted() {
    let bad = env_count("FAULTS_BAD", 3_000);
    let good = env_count("FAULTS_GOOD", 5_000);
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start_with(BROKER);
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
    let mut d = Daemon::start(&cfg, http_port, dir.path());
    let pid = d.child.id();

    // Interleave: bad messages spread evenly through the good ones.
    let mut all = Vec::with_capacity(good + bad);
    let (mut g, mut b) = (0, 0);
    while g < good || b < bad {
        if b < bad && (g >= good || b * good <= g * bad) {
            all.push(bad_message(b));
            b += 1;
        } else {
            all.push(noise_message(g));
            g += 1;
        }
    }
    publish(broker.port(), "community/faults/noise/nl-1/up", all);

    let s = wait_for_distinct(&vm, "noise_laeq", good, LONG);
    assert_all_stored(&s, good, &d.log());
    wait_until("every bad message to be dead-lettered", LONG, || {
        dead_letters(dir.path()).len() >= bad
    });
    let dead = dead_letters(dir.path());
    assert_eq!(dead.len(), bad, "one dead letter per bad message");
    let m = d.metrics();
    assert_eq!(
        metric_sum(&m, "mqtt_messages_rejected_total") as usize,
        bad,
        "every bad message counted: {m}"
    );
    assert_eq!(
        metric_sum(&m, "mqtt_messages_received_total") as usize,
        good + bad,
        "received = stored + dead-lettered"
    );
    assert!(m.contains("reason=\"oversized\""), "{m}");
    // The same process, alive and healthy.
    d.assert_running();
    assert_eq!(d.child.id(), pid);
    assert_eq!(
        common::http("GET", http_port, "/healthz", b"").map(|r| r.0),
        Some(200)
    );
    assert_eq!(d.stop(), 0, "{}", d.log());
}

#[test]
fn full_outbox_holds_acks_and_releases_when_the_store_returns() {
    let n = env_count("FAULTS_FULL_MESSAGES", 5_000);
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start_with(BROKER);
    let vm = Victoria::start();
    let http_port = free_port();
    // ~60 bytes per record: 5,000 records are ~5 times the outbox.
    let cfg = write_config(
        dir.path(),
        broker.port(),
        http_port,
        &vm,
        "max_bytes = 65536\nsegment_bytes = 8192",
        "",
    );
    let mut d = Daemon::start(&cfg, http_port, dir.path());

    signal("STOP", vm.proc.child.id());
    publish(broker.port(), LP_TOPIC, messages(0..n));
    wait_until("back-pressure to engage", LONG, || {
        d.metric("outbox_full_waits_total") > 0.0
    });
    // Acknowledgements are withheld: the outbox holds fewer than were sent,
    // and no more than fits.
    std::thread::sleep(Duration::from_secs(2));
    let m = d.metrics();
    let stored = metric_sum(&m, "pipeline_readings_total");
    assert!(
        stored < n as f64,
        "stored {stored} of {n} with the store down"
    );
    assert!(metric_sum(&m, "outbox_bytes") <= 65536.0, "{m}");
    assert_eq!(
        common::http("GET", http_port, "/readyz", b"").map(|r| r.0),
        Some(503),
        "not ready while the outbox is above its high-water mark"
    );
    d.assert_running();

    signal("CONT", vm.proc.child.id());
    let s = wait_for_distinct(&vm, "fault_seq", n, LONG);
    assert_all_stored(&s, n, &d.log());
    assert!(
        dead_letters(dir.path()).is_empty(),
        "nothing is dead-lettered"
    );
    assert_eq!(d.stop(), 0, "{}", d.log());
}

#[test]
fn sigterm_exits_0_leaving_unsent_readings_on_disk_for_the_next_start() {
    let n = env_count("FAULTS_SHUTDOWN_MESSAGES", 5_000);
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start_with(BROKER);
    let vm = Victoria::start();
    let http_port = free_port();
    let cfg = write_config(dir.path(), broker.port(), http_port, &vm, "", "");
    let mut d = Daemon::start(&cfg, http_port, dir.path());

    // The store is down: everything received stays in the outbox.
    signal("STOP", vm.proc.child.id());
    publish(broker.port(), LP_TOPIC, messages(0..n));
    wait_until("every message in the outbox", LONG, || {
        d.metric("pipeline_readings_total") >= n as f64
    });
    assert_eq!(d.stop(), 0, "exit 0 within the grace period:\n{}", d.log());
    let on_disk: u64 = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .flatten()
        .flat_map(|sub| {
            std::fs::read_dir(sub.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter_map(|f| f.metadata().ok())
        .map(|m| m.len())
        .sum();
    assert!(on_disk > 0, "the unsent readings are on disk");

    signal("CONT", vm.proc.child.id());
    let d = Daemon::start_run(&cfg, http_port, dir.path(), 1);
    let s = wait_for_distinct(&vm, "fault_seq", n, LONG);
    assert_all_stored(&s, n, &d.log());
}
