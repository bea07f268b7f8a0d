//! From a whole HJ 212 upload to readings (pure).
//!
//! | upload | measurement | fields |
//! |---|---|---|
//! | noise (ST 23, 36, others), 2011 real-time, 2052 single | `noise` (feeds the indicators) | `LA-Rtd` → `laeq`, `LMx-Rtd` → `lamax`, `LMn-Rtd` → `lamin`, ... |
//! | the same with a `-Flag` other than N on its level | `noise_flagged` (not in the indicators) | the same, plus `flag` |
//! | noise 2051 / 2061 / 2031 | `noise_interval`, tag `interval` = `minute` / `hour` / `day` | `laeq`, `la5` … `la95`, `lamax`, `lamin`, `ld`, `ln`, `ldn`, `flag` |
//! | noise 2051 with `minute_data_feeds_indicators` | `noise` | as above |
//! | dust (ST 22, 39) | `dust`, tag `interval` = `rtd` / `minute` / `hour` / `day` | `<code>_<suffix>` (`a34001_rtd`), noise codes as above, `<code>_flag` |
//!
//! Field names: a factor code in the table (built in: `LA`, `Leq`, `B03` →
//! `laeq`; `L5` … `L95` → `la5` … `la95`; `LMx` → `lamax`, `LMn` → `lamin`;
//! `Ld`, `Ln`, `Ldn`; extended by `factor_codes`) becomes its canonical
//! field; `-Rtd`, `-Data`, `-Avg` add nothing, `-DayData` / `-NightData`
//! of the level give `ld` / `ln` (of another factor `_day` / `_night`),
//! `-Max`, `-Min`, `-Cou` add `_max`, `_min`, `_cou`. Other codes are kept
//! raw (`<code>_<suffix in lower case>`). Values that are not finite
//! numbers are left out.
//!
//! Time: `DataTime` (the window start, the station's local time) minus
//! the UTC offset; a real-time upload without one takes the receive time;
//! interval data without one is refused (it cannot be placed).

use std::collections::BTreeMap;

use crate::model::{FieldValue, Reading};
use crate::protocols::hj212::{cn, st, Message, Suffix};

/// The built-in factor-code table.
const BUILT_IN: &[(&str, &str)] = &[
    ("LA", "laeq"),
    ("Leq", "laeq"),
    ("B03", "laeq"),
    ("L5", "la5"),
    ("L10", "la10"),
    ("L50", "la50"),
    ("L90", "la90"),
    ("L95", "la95"),
    ("LMx", "lamax"),
    ("LMn", "lamin"),
    ("Ld", "ld"),
    ("Ln", "ln"),
    ("Ldn", "ldn"),
];

/// The settings mapping depends on.
#[derive(Debug, Clone)]
pub struct Mapping {
    codes: BTreeMap<String, String>,
    /// Seconds east of UTC of the stations' DataTime.
    pub offset_s: i32,
    pub minute_feeds_indicators: bool,
}

/// What an upload became.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped {
    Readings(Vec<Reading>),
    /// Not data to store (equipment status, heartbeat, a command): the CN.
    Ignored(u16),
}

/// Why an upload cannot become readings (dead-lettered).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    #[error("CN {0} interval data without DataTime")]
    NoDataTime(u16),
    #[error("DataTime {0:?} is not a time")]
    BadDataTime(String),
    #[error("no numeric value in the upload")]
    NoValues,
    #[error("no CN")]
    NoCn,
}

impl MapError {
    pub fn reason(&self) -> &'static str {
        match self {
            MapError::NoDataTime(_) => "no_data_time",
            MapError::BadDataTime(_) => "bad_data_time",
            MapError::NoValues => "no_values",
            MapError::NoCn => "no_cn",
        }
    }
}

impl Mapping {
    pub fn new(extra: &BTreeMap<String, String>, offset_s: i32, minute: bool) -> Mapping {
        let mut codes: BTreeMap<String, String> = BUILT_IN
            .iter()
            .map(|(c, f)| (c.to_string(), f.to_string()))
            .collect();
        codes.extend(extra.iter().map(|(c, f)| (c.clone(), f.clone())));
        Mapping {
            codes,
            offset_s,
            minute_feeds_indicators: minute,
        }
    }

    /// The readings of `msg` from station `device`, received at `now_ns`.
    pub fn map(&self, msg: &Message, device: &str, now_ns: i64) -> Result<Mapped, MapError> {
        let code = msg.cn.ok_or(MapError::NoCn)?;
        let interval = match code {
            cn::REAL_TIME_DATA | cn::NOISE_SINGLE => "rtd",
            cn::MINUTE_DATA => "minute",
            cn::HOUR_DATA => "hour",
            cn::DAY_DATA => "day",
            other => return Ok(Mapped::Ignored(other)),
        };
        let cp = msg.cp();
        let time_ns = match cp.get("DataTime") {
            Some(t) => {
                let local = chrono::NaiveDateTime::parse_from_str(t, "%Y%m%d%H%M%S")
                    .map_err(|_| MapError::BadDataTime(t.to_string()))?;
                let utc = local.and_utc().timestamp() - i64::from(self.offset_s);
                utc.checked_mul(1_000_000_000)
                    .ok_or_else(|| MapError::BadDataTime(t.to_string()))?
            }
            None if interval == "rtd" => now_ns,
            None => return Err(MapError::NoDataTime(code)),
        };
        let dust = matches!(msg.st, Some(st::AIR | st::CONSTRUCTION_DUST));
        let mut fields: Vec<(String, FieldValue)> = Vec::new();
        let mut level_flag: Option<String> = None;
        let mut flags: Vec<(String, String)> = Vec::new();
        for f in cp.fields() {
            let Some((factor, suffix)) = f.factor() else {
                continue;
            };
            let canonical = self.codes.get(factor).map(String::as_str);
            if suffix == Suffix::Flag {
                if canonical == Some("laeq") {
                    level_flag.get_or_insert_with(|| f.value.to_string());
                }
                flags.push((raw_name(factor, "flag"), f.value.to_string()));
                continue;
            }
            let Some(v) = f.number() else { continue };
            let name = field_name(factor, canonical, suffix);
            if !fields.iter().any(|(k, _)| *k == name) {
                fields.push((name, FieldValue::Float(v)));
            }
        }
        if fields.is_empty() {
            return Err(MapError::NoValues);
        }
        let (measurement, tag) = if dust {
            ("dust", Some(interval))
        } else if interval == "rtd" || (interval == "minute" && self.minute_feeds_indicators) {
            match &level_flag {
                Some(f) if f != "N" => ("noise_flagged", None),
                _ => ("noise", None),
            }
        } else {
            ("noise_interval", Some(interval))
        };
        let mut r = Reading::new(measurement, time_ns);
        r.set_tag("device", device);
        if let Some(t) = tag {
            r.set_tag("interval", t);
        }
        for (k, v) in fields {
            r.add_field(k, v);
        }
        if dust {
            for (k, v) in flags {
                r.add_field(k, FieldValue::Str(v));
            }
        } else if let Some(f) = level_flag {
            r.add_field("flag", FieldValue::Str(f));
        }
        Ok(Mapped::Readings(vec![r]))
    }
}

fn raw_name(code: &str, suffix: &str) -> String {
    format!("{code}_{}", suffix.to_ascii_lowercase())
}

fn field_name(code: &str, canonical: Option<&str>, suffix: Suffix<'_>) -> String {
    let Some(c) = canonical else {
        let s = match suffix {
            Suffix::Rtd => "rtd",
            Suffix::Flag => "flag",
            Suffix::Avg => "avg",
            Suffix::Max => "max",
            Suffix::Min => "min",
            Suffix::Cou => "cou",
            Suffix::Data => "data",
            Suffix::DayData => "daydata",
            Suffix::NightData => "nightdata",
            Suffix::Other(o) => return raw_name(code, o),
        };
        return raw_name(code, s);
    };
    match suffix {
        Suffix::Rtd | Suffix::Data | Suffix::Avg => c.to_string(),
        Suffix::DayData if c == "laeq" || c == "ld" => "ld".to_string(),
        Suffix::NightData if c == "laeq" || c == "ln" => "ln".to_string(),
        Suffix::DayData => format!("{c}_day"),
        Suffix::NightData => format!("{c}_night"),
        Suffix::Max => format!("{c}_max"),
        Suffix::Min => format!("{c}_min"),
        Suffix::Cou => format!("{c}_cou"),
        Suffix::Flag => format!("{c}_flag"),
        Suffix::Other(o) => format!("{c}_{}", o.to_ascii_lowercase()),
    }
}

#[cfg(test)]
#[path = "map_tests.rs"]
mod tests;
