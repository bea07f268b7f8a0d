//! Parking and fire lanes.
//!
//! Bays report a 0/1 state on change, so a bay's state is held until the
//! next reading; occupancy is the held state at the interval's end. Fire-lane occupation is debounced: an event opens once the
//! lane has been occupied for `fire_lane_dwell` (its start is the moment the
//! lane became occupied) and closes once it has been clear for
//! `fire_lane_clear` (its end is the moment it became clear). "Time to clear"
//! runs from the event being raised (start + dwell) to its end.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::attrs::{Attrs, Class};
use super::ctx::Ctx;
use super::interval::{Close, Indicator, Record};
use super::noise::round2;
use super::state::InfraState;
use super::window::{floor, split};
use crate::model::{FieldValue, Reading};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LotAcc {
    pub occupied_s: f64,
    pub arrivals: u32,
    pub departures: u32,
    pub dwell_s: f64,
    pub fire_events: u32,
    pub fire_occupied_s: f64,
    /// Bays (not fire lanes) whose held state at the interval's end was
    /// occupied and that have reported since (counted when they crossed it).
    #[serde(default)]
    pub end_occupied: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BayState {
    occupied: bool,
    /// When a (non-fire-lane) bay became occupied, for the dwell time.
    #[serde(default)]
    since: Option<i64>,
    credited_to: Option<i64>,
    occ_since: Option<i64>,
    clear_since: Option<i64>,
    open: Option<i64>,
}

/// A closed fire-lane event waiting to be emitted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FireEvent {
    pub device: String,
    pub lot: String,
    pub start: i64,
    pub end: i64,
    pub raised: i64,
}

/// A lot's accumulators, allocating its key only the first time.
fn lot_mut<'a>(infra: &'a mut InfraState, lot: &str) -> &'a mut BTreeMap<i64, LotAcc> {
    if !infra.lots.contains_key(lot) {
        infra.lots.insert(lot.to_string(), BTreeMap::new());
    }
    infra.lots.get_mut(lot).expect("lot inserted above")
}

fn ns(d: std::time::Duration) -> i64 {
    d.as_nanos().min(i64::MAX as u128) as i64
}

impl BayState {
    fn credit(&mut self, to: i64, cx: &Ctx, a: &Attrs, infra: &mut InfraState) {
        if let Some(from) = self.credited_to.filter(|f| *f < to) {
            if self.occupied {
                let lot = lot_mut(infra, &a.lot);
                split(from, to, cx.interval, cx.offset, 0, 48, |ws, d| {
                    let acc = lot.entry(ws).or_default();
                    if a.fire_lane {
                        acc.fire_occupied_s += d as f64 / 1e9;
                    } else {
                        acc.occupied_s += d as f64 / 1e9;
                    }
                });
            }
        }
        self.credited_to = Some(self.credited_to.map_or(to, |c| c.max(to)));
    }

    /// Counts the held state at every interval end in `(credited_to, t]`
    /// before a reading at `t` changes it: occupancy at an interval's end is
    /// the state at the boundary, whatever readings after it (a few minutes
    /// past the hour, or a replay's whole evening) are recorded before the
    /// interval closes.
    fn mark_ends(&self, t: i64, cx: &Ctx, a: &Attrs, infra: &mut InfraState) {
        let (Some(c), true) = (self.credited_to, self.occupied) else {
            return;
        };
        let len = cx.interval;
        let last = floor(t, len, cx.offset, 0);
        let mut b = (floor(c, len, cx.offset, 0) + len).max(last - 47 * len);
        let lot = lot_mut(infra, &a.lot);
        while b <= last {
            lot.entry(b - len).or_default().end_occupied += 1;
            b += len;
        }
    }

    /// Applies the dwell and clear timers at time `t`.
    fn evaluate(&mut self, t: i64, wm: i64, id: &str, cx: &Ctx, a: &Attrs, infra: &mut InfraState) {
        let pc = &cx.cfg.parking;
        if let (None, Some(s)) = (self.open, self.occ_since) {
            let raised = s + ns(pc.fire_lane_dwell);
            if raised <= t {
                self.open = Some(s);
                let ws = floor(raised.max(wm), cx.interval, cx.offset, 0);
                let lot = lot_mut(infra, &a.lot);
                lot.entry(ws).or_default().fire_events += 1;
            }
        }
        if let (Some(start), Some(c)) = (self.open, self.clear_since) {
            if c + ns(pc.fire_lane_clear) <= t {
                infra.pending.push(FireEvent {
                    device: id.to_string(),
                    lot: a.lot.clone(),
                    start,
                    end: c,
                    raised: start + ns(pc.fire_lane_dwell),
                });
                self.open = None;
                self.clear_since = None;
            }
        }
    }
}

/// Occupancy, turnover and fire-lane events per lot (`gg_parking`,
/// `gg_fire_lane_event`).
pub(super) struct Parking;

impl Indicator for Parking {
    fn measurement(&self) -> Option<&'static str> {
        Some("parking")
    }

    fn record(&self, r: &Reading, at: &mut Record<'_>) {
        let (cx, a, infra, wm) = (at.cx, at.attrs, &mut *at.infra, at.watermark);
        let Some(occ) = r.field("occupied").and_then(FieldValue::as_f64) else {
            return;
        };
        let occ = occ > 0.5;
        let t = r.time_ns;
        let bay = at.device.bay.get_or_insert_with(Default::default);
        if bay.credited_to.is_some_and(|c| t < c) {
            return;
        }
        if !a.fire_lane {
            bay.mark_ends(t, cx, a, infra);
        }
        bay.credit(t, cx, a, infra);
        if a.fire_lane {
            bay.evaluate(t, wm, &at.device.id, cx, a, infra);
            if occ {
                bay.occ_since.get_or_insert(t);
                bay.clear_since = None;
            } else {
                bay.occ_since = None;
                if bay.open.is_some() {
                    bay.clear_since.get_or_insert(t);
                }
            }
        } else if occ != bay.occupied {
            let ws = floor(t, cx.interval, cx.offset, 0);
            let acc = lot_mut(infra, &a.lot).entry(ws).or_default();
            if occ {
                acc.arrivals += 1;
                bay.since = Some(t);
            } else if let Some(s) = bay.since.take() {
                acc.departures += 1;
                acc.dwell_s += (t - s) as f64 / 1e9;
            }
        }
        bay.occupied = occ;
    }

    /// Runs the fire-lane timers up to the watermark and emits closed events.
    fn advance(&self, wm: i64, at: &mut Close<'_>) {
        let (cx, infra) = (at.cx, &mut *at.infra);
        for (d, a) in at.devices.iter_mut().zip(at.attrs) {
            if let (true, Some(b)) = (a.fire_lane, d.bay.as_mut()) {
                b.evaluate(wm, wm, &d.id, cx, a, infra);
            }
        }
        for e in std::mem::take(&mut at.infra.pending) {
            let mut r = cx.reading("gg_fire_lane_event", e.start);
            r.set_tag("device", e.device.as_str());
            r.set_tag("lot", e.lot.as_str());
            r.add_field(
                "duration_s",
                FieldValue::Float((e.end - e.start) as f64 / 1e9),
            );
            r.add_field(
                "time_to_clear_s",
                FieldValue::Float(((e.end - e.raised) as f64 / 1e9).max(0.0)),
            );
            r.add_field("end_ns", FieldValue::Int(e.end));
            at.emit(&e.lot, r);
        }
    }

    fn close(&self, ws: i64, at: &mut Close<'_>) {
        let cx = at.cx;
        let we = ws + cx.interval;
        let mut lots: BTreeMap<String, (u32, u32, u32)> = BTreeMap::new();
        for (d, a) in at.devices.iter_mut().zip(at.attrs) {
            if a.class != Class::Parking {
                continue;
            }
            let e = lots.entry(a.lot.clone()).or_default();
            if a.fire_lane {
                e.2 += 1;
            } else {
                e.0 += 1;
            }
            if let Some(b) = d.bay.as_mut() {
                // Not past the end yet: its state now is its state there.
                let at_end = b.credited_to.map_or(true, |c| c < we);
                b.credit(we, cx, a, at.infra);
                e.1 += (at_end && b.occupied && !a.fire_lane) as u32;
            }
        }
        let len_s = cx.interval as f64 / 1e9;
        for (lot, (spaces, occupied, lanes)) in lots {
            let acc = (at.infra.lots)
                .get_mut(&lot)
                .and_then(|m| {
                    let a = m.remove(&ws);
                    m.retain(|k, _| *k > ws);
                    a
                })
                .unwrap_or_default();
            let occupied = occupied + acc.end_occupied;
            let mut r = cx.reading("gg_parking", ws);
            r.set_tag("lot", lot.as_str());
            let fl =
                |r: &mut Reading, k: &str, v: f64| r.add_field(k, FieldValue::Float(round2(v)));
            r.add_field("spaces", FieldValue::Int(spaces as i64));
            r.add_field("fire_lanes", FieldValue::Int(lanes as i64));
            if spaces > 0 {
                let n = spaces as f64;
                r.add_field("occupied", FieldValue::Int(occupied as i64));
                fl(&mut r, "occupancy_pct", 100.0 * occupied as f64 / n);
                r.add_field("arrivals", FieldValue::Int(acc.arrivals as i64));
                fl(&mut r, "turnover", acc.arrivals as f64 / n);
                fl(
                    &mut r,
                    "time_utilisation_pct",
                    100.0 * acc.occupied_s / (n * len_s),
                );
                r.add_field("departures", FieldValue::Int(acc.departures as i64));
                if acc.departures > 0 {
                    let mean = acc.dwell_s / 60.0 / acc.departures as f64;
                    fl(&mut r, "mean_dwell_minutes", mean);
                }
            }
            r.add_field("fire_lane_events", FieldValue::Int(acc.fire_events as i64));
            fl(
                &mut r,
                "fire_lane_occupied_minutes",
                acc.fire_occupied_s / 60.0,
            );
            at.emit(&lot, r);
        }
    }
}
