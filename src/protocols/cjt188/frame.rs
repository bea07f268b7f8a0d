//! The link layer: finding, checking and building `68 T A0..A6 C L DATA CS 16`.

use super::types::{Address, Control, MeterType};
use super::Error;
use crate::protocols::bcd::sum8;
use crate::protocols::scan::{scan, Attempt, Scan};

pub const START: u8 = 0x68;
pub const END: u8 = 0x16;
pub const WAKE: u8 = 0xfe;
/// Bytes of a frame around its data: 68, T, 7 address, C, L ... CS, 16.
pub const OVERHEAD: usize = 13;

/// One checked frame, borrowing the buffer it was found in. CJ/T 188 adds
/// no offset to the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub meter_type: MeterType,
    pub address: Address,
    pub control: Control,
    pub data: &'a [u8],
}

/// What the bytes at the front of a buffer hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A frame; `len` bytes (wake-up bytes, the frame, trailing `FE`s) are used.
    Frame { frame: Frame<'a>, len: usize },
    /// The buffer holds the start of a frame (or only wake-up bytes): read more.
    NeedMore,
}

/// Decodes the frame at the front of `buf`, with the same stream rules as
/// DL/T 645 (see `protocols::scan`): `FE`s skipped silently, noise and
/// stray `68`s reported as [`Error::NotAFrame`] to drop, a damaged frame
/// as [`Error::BadChecksum`] / [`Error::BadEnd`] unless a checked frame
/// starts inside it, an abnormal reply as [`Error::ErrorReply`].
pub fn decode(buf: &[u8]) -> Result<Decoded<'_>, Error> {
    match scan(buf, START, Some(WAKE), |p| attempt(buf, p)) {
        Scan::Frame(frame, len) => Ok(Decoded::Frame { frame, len }),
        Scan::NeedMore => Ok(Decoded::NeedMore),
        Scan::Skip(skip) => Err(Error::NotAFrame { skip }),
        Scan::Err(e) => Err(e),
    }
}

/// Like [`decode`] for input known to be complete: a partial frame is
/// [`Error::Truncated`].
pub fn decode_complete(buf: &[u8]) -> Result<(Frame<'_>, usize), Error> {
    match decode(buf)? {
        Decoded::Frame { frame, len } => Ok((frame, len)),
        Decoded::NeedMore => {
            let p = buf.iter().position(|b| *b == START).unwrap_or(0);
            let need = buf
                .get(p + 10)
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
    let meter_type = match at(1) {
        Some(t) if MeterType(t).is_plausible() => MeterType(t),
        Some(_) => return Attempt::Stray,
        None => return Attempt::NeedMore,
    };
    let control = match at(9) {
        Some(c) if Control(c).is_plausible() => Control(c),
        Some(_) => return Attempt::Stray,
        None => return Attempt::NeedMore,
    };
    let Some(len) = at(10).map(usize::from) else {
        return Attempt::NeedMore;
    };
    let end_at = p + OVERHEAD + len;
    let (Some(body), Some(cs), Some(end)) = (buf.get(p..p + 11 + len), at(11 + len), at(12 + len))
    else {
        return Attempt::NeedMore;
    };
    let want = sum8(body);
    if cs != want {
        return Attempt::Bad(
            Error::BadChecksum {
                got: cs,
                want,
                len: end_at,
            },
            end_at,
        );
    }
    if end != END {
        return Attempt::Bad(
            Error::BadEnd {
                got: end,
                len: end_at,
            },
            end_at,
        );
    }
    let mut address = [0u8; 7];
    if let Some(a) = body.get(2..9) {
        address.copy_from_slice(a);
    }
    let address = Address(address);
    let used = end_at + buf.iter().skip(end_at).take_while(|b| **b == WAKE).count();
    if control.is_error() {
        return Attempt::Refused(Error::ErrorReply {
            meter_type,
            address,
            function: control.function(),
            len: used,
        });
    }
    let data = body.get(11..).unwrap_or(&[]);
    Attempt::Frame(
        Frame {
            meter_type,
            address,
            control,
            data,
        },
        used,
    )
}

/// Appends one frame to `out` behind `preamble` wake-up `FE`s.
pub fn encode(
    meter_type: MeterType,
    address: &Address,
    control: Control,
    data: &[u8],
    preamble: usize,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let len = u8::try_from(data.len()).map_err(|_| Error::TooLong(data.len()))?;
    out.extend(std::iter::repeat(WAKE).take(preamble));
    let start = out.len();
    out.push(START);
    out.push(meter_type.0);
    out.extend_from_slice(&address.0);
    out.push(control.0);
    out.push(len);
    out.extend_from_slice(data);
    let cs = sum8(out.get(start..).unwrap_or(&[]));
    out.push(cs);
    out.push(END);
    Ok(())
}
