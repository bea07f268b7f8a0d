//! Modbus register maps: the `[modbus]` table of a device profile, beside
//! the `[mqtt]` half in [`super::mqtt`]. They live under `profiles` (which
//! loads and checks them with the rest of the file) and the Modbus source
//! imports them from here.
//!
//! Addressing convention: `address` is the **0-based protocol address** (the
//! number that goes on the wire), with `table` naming the object type. For
//! people copying from a datasheet in Modicon notation there are two ways to
//! enter 1-based numbers:
//! - `register = "40001"` (or six digits, `"400001"`): the first digit names
//!   the table (0 coil, 1 discrete input, 3 input register, 4 holding
//!   register), the rest is 1-based, so `"40001"` is holding address 0;
//! - `address_base = 1` on the whole map: every `address` is 1-based within
//!   its table (`address = 1` is protocol address 0).
//!
//! ```toml
//! [modbus]
//! byte_order = "ABCD"          # default word/byte order for 32/64-bit values
//! max_request = 64             # this model cannot answer longer reads
//! [modbus.groups.slow]
//! poll_interval = "5m"
//! [[modbus.fields]]
//! name = "laeq"
//! table = "holding"            # coil | discrete_input | holding | input
//! address = 0
//! type = "u16"                 # bool bit u16 i16 u32 i32 u64 i64 f32 f64 string
//! scale = 0.1
//! unit = "dB(A)"
//! deadband = 0.5               # report by exception (off unless set)
//! heartbeat = "5m"
//! ```
//!
//! `RegisterMap::resolve` (in `resolve.rs`) turns these serde structs into
//! [`FieldSpec`]s, or every problem with its key path.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

mod resolve;

use crate::model::Unit;
pub use resolve::parse_modicon;

/// The largest register read the protocol allows (function 3 and 4).
pub const MAX_REGISTERS: u16 = 125;
/// The largest bit read the protocol allows (function 1 and 2).
pub const MAX_BITS: u16 = 2000;

/// The four Modbus object tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    Coil,
    DiscreteInput,
    Holding,
    Input,
}

impl Table {
    pub fn is_bits(self) -> bool {
        matches!(self, Table::Coil | Table::DiscreteInput)
    }
    /// The largest read of this table.
    pub fn max_read(self) -> u16 {
        if self.is_bits() {
            MAX_BITS
        } else {
            MAX_REGISTERS
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Table::Coil => "coil",
            Table::DiscreteInput => "discrete_input",
            Table::Holding => "holding",
            Table::Input => "input",
        }
    }
}

/// A field's value type on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A coil or discrete input; in a register table, "register is non-zero".
    Bool,
    /// One bit (`bit = 0..15`, 0 = least significant) of a register.
    Bit,
    #[default]
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
    /// ASCII text, two characters per register, `length` registers.
    String,
}

impl Kind {
    /// How many registers (or bits) a value of this kind occupies.
    pub fn width(self, length: u16) -> u16 {
        match self {
            Kind::Bool | Kind::Bit | Kind::U16 | Kind::I16 => 1,
            Kind::U32 | Kind::I32 | Kind::F32 => 2,
            Kind::U64 | Kind::I64 | Kind::F64 => 4,
            Kind::String => length,
        }
    }
}

/// Byte and word order of multi-byte values, named by where bytes A (most
/// significant) to D land: `ABCD` big-endian (the Modbus default), `CDAB`
/// word-swapped, `BADC` byte-swapped, `DCBA` little-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum ByteOrder {
    #[default]
    ABCD,
    BADC,
    CDAB,
    DCBA,
}

/// A named poll group: fields that share a poll interval.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct GroupDef {
    /// Poll interval of this group; the device's `poll_interval` when unset.
    #[serde(deserialize_with = "crate::config::opt_duration")]
    pub poll_interval: Option<Duration>,
}

/// Report-by-exception defaults for every field not marked `cumulative`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct ReportDefaults {
    pub deadband: Option<f64>,
    pub deadband_pct: Option<f64>,
    #[serde(deserialize_with = "crate::config::opt_duration")]
    pub heartbeat: Option<Duration>,
}

/// One field of the register map, as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct FieldDef {
    /// The canonical field name (`laeq`, `total_m3`, `power_w`, ...).
    pub name: String,
    pub table: Option<Table>,
    /// Protocol address (0-based, or 1-based under `address_base = 1`).
    pub address: Option<u32>,
    /// Modicon notation, 1-based: `"40001"` is holding register 0.
    pub register: Option<String>,
    #[serde(rename = "type")]
    pub kind: Kind,
    pub byte_order: Option<ByteOrder>,
    /// For `type = "bit"`: 0 (least significant) to 15.
    pub bit: Option<u8>,
    /// For `type = "string"`: registers (two characters each).
    pub length: Option<u16>,
    pub scale: Option<f64>,
    pub offset: Option<f64>,
    /// The device's unit; the value is converted to the canonical unit.
    pub unit: Option<String>,
    /// The poll group (see `[modbus.groups]`); the device's own interval when unset.
    pub group: Option<String>,
    /// Report by exception: send when the value moved by at least this much.
    pub deadband: Option<f64>,
    /// Report by exception: send when the value moved by this percent of the last sent value.
    pub deadband_pct: Option<f64>,
    /// With a deadband: send at least this often anyway (default 5m).
    #[serde(deserialize_with = "crate::config::opt_duration")]
    pub heartbeat: Option<Duration>,
    /// A cumulative counter: map-level `[modbus.report]` defaults do not apply.
    pub cumulative: bool,
}

/// The `[modbus]` table of a device profile.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct RegisterMap {
    /// 0 (default): `address` is the protocol address; 1: addresses are 1-based.
    pub address_base: u8,
    /// Default byte/word order of the map's fields.
    pub byte_order: ByteOrder,
    /// The longest read (registers) this model answers; at most 125.
    pub max_request: Option<u16>,
    /// Register gap the planner may read across to join two fields.
    pub max_gap: Option<u16>,
    pub groups: BTreeMap<String, GroupDef>,
    pub report: ReportDefaults,
    pub fields: Vec<FieldDef>,
}

/// Report-by-exception settings of one field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rbe {
    pub deadband: f64,
    pub deadband_pct: f64,
    pub heartbeat: Duration,
}

/// The default heartbeat of a field reported by exception.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(300);

/// One field, resolved: a checked address and everything decoding needs.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    pub name: String,
    pub table: Table,
    /// 0-based protocol address of the first register (or bit).
    pub address: u16,
    /// Registers (or bits) it occupies.
    pub width: u16,
    pub kind: Kind,
    pub order: ByteOrder,
    pub bit: u8,
    pub scale: f64,
    pub offset: f64,
    pub unit: Unit,
    pub group: Option<String>,
    pub rbe: Option<Rbe>,
}

impl FieldSpec {
    /// Whether the value is written as a float (any scaling or conversion).
    pub fn is_float(&self) -> bool {
        matches!(self.kind, Kind::F32 | Kind::F64)
            || (matches!(
                self.kind,
                Kind::U16 | Kind::I16 | Kind::U32 | Kind::I32 | Kind::U64 | Kind::I64
            ) && (self.scale != 1.0
                || self.offset != 0.0
                || self.unit.canonical() != self.unit))
    }

    /// `holding:40` style label for logs and dead letters.
    pub fn location(&self) -> String {
        format!("{}:{}", self.table.name(), self.address)
    }
}

#[cfg(test)]
mod tests;
