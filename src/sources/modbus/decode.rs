//! Decoding: the words or bits of one read into typed field values.
//!
//! Pure. Byte order is named by where the bytes of a big-endian value
//! `A B C D` (A most significant) arrive: `ABCD` big-endian words in
//! big-endian order (the Modbus default), `CDAB` word-swapped (common on
//! meters), `BADC` bytes swapped within each word, `DCBA` fully
//! little-endian. 64-bit values extend the same rule to four words. For
//! 16-bit values only the byte swap matters; for strings, `BADC`/`DCBA` swap
//! the two characters of each register.
//!
//! The value is `raw * scale + offset`, then converted from the field's unit
//! to its canonical unit. Integers with no scaling stay integers.

use super::planner::Read;
use crate::model::FieldValue;
use crate::profiles::modbus::{ByteOrder, FieldSpec, Kind};

/// Why one field could not be decoded; the rest of the poll goes on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("the response holds {got} registers, the field needs {need} from offset {offset}")]
    Short {
        offset: usize,
        need: usize,
        got: usize,
    },
    #[error("not a finite number ({0})")]
    NotFinite(String),
    #[error("value {0} does not fit a 64-bit signed integer")]
    TooLarge(u64),
    #[error("not printable ASCII text: {0:?}")]
    NotAscii(String),
}

/// The data one read returned.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    Words(Vec<u16>),
    Bits(Vec<bool>),
}

impl Data {
    /// Raw bytes for a dead letter (big-endian words, or one byte per bit).
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Data::Words(w) => w.iter().flat_map(|w| w.to_be_bytes()).collect(),
            Data::Bits(b) => b.iter().map(|&b| b as u8).collect(),
        }
    }
}

/// Puts the words of a multi-register value into big-endian (ABCD) order.
pub fn normalise(words: &[u16], order: ByteOrder) -> Vec<u16> {
    let swap_bytes = matches!(order, ByteOrder::BADC | ByteOrder::DCBA);
    let swap_words = matches!(order, ByteOrder::CDAB | ByteOrder::DCBA);
    let mut out: Vec<u16> = words
        .iter()
        .map(|w| if swap_bytes { w.swap_bytes() } else { *w })
        .collect();
    if swap_words {
        out.reverse();
    }
    out
}

fn be_u64(words: &[u16]) -> u64 {
    words.iter().fold(0u64, |acc, w| (acc << 16) | *w as u64)
}

/// Decodes one field from the data of the read that covers it.
pub fn field(spec: &FieldSpec, read: &Read, data: &Data) -> Result<FieldValue, DecodeError> {
    let offset = (spec.address - read.start) as usize;
    let need = spec.width as usize;
    let short = |got| DecodeError::Short { offset, need, got };
    let words = match data {
        Data::Bits(bits) => {
            return bits
                .get(offset)
                .map(|b| FieldValue::Bool(*b))
                .ok_or(short(bits.len()));
        }
        Data::Words(w) => w.get(offset..offset + need).ok_or(short(w.len()))?,
    };
    let first = words.first().copied().unwrap_or(0);
    let raw = || be_u64(&normalise(words, spec.order));
    let value = match spec.kind {
        Kind::Bool => return Ok(FieldValue::Bool(first != 0)),
        Kind::Bit => return Ok(FieldValue::Bool(first >> spec.bit & 1 == 1)),
        Kind::String => return string(words, spec.order),
        Kind::U16 | Kind::U32 => Num::I(raw() as i64),
        Kind::I16 => Num::I(raw() as u16 as i16 as i64),
        Kind::I32 => Num::I(raw() as u32 as i32 as i64),
        Kind::I64 => Num::I(raw() as i64),
        Kind::U64 => match raw() {
            r if r > i64::MAX as u64 && !spec.is_float() => return Err(DecodeError::TooLarge(r)),
            r => Num::U(r),
        },
        Kind::F32 => Num::F(f32::from_bits(raw() as u32) as f64),
        Kind::F64 => Num::F(f64::from_bits(raw())),
    };
    scaled(spec, value)
}

enum Num {
    I(i64),
    U(u64),
    F(f64),
}

fn scaled(spec: &FieldSpec, v: Num) -> Result<FieldValue, DecodeError> {
    if !spec.is_float() {
        return Ok(match v {
            Num::I(i) => FieldValue::Int(i),
            Num::U(u) => FieldValue::Int(u as i64),
            Num::F(f) => FieldValue::Float(f),
        });
    }
    let x = match v {
        Num::I(i) => i as f64,
        Num::U(u) => u as f64,
        Num::F(f) => f,
    };
    let y = spec.unit.to_canonical(x * spec.scale + spec.offset);
    if y.is_finite() {
        Ok(FieldValue::Float(y))
    } else {
        Err(DecodeError::NotFinite(format!("{x}")))
    }
}

/// ASCII text, trailing NULs and spaces trimmed.
fn string(words: &[u16], order: ByteOrder) -> Result<FieldValue, DecodeError> {
    let swap = matches!(order, ByteOrder::BADC | ByteOrder::DCBA);
    let bytes: Vec<u8> = words
        .iter()
        .flat_map(|w| {
            if swap {
                w.to_le_bytes()
            } else {
                w.to_be_bytes()
            }
        })
        .collect();
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let text = &bytes[..end];
    if text.iter().all(|b| (0x20..0x7f).contains(b)) {
        Ok(FieldValue::Str(
            String::from_utf8_lossy(text).trim_end().to_string(),
        ))
    } else {
        Err(DecodeError::NotAscii(
            String::from_utf8_lossy(text).into_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Unit;
    use crate::profiles::modbus::Table;

    fn spec(kind: Kind, order: ByteOrder) -> FieldSpec {
        FieldSpec {
            name: "x".into(),
            table: Table::Holding,
            address: 10,
            width: kind.width(3),
            kind,
            order,
            bit: 0,
            scale: 1.0,
            offset: 0.0,
            unit: Unit::None,
            group: None,
            rbe: None,
        }
    }

    fn read(n: u16) -> Read {
        Read {
            table: Table::Holding,
            start: 8,
            count: n,
            fields: vec![0],
        }
    }

    fn dec(s: &FieldSpec, words: &[u16]) -> Result<FieldValue, DecodeError> {
        let mut w = vec![0xffff, 0xffff];
        w.extend_from_slice(words);
        field(s, &read(w.len() as u16), &Data::Words(w))
    }

    #[test]
    fn the_four_byte_orders_of_a_32_bit_value() {
        // 0x12345678 as it arrives under each order.
        let cases = [
            (ByteOrder::ABCD, [0x1234, 0x5678]),
            (ByteOrder::CDAB, [0x5678, 0x1234]),
            (ByteOrder::BADC, [0x3412, 0x7856]),
            (ByteOrder::DCBA, [0x7856, 0x3412]),
        ];
        for (order, words) in cases {
            assert_eq!(
                dec(&spec(Kind::U32, order), &words),
                Ok(FieldValue::Int(0x12345678)),
                "{order:?}"
            );
        }
    }

    #[test]
    fn floats_decode_in_every_order() {
        let bits = 230.5f32.to_bits();
        let (hi, lo) = ((bits >> 16) as u16, bits as u16);
        assert_eq!(
            dec(&spec(Kind::F32, ByteOrder::ABCD), &[hi, lo]),
            Ok(FieldValue::Float(230.5))
        );
        assert_eq!(
            dec(&spec(Kind::F32, ByteOrder::CDAB), &[lo, hi]),
            Ok(FieldValue::Float(230.5))
        );
        let b = 1234.5678f64.to_bits();
        let w = [
            (b >> 48) as u16,
            (b >> 32) as u16,
            (b >> 16) as u16,
            b as u16,
        ];
        assert_eq!(
            dec(&spec(Kind::F64, ByteOrder::ABCD), &w),
            Ok(FieldValue::Float(1234.5678))
        );
        let rev = [
            w[3].swap_bytes(),
            w[2].swap_bytes(),
            w[1].swap_bytes(),
            w[0].swap_bytes(),
        ];
        assert_eq!(
            dec(&spec(Kind::F64, ByteOrder::DCBA), &rev),
            Ok(FieldValue::Float(1234.5678))
        );
    }

    #[test]
    fn signed_values_sign_extend() {
        assert_eq!(
            dec(&spec(Kind::I16, ByteOrder::ABCD), &[0xfffe]),
            Ok(FieldValue::Int(-2))
        );
        assert_eq!(
            dec(&spec(Kind::I32, ByteOrder::ABCD), &[0xffff, 0xfffe]),
            Ok(FieldValue::Int(-2))
        );
        assert_eq!(
            dec(&spec(Kind::I16, ByteOrder::BADC), &[0xfeff]),
            Ok(FieldValue::Int(-2))
        );
        assert_eq!(
            dec(&spec(Kind::I64, ByteOrder::ABCD), &[0xffff; 4]),
            Ok(FieldValue::Int(-1))
        );
        assert_eq!(
            dec(&spec(Kind::U64, ByteOrder::ABCD), &[0, 0, 1, 2]),
            Ok(FieldValue::Int(0x10002))
        );
        assert_eq!(
            dec(&spec(Kind::U64, ByteOrder::ABCD), &[0xffff; 4]),
            Err(DecodeError::TooLarge(u64::MAX))
        );
    }

    #[test]
    fn noise_sensor_tenths_of_a_decibel_become_a_float() {
        let mut s = spec(Kind::U16, ByteOrder::ABCD);
        s.scale = 0.1;
        s.unit = Unit::DbA;
        assert_eq!(dec(&s, &[655]), Ok(FieldValue::Float(65.5)));
    }

    #[test]
    fn litres_with_offset_convert_to_cubic_metres() {
        let mut s = spec(Kind::U32, ByteOrder::CDAB);
        s.offset = 500.0;
        s.unit = Unit::Litre;
        assert_eq!(dec(&s, &[1000, 0]), Ok(FieldValue::Float(1.5)));
    }

    #[test]
    fn bits_of_a_register_and_bools() {
        let mut s = spec(Kind::Bit, ByteOrder::ABCD);
        s.bit = 3;
        assert_eq!(dec(&s, &[0b1000]), Ok(FieldValue::Bool(true)));
        s.bit = 2;
        assert_eq!(dec(&s, &[0b1000]), Ok(FieldValue::Bool(false)));
        assert_eq!(
            dec(&spec(Kind::Bool, ByteOrder::ABCD), &[7]),
            Ok(FieldValue::Bool(true))
        );
        let mut c = spec(Kind::Bool, ByteOrder::ABCD);
        c.table = Table::Coil;
        let bits = Data::Bits(vec![false, false, true]);
        assert_eq!(field(&c, &read(3), &bits), Ok(FieldValue::Bool(true)));
    }

    #[test]
    fn ascii_strings_trim_padding_and_honour_byte_swap() {
        let s = spec(Kind::String, ByteOrder::ABCD);
        assert_eq!(
            dec(
                &s,
                &[u16::from_be_bytes(*b"GG"), u16::from_be_bytes(*b"-1"), 0]
            ),
            Ok(FieldValue::Str("GG-1".into()))
        );
        let s = spec(Kind::String, ByteOrder::BADC);
        assert_eq!(
            dec(
                &s,
                &[
                    u16::from_be_bytes(*b"GG"),
                    u16::from_be_bytes(*b"1-"),
                    0x2020
                ]
            ),
            Ok(FieldValue::Str("GG-1".into()))
        );
        assert!(matches!(
            dec(&spec(Kind::String, ByteOrder::ABCD), &[0x01ff, 0, 0]),
            Err(DecodeError::NotAscii(_))
        ));
    }

    #[test]
    fn nan_and_short_responses_are_errors_not_values() {
        let nan = f32::NAN.to_bits();
        assert!(matches!(
            dec(
                &spec(Kind::F32, ByteOrder::ABCD),
                &[(nan >> 16) as u16, nan as u16]
            ),
            Err(DecodeError::NotFinite(_))
        ));
        let s = spec(Kind::U32, ByteOrder::ABCD);
        assert!(matches!(
            field(&s, &read(3), &Data::Words(vec![1, 2, 3])),
            Err(DecodeError::Short { .. })
        ));
    }
}
