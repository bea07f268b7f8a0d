//! From indicator points to HJ 212 uploads: pure, no I/O.
//!
//! | reading | CN | DataTime (site-local) | CP items |
//! |---|---|---|---|
//! | `gg_noise_minute` | 2051 | window start | `<code>-Data=<v>,<code>-Flag=<f>` per factor |
//! | `gg_noise_hour` | 2061 | window start | the same |
//! | `gg_noise_day` | 2031 | the day's date, 00:00:00 | `Ld-DayData`, `Ln-NightData`, `Ldn-Data` (or `-Data` for all) |
//! | raw `noise` (`laeq`) | 2011 | reading time | `LA-Rtd=<v>,LA-Flag=N` |
//!
//! The data-quality flag of a minute or hour: `N` when the window is valid,
//! `D` (fault) when it is invalid because the device samples at another
//! interval than configured (`invalid_reason = "sample_interval_mismatch"`),
//! `B` (communication fault) when samples are missing (`low_coverage`: the
//! device was offline or its data did not arrive for part of the window).
//! A device offline for a whole window produces no window, so nothing is
//! sent for it. Day values exist only when their period had enough valid
//! hours and are then `N`; a missing `Ld` or `Ln` (and `Ldn`) is left out.

use chrono::NaiveDateTime;
use std::collections::HashMap;

use super::config::{DayCoding, PlatformConfig};
use crate::model::{FieldValue, Reading};
use crate::protocols::hj212::{cn, format_data_time, CpWriter, DataFlag};

/// One upload: what to send for one indicator point.
#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    pub cn: u16,
    pub mn: String,
    /// The CP content (between `CP=&&` and `&&`).
    pub cp: String,
}

/// Why a record is not sent; the label of `hj212_sink_records_skipped_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// The line is not line protocol.
    Unparsable,
    /// Its device has no MN in `points`.
    NoMn,
    /// No value to send (every factor code empty, or no field present).
    Empty,
    /// A real-time reading within the point's real-time interval.
    Throttled,
    /// Not a measurement this platform takes.
    Other,
}

impl Skip {
    pub fn label(self) -> &'static str {
        match self {
            Skip::Unparsable => "unparsable",
            Skip::NoMn => "no_mn",
            Skip::Empty => "empty",
            Skip::Throttled => "throttled",
            Skip::Other => "other",
        }
    }
}

/// Site-local time of a UTC nanosecond timestamp.
pub fn local(t_ns: i64, offset_s: i32) -> NaiveDateTime {
    let secs = t_ns.div_euclid(1_000_000_000) + i64::from(offset_s);
    let nanos = t_ns.rem_euclid(1_000_000_000) as u32;
    chrono::DateTime::from_timestamp(secs, nanos)
        .unwrap_or_default()
        .naive_utc()
}

/// The data-quality flag of a minute or hour window.
pub fn window_flag(r: &Reading) -> DataFlag {
    match r.field("valid") {
        Some(FieldValue::Bool(false)) => match r.field("invalid_reason") {
            Some(FieldValue::Str(s)) if s == "sample_interval_mismatch" => DataFlag::Fault,
            _ => DataFlag::CommunicationFault,
        },
        _ => DataFlag::Normal,
    }
}

/// Formats a value as the platform reads it (shortest round-trip form).
fn number(v: f64) -> Option<String> {
    v.is_finite().then(|| format!("{v}"))
}

/// Maps readings to uploads for one platform; keeps the last real-time
/// upload per point for the real-time interval.
#[derive(Debug, Default)]
pub struct Mapper {
    offset_s: i32,
    last_rtd: HashMap<String, i64>,
}

impl Mapper {
    pub fn new(offset_s: i32) -> Mapper {
        Mapper {
            offset_s,
            last_rtd: HashMap::new(),
        }
    }

    /// The upload for `r`; `rtd_interval_ns` is the point's current
    /// real-time interval (the platform may set it with CN 1062).
    pub fn upload(
        &mut self,
        cfg: &PlatformConfig,
        r: &Reading,
        rtd_interval_ns: impl Fn(&str) -> i64,
    ) -> Result<Upload, Skip> {
        let cn = match r.measurement.as_str() {
            "gg_noise_minute" if cfg.minute => cn::MINUTE_DATA,
            "gg_noise_hour" if cfg.hour => cn::HOUR_DATA,
            "gg_noise_day" if cfg.day => cn::DAY_DATA,
            m if cfg.realtime && m == cfg.realtime_measurement => cn::REAL_TIME_DATA,
            _ => return Err(Skip::Other),
        };
        let device = r.tag("device").ok_or(Skip::NoMn)?;
        let mn = cfg.points.get(device).ok_or(Skip::NoMn)?;
        let f = |k: &str| r.field(k).and_then(FieldValue::as_f64).and_then(number);
        let mut w = CpWriter::new();
        let mut values = 0;
        let mut put = |w: &mut CpWriter, code: &str, suffix: &str, v: Option<String>, flag| {
            if let (false, Some(v)) = (code.is_empty(), v) {
                w.item();
                let ok = w.field(&format!("{code}-{suffix}"), &v).is_ok()
                    && w.field(&format!("{code}-Flag"), flag).is_ok();
                values += ok as usize;
            }
        };
        match cn {
            cn::MINUTE_DATA | cn::HOUR_DATA => {
                let _ = w.field(
                    "DataTime",
                    &format_data_time(local(r.time_ns, self.offset_s)),
                );
                let flag = window_flag(r).code();
                for (field, code) in cfg.factors.interval() {
                    put(&mut w, code, "Data", f(field), flag);
                }
            }
            cn::DAY_DATA => {
                let _ = w.field("DataTime", &day_time(r, self.offset_s));
                let (d, n) = match cfg.day_coding {
                    DayCoding::DayNight => ("DayData", "NightData"),
                    DayCoding::Data => ("Data", "Data"),
                };
                let fc = &cfg.factors;
                put(&mut w, &fc.ld, d, f("ld"), "N");
                put(&mut w, &fc.ln, n, f("ln"), "N");
                put(&mut w, &fc.ldn, "Data", f("ldn"), "N");
            }
            _ => {
                let last = self.last_rtd.get(mn).copied();
                if last.is_some_and(|l| r.time_ns < l.saturating_add(rtd_interval_ns(mn))) {
                    return Err(Skip::Throttled);
                }
                let t = local(r.time_ns, self.offset_s);
                let _ = w.field("DataTime", &format_data_time(t));
                put(&mut w, &cfg.factors.la, "Rtd", f("laeq"), "N");
                if values > 0 {
                    self.last_rtd.insert(mn.clone(), r.time_ns);
                }
            }
        }
        if values == 0 {
            return Err(Skip::Empty);
        }
        Ok(Upload {
            cn,
            mn: mn.clone(),
            cp: w.finish(),
        })
    }
}

/// A noise day's DataTime: its `date` field at 00:00:00 (platforms key day
/// data by calendar date), else the local date of the window start.
fn day_time(r: &Reading, offset_s: i32) -> String {
    let date = match r.field("date") {
        Some(FieldValue::Str(s)) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok(),
        _ => None,
    };
    let date = date.unwrap_or_else(|| local(r.time_ns, offset_s).date());
    format_data_time(date.and_time(chrono::NaiveTime::MIN))
}

#[cfg(test)]
#[path = "map_tests.rs"]
mod tests;
