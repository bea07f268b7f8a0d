//! One poller per endpoint (TCP address or serial bus): the only task that
//! talks on that line, so there is never more than one request in flight on
//! it. Different endpoints poll concurrently, in their own tasks.
//!
//! Invariants:
//! - every request and every connect runs under the endpoint's `timeout`;
//! - after a timeout, transport error or mismatched response the connection
//!   is dropped (a late answer would poison the next request) and the
//!   device's remaining reads of that poll are skipped, so one poll of a
//!   dead device costs the line at most one timeout;
//! - an exception keeps the connection and marks the read's registers,
//!   except a gateway's "target device failed to respond" (10, 11), which
//!   keeps the connection but counts as a failed poll of that device;
//!   "busy" is retried `busy_retries` times after `busy_retry`; a coalesced
//!   read refused with any exception is halved until the refusing registers
//!   are isolated, which are then retried after the device's back-off
//!   (see [`super::refusal`]);
//! - a device that failed `degraded_after` polls in a row is offline and
//!   degraded: it is tried once per back-off period (growing to
//!   `reconnect_max`) until it answers again;
//! - reconnecting after a failed connect waits a capped, jittered back-off.
//!
//! Schedules run on Tokio time; readings carry the wall time of the poll.

use std::time::Duration;

use tokio::time::{sleep, sleep_until, Instant};
use tokio_modbus::client::Context;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::config::EndpointConfig;
use super::decode::Data;
use super::device::Device;
use super::planner::{self, Read};
use super::refusal::{self, Decision};
use super::transport::{self, ReadError};
use crate::backoff::Backoff;
use crate::metrics::{self, Counter, Gauge};
use crate::model::now_ns;
use crate::pipeline::{Origin, SourceBatch, SourceTx};

struct Line {
    cfg: EndpointConfig,
    conn: Option<Context>,
    backoff: Backoff,
    /// No connect attempt before this instant.
    reconnect_at: Option<Instant>,
    last_request: Option<Instant>,
    lateness_max: Gauge,
}

/// Per-device metric handles, looked up once.
struct DeviceMetrics {
    requests: Counter,
    polls: Counter,
    online: Gauge,
    rtt_us: Gauge,
}

impl DeviceMetrics {
    fn new(endpoint: &str, device: &str) -> Self {
        let l: &[(&'static str, &str)] = &[("endpoint", endpoint), ("device", device)];
        DeviceMetrics {
            requests: metrics::counter("modbus_requests_total", "Modbus requests sent.", l),
            polls: metrics::counter(
                "modbus_polls_total",
                "Device polls started (one per due schedule).",
                l,
            ),
            online: metrics::gauge(
                "modbus_device_online",
                "1 when the device answers, 0 when offline.",
                l,
            ),
            rtt_us: metrics::gauge(
                "modbus_rtt_microseconds",
                "Round-trip time of the last answered request.",
                l,
            ),
        }
    }
}

fn count_error(endpoint: &str, device: &str, kind: &'static str) {
    metrics::counter(
        "modbus_request_errors_total",
        "Modbus requests that failed, by kind (timeout, transport, mismatch, gateway, busy, exception, connect).",
        &[("endpoint", endpoint), ("device", device), ("kind", kind)],
    )
    .inc();
}

/// Polls `devices` on one endpoint until `shutdown` is cancelled.
pub async fn run_endpoint(
    cfg: EndpointConfig,
    mut devices: Vec<Device>,
    tx: SourceTx,
    shutdown: CancellationToken,
) {
    let metrics: Vec<DeviceMetrics> = devices
        .iter()
        .map(|d| DeviceMetrics::new(&cfg.name, &d.id))
        .collect();
    let mut line = Line {
        backoff: Backoff::new(cfg.reconnect_min, cfg.reconnect_max),
        lateness_max: metrics::gauge(
            "modbus_poll_lateness_max_microseconds",
            "Worst lateness of a poll against its schedule since start.",
            &[("endpoint", &cfg.name)],
        ),
        cfg,
        conn: None,
        reconnect_at: None,
        last_request: None,
    };
    loop {
        let Some(due) = devices
            .iter()
            .flat_map(|d| d.groups.iter().map(|g| g.next_due))
            .min()
        else {
            shutdown.cancelled().await;
            return;
        };
        let wake = line.reconnect_at.map_or(due, |r| r.max(due));
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = sleep_until(wake) => {}
        }
        for (d, m) in devices.iter_mut().zip(&metrics) {
            if shutdown.is_cancelled() {
                return;
            }
            let now = Instant::now();
            let due: Vec<usize> = (0..d.groups.len())
                .filter(|&g| d.groups[g].next_due <= now)
                .collect();
            if due.is_empty() {
                continue;
            }
            let batch = tokio::select! {
                _ = shutdown.cancelled() => return,
                b = poll_device(&mut line, d, m, &due) => b,
            };
            if !(batch.readings.is_empty() && batch.dead.is_empty()) {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    sent = tx.send(batch) => if sent.is_err() {
                        debug!(endpoint = %line.cfg.name, "Pipeline closed; Modbus poller stops.");
                        return;
                    }
                }
            }
        }
    }
}

/// How a poll of one device ended.
enum Outcome {
    /// At least one answer (data or exception), no broken connection.
    Answered,
    /// A timeout, broken connection or failed connect.
    Failed,
}

async fn poll_device(
    line: &mut Line,
    d: &mut Device,
    m: &DeviceMetrics,
    due: &[usize],
) -> SourceBatch {
    let time_ns = now_ns();
    let started = Instant::now();
    m.polls.inc();
    let mut answered: Vec<(Read, Data)> = Vec::new();
    let mut outcome = Outcome::Answered;
    // Whether the device answered anything (data or an exception) in this
    // poll, and the plan of a group as it was before a probing split on 0B.
    let mut alive = false;
    let mut probe: Option<(usize, Vec<Read>)> = None;
    'groups: for &g in due {
        let late = started.saturating_duration_since(d.groups[g].next_due);
        if late.as_micros() as i64 > line.lateness_max.get() {
            line.lateness_max.set(late.as_micros() as i64);
        }
        let mut k = 0;
        while k < d.groups[g].reads.len() {
            let read = d.groups[g].reads[k].clone();
            k += 1;
            if d.refusals.waiting(&read, Instant::now()) {
                continue;
            }
            let e = match request(line, d, m, &read).await {
                Ok(data) => {
                    (alive, probe) = (true, None);
                    if d.refusals.answered(&read) {
                        info!(endpoint = %line.cfg.name, device = %d.id, register = %read_label(&read), "Modbus registers readable again.");
                    }
                    answered.push((read, data));
                    continue;
                }
                Err(e) => e,
            };
            let halves = planner::halve(&d.specs, &read);
            match refusal::decide(&e, halves.is_some(), alive, probe.is_some()) {
                Decision::DeviceFailed => {
                    if let Some((pg, plan)) = probe.take() {
                        d.groups[pg].reads = plan;
                    }
                    outcome = Outcome::Failed;
                    break 'groups;
                }
                Decision::Split(code) => {
                    if matches!(e, ReadError::Gateway(_)) && !alive {
                        probe = Some((g, d.groups[g].reads.clone()));
                    } else {
                        (alive, probe) = (true, None);
                        refusal::count(&line.cfg.name, &d.id, code);
                    }
                    debug!(endpoint = %line.cfg.name, device = %d.id, register = %read_label(&read),
                        code = %refusal::code_label(code), meaning = %code,
                        "Modbus read refused; halving it to isolate the refusing registers.");
                    k -= 1;
                    d.groups[g]
                        .reads
                        .splice(k..k + 1, halves.into_iter().flatten());
                }
                Decision::Refused(code) => {
                    (alive, probe) = (true, None);
                    refusal::count(&line.cfg.name, &d.id, code);
                    let (new, retry_in) =
                        d.refusals.refuse(&read, Some(&d.backoff), Instant::now());
                    if new {
                        warn!(endpoint = %line.cfg.name, device = %d.id, register = %read_label(&read),
                            code = %refusal::code_label(code), meaning = %code, retry_in = ?retry_in,
                            event = "ModbusReadRefused", metric = "modbus_read_refusals_total",
                            "Modbus read refused; its neighbours are read without it, and it is retried after the back-off.");
                    }
                }
                Decision::Other => {
                    if d.refusals.refuse(&read, None, Instant::now()).0 {
                        warn!(endpoint = %line.cfg.name, device = %d.id, register = %read_label(&read), error = %e,
                            metric = "modbus_request_errors_total", kind = e.kind(),
                            "Modbus read failed; marking these registers and keeping the connection.");
                    }
                }
            }
        }
    }
    let now = Instant::now();
    for &g in due {
        d.groups[g].advance(now);
    }
    let was_online = d.online;
    match outcome {
        Outcome::Answered => {
            if d.failures >= line.cfg.degraded_after {
                info!(endpoint = %line.cfg.name, device = %d.id, "Modbus device online again.");
            }
            d.failures = 0;
            d.backoff.reset();
            d.online = Some(true);
        }
        Outcome::Failed => {
            d.failures += 1;
            if d.failures >= line.cfg.degraded_after {
                let wait = d.backoff.next_delay();
                for gr in &mut d.groups {
                    gr.next_due = gr.next_due.max(super::device::later(now, wait));
                }
                if d.online != Some(false) {
                    warn!(endpoint = %line.cfg.name, device = %d.id, failures = d.failures, retry_in = ?wait,
                        metric = "modbus_device_online",
                        "Modbus device offline; polling it once per back-off period.");
                }
                d.online = Some(false);
            }
        }
    }
    m.online.set(i64::from(d.online == Some(true)));
    let mut batch = SourceBatch {
        origin: Origin::Modbus,
        ..SourceBatch::default()
    };
    let (reading, dead) = d.readings(&answered, time_ns);
    batch.readings.extend(reading);
    batch.dead = dead;
    let status_due = d
        .last_status
        .map_or(true, |t| now.duration_since(t) >= line.cfg.status_interval);
    if d.online.is_some() && (was_online != d.online || status_due) {
        d.last_status = Some(now);
        batch.readings.push(d.status(time_ns));
    }
    batch
}

fn read_label(r: &Read) -> String {
    format!("{}:{}+{}", r.table.name(), r.start, r.count)
}

/// One read on the line: connect if needed, pace, retry "busy", count.
async fn request(
    line: &mut Line,
    d: &mut Device,
    m: &DeviceMetrics,
    read: &Read,
) -> Result<Data, ReadError> {
    let name = line.cfg.name.clone();
    let mut busy_left = line.cfg.busy_retries;
    loop {
        if line.conn.is_none() {
            if let Err(e) = connect(line, &d.id).await {
                d.errors += 1;
                return Err(e);
            }
        }
        if let Some(last) = line.last_request {
            let gap = line.cfg.inter_request_delay;
            if let Some(rest) = gap.checked_sub(last.elapsed()) {
                sleep(rest).await;
            }
        }
        let Some(conn) = line.conn.as_mut() else {
            return Err(ReadError::Transport(std::io::Error::from(
                std::io::ErrorKind::NotConnected,
            )));
        };
        let t0 = Instant::now();
        m.requests.inc();
        let result = transport::read(conn, d.unit, read, line.cfg.timeout).await;
        line.last_request = Some(Instant::now());
        match result {
            Ok(data) => {
                let rtt = t0.elapsed();
                d.last_rtt = Some(rtt);
                m.rtt_us.set(rtt.as_micros() as i64);
                line.backoff.reset();
                return Ok(data);
            }
            Err(e) => {
                d.errors += 1;
                count_error(&name, &d.id, e.kind());
                if e.reconnect() {
                    warn!(endpoint = %name, device = %d.id, register = %read_label(read), error = %e,
                        metric = "modbus_request_errors_total", kind = e.kind(),
                        "Modbus read failed; reconnecting.");
                    if let Some(mut c) = line.conn.take() {
                        let _ = tokio::time::timeout(
                            Duration::from_millis(100),
                            tokio_modbus::client::Client::disconnect(&mut c),
                        )
                        .await;
                    }
                    return Err(e);
                }
                if let ReadError::Gateway(_) = e {
                    debug!(endpoint = %name, device = %d.id, error = %e, "Modbus gateway reports the device silent.");
                }
                if matches!(e, ReadError::Busy) && busy_left > 0 {
                    busy_left -= 1;
                    debug!(endpoint = %name, device = %d.id, "Modbus device busy; retrying shortly.");
                    sleep(line.cfg.busy_retry).await;
                    continue;
                }
                return Err(e);
            }
        }
    }
}

/// Opens the line unless its back-off says wait; the wait is only ever
/// entered from the main loop, which sleeps until `reconnect_at`.
async fn connect(line: &mut Line, device: &str) -> Result<(), ReadError> {
    if line.reconnect_at.is_some_and(|t| Instant::now() < t) {
        return Err(ReadError::Transport(std::io::Error::other(
            "waiting to reconnect",
        )));
    }
    match transport::connect(&line.cfg).await {
        Ok(c) => {
            debug!(endpoint = %line.cfg.name, "Modbus connection open.");
            line.conn = Some(c);
            line.reconnect_at = None;
            Ok(())
        }
        Err(e) => {
            let wait = line.backoff.next_delay();
            line.reconnect_at = Some(super::device::later(Instant::now(), wait));
            count_error(&line.cfg.name, device, "connect");
            warn!(endpoint = %line.cfg.name, device = %device, error = %e, retry_in = ?wait,
                metric = "modbus_request_errors_total", kind = "connect", "Modbus connect failed; backing off.");
            Err(ReadError::Transport(e))
        }
    }
}
