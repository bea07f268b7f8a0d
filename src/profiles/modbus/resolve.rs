//! Resolution and validation of register maps: from the profile's serde
//! structs to [`FieldSpec`]s with checked addresses, or every problem with
//! its key path (unknown unit, register out of range, overlapping fields,
//! a field forced to read more than 125 registers, ...).
//!
//! Pure; shared by `greengate check` (through [`Validate`]) and the poller,
//! so nothing after loading sees an unchecked address.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::config::{join, Check, Validate};
use crate::model::Unit;

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
            let week = Duration::from_secs(7 * 86400);
            if g.poll_interval.is_some_and(|d| d.is_zero() || d > week) {
                p(
                    format!("groups.{name}.poll_interval"),
                    "must be positive and at most 7 days".into(),
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
                let ((first, f), (second, g)) = if i < j {
                    ((i, a), (j, b))
                } else {
                    ((j, b), (i, a))
                };
                p(
                    format!("fields[{second}]"),
                    format!(
                        "overlapping fields: {:?} ({} {}..{}) overlaps fields[{first}] {:?} ({} {}..{})",
                        g.name,
                        g.table.name(),
                        g.address,
                        g.address as u32 + g.width as u32,
                        f.name,
                        f.table.name(),
                        f.address,
                        f.address as u32 + f.width as u32,
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
