//! The indicator engine: a synchronous state machine the pipeline feeds.
//!
//! Shape (Vector's `aggregate` transform): [`IndicatorEngine::record`] folds a
//! reading into the open windows and never emits; [`IndicatorEngine::advance`]
//! moves the watermark (`now − allowed_lateness`) and emits the indicator
//! readings of every window that closed. Noise and water keep per-device
//! windows; the interval indicators (health, lighting, parking, chargers,
//! security) share one interface (see `super::interval`).
//!
//! Invariants:
//! - windows are event-time, aligned to local wall-clock boundaries
//!   (see [`super::window`]); the watermark only moves forward;
//! - each device has a lateness (its own, its class's: noise 2 min, water
//!   26 h, or `allowed_lateness`) and so a watermark `now − lateness`; a
//!   reading is *late* when the minute containing it ended by the device's
//!   watermark: it is counted (`indicator_late_readings_total`, and per
//!   device and reason in `indicator_dropped_readings_total`), logged once
//!   per device and hour, and dropped. Every window is a union of minutes,
//!   so a reading that is not late lands in windows still kept;
//! - water windows are emitted at the base watermark and again when a late
//!   reading changes them (see [`super::water_close`]);
//! - all state is plain data in [`State`], checkpointed as versioned JSON.

use std::collections::HashMap;

use super::attrs::{Attrs, Class};
use super::config::IndicatorsConfig;
use super::ctx::Ctx;
use super::history::History;
use super::interval::{Close, Record, INDICATORS};
use super::noise;
use super::registry::{self, attrs_at, Earlier};
use super::state::{DeviceState, State};
use super::water;
use super::window::{floor, MINUTE};
use crate::devices::Devices;
use crate::metrics::Counter;
use crate::model::Reading;

pub struct IndicatorEngine {
    pub(crate) cx: Ctx,
    pub(crate) attrs: Vec<Attrs>,
    /// Attributes replaced by a reload, for windows opened before it.
    pub(crate) earlier: Earlier,
    pub(crate) index: HashMap<String, usize>,
    pub(crate) devices: Devices,
    pub(crate) state: State,
    late: Counter,
    future: Counter,
    /// Per device: dropped-reading counters and the hour last logged.
    drops: super::drops::Drops,
}

impl IndicatorEngine {
    pub fn new(
        cfg: &IndicatorsConfig,
        devices: &Devices,
        community_id: &str,
        utc_offset_seconds: i32,
    ) -> Self {
        let mut e = IndicatorEngine {
            cx: Ctx::new(cfg, community_id, utc_offset_seconds),
            attrs: Vec::new(),
            earlier: Earlier::new(),
            index: HashMap::new(),
            devices: devices.clone(),
            state: State::default(),
            late: crate::metrics::counter(
                "indicator_late_readings_total",
                "Readings that arrived after their window closed, dropped from indicators.",
                &[],
            ),
            future: crate::metrics::counter(
                "indicator_future_readings_total",
                "Readings stamped too far ahead of the clock, dropped from indicators.",
                &[],
            ),
            drops: Default::default(),
        };
        for id in devices.keys() {
            e.device(id, None);
        }
        e
    }

    /// The settings in force.
    pub fn ctx(&self) -> &Ctx {
        &self.cx
    }

    /// The current watermark (ns): windows ending at or before it are closed.
    pub fn watermark(&self) -> i64 {
        self.state.watermark
    }

    /// Daily and interval results kept for `assess`.
    pub fn history(&self) -> &History {
        &self.state.history
    }

    /// Late readings dropped since the state began.
    pub fn late_readings(&self) -> u64 {
        self.state.late_readings
    }

    pub(crate) fn rebuild_index(&mut self) {
        self.index.clear();
        self.attrs.clear();
        self.earlier.clear();
        for (i, d) in self.state.devices.iter().enumerate() {
            self.index.insert(d.id.clone(), i);
            let cfg = self.devices.get(&d.id).map(|c| &c.indicators);
            self.attrs
                .push(Attrs::new(&self.cx, cfg, d.class.as_deref()));
        }
    }

    pub(crate) fn ensure_device(&mut self, id: &str) -> usize {
        self.device(id, None)
    }

    /// The index of a device, creating its state on first sight.
    fn device(&mut self, id: &str, measurement: Option<&str>) -> usize {
        if let Some(i) = self.index.get(id) {
            let i = *i;
            if self.attrs[i].class == Class::Unknown {
                if let Some(m) = measurement.filter(|m| *m != "device_status") {
                    self.state.devices[i].class = Some(m.to_string());
                    let cfg = self.devices.get(id).map(|c| &c.indicators);
                    self.attrs[i] = Attrs::new(&self.cx, cfg, Some(m));
                }
            }
            return i;
        }
        let cfg = self.devices.get(id).map(|c| &c.indicators);
        let class = measurement.filter(|m| *m != "device_status");
        let a = Attrs::new(&self.cx, cfg, class);
        let i = self.state.devices.len();
        self.state.devices.push(DeviceState {
            id: id.to_string(),
            class: class.map(str::to_string),
            ..Default::default()
        });
        self.attrs.push(a);
        self.index.insert(id.to_string(), i);
        i
    }

    /// Folds one reading into the open windows. Never emits.
    pub fn record(&mut self, r: &Reading) {
        let Some(id) = r.tag("device") else { return };
        let t = r.time_ns;
        if self.state.now != i64::MIN && t > self.state.now.saturating_add(self.cx.skew) {
            self.future.inc();
            let i = self.device(id, Some(&r.measurement));
            self.drops.drop(i, id, "future", t, self.state.now);
            return;
        }
        let i = self.device(id, Some(&r.measurement));
        let wm = self.device_watermark(i);
        if wm != i64::MIN && floor(t, MINUTE, 0, 0) + MINUTE <= wm {
            self.state.late_readings += 1;
            self.late.inc();
            self.drops.drop(i, id, "late", t, self.state.now);
            return;
        }
        let ws = floor(t, self.cx.interval, self.cx.offset, 0);
        if self.state.next_interval.map_or(true, |n| ws < n) {
            self.state.next_interval = Some(ws);
        }
        let (cx, a) = (&self.cx, &self.attrs[i]);
        let s = &mut self.state;
        let d = &mut s.devices[i];
        match r.measurement.as_str() {
            "noise" => d
                .noise
                .get_or_insert_with(Default::default)
                .record_reading(r, cx.offset),
            "water_meter" => d
                .water
                .get_or_insert_with(Default::default)
                .record(r, cx, &a.water, wm),
            _ => {}
        }
        let mut at = Record {
            cx,
            attrs: a,
            device: d,
            infra: &mut s.infra,
            security: &mut s.security,
            watermark: s.watermark,
        };
        for ind in INDICATORS.iter() {
            if ind.measurement().map_or(true, |m| m == r.measurement) {
                ind.record(r, &mut at);
            }
        }
    }

    /// A device's watermark: `now − its lateness` once the engine has
    /// advanced (the base watermark for a device at `allowed_lateness`).
    fn device_watermark(&self, i: usize) -> i64 {
        if self.state.watermark == i64::MIN {
            return i64::MIN;
        }
        let lateness = self.attrs.get(i).map_or(self.cx.lateness, |a| a.lateness);
        lateness_mark(
            self.state.watermark,
            self.state.now,
            self.cx.lateness,
            lateness,
        )
    }

    /// Moves the watermark to `now_ns − allowed_lateness` and returns the
    /// indicator readings of every window that closed.
    pub fn advance(&mut self, now_ns: i64) -> Vec<Reading> {
        let mut out = Vec::new();
        self.state.now = self.state.now.max(now_ns);
        let wm = now_ns.saturating_sub(self.cx.lateness);
        if wm <= self.state.watermark {
            return out;
        }
        self.state.watermark = wm;
        let mut noise_days = Vec::new();
        let mut water_closed = water::Closed::default();
        let now = self.state.now;
        let (attrs, earlier) = (&self.attrs, &self.earlier);
        let dev_wm = |i: usize| lateness_mark(wm, now, self.cx.lateness, attrs[i].lateness);
        for (i, d) in self.state.devices.iter_mut().enumerate() {
            if let Some(n) = d.noise.as_mut() {
                let at = |ws| &attrs_at(attrs, earlier, i, ws).noise;
                n.close(dev_wm(i), &self.cx, &d.id, &at, &mut out, &mut noise_days);
            }
            if let Some(w) = d.water.as_mut() {
                let at = |ws| &attrs_at(attrs, earlier, i, ws).water;
                let marks = water::Marks {
                    emit: wm,
                    expire: dev_wm(i),
                };
                w.close(marks, &self.cx, &d.id, &at, &mut out, &mut water_closed);
            }
        }
        // Balances from every meter's kept windows, then the expired dropped.
        let meters: Vec<_> = (self.state.devices.iter().enumerate())
            .filter_map(|(i, d)| d.water.as_ref().map(|w| (i, w)))
            .collect();
        water_closed.sum_touched(&meters, &|i, ws| &attrs_at(attrs, earlier, i, ws).water);
        for (i, d) in self.state.devices.iter_mut().enumerate() {
            if let Some(w) = d.water.as_mut() {
                let marks = water::Marks {
                    emit: wm,
                    expire: dev_wm(i),
                };
                w.expire(marks, &self.cx);
            }
        }
        // Attributes replaced by a reload are kept while a window may use them.
        let oldest_kept = (0..self.attrs.len()).map(dev_wm).fold(wm, i64::min);
        noise::compliance(&self.cx, &noise_days, &mut out);
        water_closed.emit(&self.cx, &mut out, &mut self.state.history);
        self.state.history.noise.extend(noise_days);
        if self.state.next_interval.is_none() {
            self.state.next_interval = Some(floor(wm, self.cx.interval, self.cx.offset, 0));
        }
        let s = &mut self.state;
        let mut at = Close {
            cx: &self.cx,
            attrs: &self.attrs,
            devices: &mut s.devices,
            infra: &mut s.infra,
            security: &mut s.security,
            out: &mut out,
            history: &mut s.history,
        };
        for ind in INDICATORS.iter() {
            ind.advance(wm, &mut at);
        }
        // After a long outage, catch up at most the retained history.
        let oldest = floor(
            wm.saturating_sub(self.cx.cfg.history_days as i64 * super::window::DAY),
            self.cx.interval,
            self.cx.offset,
            0,
        );
        if let Some(n) = self.state.next_interval.filter(|n| *n < oldest) {
            tracing::warn!(
                from = n,
                to = oldest,
                "Indicator intervals skipped after a long gap."
            );
            self.state.next_interval = Some(oldest);
        }
        while let Some(ws) = self.state.next_interval {
            let we = ws + self.cx.interval;
            if we > wm {
                break;
            }
            self.close_interval(ws, &mut out);
            self.state.next_interval = Some(we);
        }
        self.state.history.prune(wm, &self.cx);
        registry::prune(&mut self.earlier, oldest_kept);
        out
    }

    /// Closes the infrastructure interval starting at `ws`, every
    /// indicator with the attributes in force when it opened.
    fn close_interval(&mut self, ws: i64, out: &mut Vec<Reading>) {
        let attrs = registry::all_at(&self.attrs, &self.earlier, ws);
        let s = &mut self.state;
        let mut at = Close {
            cx: &self.cx,
            attrs: attrs.as_ref(),
            devices: &mut s.devices,
            infra: &mut s.infra,
            security: &mut s.security,
            out,
            history: &mut s.history,
        };
        for ind in INDICATORS.iter() {
            ind.close(ws, &mut at);
        }
    }
}

/// The watermark of a device with `lateness`: the engine's own `wm` at the
/// base lateness (so both move together), else `now − lateness`.
fn lateness_mark(wm: i64, now: i64, base: i64, lateness: i64) -> i64 {
    if lateness == base {
        wm
    } else {
        now.saturating_sub(lateness)
    }
}
