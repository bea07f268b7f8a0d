//! The dead-letter file: every input that could not become a reading (a
//! message that does not fit its profile, an oversized payload, a register
//! that fails to decode) and every line a store rejected, one JSON object per
//! line, so an operator can see what was lost and why, and replay it.
//!
//! Record: `{"time":"2026-11-29T04:00:00.123Z","source":"mqtt","origin":"topic or device",
//! "reason":"...","payload":"...","payload_encoding":"utf8"|"base64"}`.
//! The file rotates to `<path>.1` when it passes `max_bytes` (one generation
//! kept), so it cannot fill the disk.

use serde::Deserialize;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::config::{Check, Validate};
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

    fn to_json(&self) -> Vec<u8> {
        let (payload, enc) = match std::str::from_utf8(&self.payload) {
            Ok(s) => (serde_json::Value::String(s.to_string()), "utf8"),
            Err(_) => (serde_json::Value::String(base64(&self.payload)), "base64"),
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

struct Inner {
    file: Option<File>,
    written: u64,
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
            })),
        })
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Appends one record and counts it. I/O errors are logged and counted,
    /// never propagated: losing a dead letter must not stop good data.
    pub fn write(&self, d: &DeadLetter) {
        metrics::counter(
            "dead_letters_total",
            "Inputs written to the dead-letter file, by source.",
            &[("source", d.source)],
        )
        .inc();
        let line = d.to_json();
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if g.written + line.len() as u64 > self.max_bytes {
            g.file = None;
            let rotated = self.path.with_extension("jsonl.1");
            let _ = std::fs::rename(&self.path, rotated);
            g.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .ok();
            g.written = 0;
        }
        let res = match g.file.as_mut() {
            Some(f) => f.write_all(&line),
            None => Err(std::io::Error::other("dead-letter file not open")),
        };
        match res {
            Ok(()) => g.written += line.len() as u64,
            Err(e) => {
                metrics::counter(
                    "dead_letter_write_errors_total",
                    "Dead letters that could not be written.",
                    &[],
                )
                .inc();
                tracing::error!(path = %self.path.display(), error = %e, "Dead letter could not be written.");
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
        w.write(&DeadLetter::new("mqtt", "a/b", "bad json", b"{oops"));
        w.write(&DeadLetter::new(
            "mqtt",
            "a/c",
            "binary",
            &[0xff, 0x00, 0x01],
        ));
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
    }
}
