//! The CJ/T 188 vocabulary: meter types, addresses, control bytes, data
//! identifiers in either byte order, unit codes and status bits.

use std::fmt;
use std::str::FromStr;

use crate::protocols::bcd::{self, AddressError};

/// The meter type byte T.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MeterType(pub u8);

impl MeterType {
    pub const COLD_WATER: MeterType = MeterType(0x10);
    pub const HOT_WATER: MeterType = MeterType(0x11);
    pub const HEAT: MeterType = MeterType(0x20);
    pub const HEAT_COOLING: MeterType = MeterType(0x21);
    pub const GAS: MeterType = MeterType(0x30);
    /// `AA`: any type (with the `AA…` address, to discover a meter).
    pub const ANY: MeterType = MeterType(0xaa);

    /// Water meters are 0x10..=0x19, heat 0x20..=0x29, gas 0x30..=0x39.
    pub const fn is_water(self) -> bool {
        self.0 >> 4 == 1 && self.0 & 0x0f <= 9
    }
    pub const fn is_heat(self) -> bool {
        self.0 >> 4 == 2 && self.0 & 0x0f <= 9
    }
    /// Types a frame can carry: 0x10..=0x49 (water, heat, gas, custom) and
    /// `AA`. Anything else after a `68` means it was not a frame start.
    pub const fn is_plausible(self) -> bool {
        (self.0 >= 0x10 && self.0 <= 0x49) || self.0 == 0xaa
    }
    /// Whether a reply of type `got` answers a request sent with `self`:
    /// the same family (a heat meter asked as 0x20 may answer as 0x25), or
    /// any type for `AA`.
    pub const fn accepts_reply(self, got: MeterType) -> bool {
        self.0 == 0xaa || self.0 == got.0 || (self.0 >> 4 == got.0 >> 4 && self.0 >> 4 <= 4)
    }
}

/// A meter address in wire order: A0..A4 the meter number, A5..A6 the
/// manufacturer code, least significant byte first. Printed and configured
/// as the 14-digit nameplate number (A6 first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Address(pub [u8; 7]);

impl Address {
    /// `AA`×7: whichever single meter is on the bus answers.
    pub const ANY: Address = Address([0xaa; 7]);

    pub fn from_nameplate(s: &str) -> Result<Self, AddressError> {
        bcd::parse_nameplate(s).map(Address)
    }
    /// Whether a reply from `from` answers a request sent to `self`.
    pub fn accepts_reply_from(&self, from: &Address) -> bool {
        self.0
            .iter()
            .zip(from.0.iter())
            .all(|(w, g)| *w == 0xaa || w == g)
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

/// Function codes (control bits D5..D0).
pub mod function {
    /// Read data (reply 0x81, abnormal reply 0xC1).
    pub const READ_DATA: u8 = 0x01;
    /// Read address (to `AA…`; the reply 0x83 carries the address).
    pub const READ_ADDRESS: u8 = 0x03;
    /// Write data (valve control and settings; reply 0x84).
    pub const WRITE_DATA: u8 = 0x04;
}

/// The control byte C: D7 direction (1 = reply), D6 abnormal reply,
/// D5..D0 the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Control(pub u8);

impl Control {
    pub const fn request(function: u8) -> Self {
        Control(function & 0x3f)
    }
    pub const fn reply(function: u8) -> Self {
        Control(0x80 | (function & 0x3f))
    }
    pub const fn error_reply(function: u8) -> Self {
        Control(0xc0 | (function & 0x3f))
    }
    pub const fn is_reply(self) -> bool {
        self.0 & 0x80 != 0
    }
    pub const fn is_error(self) -> bool {
        self.0 & 0xc0 == 0xc0
    }
    pub const fn function(self) -> u8 {
        self.0 & 0x3f
    }
    /// A request with the abnormal bit set cannot exist.
    pub const fn is_plausible(self) -> bool {
        self.0 & 0xc0 != 0x40
    }
}

/// A data identifier as the standard names it (`0x901F`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataId(pub u16);

impl DataId {
    /// Current cumulative flow (the read-data reply of a meter).
    pub const READ_DATA: DataId = DataId(0x901f);
    /// Read address.
    pub const READ_ADDRESS: DataId = DataId(0x810a);

    pub fn wire(self, order: DiOrder) -> [u8; 2] {
        match order {
            DiOrder::LowFirst => self.0.to_le_bytes(),
            DiOrder::HighFirst => self.0.to_be_bytes(),
        }
    }
    /// The order in which `bytes` spell this identifier, if they do (both
    /// orders, for an identifier whose two bytes are equal).
    pub fn order_of(self, bytes: [u8; 2]) -> Option<DiOrder> {
        if bytes == self.wire(DiOrder::LowFirst) {
            Some(DiOrder::LowFirst)
        } else if bytes == self.wire(DiOrder::HighFirst) {
            Some(DiOrder::HighFirst)
        } else {
            None
        }
    }
}

impl fmt::Display for DataId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X}", self.0)
    }
}

/// How a bus sends data identifiers: `1F 90` (low byte first, as in the
/// standard's example request) or `90 1F`. Both are seen in the field and
/// the checksum cannot tell them apart: a per-bus or per-profile setting
/// for requests, while replies are matched in either order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DiOrder {
    #[default]
    LowFirst,
    HighFirst,
}

/// A unit code. protocols.md confirms only 0x2C (m³); every other code is
/// kept as [`Unit::Other`] and not converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    CubicMetre,
    Other(u8),
}

impl Unit {
    pub const fn from_code(code: u8) -> Unit {
        match code {
            0x2c => Unit::CubicMetre,
            c => Unit::Other(c),
        }
    }
    pub const fn code(self) -> u8 {
        match self {
            Unit::CubicMetre => 0x2c,
            Unit::Other(c) => c,
        }
    }
}

/// The valve state, ST1 bits D0..D1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Valve {
    Open,
    Closed,
    Abnormal,
    /// `10`, which the standard does not define.
    Undefined,
}

/// The status bytes ST1, ST2 of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status {
    pub st1: u8,
    pub st2: u8,
}

impl Status {
    pub const fn valve(self) -> Valve {
        match self.st1 & 0x03 {
            0b00 => Valve::Open,
            0b01 => Valve::Closed,
            0b11 => Valve::Abnormal,
            _ => Valve::Undefined,
        }
    }
    pub const fn battery_low(self) -> bool {
        self.st1 & 0x04 != 0
    }
}
