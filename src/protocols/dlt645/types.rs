//! The DL/T 645 vocabulary: addresses, control bytes, data identifiers and
//! the error reply's ERR byte.

use std::fmt;
use std::str::FromStr;

use crate::protocols::bcd::{self, AddressError};

/// A meter address in wire order (A0 first, least significant BCD byte).
/// Printed and configured as the 12-digit nameplate number (A5 first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Address(pub [u8; 6]);

impl Address {
    /// `AA AA AA AA AA AA`: whichever single meter is on the bus answers
    /// (with its own address), e.g. to the read-address command 0x13.
    pub const ANY: Address = Address([0xaa; 6]);
    /// `99 99 99 99 99 99`: every meter listens, none answers (broadcast time).
    pub const BROADCAST: Address = Address([0x99; 6]);

    /// From the nameplate's 12 digits (most significant first).
    pub fn from_nameplate(s: &str) -> Result<Self, AddressError> {
        bcd::parse_nameplate(s).map(Address)
    }

    /// Whether any byte is the wildcard `AA` (2007 allows the high bytes of
    /// an address to be abbreviated with `AA`).
    pub fn is_wildcard(&self) -> bool {
        self.0.contains(&0xaa)
    }

    /// Whether a reply from `from` answers a request sent to `self`: equal,
    /// or equal on every byte that is not a wildcard.
    pub fn accepts_reply_from(&self, from: &Address) -> bool {
        self.0
            .iter()
            .zip(from.0.iter())
            .all(|(want, got)| *want == 0xaa || want == got)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        bcd::fmt_nameplate(&self.0, f)
    }
}

impl FromStr for Address {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Address::from_nameplate(s)
    }
}

/// Function codes (control bits D4..D0).
pub mod function {
    /// Broadcast time (both editions; address `99…`, no reply).
    pub const BROADCAST_TIME: u8 = 0x08;
    /// 2007: read data (reply 0x91, with follow-ups 0xB1, error 0xD1).
    pub const READ: u8 = 0x11;
    /// 2007: read follow-up data (reply 0x92 / 0xB2, error 0xD2).
    pub const READ_FOLLOW_UP: u8 = 0x12;
    /// 2007: read address (to `AA…`, reply 0x93 carrying the address).
    pub const READ_ADDRESS: u8 = 0x13;
    /// 2007: write data.
    pub const WRITE: u8 = 0x14;
    /// 1997: read data (reply 0x81, with follow-ups 0xA1, error 0xC1).
    pub const READ_1997: u8 = 0x01;
    /// 1997: read follow-up data (reply 0x82 / 0xA2).
    pub const READ_FOLLOW_UP_1997: u8 = 0x02;
}

/// The control byte C: D7 direction (1 = reply from the meter), D6 error
/// reply, D5 more data follows, D4..D0 the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Control(pub u8);

impl Control {
    /// A master's request with `function`.
    pub const fn request(function: u8) -> Self {
        Control(function & 0x1f)
    }
    /// A meter's normal reply to `function`; `more` sets D5 (follow-ups).
    pub const fn reply(function: u8, more: bool) -> Self {
        Control(0x80 | if more { 0x20 } else { 0 } | (function & 0x1f))
    }
    /// A meter's error reply to `function` (0xD1 for a 2007 read, 0xC1 for 1997).
    pub const fn error_reply(function: u8) -> Self {
        Control(0xc0 | (function & 0x1f))
    }
    pub const fn is_reply(self) -> bool {
        self.0 & 0x80 != 0
    }
    pub const fn is_error(self) -> bool {
        self.0 & 0xc0 == 0xc0
    }
    pub const fn more_follows(self) -> bool {
        self.0 & 0x20 != 0
    }
    pub const fn function(self) -> u8 {
        self.0 & 0x1f
    }
    /// A request with the error bit set exists in neither edition: such a
    /// byte after a `68` means the `68` was not a frame start.
    pub const fn is_plausible(self) -> bool {
        self.0 & 0xc0 != 0x40
    }
}

/// The two editions; they share the frame and differ in function codes and
/// the width of the data identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Edition {
    V2007,
    V1997,
}

impl Edition {
    /// The edition a function code belongs to: 1997 uses 0x01..=0x10, 2007
    /// 0x11 and up; broadcast time (0x08, shared by both) counts as 2007.
    pub fn of_function(function: u8) -> Edition {
        if function < 0x11 && function != function::BROADCAST_TIME {
            Edition::V1997
        } else {
            Edition::V2007
        }
    }
    pub const fn read(self) -> u8 {
        match self {
            Edition::V2007 => function::READ,
            Edition::V1997 => function::READ_1997,
        }
    }
    pub const fn read_follow_up(self) -> u8 {
        match self {
            Edition::V2007 => function::READ_FOLLOW_UP,
            Edition::V1997 => function::READ_FOLLOW_UP_1997,
        }
    }
    /// Bytes of a data identifier: 4 (2007) or 2 (1997).
    pub const fn di_len(self) -> usize {
        match self {
            Edition::V2007 => 4,
            Edition::V1997 => 2,
        }
    }
}

/// A data identifier, written most significant byte first as in the
/// standard's tables (`00 01 00 00` = `DataId::V2007(0x0001_0000)`), sent
/// least significant byte first (DI0 first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataId {
    V2007(u32),
    V1997(u16),
}

impl DataId {
    pub const fn edition(self) -> Edition {
        match self {
            DataId::V2007(_) => Edition::V2007,
            DataId::V1997(_) => Edition::V1997,
        }
    }
    /// The identifier's bytes in wire order, without the +0x33 offset.
    pub fn wire(self, out: &mut Vec<u8>) {
        match self {
            DataId::V2007(v) => out.extend_from_slice(&v.to_le_bytes()),
            DataId::V1997(v) => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
    /// Reads an identifier of `edition` from plain (offset-removed) bytes.
    pub fn from_wire(edition: Edition, b: &[u8]) -> Option<DataId> {
        match (edition, b) {
            (Edition::V2007, [a, b, c, d, ..]) => {
                Some(DataId::V2007(u32::from_le_bytes([*a, *b, *c, *d])))
            }
            (Edition::V1997, [a, b, ..]) => Some(DataId::V1997(u16::from_le_bytes([*a, *b]))),
            _ => None,
        }
    }
}

impl fmt::Display for DataId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataId::V2007(v) => write!(f, "{v:08X}"),
            DataId::V1997(v) => write!(f, "{v:04X}"),
        }
    }
}

/// The ERR byte of an error reply, a bit field. protocols.md confirms 0x02
/// ("no such data requested"); the other bit names follow the 2007 text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub u8);

impl ErrorCode {
    const NAMES: [&'static str; 8] = [
        "other error",
        "no such data requested",
        "wrong password or unauthorised",
        "baud rate cannot be changed",
        "too many annual time zones",
        "too many daily time periods",
        "too many tariffs",
        "reserved bit 7",
    ];
    /// Bit 1: the meter has no data under the requested identifier, so
    /// asking again is pointless (a profile mistake, not a bus fault).
    pub const fn no_such_data(self) -> bool {
        self.0 & 0x02 != 0
    }
    /// Bit 2: the request needs a password or authorisation.
    pub const fn unauthorised(self) -> bool {
        self.0 & 0x04 != 0
    }
    /// The names of the set bits, least significant first.
    pub fn reasons(self) -> impl Iterator<Item = &'static str> {
        (0..8)
            .filter(move |i| self.0 & (1 << i) != 0)
            .filter_map(|i| Self::NAMES.get(i).copied())
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ERR {:#04x}", self.0)?;
        for (i, r) in self.reasons().enumerate() {
            write!(f, "{}{r}", if i == 0 { ": " } else { ", " })?;
        }
        Ok(())
    }
}
