//! Device health: per class and infrastructure category, the share of known
//! devices that reported (and did not report themselves offline) in each
//! interval. The evidence for criterion 4, "infrastructure fairly complete".

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::attrs::Class;
use super::interval::{Close, Indicator, Record};
use super::noise::round2;
use super::window::floor;
use crate::model::{FieldValue, Reading};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HealthState {
    /// Interval start → online in that interval.
    seen: BTreeMap<i64, bool>,
    pub last_seen: Option<i64>,
}

impl HealthState {
    pub fn seen(&mut self, ws: i64, t: i64, online: bool) {
        let e = self.seen.entry(ws).or_insert(online);
        // An explicit offline status in the interval wins over data.
        *e = *e && online;
        if online {
            self.last_seen = Some(self.last_seen.map_or(t, |l| l.max(t)));
        }
    }

    /// Whether the device was online in interval `ws`; forgets older intervals.
    fn take(&mut self, ws: i64) -> bool {
        let on = self.seen.get(&ws).copied().unwrap_or(false);
        self.seen.retain(|k, _| *k > ws);
        on
    }
}

/// The share of each class's devices online per interval (`gg_device_health`).
pub(super) struct Health;

impl Indicator for Health {
    fn measurement(&self) -> Option<&'static str> {
        None
    }

    /// Any reading shows its device reporting; `online = false` shows it offline.
    fn record(&self, r: &Reading, at: &mut Record<'_>) {
        let ws = floor(r.time_ns, at.cx.interval, at.cx.offset, 0);
        let online = !matches!(r.field("online"), Some(FieldValue::Bool(false)));
        at.device.health.seen(ws, r.time_ns, online);
    }

    fn close(&self, ws: i64, at: &mut Close<'_>) {
        let mut by: BTreeMap<(&str, &str), (u32, u32)> = BTreeMap::new();
        for (d, a) in at.devices.iter_mut().zip(at.attrs) {
            let on = d.health.take(ws);
            if a.class == Class::Unknown {
                continue;
            }
            let c = by.entry((&a.category, &a.class_name)).or_default();
            c.0 += 1;
            c.1 += on as u32;
        }
        for ((cat, class), (n, on)) in by {
            let mut r = at.cx.reading("gg_device_health", ws);
            r.set_tag("class", class);
            r.set_tag("category", cat);
            r.add_field("devices", FieldValue::Int(n as i64));
            r.add_field("online", FieldValue::Int(on as i64));
            r.add_field(
                "online_rate_pct",
                FieldValue::Float(round2(100.0 * on as f64 / n.max(1) as f64)),
            );
            at.emit(&format!("{cat}:{class}"), r);
        }
    }
}
