//! Closing a meter's windows: emitted early, emitted again when a late
//! reading changes them, dropped once the meter's lateness has passed.
//!
//! A water window ends; once `allowed_lateness` has passed (the engine's
//! base watermark) it is emitted, so live dashboards see it at once. It is
//! kept until the meter's own lateness (`[indicators.water] lateness`, 26 h
//! by default: a day of totals uploaded at once) has passed too; a reading
//! that changes it meanwhile marks it dirty and the next `advance` emits it
//! again with the same time and tags (the store overwrites the point), and
//! the district balances it is part of are summed again. A night's minimum
//! flow feeds a sequence (rising nights, flowing nights), so it is emitted
//! once: when the meter has reported past the night's end, or when its
//! lateness has passed.

use super::ctx::Ctx;
use super::history::{numeric, IntervalRecord};
use super::noise::round2;
use super::water::{per_capita_range, Closed, WaterAttrs, WaterState, QUALITY_NAMES};
use super::window::{DAY, MINUTE};
use crate::model::{FieldValue, Reading};

/// The two watermarks a meter's windows are closed by (ns).
#[derive(Debug, Clone, Copy)]
pub struct Marks {
    /// Windows that ended by this are emitted (when changed).
    pub emit: i64,
    /// Windows that ended by this are final and dropped.
    pub expire: i64,
}

impl WaterState {
    pub fn close<'a>(
        &mut self,
        m: Marks,
        cx: &Ctx,
        id: &str,
        attrs_at: &dyn Fn(i64) -> &'a WaterAttrs,
        out: &mut Vec<Reading>,
        closed: &mut Closed,
    ) {
        // Never drop a window that was not emitted.
        let emit = m.emit.max(m.expire);
        let tag = |r: &mut Reading, a: &WaterAttrs| {
            r.set_tag("device", id);
            r.set_tag("role", a.role.as_str());
            if let Some(d) = &a.district {
                r.set_tag("district", d.as_str());
            }
        };
        for (len, day, map) in [
            (cx.interval, false, &mut self.intervals),
            (DAY, true, &mut self.days),
        ] {
            for (&ws, acc) in map.iter_mut() {
                if ws + len > emit {
                    break;
                }
                if !acc.dirty {
                    continue;
                }
                acc.dirty = false;
                // Each window with the attributes in force when it opened.
                let a = attrs_at(ws);
                let name = if day {
                    "gg_water_day"
                } else {
                    "gg_water_interval"
                };
                let mut r = cx.reading(name, ws);
                tag(&mut r, a);
                r.add_field("consumption_m3", FieldValue::Float(acc.m3));
                r.add_field("quality", FieldValue::Str(acc.worst().into()));
                for (name, n) in QUALITY_NAMES.iter().zip(acc.quality).skip(1) {
                    if n > 0 {
                        r.add_field(format!("deltas_{name}"), FieldValue::Int(n as i64));
                    }
                }
                if let (true, Some(p)) = (day, a.persons.filter(|p| *p > 0)) {
                    let lpd = acc.m3 * 1000.0 / p as f64;
                    let [lo, hi] = per_capita_range(cx);
                    r.add_field("persons", FieldValue::Int(p as i64));
                    r.add_field("per_capita_lpd", FieldValue::Float(round2(lpd)));
                    r.add_field(
                        "per_capita_in_range",
                        FieldValue::Bool(lpd >= lo && lpd <= hi),
                    );
                    closed.per_capita.push((ws, id.to_string(), acc.m3, p));
                }
                if let Some(d) = &a.district {
                    closed.touched.insert((ws, day, d.clone()));
                }
                out.push(r);
            }
        }
        self.close_nights(m, cx, id, attrs_at, out, closed, &tag);
    }

    /// Drops the windows past the meter's lateness: after the district
    /// balances of this `advance` were summed from them.
    pub fn expire(&mut self, m: Marks, cx: &Ctx) {
        let emit = m.emit.max(m.expire);
        let expire = m.expire.min(emit);
        self.intervals.retain(|ws, _| ws + cx.interval > expire);
        self.days.retain(|ws, _| ws + DAY > expire);
    }

    /// The window of a meter at `ws`, for a district balance.
    pub(super) fn window(&self, ws: i64, day: bool) -> Option<&super::water::Acc> {
        if day {
            self.days.get(&ws)
        } else {
            self.intervals.get(&ws)
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn close_nights<'a>(
        &mut self,
        m: Marks,
        cx: &Ctx,
        id: &str,
        attrs_at: &dyn Fn(i64) -> &'a WaterAttrs,
        out: &mut Vec<Reading>,
        closed: &mut Closed,
        tag: &dyn Fn(&mut Reading, &WaterAttrs),
    ) {
        let wc = &cx.cfg.water;
        let (s, e) = cx.mnf;
        let end_off = if e > s { e } else { e + 1440 } as i64 * MINUTE;
        let emit = m.emit.max(m.expire);
        while let Some(en) = self.nights.first_entry() {
            let mid = *en.key();
            let end = mid + end_off;
            let done = end <= m.expire || (end <= emit && self.newest >= end);
            if !done {
                break;
            }
            let mnf = en.remove();
            let start = mid + s as i64 * MINUTE;
            let a = attrs_at(start);
            let mut r = cx.reading("gg_water_night_flow", start);
            tag(&mut r, a);
            r.add_field("min_flow_m3h", FieldValue::Float(mnf));
            if a.role == crate::devices::MeterRole::Household {
                self.flowing_nights = if mnf > 0.0 {
                    self.flowing_nights + 1
                } else {
                    0
                };
                r.add_field(
                    "flowing_nights",
                    FieldValue::Int(self.flowing_nights as i64),
                );
                r.add_field(
                    "leak_suspected",
                    FieldValue::Bool(self.flowing_nights >= wc.leak_nights),
                );
            } else {
                let legit = wc.legit_night_use_l_per_conn_h * a.connections as f64 / 1000.0;
                let corrected = (mnf - legit).max(0.0);
                let baseline = (!self.mnf_recent.is_empty())
                    .then(|| self.mnf_recent.iter().sum::<f64>() / self.mnf_recent.len() as f64);
                let rose = self.mnf_recent.last().is_some_and(|l| corrected > *l);
                self.rising = if rose { self.rising + 1 } else { 0 };
                self.mnf_recent.push(corrected);
                if self.mnf_recent.len() > 7 {
                    self.mnf_recent.remove(0);
                }
                r.add_field("legit_use_m3h", FieldValue::Float(legit));
                r.add_field("corrected_m3h", FieldValue::Float(corrected));
                if let Some(b) = baseline {
                    r.add_field("baseline_m3h", FieldValue::Float(b));
                }
                r.add_field("rising_nights", FieldValue::Int(self.rising as i64));
                r.add_field("alarm", FieldValue::Bool(self.rising >= wc.rising_nights));
            }
            closed.nights.push(IntervalRecord {
                t: r.time_ns,
                kind: "gg_water_night_flow".into(),
                key: id.to_string(),
                fields: numeric(&r),
            });
            out.push(r);
        }
    }
}
