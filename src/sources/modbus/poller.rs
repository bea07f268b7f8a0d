//! The Modbus half of a bus ([`crate::sources::bus`]): the line is a
//! tokio-modbus context, one request is one planned read, and one poll of
//! a device reads its due groups with the Modbus-specific handling of
//! exceptions. The per-bus discipline (one request in flight, timeouts,
//! pacing, reconnect back-off, degraded mode, online state, metrics,
//! `device_status`) is the shared driver's.
//!
//! Modbus specifics kept here:
//! - after a timeout, transport error or mismatched response the connection
//!   is dropped and the device's remaining reads of that poll are skipped,
//!   so one poll of a dead device costs the line at most one timeout;
//! - an exception keeps the connection and marks the read's registers,
//!   except a gateway's "target device failed to respond" (10, 11), which
//!   keeps the connection but counts as a failed poll of that device;
//!   "busy" is retried `busy_retries` times after `busy_retry`; a coalesced
//!   read refused with any exception is halved until the refusing registers
//!   are isolated, which are then retried after the device's back-off
//!   (see [`super::refusal`]).
//!
//! Schedules run on Tokio time; readings carry the wall time of the poll.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tokio_modbus::client::Context;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::config::EndpointConfig;
use super::decode::Data;
use super::device::Device;
use super::planner::{self, Read};
use super::refusal::{self, Decision};
use super::transport::{self, ReadError};
use crate::pipeline::{Origin, SourceTx};
use crate::sources::bus::{
    self, BusDevice, BusSettings, CallError, Health, Line, Link, Names, Polled, Tally,
};

/// The Modbus metric names (unchanged since the poller was Modbus-only).
pub static NAMES: Names = Names {
    protocol: "Modbus",
    source: "modbus",
    origin: Origin::Modbus,
    bus_label: "endpoint",
    requests: "modbus_requests_total",
    polls: "modbus_polls_total",
    online: "modbus_device_online",
    rtt: "modbus_rtt_microseconds",
    errors: "modbus_request_errors_total",
    errors_help: "Modbus requests that failed, by kind (timeout, transport, mismatch, gateway, busy, exception, connect).",
    lateness: "modbus_poll_lateness_max_microseconds",
};

/// Polls `devices` on one endpoint until `shutdown` is cancelled.
pub async fn run_endpoint(
    cfg: EndpointConfig,
    devices: Vec<Device>,
    tx: SourceTx,
    shutdown: CancellationToken,
) {
    let settings = BusSettings {
        name: cfg.name.clone(),
        timeout: cfg.timeout,
        inter_request_delay: cfg.inter_request_delay,
        reconnect_min: cfg.reconnect_min,
        reconnect_max: cfg.reconnect_max,
        degraded_after: cfg.degraded_after,
        busy_retry: cfg.busy_retry,
        busy_retries: cfg.busy_retries,
        status_interval: cfg.status_interval,
    };
    bus::run(&NAMES, settings, ModbusLink(cfg), devices, tx, shutdown).await
}

/// An endpoint's line through tokio-modbus.
pub struct ModbusLink(pub EndpointConfig);

/// One planned read of one unit.
pub struct ModbusRequest {
    pub unit: u8,
    pub read: Read,
}

impl fmt::Display for ModbusRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&read_label(&self.read))
    }
}

impl CallError for ReadError {
    fn transport(e: std::io::Error) -> Self {
        ReadError::Transport(e)
    }
    fn reconnect(&self) -> bool {
        ReadError::reconnect(self)
    }
    fn busy(&self) -> bool {
        matches!(self, ReadError::Busy)
    }
    fn kind(&self) -> &'static str {
        ReadError::kind(self)
    }
}

impl Link for ModbusLink {
    type Conn = Context;
    type Request = ModbusRequest;
    type Answer = Data;
    type Error = ReadError;

    fn connect(&self) -> impl Future<Output = std::io::Result<Context>> + Send {
        transport::connect(&self.0)
    }

    fn call<'a>(
        &'a self,
        conn: &'a mut Context,
        req: &'a ModbusRequest,
        limit: Duration,
    ) -> impl Future<Output = Result<Data, ReadError>> + Send + 'a {
        transport::read(conn, req.unit, &req.read, limit)
    }

    async fn close(&self, mut conn: Context) {
        let _ = tokio_modbus::client::Client::disconnect(&mut conn).await;
    }
}

impl BusDevice<ModbusLink> for Device {
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
            g.advance(now);
        }
    }
    fn postpone(&mut self, until: Instant) {
        for g in &mut self.groups {
            g.next_due = g.next_due.max(until);
        }
    }
    async fn poll(
        &mut self,
        line: &mut Line<ModbusLink>,
        tally: &Tally,
        due: &[usize],
        time_ns: i64,
    ) -> Polled {
        poll_device(line, self, tally, due, time_ns).await
    }
}

async fn poll_device(
    line: &mut Line<ModbusLink>,
    d: &mut Device,
    m: &Tally,
    due: &[usize],
    time_ns: i64,
) -> Polled {
    let name = line.cfg.name.clone();
    let mut answered: Vec<(Read, Data)> = Vec::new();
    let mut failed = false;
    // Whether the device answered anything (data or an exception) in this
    // poll, and the plan of a group as it was before a probing split on 0B.
    let mut alive = false;
    let mut probe: Option<(usize, Vec<Read>)> = None;
    'groups: for &g in due {
        let mut k = 0;
        while k < d.groups[g].reads.len() {
            let read = d.groups[g].reads[k].clone();
            k += 1;
            if d.refusals.waiting(&read, Instant::now()) {
                continue;
            }
            let req = ModbusRequest { unit: d.unit, read };
            let result = line.request(&mut d.health, m, &req).await;
            let read = req.read;
            let e = match result {
                Ok(data) => {
                    (alive, probe) = (true, None);
                    if d.refusals.answered(&read) {
                        info!(endpoint = %name, device = %d.id, register = %read_label(&read), "Modbus registers readable again.");
                    }
                    answered.push((read, data));
                    continue;
                }
                Err(e) => e,
            };
            if let ReadError::Gateway(_) = e {
                debug!(endpoint = %name, device = %d.id, error = %e, "Modbus gateway reports the device silent.");
            }
            let halves = planner::halve(&d.specs, &read);
            match refusal::decide(&e, halves.is_some(), alive, probe.is_some()) {
                Decision::DeviceFailed => {
                    if let Some((pg, plan)) = probe.take() {
                        d.groups[pg].reads = plan;
                    }
                    failed = true;
                    break 'groups;
                }
                Decision::Split(code) => {
                    if matches!(e, ReadError::Gateway(_)) && !alive {
                        probe = Some((g, d.groups[g].reads.clone()));
                    } else {
                        (alive, probe) = (true, None);
                        refusal::count(&name, &d.id, code);
                    }
                    debug!(endpoint = %name, device = %d.id, register = %read_label(&read),
                        code = %refusal::code_label(code), meaning = %code,
                        "Modbus read refused; halving it to isolate the refusing registers.");
                    k -= 1;
                    d.groups[g]
                        .reads
                        .splice(k..k + 1, halves.into_iter().flatten());
                }
                Decision::Refused(code) => {
                    (alive, probe) = (true, None);
                    refusal::count(&name, &d.id, code);
                    let (new, retry_in) =
                        d.refusals
                            .refuse(&read, Some(&d.health.backoff), Instant::now());
                    if new {
                        warn!(endpoint = %name, device = %d.id, register = %read_label(&read),
                            code = %refusal::code_label(code), meaning = %code, retry_in = ?retry_in,
                            event = "ModbusReadRefused", metric = "modbus_read_refusals_total",
                            "Modbus read refused; its neighbours are read without it, and it is retried after the back-off.");
                    }
                }
                Decision::Other => {
                    if d.refusals.refuse(&read, None, Instant::now()).0 {
                        warn!(endpoint = %name, device = %d.id, register = %read_label(&read), error = %e,
                            metric = "modbus_request_errors_total", kind = e.kind(),
                            "Modbus read failed; marking these registers and keeping the connection.");
                    }
                }
            }
        }
    }
    let (reading, dead) = d.readings(&answered, time_ns);
    Polled {
        answered: !failed,
        readings: reading.into_iter().collect(),
        dead,
    }
}

fn read_label(r: &Read) -> String {
    format!("{}:{}+{}", r.table.name(), r.start, r.count)
}
