//! One snapshot of the daemon's state as JSON: devices, sources, outboxes,
//! dead letters (here), indicators and the assessment (`sections`).

use crate::sources::SourcesConfig;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use serde_json::{json, Map, Value};
use tokio::sync::watch;

use super::latest::Latest;
use crate::deadletter::DeadLetterWriter;
use crate::indicators::IndicatorEngine;
use crate::metrics;
use crate::model::{FieldValue, Reading};
use crate::pipeline::{Enrich, Origin};
use crate::profiles::ProfileSet;

/// An MQTT device with no status of its own counts as online while it sent
/// something within this many seconds.
pub(super) const MQTT_STALE_SECONDS: i64 = 15 * 60;
/// Fields of a device's last reading shown at most.
const MAX_FIELDS: usize = 16;

/// A Modbus endpoint or a meter bus as configured (no secret in any of it).
#[derive(Debug, Clone, Default)]
pub struct Bus {
    pub name: String,
    pub transport: &'static str,
    /// `host:port` or the serial device path.
    pub address: String,
    /// (device id, profile)
    pub devices: Vec<(String, String)>,
}

/// What the board knows from the configuration at start.
#[derive(Debug, Clone, Default)]
pub struct StaticInfo {
    pub community: String,
    /// The site's UTC offset in seconds (times are shown in local time).
    pub offset_seconds: i32,
    /// `(host, port, client_id)` of the MQTT source.
    pub mqtt: Option<(String, u16, String)>,
    /// Modbus endpoints.
    pub buses: Vec<Bus>,
    /// `[[sources.meters.buses]]`.
    pub meter_buses: Vec<Bus>,
}

impl StaticInfo {
    /// What the page shows of the configuration: the site and the sources
    /// (the status layer sits below `app`, so it takes the pieces, not `Config`).
    pub fn new(community: &str, offset_seconds: i32, sources: &SourcesConfig) -> StaticInfo {
        use crate::sources::modbus::config::Transport;
        let buses = (sources.modbus.iter())
            .flat_map(|m| &m.endpoints)
            .map(|e| Bus {
                name: e.name.clone(),
                transport: match e.transport {
                    Transport::Tcp => "tcp",
                    Transport::Rtu => "rtu",
                    Transport::RtuOverTcp => "rtu_over_tcp",
                },
                address: e.address.clone().unwrap_or_else(|| {
                    (e.serial.as_ref())
                        .map(|s| s.path.display().to_string())
                        .unwrap_or_default()
                }),
                devices: (e.devices.iter())
                    .map(|d| (d.id.clone(), d.profile.clone()))
                    .collect(),
            })
            .collect();
        use crate::sources::meters::config::MeterTransport;
        let meter_buses = (sources.meters.iter())
            .flat_map(|m| &m.buses)
            .map(|b| Bus {
                name: b.name.clone(),
                transport: match b.transport {
                    MeterTransport::Tcp => "tcp",
                    MeterTransport::Serial => "serial",
                },
                address: b.address.clone().unwrap_or_else(|| {
                    (b.serial.as_ref())
                        .map(|s| s.path.display().to_string())
                        .unwrap_or_default()
                }),
                devices: (b.meters.iter())
                    .map(|m| (m.id.clone(), m.profile.clone()))
                    .collect(),
            })
            .collect();
        StaticInfo {
            community: community.to_string(),
            offset_seconds,
            mqtt: (sources.mqtt.as_ref()).map(|m| (m.host.clone(), m.port, m.client_id.clone())),
            buses,
            meter_buses,
        }
    }
}

/// Everything the status page reads.
pub struct Board {
    pub info: StaticInfo,
    pub latest: Arc<Latest>,
    pub dead: DeadLetterWriter,
    pub engine: Option<Arc<Mutex<IndicatorEngine>>>,
    /// The device registry in force (follows reloads).
    pub registry: watch::Receiver<Enrich>,
    pub profiles: Arc<ProfileSet>,
}

impl Board {
    pub fn new(
        info: StaticInfo,
        profiles: Arc<ProfileSet>,
        dead: DeadLetterWriter,
        engine: Option<Arc<Mutex<IndicatorEngine>>>,
        registry: watch::Receiver<Enrich>,
    ) -> Board {
        Board {
            info,
            latest: Default::default(),
            dead,
            engine,
            registry,
            profiles,
        }
    }
}

pub(super) type Labels = BTreeMap<&'static str, String>;

pub(super) fn gauges(name: &str) -> Vec<(Labels, i64)> {
    (metrics::registry().gauge_values(name).into_iter())
        .map(|(l, v)| (l.into_iter().collect(), v))
        .collect()
}

pub(super) fn counters(name: &str) -> Vec<(Labels, u64)> {
    (metrics::registry().counter_values(name).into_iter())
        .map(|(l, v)| (l.into_iter().collect(), v))
        .collect()
}

/// The sum of a counter over the label sets where `label` is `value`.
pub(super) fn sum_where(rows: &[(Labels, u64)], label: &str, value: &str) -> u64 {
    (rows.iter())
        .filter(|(l, _)| l.get(label).map(String::as_str) == Some(value))
        .map(|(_, v)| v)
        .sum()
}

/// Local RFC 3339 (seconds) of a UTC ns time.
pub(super) fn local_time(t_ns: i64, offset_seconds: i32) -> Value {
    let Some(off) = chrono::FixedOffset::east_opt(offset_seconds) else {
        return Value::Null;
    };
    let t = chrono::DateTime::from_timestamp(t_ns.div_euclid(1_000_000_000), 0);
    match t {
        Some(t) => Value::String(
            t.with_timezone(&off)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        ),
        None => Value::Null,
    }
}

pub(super) fn field_json(v: &FieldValue) -> Value {
    match v {
        FieldValue::Float(f) => json!(f),
        FieldValue::Int(i) => json!(i),
        FieldValue::UInt(u) => json!(u),
        FieldValue::Bool(b) => json!(b),
        FieldValue::Str(s) => json!(s),
    }
}

pub(super) fn fields_json(r: &Reading, max: usize) -> Value {
    let mut m = Map::new();
    for (k, v) in r.fields.iter().take(max) {
        m.insert(k.clone(), field_json(v));
    }
    Value::Object(m)
}

impl Board {
    /// The whole state at `now_ns`.
    pub fn snapshot(&self, now_ns: i64) -> Value {
        json!({
            "generated": local_time(now_ns, self.info.offset_seconds),
            "generated_ns": now_ns,
            "community": self.info.community,
            "version": env!("CARGO_PKG_VERSION"),
            "refresh_seconds": super::REFRESH_SECONDS,
            "not_ready": crate::http::not_ready(),
            "devices": self.devices(now_ns),
            "untracked_readings": self.latest.untracked(),
            "sources": self.sources(),
            "outboxes": outboxes(),
            "dead_letters": self.dead_letters(),
            "indicators": self.indicators(now_ns),
            "assessment": self.assessment(now_ns),
        })
    }

    fn devices(&self, now_ns: i64) -> Value {
        let registry = self.registry.borrow().devices.clone();
        let latest = self.latest.devices();
        let polls = counters("modbus_polls_total");
        let online = gauges("modbus_device_online");
        let errors = counters("modbus_request_errors_total");
        let refusals = counters("modbus_read_refusals_total");
        let drops = counters("indicator_dropped_readings_total");
        // Device → (bus, profile) from the config and from the pollers' labels.
        let mut bus_of: BTreeMap<String, (String, String)> = BTreeMap::new();
        for b in &self.info.buses {
            for (id, profile) in &b.devices {
                bus_of.insert(id.clone(), (b.name.clone(), profile.clone()));
            }
        }
        for (l, _) in &polls {
            if let (Some(d), Some(e)) = (l.get("device"), l.get("endpoint")) {
                bus_of
                    .entry(d.clone())
                    .or_insert_with(|| (e.clone(), String::new()));
            }
        }
        let ids: BTreeSet<&String> = (registry.keys())
            .chain(bus_of.keys())
            .chain(latest.keys())
            .collect();
        let mut out = Vec::new();
        for id in ids {
            let seen = latest.get(id);
            let last = seen.and_then(|d| d.last.as_ref());
            let bus = bus_of.get(id);
            let profile = (registry.get(id).and_then(|d| d.profile.clone()))
                .or_else(|| bus.map(|b| b.1.clone()).filter(|p| !p.is_empty()));
            let class = (registry.get(id).and_then(|d| d.indicators.class.clone()))
                .or_else(|| {
                    profile
                        .as_ref()
                        .and_then(|p| self.profiles.get(p))
                        .map(|p| p.class.clone())
                })
                .or_else(|| last.map(|r| r.measurement.clone()));
            let source = match (bus, seen.map(|d| d.origin)) {
                (Some(b), _) => format!("modbus:{}", b.0),
                (None, Some(Origin::Mqtt)) => "mqtt".to_string(),
                (None, Some(Origin::Meter)) => "meters".to_string(),
                (None, Some(Origin::Hj212)) => "hj212".to_string(),
                (None, Some(_)) => "other".to_string(),
                (None, None) => "".to_string(),
            };
            let polled = sum_where(&polls, "device", id);
            let (online, degraded) = if bus.is_some() {
                let up = (online.iter())
                    .filter(|(l, _)| l.get("device") == Some(id))
                    .any(|(_, v)| *v == 1);
                if polled == 0 {
                    (None, false)
                } else {
                    (Some(up), !up)
                }
            } else {
                let recent = seen.is_some_and(|d| {
                    now_ns.saturating_sub(d.seen_ns) <= MQTT_STALE_SECONDS * 1_000_000_000
                });
                match seen {
                    None => (None, false),
                    Some(d) => (Some(d.online.unwrap_or(true) && recent), false),
                }
            };
            let mut kinds = Map::new();
            for (l, v) in errors.iter().filter(|(l, _)| l.get("device") == Some(id)) {
                if *v > 0 {
                    let k = l.get("kind").cloned().unwrap_or_default();
                    let prev = kinds.get(&k).and_then(Value::as_u64).unwrap_or(0);
                    kinds.insert(k, json!(prev + v));
                }
            }
            let request_errors: u64 = kinds.values().filter_map(Value::as_u64).sum();
            let refused = sum_where(&refusals, "device", id);
            let dropped = sum_where(&drops, "device", id);
            out.push(json!({
                "id": id,
                "class": class,
                "source": source,
                "online": online,
                "degraded": degraded,
                "readings": seen.map_or(0, |d| d.readings),
                "last_time": last.map_or(Value::Null, |r| local_time(r.time_ns, self.info.offset_seconds)),
                "last_measurement": last.map(|r| r.measurement.clone()),
                "values": last.map_or(Value::Null, |r| fields_json(r, MAX_FIELDS)),
                "errors": request_errors + refused,
                "error_kinds": kinds,
                "refusals": refused,
                "indicator_drops": dropped,
            }));
        }
        Value::Array(out)
    }

    fn dead_letters(&self) -> Value {
        let by_source: Map<String, Value> = (counters("dead_letters_total").into_iter())
            .map(|(l, v)| (l.get("source").cloned().unwrap_or_default(), json!(v)))
            .collect();
        let recent: Vec<Value> = (self.dead.recent().into_iter())
            .map(|d| {
                json!({
                    "time": local_time(d.time_ns, self.info.offset_seconds),
                    "source": d.source,
                    "origin": d.origin,
                    "reason": d.reason,
                })
            })
            .collect();
        json!({
            "total": by_source.values().filter_map(Value::as_u64).sum::<u64>(),
            "by_source": by_source,
            "write_errors": metrics::registry().counter_total("dead_letter_write_errors_total"),
            "recent": recent,
        })
    }
}

fn outboxes() -> Value {
    let bytes = gauges("outbox_bytes");
    let age = gauges("outbox_oldest_record_age_seconds");
    let free = gauges("outbox_fs_available_bytes");
    let appended = counters("outbox_records_appended_total");
    let acked = counters("outbox_records_acked_total");
    let dropped = counters("outbox_records_dropped_total");
    let of = |rows: &[(Labels, i64)], name: &str| {
        (rows.iter())
            .find(|(l, _)| l.get("name").map(String::as_str) == Some(name))
            .map(|(_, v)| *v)
    };
    let names: BTreeSet<String> = (bytes.iter())
        .filter_map(|(l, _)| l.get("name").cloned())
        .collect();
    let out: Vec<Value> = (names.iter())
        .map(|n| {
            json!({
                "name": n,
                "bytes": of(&bytes, n).unwrap_or(0),
                "oldest_age_seconds": of(&age, n).unwrap_or(0),
                "fs_available_bytes": of(&free, n),
                "appended": sum_where(&appended, "name", n),
                "acked": sum_where(&acked, "name", n),
                "dropped": sum_where(&dropped, "name", n),
            })
        })
        .collect();
    Value::Array(out)
}
