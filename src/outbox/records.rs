//! Reading records out of segment files for [`OutboxReader`](super::OutboxReader):
//! a [`Scanner`] owns the read position, the open segment and one reused
//! chunk; it checks framing and CRCs, quarantines what fails them, and moves
//! from segment to segment (skipping missing ones). The reader owns the
//! batches and the acknowledgements.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use tracing::warn;

use super::format::{self, Position, RECORD_HEADER, SEGMENT_HEADER};
use super::stats::{now_ms, Shared};
use super::{io_err, Batch, OutboxError};

const CHUNK: u64 = 256 * 1024;

enum Opened {
    Yes,
    /// The segment was gone; the position moved to the next one.
    Moved,
    /// The committed segment itself is gone.
    Gone,
}

/// The open segment the reader is in.
struct Segment {
    id: u64,
    file: File,
    /// Known once the segment is closed (before the committed one).
    len: Option<u64>,
    created: u64,
}

/// Where the reader is in the segment files, and what it has read ahead.
pub(super) struct Scanner {
    shared: Arc<Shared>,
    dir: PathBuf,
    max_record: u64,
    /// The next record to read.
    pub(super) pos: Position,
    cur: Option<Segment>,
    /// Read-ahead of segment `chunk_seg` from `chunk_off`.
    chunk: Vec<u8>,
    chunk_seg: u64,
    chunk_off: u64,
    /// Segments read to the end: id, length, creation time.
    pub(super) finished: VecDeque<(u64, u64, u64)>,
}

impl Scanner {
    pub(super) fn new(shared: Arc<Shared>, dir: PathBuf, max_record: u64, start: Position) -> Self {
        Scanner {
            shared,
            dir,
            max_record,
            pos: start,
            cur: None,
            chunk: Vec::new(),
            chunk_seg: 0,
            chunk_off: 0,
            finished: VecDeque::new(),
        }
    }

    /// When the open segment was created (ms), if one is open.
    pub(super) fn open_created(&self) -> Option<u64> {
        self.cur.as_ref().map(|c| c.created)
    }

    /// Reads committed records into `b`. Returns whether everything
    /// committed has been read.
    pub(super) fn fill_into(
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
                // Damage costs only itself: the records after it are found
                // again by their checksums.
                let next = self.resync(off + 1, limit)?;
                self.quarantine(off, next, "broken record framing");
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
        // Published before opening, so `drop_oldest` never deletes it.
        self.shared.lock().reading = self.pos.segment;
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
                let dropped = {
                    let mut s = self.shared.lock();
                    let before = s.dropped.len();
                    let seg = self.pos.segment;
                    s.dropped.retain(|&d| d != seg);
                    s.dropped.len() < before
                };
                if !dropped {
                    warn!(outbox = %self.shared.name, segment = self.pos.segment, "Outbox segment missing; skipped.");
                    self.shared.m.missing.inc();
                }
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
        if let Some(id) = next.filter(|&id| id > from + 1) {
            let gap: Vec<u64> = {
                let mut s = self.shared.lock();
                let gap = (from + 1..id).filter(|g| !s.dropped.contains(g)).collect();
                s.dropped.retain(|d| *d >= id);
                gap
            };
            if !gap.is_empty() {
                warn!(outbox = %self.shared.name, from = from + 1, to = id - 1, segments = gap.len(), "Outbox segments missing; skipped, their records are lost.");
                self.shared.m.missing.add(gap.len() as u64);
            }
        }
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

    /// The first offset in `[from, limit)` where a whole record with a
    /// matching checksum starts, or `limit`. A false match needs a plausible
    /// length and a CRC-32 collision at once.
    fn resync(&mut self, from: u64, limit: u64) -> Result<u64, OutboxError> {
        let mut p = from;
        while p + RECORD_HEADER < limit {
            if !self.ensure(p, RECORD_HEADER, limit)? {
                break;
            }
            let i = (p - self.chunk_off) as usize;
            let (len, crc) = format::parse_record_header(&self.chunk[i..i + 8]);
            if len > 0
                && len <= self.max_record
                && p + RECORD_HEADER + len <= limit
                && self.ensure(p, RECORD_HEADER + len, limit)?
            {
                {
                    let i = (p - self.chunk_off) as usize + RECORD_HEADER as usize;
                    if crc32fast::hash(&self.chunk[i..i + len as usize]) == crc {
                        return Ok(p);
                    }
                }
            }
            p += 1;
        }
        Ok(limit)
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
