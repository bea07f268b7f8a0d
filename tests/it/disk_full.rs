//! A full disk on a real filesystem (issue 10): the outbox lives on a 12 MB
//! tmpfs that the test mounts and fills, the store (a real VictoriaMetrics)
//! is stopped, and 12,000 QoS 1 messages go through a real Mosquitto into
//! the greengate binary. The disk fills mid-segment; then the store comes
//! back and the filler stays, so the only space is what greengate frees by
//! deleting what it delivered. Conservation: every message is stored, none
//! twice, nothing dead-lettered.
//!
//! Needs root to mount (as CI and the project's machines run): without it
//! the test fails loudly.

use crate::common;
use crate::faults_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::tmpfs::Tmpfs;
use common::{free_port, http, Mosquitto, Victoria};
use faults_support::*;

const BROKER: &str = "max_queued_messages 0\nmax_inflight_messages 1000\n";
const LONG: Duration = Duration::from_secs(240);

/// The test's directory; kept for a look with `FAULTS_KEEP=1`.
fn workdir() -> tempfile::TempDir {
    let mut b = tempfile::Builder::new();
    b.prefix("disk-full-");
    if std::env::var_os("FAULTS_KEEP").is_some() {
        b.disable_cleanup(true);
    }
    b.tempdir().unwrap()
}

fn wait_secs() -> Duration {
    Duration::from_secs(env_count("FAULTS_WAIT_SECS", 240) as u64)
}

fn messages(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(lp_message).collect()
}

fn readyz(port: u16) -> (u16, String) {
    http("GET", port, "/readyz", b"").unwrap_or((0, String::new()))
}

/// The daemon on a tmpfs outbox that has ~400 KB left: less than the
/// 12,000 messages need, and less than one segment.
fn setup(dir: &Path, min_free_percent: u8) -> (Mosquitto, Victoria, Tmpfs, PathBuf, u16) {
    setup_with(dir, min_free_percent, 400 * 1024, 1 << 20)
}

fn setup_with(
    dir: &Path,
    min_free_percent: u8,
    free: u64,
    segment_bytes: u64,
) -> (Mosquitto, Victoria, Tmpfs, PathBuf, u16) {
    let broker = Mosquitto::start_with(BROKER);
    let vm = Victoria::start();
    let fs = Tmpfs::mount(&dir.join("outbox"), "12m");
    fs.fill_leaving(free);
    let http_port = free_port();
    let cfg = write_config(
        dir,
        broker.port(),
        http_port,
        &vm,
        &format!("segment_bytes = {segment_bytes}\nmin_free_percent = {min_free_percent}"),
        "",
    );
    (broker, vm, fs, cfg, http_port)
}

#[test]
fn a_disk_that_fills_mid_segment_during_a_store_outage_loses_no_acknowledged_message() {
    let n = env_count("FAULTS_MESSAGES", 12_000);
    let dir = workdir();
    // No reserve: the writes themselves fail with ENOSPC mid-segment.
    let (broker, vm, _fs, cfg, http_port) = setup(dir.path(), 0);
    let mut d = Daemon::start(&cfg, http_port, dir.path());

    signal("STOP", vm.proc.child.id());
    let publisher = Publisher::start(broker.port(), LP_TOPIC, messages(0..n));
    wait_until("the outbox's disk to fill", LONG, || {
        d.metric("outbox_write_errors_total") > 0.0
    });
    // Not ready, with the reason, while acknowledgements are withheld.
    wait_until("/readyz to say the disk is full", LONG, || {
        let (code, body) = readyz(http_port);
        code == 503 && body.contains("storage (disk full")
    });
    assert_eq!(d.metric("pipeline_storage_writable"), 0.0);
    publisher.finish();
    d.assert_running();
    let received = d.metric("mqtt_messages_received_total");
    assert!(received < n as f64, "the broker holds the rest: {received}");
    let stuck = d.metrics();
    let acked_while_full = metric_sum(&stuck, "pipeline_readings_total");

    // The store returns; the filler stays: space comes only from what
    // greengate delivers and deletes.
    signal("CONT", vm.proc.child.id());
    let s = wait_for_distinct(&vm, "fault_seq", n, wait_secs());
    assert_all_stored(&s, n, &d.log());
    assert!(dead_letters(dir.path()).is_empty(), "nothing dead-lettered");
    wait_until("readiness to return", LONG, || readyz(http_port).0 == 200);
    let m = d.metrics();
    assert_eq!(metric_sum(&m, "pipeline_storage_writable"), 1.0);
    assert_eq!(metric_sum(&m, "mqtt_messages_received_total") as usize, n);
    eprintln!(
        "disk full: offered {n}, received while full {received}, committed while full \
         {acked_while_full}, write failures {}, stored {} (distinct {}), dead letters 0",
        metric_sum(&m, "outbox_write_errors_total"),
        s.samples,
        s.by_ts.len()
    );
    assert_eq!(d.stop(), 0, "{}", d.log());
}

#[test]
fn the_free_space_reserve_holds_acknowledgements_before_the_disk_is_full() {
    let n = env_count("FAULTS_MESSAGES", 20_000);
    let dir = workdir();
    // 1.2 MB free, 5 % of 12 MB (~630 KB) reserved: ~570 KB of room, less
    // than the messages need. Appends stop at the reserve, no write fails.
    let (broker, vm, _fs, cfg, http_port) = setup_with(dir.path(), 5, 1200 * 1024, 256 * 1024);
    let d = Daemon::start(&cfg, http_port, dir.path());
    signal("STOP", vm.proc.child.id());
    publish(broker.port(), LP_TOPIC, messages(0..n));
    wait_until("back-pressure from the reserve", LONG, || {
        d.metric("outbox_full_waits_total") > 0.0
    });
    assert_eq!(d.metric("outbox_write_errors_total"), 0.0);
    assert!(readyz(http_port).0 == 503, "not ready while full");
    signal("CONT", vm.proc.child.id());
    // The reserve stays in force (the filler stays): greengate still moves
    // everything through the little room above it.
    let s = wait_for_distinct(&vm, "fault_seq", n, wait_secs());
    assert_all_stored(&s, n, &d.log());
    assert_eq!(d.metric("outbox_write_errors_total"), 0.0);
}

#[test]
fn sigterm_on_a_full_disk_exits_and_the_restart_delivers_everything() {
    let n = env_count("FAULTS_MESSAGES", 12_000);
    let dir = workdir();
    let (broker, vm, fs, cfg, http_port) = setup(dir.path(), 0);
    // The broker keeps the session's queue for the restart.
    let mut d = Daemon::start(&cfg, http_port, dir.path());
    signal("STOP", vm.proc.child.id());
    publish(broker.port(), LP_TOPIC, messages(0..n));
    wait_until("the outbox's disk to fill", LONG, || {
        d.metric("outbox_write_errors_total") > 0.0
    });
    // Stuck on a full disk with the store down: SIGTERM still ends it
    // (Daemon::stop fails the test if it does not exit).
    assert_eq!(d.stop(), 0, "{}", d.log());
    assert!(
        d.log().contains("not acknowledged"),
        "the abandoned group is said: {}",
        d.log()
    );
    // Space returns and the store is back; the restart resumes the
    // session: what was not acknowledged is redelivered.
    std::fs::remove_file(fs.0.join("filler")).unwrap();
    signal("CONT", vm.proc.child.id());
    let d = Daemon::start_run(&cfg, http_port, dir.path(), 1);
    let s = wait_for_distinct(&vm, "fault_seq", n, wait_secs());
    assert_all_stored(&s, n, &d.log());
}
