//! The latest reading of every device and the latest output of every
//! indicator, as the pipeline saw them (it calls [`Latest::observe_all`]
//! with each batch of enriched readings and of indicator readings it stores).
//!
//! Bounded: at most [`MAX_KEYS`] devices and as many indicator series; a
//! reading beyond that is counted in `untracked`, never stored. Observing
//! costs one uncontended lock per batch, one lookup and a copy of the reading into the one kept
//! (its strings reused, so no allocation once the device is known).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use crate::model::{FieldValue, Reading};
use crate::pipeline::{Origin, INDICATOR_PREFIX};

/// Devices (and indicator series) kept at most.
pub(super) const MAX_KEYS: usize = 10_000;
/// Fire-lane events kept.
pub(super) const FIRE_EVENTS: usize = 10;

/// What a device last sent.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceLatest {
    pub origin: Origin,
    /// The last data reading (not `device_status`).
    pub last: Option<Reading>,
    /// `online` of the last `device_status` reading (or of a reading that carries it).
    pub online: Option<bool>,
    /// When anything of this device was last seen, ns.
    pub seen_ns: i64,
    pub readings: u64,
}

#[derive(Debug, Default)]
struct Inner {
    /// Hashed: one lookup per reading on the pipeline's path (a B-tree of
    /// 1,000 devices compared ~10 ids per lookup); sorted when read.
    devices: HashMap<String, DeviceLatest>,
    /// (measurement, key tags) → the latest indicator reading.
    indicators: BTreeMap<(String, String), Reading>,
    fire_events: VecDeque<Reading>,
    untracked: u64,
}

/// The store the pipeline feeds and the status page reads.
#[derive(Debug, Default)]
pub struct Latest {
    inner: Mutex<Inner>,
}

/// The tags that tell the series of one indicator measurement apart.
fn series_key(r: &Reading) -> String {
    let mut key = String::new();
    for t in ["device", "lot", "district", "period", "zone_class"] {
        if let Some(v) = r.tag(t) {
            if !key.is_empty() {
                key.push('/');
            }
            key.push_str(v);
        }
    }
    key
}

impl Inner {
    fn observe(&mut self, origin: Origin, r: &Reading, now: i64) {
        let g = self;
        if r.measurement.starts_with(INDICATOR_PREFIX) {
            if r.measurement == "gg_fire_lane_event" {
                if g.fire_events.len() == FIRE_EVENTS {
                    g.fire_events.pop_front();
                }
                g.fire_events.push_back(r.clone());
                return;
            }
            let key = (r.measurement.clone(), series_key(r));
            let newer = g
                .indicators
                .get(&key)
                .map_or(true, |o| o.time_ns <= r.time_ns);
            if g.indicators.len() >= MAX_KEYS && !g.indicators.contains_key(&key) {
                g.untracked += 1;
            } else if newer {
                g.indicators.insert(key, r.clone());
            }
            return;
        }
        let Some(id) = r.tag("device") else { return };
        // Per message: one lookup, and no allocation once the device is
        // known and its readings keep their shape.
        if let Some(d) = g.devices.get_mut(id) {
            d.update(origin, r, now);
            return;
        }
        if g.devices.len() >= MAX_KEYS {
            g.untracked += 1;
            return;
        }
        let fresh = DeviceLatest {
            origin,
            last: None,
            online: None,
            seen_ns: i64::MIN,
            readings: 0,
        };
        g.devices
            .entry(id.to_string())
            .or_insert(fresh)
            .update(origin, r, now);
    }
}

impl DeviceLatest {
    fn update(&mut self, origin: Origin, r: &Reading, now: i64) {
        self.origin = origin;
        self.readings += 1;
        self.seen_ns = self.seen_ns.max(now);
        if let Some(FieldValue::Bool(b)) = r.field("online") {
            self.online = Some(*b);
        }
        if r.measurement != "device_status" {
            match &mut self.last {
                Some(l) if l.time_ns <= r.time_ns => l.copy_from(r),
                Some(_) => {}
                None => self.last = Some(r.clone()),
            }
        }
    }
}

impl Latest {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one reading the pipeline is storing.
    pub fn observe(&self, origin: Origin, r: &Reading) {
        self.observe_all(origin, std::slice::from_ref(r));
    }

    /// Records the readings of one batch under one lock and one clock read.
    pub fn observe_all(&self, origin: Origin, rs: &[Reading]) {
        if rs.is_empty() {
            return;
        }
        let now = crate::model::now_ns();
        let mut g = self.lock();
        for r in rs {
            g.observe(origin, r, now);
        }
    }
    pub fn devices(&self) -> BTreeMap<String, DeviceLatest> {
        let g = self.lock();
        g.devices
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The latest reading of every series of an indicator measurement.
    pub fn indicator(&self, measurement: &str) -> Vec<Reading> {
        let g = self.lock();
        g.indicators
            .iter()
            .filter(|((m, _), _)| m == measurement)
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// The last fire-lane events, newest first.
    pub fn fire_events(&self) -> Vec<Reading> {
        self.lock().fire_events.iter().rev().cloned().collect()
    }

    /// Readings not kept because [`MAX_KEYS`] series were already tracked.
    pub fn untracked(&self) -> u64 {
        self.lock().untracked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(m: &str, device: &str, t: i64, field: (&str, FieldValue)) -> Reading {
        let mut r = Reading::new(m, t);
        r.set_tag("device", device);
        r.add_field(field.0, field.1);
        r
    }

    #[test]
    fn keeps_the_newest_data_reading_and_the_status_apart() {
        let l = Latest::default();
        l.observe(
            Origin::Modbus,
            &reading("noise", "n1", 20, ("laeq", FieldValue::Float(51.0))),
        );
        l.observe(
            Origin::Modbus,
            &reading("noise", "n1", 10, ("laeq", FieldValue::Float(40.0))),
        );
        l.observe(
            Origin::Modbus,
            &reading(
                "device_status",
                "n1",
                30,
                ("online", FieldValue::Bool(false)),
            ),
        );
        let d = &l.devices()["n1"];
        assert_eq!(d.readings, 3);
        assert_eq!(d.online, Some(false));
        let last = d.last.as_ref().unwrap();
        assert_eq!(
            (last.time_ns, last.field("laeq")),
            (20, Some(&FieldValue::Float(51.0)))
        );
    }

    #[test]
    fn indicator_outputs_are_kept_per_series_and_not_as_devices() {
        let l = Latest::default();
        for (t, leq) in [(0, 50.0), (3600, 53.0)] {
            l.observe(
                Origin::Internal,
                &reading("gg_noise_hour", "n1", t, ("leq", FieldValue::Float(leq))),
            );
        }
        l.observe(
            Origin::Internal,
            &reading("gg_noise_hour", "n2", 0, ("leq", FieldValue::Float(60.0))),
        );
        assert!(l.devices().is_empty());
        let hours = l.indicator("gg_noise_hour");
        assert_eq!(hours.len(), 2);
        assert_eq!(hours[0].field("leq"), Some(&FieldValue::Float(53.0)));
        for i in 0..FIRE_EVENTS + 2 {
            l.observe(
                Origin::Internal,
                &reading(
                    "gg_fire_lane_event",
                    "p1",
                    i as i64,
                    ("duration_s", FieldValue::Int(1)),
                ),
            );
        }
        let ev = l.fire_events();
        assert_eq!(
            (ev.len(), ev[0].time_ns),
            (FIRE_EVENTS, FIRE_EVENTS as i64 + 1)
        );
    }

    #[test]
    fn devices_beyond_the_bound_are_counted_not_kept() {
        let l = Latest::default();
        for i in 0..MAX_KEYS + 3 {
            l.observe(
                Origin::Mqtt,
                &reading(
                    "noise",
                    &format!("d{i}"),
                    0,
                    ("laeq", FieldValue::Float(1.0)),
                ),
            );
        }
        assert_eq!(l.devices().len(), MAX_KEYS);
        assert_eq!(l.untracked(), 3);
    }
}
