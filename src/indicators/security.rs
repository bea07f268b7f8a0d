//! Security: device online rate from heartbeats, alarms by type,
//! unacknowledged alarms, response time (alarm → ack) and handling time
//! (alarm → clear), and the share within the configured targets.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::attrs::Class;
use super::ctx::Ctx;
use super::interval::{Close, Indicator, Record};
use super::noise::round2;
use super::window::floor;
use crate::model::{FieldValue, Reading};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Alarm {
    t: i64,
    alarm_type: String,
    acked: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct SecAcc {
    alarms: BTreeMap<String, u32>,
    acked: u32,
    response_sum_s: f64,
    response_max_s: f64,
    response_within: u32,
    cleared: u32,
    false_alarms: u32,
    handling_sum_s: f64,
    handling_within: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SecurityState {
    open: BTreeMap<String, Alarm>,
    acc: BTreeMap<i64, SecAcc>,
}

fn text<'a>(r: &'a Reading, k: &str) -> Option<&'a str> {
    match r.field(k) {
        Some(FieldValue::Str(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

/// An alarm raised and not yet cleared (read-only view for the status page).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OpenAlarm {
    /// `device/alarm_id`, or `device/alarm_type` without an id.
    pub key: String,
    pub alarm_type: String,
    pub raised_ns: i64,
    pub acked_ns: Option<i64>,
}

impl SecurityState {
    /// The alarms raised and not yet cleared, oldest first.
    pub fn open_alarms(&self) -> Vec<OpenAlarm> {
        let mut v: Vec<OpenAlarm> = (self.open.iter())
            .map(|(k, a)| OpenAlarm {
                key: k.clone(),
                alarm_type: a.alarm_type.clone(),
                raised_ns: a.t,
                acked_ns: a.acked,
            })
            .collect();
        v.sort_by_key(|a| a.raised_ns);
        v
    }

    fn record(&mut self, r: &Reading, cx: &Ctx) {
        let Some(event) = text(r, "event") else {
            return;
        };
        if event == "heartbeat" {
            return;
        }
        let t = r.time_ns;
        let device = r.tag("device").unwrap_or("");
        let alarm_type = text(r, "alarm_type").unwrap_or("unknown");
        let key = match text(r, "alarm_id") {
            Some(id) => format!("{device}/{id}"),
            None => format!("{device}/{alarm_type}"),
        };
        let sc = &cx.cfg.security;
        let ws = floor(t, cx.interval, cx.offset, 0);
        match event {
            "alarm" => {
                if self.open.contains_key(&key) {
                    return;
                }
                let acc = self.acc.entry(ws).or_default();
                *acc.alarms.entry(alarm_type.to_string()).or_default() += 1;
                self.open.insert(
                    key,
                    Alarm {
                        t,
                        alarm_type: alarm_type.to_string(),
                        acked: None,
                    },
                );
            }
            "ack" => {
                let Some(a) = self.open.get_mut(&key).filter(|a| a.acked.is_none()) else {
                    return;
                };
                a.acked = Some(t);
                let s = (t - a.t).max(0) as f64 / 1e9;
                let acc = self.acc.entry(ws).or_default();
                acc.acked += 1;
                acc.response_sum_s += s;
                acc.response_max_s = acc.response_max_s.max(s);
                acc.response_within += (s <= sc.response_target.as_secs_f64()) as u32;
            }
            "clear" => {
                let Some(a) = self.open.remove(&key) else {
                    return;
                };
                let s = (t - a.t).max(0) as f64 / 1e9;
                let acc = self.acc.entry(ws).or_default();
                acc.cleared += 1;
                acc.false_alarms +=
                    matches!(r.field("false_alarm"), Some(FieldValue::Bool(true))) as u32;
                acc.handling_sum_s += s;
                acc.handling_within += (s <= sc.handling_target.as_secs_f64()) as u32;
            }
            _ => {}
        }
    }
}

/// Security devices online and alarm handling per interval (`gg_security`,
/// `gg_security_devices`, `gg_security_alarms`).
pub(super) struct Security;

impl Indicator for Security {
    fn measurement(&self) -> Option<&'static str> {
        Some("security")
    }

    fn record(&self, r: &Reading, at: &mut Record<'_>) {
        at.security.record(r, at.cx);
    }

    fn close(&self, ws: i64, at: &mut Close<'_>) {
        let cx = at.cx;
        let we = ws + cx.interval;
        let timeout = cx
            .cfg
            .security
            .heartbeat_timeout
            .as_nanos()
            .min(i64::MAX as u128) as i64;
        let mut by_type: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
        for (d, a) in at.devices.iter().zip(at.attrs) {
            if a.class != Class::Security {
                continue;
            }
            let e = by_type.entry(&a.security_type).or_default();
            e.0 += 1;
            e.1 += d.health.last_seen.is_some_and(|l| l >= we - timeout) as u32;
        }
        let acc = at.security.acc.remove(&ws).unwrap_or_default();
        at.security.acc.retain(|k, _| *k > ws);
        if by_type.is_empty() && acc.alarms.is_empty() {
            return;
        }
        let (n, on) = by_type
            .values()
            .fold((0, 0), |(n, o), (a, b)| (n + a, o + b));
        for (ty, (tn, ton)) in &by_type {
            let mut r = cx.reading("gg_security_devices", ws);
            r.set_tag("security_type", *ty);
            r.add_field("devices", FieldValue::Int(*tn as i64));
            r.add_field("online", FieldValue::Int(*ton as i64));
            r.add_field(
                "online_rate_pct",
                FieldValue::Float(round2(100.0 * *ton as f64 / (*tn).max(1) as f64)),
            );
            at.emit_unkept(r);
        }
        for (ty, c) in &acc.alarms {
            let mut r = cx.reading("gg_security_alarms", ws);
            r.set_tag("alarm_type", ty.as_str());
            r.add_field("count", FieldValue::Int(*c as i64));
            at.emit_unkept(r);
        }
        let alarms: u32 = acc.alarms.values().sum();
        let unacked = (at.security.open)
            .values()
            .filter(|a| a.acked.is_none() && a.t < we)
            .count();
        let mut r = cx.reading("gg_security", ws);
        let fl = |r: &mut Reading, k: &str, v: f64| r.add_field(k, FieldValue::Float(round2(v)));
        r.add_field("devices", FieldValue::Int(n as i64));
        r.add_field("online", FieldValue::Int(on as i64));
        if n > 0 {
            fl(&mut r, "online_rate_pct", 100.0 * on as f64 / n as f64);
        }
        r.add_field("alarms", FieldValue::Int(alarms as i64));
        r.add_field("acknowledged", FieldValue::Int(acc.acked as i64));
        r.add_field("cleared", FieldValue::Int(acc.cleared as i64));
        r.add_field("unacknowledged", FieldValue::Int(unacked as i64));
        r.add_field(
            "response_within_target",
            FieldValue::Int(acc.response_within as i64),
        );
        r.add_field(
            "handling_within_target",
            FieldValue::Int(acc.handling_within as i64),
        );
        fl(
            &mut r,
            "response_target_s",
            cx.cfg.security.response_target.as_secs_f64(),
        );
        if acc.acked > 0 {
            let k = acc.acked as f64;
            fl(&mut r, "response_mean_s", acc.response_sum_s / k);
            fl(&mut r, "response_max_s", acc.response_max_s);
            fl(
                &mut r,
                "response_within_pct",
                100.0 * acc.response_within as f64 / k,
            );
        }
        r.add_field("false_alarms", FieldValue::Int(acc.false_alarms as i64));
        if acc.cleared > 0 {
            let k = acc.cleared as f64;
            fl(
                &mut r,
                "false_alarm_rate_pct",
                100.0 * acc.false_alarms as f64 / k,
            );
            fl(&mut r, "handling_mean_s", acc.handling_sum_s / k);
            fl(
                &mut r,
                "handling_within_pct",
                100.0 * acc.handling_within as f64 / k,
            );
        }
        at.emit("", r);
    }
}
