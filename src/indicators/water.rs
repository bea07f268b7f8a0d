//! Water: consumption from cumulative totals, district balance, minimum night
//! flow and per-capita use.
//!
//! Raw totals are never changed; each delta between two totals carries a
//! [`Quality`] (see [`delta`], a pure function). Deltas are spread over the
//! windows they span in proportion to time (linear interpolation of the
//! cumulative total at window boundaries), which aligns master and sub-meters
//! that are read at different instants.

use crate::devices::MeterRole;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::config::DeviceAttributes;
use super::ctx::Ctx;
use super::window::{floor, in_range, minute_of_day, split, DAY, HOUR};
use crate::model::{FieldValue, Reading};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Quality {
    Ok = 0,
    Rollover = 1,
    Replacement = 2,
    Reset = 3,
    Estimated = 4,
    Rejected = 5,
}

pub const QUALITY_NAMES: [&str; 6] = [
    "ok",
    "rollover",
    "replacement",
    "reset",
    "estimated",
    "rejected",
];

#[derive(Debug, Clone, Default)]
pub struct WaterAttrs {
    pub role: MeterRole,
    pub district: Option<String>,
    pub persons: Option<u32>,
    pub connections: u32,
    pub rollover_at: Option<f64>,
    pub max_flow_m3h: Option<f64>,
    /// (time ns, old final, new start), sorted by time.
    pub replacements: Vec<(i64, f64, f64)>,
}

impl WaterAttrs {
    pub fn new(c: &DeviceAttributes) -> WaterAttrs {
        let mut replacements: Vec<_> = c
            .replacements
            .iter()
            .filter_map(|r| Some((r.at_ns()?, r.old_final_m3, r.new_start_m3)))
            .collect();
        replacements.sort_by_key(|r| r.0);
        WaterAttrs {
            role: c.meter_role(),
            district: c.district.clone(),
            persons: c.persons,
            connections: c.connections.unwrap_or(1),
            rollover_at: c.rollover_at_m3,
            max_flow_m3h: c.max_flow_m3h,
            replacements,
        }
    }
}

/// The outcome of comparing two cumulative totals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// Volume attributed to the span, m³ (never negative).
    pub delta: f64,
    pub quality: Quality,
    /// Whether the new total becomes the baseline for the next delta.
    pub rebase: bool,
}

/// The volume between two totals `(t, m³)` of one meter.
pub fn delta(prev: (i64, f64), cur: (i64, f64), a: &WaterAttrs, reset_fraction: f64) -> Step {
    let ok = |delta, quality| Step {
        delta,
        quality,
        rebase: true,
    };
    if let Some((_, old_final, new_start)) = a
        .replacements
        .iter()
        .find(|(at, _, _)| prev.0 < *at && *at <= cur.0)
    {
        let d = (old_final - prev.1).max(0.0) + (cur.1 - new_start).max(0.0);
        return ok(d, Quality::Replacement);
    }
    let hours = (cur.0 - prev.0) as f64 / HOUR as f64;
    let implausible = |d: f64| matches!(a.max_flow_m3h, Some(m) if hours > 0.0 && d / hours > m);
    if cur.1 >= prev.1 {
        let d = cur.1 - prev.1;
        if implausible(d) {
            return Step {
                delta: 0.0,
                quality: Quality::Rejected,
                rebase: false,
            };
        }
        return ok(d, Quality::Ok);
    }
    if let Some(full) = a.rollover_at {
        let d = full - prev.1 + cur.1;
        if d >= 0.0 && d < 0.1 * full && !implausible(d) {
            return ok(d, Quality::Rollover);
        }
    }
    if prev.1 - cur.1 <= reset_fraction * prev.1.abs() {
        // Jitter of the register: keep the higher baseline, count nothing.
        return Step {
            delta: 0.0,
            quality: Quality::Ok,
            rebase: false,
        };
    }
    ok(0.0, Quality::Reset)
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Acc {
    pub m3: f64,
    pub quality: [u32; 6],
    /// Changed since it was last emitted (a window is emitted again when a
    /// late reading within the meter's lateness changes it).
    #[serde(default = "crate::config::yes")]
    pub dirty: bool,
}

impl Acc {
    pub(super) fn worst(&self) -> &'static str {
        (1..6)
            .rev()
            .find(|i| self.quality[*i] > 0)
            .map_or("ok", |i| QUALITY_NAMES[i])
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct WaterState {
    pub(super) last: Option<(i64, f64)>,
    pub(super) rejects: u32,
    pub(super) intervals: BTreeMap<i64, Acc>,
    pub(super) days: BTreeMap<i64, Acc>,
    /// Local midnight → minimum flow (m³/h) seen in the night-flow window.
    pub(super) nights: BTreeMap<i64, f64>,
    /// Recent corrected minimum night flows, oldest first (at most 7).
    pub(super) mnf_recent: Vec<f64>,
    pub(super) rising: u32,
    pub(super) flowing_nights: u32,
    /// The newest reading's time: a night is closed early once the meter
    /// has reported past its end.
    #[serde(default)]
    pub(super) newest: i64,
}

impl WaterState {
    /// Folds one reading in; `wm` is the meter's watermark (now − its
    /// lateness): volume before it is not booked.
    pub fn record(&mut self, r: &Reading, cx: &Ctx, a: &WaterAttrs, wm: i64) {
        let t = r.time_ns;
        self.newest = self.newest.max(t);
        let f = |k: &str| {
            r.field(k)
                .and_then(FieldValue::as_f64)
                .filter(|v| v.is_finite())
        };
        let in_mnf = |t: i64| in_range(minute_of_day(t, cx.offset), cx.mnf.0, cx.mnf.1);
        let mut night_flow = |t: i64, flow: f64| {
            let k = floor(t, DAY, cx.offset, 0);
            let m = self.nights.entry(k).or_insert(flow);
            *m = m.min(flow);
        };
        if let Some(flow) = f("flow_m3h") {
            if in_mnf(t) {
                night_flow(t, flow.max(0.0));
            }
        }
        let Some(total) = f("total_m3") else { return };
        let Some(prev) = self.last else {
            self.last = Some((t, total));
            return;
        };
        if t <= prev.0 {
            return;
        }
        let mut step = delta(prev, (t, total), a, cx.cfg.water.reset_drop_fraction);
        if step.quality == Quality::Rejected {
            self.rejects += 1;
            if self.rejects >= 3 {
                step.rebase = true;
            }
        } else {
            self.rejects = 0;
        }
        if step.rebase {
            self.last = Some((t, total));
        }
        if f("flow_m3h").is_none()
            && step.quality == Quality::Ok
            && in_mnf(t)
            && in_mnf(prev.0)
            && t - prev.0 <= 2 * HOUR
        {
            night_flow(t, step.delta / ((t - prev.0) as f64 / HOUR as f64));
        }
        let from = prev.0.max(wm);
        // The volume is spread over the windows the delta spans, and its
        // quality flag goes with it: to every window that got a share (a
        // reading exactly on a boundary flags the window that ends there).
        let q = step.quality as usize;
        let spread = |map: &mut BTreeMap<i64, Acc>, len: i64, max: i64| {
            let span = (t - from).max(1) as f64;
            if t <= from {
                let acc = map.entry(floor(t, len, cx.offset, 0)).or_default();
                acc.m3 += step.delta;
                acc.quality[q] += 1;
                acc.dirty = true;
            } else {
                split(from, t, len, cx.offset, 0, max, |ws, ns| {
                    let acc = map.entry(ws).or_default();
                    acc.m3 += step.delta * ns as f64 / span;
                    acc.quality[q] += 1;
                    acc.dirty = true;
                });
            }
        };
        spread(&mut self.intervals, cx.interval, 48);
        spread(&mut self.days, DAY, 3);
    }
}

pub use super::water_balance::{per_capita_range, Closed};
pub use super::water_close::Marks;
