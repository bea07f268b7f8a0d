//! Resolving a `[meter]` table into [`Resolved`], or every problem with
//! its key path (`<file>.meter.fields[2].di: ...`).

use std::collections::BTreeMap;

use super::{Di, Extract, MeterMap, MeterProtocol, MeterSpec, Resolved, WaterValue};
use crate::config::{join, Check};
use crate::model::Unit;
use crate::protocols::bcd::Format;
use crate::protocols::{cjt188, dlt645};

/// The meter type byte from its hex spelling (`"10"`).
pub fn parse_meter_type(s: &str) -> Result<cjt188::MeterType, String> {
    let t = u8::from_str_radix(s, 16)
        .ok()
        .filter(|_| s.len() == 2)
        .map(cjt188::MeterType)
        .ok_or_else(|| format!("expected a hex byte such as \"10\" (cold water), got {s:?}"))?;
    if !t.is_plausible() || t == cjt188::MeterType::ANY {
        return Err(format!(
            "{s:?} is not a CJ/T 188 meter type (10-19 water, 20-29 heat, 30-39 gas)"
        ));
    }
    Ok(t)
}

/// `unit_codes` into code → unit; problems under `path`. A volume unit is
/// required (the codes describe the cumulative volume).
pub fn parse_unit_codes(
    codes: &BTreeMap<String, String>,
    path: &str,
    cx: &mut Check,
) -> BTreeMap<u8, Unit> {
    let mut out = BTreeMap::new();
    if codes.is_empty() {
        out.insert(0x2c, Unit::CubicMetre);
    }
    for (k, v) in codes {
        let at = format!("{path}.{k}");
        let Some(code) = u8::from_str_radix(k, 16).ok().filter(|_| k.len() == 2) else {
            cx.problem(
                at,
                format!("unknown unit code {k:?}: expected a hex byte such as \"2C\""),
            );
            continue;
        };
        match Unit::parse(v) {
            Some(u) if u.canonical() == Unit::CubicMetre => {
                out.insert(code, u);
            }
            _ => cx.problem(
                at,
                format!("unknown unit {v:?} for code {k}: expected a volume unit such as \"m3\" or \"L\""),
            ),
        }
    }
    out
}

fn parse_di(p: MeterProtocol, s: &str) -> Result<Di, String> {
    let s = s.replace([' ', '_'], "");
    let want = if p == MeterProtocol::Dlt645 { 8 } else { 4 };
    if s.len() != want || !s.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "unknown identifier {s:?}: a {} identifier is {want} hex digits, most significant first",
            p.name()
        ));
    }
    let v = u32::from_str_radix(&s, 16).map_err(|e| e.to_string())?;
    Ok(match p {
        MeterProtocol::Dlt645 => Di::Dlt645(v),
        MeterProtocol::Dlt645_1997 => Di::Dlt645_1997(v as u16),
        MeterProtocol::Cjt188 => Di::Cjt188(v as u16),
    })
}

impl MeterMap {
    /// Resolves the map; every problem is recorded under `path`.
    pub fn resolve(&self, path: &str, cx: &mut Check) -> Option<Resolved> {
        let before = cx.problems().len();
        let p = self.protocol;
        let cj = p == MeterProtocol::Cjt188;
        let meter_type = match (&self.meter_type, cj) {
            (Some(t), true) => parse_meter_type(t)
                .map_err(|e| cx.problem(join(path, "meter_type"), e))
                .unwrap_or(cjt188::MeterType::COLD_WATER),
            (Some(_), false) => {
                cx.problem(
                    join(path, "meter_type"),
                    "only CJ/T 188 meters have a meter type",
                );
                cjt188::MeterType::COLD_WATER
            }
            (None, _) => cjt188::MeterType::COLD_WATER,
        };
        if !cj && !self.unit_codes.is_empty() {
            cx.problem(
                join(path, "unit_codes"),
                "only CJ/T 188 replies carry unit codes",
            );
        }
        let unit_codes = parse_unit_codes(&self.unit_codes, &join(path, "unit_codes"), cx);
        if self.fields.is_empty() {
            cx.problem(join(path, "fields"), "a meter map needs at least one field");
        }
        let mut names = BTreeMap::new();
        let mut specs = Vec::new();
        for (i, f) in self.fields.iter().enumerate() {
            let at = format!("{}[{i}]", join(path, "fields"));
            if f.name.is_empty() {
                cx.problem(join(&at, "name"), "a field needs a name");
            } else if let Some(j) = names.insert(f.name.as_str(), i) {
                cx.problem(
                    join(&at, "name"),
                    format!("field {:?} is also fields[{j}]", f.name),
                );
            }
            if let Some(g) = &f.group {
                if !self.groups.contains_key(g) {
                    cx.problem(
                        join(&at, "group"),
                        format!("no group {g:?} in [meter.groups]"),
                    );
                }
            }
            let unit = match &f.unit {
                None => Unit::None,
                Some(u) => Unit::parse(u).unwrap_or_else(|| {
                    cx.problem(join(&at, "unit"), format!("unknown unit {u:?}"));
                    Unit::None
                }),
            };
            let scale = f.scale.unwrap_or(1.0);
            if !scale.is_finite() || scale == 0.0 {
                cx.problem(join(&at, "scale"), "must be a finite, non-zero number");
            }
            let di = match parse_di(p, &f.di) {
                Ok(d) => d,
                Err(e) => {
                    cx.problem(join(&at, "di"), e);
                    continue;
                }
            };
            let extract = if cj {
                if di != Di::Cjt188(cjt188::DataId::READ_DATA.0) {
                    cx.problem(
                        join(&at, "di"),
                        format!("unknown identifier {di}: the CJ/T 188 codec reads 901F (current cumulative flow)"),
                    );
                    continue;
                }
                for (k, set) in [
                    ("index", f.index.is_some()),
                    ("bytes", f.bytes.is_some()),
                    ("decimals", f.decimals.is_some()),
                    ("signed", f.signed.is_some()),
                ] {
                    if set {
                        cx.problem(join(&at, k), "not used by CJ/T 188 fields (see `value`)");
                    }
                }
                match f.value {
                    Some(v) => {
                        if matches!(v, WaterValue::Total | WaterValue::SettlementTotal)
                            && f.unit.is_some()
                        {
                            cx.problem(
                                join(&at, "unit"),
                                "the volume's unit comes with the reply (see unit_codes)",
                            );
                        }
                        Extract::Water(v)
                    }
                    None => {
                        cx.problem(
                            join(&at, "value"),
                            "missing: total, settlement_total, valve_open or battery_low",
                        );
                        continue;
                    }
                }
            } else {
                if f.value.is_some() {
                    cx.problem(join(&at, "value"), "only CJ/T 188 fields take `value`");
                }
                let known = di.dlt645().and_then(dlt645::known).map(|k| k.format);
                let format = match (known, f.bytes, f.decimals) {
                    (_, Some(b), Some(d)) => Format::new(b, d, f.signed.unwrap_or(false)),
                    (Some(k), None, None) => Format {
                        signed: f.signed.unwrap_or(k.signed),
                        ..k
                    },
                    (Some(_), _, _) | (None, Some(_), None) | (None, None, Some(_)) => {
                        cx.problem(
                            join(&at, "bytes"),
                            "give both bytes and decimals, or neither",
                        );
                        continue;
                    }
                    (None, None, None) => {
                        cx.problem(
                            join(&at, "di"),
                            format!(
                                "unknown identifier {di}: give its layout with bytes and decimals"
                            ),
                        );
                        continue;
                    }
                };
                if !(1..=9).contains(&format.bytes) || format.decimals > 18 {
                    cx.problem(
                        join(&at, "bytes"),
                        "a value is 1 to 9 bytes with at most 18 decimals",
                    );
                }
                let index = f.index.unwrap_or(0);
                let values = (dlt645::frame::MAX_DATA - 4) / usize::from(format.bytes.max(1));
                if index >= values {
                    cx.problem(
                        join(&at, "index"),
                        format!("a reply holds at most {values} such values"),
                    );
                }
                Extract::Bcd { format, index }
            };
            specs.push(MeterSpec {
                name: f.name.clone(),
                di,
                extract,
                scale,
                unit,
                group: f.group.clone(),
            });
        }
        (cx.problems().len() == before).then(|| Resolved {
            protocol: p,
            meter_type,
            di_order: self.di_order.into(),
            unit_codes,
            groups: self.groups.clone(),
            specs,
        })
    }
}
