//! HJ 212-2017 environmental data transmission (noise and dust stations,
//! environmental platforms), ASCII over TCP.
//!
//! Frame:
//!
//! ```text
//! ##  LLLL  QN=…;ST=…;CN=…;PW=…;MN=…;Flag=…;[PNUM=…;PNO=…;]CP=&&…&&  CCCC  \r\n
//! ```
//!
//! Invariants the codec keeps:
//! - `LLLL` is the data segment's length in bytes (the standard's
//!   characters; the segment is ASCII in practice), 4 decimal digits, 0 to
//!   9999: a receiver accepts every length the 2017 table allows;
//! - `CCCC` is the CRC of the data segment only, 4 hex digits, high byte
//!   first; which CRC is a per-peer setting ([`Crc`]): the standard's by
//!   default, CRC-16/MODBUS high or low byte first as options. Either hex
//!   case is accepted; upper case is written;
//! - the CP section is `CP=&&` … the last `&&`; inside, `;` separates
//!   items, `,` fields, `=` key and value; keys are trimmed;
//! - QN, PW and MN are kept verbatim (a 9014 answer echoes the QN; QNs are
//!   reused by stations and are 13-digit epoch milliseconds on one
//!   platform), and a reply is never answered.
//!
//! Layers: [`frame`] finds and checks frames in a byte stream; [`packet`]
//! parses and writes the data segment; [`cp`] reads and builds the CP
//! section; [`mod@split`] cuts long uploads into packets and puts them back
//! together. See `README.md` beside this file.

pub mod cp;
pub mod crc;
pub mod frame;
pub mod packet;
pub mod split;

pub use cp::{format_data_time, Cp, CpWriter, DataFlag, Field, Item, Suffix};
pub use crc::Crc;
pub use frame::{decode, decode_complete, encode, Decoded, Frame};
pub use packet::{cn, format_qn, qn_kind, qn_rtn, st, Flag, Packet, QnKind};
pub use split::{split, Limits, Message, Pushed, Reassembler};

/// Why bytes did not yield the frame or packet the caller wanted. Each
/// variant is a decision: drop [`Error::skip`] bytes and decode again
/// (`NotAFrame`), answer QnRtn 9 and dead-letter (`BadCrc`), count damaged
/// input (`BadEnd`, `NotText`, `Truncated`), refuse the packet
/// (`BadField`, `UnclosedCp`, `BadPacketIndex`), or fix what is being sent
/// (`TooLong`, `Forbidden`, `ItemTooLong`, `TooManyPackets`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{skip} bytes are not a frame start (noise before ##)")]
    NotAFrame { skip: usize },
    #[error(
        "CRC field {:?}, the segment's is {want:04X}",
        String::from_utf8_lossy(got)
    )]
    BadCrc { got: [u8; 4], want: u16, len: usize },
    #[error("frame does not end with CR LF")]
    BadEnd { len: usize },
    #[error("data segment is not UTF-8 text")]
    NotText { len: usize },
    #[error("input ended after {have} bytes; the frame needs {need}")]
    Truncated { have: usize, need: usize },
    #[error("header field {key} is not a number: {value:?}")]
    BadField { key: &'static str, value: String },
    #[error("CP=&& without its closing &&")]
    UnclosedCp,
    #[error("packet {pno} of {pnum} is not a valid index")]
    BadPacketIndex { pno: u16, pnum: u16 },
    #[error("{0} characters exceed the limit")]
    TooLong(usize),
    #[error("{0:?} would break the segment's structure (; , = & or a line break)")]
    Forbidden(String),
    #[error("a CP item of {len} characters does not fit a packet ({budget} available)")]
    ItemTooLong { len: usize, budget: usize },
    #[error("{0} packets exceed PNUM's 4 digits")]
    TooManyPackets(usize),
}

impl Error {
    /// Bytes of the input buffer to drop before decoding again (0 for errors
    /// that are not about the stream's framing).
    pub fn skip(&self) -> usize {
        match self {
            Error::NotAFrame { skip } => *skip,
            Error::BadCrc { len, .. } | Error::BadEnd { len } | Error::NotText { len } => *len,
            Error::Truncated { have, .. } => *have,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod split_tests;
#[cfg(test)]
mod tests;
