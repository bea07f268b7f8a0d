//! Outbox settings (`[outbox]`): where the segments live, how large they may
//! grow, and when commits reach the disk.

use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::{rebase_path, Check, Rebase, Validate};

/// The smallest segment: one page of records keeps the roll rate sane.
pub const MIN_SEGMENT_BYTES: u64 = 4096;
/// The largest segment: record lengths are `u32`, and a segment is scanned
/// whole on open.
pub const MAX_SEGMENT_BYTES: u64 = 1 << 30;

/// When a commit is made durable (`fsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsyncPolicy {
    /// Every commit is `fsync`ed before it returns: a committed record
    /// survives a process crash (kill -9) AND a power loss or kernel panic.
    /// Costs one disk flush per commit (the pipeline groups many records per
    /// commit, so this is one flush per group, not per record).
    Always,
    /// A commit reaches the OS page cache at once and is `fsync`ed at most
    /// every `fsync_interval` (on the next commit after the interval, on
    /// `sync_if_due`, and when the writer is dropped): a committed record
    /// survives a process crash (kill -9); a power loss may lose the
    /// commits of the last interval (the kernel's own writeback, 30 s by
    /// default, bounds it when no later commit comes).
    Interval,
    /// Never `fsync`: survives a process crash, a power loss may lose
    /// anything not yet written back by the kernel. For tests and benchmarks.
    Never,
}

/// `[outbox]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct OutboxConfig {
    /// Root directory of the outboxes, relative to the config file. Each sink
    /// has its own outbox in `<dir>/<sink name>`; the directory's file name is
    /// the `name` label of the outbox metrics.
    pub dir: PathBuf,
    /// A segment file is closed and a new one started when the next record
    /// would pass this size. At least 4096, at most half of `max_bytes`.
    pub segment_bytes: u64,
    /// Upper bound of the bytes on disk per outbox (segment headers
    /// included). `append` returns `OutboxError::Full` when a record would
    /// pass it; space comes back when the sink acknowledges whole segments.
    pub max_bytes: u64,
    /// `always`, `interval` or `never`: see [`FsyncPolicy`].
    pub fsync: FsyncPolicy,
    /// With `fsync = "interval"`: the longest time a commit stays un-synced
    /// while commits keep coming.
    #[serde(deserialize_with = "crate::config::duration")]
    pub fsync_interval: Duration,
    /// The least time the pipeline leaves between two group commits while
    /// messages keep arriving, so one write, one `fsync` and one flush of
    /// acknowledgements cover more messages. It waits only while the group
    /// grows: when nothing new arrives for a moment (a quiet line, a
    /// broker whose in-flight window is full) the group commits at once.
    /// At most [`MAX_COMMIT_SPACING`]; zero commits as soon as the previous
    /// commit is done.
    #[serde(deserialize_with = "crate::config::duration")]
    pub commit_spacing: Duration,
    /// Upper bound of the outbox of raw Modbus readings
    /// (`<dir>/<sink name>-modbus`), which is droppable: when full, its
    /// oldest unsent segment is deleted (counted) instead of blocking the
    /// pollers. Default (unset): a quarter of `max_bytes`, at least
    /// [`MIN_RAW_MODBUS_BYTES`]. `0`: no such outbox, raw Modbus readings
    /// share the main outbox and its back-pressure. See [`Self::raw_modbus`].
    pub modbus_max_bytes: Option<u64>,
    /// Never fill the last this-many percent (at most 64 MiB) of the outbox's filesystem:
    /// below it `append` answers `Full` (back-pressure, acknowledgements
    /// withheld) as if `max_bytes` were reached, so a disk shared with logs
    /// or the OS is never filled by the outbox. 0 to 50; 0 turns it off.
    pub min_free_percent: u8,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            dir: PathBuf::from("outbox"),
            segment_bytes: 8 * 1024 * 1024,
            max_bytes: 1024 * 1024 * 1024,
            fsync: FsyncPolicy::Interval,
            fsync_interval: Duration::from_secs(1),
            commit_spacing: DEFAULT_COMMIT_SPACING,
            modbus_max_bytes: None,
            min_free_percent: 5,
        }
    }
}

/// `commit_spacing` unless configured: at most ~100 group commits (fsyncs)
/// a second while messages keep coming. Each commit costs a fixed few
/// hundred µs of CPU in the kernel on a 2-core VM (virtio I/O), so at
/// 20,000-30,000 msg/s 10 ms instead of 2 ms saves ~1 µs per message
/// (issue 15, docs/benchmarks.md), and fewer syncs wear an edge box's flash
/// less. A group that stops growing commits after 1 ms, so a quiet line or
/// a small broker in-flight window is not slowed down.
pub const DEFAULT_COMMIT_SPACING: Duration = Duration::from_millis(10);
/// The longest `commit_spacing`: it delays acknowledgements, and a broker's
/// in-flight window is spent while it waits.
pub const MAX_COMMIT_SPACING: Duration = Duration::from_millis(100);

/// The smallest raw-Modbus outbox: four of the smallest segments, so one can
/// be read, one written and the others dropped when it is full.
pub const MIN_RAW_MODBUS_BYTES: u64 = 4 * MIN_SEGMENT_BYTES;

impl OutboxConfig {
    /// The settings of the raw-Modbus outbox, `None` when `modbus_max_bytes`
    /// is 0. Its segments are at most an eighth of its size (at least
    /// [`MIN_SEGMENT_BYTES`], at most `segment_bytes`): `drop_oldest` deletes
    /// whole segments other than the one being read and the one being
    /// written, so small segments make each drop small and leave room to drop.
    pub fn raw_modbus(&self) -> Option<OutboxConfig> {
        let max_bytes = match self.modbus_max_bytes {
            Some(0) => return None,
            Some(n) => n,
            None => (self.max_bytes / 4).max(MIN_RAW_MODBUS_BYTES),
        };
        let segment_bytes = (max_bytes / 8)
            .min(self.segment_bytes)
            .max(MIN_SEGMENT_BYTES);
        Some(OutboxConfig {
            max_bytes,
            segment_bytes,
            modbus_max_bytes: Some(0),
            ..self.clone()
        })
    }
}

impl Rebase for OutboxConfig {
    fn rebase(&mut self, base: &std::path::Path) {
        rebase_path(&mut self.dir, base);
    }
}

impl Validate for OutboxConfig {
    fn validate(&self, path: &str, cx: &mut Check) {
        if self.min_free_percent > 50 {
            cx.problem(
                format!("{path}.min_free_percent"),
                format!("must be 0 to 50, got {}", self.min_free_percent),
            );
        }
        if self.dir.as_os_str().is_empty() {
            cx.problem(format!("{path}.dir"), "must not be empty");
        }
        if self.segment_bytes < MIN_SEGMENT_BYTES {
            cx.problem(
                format!("{path}.segment_bytes"),
                format!(
                    "must be at least {MIN_SEGMENT_BYTES}, got {}",
                    self.segment_bytes
                ),
            );
        }
        if self.segment_bytes > MAX_SEGMENT_BYTES {
            cx.problem(
                format!("{path}.segment_bytes"),
                format!(
                    "must be at most {MAX_SEGMENT_BYTES}, got {}",
                    self.segment_bytes
                ),
            );
        }
        // Two segments at least: the writer can always fill its segment while
        // the reader drains an older one, so `Full` is always released by acks.
        if self.max_bytes < self.segment_bytes.saturating_mul(2) {
            cx.problem(
                format!("{path}.max_bytes"),
                format!(
                    "must be at least twice segment_bytes ({}), got {}",
                    self.segment_bytes.saturating_mul(2),
                    self.max_bytes
                ),
            );
        }
        if self.fsync == FsyncPolicy::Interval && self.fsync_interval.is_zero() {
            cx.problem(
                format!("{path}.fsync_interval"),
                "must be more than 0 (use fsync = \"always\" to sync every commit)",
            );
        }
        if self.commit_spacing > MAX_COMMIT_SPACING {
            cx.problem(
                format!("{path}.commit_spacing"),
                format!(
                    "must be at most {:?}, got {:?}",
                    MAX_COMMIT_SPACING, self.commit_spacing
                ),
            );
        }
        if let Some(n) = self.modbus_max_bytes.filter(|&n| n > 0) {
            if n < MIN_RAW_MODBUS_BYTES {
                cx.problem(
                    format!("{path}.modbus_max_bytes"),
                    format!("must be 0 (no separate outbox) or at least {MIN_RAW_MODBUS_BYTES}, got {n}"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(v: serde_json::Value) -> Vec<String> {
        let mut cx = Check::new(".");
        let cfg: Option<OutboxConfig> = crate::config::parse_value(v, "outbox", &mut cx);
        if let Some(c) = cfg {
            c.validate("outbox", &mut cx);
        }
        cx.problems().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn defaults_are_valid() {
        assert!(problems(serde_json::json!({})).is_empty());
        let c = OutboxConfig::default();
        assert_eq!(c.fsync, FsyncPolicy::Interval);
        assert_eq!(c.segment_bytes, 8 << 20);
    }

    #[test]
    fn every_bad_key_is_reported_with_its_path() {
        let p = problems(serde_json::json!({
            "segment_bytes": 100, "max_bytes": 150, "fsync_interval": "0s",
            "commit_spacing": "1s"
        }));
        assert!(
            p.iter().any(|m| m.starts_with("outbox.segment_bytes:")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|m| m.starts_with("outbox.max_bytes:")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|m| m.starts_with("outbox.fsync_interval:")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|m| m.starts_with("outbox.commit_spacing:")),
            "{p:?}"
        );
    }

    #[test]
    fn raw_modbus_outbox_defaults_to_a_quarter_with_small_segments() {
        let c = OutboxConfig::default();
        let m = c.raw_modbus().unwrap();
        assert_eq!(m.max_bytes, 256 << 20);
        assert_eq!(m.segment_bytes, 8 << 20);
        assert_eq!(m.dir, c.dir);
        let tiny = OutboxConfig {
            modbus_max_bytes: Some(MIN_RAW_MODBUS_BYTES),
            ..c.clone()
        };
        let m = tiny.raw_modbus().unwrap();
        assert_eq!(m.segment_bytes, MIN_SEGMENT_BYTES);
        assert!(m.max_bytes >= 4 * m.segment_bytes);
        let off = OutboxConfig {
            modbus_max_bytes: Some(0),
            ..c
        };
        assert!(off.raw_modbus().is_none());
    }

    #[test]
    fn a_raw_modbus_outbox_too_small_to_drop_from_is_reported() {
        let p = problems(serde_json::json!({"modbus_max_bytes": 8192}));
        assert!(
            p.iter().any(|m| m.starts_with("outbox.modbus_max_bytes:")),
            "{p:?}"
        );
        assert!(problems(serde_json::json!({"modbus_max_bytes": 0})).is_empty());
        // The derived settings are themselves valid outbox settings.
        let mut cx = Check::new(".");
        let c = OutboxConfig {
            max_bytes: 8192,
            segment_bytes: 4096,
            ..OutboxConfig::default()
        };
        c.raw_modbus().unwrap().validate("outbox", &mut cx);
        assert!(cx.problems().is_empty(), "{:?}", cx.problems());
    }

    #[test]
    fn fsync_policy_parses_lowercase_names() {
        let c: OutboxConfig = serde_json::from_value(serde_json::json!({
            "fsync": "always", "fsync_interval": "250ms"
        }))
        .unwrap();
        assert_eq!(c.fsync, FsyncPolicy::Always);
        assert_eq!(c.fsync_interval, Duration::from_millis(250));
    }
}
