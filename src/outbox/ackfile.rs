//! The reader's progress, written in place so that a full disk cannot stop
//! it: deleting delivered segments is how a full outbox gets space back, and
//! a segment is deleted only after the ack past it is on disk.
//!
//! `ack` is preallocated once (2 × [`SLOT`] bytes) and then only overwritten,
//! never grown or replaced, so writing it needs no free blocks. Two slots
//! alternate: slot `seq % 2` gets `b"GGACK002"`, `seq` (u64 LE), segment (u64
//! LE), offset (u64 LE), crc32 of those 32 bytes (u32 LE). On open the valid
//! slot with the highest `seq` wins; a torn write damages at most the slot
//! being written, and the other still holds the previous position.
//!
//! The earlier format (28 bytes, `b"GGACK001"`, replaced by rename) is read
//! and rewritten in this format on open. When the disk is too full for that
//! one preallocation, the old rename-based writes go on until it succeeds.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::format::{sync_dir, Position};

pub(super) const ACK_FILE: &str = "ack";
pub(super) const ACK_TMP: &str = "ack.tmp";
/// One slot: a sector, so that one slot's write never tears the other.
pub(super) const SLOT: u64 = 512;
const MAGIC: &[u8; 8] = b"GGACK002";
const SLOT_LEN: usize = 36;
const LEGACY_MAGIC: &[u8; 8] = b"GGACK001";
const LEGACY_LEN: usize = 28;

fn encode_slot(seq: u64, pos: Position) -> [u8; SLOT_LEN] {
    let mut b = [0u8; SLOT_LEN];
    b[..8].copy_from_slice(MAGIC);
    b[8..16].copy_from_slice(&seq.to_le_bytes());
    b[16..24].copy_from_slice(&pos.segment.to_le_bytes());
    b[24..32].copy_from_slice(&pos.offset.to_le_bytes());
    let crc = crc32fast::hash(&b[..32]);
    b[32..].copy_from_slice(&crc.to_le_bytes());
    b
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn decode_slot(b: &[u8]) -> Option<(u64, Position)> {
    if b.get(..8)? != MAGIC {
        return None;
    }
    let crc = u32::from_le_bytes(b.get(32..36)?.try_into().ok()?);
    if crc32fast::hash(b.get(..32)?) != crc {
        return None;
    }
    let pos = Position {
        segment: u64_at(b, 16)?,
        offset: u64_at(b, 24)?,
    };
    Some((u64_at(b, 8)?, pos))
}

fn decode_legacy(b: &[u8]) -> Option<Position> {
    if b.len() != LEGACY_LEN || &b[..8] != LEGACY_MAGIC {
        return None;
    }
    let crc = u32::from_le_bytes(b[24..28].try_into().ok()?);
    if crc32fast::hash(&b[..24]) != crc {
        return None;
    }
    Some(Position {
        segment: u64_at(b, 8)?,
        offset: u64_at(b, 16)?,
    })
}

/// What an `ack` file's bytes say: the newest valid position and its `seq`.
/// `Err` when the file holds something but no valid position.
pub(super) fn decode(b: &[u8]) -> Result<Option<(u64, Position)>, &'static str> {
    if b.is_empty() {
        return Ok(None);
    }
    if let Some(p) = decode_legacy(b) {
        return Ok(Some((0, p)));
    }
    let slots = [0usize, SLOT as usize].map(|at| b.get(at..).and_then(decode_slot));
    match slots.into_iter().flatten().max_by_key(|(seq, _)| *seq) {
        Some(best) => Ok(Some(best)),
        None => Err("the ack file is corrupt"),
    }
}

/// The open `ack` file of one outbox.
pub(super) struct AckFile {
    dir: PathBuf,
    /// `None` while the preallocated file could not be made (full disk).
    file: Option<File>,
    seq: u64,
}

impl AckFile {
    /// Reads the position (`Ok(None)` when there is none, the text of the
    /// problem when the file is unreadable or corrupt: everything is then
    /// read again) and makes sure the preallocated file exists.
    pub(super) fn open(
        dir: &Path,
        sync: bool,
    ) -> io::Result<(AckFile, Result<Option<Position>, String>)> {
        let _ = fs::remove_file(dir.join(ACK_TMP));
        let path = dir.join(ACK_FILE);
        let (found, seq, current) = match fs::read(&path) {
            Ok(b) => match decode(&b) {
                Ok(Some((seq, p))) => (Ok(Some(p)), seq, b.len() as u64 == 2 * SLOT),
                Ok(None) => (Ok(None), 0, false),
                Err(e) => (Err(e.to_string()), 0, false),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => (Ok(None), 0, false),
            Err(e) => (Err(e.to_string()), 0, false),
        };
        let mut ack = AckFile {
            dir: dir.to_path_buf(),
            file: None,
            seq,
        };
        if current {
            ack.file = Some(OpenOptions::new().write(true).open(&path)?);
        } else {
            let pos = found.as_ref().ok().copied().flatten();
            // Best effort: a full disk keeps the rename-based writes for now.
            let _ = ack.preallocate(pos, sync);
        }
        Ok((ack, found))
    }

    /// Writes `pos` durably (per `sync`) in place.
    pub(super) fn write(&mut self, pos: Position, sync: bool) -> io::Result<()> {
        if self.file.is_none() {
            return self.preallocate(Some(pos), sync);
        }
        let Some(f) = self.file.as_ref() else {
            return Err(io::Error::other("ack file not open"));
        };
        let seq = self.seq + 1;
        f.write_all_at(&encode_slot(seq, pos), (seq % 2) * SLOT)?;
        if sync {
            f.sync_data()?;
        }
        self.seq = seq;
        Ok(())
    }

    /// Creates the two-slot file (both slots holding `pos`, or nothing) by
    /// write, fsync and rename, so a crash leaves the old file or the new.
    fn preallocate(&mut self, pos: Option<Position>, sync: bool) -> io::Result<()> {
        let tmp = self.dir.join(ACK_TMP);
        let mut buf = vec![0u8; 2 * SLOT as usize];
        if let Some(p) = pos {
            let seq = self.seq + 1;
            buf[..SLOT_LEN].copy_from_slice(&encode_slot(seq, p));
            buf[SLOT as usize..SLOT as usize + SLOT_LEN].copy_from_slice(&encode_slot(seq, p));
            self.seq = seq;
        }
        let r = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            f.write_all(&buf)?;
            if sync {
                f.sync_data()?;
            }
            drop(f);
            fs::rename(&tmp, self.dir.join(ACK_FILE))?;
            if sync {
                sync_dir(&self.dir)?;
            }
            OpenOptions::new().write(true).open(self.dir.join(ACK_FILE))
        })();
        match r {
            Ok(f) => {
                self.file = Some(f);
                Ok(())
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(segment: u64, offset: u64) -> Position {
        Position { segment, offset }
    }

    #[test]
    fn the_newest_valid_slot_wins_and_a_torn_slot_falls_back_to_the_other() {
        let dir = tempfile::tempdir().unwrap();
        let (mut a, found) = AckFile::open(dir.path(), true).unwrap();
        assert_eq!(found, Ok(None));
        a.write(pos(1, 100), true).unwrap();
        a.write(pos(1, 200), true).unwrap();
        let b = fs::read(dir.path().join(ACK_FILE)).unwrap();
        assert_eq!(b.len() as u64, 2 * SLOT);
        assert_eq!(decode(&b).unwrap().map(|x| x.1), Some(pos(1, 200)));
        // Tear the slot written last: the previous position is still there.
        let mut torn = b.clone();
        let last = (a.seq % 2 * SLOT) as usize;
        torn[last + 20] ^= 0xff;
        assert_eq!(decode(&torn).unwrap().map(|x| x.1), Some(pos(1, 100)));
        // Both torn: corrupt, never a panic.
        torn[(SLOT as usize - last) + 3] ^= 0xff;
        assert!(decode(&torn).is_err());
        assert!(decode(&[1, 2, 3]).is_err());
    }

    #[test]
    fn writes_go_on_in_place_when_no_new_file_could_be_created() {
        let dir = tempfile::tempdir().unwrap();
        let (mut a, _) = AckFile::open(dir.path(), false).unwrap();
        a.write(pos(3, 16), false).unwrap();
        let ino = |p: &Path| std::os::unix::fs::MetadataExt::ino(&fs::metadata(p).unwrap());
        let before = ino(&dir.path().join(ACK_FILE));
        for i in 0..10 {
            a.write(pos(3, 16 + i), false).unwrap();
        }
        assert_eq!(
            ino(&dir.path().join(ACK_FILE)),
            before,
            "rewritten in place"
        );
        let (_, found) = AckFile::open(dir.path(), false).unwrap();
        assert_eq!(found, Ok(Some(pos(3, 25))));
    }

    #[test]
    fn the_earlier_format_is_read_and_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let mut old = Vec::from(&LEGACY_MAGIC[..]);
        old.extend_from_slice(&7u64.to_le_bytes());
        old.extend_from_slice(&4242u64.to_le_bytes());
        let crc = crc32fast::hash(&old);
        old.extend_from_slice(&crc.to_le_bytes());
        fs::write(dir.path().join(ACK_FILE), &old).unwrap();
        let (_, found) = AckFile::open(dir.path(), false).unwrap();
        assert_eq!(found, Ok(Some(pos(7, 4242))));
        let b = fs::read(dir.path().join(ACK_FILE)).unwrap();
        assert_eq!(b.len() as u64, 2 * SLOT);
        assert_eq!(decode(&b).unwrap().map(|x| x.1), Some(pos(7, 4242)));
    }
}
