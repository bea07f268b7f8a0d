//! Opening an outbox: recovery after whatever ended the last process
//! (leftover acknowledged segments, torn tails, bad segment headers), then
//! the writer at the end and the reader at the acknowledged position.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tracing::warn;

use super::ackfile::{AckFile, ACK_FILE};
use super::files::{RealFiles, SegFile};
use super::format::{self, Position, RECORD_HEADER, SEGMENT_HEADER};
use super::reader::OutboxReader;
use super::records::Scanner;
use super::stats::Shared;
use super::writer::{create_segment, create_spare, OutboxWriter, Space, WRITE_BUFFER};
use super::{io_err, FsyncPolicy, OutboxConfig, OutboxError};

/// A segment that passed the header check: id, length, creation time.
struct Seg {
    id: u64,
    len: u64,
    created: u64,
}

/// Opens (or creates) the outbox in `dir`; the directory's file name is the
/// `name` label of its metrics. `cfg.dir` is not used here (the caller picks
/// `dir`, normally `<outbox.dir>/<sink name>`).
pub fn open(dir: &Path, cfg: &OutboxConfig) -> Result<(OutboxWriter, OutboxReader), OutboxError> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "outbox".to_string());
    let segment_bytes = cfg.segment_bytes.max(SEGMENT_HEADER + RECORD_HEADER + 1);
    let max_record = segment_bytes - SEGMENT_HEADER - RECORD_HEADER;
    let sync = cfg.fsync != FsyncPolicy::Never;
    let shared = Arc::new(Shared::new(
        name.clone(),
        cfg.max_bytes,
        Position::start_of(0),
        true,
    ));

    let (ack_file, found) = AckFile::open(dir, sync).map_err(io_err(&dir.join(ACK_FILE)))?;
    let ack = match found {
        Ok(a) => a,
        Err(e) => {
            warn!(outbox = %name, error = %e, "Outbox ack file unreadable; reading every segment again.");
            None
        }
    };
    let ids = format::list_segments(dir).map_err(io_err(dir))?;
    let mut segs = Vec::with_capacity(ids.len());
    let last_id = ids.last().copied();
    for id in ids {
        let path = format::segment_path(dir, id);
        if ack.is_some_and(|a| id < a.segment) {
            // Acknowledged; its deletion was interrupted.
            if let Err(e) = fs::remove_file(&path) {
                if e.kind() != io::ErrorKind::NotFound {
                    return Err(io_err(&path)(e));
                }
            }
            continue;
        }
        let header = (|| {
            let mut f = File::open(&path)?;
            let len = f.metadata()?.len();
            let mut h = [0u8; SEGMENT_HEADER as usize];
            if len < SEGMENT_HEADER {
                return Ok((len, None));
            }
            f.read_exact(&mut h)?;
            Ok::<_, io::Error>((len, format::parse_segment_header(&h)))
        })();
        match header {
            Ok((len, Some(created))) => segs.push(Seg { id, len, created }),
            Ok((len, None)) if len < SEGMENT_HEADER && Some(id) == last_id => {
                // Created just before a crash: nothing in it.
                fs::remove_file(&path).map_err(io_err(&path))?;
            }
            Ok(_) => quarantine_segment(dir, &shared, id, "segment header corrupt", max_record),
            // Unreadable (EIO, EACCES): out of the way, so that a bad file
            // costs only itself instead of failing every start.
            Err(e) => quarantine_segment(dir, &shared, id, &e.to_string(), max_record),
        }
    }
    // Ids are consecutive from the ack's segment on. The reader counts the
    // gaps it jumps; the one before the first segment it never sees.
    if let (Some(a), Some(first)) = (ack, segs.first()) {
        if first.id > a.segment + 1 {
            let n = first.id - a.segment - 1;
            warn!(outbox = %name, from = a.segment + 1, to = first.id - 1, segments = n, "Outbox segments missing; their records are lost.");
            shared.m.missing.add(n);
        }
    }

    if let Some(last) = segs.last_mut() {
        let path = format::segment_path(dir, last.id);
        let f = File::open(&path).map_err(io_err(&path))?;
        // From the acknowledged position when it is in this segment: it is a
        // record boundary, while framing followed from the start can be
        // thrown off by damage to records that were already delivered.
        let from = match ack {
            Some(a) if a.segment == last.id => a.offset.clamp(SEGMENT_HEADER, last.len),
            _ => SEGMENT_HEADER,
        };
        let (end, _) =
            format::scan_framing_from(f, from, last.len, max_record).map_err(io_err(&path))?;
        if end < last.len {
            warn!(outbox = %name, segment = last.id, offset = end, cut = last.len - end, "Outbox torn tail truncated.");
            shared.m.torn.inc();
            let f = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(io_err(&path))?;
            f.set_len(end).map_err(io_err(&path))?;
            if sync {
                f.sync_data().map_err(io_err(&path))?;
            }
            last.len = end;
        }
    }

    // The writer continues the last segment while it has room.
    let (wid, wlen, file) = match segs.last() {
        Some(last) if last.len + RECORD_HEADER < segment_bytes => {
            let path = format::segment_path(dir, last.id);
            let mut f = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(io_err(&path))?;
            f.seek(SeekFrom::End(0)).map_err(io_err(&path))?;
            (last.id, last.len, f)
        }
        _ => {
            let id = segs
                .last()
                .map(|s| s.id)
                .max(ack.map(|a| a.segment))
                .unwrap_or(0)
                + 1;
            let (f, created) =
                create_segment(dir, id, sync).map_err(io_err(&format::segment_path(dir, id)))?;
            segs.push(Seg {
                id,
                len: SEGMENT_HEADER,
                created,
            });
            (id, SEGMENT_HEADER, f)
        }
    };

    // The reader starts at the ack, or at the first segment after it if that
    // one is gone.
    let start = match ack {
        Some(a) => match segs.iter().find(|s| s.id >= a.segment) {
            Some(s) if s.id == a.segment => Position {
                segment: s.id,
                offset: a.offset.max(SEGMENT_HEADER).min(s.len),
            },
            Some(s) => Position::start_of(s.id),
            None => Position::start_of(wid),
        },
        None => Position::start_of(segs.first().map_or(wid, |s| s.id)),
    };
    let committed = Position {
        segment: wid,
        offset: wlen,
    };
    let total: u64 = segs.iter().map(|s| s.len).sum();
    let created = segs
        .iter()
        .find(|s| s.id == start.segment)
        .map_or(0, |s| s.created);
    {
        let mut s = shared.lock();
        s.committed = committed;
        s.reading = start.segment;
        s.empty = start == committed;
    }
    shared.bytes.store(total, Ordering::Relaxed);
    shared.oldest_created_ms.store(created, Ordering::Relaxed);
    shared.refresh_gauges();

    let layer: Arc<dyn super::FileLayer> = Arc::new(RealFiles);
    let mut writer = OutboxWriter {
        shared: shared.clone(),
        dir: dir.to_path_buf(),
        policy: cfg.fsync,
        interval: cfg.fsync_interval,
        segment_bytes,
        max_record,
        seg: wid,
        file: Some(BufWriter::with_capacity(
            WRITE_BUFFER,
            SegFile {
                file,
                layer: layer.clone(),
            },
        )),
        layer,
        pending_bytes: 0,
        space: Space::new(cfg.min_free_percent),
        spare: create_spare(dir, sync),
        len: wlen,
        flushed_len: wlen,
        committed,
        uncommitted: 0,
        unsynced: false,
        last_sync: Instant::now(),
    };
    writer.probe_space();
    check_room(&writer, cfg, total);
    let reader = OutboxReader {
        scan: Scanner::new(shared.clone(), dir.to_path_buf(), max_record, start),
        shared,
        dir: dir.to_path_buf(),
        sync,
        pending: None,
        mark: start,
        acked: start,
        early: BTreeMap::new(),
        spare: Vec::new(),
        ack_file,
    };
    Ok((writer, reader))
}

/// Moves a segment that cannot be read as one (bad header, unreadable) out
/// of the way; if even that fails it is left and skipped. Never fails the
/// open: a restart loop over one bad file would stop all ingestion.
fn quarantine_segment(dir: &Path, shared: &Shared, id: u64, why: &str, max_record: u64) {
    let qdir = dir.join(format::QUARANTINE_DIR);
    let from = format::segment_path(dir, id);
    // The records it held, as far as their framing can be followed (at
    // least one: an unreadable file stands for something).
    let records = File::open(&from)
        .and_then(|f| {
            let len = f.metadata()?.len();
            format::scan_framing(f, len, max_record)
        })
        .map_or(1, |(_, n)| n.max(1));
    let to = qdir.join(format!("{}.bad", format::segment_name(id)));
    match fs::create_dir_all(&qdir).and_then(|()| fs::rename(&from, &to)) {
        Ok(()) => {
            warn!(outbox = %shared.name, segment = id, reason = why, to = %to.display(), "Outbox segment unusable; quarantined.")
        }
        Err(e) => {
            warn!(outbox = %shared.name, segment = id, reason = why, error = %e, "Outbox segment unusable; skipped (could not move it to quarantine).")
        }
    }
    shared.m.corrupt_segments.inc();
    shared.m.corrupt.add(records);
}

/// Warns at start when `max_bytes` cannot fit in what the filesystem has
/// left above its reserve (the outbox would hit the reserve first).
fn check_room(w: &OutboxWriter, cfg: &OutboxConfig, used: u64) {
    if let Ok((avail, total)) = super::files::space(&w.dir) {
        let reserve = super::writer::reserve(total, cfg.min_free_percent);
        let room = (avail + used).saturating_sub(reserve);
        if cfg.max_bytes > room {
            warn!(outbox = %w.shared.name, max_bytes = cfg.max_bytes, room, "outbox.max_bytes is more than the filesystem has room for; the free-space reserve (outbox.min_free_percent) will stop appends first.");
        }
    }
}
