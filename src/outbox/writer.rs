//! The writing half: appends records to the last segment through one reused
//! `BufWriter` (no allocation per record), rolls segments, commits per the
//! fsync policy and publishes the committed position to the reader.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{error, warn};

use super::format::{self, Position, RECORD_HEADER, SEGMENT_HEADER};
use super::stats::{now_ms, OutboxStats, Shared};
use super::{io_err, FsyncPolicy, OutboxError};

const WRITE_BUFFER: usize = 64 * 1024;

/// Creates segment `id` with its header; on failure nothing is left behind.
pub(super) fn create_segment(dir: &Path, id: u64, sync: bool) -> io::Result<(File, u64)> {
    let path = format::segment_path(dir, id);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    let created = now_ms();
    let r = f
        .write_all(&format::segment_header(created))
        .and_then(|()| {
            if sync {
                f.sync_data()?;
                format::sync_dir(dir)?;
            }
            Ok(())
        });
    match r {
        Ok(()) => Ok((f, created)),
        Err(e) => {
            let _ = fs::remove_file(&path);
            Err(e)
        }
    }
}

/// The writing half: owned by the pipeline, used from one blocking thread.
pub struct OutboxWriter {
    pub(super) shared: Arc<Shared>,
    pub(super) dir: PathBuf,
    pub(super) policy: FsyncPolicy,
    pub(super) interval: Duration,
    pub(super) segment_bytes: u64,
    pub(super) max_record: u64,
    pub(super) seg: u64,
    /// `None` once an I/O error could not be repaired.
    pub(super) file: Option<BufWriter<File>>,
    /// Length of the segment, buffered bytes included.
    pub(super) len: u64,
    /// A record boundary known to be written (at the last flush).
    pub(super) flushed_len: u64,
    /// The segment and length at the last commit.
    pub(super) committed: Position,
    pub(super) uncommitted: u64,
    pub(super) unsynced: bool,
    pub(super) last_sync: Instant,
}

impl OutboxWriter {
    /// Appends one record (one line, with or without trailing newline).
    /// Visible to the reader after the next [`commit`](Self::commit).
    pub fn append(&mut self, line: &[u8]) -> Result<(), OutboxError> {
        let payload = line.strip_suffix(b"\n").unwrap_or(line);
        if payload.is_empty() {
            return Err(OutboxError::InvalidRecord {
                reason: "empty line",
            });
        }
        if payload.contains(&b'\n') {
            return Err(OutboxError::InvalidRecord {
                reason: "newline inside the line",
            });
        }
        if payload.len() as u64 > self.max_record {
            return Err(OutboxError::InvalidRecord {
                reason: "line longer than a segment (outbox.segment_bytes)",
            });
        }
        let need = RECORD_HEADER + payload.len() as u64;
        let roll = self.len + need > self.segment_bytes;
        let want = need + if roll { SEGMENT_HEADER } else { 0 };
        let bytes = self.shared.bytes.load(Ordering::Relaxed);
        if bytes + want > self.shared.max_bytes {
            self.shared.full.store(true, Ordering::Relaxed);
            return Err(OutboxError::Full {
                bytes,
                max_bytes: self.shared.max_bytes,
            });
        }
        if roll {
            self.roll()?;
        }
        let Some(file) = self.file.as_mut() else {
            return Err(self.broken());
        };
        let r = file
            .write_all(&format::record_header(payload))
            .and_then(|()| file.write_all(payload));
        if let Err(e) = r {
            return Err(self.repair(e));
        }
        self.len += need;
        self.uncommitted += 1;
        self.shared.bytes.fetch_add(need, Ordering::Relaxed);
        self.shared.full.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// Makes every appended record durable per the fsync policy and visible
    /// to the reader, and wakes the reader.
    pub fn commit(&mut self) -> Result<(), OutboxError> {
        let Some(file) = self.file.as_mut() else {
            return Err(self.broken());
        };
        if let Err(e) = file.flush() {
            return Err(self.repair(e));
        }
        self.flushed_len = self.len;
        if self.uncommitted > 0 {
            self.unsynced = true;
        }
        match self.policy {
            FsyncPolicy::Always if self.unsynced => self.sync()?,
            FsyncPolicy::Always => {}
            FsyncPolicy::Interval => self.sync_if_due()?,
            FsyncPolicy::Never => self.unsynced = false,
        }
        self.committed = Position {
            segment: self.seg,
            offset: self.len,
        };
        let added = std::mem::take(&mut self.uncommitted);
        {
            let mut s = self.shared.lock();
            s.committed = self.committed;
            if added > 0 {
                s.empty = false;
            }
        }
        if added > 0 {
            self.shared.m.appended.add(added);
            self.shared.notify.notify_one();
        }
        self.shared.refresh_gauges();
        Ok(())
    }

    /// With `fsync = "interval"`: fsyncs committed data if the interval has
    /// passed since the last fsync. Call it when idle so the last commit does
    /// not stay un-synced until the next one.
    pub fn sync_if_due(&mut self) -> Result<(), OutboxError> {
        if self.unsynced && self.last_sync.elapsed() >= self.interval {
            self.sync()?;
        }
        Ok(())
    }

    /// Blocks until the outbox is no longer full (the sink acknowledged and a
    /// segment was deleted) or `timeout` passed; returns `!is_full()`.
    pub fn wait_for_space(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut g = self.shared.lock();
        while self.shared.full.load(Ordering::Relaxed) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            g = match self.shared.space.wait_timeout(g, left) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
        drop(g);
        !self.shared.full.load(Ordering::Relaxed)
    }

    /// Deletes the oldest segment the reader has not started, unsent, and
    /// returns how many records it held (0 when only the segments being read
    /// and written are left). For an outbox that holds only data that may be
    /// lost under pressure (raw Modbus readings): when `append` returns
    /// `Full` and waiting is not wanted, drop and retry. Counted in
    /// `outbox_records_dropped_total`.
    pub fn drop_oldest(&mut self) -> Result<u64, OutboxError> {
        let ids = format::list_segments(&self.dir).map_err(io_err(&self.dir))?;
        let mut s = self.shared.lock();
        let Some(id) = ids.into_iter().find(|&id| id > s.reading && id < self.seg) else {
            return Ok(0);
        };
        let path = format::segment_path(&self.dir, id);
        let f = File::open(&path).map_err(io_err(&path))?;
        let len = f.metadata().map_err(io_err(&path))?.len();
        let (_, records) = format::scan_framing(f, len, self.max_record).map_err(io_err(&path))?;
        fs::remove_file(&path).map_err(io_err(&path))?;
        s.dropped.push(id);
        drop(s);
        self.shared.bytes.fetch_sub(len, Ordering::Relaxed);
        self.shared.full.store(false, Ordering::Relaxed);
        self.shared.m.dropped.add(records);
        warn!(outbox = %self.shared.name, segment = id, records, "Outbox records dropped; oldest unread segment deleted to make room.");
        self.shared.refresh_gauges();
        Ok(records)
    }

    /// True after an append was refused for lack of space, until space is freed.
    pub fn is_full(&self) -> bool {
        self.shared.full.load(Ordering::Relaxed)
    }

    /// A read-only view for readiness and metrics.
    pub fn stats(&self) -> OutboxStats {
        OutboxStats(self.shared.clone())
    }

    fn sync(&mut self) -> Result<(), OutboxError> {
        let path = format::segment_path(&self.dir, self.seg);
        let Some(file) = self.file.as_mut() else {
            return Err(self.broken());
        };
        if let Err(e) = file.get_ref().sync_data() {
            // After a failed fsync the kernel may have dropped the dirty pages:
            // nothing written since can be trusted. Stop; a restart recovers.
            error!(outbox = %self.shared.name, error = %e, "Outbox fsync failed; writer stopped.");
            self.file = None;
            return Err(io_err(&path)(e));
        }
        self.unsynced = false;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Closes the current segment (flushed, and fsynced unless `never`) and
    /// starts the next one.
    fn roll(&mut self) -> Result<(), OutboxError> {
        let Some(file) = self.file.as_mut() else {
            return Err(self.broken());
        };
        if let Err(e) = file.flush() {
            return Err(self.repair(e));
        }
        self.flushed_len = self.len;
        if self.policy != FsyncPolicy::Never {
            self.sync()?;
        }
        let id = self.seg + 1;
        let sync = self.policy != FsyncPolicy::Never;
        let (f, _) = create_segment(&self.dir, id, sync)
            .map_err(io_err(&format::segment_path(&self.dir, id)))?;
        self.file = Some(BufWriter::with_capacity(WRITE_BUFFER, f));
        self.seg = id;
        self.len = SEGMENT_HEADER;
        self.flushed_len = SEGMENT_HEADER;
        self.shared
            .bytes
            .fetch_add(SEGMENT_HEADER, Ordering::Relaxed);
        Ok(())
    }

    /// After a failed write: drops the buffered bytes and cuts the segment
    /// back to the last record boundary known to be written, so later
    /// records are not framed after a partial one.
    fn repair(&mut self, e: io::Error) -> OutboxError {
        let path = format::segment_path(&self.dir, self.seg);
        warn!(outbox = %self.shared.name, error = %e, "Outbox write failed; discarding uncommitted records.");
        if let Some(w) = self.file.take() {
            let (mut f, _discarded) = w.into_parts();
            let cut = f
                .set_len(self.flushed_len)
                .and_then(|()| f.seek(SeekFrom::Start(self.flushed_len)));
            match cut {
                Ok(_) => {
                    let lost = self.len - self.flushed_len;
                    self.shared.bytes.fetch_sub(lost, Ordering::Relaxed);
                    self.len = self.flushed_len;
                    self.file = Some(BufWriter::with_capacity(WRITE_BUFFER, f));
                }
                Err(e2) => {
                    error!(outbox = %self.shared.name, error = %e2, "Outbox segment repair failed; writer stopped.");
                }
            }
        }
        io_err(&path)(e)
    }

    fn broken(&self) -> OutboxError {
        OutboxError::Io {
            path: format::segment_path(&self.dir, self.seg)
                .display()
                .to_string(),
            source: io::Error::other("the writer stopped after an earlier I/O error"),
        }
    }
}

impl Drop for OutboxWriter {
    /// Discards what was appended since the last commit (its sources were not
    /// acknowledged), fsyncs what was committed, and tells the reader that no
    /// more records will come.
    fn drop(&mut self) {
        if let Some(w) = self.file.take() {
            let (f, _uncommitted) = w.into_parts();
            if self.seg == self.committed.segment && self.len > self.committed.offset {
                let _ = f.set_len(self.committed.offset);
            }
            if self.unsynced || self.policy == FsyncPolicy::Always {
                let _ = f.sync_data();
            }
        }
        self.shared.lock().writer_alive = false;
        self.shared.notify.notify_one();
    }
}
