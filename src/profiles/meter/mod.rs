//! Meter maps: the `[meter]` table of a device profile, beside the
//! `[mqtt]` and `[modbus]` halves. A map names the protocol and, per
//! canonical field, the data identifier it is read with and how its value
//! becomes the field (layout, scale, unit). The meter source
//! (`sources::meters`) imports the resolved [`MeterSpec`]s from here.
//!
//! ```toml
//! [meter]
//! protocol = "dlt645"          # dlt645 (2007) | dlt645_1997 | cjt188
//! [meter.groups.slow]
//! poll_interval = "15m"
//! [[meter.fields]]
//! name = "energy_kwh"
//! di = "00010000"              # DI3 DI2 DI1 DI0, as printed in the standard's tables
//! unit = "kWh"
//! [[meter.fields]]
//! name = "power_w"
//! di = "02030000"
//! unit = "kW"                  # stored in W (canonical)
//! ```
//!
//! A DL/T 645 identifier the codec knows (`protocols::dlt645::known`) brings
//! its own value layout; any other one needs `bytes` and `decimals` (and
//! `signed`), else `greengate check` reports it as unknown. A block
//! identifier (DI1 = FF) picks one of its values with `index`.
//!
//! CJ/T 188 fields read the read-data reply (`di = "901F"`) and name the
//! part they take with `value`: `total` (current cumulative flow),
//! `settlement_total`, `valve_open`, `battery_low`. The volume's unit
//! comes with the reply as a unit code; `unit_codes` says what each code
//! the meters send means (default `{ "2C" = "m3" }`, the one code
//! protocols.md confirms). A reply with a code not in it is counted and
//! its volume not used.

mod resolve;

use serde::Deserialize;
use std::collections::BTreeMap;

pub use super::modbus::GroupDef;
use crate::model::Unit;
use crate::protocols::{bcd::Format, cjt188, dlt645};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum MeterProtocol {
    /// DL/T 645-2007 (4-byte identifiers, read 0x11).
    #[default]
    Dlt645,
    /// DL/T 645-1997 (2-byte identifiers, read 0x01).
    Dlt645_1997,
    /// CJ/T 188-2004/-2018 water, heat and gas meters.
    Cjt188,
}

impl MeterProtocol {
    /// Digits of the nameplate address.
    pub fn address_digits(self) -> usize {
        match self {
            MeterProtocol::Dlt645 | MeterProtocol::Dlt645_1997 => 12,
            MeterProtocol::Cjt188 => 14,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            MeterProtocol::Dlt645 => "dlt645",
            MeterProtocol::Dlt645_1997 => "dlt645_1997",
            MeterProtocol::Cjt188 => "cjt188",
        }
    }
}

/// CJ/T 188 identifier byte order on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiOrderDef {
    /// `1F 90`, as in the standard's example request.
    #[default]
    LowFirst,
    /// `90 1F`.
    HighFirst,
}

impl From<DiOrderDef> for cjt188::DiOrder {
    fn from(o: DiOrderDef) -> Self {
        match o {
            DiOrderDef::LowFirst => cjt188::DiOrder::LowFirst,
            DiOrderDef::HighFirst => cjt188::DiOrder::HighFirst,
        }
    }
}

/// The `[meter]` table as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct MeterMap {
    pub protocol: MeterProtocol,
    /// CJ/T 188: the meter type byte T in hex (`"10"` cold water).
    pub meter_type: Option<String>,
    /// CJ/T 188: how requests send the identifier (replies match either).
    pub di_order: DiOrderDef,
    /// CJ/T 188: what each unit code in a reply means (hex code → unit).
    pub unit_codes: BTreeMap<String, String>,
    pub groups: BTreeMap<String, GroupDef>,
    pub fields: Vec<MeterFieldDef>,
}

/// One `[[meter.fields]]` entry as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct MeterFieldDef {
    pub name: String,
    /// The data identifier in hex, most significant byte first.
    pub di: String,
    /// DL/T 645 block reads: which value of the block (0 = first).
    pub index: Option<usize>,
    /// DL/T 645: the value layout, for identifiers the codec does not list.
    pub bytes: Option<u8>,
    pub decimals: Option<u8>,
    pub signed: Option<bool>,
    /// CJ/T 188: which part of the reply.
    pub value: Option<WaterValue>,
    pub scale: Option<f64>,
    pub unit: Option<String>,
    pub group: Option<String>,
}

/// The parts of a CJ/T 188 water meter's read-data reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaterValue {
    Total,
    SettlementTotal,
    ValveOpen,
    BatteryLow,
}

/// A request a field is read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Di {
    Dlt645(u32),
    Dlt645_1997(u16),
    Cjt188(u16),
}

impl Di {
    pub fn dlt645(self) -> Option<dlt645::DataId> {
        match self {
            Di::Dlt645(v) => Some(dlt645::DataId::V2007(v)),
            Di::Dlt645_1997(v) => Some(dlt645::DataId::V1997(v)),
            Di::Cjt188(_) => None,
        }
    }
}

impl std::fmt::Display for Di {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Di::Dlt645(v) => write!(f, "{v:08X}"),
            Di::Dlt645_1997(v) | Di::Cjt188(v) => write!(f, "{v:04X}"),
        }
    }
}

/// How a field's value is taken from its reply.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Extract {
    /// DL/T 645: value `index` of the reply, laid out as `format`.
    Bcd { format: Format, index: usize },
    /// CJ/T 188: a part of the water meter reply.
    Water(WaterValue),
}

/// One resolved field.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterSpec {
    pub name: String,
    pub di: Di,
    pub extract: Extract,
    pub scale: f64,
    /// The unit the meter reports in (converted to the canonical unit).
    pub unit: Unit,
    pub group: Option<String>,
}

/// A resolved map: what the meter source polls.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub protocol: MeterProtocol,
    pub meter_type: cjt188::MeterType,
    pub di_order: cjt188::DiOrder,
    /// Unit code → (unit), for CJ/T 188 volumes.
    pub unit_codes: BTreeMap<u8, Unit>,
    pub groups: BTreeMap<String, GroupDef>,
    pub specs: Vec<MeterSpec>,
}

pub use resolve::{parse_meter_type, parse_unit_codes};
