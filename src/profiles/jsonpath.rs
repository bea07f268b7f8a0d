//! Field extraction from JSON payloads by a small path language.
//!
//! Syntax: dot-separated keys with optional indexes, e.g. `LAeq`,
//! `data.readings[0].v`, `values[*]`, `meta["dotted.key"]`, `items[-1]`
//! (negative indexes count from the end). A leading `$.` (or a lone `$`)
//! anchors the path at the message root; otherwise a path is relative to the
//! current record (which is the root when the profile has no `records`).
//!
//! Paths are parsed once, at profile load; [`JsonPath::select`] is pure and
//! never panics on any input.

use serde::Deserialize;
use std::fmt;

use super::json::Json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(i64),
    /// `[*]`: every element of an array (or every value of an object).
    Wildcard,
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    /// Anchored at the message root (`$.`) rather than the current record.
    pub root: bool,
    pub segments: Vec<Segment>,
    text: String,
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl JsonPath {
    /// Parses a path; the error says what is wrong and where.
    pub fn parse(s: &str) -> Result<JsonPath, String> {
        let text = s.to_string();
        let (root, rest) = if s == "$" {
            (true, "")
        } else if let Some(r) = s.strip_prefix("$.") {
            (true, r)
        } else if s.starts_with("$[") {
            (true, &s[1..])
        } else {
            (false, s)
        };
        if !root && rest.is_empty() {
            return Err("empty path".into());
        }
        let b = rest.as_bytes();
        let mut segments = Vec::new();
        let mut i = 0;
        let mut expect_key = !rest.starts_with('[');
        while i < b.len() {
            if b[i] == b'[' {
                let close = rest[i..]
                    .find(']')
                    .map(|c| i + c)
                    .ok_or_else(|| format!("unclosed '[' at byte {i} in {s:?}"))?;
                let inner = &rest[i + 1..close];
                let seg = if inner == "*" {
                    Segment::Wildcard
                } else if inner.len() >= 2
                    && (inner.starts_with('"') && inner.ends_with('"')
                        || inner.starts_with('\'') && inner.ends_with('\''))
                {
                    Segment::Key(inner[1..inner.len() - 1].to_string())
                } else {
                    Segment::Index(
                        inner
                            .parse()
                            .map_err(|_| format!("bad index [{inner}] in {s:?}"))?,
                    )
                };
                segments.push(seg);
                i = close + 1;
                expect_key = false;
            } else if b[i] == b'.' {
                if expect_key {
                    return Err(format!("empty key at byte {i} in {s:?}"));
                }
                i += 1;
                expect_key = true;
                if i == b.len() {
                    return Err(format!("path {s:?} ends with '.'"));
                }
            } else {
                if !expect_key {
                    return Err(format!("expected '.' or '[' at byte {i} in {s:?}"));
                }
                let end = rest[i..].find(['.', '[']).map(|e| i + e).unwrap_or(b.len());
                segments.push(Segment::Key(rest[i..end].to_string()));
                i = end;
                expect_key = false;
            }
        }
        Ok(JsonPath {
            root,
            segments,
            text,
        })
    }

    pub fn has_wildcard(&self) -> bool {
        self.segments.contains(&Segment::Wildcard)
    }

    /// Every value the path selects, starting from `root` or `record`.
    pub fn select<'a, 'j>(&self, root: &'a Json<'j>, record: &'a Json<'j>) -> Vec<&'a Json<'j>> {
        let mut cur = vec![if self.root { root } else { record }];
        for seg in &self.segments {
            let mut next = Vec::with_capacity(cur.len());
            for v in cur {
                match (seg, v) {
                    (Segment::Wildcard, Json::Arr(a)) => next.extend(a.iter()),
                    (Segment::Wildcard, Json::Obj(m)) => next.extend(m.iter().map(|(_, v)| v)),
                    _ => next.extend(step(seg, v)),
                }
            }
            cur = next;
        }
        cur
    }

    /// The single value the path selects, if exactly one; `Err(n)` when the
    /// path selects several. Without a wildcard it walks the tree without
    /// allocating (the per-message path: one call per field and tag).
    pub fn one<'a, 'j>(
        &self,
        root: &'a Json<'j>,
        record: &'a Json<'j>,
    ) -> Result<Option<&'a Json<'j>>, usize> {
        if !self.has_wildcard() {
            let mut v = if self.root { root } else { record };
            for seg in &self.segments {
                match step(seg, v) {
                    Some(next) => v = next,
                    None => return Ok(None),
                }
            }
            return Ok(Some(v));
        }
        let mut all = self.select(root, record);
        match all.len() {
            0 => Ok(None),
            1 => Ok(all.pop()),
            n => Err(n),
        }
    }
}

/// The value one key or index segment leads to (`None` for a wildcard).
fn step<'a, 'j>(seg: &Segment, v: &'a Json<'j>) -> Option<&'a Json<'j>> {
    match (seg, v) {
        (Segment::Key(k), Json::Obj(_)) => v.get(k),
        (Segment::Index(i), Json::Arr(a)) => {
            let idx = if *i < 0 {
                (a.len() as i64).checked_add(*i)
            } else {
                Some(*i)
            };
            idx.and_then(|j| usize::try_from(j).ok())
                .and_then(|j| a.get(j))
        }
        _ => None,
    }
}

impl<'de> Deserialize<'de> for JsonPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        JsonPath::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn sel(path: &str, v: &Value) -> Vec<Value> {
        let j = Json::from_value(v);
        JsonPath::parse(path)
            .unwrap()
            .select(&j, &j)
            .into_iter()
            .map(|x| serde_json::from_str(&x.to_string()).unwrap())
            .collect()
    }

    #[test]
    fn nested_objects_and_array_indexes_are_followed() {
        let v = json!({"data": {"readings": [{"v": 1}, {"v": 2}]}});
        assert_eq!(sel("data.readings[0].v", &v), vec![json!(1)]);
        assert_eq!(sel("data.readings[-1].v", &v), vec![json!(2)]);
        assert_eq!(sel("data.readings[5].v", &v), Vec::<Value>::new());
    }

    #[test]
    fn wildcard_selects_every_element() {
        let v = json!({"values": [1, 2, 3]});
        assert_eq!(sel("values[*]", &v), vec![json!(1), json!(2), json!(3)]);
        let v = json!([{"a": 1}, {"a": 2}]);
        assert_eq!(sel("$[*].a", &v), vec![json!(1), json!(2)]);
    }

    #[test]
    fn quoted_keys_may_contain_dots() {
        let v = json!({"meta": {"a.b": "x"}});
        assert_eq!(sel("meta[\"a.b\"]", &v), vec![json!("x")]);
    }

    #[test]
    fn root_anchored_paths_ignore_the_record() {
        let (root, rec) = (json!({"id": "dev-1", "rs": [{"v": 1}]}), json!({"v": 1}));
        let (root, rec) = (Json::from_value(&root), Json::from_value(&rec));
        let p = JsonPath::parse("$.id").unwrap();
        assert_eq!(p.select(&root, &rec), vec![&Json::Str("dev-1".into())]);
        let p = JsonPath::parse("v").unwrap();
        assert_eq!(p.select(&root, &rec), vec![&Json::Num(1.into())]);
    }

    #[test]
    fn one_agrees_with_select_with_and_without_wildcards() {
        let v = json!({"a": {"b": [1, {"c": "x"}], "d": null}, "e": [[1], [2]], "f": 3});
        let j = Json::from_value(&v);
        let paths = [
            "a.b[1].c",
            "a.b[0]",
            "a.b[-1].c",
            "a.b[2]",
            "a.d",
            "a.z",
            "f.g",
            "f[0]",
            "e[0][0]",
            "e[*][0]",
            "e[*]",
            "a.b[*].c",
            "$.f",
            "a[\"b\"][0]",
        ];
        for p in paths {
            let path = JsonPath::parse(p).unwrap();
            let all = path.select(&j, &j);
            let want = match all.len() {
                0 => Ok(None),
                1 => Ok(Some(all[0])),
                n => Err(n),
            };
            assert_eq!(path.one(&j, &j), want, "{p}");
        }
    }

    #[test]
    fn malformed_paths_are_rejected_with_a_reason() {
        for bad in ["", "a..b", "a.", "a[", "a[x]", ".a", "a[0]b"] {
            assert!(JsonPath::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn paths_through_the_wrong_type_select_nothing() {
        let v = json!({"a": 5, "b": "str"});
        assert!(sel("a.b", &v).is_empty());
        assert!(sel("b[0]", &v).is_empty());
    }
}
