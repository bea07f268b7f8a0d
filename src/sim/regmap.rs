//! Reads the `[modbus]` register maps of the device profiles (the same
//! files greengate loads) and encodes canonical values into registers.
//! Only what encoding needs is read: `name`, `table`/`address` or Modicon
//! `register`, `address_base`, `type`, `byte_order`, `bit`, `length`,
//! `scale`, `offset`, `unit`.

use std::path::Path;

use crate::model::Unit;
use toml::{Table as TomlTable, Value};

use crate::sim::model::V;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Coil,
    DiscreteInput,
    Holding,
    Input,
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub table: Table,
    pub address: u16,
    kind: String,
    order: String,
    bit: u16,
    length: u16,
    scale: f64,
    offset: f64,
    /// Canonical value of one device unit (`L` → 0.001).
    factor: f64,
}

#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub class: String,
    pub file: String,
    pub fields: Vec<Field>,
}

pub enum Encoded {
    Bit(bool),
    RegisterBit(u16, bool),
    Words(Vec<u16>),
}

fn table(s: &str) -> Option<Table> {
    Some(match s {
        "coil" => Table::Coil,
        "discrete_input" => Table::DiscreteInput,
        "holding" => Table::Holding,
        "input" => Table::Input,
        _ => return None,
    })
}

fn modicon(s: &str) -> Option<(Table, u16)> {
    if !(s.len() == 5 || s.len() == 6) || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = match &s[..1] {
        "0" => Table::Coil,
        "1" => Table::DiscreteInput,
        "3" => Table::Input,
        "4" => Table::Holding,
        _ => return None,
    };
    let n: u32 = s[1..].parse().ok()?;
    (1..=65536).contains(&n).then(|| (t, (n - 1) as u16))
}

fn field(f: &TomlTable, base: u32, default_order: &str) -> Result<Field, String> {
    let s = |k: &str| f.get(k).and_then(Value::as_str);
    let n = |k: &str| {
        f.get(k)
            .and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
    };
    let name = s("name").ok_or("a field without `name`")?.to_string();
    let (table, address) = match (s("register"), f.get("address").and_then(Value::as_integer)) {
        (Some(r), _) => modicon(r).ok_or_else(|| format!("{name}: bad register {r:?}"))?,
        (None, Some(a)) => {
            let t = s("table")
                .and_then(table)
                .ok_or_else(|| format!("{name}: missing or bad `table`"))?;
            let a = u32::try_from(a)
                .ok()
                .and_then(|a| a.checked_sub(base))
                .and_then(|a| u16::try_from(a).ok());
            (t, a.ok_or_else(|| format!("{name}: bad address"))?)
        }
        (None, None) => return Err(format!("{name}: no `address` or `register`")),
    };
    let factor = match s("unit") {
        Some(u) => Unit::parse(u)
            .ok_or_else(|| format!("{name}: unknown unit {u:?}"))?
            .to_canonical(1.0),
        None => 1.0,
    };
    Ok(Field {
        name,
        table,
        address,
        kind: s("type").unwrap_or("u16").to_string(),
        order: s("byte_order").unwrap_or(default_order).to_string(),
        bit: n("bit").unwrap_or(0.0) as u16,
        length: n("length").unwrap_or(1.0) as u16,
        scale: n("scale").unwrap_or(1.0),
        offset: n("offset").unwrap_or(0.0),
        factor: if factor == 0.0 { 1.0 } else { factor },
    })
}

/// Every profile with a `[modbus]` table in `dir`: noise, water meter and
/// lighting first, then the others, each in file-name order.
pub fn load_profiles(dir: &Path) -> Result<Vec<Profile>, String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read the devices directory {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let file = path.display().to_string();
        let doc: TomlTable = match std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| t.parse().map_err(|e: toml::de::Error| e.to_string()))
        {
            Ok(d) => d,
            Err(e) => {
                eprintln!("simulate: skipping {file}: {e}");
                continue;
            }
        };
        let Some(map) = doc.get("modbus").and_then(Value::as_table) else {
            continue;
        };
        let base = map
            .get("address_base")
            .and_then(Value::as_integer)
            .unwrap_or(0) as u32;
        let order = map
            .get("byte_order")
            .and_then(Value::as_str)
            .unwrap_or("ABCD");
        let fields: Result<Vec<_>, _> = map
            .get("fields")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_table)
                    .map(|f| field(f, base, order))
                    .collect()
            })
            .unwrap_or(Ok(Vec::new()));
        let fields = match fields {
            Ok(f) => f,
            // greengate rejects it too; the other profiles are still served.
            Err(e) => {
                eprintln!("simulate: skipping {file}: modbus.fields: {e}");
                continue;
            }
        };
        let s = |k: &str| {
            doc.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        out.push(Profile {
            name: s("name"),
            class: s("class"),
            file,
            fields,
        });
    }
    // Stable ports: noise, water, lighting first, then the rest by file name.
    let rank = |c: &str| {
        ["noise", "water_meter", "lighting"]
            .iter()
            .position(|x| *x == c)
            .unwrap_or(3)
    };
    out.sort_by_key(|p| rank(&p.class));
    Ok(out)
}

/// Big-endian bytes reordered per `ABCD` (as is), `CDAB` (words swapped),
/// `BADC` (bytes swapped in each word), `DCBA` (little-endian), as words.
fn ordered(be: &[u8], order: &str) -> Vec<u16> {
    let mut words: Vec<[u8; 2]> = be
        .chunks(2)
        .map(|c| [c[0], c.get(1).copied().unwrap_or(0)])
        .collect();
    if matches!(order, "CDAB" | "DCBA") {
        words.reverse();
    }
    if matches!(order, "BADC" | "DCBA") {
        for w in &mut words {
            w.swap(0, 1);
        }
    }
    words.into_iter().map(u16::from_be_bytes).collect()
}

impl Field {
    /// The registers (or bit) that make a greengate decoder read `x` back.
    pub fn encode(&self, x: &V) -> Encoded {
        let raw = (x.as_f64() / self.factor - self.offset) / self.scale;
        let truth = raw != 0.0;
        let int = raw.round();
        match self.kind.as_str() {
            "bool" if matches!(self.table, Table::Coil | Table::DiscreteInput) => {
                Encoded::Bit(truth)
            }
            "bool" => Encoded::Words(vec![u16::from(truth)]),
            "bit" => Encoded::RegisterBit(self.bit.min(15), truth),
            "i16" => Encoded::Words(ordered(&(int as i16).to_be_bytes(), &self.order)),
            "u32" => Encoded::Words(ordered(&(int as u32).to_be_bytes(), &self.order)),
            "i32" => Encoded::Words(ordered(&(int as i32).to_be_bytes(), &self.order)),
            "u64" => Encoded::Words(ordered(&(int as u64).to_be_bytes(), &self.order)),
            "i64" => Encoded::Words(ordered(&(int as i64).to_be_bytes(), &self.order)),
            "f32" => Encoded::Words(ordered(&(raw as f32).to_be_bytes(), &self.order)),
            "f64" => Encoded::Words(ordered(&raw.to_be_bytes(), &self.order)),
            "string" => {
                let text = match x {
                    V::S(s) => s.clone(),
                    _ => format!("SIM-{}", self.name),
                };
                let mut bytes: Vec<u8> = text.bytes().take(usize::from(self.length) * 2).collect();
                bytes.resize(usize::from(self.length) * 2, 0);
                Encoded::Words(ordered(
                    &bytes,
                    if matches!(self.order.as_str(), "BADC" | "DCBA") {
                        "BADC"
                    } else {
                        "ABCD"
                    },
                ))
            }
            _ => Encoded::Words(ordered(&(int as u16).to_be_bytes(), &self.order)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(kind: &str, order: &str, scale: f64, unit_factor: f64) -> Field {
        Field {
            name: "x".into(),
            table: Table::Holding,
            address: 0,
            kind: kind.into(),
            order: order.into(),
            bit: 0,
            length: 1,
            scale,
            offset: 0.0,
            factor: unit_factor,
        }
    }

    fn words(e: Encoded) -> Vec<u16> {
        match e {
            Encoded::Words(w) => w,
            _ => panic!("not words"),
        }
    }

    #[test]
    fn u32_total_in_litres_is_word_swapped_under_cdab() {
        // 123.456 m³ = 123456 L = 0x0001_E240.
        let w = words(f("u32", "CDAB", 1.0, 0.001).encode(&V::F(123.456)));
        assert_eq!(w, [0xE240, 0x0001]);
    }

    #[test]
    fn db_times_ten_in_one_register() {
        assert_eq!(words(f("u16", "ABCD", 0.1, 1.0).encode(&V::F(55.3))), [553]);
    }

    #[test]
    fn f32_abcd_is_ieee_big_endian() {
        let w = words(f("f32", "ABCD", 1.0, 1.0).encode(&V::F(230.0)));
        assert_eq!(
            f32::from_bits((u32::from(w[0]) << 16) | u32::from(w[1])),
            230.0
        );
    }

    #[test]
    fn modicon_numbers_are_one_based() {
        assert_eq!(modicon("40001"), Some((Table::Holding, 0)));
        assert_eq!(modicon("300010"), Some((Table::Input, 9)));
    }
}
