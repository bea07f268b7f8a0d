//! The reading half: batches of committed records, checksums verified,
//! corrupt records quarantined; acknowledgements persisted atomically and
//! acknowledged segments deleted.
//!
//! Cancel safety: the batch being filled lives in the reader, so a
//! `next_batch` future dropped mid-way loses nothing; the next call continues
//! the same batch.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tracing::warn;

use super::ackfile::{AckFile, ACK_FILE};
use super::format::{self, Position};
use super::stats::{now_ms, OutboxStats, Shared};
use super::{io_err, Batch, OutboxError};

use super::records::Scanner;

/// The reading half: owned by one sink.
pub struct OutboxReader {
    pub(super) shared: Arc<Shared>,
    pub(super) dir: PathBuf,
    pub(super) sync: bool,
    /// The read position in the segment files.
    pub(super) scan: Scanner,
    /// The batch being filled.
    pub(super) pending: Option<Batch>,
    /// The end of the last batch handed out.
    pub(super) mark: Position,
    /// Everything before this is acknowledged (and persisted).
    pub(super) acked: Position,
    /// Acks that came before the acks of earlier batches: start -> end.
    pub(super) early: BTreeMap<Position, Position>,
    /// A returned batch buffer, reused for the next batch.
    pub(super) spare: Vec<u8>,
    /// The reader's progress on disk, written in place.
    pub(super) ack_file: AckFile,
}

impl OutboxReader {
    /// Waits for records; returns up to `max_lines`/`max_bytes`, waiting at
    /// most `linger` after the first record for a fuller batch. `Ok(None)`
    /// when the writer is gone and everything has been read. A single record
    /// larger than `max_bytes` is returned alone.
    pub async fn next_batch(
        &mut self,
        max_lines: usize,
        max_bytes: usize,
        linger: Duration,
    ) -> Result<Option<Batch>, OutboxError> {
        let max_lines = max_lines.max(1);
        let max_bytes = max_bytes.max(1);
        let mut deadline = None;
        loop {
            let (committed, alive) = {
                let s = self.shared.lock();
                (s.committed, s.writer_alive)
            };
            let caught_up = self.fill(committed, max_lines, max_bytes)?;
            let (lines, bytes) = self
                .pending
                .as_ref()
                .map_or((0, 0), |b| (b.lines, b.data.len()));
            if lines >= max_lines || bytes >= max_bytes || (lines > 0 && caught_up && !alive) {
                return Ok(self.take_pending());
            }
            if lines == 0 {
                self.settle_empty()?;
                if caught_up && !alive {
                    return Ok(None);
                }
            } else if deadline.is_none() {
                deadline = Some(tokio::time::Instant::now() + linger);
            }
            match deadline {
                Some(d) => {
                    if tokio::time::Instant::now() >= d {
                        return Ok(self.take_pending());
                    }
                    tokio::select! {
                        _ = self.shared.notify.notified() => {}
                        _ = tokio::time::sleep_until(d) => {}
                    }
                }
                None => self.shared.notify.notified().await,
            }
        }
    }

    /// Acknowledges a batch: it will not be read again, even after a restart.
    /// Batches may be acknowledged in any order, but progress stops at the
    /// first batch that is never acknowledged.
    pub fn ack(&mut self, batch: Batch) -> Result<(), OutboxError> {
        let Batch {
            mut data,
            lines,
            start,
            end,
        } = batch;
        if data.capacity() > self.spare.capacity() {
            data.clear();
            self.spare = data;
        }
        self.shared.m.acked.add(lines as u64);
        if start == self.acked {
            self.acked = end;
            while let Some(e) = self.early.remove(&self.acked) {
                self.acked = e;
            }
        } else {
            if start > self.acked {
                self.early.insert(start, end);
            }
            return Ok(());
        }
        self.persist_ack()?;
        self.reclaim();
        self.note_if_empty();
        self.shared.refresh_gauges();
        Ok(())
    }

    /// A read-only view for readiness and metrics.
    pub fn stats(&self) -> OutboxStats {
        OutboxStats(self.shared.clone())
    }

    /// Reads committed records into the pending batch. Returns whether
    /// everything committed has been read.
    fn fill(
        &mut self,
        committed: Position,
        max_lines: usize,
        max_bytes: usize,
    ) -> Result<bool, OutboxError> {
        let mut b = self.pending.take().unwrap_or_else(|| Batch {
            data: std::mem::take(&mut self.spare),
            lines: 0,
            start: self.mark,
            end: self.mark,
        });
        let r = self.scan.fill_into(&mut b, committed, max_lines, max_bytes);
        self.pending = Some(b);
        r
    }

    fn take_pending(&mut self) -> Option<Batch> {
        let mut b = self.pending.take()?;
        b.end = self.scan.pos;
        self.mark = self.scan.pos;
        Some(b)
    }

    /// With an empty pending batch: positions skipped over (segment ends,
    /// quarantined records) are acknowledged at once when nothing else is
    /// outstanding, so a restart does not re-read them.
    fn settle_empty(&mut self) -> Result<(), OutboxError> {
        if self.scan.pos != self.mark && self.acked == self.mark && self.early.is_empty() {
            self.acked = self.scan.pos;
            self.mark = self.scan.pos;
            if let Some(b) = self.pending.as_mut() {
                b.start = self.scan.pos;
            }
            self.persist_ack()?;
            self.reclaim();
        }
        self.note_if_empty();
        Ok(())
    }

    fn note_if_empty(&self) {
        let idle = !matches!(&self.pending, Some(b) if b.lines > 0);
        if idle && self.acked == self.scan.pos {
            let mut s = self.shared.lock();
            if s.committed == self.scan.pos && !s.empty {
                s.empty = true;
                s.last_empty_ms = now_ms();
            }
        }
    }

    fn persist_ack(&mut self) -> Result<(), OutboxError> {
        self.ack_file
            .write(self.acked, self.sync)
            .map_err(io_err(&self.dir.join(ACK_FILE)))
    }

    /// Deletes the finished segments the ack has passed.
    fn reclaim(&mut self) {
        let mut freed = 0;
        while let Some(&(id, len, _)) = self.scan.finished.front() {
            let passed =
                self.acked.segment > id || (self.acked.segment == id && self.acked.offset >= len);
            if !passed {
                break;
            }
            let path = format::segment_path(&self.dir, id);
            match fs::remove_file(&path) {
                Ok(()) => freed += len,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    warn!(outbox = %self.shared.name, segment = id, error = %e, "Outbox segment deletion failed; left on disk.");
                }
            }
            self.scan.finished.pop_front();
        }
        let oldest = match self.scan.finished.front() {
            Some(&(_, _, created)) => created,
            None => self.scan.open_created().unwrap_or_else(now_ms),
        };
        self.shared
            .oldest_created_ms
            .store(oldest, Ordering::Relaxed);
        if freed > 0 {
            self.shared.bytes.fetch_sub(freed, Ordering::Relaxed);
            let _g = self.shared.lock();
            self.shared.full.store(false, Ordering::Relaxed);
            self.shared.space.notify_all();
        }
    }
}
