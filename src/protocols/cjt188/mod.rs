//! CJ/T 188-2004 and -2018 household water, heat and gas meters.
//!
//! Frame, as on the RS-485 (or M-Bus) wire:
//!
//! ```text
//! [FE …]  68  T  A0 A1 A2 A3 A4 A5 A6  C  L  DATA(L bytes)  CS  16  [FE]
//! ```
//!
//! Invariants the codec keeps:
//! - T is the meter type (0x10 cold water … 0x30 gas, `AA` any); the
//!   address is 7 bytes, least significant first (A0..A4 meter number,
//!   A5..A6 manufacturer code), printed as the 14 digits A6..A0; `AA`×7 is
//!   any single meter;
//! - CS is the sum of every byte from `68` to the last data byte, modulo
//!   256; there is no data offset (unlike DL/T 645);
//! - DATA starts with a 2-byte data identifier and the serial number SER.
//!   The identifier's byte order differs between masters and meters
//!   (`1F 90` or `90 1F`): requests use the configured [`DiOrder`], replies
//!   are matched in either order and report the one they used;
//! - values are BCD, least significant byte first; a field filled with
//!   `FF` is absent, never a number.
//!
//! Layers: [`frame`] finds and checks frames in a byte stream and builds
//! them (the stream rules are shared with DL/T 645); [`read`] builds the
//! read-data and read-address requests and decodes the replies, the water
//! meter's read-data reply in full. See `README.md` beside this file.

pub mod frame;
pub mod read;
pub mod types;

pub use frame::{decode, decode_complete, encode, Decoded, Frame};
pub use read::{read_address_request, read_request, reply_for, Quantity, Reply, WaterData};
pub use types::{function, Address, Control, DataId, DiOrder, MeterType, Status, Unit, Valve};

use crate::protocols::bcd::BcdError;

/// Why bytes did not yield the frame or reading the caller wanted; each
/// variant is a decision, as in DL/T 645: drop [`Error::skip`] bytes and
/// decode again (`NotAFrame`), count a damaged reply (`BadChecksum`,
/// `BadEnd`, `Truncated`), keep the meter online (`ErrorReply`), or look at
/// the profile (`WrongIdentifier`, `UnexpectedControl`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{skip} bytes are not a frame start (noise or a stray 0x68)")]
    NotAFrame { skip: usize },
    #[error("checksum byte is {got:#04x}, the frame sums to {want:#04x}")]
    BadChecksum { got: u8, want: u8, len: usize },
    #[error("frame ends with {got:#04x}, not 0x16")]
    BadEnd { got: u8, len: usize },
    #[error("input ended after {have} bytes; the frame needs {need}")]
    Truncated { have: usize, need: usize },
    /// D6 set: the meter answered that it could not comply. The layout of
    /// the abnormal reply's data is not in protocols.md; it is not read.
    #[error("meter {address} (type {:#04x}) gave an abnormal reply to function {function:#04x}", meter_type.0)]
    ErrorReply {
        meter_type: MeterType,
        address: Address,
        function: u8,
        len: usize,
    },
    #[error("expected control byte {want:#04x}, got {got:#04x}")]
    UnexpectedControl { want: u8, got: u8 },
    #[error("reply carries identifier bytes {:02X} {:02X}, {want} was requested", got[0], got[1])]
    WrongIdentifier { want: DataId, got: [u8; 2] },
    #[error("data field has {got} bytes, at least {need} expected")]
    ShortData { need: usize, got: usize },
    #[error("value: {0}")]
    Value(#[from] BcdError),
    #[error("data field of {0} bytes does not fit the length byte")]
    TooLong(usize),
    #[error("{0} cannot be encoded in the reply layout")]
    Unencodable(&'static str),
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
