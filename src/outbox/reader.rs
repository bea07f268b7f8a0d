//! The reading half: batches of committed records, checksums verified,
//! corrupt records quarantined; acknowledgements persisted atomically and
//! acknowledged segments deleted.
//!
//! Cancel safety: the batch being filled lives in the reader, so a
//! `next_batch` future dropped mid-way loses nothing; the next call continues
//! the same batch.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tracing::warn;

use super::format::{self, Position, RECORD_HEADER, SEGMENT_HEADER};
use super::stats::{now_ms, OutboxStats, Shared};
use super::{io_err, Batch, OutboxError};

const CHUNK: u64 = 256 * 1024;

enum Opened {
    Yes,
    /// The segment was gone; the position moved to the next one.
    Moved,
    /// The committed segment itself is gone.
    Gone,
}

pub(super) struct Segment {
    id: u64,
    file: File,
    /// Known once the segment is closed (before the committed one).
    len: Option<u64>,
    created: u64,
}

/// The reading half: owned by one sink.
pub struct OutboxReader {
    pub(super) shared: Arc<Shared>,
    pub(super) dir: PathBuf,
    pub(super) sync: bool,
    pub(super) max_record: u64,
    /// The next record to read.
    pub(super) pos: Position,
    pub(super) cur: Option<Segment>,
    /// Read-ahead of segment `chunk_seg` from `chunk_off`.
    pub(super) chunk: Vec<u8>,
    pub(super) chunk_seg: u64,
    pub(super) chunk_off: u64,
    /// The batch being filled.
    pub(super) pending: Option<Batch>,
    /// The end of the last batch handed out.
    pub(super) mark: Position,
    /// Everything before this is acknowledged (and persisted).
    pub(super) acked: Position,
    /// Acks that came before the acks of earlier batches: start -> end.
    pub(super) early: BTreeMap<Position, Position>,
    /// Segments read to the end: id, length, creation time.
    pub(super) finished: VecDeque<(u64, u64, u64)>,
    /// A returned batch buffer, reused for the next batch.
    pub(super) spare: Vec<u8>,
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

    fn take_pending(&mut self) -> Option<Batch> {
        let mut b = self.pending.take()?;
        b.end = self.pos;
        self.mark = self.pos;
        Some(b)
    }

    /// With an empty pending batch: positions skipped over (segment ends,
    /// quarantined records) are acknowledged at once when nothing else is
    /// outstanding, so a restart does not re-read them.
    fn settle_empty(&mut self) -> Result<(), OutboxError> {
        if self.pos != self.mark && self.acked == self.mark && self.early.is_empty() {
            self.acked = self.pos;
            self.mark = self.pos;
            if let Some(b) = self.pending.as_mut() {
                b.start = self.pos;
            }
            self.persist_ack()?;
            self.reclaim();
        }
        self.note_if_empty();
        Ok(())
    }

    fn note_if_empty(&self) {
        let idle = !matches!(&self.pending, Some(b) if b.lines > 0);
        if idle && self.acked == self.pos {
            let mut s = self.shared.lock();
            if s.committed == self.pos && !s.empty {
                s.empty = true;
                s.last_empty_ms = now_ms();
            }
        }
    }

    fn persist_ack(&self) -> Result<(), OutboxError> {
        format::write_ack(&self.dir, self.acked, self.sync)
            .map_err(io_err(&self.dir.join(format::ACK_FILE)))
    }

    /// Deletes the finished segments the ack has passed.
    fn reclaim(&mut self) {
        let mut freed = 0;
        while let Some(&(id, len, _)) = self.finished.front() {
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
            self.finished.pop_front();
        }
        let oldest = match (self.finished.front(), &self.cur) {
            (Some(&(_, _, created)), _) => created,
            (None, Some(c)) => c.created,
            (None, None) => now_ms(),
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
        let r = self.fill_into(&mut b, committed, max_lines, max_bytes);
        self.pending = Some(b);
        r
    }

    fn fill_into(
        &mut self,
        b: &mut Batch,
        committed: Position,
        max_lines: usize,
        max_bytes: usize,
    ) -> Result<bool, OutboxError> {
        loop {
            if b.lines >= max_lines || b.data.len() >= max_bytes {
                return Ok(false);
            }
            if self.pos.segment > committed.segment {
                return Ok(true);
            }
            match self.open_cur(committed)? {
                Opened::Yes => {}
                Opened::Moved => continue,
                Opened::Gone => return Ok(true),
            }
            let limit = if self.pos.segment == committed.segment {
                committed.offset
            } else {
                self.closed_len()?
            };
            let off = self.pos.offset;
            if off >= limit {
                if self.pos.segment < committed.segment {
                    self.next_segment(committed, true);
                    continue;
                }
                return Ok(true);
            }
            if !self.ensure(off, RECORD_HEADER, limit)? {
                self.quarantine(off, limit, "partial record header");
                continue;
            }
            let i = (off - self.chunk_off) as usize;
            let (len, crc) = format::parse_record_header(&self.chunk[i..i + 8]);
            if len == 0 || len > self.max_record || off + RECORD_HEADER + len > limit {
                self.quarantine(off, limit, "broken record framing");
                continue;
            }
            if b.lines > 0 && b.data.len() as u64 + len + 1 > max_bytes as u64 {
                return Ok(false);
            }
            if !self.ensure(off, RECORD_HEADER + len, limit)? {
                self.quarantine(off, limit, "unreadable record");
                continue;
            }
            let i = (off - self.chunk_off) as usize + RECORD_HEADER as usize;
            let payload = &self.chunk[i..i + len as usize];
            let end = off + RECORD_HEADER + len;
            if crc32fast::hash(payload) != crc {
                self.quarantine(off, end, "checksum mismatch");
                continue;
            }
            b.data.extend_from_slice(payload);
            b.data.push(b'\n');
            b.lines += 1;
            self.pos.offset = end;
        }
    }

    /// Opens the segment at `pos` if needed, skipping it when it is gone.
    fn open_cur(&mut self, committed: Position) -> Result<Opened, OutboxError> {
        if self.cur.as_ref().is_some_and(|c| c.id == self.pos.segment) {
            return Ok(Opened::Yes);
        }
        let path = format::segment_path(&self.dir, self.pos.segment);
        match File::open(&path) {
            Ok(file) => {
                let mut h = [0u8; SEGMENT_HEADER as usize];
                let created = file
                    .read_exact_at(&mut h, 0)
                    .ok()
                    .and_then(|()| format::parse_segment_header(&h))
                    .unwrap_or_else(now_ms);
                self.cur = Some(Segment {
                    id: self.pos.segment,
                    file,
                    len: None,
                    created,
                });
                self.pos.offset = self.pos.offset.max(SEGMENT_HEADER);
                Ok(Opened::Yes)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                warn!(outbox = %self.shared.name, segment = self.pos.segment, "Outbox segment missing; skipped.");
                self.shared.m.missing.inc();
                if self.pos.segment >= committed.segment {
                    // The writer's own segment is gone: nothing to read there.
                    self.pos = committed;
                    return Ok(Opened::Gone);
                }
                self.next_segment(committed, false);
                Ok(Opened::Moved)
            }
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    fn closed_len(&mut self) -> Result<u64, OutboxError> {
        let Some(c) = self.cur.as_mut() else {
            return Ok(self.pos.offset);
        };
        if let Some(l) = c.len {
            return Ok(l);
        }
        let path = format::segment_path(&self.dir, c.id);
        let l = c.file.metadata().map_err(io_err(&path))?.len();
        c.len = Some(l);
        Ok(l)
    }

    /// Moves to the next segment that exists (ids are consecutive unless a
    /// restart or an operator intervened; then the directory is listed).
    fn next_segment(&mut self, committed: Position, finished: bool) {
        let from = self.pos.segment;
        if let Some(c) = self.cur.take() {
            if finished {
                self.finished
                    .push_back((c.id, c.len.unwrap_or(self.pos.offset), c.created));
            }
        }
        let next = if format::segment_path(&self.dir, from + 1).exists()
            || from + 1 == committed.segment
        {
            Some(from + 1)
        } else {
            format::list_segments(&self.dir).ok().and_then(|ids| {
                ids.into_iter()
                    .find(|&id| id > from && id <= committed.segment)
            })
        };
        self.pos = match next {
            Some(id) => Position::start_of(id),
            // Even the committed segment is gone: nothing left to read.
            None => committed,
        };
    }

    /// Makes `chunk` hold `[off, off + n)` of the current segment; `false`
    /// when that range passes `limit`.
    fn ensure(&mut self, off: u64, n: u64, limit: u64) -> Result<bool, OutboxError> {
        if off + n > limit {
            return Ok(false);
        }
        let held = self.chunk_seg == self.pos.segment
            && self.chunk_off <= off
            && off + n <= self.chunk_off + self.chunk.len() as u64;
        if held {
            return Ok(true);
        }
        let Some(c) = self.cur.as_ref() else {
            return Ok(false);
        };
        let size = n.max(CHUNK).min(limit - off) as usize;
        self.chunk.resize(size, 0);
        let r = c.file.read_exact_at(&mut self.chunk, off);
        if let Err(e) = r {
            self.chunk.clear();
            return Err(io_err(&format::segment_path(&self.dir, c.id))(e));
        }
        self.chunk_seg = c.id;
        self.chunk_off = off;
        Ok(true)
    }

    /// Copies `[from, to)` of the current segment to `quarantine/`, counts
    /// it, and moves past it.
    fn quarantine(&mut self, from: u64, to: u64, why: &'static str) {
        let seg = self.pos.segment;
        let qdir = self.dir.join(format::QUARANTINE_DIR);
        let file = qdir.join(format!("{seg:020}-{from:020}.bad"));
        let mut bytes = vec![0u8; (to - from) as usize];
        let saved = self
            .cur
            .as_ref()
            .ok_or_else(|| io::Error::other("segment not open"))
            .and_then(|c| c.file.read_exact_at(&mut bytes, from))
            .and_then(|()| fs::create_dir_all(&qdir))
            .and_then(|()| fs::write(&file, &bytes));
        match saved {
            Ok(()) => {
                warn!(outbox = %self.shared.name, segment = seg, offset = from, bytes = to - from, reason = why, file = %file.display(), "Outbox record corrupt; quarantined.")
            }
            Err(e) => {
                warn!(outbox = %self.shared.name, segment = seg, offset = from, bytes = to - from, reason = why, error = %e, "Outbox record corrupt; skipped (quarantine copy failed).")
            }
        }
        self.shared.m.corrupt.inc();
        self.pos.offset = to;
    }
}
