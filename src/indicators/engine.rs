//! The indicator engine: a synchronous state machine the pipeline feeds.
//!
//! Shape (Vector's `aggregate` transform): [`IndicatorEngine::record`] folds a
//! reading into the open windows and never emits; [`IndicatorEngine::advance`]
//! moves the watermark (`now − allowed_lateness`) and emits the indicator
//! readings of every window that closed.
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

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::attrs::{Attrs, Class};
use super::config::IndicatorsConfig;
use super::history::History;
use super::noise::{self, NoiseState};
use super::registry::{self, attrs_at, Earlier};
use super::window::{floor, MINUTE};
use super::{health, infra, security, water};
use crate::devices::Devices;
use crate::metrics::Counter;
use crate::model::{FieldValue, Reading};

pub use super::ctx::Ctx;

/// Per-device state (checkpointed).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DeviceState {
    pub id: String,
    /// The class learned from the first reading when not configured.
    pub class: Option<String>,
    pub health: health::HealthState,
    pub noise: Option<NoiseState>,
    pub water: Option<water::WaterState>,
    pub lamp: Option<infra::LampState>,
    pub bay: Option<infra::BayState>,
    pub charger: Option<infra::ChargerState>,
}

pub const STATE_VERSION: u32 = 1;

/// Everything the engine knows (checkpointed).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct State {
    pub version: u32,
    pub watermark: i64,
    pub now: i64,
    /// The earliest infrastructure interval not yet closed.
    pub next_interval: Option<i64>,
    pub devices: Vec<DeviceState>,
    pub infra: infra::InfraState,
    pub security: security::SecurityState,
    pub history: History,
    pub late_readings: u64,
}

impl Default for State {
    fn default() -> Self {
        State {
            version: STATE_VERSION,
            watermark: i64::MIN,
            now: i64::MIN,
            next_interval: None,
            devices: Vec::new(),
            infra: Default::default(),
            security: Default::default(),
            history: Default::default(),
            late_readings: 0,
        }
    }
}

/// Why a checkpoint cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum IndicatorError {
    /// The bytes are not a checkpoint: start with empty state.
    #[error("checkpoint is not valid: {0}")]
    Corrupt(String),
    /// Written by another version: start with empty state.
    #[error("checkpoint version {found} is not supported (expected {expected})")]
    Version { found: u32, expected: u32 },
    /// The file could not be read or written: check the path and disk.
    #[error("checkpoint file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

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
        let cx = &self.cx;
        let a = &self.attrs[i];
        let d = &mut self.state.devices[i];
        let online = !matches!(r.field("online"), Some(FieldValue::Bool(false)));
        d.health.seen(ws, t, online);
        match r.measurement.as_str() {
            "noise" => {
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
                d.noise
                    .get_or_insert_with(Default::default)
                    .record(t, cx.offset, laeq, lamax, lamin);
            }
            "water_meter" => {
                d.water
                    .get_or_insert_with(Default::default)
                    .record(r, cx, &a.water, wm);
            }
            "lighting" => infra::record_lamp(d, a, r, cx, &mut self.state.infra),
            "parking" => {
                infra::record_bay(d, a, r, cx, &mut self.state.infra, self.state.watermark)
            }
            "charger" => infra::record_charger(d, r, cx, &mut self.state.infra),
            "security" => self.state.security.record(r, cx),
            _ => {}
        }
    }

    /// A device's watermark: `now − its lateness` once the engine has
    /// advanced (the base watermark for a device at `allowed_lateness`).
    fn device_watermark(&self, i: usize) -> i64 {
        if self.state.watermark == i64::MIN {
            return i64::MIN;
        }
        let lateness = self.attrs.get(i).map_or(self.cx.lateness, |a| a.lateness);
        if lateness == self.cx.lateness {
            return self.state.watermark;
        }
        self.state.now.saturating_sub(lateness)
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
        let dev_wm = |i: usize| match attrs[i].lateness {
            l if l == self.cx.lateness => wm,
            l => now.saturating_sub(l),
        };
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
        infra::fire_lanes(
            wm,
            &self.cx,
            &mut self.state.devices,
            &self.attrs,
            &mut self.state.infra,
            &mut out,
            &mut self.state.history,
        );
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

    fn close_interval(&mut self, ws: i64, out: &mut Vec<Reading>) {
        let s = &mut self.state;
        let hist = &mut s.history;
        let attrs = registry::all_at(&self.attrs, &self.earlier, ws);
        let attrs = attrs.as_ref();
        health::close(ws, &self.cx, &mut s.devices, attrs, out, hist);
        infra::close_lighting(ws, &self.cx, &mut s.devices, attrs, &mut s.infra, out, hist);
        infra::close_parking(ws, &self.cx, &mut s.devices, attrs, &mut s.infra, out, hist);
        infra::close_chargers(ws, &self.cx, &mut s.devices, attrs, &mut s.infra, out, hist);
        s.security.close(ws, &self.cx, &s.devices, attrs, out, hist);
    }
}
