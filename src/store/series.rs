//! The JSON of an InfluxQL answer (`epoch=ns`, `GROUP BY *`), turned into
//! readings. Pure; the client feeds it one chunk at a time.

use serde::Deserialize;
use std::collections::BTreeMap;

use super::StoreError;
use crate::model::{FieldValue, Reading};

/// One series of an answer: with `GROUP BY *` the tags are here and the
/// columns are `time` and the fields.
#[derive(Debug, Clone, Deserialize)]
pub struct Series {
    pub name: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub columns: Vec<String>,
    #[serde(default)]
    pub values: Vec<Vec<serde_json::Value>>,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    results: Vec<StatementResult>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct StatementResult {
    #[serde(default)]
    series: Vec<Series>,
    #[serde(default)]
    error: Option<String>,
}

/// Parses one JSON answer (or one chunk of a chunked answer).
pub fn parse_answer(text: &[u8]) -> Result<Vec<Series>, StoreError> {
    let a: Answer = serde_json::from_slice(text)
        .map_err(|e| StoreError::Answer(format!("not an InfluxQL answer: {e}")))?;
    if let Some(e) = a.error {
        return Err(StoreError::Query(e));
    }
    let mut out = Vec::new();
    for r in a.results {
        if let Some(e) = r.error {
            return Err(StoreError::Query(e));
        }
        out.extend(r.series);
    }
    Ok(out)
}

/// The rows of a series as readings; rows without a time or without any
/// field are skipped and counted.
pub fn readings(s: &Series) -> (Vec<Reading>, usize) {
    let Some(ti) = s.columns.iter().position(|c| c == "time") else {
        return (Vec::new(), s.values.len());
    };
    let (mut out, mut skipped) = (Vec::with_capacity(s.values.len()), 0);
    for row in &s.values {
        let Some(t) = row.get(ti).and_then(serde_json::Value::as_i64) else {
            skipped += 1;
            continue;
        };
        let mut r = Reading::new(s.name.as_str(), t);
        for (k, v) in &s.tags {
            r.set_tag(k.as_str(), v.as_str());
        }
        for (i, (c, v)) in s.columns.iter().zip(row).enumerate() {
            if i == ti {
                continue;
            }
            if let Some(f) = field(v) {
                r.add_field(c.as_str(), f);
            }
        }
        if r.fields.is_empty() {
            skipped += 1;
        } else {
            out.push(r);
        }
    }
    (out, skipped)
}

/// A JSON value as a field. JSON does not tell `5` (float) from `5i`:
/// whole numbers come back as integers, which every reader takes as f64.
fn field(v: &serde_json::Value) -> Option<FieldValue> {
    match v {
        serde_json::Value::Bool(b) => Some(FieldValue::Bool(*b)),
        serde_json::Value::String(s) => Some(FieldValue::Str(s.clone())),
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(FieldValue::Int)
            .or_else(|| n.as_u64().map(FieldValue::UInt))
            .or_else(|| n.as_f64().map(FieldValue::Float)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_readings_with_series_tags_and_typed_fields() {
        let text = br#"{"results":[{"statement_id":0,"series":[{"name":"noise","tags":{"device":"n-1","site":""},"columns":["time","laeq","ok","note","n"],"values":[[5,51.25,true,"x",3],[6,null,null,null,null]]}],"partial":true}]}"#;
        let s = parse_answer(text).unwrap();
        let (r, skipped) = readings(&s[0]);
        assert_eq!(skipped, 1);
        assert_eq!(
            crate::lineproto::to_line(&r[0]).unwrap(),
            "noise,device=n-1 laeq=51.25,ok=true,note=\"x\",n=3i 5"
        );
    }

    #[test]
    fn floats_come_back_to_the_bit() {
        // serde_json's float_roundtrip: the shortest text of an f64 reads back as that f64.
        for x in [
            0.1_f64 + 0.2,
            1.0 / 3.0,
            2.2250738585072014e-308,
            1.7976931348623157e308,
        ] {
            let text = format!(
                r#"{{"results":[{{"series":[{{"name":"m","columns":["time","v"],"values":[[1,{}]]}}]}}]}}"#,
                serde_json::to_string(&x).unwrap()
            );
            let s = parse_answer(text.as_bytes()).unwrap();
            let v = readings(&s[0]).0[0].fields[0].1.as_f64().unwrap();
            assert_eq!(v.to_bits(), x.to_bits(), "{x}");
        }
    }

    #[test]
    fn a_statement_error_is_an_error() {
        let text = br#"{"results":[{"statement_id":0,"error":"database not found: x"}]}"#;
        assert!(matches!(parse_answer(text), Err(StoreError::Query(e)) if e.contains("not found")));
    }
}
