//! The link layer: finding, checking and building `68 A0..A5 68 C L DATA CS 16`.

use super::types::{Address, Control};
use super::Error;
use crate::protocols::bcd::sum8;
use crate::protocols::scan::{scan, Attempt, Scan};

/// Frame start and end bytes, the wake-up byte, and the offset added to
/// every data byte on the wire.
pub const START: u8 = 0x68;
pub const END: u8 = 0x16;
pub const WAKE: u8 = 0xfe;
pub const OFFSET: u8 = 0x33;
/// The largest data field the standard allows (a read reply, L <= 200).
pub const MAX_DATA: usize = 200;
/// Bytes of a frame around its data: 68, 6 address, 68, C, L ... CS, 16.
pub const OVERHEAD: usize = 12;

/// One checked frame, borrowing the buffer it was found in. The data field
/// is kept as it was on the wire (+0x33); [`Frame::data`] removes the offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub address: Address,
    pub control: Control,
    raw: &'a [u8],
}

impl<'a> Frame<'a> {
    /// The data field with the 0x33 offset removed.
    pub fn data(&self) -> impl ExactSizeIterator<Item = u8> + Clone + 'a {
        self.raw.iter().map(|b| b.wrapping_sub(OFFSET))
    }
    /// The data field as sent (every byte +0x33).
    pub fn raw_data(&self) -> &'a [u8] {
        self.raw
    }
}

/// What the bytes at the front of a buffer hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A frame; `len` bytes (wake-up bytes, the frame, trailing `FE`s) are used.
    Frame { frame: Frame<'a>, len: usize },
    /// The buffer holds the start of a frame (or only wake-up bytes): read more.
    NeedMore,
}

/// Decodes the frame at the front of `buf`.
///
/// Wake-up `FE`s before the frame and after its `16` are skipped silently.
/// Anything else before a frame start (noise, a `68` that is not followed
/// by an address and a second `68`) is [`Error::NotAFrame`]: drop that many
/// bytes and call again. A complete frame with a wrong checksum or end byte
/// is first checked for a real frame starting inside it (a stray `68`
/// before the real start); only if there is none is it
/// [`Error::BadChecksum`] / [`Error::BadEnd`]. A well-formed error reply
/// is [`Error::ErrorReply`]. Every error says how many bytes to drop
/// ([`Error::skip`]).
pub fn decode(buf: &[u8]) -> Result<Decoded<'_>, Error> {
    match scan(buf, START, Some(WAKE), |p| attempt(buf, p)) {
        Scan::Frame(frame, len) => Ok(Decoded::Frame { frame, len }),
        Scan::NeedMore => Ok(Decoded::NeedMore),
        Scan::Skip(skip) => Err(Error::NotAFrame { skip }),
        Scan::Err(e) => Err(e),
    }
}

/// Like [`decode`] for input known to be complete (the reply timed out, or a
/// test's literal bytes): a partial frame is [`Error::Truncated`].
pub fn decode_complete(buf: &[u8]) -> Result<(Frame<'_>, usize), Error> {
    match decode(buf)? {
        Decoded::Frame { frame, len } => Ok((frame, len)),
        Decoded::NeedMore => {
            let p = buf.iter().position(|b| *b == START).unwrap_or(0);
            let need = buf
                .get(p + 9)
                .map_or(OVERHEAD, |l| OVERHEAD + usize::from(*l));
            Err(Error::Truncated {
                have: buf.len(),
                need,
            })
        }
    }
}

fn attempt(buf: &[u8], p: usize) -> Attempt<Frame<'_>, Error> {
    let at = |i: usize| buf.get(p + i).copied();
    match at(7) {
        Some(START) => {}
        Some(_) => return Attempt::Stray,
        None => return Attempt::NeedMore,
    }
    let control = match at(8) {
        Some(c) if Control(c).is_plausible() => Control(c),
        Some(_) => return Attempt::Stray,
        None => return Attempt::NeedMore,
    };
    let len = match at(9) {
        Some(l) if usize::from(l) <= MAX_DATA => usize::from(l),
        Some(_) => return Attempt::Stray,
        None => return Attempt::NeedMore,
    };
    let Some(frame) = buf.get(p..p + OVERHEAD + len) else {
        return Attempt::NeedMore;
    };
    let (Some(body), Some(&cs), Some(&end)) = (
        frame.get(..10 + len),
        frame.get(10 + len),
        frame.get(11 + len),
    ) else {
        return Attempt::NeedMore;
    };
    let want = sum8(body);
    if cs != want {
        return Attempt::Bad(
            Error::BadChecksum {
                got: cs,
                want,
                len: p + OVERHEAD + len,
            },
            p + OVERHEAD + len,
        );
    }
    if end != END {
        return Attempt::Bad(
            Error::BadEnd {
                got: end,
                len: p + OVERHEAD + len,
            },
            p + OVERHEAD + len,
        );
    }
    let mut address = [0u8; 6];
    address.copy_from_slice(body.get(1..7).unwrap_or(&[0; 6]));
    let address = Address(address);
    let raw = body.get(10..).unwrap_or(&[]);
    let trailing = buf
        .iter()
        .skip(p + OVERHEAD + len)
        .take_while(|b| **b == WAKE)
        .count();
    let used = p + OVERHEAD + len + trailing;
    if control.is_error() {
        let code = raw.first().map_or(0, |b| b.wrapping_sub(OFFSET));
        return Attempt::Refused(Error::ErrorReply {
            address,
            function: control.function(),
            code: super::types::ErrorCode(code),
            len: used,
        });
    }
    Attempt::Frame(
        Frame {
            address,
            control,
            raw,
        },
        used,
    )
}

/// Appends one frame to `out`: `preamble` wake-up `FE`s, then the frame with
/// `data` (plain bytes; the +0x33 offset is added here).
pub fn encode(
    address: &Address,
    control: Control,
    data: &[u8],
    preamble: usize,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    if data.len() > MAX_DATA {
        return Err(Error::TooLong(data.len()));
    }
    out.extend(std::iter::repeat(WAKE).take(preamble));
    let start = out.len();
    out.push(START);
    out.extend_from_slice(&address.0);
    out.push(START);
    out.push(control.0);
    out.push(data.len() as u8);
    out.extend(data.iter().map(|b| b.wrapping_add(OFFSET)));
    let cs = sum8(out.get(start..).unwrap_or(&[]));
    out.push(cs);
    out.push(END);
    Ok(())
}
