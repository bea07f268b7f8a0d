//! How `greengate probe` prints one Modbus field: the raw registers in hex,
//! the value as decoded (before scale, offset and unit), the stored value
//! with its canonical unit, and for 32- and 64-bit values the stored value
//! under each of the four byte/word orders, so a wrong order stands out
//! (`230.5` against `-1.7e-38`). Pure: every value comes from the daemon's
//! own decoder ([`decode::field`]) on a copy of the field's spec.

use crate::model::{FieldValue, Unit};
use crate::profiles::modbus::{ByteOrder, FieldSpec, Kind};
use crate::sources::modbus::decode::{self, Data, DecodeError};
use crate::sources::modbus::planner::Read;

/// The four orders, in the order they are printed.
pub const ORDERS: [ByteOrder; 4] = [
    ByteOrder::ABCD,
    ByteOrder::CDAB,
    ByteOrder::BADC,
    ByteOrder::DCBA,
];

/// `holding 0..6 (6 registers)`.
pub fn read_label(r: &Read) -> String {
    let what = if r.table.is_bits() {
        "bits"
    } else {
        "registers"
    };
    format!(
        "{} {}..{} ({} {what})",
        r.table.name(),
        r.start,
        r.end(),
        r.count
    )
}

/// The answer of a read: `0x028F 0x0001` or `1 0 1`.
pub fn data_hex(data: &Data) -> String {
    match data {
        Data::Words(w) => w
            .iter()
            .map(|w| format!("{w:#06X}").replacen("0X", "0x", 1))
            .collect::<Vec<_>>()
            .join(" "),
        Data::Bits(b) => b
            .iter()
            .map(|b| if *b { "1" } else { "0" })
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// A value as the line protocol would carry it (strings quoted).
pub fn value(v: &FieldValue) -> String {
    match v {
        FieldValue::Float(f) => float(*f),
        FieldValue::Int(i) => format!("{i}"),
        FieldValue::UInt(u) => format!("{u}"),
        FieldValue::Bool(b) => format!("{b}"),
        FieldValue::Str(s) => format!("{s:?}"),
    }
}

/// A float in its shortest form, with an exponent when it is tiny or huge
/// (a wrong byte order often gives `2.3e-38`).
pub fn float(f: f64) -> String {
    let a = f.abs();
    if a != 0.0 && !(1e-4..1e15).contains(&a) {
        format!("{f:e}")
    } else {
        format!("{f}")
    }
}

fn kind_name(k: Kind) -> String {
    format!("{k:?}").to_lowercase()
}

fn is_wide_number(k: Kind) -> bool {
    matches!(
        k,
        Kind::U32 | Kind::I32 | Kind::F32 | Kind::U64 | Kind::I64 | Kind::F64
    )
}

fn outcome(r: Result<FieldValue, DecodeError>) -> String {
    match r {
        Ok(v) => value(&v),
        Err(DecodeError::NotFinite(x)) => format!("({x}: not finite)"),
        Err(DecodeError::TooLarge(_)) => "(too large)".into(),
        Err(e) => format!("({e})"),
    }
}

/// The field's own registers (or bit) from the read's answer.
fn raw(spec: &FieldSpec, read: &Read, data: &Data) -> String {
    let off = usize::from(spec.address.saturating_sub(read.start));
    match data {
        Data::Bits(b) => b
            .get(off)
            .map_or("(missing)".into(), |b| format!("{}", u8::from(*b))),
        Data::Words(w) => match w.get(off..off + usize::from(spec.width)) {
            Some(w) => data_hex(&Data::Words(w.to_vec())),
            None => "(missing)".into(),
        },
    }
}

/// The lines of one field: the decoded line, then (32/64-bit) the orders.
pub fn field(spec: &FieldSpec, read: &Read, data: &Data) -> Vec<String> {
    let mut kind = kind_name(spec.kind);
    if spec.width > 1 && spec.kind != Kind::String {
        kind = format!("{kind} {:?}", spec.order);
    }
    if spec.kind == Kind::Bit {
        kind = format!("bit {}", spec.bit);
    }
    let plain = FieldSpec {
        scale: 1.0,
        offset: 0.0,
        unit: Unit::None,
        rbe: None,
        ..spec.clone()
    };
    let decoded = outcome(decode::field(&plain, read, data));
    let stored = decode::field(spec, read, data);
    let mut steps = Vec::new();
    if spec.scale != 1.0 {
        steps.push(format!("×{}", spec.scale));
    }
    if spec.offset != 0.0 {
        steps.push(format!("{:+}", spec.offset));
    }
    if spec.unit != Unit::None && spec.unit.canonical() != spec.unit {
        steps.push(format!(
            "{} → {}",
            spec.unit.symbol(),
            spec.unit.canonical().symbol()
        ));
    }
    let unit = spec.unit.canonical();
    let unit = if unit == Unit::None {
        ""
    } else {
        unit.symbol()
    };
    let stored = match stored {
        Ok(v) => format!("= {} {unit}", value(&v)).trim_end().to_string(),
        Err(e) => format!("NOT DECODED: {e}"),
    };
    let steps = if steps.is_empty() {
        String::new()
    } else {
        format!(" {}", steps.join(" "))
    };
    let mut lines = vec![format!(
        "  {:<16} {:<14} {:<10} raw {:<27} decoded {decoded}{steps} {stored}",
        spec.name,
        spec.location(),
        kind,
        raw(spec, read, data),
    )];
    if is_wide_number(spec.kind) {
        let each: Vec<String> = ORDERS
            .iter()
            .map(|o| {
                let s = FieldSpec {
                    order: *o,
                    ..spec.clone()
                };
                let mark = if *o == spec.order {
                    " (configured)"
                } else {
                    ""
                };
                format!("{o:?} {}{mark}", outcome(decode::field(&s, read, data)))
            })
            .collect();
        lines.push(format!("  {:<16} orders: {}", "", each.join(" | ")));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::modbus::Table;

    fn spec(kind: Kind, order: ByteOrder) -> FieldSpec {
        FieldSpec {
            name: "power_w".into(),
            table: Table::Input,
            address: 2,
            width: kind.width(1),
            kind,
            order,
            bit: 0,
            scale: 1.0,
            offset: 0.0,
            unit: Unit::KiloWatt,
            group: None,
            rbe: None,
        }
    }

    fn read() -> Read {
        Read {
            table: Table::Input,
            start: 0,
            count: 6,
            fields: vec![0],
        }
    }

    #[test]
    fn a_float_shows_its_registers_its_value_and_all_four_orders() {
        let b = 1.5f32.to_bits();
        let data = Data::Words(vec![0, 0, (b >> 16) as u16, b as u16, 0, 0]);
        let lines = field(&spec(Kind::F32, ByteOrder::ABCD), &read(), &data);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("input:2"), "{}", lines[0]);
        assert!(lines[0].contains("raw 0x3FC0 0x0000"), "{}", lines[0]);
        assert!(
            lines[0].contains("decoded 1.5 kW → W = 1500 W"),
            "{}",
            lines[0]
        );
        assert!(lines[1].contains("ABCD 1500 (configured)"), "{}", lines[1]);
        // Word-swapped, 0x0000 0x3FC0 is a denormal: far from 1500.
        assert!(lines[1].contains("CDAB 2.2"), "{}", lines[1]);
        assert!(lines[1].contains("e-38 | BADC"), "{}", lines[1]);
    }

    #[test]
    fn a_scaled_integer_shows_decoded_and_stored_values() {
        let mut s = spec(Kind::U16, ByteOrder::ABCD);
        s.scale = 0.1;
        s.unit = Unit::DbA;
        let data = Data::Words(vec![0, 0, 655, 0, 0, 0]);
        let lines = field(&s, &read(), &data);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].contains("raw 0x028F"), "{}", lines[0]);
        assert!(
            lines[0].contains("decoded 655 ×0.1 = 65.5 dB(A)"),
            "{}",
            lines[0]
        );
    }

    #[test]
    fn a_value_that_does_not_decode_says_why() {
        let data = Data::Words(vec![0, 0, 0xffff, 0xffff, 0xffff, 0xffff]);
        let mut s = spec(Kind::U64, ByteOrder::ABCD);
        s.unit = Unit::None;
        let lines = field(&s, &read(), &data);
        assert!(lines[0].contains("NOT DECODED"), "{}", lines[0]);
        assert!(lines[1].contains("(too large)"), "{}", lines[1]);
    }
}
