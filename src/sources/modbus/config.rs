//! Settings of the Modbus source: endpoints (one TCP address or serial line
//! each, polled by one task) and the devices behind them. No I/O.
//!
//! ```toml
//! [[sources.modbus.endpoints]]
//! name = "gateway-3"
//! transport = "tcp"                 # tcp | rtu | rtu_over_tcp
//! address = "192.168.10.30:502"
//! timeout = "1s"
//! [[sources.modbus.endpoints.devices]]
//! id = "noise-07"
//! unit = 1
//! profile = "modbus-noise-rs485"
//! poll_interval = "1s"
//! ```

use crate::sources::bus::check::{check_address, check_serial, check_timing, Timing};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::config::{join, Check, Validate};
use crate::profiles::{CheckRefs, ProfileSet};

/// The `[sources.modbus]` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ModbusConfig {
    pub endpoints: Vec<EndpointConfig>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// Modbus TCP (MBAP framing) to a device or gateway.
    #[default]
    Tcp,
    /// Modbus RTU on a local serial port (RS-485 adapter).
    Rtu,
    /// RTU frames through a TCP socket (serial device servers, DTUs).
    RtuOverTcp,
}

pub use crate::sources::bus::serial::{Parity, SerialConfig};

/// One TCP endpoint or serial bus: one poller, one request in flight.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct EndpointConfig {
    pub name: String,
    pub transport: Transport,
    /// `host:port` for `tcp` and `rtu_over_tcp`.
    pub address: Option<String>,
    pub serial: Option<SerialConfig>,
    /// Limit on every request (and on connecting).
    #[serde(deserialize_with = "crate::config::duration")]
    pub timeout: Duration,
    /// Pause between two requests on this line (slow RS-485 converters).
    #[serde(deserialize_with = "crate::config::duration")]
    pub inter_request_delay: Duration,
    #[serde(deserialize_with = "crate::config::duration")]
    pub reconnect_min: Duration,
    #[serde(deserialize_with = "crate::config::duration")]
    pub reconnect_max: Duration,
    /// Consecutive failed polls after which a device is degraded.
    pub degraded_after: u32,
    /// Wait before retrying a read that got "server device busy".
    #[serde(deserialize_with = "crate::config::duration")]
    pub busy_retry: Duration,
    /// Retries of a busy read before giving up for this poll.
    pub busy_retries: u32,
    /// Write `device_status` readings at least this often (and on every change).
    #[serde(deserialize_with = "crate::config::duration")]
    pub status_interval: Duration,
    pub devices: Vec<DeviceConfig>,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            name: String::new(),
            transport: Transport::Tcp,
            address: None,
            serial: None,
            timeout: Duration::from_secs(1),
            inter_request_delay: Duration::ZERO,
            reconnect_min: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(60),
            degraded_after: 3,
            busy_retry: Duration::from_millis(200),
            busy_retries: 2,
            status_interval: Duration::from_secs(60),
            devices: Vec::new(),
        }
    }
}

/// One device (unit id) on an endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DeviceConfig {
    /// The `device` tag of its readings; unique across all endpoints.
    pub id: String,
    /// Unit (slave) id: 1..=247 on RTU; 0..=255 on TCP (255 or 1 for direct devices).
    pub unit: u8,
    /// A device profile with a `[modbus]` register map.
    pub profile: String,
    #[serde(deserialize_with = "crate::config::duration")]
    pub poll_interval: Duration,
    /// Per-group overrides of the profile's group intervals.
    pub group_intervals: BTreeMap<String, GroupInterval>,
    /// Join neighbouring registers into one read (turn off for devices that
    /// answer an exception to reads spanning unimplemented registers).
    pub coalesce: bool,
    /// Largest register gap a read may span; the profile's, else 10.
    pub max_gap: Option<u16>,
    /// Longest read (registers, at most 125); the profile's, else 125.
    pub max_request: Option<u16>,
}

/// `group_intervals = { slow = "5m" }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct GroupInterval(#[serde(deserialize_with = "crate::config::duration")] pub Duration);

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            id: String::new(),
            unit: 1,
            profile: String::new(),
            poll_interval: Duration::from_secs(10),
            group_intervals: BTreeMap::new(),
            coalesce: true,
            max_gap: None,
            max_request: None,
        }
    }
}

impl Validate for ModbusConfig {
    fn validate(&self, path: &str, cx: &mut Check) {
        let mut names = BTreeSet::new();
        let mut ids = BTreeMap::new();
        let mut lines: BTreeMap<String, String> = BTreeMap::new();
        for (i, e) in self.endpoints.iter().enumerate() {
            let at = format!("{}[{i}]", join(path, "endpoints"));
            // One bus, one poller: a serial line (or a serial device server)
            // split over two endpoints would carry two requests at once.
            let line = match (e.transport, &e.serial, &e.address) {
                (Transport::Rtu, Some(s), _) => Some(("serial.path", s.path.display().to_string())),
                (Transport::RtuOverTcp, _, Some(a)) => Some(("address", a.clone())),
                _ => None,
            };
            if let Some((key, line)) = line.filter(|(_, l)| !l.is_empty()) {
                if let Some(prev) = lines.insert(line.clone(), at.clone()) {
                    cx.problem(
                        join(&at, key),
                        format!(
                            "{line:?} is also {prev}: put every device of one bus on one endpoint"
                        ),
                    );
                }
            }
            if !e.name.is_empty() && !names.insert(e.name.as_str()) {
                cx.problem(
                    join(&at, "name"),
                    format!("endpoint {:?} is defined twice", e.name),
                );
            }
            e.validate(&at, cx);
            for (j, d) in e.devices.iter().enumerate() {
                if let Some(prev) = ids.insert(d.id.as_str(), format!("{at}.devices[{j}]")) {
                    if !d.id.is_empty() {
                        cx.problem(
                            format!("{at}.devices[{j}].id"),
                            format!("device {:?} is also {prev}", d.id),
                        );
                    }
                }
            }
        }
    }
}

impl Validate for EndpointConfig {
    fn validate(&self, at: &str, cx: &mut Check) {
        if self.name.is_empty() {
            cx.problem(
                join(at, "name"),
                "an endpoint needs a name (used in logs and metrics)",
            );
        }
        match self.transport {
            Transport::Tcp | Transport::RtuOverTcp => check_address(
                at,
                self.address.as_deref(),
                "missing: host:port of the device or gateway",
                cx,
            ),
            Transport::Rtu => check_serial(
                at,
                self.serial.as_ref(),
                "transport = \"rtu\" needs serial = { path, baud, ... }",
                cx,
            ),
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
                ("busy_retry", self.busy_retry),
                ("status_interval", self.status_interval),
            ],
            cx,
        );
        let day = Duration::from_secs(86400);
        let mut units = BTreeMap::new();
        for (j, d) in self.devices.iter().enumerate() {
            let dp = format!("{at}.devices[{j}]");
            if let Some(k) = units.insert(d.unit, j) {
                cx.problem(
                    join(&dp, "unit"),
                    format!("unit {} is also devices[{k}]", d.unit),
                );
            }
            if d.id.is_empty() || d.id.contains(['\n', '\r']) {
                cx.problem(join(&dp, "id"), "a device needs an id (its `device` tag)");
            }
            if d.profile.is_empty() {
                cx.problem(
                    join(&dp, "profile"),
                    "missing: the device profile with its register map",
                );
            }
            if self.transport != Transport::Tcp && !(1..=247).contains(&d.unit) {
                cx.problem(
                    join(&dp, "unit"),
                    format!("RTU unit ids run from 1 to 247, got {}", d.unit),
                );
            }
            if d.poll_interval.is_zero() || d.poll_interval > 7 * day {
                cx.problem(
                    join(&dp, "poll_interval"),
                    "must be positive and at most 7 days",
                );
            }
            for (g, iv) in &d.group_intervals {
                if iv.0.is_zero() || iv.0 > 7 * day {
                    cx.problem(
                        format!("{dp}.group_intervals.{g}"),
                        "must be positive and at most 7 days",
                    );
                }
            }
            if let Some(m) = d.max_request {
                if m == 0 || m > crate::profiles::modbus::MAX_REGISTERS {
                    cx.problem(
                        join(&dp, "max_request"),
                        format!("must be 1 to 125, got {m}"),
                    );
                }
            }
            if d.max_gap
                .is_some_and(|g| g >= crate::profiles::modbus::MAX_REGISTERS)
            {
                cx.problem(join(&dp, "max_gap"), "must be below 125");
            }
        }
    }
}

impl CheckRefs for ModbusConfig {
    fn check_refs(&self, path: &str, profiles: &ProfileSet, cx: &mut Check) {
        for (i, e) in self.endpoints.iter().enumerate() {
            for (j, d) in e.devices.iter().enumerate() {
                let dp = format!("{}[{i}].devices[{j}]", join(path, "endpoints"));
                let Some(p) = profiles.get(&d.profile) else {
                    cx.problem(
                        join(&dp, "profile"),
                        format!("no profile named {:?} is loaded", d.profile),
                    );
                    continue;
                };
                let Some(map) = &p.modbus else {
                    cx.problem(
                        join(&dp, "profile"),
                        format!("profile {:?} has no [modbus] register map", d.profile),
                    );
                    continue;
                };
                for g in d.group_intervals.keys() {
                    if !map.groups.contains_key(g) {
                        cx.problem(
                            format!("{dp}.group_intervals.{g}"),
                            format!("profile {:?} has no group {g:?}", d.profile),
                        );
                    }
                }
                if let (Some(m), Ok(specs)) = (d.max_request, map.resolve()) {
                    for s in specs.iter().filter(|s| !s.table.is_bits() && s.width > m) {
                        cx.problem(
                            join(&dp, "max_request"),
                            format!(
                                "field {:?} needs {} registers in one read, more than {m}",
                                s.name, s.width
                            ),
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
