//! InfluxDB line protocol: the one encoding readings are stored in (outbox)
//! and sent in (sinks).
//!
//! Escaping differs per element, as the InfluxDB reference specifies:
//! - measurement: comma and space are backslash-escaped;
//! - tag keys, tag values and field keys: comma, equals sign and space;
//! - string field values: double quote and backslash, inside double quotes.
//!
//! Newlines are not representable in any element; [`Reading::validate`]
//! rejects them before encoding, and the encoder refuses them too. Neither is
//! a backslash at the end of a name or tag value or right before a character
//! escaped in any element (InfluxDB reads `\\` as two backslashes, so `a\`
//! has no encoding, and it unescapes `\=` and `\"` in some elements but not
//! in others), nor a measurement starting with `#` (a comment line) or a tab
//! (skipped): [`Reading::validate`] refuses those as `Unrepresentable`, so a
//! line never reaches a store that would reject it or store another name. An empty tag value is left out (no tag). Floats
//! that are NaN or infinite are refused: InfluxDB rejects the whole line.
//! Integers carry the `i` suffix, unsigned the `u` suffix (InfluxDB 1.x and
//! VictoriaMetrics do not all read `u`, so sources store unsigned counters as
//! `i` where they fit; see [`encode`]).

mod parse;

pub use parse::{parse_line, parse_lines, ParseError};

use crate::model::{FieldValue, Reading, ReadingError};
use std::io::Write;

/// Appends one reading as a line (with trailing `\n`) to `out`.
///
/// On error `out` is left as it was.
pub fn encode(r: &Reading, out: &mut Vec<u8>) -> Result<(), ReadingError> {
    r.validate()?;
    let start = out.len();
    escape_into(out, &r.measurement, b", ");
    for (k, v) in &r.tags {
        // InfluxDB has no empty tag values: an empty one means "no such tag".
        if v.is_empty() {
            continue;
        }
        out.push(b',');
        escape_into(out, k, b",= ");
        out.push(b'=');
        escape_into(out, v, b",= ");
    }
    let mut sep = b' ';
    for (k, v) in &r.fields {
        out.push(sep);
        sep = b',';
        escape_into(out, k, b",= ");
        out.push(b'=');
        match v {
            FieldValue::Float(f) => {
                if !f.is_finite() {
                    out.truncate(start);
                    return Err(ReadingError::NotFinite(k.clone()));
                }
                write_float(out, *f);
            }
            FieldValue::Int(i) => {
                out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes());
                out.push(b'i');
            }
            FieldValue::UInt(u) => {
                out.extend_from_slice(itoa::Buffer::new().format(*u).as_bytes());
                // Stored as a signed integer when it fits, for InfluxDB 1.x.
                out.push(if *u <= i64::MAX as u64 { b'i' } else { b'u' });
            }
            FieldValue::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            FieldValue::Str(s) => {
                out.push(b'"');
                for c in s.bytes() {
                    if c == b'"' || c == b'\\' {
                        out.push(b'\\');
                    }
                    out.push(c);
                }
                out.push(b'"');
            }
        }
    }
    out.push(b' ');
    // itoa: the same digits as `{}`, without the formatting machinery
    // (issue 15: core::fmt was ~3 % of the per-message CPU).
    out.extend_from_slice(itoa::Buffer::new().format(r.time_ns).as_bytes());
    out.push(b'\n');
    Ok(())
}

/// Encodes a reading to a fresh line (without trailing newline).
pub fn to_line(r: &Reading) -> Result<String, ReadingError> {
    let mut out = Vec::with_capacity(128);
    encode(r, &mut out)?;
    out.pop();
    Ok(String::from_utf8(out).unwrap_or_default())
}

fn escape_into(out: &mut Vec<u8>, s: &str, special: &[u8]) {
    for c in s.bytes() {
        if special.contains(&c) {
            out.push(b'\\');
        }
        out.push(c);
    }
}

fn write_float(out: &mut Vec<u8>, f: f64) {
    // Rust's shortest round-trip representation; always has a digit and
    // never uses exponent notation InfluxDB cannot read ("1e300" is accepted
    // by InfluxDB, but we keep integral floats explicit as "1" which InfluxDB
    // reads as a float because there is no `i` suffix).
    let _ = write!(out, "{f}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading() -> Reading {
        let mut r = Reading::new("noise", 1_700_000_000_000_000_000);
        r.set_tag("device", "n-1");
        r.set_tag("community", "c1");
        r.add_field("laeq", FieldValue::Float(55.5));
        r.add_field("count", FieldValue::Int(3));
        r.add_field("ok", FieldValue::Bool(true));
        r.add_field("status", FieldValue::Str("fine".into()));
        r
    }

    #[test]
    fn encodes_all_field_types_in_order() {
        assert_eq!(
            to_line(&reading()).unwrap(),
            "noise,community=c1,device=n-1 laeq=55.5,count=3i,ok=true,status=\"fine\" 1700000000000000000"
        );
    }

    #[test]
    fn escapes_each_element_by_its_own_rules() {
        let mut r = Reading::new("my meas,x=y", 5);
        r.set_tag("tag key", "v,a=l ue");
        r.add_field("f=k", FieldValue::Str("say \"hi\" \\ there, x=1".into()));
        assert_eq!(
            to_line(&r).unwrap(),
            r#"my\ meas\,x=y,tag\ key=v\,a\=l\ ue f\=k="say \"hi\" \\ there, x=1" 5"#
        );
    }

    #[test]
    fn nan_and_infinity_never_reach_the_wire() {
        let mut r = Reading::new("m", 1);
        r.add_field("a", FieldValue::Float(f64::INFINITY));
        let mut out = b"keep".to_vec();
        assert!(encode(&r, &mut out).is_err());
        assert_eq!(out, b"keep");
    }

    #[test]
    fn unrepresentable_backslashes_are_refused_not_mangled() {
        for (meas, tag, field) in [
            ("m\\", "v", "f"),
            ("#m", "v", "f"),
            ("m", "v\\", "f"),
            ("m", "a\\,b", "f"),
            ("m", "v", "f\\"),
            ("m", "v", "f\\=x"),
            ("m", "a\\\\b", "f"),
            ("m", "v", "f\\\"q"),
            ("\tm", "v", "f"),
        ] {
            let mut r = Reading::new(meas, 1);
            r.set_tag("t", tag);
            r.add_field(field, FieldValue::Int(1));
            assert!(
                matches!(
                    encode(&r, &mut Vec::new()),
                    Err(ReadingError::Unrepresentable(..))
                ),
                "{meas} {tag} {field}"
            );
        }
        let mut r = Reading::new("m\\x", 1);
        r.set_tag("t", "a\\b\tc");
        r.add_field("f", FieldValue::Str("ends in \\".into()));
        assert_eq!(to_line(&r).unwrap(), "m\\x,t=a\\b\tc f=\"ends in \\\\\" 1");
    }

    #[test]
    fn empty_tag_values_are_left_out() {
        let mut r = Reading::new("m", 1);
        r.tags.push(("a".into(), String::new()));
        r.tags.push(("b".into(), "x".into()));
        r.add_field("f", FieldValue::Int(1));
        assert_eq!(to_line(&r).unwrap(), "m,b=x f=1i 1");
    }

    #[test]
    fn large_unsigned_uses_u_suffix() {
        let mut r = Reading::new("m", 1);
        r.add_field("a", FieldValue::UInt(u64::MAX));
        r.add_field("b", FieldValue::UInt(7));
        assert_eq!(to_line(&r).unwrap(), format!("m a={}u,b=7i 1", u64::MAX));
    }
}
