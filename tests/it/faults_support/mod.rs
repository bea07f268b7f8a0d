//! Shared pieces of the fault tests (`tests/faults_*.rs`): the greengate
//! binary as a child process, a real QoS 1 publisher that waits for every
//! PUBACK, numbered messages whose points can be counted
//! one by one in VictoriaMetrics, and the conservation check.
//!
//! Every message carries a sequence number `i` in its timestamp
//! (`BASE_MS + i` milliseconds) and in its value, so the store can be
//! counted by distinct timestamps, and a duplicate (a redelivery after a
//! crash) is accepted only if it is the identical point.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::Victoria;

/// 2025-11-29T12:00:00+08:00 in ms: the timestamp of message 0.
pub const BASE_MS: i64 = 1_764_388_800_000;

/// A count from the environment (`FAULTS_MESSAGES=100000`), else `default`.
pub fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[allow(unused_imports)] // not every fault test signals the daemon
pub use crate::common::daemon::{metric_sum, signal, Daemon};

/// Writes greengate.toml: one MQTT source on `community/+site/lp/+device`
/// (line protocol) and `community/+site/noise/+device/up` (FIWARE noise JSON),
/// one sink to VictoriaMetrics. `extra` is appended (more `[outbox]` keys go
/// in `outbox_extra`, more `[sources.mqtt]` keys in `mqtt_extra`).
pub fn write_config(
    dir: &Path,
    mqtt_port: u16,
    http_port: u16,
    vm: &Victoria,
    outbox_extra: &str,
    mqtt_extra: &str,
) -> PathBuf {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let text = format!(
        r#"
[site]
community_id = "cn-faults-0001"

[http]
listen = "127.0.0.1:{http_port}"

[outbox]
dir = "{dir}/outbox"
fsync = "always"
{outbox_extra}

[dead_letter]
path = "{dir}/dead-letter.jsonl"

[profiles]
dirs = ["{repo}/config/devices"]

[sources.mqtt]
host = "127.0.0.1"
port = {mqtt_port}
client_id = "greengate-faults"
reconnect_min = "100ms"
reconnect_max = "1s"
{mqtt_extra}

[[sources.mqtt.subscriptions]]
filter = "community/+site/lp/+device"
profile = "line-protocol"

[[sources.mqtt.subscriptions]]
filter = "community/+site/noise/+device/up"
profile = "fiware-noise"

[sinks]
shutdown_grace = "5s"

[sinks.influxdb]
url = "{url}"
org = "o"
bucket = "b"
token = "t"
linger = "50ms"
timeout = "2s"
retry_min = "100ms"
retry_max = "1s"
"#,
        dir = dir.display(),
        repo = repo.display(),
        url = vm.url(),
    );
    let path = dir.join("greengate.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The topic the line-protocol messages go to.
pub const LP_TOPIC: &str = "community/faults/lp/dev-1";

/// Message `i` in line protocol: series `fault_seq`, value `i`, time `BASE_MS + i` ms.
pub fn lp_message(i: usize) -> String {
    format!("fault seq={i}i {}", (BASE_MS + i as i64) * 1_000_000)
}

/// A real QoS 1 publisher on its own thread (`tests/it/common/publish.rs`):
/// finishes when the broker has acknowledged every message.
pub struct Publisher {
    handle: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl Publisher {
    pub fn start(port: u16, topic: &str, messages: Vec<String>) -> Publisher {
        let topic = topic.to_string();
        let handle = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?
                .block_on(crate::common::publish::publish_all(
                    port, topic, messages, 100,
                ))
        });
        Publisher {
            handle: Some(handle),
        }
    }

    /// Whether it has finished (successfully or not).
    pub fn done(&mut self) -> bool {
        self.handle.as_ref().map_or(true, |h| h.is_finished())
    }

    /// Waits for the publisher; panics unless every message was acknowledged.
    pub fn finish(mut self) {
        if let Some(h) = self.handle.take() {
            match h.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => panic!("publisher failed: {e}"),
                Err(_) => panic!("publisher thread panicked"),
            }
        }
    }
}

/// Publishes `messages` and waits until the broker acknowledged them all.
pub fn publish(port: u16, topic: &str, messages: Vec<String>) {
    Publisher::start(port, topic, messages).finish();
}

/// What the store holds of one series: value by timestamp (ms), and the
/// number of samples including duplicates.
pub struct Stored {
    pub by_ts: BTreeMap<i64, f64>,
    pub samples: usize,
}

/// Reads every sample of `series`; panics if two samples with the same
/// timestamp differ (a duplicate must be the identical point).
pub fn stored(vm: &Victoria, series: &str) -> Stored {
    let mut by_ts = BTreeMap::new();
    let mut samples = 0;
    for s in vm.export(&format!("{{__name__=\"{series}\"}}")) {
        let ts = s["timestamps"].as_array().cloned().unwrap_or_default();
        let vs = s["values"].as_array().cloned().unwrap_or_default();
        for (t, v) in ts.iter().zip(vs.iter()) {
            let (Some(t), Some(v)) = (t.as_i64(), v.as_f64()) else {
                continue;
            };
            samples += 1;
            if let Some(old) = by_ts.insert(t, v) {
                assert_eq!(old, v, "duplicate point at {t} with a different value");
            }
        }
    }
    Stored { by_ts, samples }
}

/// Waits until `n` distinct points of `series` are stored (or `timeout`).
pub fn wait_for_distinct(vm: &Victoria, series: &str, n: usize, timeout: Duration) -> Stored {
    let start = Instant::now();
    loop {
        let s = stored(vm, series);
        if s.by_ts.len() >= n || start.elapsed() > timeout {
            return s;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Conservation for numbered messages `0..n`: each is stored exactly as
/// sent (value `i` at `BASE_MS + i`), nothing else is stored.
pub fn assert_all_stored(s: &Stored, n: usize, what: &str) {
    let missing: Vec<usize> = (0..n)
        .filter(|i| !s.by_ts.contains_key(&(BASE_MS + *i as i64)))
        .take(10)
        .collect();
    assert!(
        missing.is_empty(),
        "{what}: {} of {n} stored; first missing: {missing:?}",
        s.by_ts.len()
    );
    for (t, v) in &s.by_ts {
        assert_eq!(*v, (*t - BASE_MS) as f64, "{what}: wrong value at {t}");
    }
    assert_eq!(s.by_ts.len(), n, "{what}: points that were never sent");
}

/// Lines of the dead-letter file.
pub fn dead_letters(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("dead-letter.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Polls `cond` every 100 ms until it holds; panics with `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
