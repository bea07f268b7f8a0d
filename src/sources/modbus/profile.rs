//! Modbus register maps: the `[modbus]` table of a device profile.
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
//! [`RegisterMap::resolve`] turns the serde structs into [`FieldSpec`]s (or
//! every problem with its key path); validation and the runtime share it, so
//! nothing after loading sees an unchecked address.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::{join, Check, Validate};
use crate::model::Unit;

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

/// Parses Modicon notation (`"40001"`, `"300010"`) into a table and protocol address.
pub fn parse_modicon(s: &str) -> Result<(Table, u16), String> {
    let bad = || format!("{s:?} is not a Modicon register number such as \"40001\" or \"300001\"");
    if !(s.len() == 5 || s.len() == 6) || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let table = match &s[..1] {
        "0" => Table::Coil,
        "1" => Table::DiscreteInput,
        "3" => Table::Input,
        "4" => Table::Holding,
        _ => return Err(bad()),
    };
    let n: u32 = s[1..].parse().map_err(|_| bad())?;
    if n == 0 || n > 65536 {
        return Err(format!("{s:?}: register numbers run from 1 to 65536"));
    }
    Ok((table, (n - 1) as u16))
}

type Problems = Vec<(String, String)>;

impl RegisterMap {
    /// Resolves every field, or returns every problem as (relative key path, message).
    pub fn resolve(&self) -> Result<Vec<FieldSpec>, Problems> {
        let mut problems: Problems = Vec::new();
        let mut p = |path: String, msg: String| problems.push((path, msg));
        if self.address_base > 1 {
            p("address_base".into(), "must be 0 or 1".into());
        }
        if let Some(m) = self.max_request {
            if m == 0 || m > MAX_REGISTERS {
                p(
                    "max_request".into(),
                    format!("must be 1 to {MAX_REGISTERS}, got {m}"),
                );
            }
        }
        if let Some(g) = self.max_gap {
            if g >= MAX_REGISTERS {
                p(
                    "max_gap".into(),
                    format!("must be below {MAX_REGISTERS}, got {g}"),
                );
            }
        }
        for (name, g) in &self.groups {
            if g.poll_interval == Some(Duration::ZERO) {
                p(
                    format!("groups.{name}.poll_interval"),
                    "must be positive".into(),
                );
            }
        }
        let mut specs = Vec::new();
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, f) in self.fields.iter().enumerate() {
            let at = format!("fields[{i}]");
            if f.name.is_empty() || f.name.contains(['\n', '\r']) {
                p(join(&at, "name"), "a field needs a non-empty name".into());
            } else if let Some(j) = names.insert(&f.name, i) {
                p(
                    join(&at, "name"),
                    format!("{:?} is also fields[{j}]", f.name),
                );
            }
            match self.resolve_field(f, &at) {
                Ok(s) => specs.push((i, s)),
                Err(mut e) => problems_extend(&mut p, &mut e),
            }
        }
        check_overlaps(&specs, &mut p);
        if problems.is_empty() {
            Ok(specs.into_iter().map(|(_, s)| s).collect())
        } else {
            Err(problems)
        }
    }

    fn resolve_field(&self, f: &FieldDef, at: &str) -> Result<FieldSpec, Problems> {
        let mut e: Problems = Vec::new();
        let (table, address) = match (&f.register, f.address) {
            (Some(_), Some(_)) => {
                e.push((
                    at.into(),
                    "set either `address` or `register`, not both".into(),
                ));
                (Table::Holding, 0)
            }
            (Some(r), None) => match parse_modicon(r) {
                Ok((t, a)) => {
                    if f.table.is_some_and(|ft| ft != t) {
                        e.push((
                            join(at, "table"),
                            format!("register {r:?} is in the {} table", t.name()),
                        ));
                    }
                    (t, a as u32)
                }
                Err(m) => {
                    e.push((join(at, "register"), m));
                    (Table::Holding, 0)
                }
            },
            (None, Some(a)) => {
                let Some(t) = f.table else {
                    e.push((
                        join(at, "table"),
                        "missing: coil, discrete_input, holding or input".into(),
                    ));
                    return Err(e);
                };
                if self.address_base == 1 && a == 0 {
                    e.push((
                        join(at, "address"),
                        "is 1-based here (address_base = 1), so 0 is not valid".into(),
                    ));
                }
                (t, a.saturating_sub(self.address_base as u32))
            }
            (None, None) => {
                e.push((
                    at.into(),
                    "missing `address` (0-based) or `register` (\"40001\" form)".into(),
                ));
                return Err(e);
            }
        };
        let length = f.length.unwrap_or(0);
        let width = f.kind.width(length);
        match f.kind {
            Kind::String if f.length.is_none() => e.push((
                join(at, "length"),
                "a string needs `length` (registers)".into(),
            )),
            Kind::String if length == 0 => {
                e.push((join(at, "length"), "must be at least 1".into()))
            }
            _ if f.length.is_some() && f.kind != Kind::String => {
                e.push((join(at, "length"), "only strings take a length".into()))
            }
            _ => {}
        }
        if width > MAX_REGISTERS {
            e.push((
                join(at, "length"),
                format!("needs {width} registers in one read; a Modbus read carries at most {MAX_REGISTERS}"),
            ));
        }
        if let Some(m) = self.max_request {
            if width > m && m > 0 {
                e.push((
                    join(at, "type"),
                    format!("needs {width} registers but max_request is {m}"),
                ));
            }
        }
        if table.is_bits() && f.kind != Kind::Bool {
            e.push((
                join(at, "type"),
                format!("the {} table holds bits: use type = \"bool\"", table.name()),
            ));
        }
        if address + width as u32 > 65536 {
            e.push((
                join(
                    at,
                    if f.register.is_some() {
                        "register"
                    } else {
                        "address"
                    },
                ),
                format!("register out of range: {address} + {width} registers passes 65535"),
            ));
        }
        let bit = match (f.kind, f.bit) {
            (Kind::Bit, Some(b)) if b <= 15 => b,
            (Kind::Bit, Some(b)) => {
                e.push((join(at, "bit"), format!("must be 0 to 15, got {b}")));
                0
            }
            (Kind::Bit, None) => {
                e.push((
                    join(at, "bit"),
                    "type = \"bit\" needs `bit` (0 to 15)".into(),
                ));
                0
            }
            (_, Some(_)) => {
                e.push((join(at, "bit"), "only type = \"bit\" takes a bit".into()));
                0
            }
            (_, None) => 0,
        };
        let unit = match f.unit.as_deref().map(|u| (u, Unit::parse(u))) {
            None => Unit::None,
            Some((_, Some(u))) => u,
            Some((u, None)) => {
                e.push((join(at, "unit"), format!("unknown unit {u:?}")));
                Unit::None
            }
        };
        if let Some(g) = &f.group {
            if !self.groups.contains_key(g) {
                e.push((
                    join(at, "group"),
                    format!("no group {g:?} in [modbus.groups]"),
                ));
            }
        }
        let (scale, offset) = (f.scale.unwrap_or(1.0), f.offset.unwrap_or(0.0));
        if !scale.is_finite() || !offset.is_finite() || scale == 0.0 {
            e.push((
                at.into(),
                "scale must be finite and non-zero, offset finite".into(),
            ));
        }
        let rbe = self.rbe(f, at, &mut e);
        if !e.is_empty() {
            return Err(e);
        }
        Ok(FieldSpec {
            name: f.name.clone(),
            table,
            address: address as u16,
            width,
            kind: f.kind,
            order: f.byte_order.unwrap_or(self.byte_order),
            bit,
            scale,
            offset,
            unit,
            group: f.group.clone(),
            rbe,
        })
    }

    fn rbe(&self, f: &FieldDef, at: &str, e: &mut Problems) -> Option<Rbe> {
        for (k, v) in [("deadband", f.deadband), ("deadband_pct", f.deadband_pct)] {
            if v.is_some_and(|v| !(v.is_finite() && v >= 0.0)) {
                e.push((join(at, k), "must be a non-negative number".into()));
            }
        }
        let own = f.deadband.is_some() || f.deadband_pct.is_some();
        let d = &self.report;
        let inherit = !f.cumulative && (d.deadband.is_some() || d.deadband_pct.is_some());
        if !own && !inherit {
            if f.heartbeat.is_some() {
                e.push((
                    join(at, "heartbeat"),
                    "needs a deadband or deadband_pct".into(),
                ));
            }
            return None;
        }
        let (deadband, pct) = if own {
            (f.deadband, f.deadband_pct)
        } else {
            (d.deadband, d.deadband_pct)
        };
        Some(Rbe {
            deadband: deadband.unwrap_or(f64::INFINITY),
            deadband_pct: pct.unwrap_or(f64::INFINITY),
            heartbeat: f.heartbeat.or(d.heartbeat).unwrap_or(DEFAULT_HEARTBEAT),
        })
    }
}

fn problems_extend(p: &mut impl FnMut(String, String), e: &mut Problems) {
    for (a, b) in e.drain(..) {
        p(a, b);
    }
}

/// Two fields may share a register only as distinct bits of it.
fn check_overlaps(specs: &[(usize, FieldSpec)], p: &mut impl FnMut(String, String)) {
    let mut sorted: Vec<&(usize, FieldSpec)> = specs.iter().collect();
    sorted.sort_by_key(|(_, s)| (s.table, s.address));
    for (k, (i, a)) in sorted.iter().enumerate() {
        for (j, b) in sorted[k + 1..].iter() {
            if b.table != a.table || b.address as u32 >= a.address as u32 + a.width as u32 {
                break;
            }
            let bits_apart = a.kind == Kind::Bit && b.kind == Kind::Bit && a.bit != b.bit;
            if !bits_apart {
                let (first, second) = if i < j { (i, j) } else { (j, i) };
                p(
                    format!("fields[{second}]"),
                    format!(
                        "overlapping fields: {} {} overlaps fields[{first}] ({})",
                        b.table.name(),
                        b.address,
                        if i < j { &a.name } else { &b.name }
                    ),
                );
            }
        }
    }
}

impl Validate for RegisterMap {
    fn validate(&self, path: &str, cx: &mut Check) {
        if let Err(problems) = self.resolve() {
            for (at, msg) in problems {
                cx.problem(join(path, &at), msg);
            }
        }
        if self.fields.is_empty() {
            cx.problem(
                join(path, "fields"),
                "a register map needs at least one field",
            );
        }
    }
}

#[cfg(test)]
#[path = "profile_tests.rs"]
mod tests;
