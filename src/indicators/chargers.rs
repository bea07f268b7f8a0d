//! EV chargers (OCPP statuses): availability, utilisation, faulted time and
//! energy per interval. A charger's status is held until its next reading.

use serde::{Deserialize, Serialize};

use super::attrs::Class;
use super::ctx::Ctx;
use super::interval::{Close, Indicator, Record};
use super::noise::round2;
use super::state::InfraState;
use super::window::split;
use crate::model::{FieldValue, Reading};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ChargerAcc {
    pub observed_s: f64,
    pub available_s: f64,
    pub charging_s: f64,
    pub faulted_s: f64,
    pub kwh: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ChargerState {
    status: String,
    credited_to: Option<i64>,
    energy: Option<f64>,
    /// When `energy` was read: its delta to the next reading is spread over
    /// the time between them, as a lamp's is.
    #[serde(default)]
    energy_t: Option<i64>,
}

impl ChargerState {
    fn credit(&mut self, to: i64, cx: &Ctx, infra: &mut InfraState) {
        if let Some(from) = self.credited_to.filter(|f| *f < to) {
            let st = self.status.as_str();
            split(from, to, cx.interval, cx.offset, 0, 48, |ws, d| {
                let acc = infra.chargers.entry(ws).or_default();
                let s = d as f64 / 1e9;
                acc.observed_s += s;
                match st {
                    "Faulted" => acc.faulted_s += s,
                    "Unavailable" => {}
                    "Charging" | "SuspendedEV" | "SuspendedEVSE" | "Finishing" => {
                        acc.charging_s += s;
                        acc.available_s += s;
                    }
                    _ => acc.available_s += s,
                }
            });
        }
        self.credited_to = Some(self.credited_to.map_or(to, |c| c.max(to)));
    }
}

/// Availability, utilisation and energy of the chargers (`gg_charger`).
pub(super) struct Chargers;

impl Indicator for Chargers {
    fn measurement(&self) -> Option<&'static str> {
        Some("charger")
    }

    fn record(&self, r: &Reading, at: &mut Record<'_>) {
        let (cx, infra) = (at.cx, &mut *at.infra);
        let t = r.time_ns;
        let c = at.device.charger.get_or_insert_with(Default::default);
        if c.credited_to.is_some_and(|x| t < x) {
            return;
        }
        c.credit(t, cx, infra);
        if let Some(FieldValue::Str(s)) = r.field("status") {
            if *s != c.status {
                c.status.clone_from(s);
            }
        }
        if let Some(e) = r.field("energy_kwh").and_then(FieldValue::as_f64) {
            if let Some(p) = c.energy {
                if (0.0..10_000.0).contains(&(e - p)) {
                    cx.spread_delta(e - p, c.energy_t, t, at.watermark, |ws, kwh| {
                        infra.chargers.entry(ws).or_default().kwh += kwh;
                    });
                }
            }
            c.energy = Some(e);
            c.energy_t = Some(t);
        }
    }

    fn close(&self, ws: i64, at: &mut Close<'_>) {
        let (cx, infra) = (at.cx, &mut *at.infra);
        let we = ws + cx.interval;
        let mut n = 0u32;
        for (d, a) in at.devices.iter_mut().zip(at.attrs) {
            if a.class != Class::Charger {
                continue;
            }
            n += 1;
            if let Some(c) = d.charger.as_mut() {
                c.credit(we, cx, infra);
            }
        }
        let acc = infra.chargers.remove(&ws).unwrap_or_default();
        infra.chargers.retain(|k, _| *k > ws);
        if n == 0 {
            return;
        }
        let len_s = cx.interval as f64 / 1e9;
        let mut r = cx.reading("gg_charger", ws);
        let fl = |r: &mut Reading, k: &str, v: f64| r.add_field(k, FieldValue::Float(round2(v)));
        r.add_field("chargers", FieldValue::Int(n as i64));
        if acc.observed_s > 0.0 {
            fl(
                &mut r,
                "availability_pct",
                100.0 * acc.available_s / acc.observed_s,
            );
        }
        fl(
            &mut r,
            "utilisation_pct",
            100.0 * acc.charging_s / (n as f64 * len_s),
        );
        fl(&mut r, "faulted_minutes", acc.faulted_s / 60.0);
        r.add_field("energy_kwh", FieldValue::Float(acc.kwh));
        at.emit("", r);
    }
}
