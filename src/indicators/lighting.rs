//! Lighting: 亮灯率 (lamps lit / lamps that should be lit during the
//! scheduled on-period, offline and faulty lamps counting as not lit), fault
//! rate, controller online rate, kWh, burn hours, energy-saving rate against
//! a rated-power baseline, and day-burning minutes.
//!
//! A lamp's last reported state is held (sample-and-hold) for at most
//! `lighting.hold` after its reading; time is credited to the windows it spans.
//! A lamp with an `energy_kwh` register has each delta spread over the
//! windows between its two readings in proportion to time.

use serde::{Deserialize, Serialize};

use super::attrs::Class;
use super::ctx::Ctx;
use super::interval::{Close, Indicator, Record};
use super::noise::round2;
use super::state::InfraState;
use super::window::{floor, in_range, minute_of_day, overlap_minutes, split};
use crate::model::{FieldValue, Reading};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LightAcc {
    pub lit_s: f64,
    pub burn_s: f64,
    pub day_burn_s: f64,
    pub kwh: f64,
    pub faulty: u32,
    pub online: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LampState {
    on: bool,
    fault: bool,
    power_w: f64,
    last_t: i64,
    credited_to: Option<i64>,
    energy: Option<f64>,
    /// When `energy` was read: its delta to the next reading is spread over
    /// the time between them.
    #[serde(default)]
    energy_t: Option<i64>,
    metered: bool,
    online_ws: Option<i64>,
    fault_ws: Option<i64>,
}

impl LampState {
    /// Credits the held state from `credited_to` up to `to`.
    fn credit(&mut self, to: i64, cx: &Ctx, infra: &mut InfraState) {
        let Some(from) = self.credited_to else { return };
        let hold = cx.cfg.lighting.hold.as_nanos().min(i64::MAX as u128) as i64;
        let end = to.min(self.last_t.saturating_add(hold));
        if end > from {
            split(from, end, cx.interval, cx.offset, 0, 48, |ws, ns| {
                let acc = infra.light.entry(ws).or_default();
                let s = ns as f64 / 1e9;
                let sched = in_range(
                    minute_of_day(from.max(ws), cx.offset),
                    cx.light_on.0,
                    cx.light_on.1,
                );
                if self.on {
                    acc.burn_s += s;
                    if sched && !self.fault {
                        acc.lit_s += s;
                    }
                    if !sched {
                        acc.day_burn_s += s;
                    }
                    if !self.metered {
                        acc.kwh += self.power_w * s / 3.6e6;
                    }
                }
            });
        }
        self.credited_to = Some(self.credited_to.map_or(to, |c| c.max(to)));
    }
}

/// 亮灯率, faults, energy and burn hours per interval (`gg_lighting`).
pub(super) struct Lighting;

impl Indicator for Lighting {
    fn measurement(&self) -> Option<&'static str> {
        Some("lighting")
    }

    fn record(&self, r: &Reading, at: &mut Record<'_>) {
        let (cx, a, infra) = (at.cx, at.attrs, &mut *at.infra);
        let t = r.time_ns;
        let lamp = at.device.lamp.get_or_insert_with(Default::default);
        if lamp.credited_to.is_some_and(|c| t < c) {
            return;
        }
        lamp.credit(t, cx, infra);
        lamp.credited_to = Some(t);
        lamp.last_t = t;
        let f = |k: &str| {
            r.field(k)
                .and_then(FieldValue::as_f64)
                .filter(|v| v.is_finite())
        };
        if let Some(p) = f("power_w") {
            lamp.power_w = p.max(0.0);
        }
        lamp.on = match r.field("on") {
            Some(FieldValue::Bool(b)) => *b,
            _ => f("power_w").map_or(lamp.on, |p| p > 0.0),
        };
        let status_fault = matches!(r.field("status"), Some(FieldValue::Str(s)) if s != "ok");
        let dark = matches!(a.rated_power_w, Some(rated) if lamp.on && lamp.power_w < cx.cfg.lighting.fault_power_fraction * rated);
        lamp.fault = status_fault || dark;
        if let Some(e) = f("energy_kwh") {
            if let Some(prev) = lamp.energy {
                let de = e - prev;
                if (0.0..1000.0).contains(&de) {
                    cx.spread_delta(de, lamp.energy_t, t, at.watermark, |ws, kwh| {
                        infra.light.entry(ws).or_default().kwh += kwh;
                    });
                }
            }
            lamp.energy = Some(e);
            lamp.energy_t = Some(t);
            lamp.metered = true;
        }
        let ws = floor(t, cx.interval, cx.offset, 0);
        let acc = infra.light.entry(ws).or_default();
        if lamp.online_ws != Some(ws) {
            lamp.online_ws = Some(ws);
            acc.online += 1;
        }
        if lamp.fault && lamp.fault_ws != Some(ws) {
            lamp.fault_ws = Some(ws);
            acc.faulty += 1;
        }
    }

    fn close(&self, ws: i64, at: &mut Close<'_>) {
        let (cx, infra) = (at.cx, &mut *at.infra);
        let we = ws + cx.interval;
        let mut lamps = 0u32;
        let mut rated = 0.0;
        for (d, a) in at.devices.iter_mut().zip(at.attrs) {
            if a.class != Class::Lighting {
                continue;
            }
            lamps += 1;
            rated += a.rated_power_w.unwrap_or(0.0);
            if let Some(l) = d.lamp.as_mut() {
                l.credit(we, cx, infra);
            }
        }
        let acc = infra.light.remove(&ws).unwrap_or_default();
        infra.light.retain(|k, _| *k > ws);
        if lamps == 0 {
            return;
        }
        let sched_h =
            overlap_minutes(ws, cx.interval, cx.offset, cx.light_on.0, cx.light_on.1) as f64 / 60.0;
        let mut r = cx.reading("gg_lighting", ws);
        let n = lamps as f64;
        let fl = |r: &mut Reading, k: &str, v: f64| r.add_field(k, FieldValue::Float(round2(v)));
        r.add_field("lamps", FieldValue::Int(lamps as i64));
        r.add_field("lamps_online", FieldValue::Int(acc.online as i64));
        r.add_field("lamps_faulty", FieldValue::Int(acc.faulty as i64));
        fl(&mut r, "online_rate_pct", 100.0 * acc.online as f64 / n);
        fl(&mut r, "fault_rate_pct", 100.0 * acc.faulty as f64 / n);
        fl(&mut r, "scheduled_lamp_hours", n * sched_h);
        fl(&mut r, "lit_lamp_hours", acc.lit_s / 3600.0);
        if sched_h > 0.0 {
            fl(
                &mut r,
                "lit_rate_pct",
                (100.0 * acc.lit_s / 3600.0 / (n * sched_h)).min(100.0),
            );
        }
        fl(&mut r, "burn_hours", acc.burn_s / 3600.0);
        fl(&mut r, "day_burn_minutes", acc.day_burn_s / 60.0);
        r.add_field("energy_kwh", FieldValue::Float(acc.kwh));
        let reference = rated * sched_h / 1000.0;
        if reference > 0.0 {
            fl(&mut r, "reference_kwh", reference);
            fl(
                &mut r,
                "saving_rate_pct",
                100.0 * (reference - acc.kwh) / reference,
            );
        }
        at.emit("", r);
    }
}
