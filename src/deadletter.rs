//! The dead-letter file: every input that could not become a reading (a
//! message that does not fit its profile, an oversized payload, a register
//! that fails to decode) and every line a store rejected, one JSON object per
//! line, so an operator can see what was lost and why, and replay it.
//!
//! Record: `{"time":"2026-11-29T04:00:00.123Z","source":"mqtt","origin":"topic or device",
//! "reason":"...","payload":"...","payload_encoding":"utf8"|"base64"}`.
//! The file rotates to `<path>.1` when it passes `max_bytes` (one generation
//! kept), so it cannot fill the disk. A payload is kept up to
//! [`DeadLetterWriter::max_payload`] bytes (`payload_bytes` gives the size it
//! had, `payload_truncated` says it was cut), so one record is always far
//! smaller than `max_bytes`.
//!
//! Durability: a dead letter stands for an input that is acknowledged to
//! its source, so it is part of the commit: [`DeadLetterWriter::write_all`]
//! appends and fsyncs, and on failure cuts the file back and returns the
//! error; the caller then does not acknowledge.

use serde::Deserialize;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::config::{rebase_path, Check, Rebase, Validate};
use crate::metrics;

/// Where dead letters go.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct DeadLetterConfig {
    /// The JSON-lines file; relative paths are relative to the config file.
    pub path: PathBuf,
    /// Rotate after this many bytes.
    pub max_bytes: u64,
}

impl Default for DeadLetterConfig {
    fn default() -> Self {
        DeadLetterConfig {
            path: PathBuf::from("dead-letter.jsonl"),
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

impl Rebase for DeadLetterConfig {
    fn rebase(&mut self, base: &std::path::Path) {
        rebase_path(&mut self.path, base);
    }
}

impl Validate for DeadLetterConfig {
    fn validate(&self, path: &str, cx: &mut Check) {
        if self.max_bytes < 4096 {
            cx.problem(format!("{path}.max_bytes"), "must be at least 4096");
        }
    }
}

/// One input that could not be used.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// `mqtt`, `modbus`, `influxdb`, ...
    pub source: &'static str,
    /// The topic, device/register, or sink that names where it came from.
    pub origin: String,
    pub reason: String,
    pub payload: Vec<u8>,
    pub time_ns: i64,
}

impl DeadLetter {
    pub fn new(
        source: &'static str,
        origin: impl Into<String>,
        reason: impl Into<String>,
        payload: &[u8],
    ) -> Self {
        DeadLetter {
            source,
            origin: origin.into(),
            reason: reason.into(),
            payload: payload.to_vec(),
            time_ns: crate::model::now_ns(),
        }
    }

    fn to_json(&self, max_payload: usize) -> Vec<u8> {
        let cut = self.payload.len() > max_payload;
        let kept = &self.payload[..self.payload.len().min(max_payload)];
        let (payload, enc) = match std::str::from_utf8(kept) {
            Ok(s) => (serde_json::Value::String(s.to_string()), "utf8"),
            // A cut may split a UTF-8 character: keep the valid start.
            Err(e) if cut && e.error_len().is_none() => (
                serde_json::Value::String(
                    String::from_utf8_lossy(&kept[..e.valid_up_to()]).into_owned(),
                ),
                "utf8",
            ),
            Err(_) => (serde_json::Value::String(base64(kept)), "base64"),
        };
        let secs = self.time_ns.div_euclid(1_000_000_000);
        let nanos = self.time_ns.rem_euclid(1_000_000_000) as u32;
        let time = chrono::DateTime::from_timestamp(secs, nanos)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default();
        let v = serde_json::json!({
            "time": time,
            "source": self.source,
            "origin": self.origin,
            "reason": self.reason,
            "payload": payload,
            "payload_encoding": enc,
            "payload_bytes": self.payload.len(),
            "payload_truncated": cut,
        });
        let mut out = serde_json::to_vec(&v).unwrap_or_default();
        out.push(b'\n');
        out
    }
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// How many recent dead letters [`DeadLetterWriter::recent`] keeps.
pub const RECENT: usize = 20;

/// A dead letter as the status page shows it: where and why, never the payload.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Recent {
    pub time_ns: i64,
    pub source: &'static str,
    pub origin: String,
    pub reason: String,
}

struct Inner {
    file: Option<File>,
    written: u64,
    errors: crate::log_limit::LogLimit,
    /// The last [`RECENT`] records written, oldest first.
    recent: std::collections::VecDeque<Recent>,
}

/// A cloneable handle to the dead-letter file.
#[derive(Clone)]
pub struct DeadLetterWriter {
    path: PathBuf,
    max_bytes: u64,
    inner: Arc<Mutex<Inner>>,
}

impl DeadLetterWriter {
    pub fn open(path: PathBuf, max_bytes: u64) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let written = file.metadata()?.len();
        Ok(DeadLetterWriter {
            path,
            max_bytes,
            inner: Arc::new(Mutex::new(Inner {
                file: Some(file),
                written,
                errors: crate::log_limit::LogLimit::new(std::time::Duration::from_secs(10)),
                recent: Default::default(),
            })),
        })
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The last [`RECENT`] dead letters written by this process, newest
    /// first (origin and reason only).
    pub fn recent(&self) -> Vec<Recent> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.recent.iter().rev().cloned().collect()
    }

    /// The most payload bytes one record keeps: a 64th of `max_bytes`, at
    /// most 64 KiB.
    pub fn max_payload(&self) -> usize {
        (self.max_bytes / 64).clamp(64, 64 * 1024) as usize
    }

    /// Appends one record durably (see [`write_all`](Self::write_all)).
    pub fn write(&self, d: &DeadLetter) -> std::io::Result<()> {
        self.write_all(std::slice::from_ref(d))
    }

    /// Appends the records and fsyncs them, counting each; on failure the
    /// file is cut back to where it was (no partial record) and the error is
    /// returned, logged at most once per 10 s with the count in between.
    pub fn write_all(&self, ds: &[DeadLetter]) -> std::io::Result<()> {
        if ds.is_empty() {
            return Ok(());
        }
        let max_payload = self.max_payload();
        let mut buf = Vec::new();
        for d in ds {
            buf.extend_from_slice(&d.to_json(max_payload));
        }
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let r = self.append(&mut g, &buf);
        match &r {
            Ok(()) => {
                for d in ds {
                    if g.recent.len() == RECENT {
                        g.recent.pop_front();
                    }
                    g.recent.push_back(Recent {
                        time_ns: d.time_ns,
                        source: d.source,
                        origin: d.origin.clone(),
                        reason: d.reason.clone(),
                    });
                    metrics::counter(
                        "dead_letters_total",
                        "Inputs written to the dead-letter file, by source.",
                        &[("source", d.source)],
                    )
                    .inc();
                }
            }
            Err(e) => {
                metrics::counter(
                    "dead_letter_write_errors_total",
                    "Dead-letter writes that failed (their inputs were not acknowledged).",
                    &[],
                )
                .inc();
                if let Some(suppressed) = g.errors.hit(std::time::Instant::now()) {
                    tracing::error!(path = %self.path.display(), error = %e, suppressed, "Dead letters could not be written; their inputs are not acknowledged.");
                }
            }
        }
        r
    }

    fn append(&self, g: &mut Inner, buf: &[u8]) -> std::io::Result<()> {
        if g.written + buf.len() as u64 > self.max_bytes || g.file.is_none() {
            g.file = None;
            if g.written + buf.len() as u64 > self.max_bytes {
                let rotated = self.path.with_extension("jsonl.1");
                let _ = std::fs::rename(&self.path, rotated);
            }
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            g.written = f.metadata()?.len();
            g.file = Some(f);
        }
        let Some(f) = g.file.as_mut() else {
            return Err(std::io::Error::other("dead-letter file not open"));
        };
        let r = f.write_all(buf).and_then(|()| f.sync_data());
        match r {
            Ok(()) => {
                g.written += buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                // No partial record stays behind; reopen on the next write.
                let _ = f.set_len(g.written);
                g.file = None;
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letters_are_json_lines_with_origin_and_reason() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dl.jsonl");
        let w = DeadLetterWriter::open(p.clone(), 1 << 20).unwrap();
        w.write(&DeadLetter::new("mqtt", "a/b", "bad json", b"{oops"))
            .unwrap();
        w.write(&DeadLetter::new(
            "mqtt",
            "a/c",
            "binary",
            &[0xff, 0x00, 0x01],
        ))
        .unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["origin"], "a/b");
        assert_eq!(lines[0]["reason"], "bad json");
        assert_eq!(lines[0]["payload"], "{oops");
        assert_eq!(lines[1]["payload_encoding"], "base64");
        assert_eq!(lines[1]["payload"], "/wAB");
        let recent = w.recent();
        assert_eq!(recent.len(), 2);
        assert_eq!(
            (recent[0].origin.as_str(), recent[0].reason.as_str()),
            ("a/c", "binary")
        );
        assert_eq!(recent[1].origin, "a/b", "newest first");
    }

    #[test]
    fn recent_keeps_only_the_last_few() {
        let dir = tempfile::tempdir().unwrap();
        let w = DeadLetterWriter::open(dir.path().join("dl.jsonl"), 1 << 20).unwrap();
        for i in 0..RECENT + 5 {
            w.write(&DeadLetter::new("mqtt", format!("t/{i}"), "r", b"x"))
                .unwrap();
        }
        let recent = w.recent();
        assert_eq!(recent.len(), RECENT);
        assert_eq!(recent[0].origin, format!("t/{}", RECENT + 4));
    }

    #[test]
    fn a_huge_payload_is_kept_only_in_part_with_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dl.jsonl");
        let w = DeadLetterWriter::open(p.clone(), 1 << 20).unwrap();
        let big = "é".repeat(3 << 20); // 6 MiB, six times max_bytes
        w.write(&DeadLetter::new("mqtt", "a/b", "too large", big.as_bytes()))
            .unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.len() < 20_000, "{}", text.len());
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["payload_bytes"], 6 << 20);
        assert_eq!(v["payload_truncated"], true);
        assert_eq!(
            v["payload_encoding"], "utf8",
            "a split character is dropped, not base64"
        );
    }

    #[test]
    fn an_unwritable_file_is_an_error_and_leaves_no_partial_record() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dl.jsonl");
        let w = DeadLetterWriter::open(p.clone(), 1 << 20).unwrap();
        w.write(&DeadLetter::new("mqtt", "a/b", "x", b"1")).unwrap();
        // The directory goes away under it: the next rotation-free write
        // still has the open file; remove it and make the path a directory.
        std::fs::remove_file(&p).unwrap();
        std::fs::create_dir(&p).unwrap();
        {
            let mut g = w.inner.lock().unwrap();
            g.file = None;
        }
        assert!(w.write(&DeadLetter::new("mqtt", "a/b", "x", b"2")).is_err());
    }
}
