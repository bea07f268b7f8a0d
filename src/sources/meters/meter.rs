//! One meter on a bus: its identifiers grouped by poll interval, its
//! schedule, and one poll (every due identifier, one request each, with
//! DL/T 645 follow-ups).
//!
//! Bad input costs only itself: a damaged, truncated, foreign or refused
//! reply is counted, logged with bus, meter and identifier, and
//! dead-lettered; the meter's other identifiers are still read. Only
//! silence (a timeout) or a broken line ends the poll of that meter, so a
//! dead meter costs its bus one timeout per poll, and once degraded one
//! per back-off period.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;
use tracing::{debug, warn};

use super::config::MeterConfig;
use super::link::{MeterError, MeterLink, MeterRequest};
use super::reply::{self, Target, Values};
use crate::backoff::Backoff;
use crate::deadletter::DeadLetter;
use crate::model::{Reading, Unit};
use crate::profiles::meter::{parse_meter_type, Di, MeterProtocol, MeterSpec};
use crate::profiles::Profile;
use crate::protocols::{cjt188, dlt645};
use crate::sources::bus::{self, BusDevice, CallError, Health, Line, Polled, Tally};

/// Most follow-up frames read for one identifier.
pub const MAX_FOLLOW_UPS: u8 = 16;

/// Identifiers polled at one interval.
#[derive(Debug, Clone)]
pub struct Group {
    pub interval: Duration,
    pub dis: Vec<Di>,
    pub next_due: Instant,
}

#[derive(Debug)]
pub struct Meter {
    pub id: String,
    pub target: Target,
    pub protocol: MeterProtocol,
    pub measurement: String,
    pub tags: Vec<(String, String)>,
    pub specs: Vec<MeterSpec>,
    pub unit_codes: BTreeMap<u8, Unit>,
    pub groups: Vec<Group>,
    pub health: Health,
    pub preamble: usize,
    ser: u8,
}

impl Meter {
    /// Builds a meter from its config entry and profile; `phase` (0..1)
    /// offsets its first poll by that fraction of its poll interval.
    pub fn new(
        cfg: &MeterConfig,
        profile: &Profile,
        preamble: usize,
        backoff: Backoff,
        now: Instant,
        phase: f64,
    ) -> Result<Meter, String> {
        let map = profile
            .meter
            .as_ref()
            .ok_or_else(|| format!("profile {:?} has no [meter] map", profile.name))?;
        let target = match map.protocol {
            MeterProtocol::Cjt188 => Target::Cjt188 {
                meter_type: match &cfg.meter_type {
                    Some(t) => parse_meter_type(t)?,
                    None => map.meter_type,
                },
                address: cjt188::Address::from_nameplate(&cfg.address)
                    .map_err(|e| format!("address {:?}: {e}", cfg.address))?,
                order: map.di_order,
            },
            _ => Target::Dlt645(
                dlt645::Address::from_nameplate(&cfg.address)
                    .map_err(|e| format!("address {:?}: {e}", cfg.address))?,
            ),
        };
        let mut by_interval: BTreeMap<Duration, Vec<Di>> = BTreeMap::new();
        for s in &map.specs {
            let iv = match &s.group {
                None => cfg.poll_interval,
                Some(g) => cfg
                    .group_intervals
                    .get(g)
                    .map(|iv| iv.0)
                    .or(map.groups.get(g).and_then(|g| g.poll_interval))
                    .unwrap_or(cfg.poll_interval),
            };
            let dis = by_interval.entry(iv).or_default();
            if !dis.contains(&s.di) {
                dis.push(s.di);
            }
        }
        let first = bus::later(now, cfg.poll_interval.mul_f64(phase.clamp(0.0, 1.0)));
        let groups = by_interval
            .into_iter()
            .map(|(interval, dis)| Group {
                interval,
                dis,
                next_due: first,
            })
            .collect();
        let mut tags: Vec<(String, String)> = profile.tags.0.clone().into_iter().collect();
        tags.retain(|(k, _)| k != "device");
        Ok(Meter {
            id: cfg.id.clone(),
            target,
            protocol: map.protocol,
            measurement: cfg.class.clone().unwrap_or_else(|| profile.class.clone()),
            tags,
            specs: map.specs.clone(),
            unit_codes: map.unit_codes.clone(),
            groups,
            health: Health::new(backoff),
            preamble,
            ser: 0,
        })
    }

    /// Requests one full poll costs (follow-ups aside).
    pub fn requests_per_cycle(&self) -> usize {
        self.groups.iter().map(|g| g.dis.len()).sum()
    }

    fn request(&mut self, di: Di, follow_up: Option<u8>) -> MeterRequest {
        self.ser = self.ser.wrapping_add(1);
        MeterRequest {
            protocol: self.protocol,
            bytes: reply::request(&self.target, di, follow_up, self.preamble, self.ser),
            label: format!("{}/{di}", self.target.address()),
        }
    }

    /// One identifier: its request, its follow-ups, its checked values.
    async fn read(
        &mut self,
        line: &mut Line<MeterLink>,
        t: &Tally,
        di: Di,
    ) -> Result<Values, MeterError> {
        let req = self.request(di, None);
        let raw = line.request(&mut self.health, t, &req).await?;
        let mut values = self.check(t, di, &raw.frame)?;
        for _ in 0..MAX_FOLLOW_UPS {
            let Values::Dlt645 {
                more: Some(seq), ..
            } = values
            else {
                break;
            };
            let req = self.request(di, Some(seq));
            let raw = line.request(&mut self.health, t, &req).await?;
            let next = self.check(t, di, &raw.frame)?;
            reply::extend(&mut values, next);
        }
        Ok(values)
    }

    /// [`reply::interpret`], counting what the line could not see.
    fn check(&mut self, t: &Tally, di: Di, frame: &[u8]) -> Result<Values, MeterError> {
        reply::interpret(&self.target, di, frame).inspect_err(|e| {
            self.health.errors += 1;
            t.error(e.kind());
        })
    }

    fn dead(&self, di: Di, why: String, bytes: &[u8]) -> DeadLetter {
        DeadLetter::new("meters", format!("{}/{di}", self.id), why, bytes)
    }
}

impl BusDevice<MeterLink> for Meter {
    fn id(&self) -> &str {
        &self.id
    }
    fn health(&mut self) -> &mut Health {
        &mut self.health
    }
    fn groups(&self) -> usize {
        self.groups.len()
    }
    fn next_due(&self, group: usize) -> Instant {
        self.groups[group].next_due
    }
    fn advance(&mut self, group: usize, now: Instant) {
        if let Some(g) = self.groups.get_mut(group) {
            bus::advance(&mut g.next_due, g.interval, now);
        }
    }
    fn postpone(&mut self, until: Instant) {
        for g in &mut self.groups {
            g.next_due = g.next_due.max(until);
        }
    }
    async fn poll(
        &mut self,
        line: &mut Line<MeterLink>,
        t: &Tally,
        due: &[usize],
        time_ns: i64,
    ) -> Polled {
        let bus_name = line.cfg.name.clone();
        let mut r = Reading::new(self.measurement.clone(), time_ns);
        for (k, v) in &self.tags {
            r.set_tag(k.clone(), v.clone());
        }
        r.set_tag("device", self.id.clone());
        let mut polled = Polled {
            answered: true,
            ..Polled::default()
        };
        let dis: Vec<Di> = due
            .iter()
            .filter_map(|g| self.groups.get(*g))
            .flat_map(|g| g.dis.iter().copied())
            .collect();
        for di in dis {
            match self.read(line, t, di).await {
                Ok(values) => {
                    for s in self.specs.iter().filter(|s| s.di == di) {
                        match reply::field(s, &values, &self.unit_codes) {
                            Ok(Some(v)) => r.add_field(s.name.clone(), v),
                            Ok(None) => {
                                debug!(bus = %bus_name, meter = %self.id, di = %di, field = %s.name, "Meter left the value out (FF-filled).")
                            }
                            Err(e) => {
                                self.health.errors += 1;
                                t.error(e.kind());
                                warn!(bus = %bus_name, meter = %self.id, di = %di, field = %s.name, error = %e,
                                    event = "MeterValueRejected", metric = "meter_request_errors_total", kind = e.kind(),
                                    "Meter value not used; the meter's other values still are.");
                                polled.dead.push(self.dead(
                                    di,
                                    format!("field {:?}: {e}", s.name),
                                    &[],
                                ));
                            }
                        }
                    }
                }
                Err(e) if e.silent() => {
                    warn!(bus = %bus_name, meter = %self.id, di = %di, error = %e,
                        event = "MeterSilent", metric = "meter_request_errors_total", kind = e.kind(),
                        "Meter did not answer; its other identifiers wait for the next poll.");
                    polled.answered = false;
                    break;
                }
                Err(e) => {
                    warn!(bus = %bus_name, meter = %self.id, di = %di, error = %e,
                        event = "MeterReplyRejected", metric = "meter_request_errors_total", kind = e.kind(),
                        "Meter reply not used; the meter's other identifiers are still read.");
                    if !matches!(e, MeterError::ErrorReply(_)) {
                        polled.dead.push(self.dead(di, e.to_string(), e.bytes()));
                    }
                }
            }
        }
        if !r.fields.is_empty() && r.validate().is_ok() {
            polled.readings.push(r);
        }
        polled
    }
}
