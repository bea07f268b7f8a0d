//! The on-disk format (described in the module doc of `outbox`): segment
//! names and headers, record headers, and the open-time scan
//! of the last segment. Pure functions over bytes where possible.

use std::fs::{self, File};
use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};

/// `b"GGOUTBX1"` + created_unix_ms (u64 LE).
pub(super) const SEGMENT_MAGIC: &[u8; 8] = b"GGOUTBX1";
pub(super) const SEGMENT_HEADER: u64 = 16;
/// length (u32 LE) + CRC32 of the payload (u32 LE).
pub(super) const RECORD_HEADER: u64 = 8;
pub(super) const QUARANTINE_DIR: &str = "quarantine";

/// A place in the outbox: a segment id and a byte offset in that segment.
/// Ordered by segment, then offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Position {
    pub segment: u64,
    pub offset: u64,
}

impl Position {
    pub(super) fn start_of(segment: u64) -> Self {
        Position {
            segment,
            offset: SEGMENT_HEADER,
        }
    }
}

pub(super) fn segment_name(id: u64) -> String {
    format!("{id:020}.seg")
}

pub(super) fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(segment_name(id))
}

/// The id of a segment file name, `None` for any other file.
pub(super) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The ids of every segment in `dir`, ascending.
pub(super) fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut ids = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(id) = entry.file_name().to_str().and_then(parse_segment_name) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

pub(super) fn segment_header(created_unix_ms: u64) -> [u8; SEGMENT_HEADER as usize] {
    let mut h = [0u8; SEGMENT_HEADER as usize];
    h[..8].copy_from_slice(SEGMENT_MAGIC);
    h[8..].copy_from_slice(&created_unix_ms.to_le_bytes());
    h
}

/// The creation time of a segment from its header, `None` if it is not one.
pub(super) fn parse_segment_header(h: &[u8]) -> Option<u64> {
    if h.len() < SEGMENT_HEADER as usize || &h[..8] != SEGMENT_MAGIC {
        return None;
    }
    Some(u64::from_le_bytes(h[8..16].try_into().ok()?))
}

pub(super) fn record_header(payload: &[u8]) -> [u8; RECORD_HEADER as usize] {
    let mut h = [0u8; RECORD_HEADER as usize];
    h[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    h[4..].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
    h
}

/// `(length, crc)` of a record header.
pub(super) fn parse_record_header(h: &[u8]) -> (u64, u32) {
    let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
    let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    (u64::from(len), crc)
}

pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Where the valid framing of a segment ends: the offset just after the last
/// record whose header is complete, whose length is plausible (1 ..=
/// `max_record`) and whose payload lies inside the file. Everything after it
/// is a torn tail. Returns that offset and the number of records before it.
/// Payload CRCs are not checked here (the reader does).
pub(super) fn scan_framing<R: Read + Seek>(
    file: R,
    file_len: u64,
    max_record: u64,
) -> io::Result<(u64, u64)> {
    if file_len < SEGMENT_HEADER {
        return Ok((0, 0));
    }
    scan_framing_from(file, SEGMENT_HEADER, file_len, max_record)
}

/// [`scan_framing`] from `from`, a known record boundary (the acknowledged
/// position): damage to records before it cannot misalign the framing of
/// the unacknowledged records after it. Counts only records after `from`.
pub(super) fn scan_framing_from<R: Read + Seek>(
    mut file: R,
    from: u64,
    file_len: u64,
    max_record: u64,
) -> io::Result<(u64, u64)> {
    file.seek(io::SeekFrom::Start(from))?;
    let mut r = io::BufReader::with_capacity(64 * 1024, file);
    let mut off = from;
    let mut h = [0u8; RECORD_HEADER as usize];
    let mut records = 0;
    loop {
        if off + RECORD_HEADER > file_len {
            return Ok((off, records));
        }
        r.read_exact(&mut h)?;
        let (len, _) = parse_record_header(&h);
        if len == 0 || len > max_record || off + RECORD_HEADER + len > file_len {
            return Ok((off, records));
        }
        r.seek_relative(len as i64)?;
        off += RECORD_HEADER + len;
        records += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_sort_by_id_and_round_trip() {
        assert_eq!(segment_name(1), "00000000000000000001.seg");
        assert_eq!(parse_segment_name(&segment_name(42)), Some(42));
        assert_eq!(parse_segment_name("ack"), None);
        assert_eq!(parse_segment_name("0001.seg"), None);
        assert_eq!(parse_segment_name("0000000000000000000x.seg"), None);
    }

    #[test]
    fn framing_scan_stops_before_a_torn_record() {
        let mut seg = segment_header(1).to_vec();
        for line in [&b"a x=1"[..], b"b y=2"] {
            seg.extend_from_slice(&record_header(line));
            seg.extend_from_slice(line);
        }
        let good = seg.len() as u64;
        seg.extend_from_slice(&record_header(b"c z=3"));
        seg.extend_from_slice(b"c z"); // payload cut short
        let len = seg.len() as u64;
        assert_eq!(
            scan_framing(io::Cursor::new(&seg), len, 1 << 20).unwrap(),
            (good, 2)
        );
        // A half header is a torn tail as well.
        seg.truncate(good as usize + 3);
        let len = seg.len() as u64;
        assert_eq!(
            scan_framing(io::Cursor::new(&seg), len, 1 << 20).unwrap(),
            (good, 2)
        );
    }

    #[test]
    fn framing_scan_stops_at_an_implausible_length() {
        let mut seg = segment_header(1).to_vec();
        seg.extend_from_slice(&[0u8; 64]); // zero-filled after a power loss
        let len = seg.len() as u64;
        assert_eq!(
            scan_framing(io::Cursor::new(&seg), len, 1 << 20).unwrap(),
            (16, 0)
        );
    }
}
