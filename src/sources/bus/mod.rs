//! The one per-bus driver, shared by the Modbus source and the meter
//! source (DL/T 645, CJ/T 188): the protocols differ only in their codec
//! and in what one poll of one device asks.
//!
//! The split follows tokio-modbus's `Client` and Telegraf's gatherer:
//! - a [`Link`] opens a line (TCP socket, serial port) and makes one call
//!   on it under a timeout — the protocol's transport and codec;
//! - a [`BusDevice`] knows its schedule (groups of values at their own
//!   intervals) and what one poll asks, through [`Line::request`];
//! - [`driver::run`] owns the line and everything the buses have in common.
//!
//! Invariants the driver keeps for every protocol:
//! - one task per bus, so one request in flight on it; every request and
//!   every connect runs under the bus's `timeout`; `inter_request_delay`
//!   separates two requests;
//! - an error whose [`CallError::reconnect`] is true drops the connection
//!   (a late answer would poison the next request);
//! - a device whose poll failed `degraded_after` times in a row is offline
//!   and degraded: it is polled once per back-off period (capped at
//!   `reconnect_max`), so it costs its bus at most one timeout per period;
//! - reconnecting after a failed connect waits a capped, jittered back-off;
//! - `device_status` readings (online, rtt_ms, errors) on every change of
//!   state and at least every `status_interval`;
//! - requests, polls, errors by kind, round-trip time and online state are
//!   metrics whose names the protocol gives ([`Names`]).

pub(crate) mod check;
pub mod driver;
pub mod line;
pub mod schedule;
pub mod serial;

use std::future::Future;
use std::io;
use std::time::Duration;

use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::deadletter::DeadLetter;
use crate::metrics::{self, Counter, Gauge};
use crate::model::{FieldValue, Reading};
use crate::pipeline::Origin;

pub use driver::run;
pub use line::Line;
pub use schedule::{advance, later};

/// The settings every bus has, whatever its protocol.
#[derive(Debug, Clone)]
pub struct BusSettings {
    pub name: String,
    pub timeout: Duration,
    pub inter_request_delay: Duration,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    pub degraded_after: u32,
    /// Wait before retrying a request the device said it is too busy for.
    pub busy_retry: Duration,
    pub busy_retries: u32,
    pub status_interval: Duration,
}

/// What a protocol's metrics, logs and readings are called. Metric names
/// are part of the operator's interface, so each protocol keeps its own.
#[derive(Debug)]
pub struct Names {
    /// In log messages: "Modbus", "Meter".
    pub protocol: &'static str,
    /// The `source` tag of `device_status` readings.
    pub source: &'static str,
    /// The batches' origin (decides the outboxes).
    pub origin: Origin,
    /// The label naming the bus in metrics (`endpoint`, `bus`).
    pub bus_label: &'static str,
    pub requests: &'static str,
    pub polls: &'static str,
    pub online: &'static str,
    pub rtt: &'static str,
    pub errors: &'static str,
    pub errors_help: &'static str,
    pub lateness: &'static str,
}

/// Opens a line and makes single calls on it: the protocol half of a bus.
pub trait Link: Send + Sync + 'static {
    type Conn: Send;
    type Request: std::fmt::Display + Sync;
    type Answer: Send;
    type Error: CallError;
    /// Opens the line (the driver puts a timeout around it).
    fn connect(&self) -> impl Future<Output = io::Result<Self::Conn>> + Send;
    /// One request and its answer, within `limit`.
    fn call<'a>(
        &'a self,
        conn: &'a mut Self::Conn,
        req: &'a Self::Request,
        limit: Duration,
    ) -> impl Future<Output = Result<Self::Answer, Self::Error>> + Send + 'a;
    /// Closes a connection that is being dropped (best effort).
    fn close(&self, conn: Self::Conn) -> impl Future<Output = ()> + Send;
}

/// What the driver needs to know about a failed call.
pub trait CallError: std::fmt::Display + Send {
    /// The error for "no connection" (a connect that failed or waits).
    fn transport(e: io::Error) -> Self;
    /// The connection can no longer be trusted: drop it.
    fn reconnect(&self) -> bool;
    /// The device asks to be asked again shortly.
    fn busy(&self) -> bool {
        false
    }
    /// The `kind` label of the errors counter.
    fn kind(&self) -> &'static str;
}

/// What one poll of one device gave.
#[derive(Debug, Default)]
pub struct Polled {
    /// The device answered (anything, even a refusal) and the line held.
    pub answered: bool,
    pub readings: Vec<Reading>,
    pub dead: Vec<DeadLetter>,
}

/// One device on a bus: its schedule and its poll. The driver keeps its
/// [`Health`] and decides degraded mode and status from [`Polled`].
pub trait BusDevice<L: Link>: Send {
    fn id(&self) -> &str;
    fn health(&mut self) -> &mut Health;
    /// How many schedule groups it has, and when each is due.
    fn groups(&self) -> usize;
    fn next_due(&self, group: usize) -> Instant;
    /// Moves group `group`'s schedule on after a poll at `now`.
    fn advance(&mut self, group: usize, now: Instant);
    /// No group before `until` (a degraded device's back-off).
    fn postpone(&mut self, until: Instant);
    /// Polls the `due` groups; `time_ns` is the wall time of the poll.
    fn poll<'a>(
        &'a mut self,
        line: &'a mut Line<L>,
        tally: &'a Tally,
        due: &'a [usize],
        time_ns: i64,
    ) -> impl Future<Output = Polled> + Send + 'a;
}

/// A device's health as the driver tracks it.
#[derive(Debug, Clone)]
pub struct Health {
    /// Consecutive polls that ended in a timeout or broken connection.
    pub failures: u32,
    /// The back-off of a degraded device (one attempt per period).
    pub backoff: Backoff,
    pub online: Option<bool>,
    pub errors: u64,
    pub last_rtt: Option<Duration>,
    pub last_status: Option<Instant>,
}

impl Health {
    pub fn new(backoff: Backoff) -> Self {
        Health {
            failures: 0,
            backoff,
            online: None,
            errors: 0,
            last_rtt: None,
            last_status: None,
        }
    }

    /// A `device_status` reading: `online`, `rtt_ms`, `errors`.
    pub fn status(&self, device: &str, source: &str, time_ns: i64) -> Reading {
        let mut r = Reading::new("device_status", time_ns);
        r.set_tag("device", device.to_string());
        r.set_tag("source", source.to_string());
        r.add_field("online", FieldValue::Bool(self.online.unwrap_or(false)));
        if let Some(rtt) = self.last_rtt {
            r.add_field("rtt_ms", FieldValue::Float(rtt.as_secs_f64() * 1000.0));
        }
        r.add_field("errors", FieldValue::Int(self.errors as i64));
        r
    }
}

/// Per-device metric handles, looked up once, and the names to count
/// errors under.
pub struct Tally {
    pub bus: String,
    pub device: String,
    names: &'static Names,
    pub requests: Counter,
    pub polls: Counter,
    pub online: Gauge,
    pub rtt_us: Gauge,
}

impl Tally {
    pub fn new(names: &'static Names, bus: &str, device: &str) -> Self {
        let l: &[(&'static str, &str)] = &[(names.bus_label, bus), ("device", device)];
        Tally {
            bus: bus.to_string(),
            device: device.to_string(),
            names,
            requests: metrics::counter(names.requests, "Requests sent.", l),
            polls: metrics::counter(
                names.polls,
                "Device polls started (one per due schedule).",
                l,
            ),
            online: metrics::gauge(
                names.online,
                "1 when the device answers, 0 when offline.",
                l,
            ),
            rtt_us: metrics::gauge(
                names.rtt,
                "Round-trip time of the last answered request.",
                l,
            ),
        }
    }

    /// Counts one failed request of `kind`.
    pub fn error(&self, kind: &'static str) {
        metrics::counter(
            self.names.errors,
            self.names.errors_help,
            &[
                (self.names.bus_label, &self.bus),
                ("device", &self.device),
                ("kind", kind),
            ],
        )
        .inc();
    }

    pub fn names(&self) -> &'static Names {
        self.names
    }
}
