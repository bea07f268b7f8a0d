//! Parsing InfluxDB line protocol payloads into readings (for MQTT messages
//! whose profile has `format = "line_protocol"`).
//!
//! `measurement[,tag=value...] field=value[,field=value...] [timestamp]`
//!
//! Escaping, as InfluxDB reads it: in the measurement a backslash escapes a
//! comma or space; in tag keys, tag values and field keys it escapes a
//! comma, equals sign or space; in string field values (inside double
//! quotes) it escapes a double quote or backslash. A backslash before any
//! other character is literal. Field values: floats (`1`, `-1.5`, `1e3`),
//! integers (`1i`), unsigned (`1u`), booleans (`t`, `T`, `true`, `True`,
//! `TRUE` and the `f` forms) and strings. The timestamp is optional
//! nanoseconds; without it a line takes `default_time_ns`. NaN and infinite
//! floats are rejected. The parser never panics on any input.

use crate::model::{FieldValue, Reading};

/// Why a line of line protocol could not be parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line protocol at byte {at}: {reason}")]
pub struct ParseError {
    pub at: usize,
    pub reason: String,
}

fn err<T>(at: usize, reason: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        at,
        reason: reason.into(),
    })
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// Reads an escaped token up to (not including) one of `stops`.
    fn token(&mut self, escapable: &[u8], stops: &[u8]) -> String {
        let mut out = Vec::new();
        while let Some(c) = self.peek() {
            if c == b'\\' {
                if let Some(&n) = self.s.get(self.i + 1) {
                    if escapable.contains(&n) {
                        out.push(n);
                        self.i += 2;
                        continue;
                    }
                }
                out.push(c);
                self.i += 1;
            } else if stops.contains(&c) {
                break;
            } else {
                out.push(c);
                self.i += 1;
            }
        }
        // Splitting only at ASCII bytes keeps valid UTF-8 valid.
        String::from_utf8(out).unwrap_or_default()
    }

    fn expect(&mut self, c: u8, what: &str) -> Result<(), ParseError> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            err(self.i, format!("expected {what}"))
        }
    }
}

/// Parses one line (no trailing newline). A missing timestamp yields `default_time_ns`.
pub fn parse_line(line: &str, default_time_ns: i64) -> Result<Reading, ParseError> {
    let mut c = Cursor {
        s: line.as_bytes(),
        i: 0,
    };
    let measurement = c.token(b", ", b", ");
    if measurement.is_empty() {
        return err(0, "missing measurement");
    }
    let mut r = Reading::new(measurement, default_time_ns);
    while c.peek() == Some(b',') {
        c.i += 1;
        let at = c.i;
        let k = c.token(b",= ", b",= ");
        c.expect(b'=', "'=' after a tag key")?;
        let v = c.token(b",= ", b",= ");
        if k.is_empty() || v.is_empty() {
            return err(at, "empty tag key or value");
        }
        if r.tag(&k).is_some() {
            return err(at, format!("duplicate tag {k:?}"));
        }
        r.set_tag(k, v);
    }
    c.expect(b' ', "a space before the fields")?;
    loop {
        let at = c.i;
        let k = c.token(b",= ", b",= ");
        if k.is_empty() {
            return err(at, "empty field key");
        }
        c.expect(b'=', "'=' after a field key")?;
        let v = field_value(&mut c)?;
        r.add_field(k, v);
        match c.peek() {
            Some(b',') => c.i += 1,
            Some(b' ') | None => break,
            Some(_) => return err(c.i, "expected ',' or ' ' after a field value"),
        }
    }
    while c.peek() == Some(b' ') {
        c.i += 1;
    }
    if c.i < c.s.len() {
        let at = c.i;
        let t = std::str::from_utf8(&c.s[c.i..]).unwrap_or("").trim_end();
        r.time_ns = t
            .parse::<i64>()
            .or_else(|e| err(at, format!("bad timestamp {t:?}: {e}")))?;
    }
    Ok(r)
}

fn field_value(c: &mut Cursor<'_>) -> Result<FieldValue, ParseError> {
    let at = c.i;
    if c.peek() == Some(b'"') {
        c.i += 1;
        let mut out = Vec::new();
        loop {
            match c.peek() {
                None => return err(at, "unterminated string"),
                Some(b'"') => {
                    c.i += 1;
                    break;
                }
                Some(b'\\') if matches!(c.s.get(c.i + 1), Some(b'"' | b'\\')) => {
                    out.push(c.s[c.i + 1]);
                    c.i += 2;
                }
                Some(ch) => {
                    out.push(ch);
                    c.i += 1;
                }
            }
        }
        return Ok(FieldValue::Str(String::from_utf8(out).unwrap_or_default()));
    }
    let start = c.i;
    while !matches!(c.peek(), None | Some(b',' | b' ')) {
        c.i += 1;
    }
    let raw = std::str::from_utf8(&c.s[start..c.i]).unwrap_or("");
    let bad = |what: &str| err(at, format!("bad {what} value {raw:?}"));
    match raw {
        "" => err(at, "empty field value"),
        "t" | "T" | "true" | "True" | "TRUE" => Ok(FieldValue::Bool(true)),
        "f" | "F" | "false" | "False" | "FALSE" => Ok(FieldValue::Bool(false)),
        _ if raw.ends_with('i') => raw[..raw.len() - 1]
            .parse()
            .map(FieldValue::Int)
            .or_else(|_| bad("integer")),
        _ if raw.ends_with('u') => raw[..raw.len() - 1]
            .parse()
            .map(FieldValue::UInt)
            .or_else(|_| bad("unsigned")),
        _ => {
            let ok = raw
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
            match raw.parse::<f64>() {
                Ok(f) if ok && f.is_finite() => Ok(FieldValue::Float(f)),
                _ => bad("float"),
            }
        }
    }
}

/// Parses every non-empty, non-comment line of a payload. Error offsets are
/// from the start of the payload.
pub fn parse_lines(payload: &str, default_time_ns: i64) -> Result<Vec<Reading>, ParseError> {
    let mut out = Vec::new();
    let mut offset = 0;
    for raw in payload.split('\n') {
        let line = raw.trim_end_matches(['\r', ' ', '\t']);
        let trimmed = line.trim_start_matches([' ', '\t']);
        if !trimmed.is_empty() && !trimmed.starts_with('#') {
            let lead = line.len() - trimmed.len();
            let r = parse_line(trimmed, default_time_ns).map_err(|e| ParseError {
                at: offset + lead + e.at,
                reason: e.reason,
            })?;
            out.push(r);
        }
        offset += raw.len() + 1;
    }
    Ok(out)
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
