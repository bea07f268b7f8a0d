//! The transport frame: `##`, 4-digit length, data segment, CRC, `\r\n`.

use super::crc::Crc;
use super::Error;
use crate::protocols::scan::{scan, Attempt, Scan};

/// The largest data segment (the 2017 table; 1,024 was the 2005 limit).
pub const MAX_SEGMENT: usize = 9999;
/// `##` + 4 length digits before the segment, 4 CRC digits + `\r\n` after.
pub const OVERHEAD: usize = 12;

/// One checked frame, borrowing the buffer: the data segment as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub segment: &'a str,
}

/// What the bytes at the front of a buffer hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded<'a> {
    Frame { frame: Frame<'a>, len: usize },
    NeedMore,
}

/// Decodes the frame at the front of `buf`, checking the CRC the peer is
/// configured for (`crc`; hex digits in either case). Bytes before `##`
/// are [`Error::NotAFrame`] (drop them); a `##` not followed by 4 digits
/// is skipped the same way; a frame with a wrong CRC, a missing `\r\n` or
/// a segment that is not UTF-8 yields to a checked frame starting inside
/// it (a half frame followed by a whole one), else is reported with the
/// bytes to drop.
pub fn decode(buf: &[u8], crc: Crc) -> Result<Decoded<'_>, Error> {
    match scan(buf, b'#', None, |p| attempt(buf, p, crc)) {
        Scan::Frame(frame, len) => Ok(Decoded::Frame { frame, len }),
        Scan::NeedMore => Ok(Decoded::NeedMore),
        Scan::Skip(skip) => Err(Error::NotAFrame { skip }),
        Scan::Err(e) => Err(e),
    }
}

/// Like [`decode`] for input known to be complete: a partial frame is
/// [`Error::Truncated`].
pub fn decode_complete(buf: &[u8], crc: Crc) -> Result<(Frame<'_>, usize), Error> {
    match decode(buf, crc)? {
        Decoded::Frame { frame, len } => Ok((frame, len)),
        Decoded::NeedMore => {
            let p = buf.iter().position(|b| *b == b'#').unwrap_or(0);
            let need = buf
                .get(p + 2..p + 6)
                .and_then(length)
                .map_or(OVERHEAD, |l| OVERHEAD + l);
            Err(Error::Truncated {
                have: buf.len(),
                need,
            })
        }
    }
}

fn length(digits: &[u8]) -> Option<usize> {
    digits.iter().try_fold(0usize, |n, d| {
        d.is_ascii_digit().then(|| n * 10 + usize::from(d - b'0'))
    })
}

fn hex4(b: &[u8]) -> Option<u16> {
    std::str::from_utf8(b)
        .ok()
        .filter(|s| s.len() == 4 && s.bytes().all(|c| c.is_ascii_hexdigit()))
        .and_then(|s| u16::from_str_radix(s, 16).ok())
}

fn attempt(buf: &[u8], p: usize, crc: Crc) -> Attempt<Frame<'_>, Error> {
    match buf.get(p + 1) {
        Some(b'#') => {}
        Some(_) => return Attempt::Stray,
        None => return Attempt::NeedMore,
    }
    let Some(digits) = buf.get(p + 2..p + 6) else {
        // Digits so far must be digits.
        let so_far = buf.get(p + 2..).unwrap_or(&[]);
        return if so_far.iter().all(u8::is_ascii_digit) {
            Attempt::NeedMore
        } else {
            Attempt::Stray
        };
    };
    let Some(len) = length(digits) else {
        return Attempt::Stray;
    };
    let end = p + OVERHEAD + len;
    let (Some(seg), Some(written), Some(tail)) = (
        buf.get(p + 6..p + 6 + len),
        buf.get(p + 6 + len..end - 2),
        buf.get(end - 2..end),
    ) else {
        return Attempt::NeedMore;
    };
    let want = crc.of(seg);
    if hex4(written) != Some(want) {
        let mut got = [0u8; 4];
        for (g, w) in got.iter_mut().zip(written) {
            *g = *w;
        }
        return Attempt::Bad(
            Error::BadCrc {
                got,
                want,
                len: end,
            },
            end,
        );
    }
    if tail != b"\r\n" {
        return Attempt::Bad(Error::BadEnd { len: end }, end);
    }
    match std::str::from_utf8(seg) {
        Ok(segment) => Attempt::Frame(Frame { segment }, end),
        Err(_) => Attempt::Bad(Error::NotText { len: end }, end),
    }
}

/// Appends the frame for `segment` with the CRC variant `crc` (upper-case
/// hex, as the standard writes it).
pub fn encode(segment: &str, crc: Crc, out: &mut Vec<u8>) -> Result<(), Error> {
    if segment.len() > MAX_SEGMENT {
        return Err(Error::TooLong(segment.len()));
    }
    out.extend_from_slice(format!("##{:04}", segment.len()).as_bytes());
    out.extend_from_slice(segment.as_bytes());
    out.extend_from_slice(format!("{:04X}\r\n", crc.of(segment.as_bytes())).as_bytes());
    Ok(())
}
