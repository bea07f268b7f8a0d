//! One polled device: its resolved register map, read plan per poll
//! interval, health state, and the pure assembly of its readings.
//!
//! Fields are grouped by poll interval (fields of groups with the same
//! interval share reads); each group has its own plan and schedule.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use super::config::DeviceConfig;
use super::decode::{self, Data};
use super::planner::{self, PlanOptions, Read};
use super::rbe::{self, Last};
use crate::backoff::Backoff;
use crate::deadletter::DeadLetter;
use crate::model::Reading;
use crate::profiles::modbus::FieldSpec;
use crate::profiles::Profile;
use crate::sources::bus::Health;

/// Fields polled at one interval.
#[derive(Debug, Clone)]
pub struct Group {
    pub interval: Duration,
    pub reads: Vec<Read>,
    pub next_due: Instant,
}

impl Group {
    /// Moves the schedule on after a poll at `now`: keeps the phase, but
    /// skips missed ticks instead of bursting (see [`crate::sources::bus::advance`]).
    pub fn advance(&mut self, now: Instant) {
        crate::sources::bus::advance(&mut self.next_due, self.interval, now);
    }
}

pub use crate::sources::bus::later;

/// A device's state on its endpoint.
#[derive(Debug)]
pub struct Device {
    pub id: String,
    pub unit: u8,
    pub measurement: String,
    pub tags: Vec<(String, String)>,
    pub specs: Vec<FieldSpec>,
    pub groups: Vec<Group>,
    /// Failures, degraded back-off, online state (kept by the bus driver).
    pub health: Health,
    /// Last sent value per field (report by exception).
    pub last_sent: Vec<Option<Last>>,
    /// Reads the device refused, and when to try them again.
    pub refusals: super::refusal::Refusals,
}

impl Device {
    /// Builds a device from its config entry and profile. `phase` (0..1)
    /// offsets its first poll by that fraction of its poll interval, so the
    /// devices of one line are spread over the interval instead of all
    /// queueing at the same instant.
    pub fn new(
        cfg: &DeviceConfig,
        profile: &Profile,
        backoff: Backoff,
        now: Instant,
        phase: f64,
    ) -> Result<Device, String> {
        let map = profile
            .modbus
            .as_ref()
            .ok_or_else(|| format!("profile {:?} has no [modbus] register map", profile.name))?;
        let specs = map.resolve().map_err(|p| {
            let list: Vec<String> = p.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            format!("profile {:?}: {}", profile.name, list.join("; "))
        })?;
        let opts = PlanOptions {
            coalesce: cfg.coalesce,
            max_gap: cfg.max_gap.or(map.max_gap).unwrap_or(10),
            max_request: cfg
                .max_request
                .or(map.max_request)
                .unwrap_or(crate::profiles::modbus::MAX_REGISTERS),
        };
        let mut by_interval: BTreeMap<Duration, Vec<usize>> = BTreeMap::new();
        for (i, s) in specs.iter().enumerate() {
            let iv = match &s.group {
                None => cfg.poll_interval,
                Some(g) => cfg
                    .group_intervals
                    .get(g)
                    .map(|iv| iv.0)
                    .or(map.groups.get(g).and_then(|g| g.poll_interval))
                    .unwrap_or(cfg.poll_interval),
            };
            by_interval.entry(iv).or_default().push(i);
        }
        // One offset for every group, so the first poll reads them all.
        let first = later(now, cfg.poll_interval.mul_f64(phase.clamp(0.0, 1.0)));
        let groups = by_interval
            .into_iter()
            .map(|(interval, which)| Group {
                interval,
                reads: planner::plan(&specs, &which, &opts),
                next_due: first,
            })
            .collect();
        let mut tags: Vec<(String, String)> = profile.tags.0.clone().into_iter().collect();
        tags.retain(|(k, _)| k != "device");
        Ok(Device {
            id: cfg.id.clone(),
            unit: cfg.unit,
            measurement: profile.class.clone(),
            tags,
            last_sent: vec![None; specs.len()],
            specs,
            groups,
            health: Health::new(backoff),
            refusals: Default::default(),
        })
    }

    /// Requests one full poll of every group costs.
    pub fn requests_per_cycle(&self) -> usize {
        self.groups.iter().map(|g| g.reads.len()).sum()
    }

    /// Decodes the answered reads into one reading (fields that pass report
    /// by exception) and dead letters for fields that do not decode.
    pub fn readings(
        &mut self,
        answered: &[(Read, Data)],
        time_ns: i64,
    ) -> (Option<Reading>, Vec<DeadLetter>) {
        let mut r = Reading::new(self.measurement.clone(), time_ns);
        for (k, v) in &self.tags {
            r.set_tag(k.clone(), v.clone());
        }
        r.set_tag("device", self.id.clone());
        let mut dead = Vec::new();
        for (read, data) in answered {
            for &i in &read.fields {
                let Some(spec) = self.specs.get(i) else {
                    continue;
                };
                match decode::field(spec, read, data) {
                    Ok(v) => {
                        if rbe::should_send(
                            spec.rbe.as_ref(),
                            self.last_sent[i].as_ref(),
                            &v,
                            time_ns,
                        ) {
                            self.last_sent[i] = Some(Last {
                                value: v.clone(),
                                time_ns,
                            });
                            r.add_field(spec.name.clone(), v);
                        }
                    }
                    Err(e) => dead.push(DeadLetter::new(
                        "modbus",
                        format!("{}/{}", self.id, spec.location()),
                        format!("field {:?} ({:?}): {e}", spec.name, spec.kind),
                        &data.bytes(),
                    )),
                }
            }
        }
        let reading = (!r.fields.is_empty() && r.validate().is_ok()).then_some(r);
        (reading, dead)
    }

    /// A `device_status` reading: `online`, `rtt_ms`, `errors`.
    pub fn status(&self, time_ns: i64) -> Reading {
        self.health.status(&self.id, "modbus", time_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::modbus::RegisterMap;
    use crate::sources::modbus::config::GroupInterval;

    fn map(text: &str) -> Profile {
        let v: toml::Value = toml::from_str(text).unwrap();
        let mut cx = crate::config::Check::new(".");
        let m: RegisterMap =
            crate::config::parse_value(serde_json::to_value(v).unwrap(), "m", &mut cx).unwrap();
        Profile {
            name: "p".into(),
            class: "water_meter".into(),
            modbus: Some(m),
            ..Profile::default()
        }
    }

    #[test]
    fn groups_poll_at_their_own_intervals_and_devices_can_override_them() {
        let p = map(r#"
            [groups.slow]
            poll_interval = "15m"
            [groups.also_fast]
            [[fields]]
            name = "total_m3"
            table = "holding"
            address = 0
            type = "u32"
            [[fields]]
            name = "flow_m3h"
            table = "holding"
            address = 2
            group = "also_fast"
            [[fields]]
            name = "battery_v"
            table = "holding"
            address = 5
            group = "slow"
            "#);
        let now = Instant::now();
        let b = Backoff::new(Duration::from_secs(1), Duration::from_secs(2));
        let mut cfg = DeviceConfig {
            poll_interval: Duration::from_secs(10),
            ..DeviceConfig::default()
        };
        let d = Device::new(&cfg, &p, b.clone(), now, 0.5).unwrap();
        let iv: Vec<(u64, usize)> = d
            .groups
            .iter()
            .map(|g| (g.interval.as_secs(), g.reads.len()))
            .collect();
        // A group without an interval shares the device's reads.
        assert_eq!(iv, vec![(10, 1), (900, 1)]);
        assert!(d
            .groups
            .iter()
            .all(|g| g.next_due == now + Duration::from_secs(5)));
        cfg.group_intervals
            .insert("slow".into(), GroupInterval(Duration::from_secs(3600)));
        let d = Device::new(&cfg, &p, b, now, 0.0).unwrap();
        assert_eq!(d.groups[1].interval, Duration::from_secs(3600));
        assert_eq!(d.requests_per_cycle(), 2);
    }

    #[test]
    fn schedule_keeps_its_phase_and_skips_missed_ticks() {
        let t0 = Instant::now();
        let mut g = Group {
            interval: Duration::from_secs(1),
            reads: vec![],
            next_due: t0,
        };
        g.advance(t0 + Duration::from_millis(30));
        assert_eq!(g.next_due, t0 + Duration::from_secs(1));
        // A poll that ran 3.5 s late does not cause a burst of catch-up polls.
        g.advance(t0 + Duration::from_millis(4500));
        assert_eq!(g.next_due, t0 + Duration::from_secs(5));
    }
}
