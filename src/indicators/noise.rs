//! Noise per GB 3096-2008 (ambient) and GB 22337-2008 (boundary emission).
//!
//! Per sensor: minute and hour statistics from the samples; a *noise day*
//! runs from the site's day start (06:00) for 24 h, so it holds one day
//! period (06–22) and the following night (22–06) and closes at 06:00.
//! L_d and L_n are energetic means of the valid hourly L_eq; a point-day is
//! valid for a period with enough valid hours (12 of 16, 6 of 8 by default).

use crate::devices::{NoiseStandard, ZoneClass};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::ctx::Ctx;
use super::levels::{db, energy, ldn, LevelStats, Summary};
use super::window::{floor, in_range, minute_of_day, DAY, HOUR, MINUTE};
use crate::model::{FieldValue, Reading};

/// GB 3096-2008 Table 1 (and GB 22337-2008, whose class 4 is 70/55):
/// (day, night) L_Aeq limits in dB(A).
pub fn limits(standard: &str, zone: &str) -> Option<(f64, f64)> {
    Some(zone_limits(
        NoiseStandard::parse(standard)?,
        ZoneClass::parse(zone)?,
    ))
}

/// (day, night) limits in dB(A) of a zone class under a standard.
pub fn zone_limits(standard: NoiseStandard, zone: ZoneClass) -> (f64, f64) {
    match zone {
        ZoneClass::C0 => (50.0, 40.0),
        ZoneClass::C1 => (55.0, 45.0),
        ZoneClass::C2 => (60.0, 50.0),
        ZoneClass::C3 => (65.0, 55.0),
        ZoneClass::C4a => (70.0, 55.0),
        ZoneClass::C4b if standard == NoiseStandard::Gb22337 => (70.0, 55.0),
        ZoneClass::C4b => (70.0, 60.0),
    }
}

/// A noise sensor's static settings, derived from its attributes.
#[derive(Debug, Clone, Default)]
pub struct NoiseAttrs {
    pub zone: Option<ZoneClass>,
    /// Effective (day, night) limits, indoor offset applied.
    pub limits: Option<(f64, f64)>,
    /// Samples due per minute.
    pub due_per_minute: f64,
    /// The configured sample interval (ns).
    pub sample_interval_ns: i64,
}

/// One sensor's result for one noise day (kept for `assess`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NoiseDayRecord {
    pub day: i64,
    pub device: String,
    pub zone: Option<String>,
    pub ld: Option<f64>,
    pub ln: Option<f64>,
    pub day_ok: Option<bool>,
    pub night_ok: Option<bool>,
    pub night_events: u32,
    pub night_lmax: Option<f64>,
    /// The sensor's observed sampling interval (s) when it was more than 2×
    /// off the configured one: why its hours were invalid.
    #[serde(default)]
    pub observed_interval_s: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NoiseDay {
    day_hours: u32,
    day_energy: f64,
    night_hours: u32,
    night_energy: f64,
    night_lmax: Option<f64>,
    night_events: u32,
    last_event_end: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NoiseState {
    minutes: BTreeMap<i64, LevelStats>,
    hours: BTreeMap<i64, LevelStats>,
    days: BTreeMap<i64, NoiseDay>,
    /// The observed sampling interval (older checkpoints have none).
    #[serde(default)]
    cadence: super::cadence::Cadence,
}

fn summary_fields(r: &mut Reading, s: &Summary, due: f64, valid_cov: f64) {
    let rate = if due > 0.0 {
        (s.count as f64 / due).min(1.0)
    } else {
        0.0
    };
    for (k, v) in [
        ("leq", s.leq),
        ("lmax", s.lmax),
        ("lmin", s.lmin),
        ("l5", s.l5),
        ("l10", s.l10),
        ("l50", s.l50),
        ("l90", s.l90),
        ("l95", s.l95),
        ("std", s.std),
        ("valid_rate", rate),
    ] {
        r.add_field(k, FieldValue::Float(round2(v)));
    }
    r.add_field("count", FieldValue::Int(s.count as i64));
    r.add_field("valid", FieldValue::Bool(rate >= valid_cov));
}

pub fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

impl NoiseState {
    /// Folds a `noise` reading in: `laeq` (or one estimated from `la10`,
    /// `la50`, `la90`), `lamax` and `lamin` bounded by it. A reading with no
    /// finite level is ignored.
    pub fn record_reading(&mut self, r: &Reading, offset: i64) {
        let f = |k: &str| r.field(k).and_then(FieldValue::as_f64);
        let laeq = f("laeq").or_else(|| {
            let (a, b, c) = (f("la10")?, f("la50")?, f("la90")?);
            Some(super::levels::leq_from_percentiles(a, b, c))
        });
        let Some(laeq) = laeq.filter(|v| v.is_finite()) else {
            return;
        };
        let lamax = f("lamax")
            .filter(|v| v.is_finite())
            .unwrap_or(laeq)
            .max(laeq);
        let lamin = f("lamin")
            .filter(|v| v.is_finite())
            .unwrap_or(laeq)
            .min(laeq);
        self.record(r.time_ns, offset, laeq, lamax, lamin);
    }

    pub fn record(&mut self, t: i64, offset: i64, laeq: f64, lamax: f64, lamin: f64) {
        let m = floor(t, MINUTE, offset, 0);
        self.minutes.entry(m).or_default().add(laeq, lamax, lamin);
        self.cadence.sample(t);
    }

    /// Closes every window that ends at or before `wm`, finest first.
    pub fn close<'a>(
        &mut self,
        wm: i64,
        cx: &Ctx,
        id: &str,
        attrs_at: &dyn Fn(i64) -> &'a NoiseAttrs,
        out: &mut Vec<Reading>,
        days_out: &mut Vec<NoiseDayRecord>,
    ) {
        let nc = &cx.cfg.noise;
        // Each window with the attributes in force when it opened.
        let tags = |r: &mut Reading, a: &NoiseAttrs| {
            r.set_tag("device", id);
            if let Some(z) = &a.zone {
                r.set_tag("zone_class", z.as_str());
            }
        };
        while let Some(e) = self.minutes.first_entry() {
            let ws = *e.key();
            if ws + MINUTE > wm {
                break;
            }
            let st = e.remove();
            let Some(s) = st.summary() else { continue };
            let a = attrs_at(ws);
            let mut r = cx.reading("gg_noise_minute", ws);
            tags(&mut r, a);
            summary_fields(&mut r, &s, a.due_per_minute, nc.valid_coverage);
            out.push(r);
            let day = floor(ws, DAY, cx.offset, cx.day_phase);
            let night = !in_range(minute_of_day(ws, cx.offset), cx.day_start, cx.night_start);
            // Night events count against the limits of their noise day.
            if let (true, Some((_, n))) = (night, attrs_at(day).limits) {
                let d = self.days.entry(day).or_default();
                if s.lmax > n + nc.sudden_margin_db {
                    if d.last_event_end != ws {
                        d.night_events += 1;
                    }
                    d.last_event_end = ws + MINUTE;
                }
            }
            self.hours
                .entry(floor(ws, HOUR, cx.offset, 0))
                .or_default()
                .merge(&st);
        }
        while let Some(e) = self.hours.first_entry() {
            let ws = *e.key();
            if ws + HOUR > wm {
                break;
            }
            let st = e.remove();
            let Some(s) = st.summary() else { continue };
            let a = attrs_at(ws);
            let mut r = cx.reading("gg_noise_hour", ws);
            tags(&mut r, a);
            let due = a.due_per_minute * 60.0;
            summary_fields(&mut r, &s, due, nc.valid_coverage);
            let valid = due > 0.0 && s.count as f64 / due >= nc.valid_coverage;
            self.cadence.report(id, a.sample_interval_ns);
            if !valid {
                let off = self.cadence.mismatch(a.sample_interval_ns);
                let why = match off {
                    Some(_) => "sample_interval_mismatch",
                    None => "low_coverage",
                };
                r.add_field("invalid_reason", FieldValue::Str(why.into()));
                if let Some(m) = off {
                    let secs = m as f64 / super::window::SECOND as f64;
                    r.add_field("observed_interval_s", FieldValue::Float(round2(secs)));
                }
            }
            out.push(r);
            let d = self
                .days
                .entry(floor(ws, DAY, cx.offset, cx.day_phase))
                .or_default();
            let night = !in_range(minute_of_day(ws, cx.offset), cx.day_start, cx.night_start);
            if night {
                d.night_lmax = Some(d.night_lmax.map_or(s.lmax, |m| m.max(s.lmax)));
            }
            if valid {
                if night {
                    d.night_hours += 1;
                    d.night_energy += energy(s.leq);
                } else {
                    d.day_hours += 1;
                    d.day_energy += energy(s.leq);
                }
            }
        }
        while let Some(e) = self.days.first_entry() {
            let ws = *e.key();
            if ws + DAY > wm {
                break;
            }
            let d = e.remove();
            let a = attrs_at(ws);
            let mut rec = day_record(ws, id, a, &d, cx);
            rec.observed_interval_s = (self.cadence.mismatch(a.sample_interval_ns))
                .map(|m| round2(m as f64 / super::window::SECOND as f64));
            let mut r = cx.reading("gg_noise_day", ws);
            tags(&mut r, a);
            r.add_field(
                "date",
                FieldValue::Str(super::window::local_date(ws, cx.offset)),
            );
            let f = |r: &mut Reading, k: &str, v: Option<f64>| {
                if let Some(v) = v {
                    r.add_field(k, FieldValue::Float(round2(v)));
                }
            };
            f(&mut r, "ld", rec.ld);
            f(&mut r, "ln", rec.ln);
            let day_hours = cx.day_minutes as f64 / 60.0;
            f(
                &mut r,
                "ldn",
                rec.ld.zip(rec.ln).map(|(d, n)| ldn(d, n, day_hours)),
            );
            if let Some((dl, nl)) = a.limits {
                f(&mut r, "day_limit", Some(dl));
                f(&mut r, "night_limit", Some(nl));
                f(&mut r, "day_exceedance_db", rec.ld.map(|v| v - dl));
                f(&mut r, "night_exceedance_db", rec.ln.map(|v| v - nl));
            }
            if let Some(ok) = rec.day_ok {
                r.add_field("day_compliant", FieldValue::Bool(ok));
            }
            if let Some(ok) = rec.night_ok {
                r.add_field("night_compliant", FieldValue::Bool(ok));
            }
            f(&mut r, "night_lmax", rec.night_lmax);
            f(&mut r, "observed_interval_s", rec.observed_interval_s);
            r.add_field("day_hours_valid", FieldValue::Int(d.day_hours as i64));
            r.add_field("night_hours_valid", FieldValue::Int(d.night_hours as i64));
            r.add_field(
                "night_sudden_events",
                FieldValue::Int(d.night_events as i64),
            );
            out.push(r);
            days_out.push(rec);
        }
    }
}

fn day_record(ws: i64, id: &str, a: &NoiseAttrs, d: &NoiseDay, cx: &Ctx) -> NoiseDayRecord {
    let nc = &cx.cfg.noise;
    let ld = (d.day_hours >= nc.min_valid_day_hours && d.day_hours > 0)
        .then(|| db(d.day_energy / d.day_hours as f64));
    let ln = (d.night_hours >= nc.min_valid_night_hours && d.night_hours > 0)
        .then(|| db(d.night_energy / d.night_hours as f64));
    let lim = a.limits;
    NoiseDayRecord {
        day: ws,
        device: id.to_string(),
        zone: a.zone.map(|z| z.as_str().to_string()),
        ld,
        ln,
        day_ok: lim.zip(ld).map(|((dl, _), v)| v <= dl),
        night_ok: lim.zip(ln).map(|((_, nl), v)| v <= nl),
        night_events: d.night_events,
        night_lmax: d.night_lmax,
        observed_interval_s: None,
    }
}

/// Point-day compliance per zone class for one closed noise day.
pub fn compliance(cx: &Ctx, recs: &[NoiseDayRecord], out: &mut Vec<Reading>) {
    let mut by: BTreeMap<(i64, &str), [u32; 4]> = BTreeMap::new();
    for r in recs {
        let Some(z) = r.zone.as_deref() else { continue };
        let c = by.entry((r.day, z)).or_default();
        if let Some(ok) = r.day_ok {
            c[0] += 1;
            c[1] += ok as u32;
        }
        if let Some(ok) = r.night_ok {
            c[2] += 1;
            c[3] += ok as u32;
        }
    }
    for ((day, zone), c) in by {
        let mut r = cx.reading("gg_noise_compliance", day);
        r.set_tag("zone_class", zone);
        r.add_field(
            "date",
            FieldValue::Str(super::window::local_date(day, cx.offset)),
        );
        r.add_field("day_valid_points", FieldValue::Int(c[0] as i64));
        r.add_field("day_compliant_points", FieldValue::Int(c[1] as i64));
        r.add_field("night_valid_points", FieldValue::Int(c[2] as i64));
        r.add_field("night_compliant_points", FieldValue::Int(c[3] as i64));
        if c[0] > 0 {
            r.add_field(
                "day_rate_pct",
                FieldValue::Float(round2(100.0 * c[1] as f64 / c[0] as f64)),
            );
        }
        if c[2] > 0 {
            r.add_field(
                "night_rate_pct",
                FieldValue::Float(round2(100.0 * c[3] as f64 / c[2] as f64)),
            );
        }
        out.push(r);
    }
}

#[cfg(test)]
mod tests {
    use super::limits;

    #[test]
    fn gb3096_limits_by_zone_class() {
        assert_eq!(limits("gb3096", "1"), Some((55.0, 45.0)));
        assert_eq!(limits("gb3096", "4b"), Some((70.0, 60.0)));
        assert_eq!(limits("gb3096", "5"), None);
    }

    #[test]
    fn gb22337_has_one_class_four_at_70_55() {
        assert_eq!(limits("gb22337", "4b"), Some((70.0, 55.0)));
        assert_eq!(limits("gb22337", "4a"), Some((70.0, 55.0)));
    }
}
