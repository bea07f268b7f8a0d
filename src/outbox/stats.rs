//! State shared by the writer and the reader of one outbox, and the
//! read-only [`OutboxStats`] view the HTTP endpoints use.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;

use super::format::Position;
use crate::metrics::{self, Counter, Gauge};

pub(super) struct State {
    /// The reader may read up to here.
    pub committed: Position,
    pub writer_alive: bool,
    /// Everything committed is acknowledged.
    pub empty: bool,
    /// When this process last saw the outbox empty (unix ms).
    pub last_empty_ms: u64,
    /// The segment the reader reads (or is about to open).
    pub reading: u64,
    /// Segments deleted by `drop_oldest` that the reader has not passed yet.
    pub dropped: Vec<u64>,
}

pub(super) struct Metrics {
    pub bytes: Gauge,
    pub age: Gauge,
    pub appended: Counter,
    pub acked: Counter,
    pub corrupt: Counter,
    pub corrupt_segments: Counter,
    pub write_errors: Counter,
    pub fs_available: Gauge,
    pub torn: Counter,
    pub missing: Counter,
    pub dropped: Counter,
}

impl Metrics {
    fn new(name: &str) -> Self {
        let l = &[("name", name)];
        Metrics {
            bytes: metrics::gauge("outbox_bytes", "Bytes of segment files in the outbox.", l),
            age: metrics::gauge(
                "outbox_oldest_record_age_seconds",
                "Upper bound on the age of the oldest unacknowledged record.",
                l,
            ),
            appended: metrics::counter(
                "outbox_records_appended_total",
                "Records committed to the outbox.",
                l,
            ),
            acked: metrics::counter(
                "outbox_records_acked_total",
                "Records acknowledged by the sink.",
                l,
            ),
            corrupt: metrics::counter(
                "outbox_records_corrupt_total",
                "Corrupt records quarantined (a region with broken framing counts its records, at least one).",
                l,
            ),
            corrupt_segments: metrics::counter(
                "outbox_segments_quarantined_total",
                "Whole segments moved to quarantine on open (bad header, unreadable).",
                l,
            ),
            write_errors: metrics::counter(
                "outbox_write_errors_total",
                "Failed segment writes, flushes or fsyncs (each rolled back its uncommitted group).",
                l,
            ),
            fs_available: metrics::gauge(
                "outbox_fs_available_bytes",
                "Free bytes of the outbox's filesystem at the last probe.",
                l,
            ),
            torn: metrics::counter(
                "outbox_torn_tails_total",
                "Torn segment tails truncated on open.",
                l,
            ),
            missing: metrics::counter(
                "outbox_segments_missing_total",
                "Segments found missing and skipped by the reader.",
                l,
            ),
            dropped: metrics::counter(
                "outbox_records_dropped_total",
                "Records dropped unsent by drop_oldest to make room.",
                l,
            ),
        }
    }
}

pub(super) struct Shared {
    pub name: String,
    pub max_bytes: u64,
    pub state: Mutex<State>,
    /// Signalled (with `state` held) when space is released.
    pub space: Condvar,
    /// Wakes the reader on commit and when the writer goes away.
    pub notify: Notify,
    pub bytes: AtomicU64,
    pub full: AtomicBool,
    /// Creation time (unix ms) of the oldest segment with unacknowledged records.
    pub oldest_created_ms: AtomicU64,
    pub m: Metrics,
}

impl Shared {
    pub(super) fn new(name: String, max_bytes: u64, committed: Position, empty: bool) -> Self {
        let m = Metrics::new(&name);
        Shared {
            name,
            max_bytes,
            state: Mutex::new(State {
                committed,
                writer_alive: true,
                empty,
                last_empty_ms: if empty { now_ms() } else { 0 },
                reading: committed.segment,
                dropped: Vec::new(),
            }),
            space: Condvar::new(),
            notify: Notify::new(),
            bytes: AtomicU64::new(0),
            full: AtomicBool::new(false),
            oldest_created_ms: AtomicU64::new(0),
            m,
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn refresh_gauges(&self) {
        self.m.bytes.set(self.bytes.load(Ordering::Relaxed) as i64);
        self.m.age.set(self.oldest_age().as_secs() as i64);
    }

    pub(super) fn oldest_age(&self) -> Duration {
        let (empty, last_empty) = {
            let s = self.lock();
            (s.empty, s.last_empty_ms)
        };
        if empty {
            return Duration::ZERO;
        }
        let since = self
            .oldest_created_ms
            .load(Ordering::Relaxed)
            .max(last_empty);
        Duration::from_millis(now_ms().saturating_sub(since))
    }
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A cheap, cloneable read-only view of one outbox, for readiness and
/// metrics (`/readyz` reports not ready while [`OutboxStats::is_full`]).
#[derive(Clone)]
pub struct OutboxStats(pub(super) Arc<Shared>);

impl OutboxStats {
    /// The outbox name (the `name` label of its metrics).
    pub fn name(&self) -> &str {
        &self.0.name
    }
    /// Bytes of segment files on disk.
    pub fn bytes(&self) -> u64 {
        self.0.bytes.load(Ordering::Relaxed)
    }
    pub fn max_bytes(&self) -> u64 {
        self.0.max_bytes
    }
    /// `bytes / max_bytes`, 0.0 ..= 1.0 (for a high-water mark such as 0.9).
    pub fn usage(&self) -> f64 {
        self.bytes() as f64 / self.0.max_bytes.max(1) as f64
    }
    /// An append was refused for lack of space and no space was freed since.
    pub fn is_full(&self) -> bool {
        self.0.full.load(Ordering::Relaxed)
    }
    /// Upper bound on the age of the oldest unacknowledged record (0 when
    /// everything committed is acknowledged).
    pub fn oldest_age(&self) -> Duration {
        self.0.oldest_age()
    }
    /// Updates `outbox_bytes` and `outbox_oldest_record_age_seconds` (they are
    /// also updated on every commit and ack; call this before rendering
    /// `/metrics` so the age keeps growing while nothing moves).
    pub fn refresh_gauges(&self) {
        self.0.refresh_gauges()
    }
}
