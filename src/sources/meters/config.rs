//! Settings of the meter source (`[sources.meters]`): RS-485 buses of
//! DL/T 645 electricity meters and CJ/T 188 water meters, reached through a
//! local serial port or a serial device server (transparent TCP). No I/O.
//!
//! ```toml
//! [[sources.meters.buses]]
//! name = "pump-room"
//! transport = "serial"              # serial | tcp
//! serial = { path = "/dev/ttyUSB0", baud = 2400, parity = "even" }
//! [[sources.meters.buses.meters]]
//! id = "water-b3-0101"
//! address = "00000000112233"        # the nameplate number: 14 digits CJ/T 188, 12 DL/T 645
//! profile = "cjt188-cold-water"
//! poll_interval = "15m"
//! ```

use crate::sources::bus::check::{check_address, check_serial, check_timing, Timing};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::config::{join, Check, Validate};
use crate::profiles::meter::{parse_meter_type, MeterProtocol};
use crate::profiles::{CheckRefs, ProfileSet};
use crate::protocols::bcd::parse_nameplate;
use crate::sources::bus::serial::{Parity, SerialConfig};
use crate::sources::modbus::config::GroupInterval;

/// The `[sources.meters]` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MetersConfig {
    pub buses: Vec<BusConfig>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeterTransport {
    /// A local serial port (RS-485 adapter).
    #[default]
    Serial,
    /// A serial device server in transparent mode: the bus's bytes over TCP.
    Tcp,
}

/// A serial line with the meters' usual 2400 baud, 8 data bits, even
/// parity, 1 stop bit.
pub fn default_serial() -> SerialConfig {
    SerialConfig {
        baud: 2400,
        parity: Parity::Even,
        ..SerialConfig::default()
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct MeterSerial {
    pub path: std::path::PathBuf,
    pub baud: u32,
    pub parity: Parity,
    pub data_bits: u8,
    pub stop_bits: u8,
}

impl Default for MeterSerial {
    fn default() -> Self {
        let s = default_serial();
        MeterSerial {
            path: s.path,
            baud: s.baud,
            parity: s.parity,
            data_bits: s.data_bits,
            stop_bits: s.stop_bits,
        }
    }
}

impl MeterSerial {
    pub fn to_serial(&self) -> SerialConfig {
        SerialConfig {
            path: self.path.clone(),
            baud: self.baud,
            parity: self.parity,
            data_bits: self.data_bits,
            stop_bits: self.stop_bits,
        }
    }
}

/// One RS-485 bus: one task, one request in flight.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct BusConfig {
    pub name: String,
    pub transport: MeterTransport,
    /// `host:port` of the serial device server for `transport = "tcp"`.
    pub address: Option<String>,
    pub serial: Option<MeterSerial>,
    /// Wake-up `FE` bytes sent before every request (0 to 8).
    pub preamble: usize,
    /// Limit on every request (and on connecting).
    #[serde(deserialize_with = "crate::config::duration")]
    pub timeout: Duration,
    #[serde(deserialize_with = "crate::config::duration")]
    pub inter_request_delay: Duration,
    #[serde(deserialize_with = "crate::config::duration")]
    pub reconnect_min: Duration,
    #[serde(deserialize_with = "crate::config::duration")]
    pub reconnect_max: Duration,
    pub degraded_after: u32,
    #[serde(deserialize_with = "crate::config::duration")]
    pub status_interval: Duration,
    pub meters: Vec<MeterConfig>,
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            name: String::new(),
            transport: MeterTransport::Serial,
            address: None,
            serial: None,
            preamble: 4,
            timeout: Duration::from_millis(1500),
            inter_request_delay: Duration::from_millis(20),
            reconnect_min: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(60),
            degraded_after: 3,
            status_interval: Duration::from_secs(60),
            meters: Vec::new(),
        }
    }
}

/// One meter on a bus.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct MeterConfig {
    /// The `device` tag of its readings; unique across all buses.
    pub id: String,
    /// The address printed on the nameplate (12 digits DL/T 645, 14 CJ/T 188).
    pub address: String,
    /// A device profile with a `[meter]` map.
    pub profile: String,
    /// CJ/T 188: the meter type byte (hex), when it differs from the profile's.
    pub meter_type: Option<String>,
    /// The measurement of its readings, when not the profile's class (a
    /// DL/T 645 meter in a lighting cabinet: `lighting`).
    pub class: Option<String>,
    #[serde(deserialize_with = "crate::config::duration")]
    pub poll_interval: Duration,
    /// Per-group overrides of the profile's group intervals.
    pub group_intervals: BTreeMap<String, GroupInterval>,
}

impl Default for MeterConfig {
    fn default() -> Self {
        MeterConfig {
            id: String::new(),
            address: String::new(),
            profile: String::new(),
            meter_type: None,
            class: None,
            poll_interval: Duration::from_secs(60),
            group_intervals: BTreeMap::new(),
        }
    }
}

impl Validate for MetersConfig {
    fn validate(&self, path: &str, cx: &mut Check) {
        let mut names = BTreeSet::new();
        let mut ids = BTreeMap::new();
        for (i, b) in self.buses.iter().enumerate() {
            let at = format!("{}[{i}]", join(path, "buses"));
            if !b.name.is_empty() && !names.insert(b.name.as_str()) {
                cx.problem(
                    join(&at, "name"),
                    format!("bus {:?} is defined twice", b.name),
                );
            }
            b.validate(&at, cx);
            for (j, m) in b.meters.iter().enumerate() {
                let mp = format!("{at}.meters[{j}]");
                if let Some(prev) = ids.insert(m.id.as_str(), mp.clone()) {
                    if !m.id.is_empty() {
                        cx.problem(join(&mp, "id"), format!("meter {:?} is also {prev}", m.id));
                    }
                }
            }
        }
    }
}

impl Validate for BusConfig {
    fn validate(&self, at: &str, cx: &mut Check) {
        if self.name.is_empty() {
            cx.problem(
                join(at, "name"),
                "a bus needs a name (used in logs and metrics)",
            );
        }
        match self.transport {
            MeterTransport::Tcp => check_address(
                at,
                self.address.as_deref(),
                "missing: host:port of the serial device server",
                cx,
            ),
            MeterTransport::Serial => check_serial(
                at,
                self.serial.as_ref().map(MeterSerial::to_serial).as_ref(),
                "transport = \"serial\" needs serial = { path, ... }",
                cx,
            ),
        }
        if self.preamble > 8 {
            cx.problem(join(at, "preamble"), "at most 8 wake-up bytes");
        }
        check_timing(
            at,
            &Timing {
                timeout: self.timeout,
                reconnect_min: self.reconnect_min,
                reconnect_max: self.reconnect_max,
                status_interval: self.status_interval,
                degraded_after: self.degraded_after,
            },
            &[
                ("timeout", self.timeout),
                ("inter_request_delay", self.inter_request_delay),
                ("reconnect_min", self.reconnect_min),
                ("reconnect_max", self.reconnect_max),
                ("status_interval", self.status_interval),
            ],
            cx,
        );
        let day = Duration::from_secs(86400);
        for (j, m) in self.meters.iter().enumerate() {
            let mp = format!("{at}.meters[{j}]");
            if m.id.is_empty() || m.id.contains(['\n', '\r']) {
                cx.problem(join(&mp, "id"), "a meter needs an id (its `device` tag)");
            }
            if m.profile.is_empty() {
                cx.problem(
                    join(&mp, "profile"),
                    "missing: the device profile with its [meter] map",
                );
            }
            if m.address.is_empty() {
                cx.problem(
                    join(&mp, "address"),
                    "missing: the address printed on the nameplate",
                );
            } else if let Some(c) = m.address.chars().find(|c| !c.is_ascii_digit()) {
                cx.problem(
                    join(&mp, "address"),
                    format!(
                        "bad address digit {c:?} in {:?}: the nameplate address is decimal digits",
                        m.address
                    ),
                );
            }
            if let Some(t) = &m.meter_type {
                if let Err(e) = parse_meter_type(t) {
                    cx.problem(join(&mp, "meter_type"), e);
                }
            }
            if let Some(c) = &m.class {
                if c.is_empty() || c.contains(['\n', '\r']) || c.starts_with("gg_") {
                    cx.problem(
                        join(&mp, "class"),
                        "must be a measurement name such as \"lighting\"",
                    );
                }
            }
            if m.poll_interval.is_zero() || m.poll_interval > 7 * day {
                cx.problem(
                    join(&mp, "poll_interval"),
                    "must be positive and at most 7 days",
                );
            }
            for (g, iv) in &m.group_intervals {
                if iv.0.is_zero() || iv.0 > 7 * day {
                    cx.problem(
                        format!("{mp}.group_intervals.{g}"),
                        "must be positive and at most 7 days",
                    );
                }
            }
        }
        // Two meters with one address on one bus would both answer.
        let mut seen = BTreeMap::new();
        for (j, m) in self.meters.iter().enumerate() {
            if let Some(k) = seen.insert(m.address.as_str(), j) {
                if !m.address.is_empty() {
                    cx.problem(
                        format!("{at}.meters[{j}].address"),
                        format!("address {} is also meters[{k}]", m.address),
                    );
                }
            }
        }
    }
}

impl CheckRefs for MetersConfig {
    fn check_refs(&self, path: &str, profiles: &ProfileSet, cx: &mut Check) {
        for (i, b) in self.buses.iter().enumerate() {
            for (j, m) in b.meters.iter().enumerate() {
                let mp = format!("{}[{i}].meters[{j}]", join(path, "buses"));
                let Some(p) = profiles.get(&m.profile) else {
                    cx.problem(
                        join(&mp, "profile"),
                        format!("no profile named {:?} is loaded", m.profile),
                    );
                    continue;
                };
                let Some(map) = &p.meter else {
                    cx.problem(
                        join(&mp, "profile"),
                        format!("profile {:?} has no [meter] map", m.profile),
                    );
                    continue;
                };
                if !m.address.is_empty() && m.address.chars().all(|c| c.is_ascii_digit()) {
                    let n = map.protocol.address_digits();
                    let ok = match n {
                        12 => parse_nameplate::<6>(&m.address).is_ok(),
                        _ => parse_nameplate::<7>(&m.address).is_ok(),
                    };
                    if !ok {
                        cx.problem(
                            join(&mp, "address"),
                            format!(
                                "a {} address has {n} digits, {:?} has {}",
                                map.protocol.name(),
                                m.address,
                                m.address.len()
                            ),
                        );
                    }
                }
                if m.meter_type.is_some() && map.protocol != MeterProtocol::Cjt188 {
                    cx.problem(
                        join(&mp, "meter_type"),
                        "only CJ/T 188 meters have a meter type",
                    );
                }
                for g in m.group_intervals.keys() {
                    if !map.groups.contains_key(g) {
                        cx.problem(
                            format!("{mp}.group_intervals.{g}"),
                            format!("profile {:?} has no group {g:?}", m.profile),
                        );
                    }
                }
            }
        }
    }
}
