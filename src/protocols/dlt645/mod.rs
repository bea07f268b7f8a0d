//! DL/T 645-2007 (and the 1997 edition) multi-function electricity meters.
//!
//! Frame, as on the RS-485 wire:
//!
//! ```text
//! [FE FE FE FE]  68  A0 A1 A2 A3 A4 A5  68  C  L  DATA(L bytes)  CS  16  [FE]
//! ```
//!
//! Invariants the codec keeps:
//! - the address is 6 bytes, least significant BCD byte first; its printed
//!   (nameplate) form is the 12 digits A5..A0; `AA…` is any single meter;
//! - `L <= 200`; every DATA byte is sent plus 0x33 (mod 256) and the offset
//!   is removed on receipt, before anything else looks at it;
//! - CS is the sum of every byte from the first `68` to the last data byte,
//!   modulo 256; wake-up `FE`s are not summed;
//! - DATA of a read starts with the data identifier, DI0 first: 4 bytes in
//!   2007, 2 bytes in 1997 (the function code tells which edition a frame
//!   belongs to); values follow as BCD, least significant byte first.
//!
//! Layers: [`frame`] finds and checks frames in a byte stream (resynchronising
//! on noise and stray `68`s) and builds them; [`app`] builds the requests
//! and reads the replies (read, follow-up, block reads, read address, error
//! replies) and the values in them. See `README.md` beside this file.

pub mod app;
pub mod frame;
pub mod types;

pub use app::{known, Known, ReadReply};
pub use frame::{decode, decode_complete, encode, Decoded, Frame};
pub use types::{function, Address, Control, DataId, Edition, ErrorCode};

use crate::protocols::bcd::BcdError;

/// Why bytes did not yield the frame or value the caller wanted. Each
/// variant is a decision: drop [`Error::skip`] bytes and decode again
/// (`NotAFrame`), count a damaged reply (`BadChecksum`, `BadEnd`,
/// `Truncated`), keep the meter online but skip that identifier
/// (`ErrorReply`), or fix the profile (`WrongIdentifier`, `Value`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Noise, or a `68` that does not start a frame: drop `skip` bytes.
    #[error("{skip} bytes are not a frame start (noise or a stray 0x68)")]
    NotAFrame { skip: usize },
    /// A complete frame whose checksum is wrong: drop `len` bytes.
    #[error("checksum byte is {got:#04x}, the frame sums to {want:#04x}")]
    BadChecksum { got: u8, want: u8, len: usize },
    /// A complete frame whose last byte is not `16`: drop `len` bytes.
    #[error("frame ends with {got:#04x}, not 0x16")]
    BadEnd { got: u8, len: usize },
    /// The input ended inside a frame (from [`decode_complete`]).
    #[error("input ended after {have} bytes; the frame needs {need}")]
    Truncated { have: usize, need: usize },
    /// The meter answered, refusing: a valid frame with D6 set.
    #[error("meter {address} refused function {function:#04x}: {code}")]
    ErrorReply {
        address: Address,
        function: u8,
        code: ErrorCode,
        len: usize,
    },
    /// A valid frame that is not the reply asked for.
    #[error("expected a reply to function {want:#04x}, got control byte {got:#04x}")]
    UnexpectedControl { want: u8, got: u8 },
    /// A read reply for another data identifier than the one requested.
    #[error("reply carries data identifier {got}, {want} was requested")]
    WrongIdentifier { want: DataId, got: DataId },
    /// The data field is shorter than its layout.
    #[error("data field has {got} bytes, at least {need} expected")]
    ShortData { need: usize, got: usize },
    /// A value that is not BCD or does not fill its format.
    #[error("value: {0}")]
    Value(#[from] BcdError),
    /// Encoding: a data field over 200 bytes.
    #[error("data field of {0} bytes exceeds the 200 the standard allows")]
    TooLong(usize),
}

impl Error {
    /// Bytes of the input buffer to drop before decoding again (0 for errors
    /// that are not about the stream's framing).
    pub fn skip(&self) -> usize {
        match self {
            Error::NotAFrame { skip } => *skip,
            Error::BadChecksum { len, .. }
            | Error::BadEnd { len, .. }
            | Error::ErrorReply { len, .. } => *len,
            Error::Truncated { have, .. } => *have,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
