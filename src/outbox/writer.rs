//! The writing half: appends records to the last segment through one reused
//! `BufWriter` (no allocation per record), rolls segments, commits per the
//! fsync policy and publishes the committed position to the reader.
//!
//! A group is everything appended since the last successful commit. Any
//! failed write, flush or fsync rolls the whole group back, on disk (the
//! segments started since the commit are deleted, the committed one is cut
//! back to the commit) and in memory, before the error is returned; so the
//! caller, which has not acknowledged the group's sources, re-appends all of
//! it or gives up, and memory and disk always agree on what is committed.
//! If the rollback itself fails, every later call tries it again first.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{error, warn};

use super::files::{self, FileLayer, SegFile};
use super::format::{self, Position, RECORD_HEADER, SEGMENT_HEADER};
use super::stats::{now_ms, OutboxStats, Shared};
use super::{io_err, FsyncPolicy, OutboxError};

pub(super) const WRITE_BUFFER: usize = 64 * 1024;
/// How often free space is probed while there is plenty.
const SPACE_PROBE: Duration = Duration::from_secs(1);

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

/// The next segment, created ahead (header only) while there is room, so
/// that a roll on a full disk is a rename, which needs no free blocks.
pub(super) const SPARE: &str = "next.seg.spare";

/// Creates (or replaces) the spare segment; best effort.
pub(super) fn create_spare(dir: &Path, sync: bool) -> Option<File> {
    let path = dir.join(SPARE);
    let r = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        f.write_all(&format::segment_header(0))?;
        if sync {
            f.sync_data()?;
        }
        Ok::<_, io::Error>(f)
    })();
    match r {
        Ok(f) => Some(f),
        Err(_) => {
            let _ = fs::remove_file(&path);
            None
        }
    }
}

/// The most the reserve takes: on a large shared disk a percentage would
/// otherwise hold back gigabytes the system does not need.
pub(super) const MAX_RESERVE: u64 = 64 * 1024 * 1024;

/// The bytes kept free: `min_free_percent` of the filesystem, at most
/// [`MAX_RESERVE`].
pub(crate) fn reserve(total: u64, min_free_percent: u8) -> u64 {
    (total / 100 * u64::from(min_free_percent)).min(MAX_RESERVE)
}

/// Free-space accounting of the outbox's filesystem (`min_free_percent`).
pub(super) struct Space {
    pub min_free_percent: u8,
    pub low: bool,
    pub checked: Option<Instant>,
    pub written: u64,
    pub reserve: u64,
    /// After `ENOSPC`: the room a retry needs (twice the group that did not
    /// fit), so the writer does not resume into the same failure.
    pub margin: u64,
}

impl Space {
    pub(super) fn new(min_free_percent: u8) -> Self {
        Space {
            min_free_percent,
            low: false,
            checked: None,
            written: 0,
            reserve: 0,
            margin: 0,
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
    /// `None` while a rollback is outstanding (it is retried first).
    pub(super) file: Option<BufWriter<SegFile>>,
    pub(super) layer: Arc<dyn FileLayer>,
    /// Bytes (records and segment headers) added since the last commit.
    pub(super) pending_bytes: u64,
    pub(super) space: Space,
    /// The spare next segment, when it could be made.
    pub(super) spare: Option<File>,
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
    ///
    /// `Err(Io)`: the whole group since the last commit was rolled back;
    /// re-append it (see the module doc). `Full` and `InvalidRecord` leave
    /// the group as it was.
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
        let room = bytes + want <= self.shared.max_bytes;
        if !room || !self.space_ok(want) {
            if room {
                // Out of disk, not of max_bytes: space comes back only when
                // the reader deletes a segment it finished, so close this one.
                self.seal();
            }
            self.shared.full.store(true, Ordering::Relaxed);
            return Err(OutboxError::Full {
                bytes,
                max_bytes: self.shared.max_bytes,
            });
        }
        if self.file.is_none() {
            self.recover()?;
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
            return Err(self.rollback(e));
        }
        self.len += need;
        self.uncommitted += 1;
        self.pending_bytes += need;
        self.space.written += need;
        self.shared.bytes.fetch_add(need, Ordering::Relaxed);
        self.shared.full.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// Makes every appended record durable per the fsync policy and visible
    /// to the reader, and wakes the reader. `Err(Io)`: the group was rolled
    /// back (see [`append`](Self::append)).
    pub fn commit(&mut self) -> Result<(), OutboxError> {
        if self.file.is_none() {
            // Nothing uncommitted survives a rollback: repairing is all.
            return self.recover();
        }
        let Some(file) = self.file.as_mut() else {
            return Err(self.broken());
        };
        if let Err(e) = file.flush() {
            return Err(self.rollback(e));
        }
        self.flushed_len = self.len;
        if self.uncommitted > 0 {
            self.unsynced = true;
        }
        let due = match self.policy {
            FsyncPolicy::Always => self.unsynced,
            FsyncPolicy::Interval => self.unsynced && self.last_sync.elapsed() >= self.interval,
            FsyncPolicy::Never => {
                self.unsynced = false;
                false
            }
        };
        if due {
            if let Err(e) = self.sync() {
                return Err(self.rollback(e));
            }
        }
        let moved = self.committed.segment != self.seg;
        self.committed = Position {
            segment: self.seg,
            offset: self.len,
        };
        self.pending_bytes = 0;
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
        }
        if added > 0 || moved {
            // A commit that only moved to a new segment (a seal) matters too:
            // the reader can then finish the old one and free it.
            self.shared.notify.notify_one();
        }
        self.shared.refresh_gauges();
        Ok(())
    }

    /// With `fsync = "interval"`: fsyncs committed data if the interval has
    /// passed since the last fsync. Call it when idle so the last commit does
    /// not stay un-synced until the next one. On failure the data stays
    /// marked un-synced and the next call tries again (with this policy the
    /// sources of those commits were acknowledged before the fsync: the
    /// documented risk of `interval`).
    pub fn sync_if_due(&mut self) -> Result<(), OutboxError> {
        if self.uncommitted == 0
            && self.file.is_some()
            && self.unsynced
            && self.last_sync.elapsed() >= self.interval
        {
            if let Err(e) = self.sync() {
                return Err(io_err(&format::segment_path(&self.dir, self.seg))(e));
            }
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
    /// `outbox_records_dropped_total`. Commits first.
    pub fn drop_oldest(&mut self) -> Result<u64, OutboxError> {
        self.commit()?;
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

    /// True while the filesystem is below `min_free_percent`.
    pub fn is_low_on_space(&self) -> bool {
        self.space.low
    }

    /// A read-only view for readiness and metrics.
    pub fn stats(&self) -> OutboxStats {
        OutboxStats(self.shared.clone())
    }

    /// Sends every later segment write and fsync through `layer`: the seam
    /// for fault-injection tests (`ENOSPC`, `EIO`, a failing fsync).
    pub fn set_file_layer(&mut self, layer: Arc<dyn FileLayer>) {
        self.layer = layer.clone();
        if let Some(f) = self.file.as_mut() {
            f.get_mut().layer = layer;
        }
    }

    /// Whether `want` more bytes keep the filesystem above its reserve.
    /// Probed at most every second (or every quarter of the reserve
    /// written) while there is room, on every call while there is not.
    fn space_ok(&mut self, want: u64) -> bool {
        if self.space.min_free_percent == 0 && !self.space.low && self.spare.is_some() {
            return true;
        }
        let due = self.space.low
            || self.space.written + want > self.space.reserve / 4
            || self
                .space
                .checked
                .map_or(true, |t| t.elapsed() >= SPACE_PROBE);
        if due {
            self.probe_space();
        }
        !self.space.low
    }

    /// Reads the filesystem's free space; sets `low` and the gauge.
    pub(super) fn probe_space(&mut self) {
        self.space.checked = Some(Instant::now());
        self.space.written = 0;
        if self.spare.is_none() {
            // Made again as soon as there is room, before it is needed.
            self.spare = create_spare(&self.dir, self.policy != FsyncPolicy::Never);
        }
        match files::space(&self.dir) {
            Ok((avail, total)) => {
                self.space.reserve = reserve(total, self.space.min_free_percent);
                let margin = self.space.margin.max(WRITE_BUFFER as u64);
                let low = avail < self.space.reserve + margin;
                if !low {
                    self.space.margin = 0;
                }
                if low != self.space.low {
                    if low {
                        warn!(outbox = %self.shared.name, available = avail, reserve = self.space.reserve, "Outbox filesystem reached its free-space reserve (outbox.min_free_percent); holding acknowledgements.");
                    } else {
                        tracing::info!(outbox = %self.shared.name, available = avail, "Outbox filesystem has room again.");
                    }
                }
                self.space.low = low;
                self.shared.m.fs_available.set(avail as i64);
            }
            Err(e) => {
                warn!(outbox = %self.shared.name, error = %e, "Outbox free-space probe failed.");
            }
        }
    }

    /// With nothing uncommitted and records in the current segment: starts
    /// the next segment and commits, so that the reader can finish this one
    /// and, once the sink acknowledged it, delete it. Needs only room for a
    /// segment header; best effort (tried again on the next `Full`).
    fn seal(&mut self) {
        if self.uncommitted > 0 || self.len <= SEGMENT_HEADER || self.file.is_none() {
            return;
        }
        let r = self.roll().and_then(|()| self.commit());
        if let Err(e) = r {
            warn!(outbox = %self.shared.name, error = %e, "Outbox could not close its segment to make room; retrying.");
        }
    }

    fn sync(&mut self) -> io::Result<()> {
        let Some(file) = self.file.as_mut() else {
            return Err(io::Error::other("segment not open"));
        };
        file.get_ref().sync_data()?;
        self.unsynced = false;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Closes the current segment (flushed, and fsynced unless `never`) and
    /// starts the next one. On failure the group is rolled back.
    fn roll(&mut self) -> Result<(), OutboxError> {
        let Some(file) = self.file.as_mut() else {
            return Err(self.broken());
        };
        if let Err(e) = file.flush() {
            return Err(self.rollback(e));
        }
        self.flushed_len = self.len;
        if self.policy != FsyncPolicy::Never {
            if let Err(e) = self.sync() {
                return Err(self.rollback(e));
            }
        }
        let id = self.seg + 1;
        let sync = self.policy != FsyncPolicy::Never;
        let f = match self.take_spare(id, sync) {
            Some(f) => f,
            None => match create_segment(&self.dir, id, sync) {
                Ok((f, _)) => f,
                Err(e) => return Err(self.rollback(e)),
            },
        };
        if self.spare.is_none() {
            self.spare = create_spare(&self.dir, sync);
        }
        self.file = Some(self.buffered(f));
        self.seg = id;
        self.len = SEGMENT_HEADER;
        self.flushed_len = SEGMENT_HEADER;
        self.pending_bytes += SEGMENT_HEADER;
        self.shared
            .bytes
            .fetch_add(SEGMENT_HEADER, Ordering::Relaxed);
        Ok(())
    }

    /// The spare as segment `id`: its header rewritten in place with the
    /// creation time, then renamed. `None` when there is no spare or the
    /// rename failed (the caller creates the segment the ordinary way).
    fn take_spare(&mut self, id: u64, sync: bool) -> Option<File> {
        use std::os::unix::fs::FileExt;
        let mut f = self.spare.take()?;
        let path = format::segment_path(&self.dir, id);
        let r = f
            .write_all_at(&format::segment_header(now_ms()), 0)
            .and_then(|()| if sync { f.sync_data() } else { Ok(()) })
            .and_then(|()| fs::rename(self.dir.join(SPARE), &path))
            .and_then(|()| {
                if sync {
                    format::sync_dir(&self.dir)
                } else {
                    Ok(())
                }
            })
            .and_then(|()| f.seek(SeekFrom::End(0)).map(|_| ()));
        match r {
            Ok(()) => Some(f),
            Err(e) => {
                warn!(outbox = %self.shared.name, error = %e, "Outbox spare segment unusable; creating the segment instead.");
                if path.exists() {
                    let _ = fs::remove_file(&path);
                }
                None
            }
        }
    }

    fn buffered(&self, file: File) -> BufWriter<SegFile> {
        BufWriter::with_capacity(
            WRITE_BUFFER,
            SegFile {
                file,
                layer: self.layer.clone(),
            },
        )
    }

    /// After a failed write, flush or fsync: forgets the whole group in
    /// memory and undoes it on disk ([`recover`](Self::recover)), then
    /// returns the error. After a failed fsync nothing written since the
    /// last good one can be trusted, which is exactly the group.
    fn rollback(&mut self, e: io::Error) -> OutboxError {
        let path = format::segment_path(&self.dir, self.seg);
        warn!(outbox = %self.shared.name, error = %e, records = self.uncommitted, "Outbox write failed; the uncommitted group was rolled back.");
        self.shared.m.write_errors.inc();
        if super::is_no_space(&e) {
            // Probe before the next append: it answers `Full` (and seals the
            // segment) until there is room for twice this group, whatever
            // `min_free_percent` is.
            self.space.low = true;
            self.space.margin = (2 * self.pending_bytes).max(WRITE_BUFFER as u64);
        }
        if let Some(w) = self.file.take() {
            let _discarded = w.into_parts(); // never flush what failed
        }
        self.shared
            .bytes
            .fetch_sub(self.pending_bytes, Ordering::Relaxed);
        self.pending_bytes = 0;
        self.uncommitted = 0;
        if let Err(e2) = self.recover() {
            error!(outbox = %self.shared.name, error = %e2, "Outbox rollback failed; retried on the next append or commit.");
        }
        io_err(&path)(e)
    }

    /// Brings the disk back to the last commit: deletes the segments started
    /// since, cuts the committed one back to the commit, reopens it.
    fn recover(&mut self) -> Result<(), OutboxError> {
        if let Some(w) = self.file.take() {
            let _discarded = w.into_parts();
        }
        let c = self.committed;
        for id in (c.segment + 1)..=self.seg.max(c.segment) {
            let path = format::segment_path(&self.dir, id);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&path)(e)),
            }
        }
        self.seg = c.segment;
        let path = format::segment_path(&self.dir, c.segment);
        let mut f = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        f.set_len(c.offset).map_err(io_err(&path))?;
        f.seek(SeekFrom::Start(c.offset)).map_err(io_err(&path))?;
        self.file = Some(self.buffered(f));
        self.len = c.offset;
        self.flushed_len = c.offset;
        self.pending_bytes = 0;
        self.uncommitted = 0;
        Ok(())
    }

    fn broken(&self) -> OutboxError {
        OutboxError::Io {
            path: format::segment_path(&self.dir, self.seg)
                .display()
                .to_string(),
            source: io::Error::other("the segment is not open (an earlier rollback failed)"),
        }
    }
}

impl Drop for OutboxWriter {
    /// Discards what was appended since the last commit (its sources were not
    /// acknowledged), fsyncs what was committed, and tells the reader that no
    /// more records will come.
    fn drop(&mut self) {
        let uncommitted = self.uncommitted > 0 || self.seg != self.committed.segment;
        if uncommitted || self.file.is_none() {
            let _ = self.recover();
        }
        if let Some(w) = self.file.take() {
            let (f, _uncommitted) = w.into_parts();
            if self.unsynced || self.policy == FsyncPolicy::Always {
                let _ = f.sync_data();
            }
        }
        self.shared.lock().writer_alive = false;
        self.shared.notify.notify_one();
    }
}
