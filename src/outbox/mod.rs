//! The durable outbox between the pipeline and one sink: line-protocol
//! records appended to segment files, read in batches, acknowledged, and
//! deleted once acknowledged, so that nothing handed to the outbox is lost
//! by a crash, a restart or a store outage (at-least-once delivery).
//!
//! # On-disk format
//!
//! One directory per outbox (`<outbox.dir>/<sink name>`), holding:
//!
//! - `NNNNNNNNNNNNNNNNNNNN.seg`: segment files, the id as 20 zero-padded
//!   decimal digits so names sort like ids. A segment starts with a 16-byte
//!   header, `b"GGOUTBX1"` then the creation time (unix ms, u64 LE), followed
//!   by records. A record is `length: u32 LE`, `crc32(payload): u32 LE`
//!   (crc32fast, IEEE), then `length` payload bytes: one line-protocol line
//!   without its newline (never empty, never containing `\n`).
//! - `ack`: the reader's progress, preallocated (2 × 512 bytes) and only
//!   ever overwritten in place, so that acknowledging (and so deleting
//!   delivered segments) works on a full disk: two alternating slots of
//!   `b"GGACK002"`, seq (u64 LE), segment id (u64 LE), byte offset (u64 LE),
//!   crc32 of those 32 bytes; the valid slot with the higher seq wins (see
//!   `ackfile`). Everything before that position has been acknowledged.
//! - `ack.tmp`: the `ack` file while it is first created (removed on open).
//! - `next.seg.spare`: the next segment, made ahead while there is room; a
//!   roll renames it into place, so a full disk can still close a segment.
//! - `quarantine/<segment>-<offset>.bad`: the raw bytes of records (or of
//!   the rest of a segment) that failed their checksum or framing.
//!
//! # Invariants
//!
//! 1. Only the writer appends, and only to the segment with the highest id;
//!    ids only grow (a new segment gets `max(last id, ack segment) + 1`), so
//!    reading segments in id order reads records in append order.
//! 2. The reader never reads past the last commit: the committed position
//!    (segment, offset) is published after the data reached the OS (and the
//!    disk, per `fsync`), so a record is visible only once it is durable per
//!    the policy; every segment before the committed one is complete.
//! 3. `ack` is written in place, one slot at a time (fsynced), and only
//!    moves forward; a torn slot leaves the other, older one. A segment is deleted only after an
//!    ack at or past its end was written; so after any crash every
//!    unacknowledged record is still on disk and is read again.
//! 4. Segments before the ack's segment are leftovers of an interrupted
//!    deletion and are deleted on open; a missing segment (the ack's or any
//!    later one) is skipped, never waited for: a restart cannot loop on a
//!    missing file.
//! 5. On open, the last segment's tail is scanned: a partial record header,
//!    an implausible length (0 or more than a segment) or a payload that runs
//!    past the end of the file is a torn write and is truncated
//!    (`outbox_torn_tails_total`). A segment whose header is not a segment
//!    header is moved to `quarantine/`. A record whose CRC fails (or whose
//!    framing is broken in a closed segment) is copied to `quarantine/`,
//!    counted in `outbox_records_corrupt_total` and skipped by the reader:
//!    corrupt data costs only itself, never a panic or a loop. (A corrupt
//!    length inside the last segment is indistinguishable from a torn tail
//!    and truncates the rest of that segment.)
//! 6. The bytes of all segment files (headers included) never exceed
//!    `max_bytes`: `append` returns [`OutboxError::Full`] instead; space
//!    comes back when whole segments are acknowledged and deleted. It also
//!    returns `Full` while the filesystem is below `min_free_percent` (or
//!    after `ENOSPC`), and then closes its segment so the reader can finish
//!    and delete it.
//! 7. A failed write, flush or fsync rolls back everything since the last
//!    commit, on disk and in memory, before it returns (see `writer`): what
//!    is committed is exactly what was acknowledged to the caller.
//!
//! # Oldest record age
//!
//! `outbox_oldest_record_age_seconds` is `now - max(creation time of the
//! oldest segment holding unacknowledged records, the last time this process
//! saw the outbox empty)`, 0 when empty: an upper bound on the age of the
//! oldest unacknowledged record, within the time it takes to fill one
//! segment, at no per-record cost.
//!
//! # Use
//!
//! ```no_run
//! # use greengate::outbox::{open, OutboxConfig, OutboxError};
//! # use std::time::Duration;
//! # async fn demo(lines: Vec<Vec<u8>>) -> Result<(), OutboxError> {
//! let (mut w, mut r) = open("outbox/influxdb".as_ref(), &OutboxConfig::default())?;
//! // Pipeline (blocking thread): a group of records, one commit, then the
//! // sources' acknowledgements.
//! for line in &lines {
//!     loop {
//!         match w.append(line) {
//!             Ok(()) => break,
//!             // Back-pressure: make what we have visible, wait for the sink.
//!             Err(OutboxError::Full { .. }) => {
//!                 w.commit()?;
//!                 w.wait_for_space(Duration::from_secs(1));
//!             }
//!             Err(OutboxError::InvalidRecord { .. }) => break, // dead-letter it
//!             Err(e) => return Err(e), // do not acknowledge the sources
//!         }
//!     }
//! }
//! w.commit()?; // now fire the sources' acks
//! drop(w);
//! // Sink (tokio task):
//! while let Some(batch) = r.next_batch(5000, 1 << 20, Duration::from_millis(200)).await? {
//!     // ... write batch.data (newline-terminated lines) to the store ...
//!     r.ack(batch)?;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! When full: the writer returns `Full` and the pipeline withholds source
//! acknowledgements (MQTT back-pressure). For an outbox that holds only
//! droppable data (raw Modbus readings, kept apart from indicators),
//! [`OutboxWriter::drop_oldest`] deletes the oldest unread segment instead.
//! Readiness: [`OutboxStats::is_full`] and [`OutboxStats::usage`].
//!
//! # Threads
//!
//! [`OutboxWriter`] is synchronous (the pipeline calls it on a blocking
//! thread). [`OutboxReader`] is async but reads segment files with plain
//! positioned reads (page-cache hot in the common case, one chunk of at most
//! 256 KiB per read). The writer wakes the reader on commit; the reader wakes
//! a writer blocked in [`OutboxWriter::wait_for_space`] when it frees space.

mod ackfile;
pub mod config;
mod files;
mod format;
mod open;
mod reader;
mod records;
mod stats;
mod writer;

pub use config::{FsyncPolicy, OutboxConfig};
pub use files::{FileLayer, RealFiles};
pub use open::open;
pub use reader::OutboxReader;
pub use stats::OutboxStats;
pub use writer::OutboxWriter;

use format::Position;

/// What went wrong, by what the caller does about it.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The disk failed. After a failed `append` or `commit`, the records
    /// appended since the last successful commit may or may not be delivered:
    /// do not acknowledge their sources (they will be redelivered). If the
    /// writer could not repair its segment every later call fails with this.
    #[error("outbox I/O at {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Appending would pass `max_bytes`: commit, wait for the sink to
    /// acknowledge ([`OutboxWriter::wait_for_space`]), then retry. Nothing
    /// was written.
    #[error("outbox is full: {bytes} of {max_bytes} bytes used")]
    Full { bytes: u64, max_bytes: u64 },
    /// The line can never be stored (empty, contains a newline, or longer
    /// than a segment): dead-letter it. Nothing was written.
    #[error("record rejected by the outbox: {reason}")]
    InvalidRecord { reason: &'static str },
}

impl OutboxError {
    /// The disk (or the quota) is full: a state to wait out, unlike other
    /// I/O errors.
    pub fn is_no_space(&self) -> bool {
        matches!(self, OutboxError::Io { source, .. } if is_no_space(source))
    }
}

/// `ENOSPC` or `EDQUOT`.
pub fn is_no_space(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> OutboxError + '_ {
    move |source| OutboxError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A batch of records read from the outbox: newline-terminated
/// line-protocol lines, and the position to acknowledge.
#[derive(Debug)]
pub struct Batch {
    pub data: Vec<u8>,
    pub lines: usize,
    start: Position,
    end: Position,
}

impl Batch {
    /// The lines of the batch, without their newlines.
    pub fn lines(&self) -> impl Iterator<Item = &[u8]> {
        self.data.split(|&b| b == b'\n').filter(|l| !l.is_empty())
    }
}

#[cfg(test)]
mod tests;
