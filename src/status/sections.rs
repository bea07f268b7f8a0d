//! The indicator part of a snapshot: the latest noise hour of each sensor
//! against its limit, 亮灯率, water loss, fire-lane events, open alarms,
//! and the assessment of the last 30 days.

use serde_json::{json, Value};

use super::snapshot::{fields_json, local_time, Board};
use crate::indicators::window::{in_range, minute_of_day};
use crate::model::{FieldValue, Reading};

/// The assessment period shown: the last 30 days, like `/assess`.
const ASSESS_DAYS: i64 = 30;

fn num(r: &Reading, k: &str) -> Option<f64> {
    r.field(k).and_then(FieldValue::as_f64)
}

fn text(r: &Reading, k: &str) -> Option<String> {
    match r.field(k) {
        Some(FieldValue::Str(s)) => Some(s.clone()),
        _ => None,
    }
}

impl Board {
    pub(super) fn indicators(&self, _now_ns: i64) -> Value {
        let Some(engine) = &self.engine else {
            return json!({ "enabled": false });
        };
        let off = self.info.offset_seconds;
        // Copy what is needed under the lock; format after it.
        let (limits, day, alarms) = {
            let e = engine.lock().unwrap_or_else(|p| p.into_inner());
            let hours = self.latest.indicator("gg_noise_hour");
            let limits: Vec<Option<(f64, f64)>> = (hours.iter())
                .map(|r| r.tag("device").and_then(|d| e.noise_limits(d)))
                .collect();
            let cx = e.ctx();
            let day: Vec<bool> = (hours.iter())
                .map(|r| {
                    in_range(
                        minute_of_day(r.time_ns, cx.offset),
                        cx.day_start,
                        cx.night_start,
                    )
                })
                .collect();
            ((hours, limits), day, e.open_alarms())
        };
        let (hours, limits) = limits;
        let noise: Vec<Value> = (hours.iter().zip(limits).zip(day))
            .map(|((r, lim), is_day)| {
                let limit = lim.map(|(d, n)| if is_day { d } else { n });
                let leq = num(r, "leq");
                json!({
                    "device": r.tag("device"),
                    "zone_class": r.tag("zone_class"),
                    "hour": local_time(r.time_ns, off),
                    "period": if is_day { "day" } else { "night" },
                    "leq": leq,
                    "limit": limit,
                    "exceedance_db": leq.zip(limit).map(|(l, m)| ((l - m) * 10.0).round() / 10.0),
                    "valid": matches!(r.field("valid"), Some(FieldValue::Bool(true))),
                })
            })
            .collect();
        let lighting = (self.latest.indicator("gg_lighting").into_iter())
            .max_by_key(|r| r.time_ns)
            .map(|r| {
                json!({
                    "interval": local_time(r.time_ns, off),
                    "lit_rate_pct": num(&r, "lit_rate_pct"),
                    "online_rate_pct": num(&r, "online_rate_pct"),
                    "fault_rate_pct": num(&r, "fault_rate_pct"),
                    "lamps": num(&r, "lamps"),
                })
            });
        let water: Vec<Value> = (self.latest.indicator("gg_water_balance").iter())
            .map(|r| {
                json!({
                    "district": r.tag("district"),
                    "period": r.tag("period"),
                    "window": local_time(r.time_ns, off),
                    "loss_pct": num(r, "loss_pct"),
                    "loss_m3": num(r, "loss_m3"),
                    "status": text(r, "status"),
                })
            })
            .collect();
        let lots: Vec<Value> = (self.latest.indicator("gg_parking").iter())
            .map(|r| {
                json!({
                    "lot": r.tag("lot"),
                    "interval": local_time(r.time_ns, off),
                    "fire_lane_events": num(r, "fire_lane_events"),
                    "fire_lane_occupied_minutes": num(r, "fire_lane_occupied_minutes"),
                })
            })
            .collect();
        let events: Vec<Value> = (self.latest.fire_events().iter())
            .map(|r| {
                json!({
                    "device": r.tag("device"),
                    "lot": r.tag("lot"),
                    "start": local_time(r.time_ns, off),
                    "duration_s": num(r, "duration_s"),
                    "time_to_clear_s": num(r, "time_to_clear_s"),
                })
            })
            .collect();
        let open: Vec<Value> = (alarms.iter())
            .map(|a| {
                json!({
                    "key": a.key,
                    "alarm_type": a.alarm_type,
                    "raised": local_time(a.raised_ns, off),
                    "acknowledged": a.acked_ns.map(|t| local_time(t, off)),
                })
            })
            .collect();
        let security = (self.latest.indicator("gg_security").into_iter())
            .max_by_key(|r| r.time_ns)
            .map(|r| {
                let mut v = fields_json(&r, 32);
                v["interval"] = local_time(r.time_ns, off);
                v
            });
        json!({
            "enabled": true,
            "noise": noise,
            "lighting": lighting,
            "water": water,
            "parking": lots,
            "fire_lane_events": events,
            "alarms": {
                "open": open.len(),
                "unacknowledged": alarms.iter().filter(|a| a.acked_ns.is_none()).count(),
                "list": open,
                "last_interval": security,
            },
        })
    }

    pub(super) fn assessment(&self, now_ns: i64) -> Value {
        let Some(engine) = &self.engine else {
            return Value::Null;
        };
        let from = now_ns.saturating_sub(ASSESS_DAYS * 86_400 * 1_000_000_000);
        let a = {
            let e = engine.lock().unwrap_or_else(|p| p.into_inner());
            e.assess(from, now_ns)
        };
        let criteria: Vec<Value> = (a.criteria.iter())
            .map(|c| json!({ "number": c.number, "title": c.title, "verdict": c.verdict }))
            .collect();
        json!({ "from": a.from, "to": a.to, "criteria": criteria })
    }
}
