//! Outbox settings (`[outbox]`): where the segments live, how large they may
//! grow, and when commits reach the disk.

use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::{Check, Validate};

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
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            dir: PathBuf::from("outbox"),
            segment_bytes: 8 * 1024 * 1024,
            max_bytes: 1024 * 1024 * 1024,
            fsync: FsyncPolicy::Interval,
            fsync_interval: Duration::from_secs(1),
        }
    }
}

impl Validate for OutboxConfig {
    fn validate(&self, path: &str, cx: &mut Check) {
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
            "segment_bytes": 100, "max_bytes": 150, "fsync_interval": "0s"
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
