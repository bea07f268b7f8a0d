//! Helpers shared by the outbox tests (`tests/it/outbox.rs`, `tests/it/outbox_crash.rs`).

#![allow(dead_code)]

use greengate::outbox::{FsyncPolicy, OutboxConfig, OutboxReader};
use std::time::Duration;

pub fn cfg(segment_bytes: u64, max_bytes: u64, fsync: FsyncPolicy) -> OutboxConfig {
    OutboxConfig {
        segment_bytes,
        max_bytes,
        fsync,
        ..OutboxConfig::default()
    }
}

/// A record whose id can be read back; `pad` varies the length so segments
/// roll at different places.
pub fn line(id: u64, pad: usize) -> Vec<u8> {
    format!("m,pad={} v={id}i {id}", "x".repeat(pad + 1)).into_bytes()
}

pub fn id_of(line: &[u8]) -> u64 {
    let s = std::str::from_utf8(line).unwrap();
    s.rsplit(' ').next().unwrap().parse().unwrap()
}

/// Reads everything without acknowledging, until the writer is gone.
pub async fn read_all(r: &mut OutboxReader) -> Vec<u64> {
    let mut ids = Vec::new();
    let mut held = Vec::new();
    while let Some(b) = r.next_batch(5000, 1 << 20, Duration::ZERO).await.unwrap() {
        ids.extend(b.lines().map(id_of));
        held.push(b);
    }
    ids
}
