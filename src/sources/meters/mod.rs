//! Meter source: DL/T 645 electricity meters and CJ/T 188 water meters on
//! RS-485 buses, through a local serial port or a serial device server.
//!
//! The codecs are pure (`crate::protocols::{dlt645, cjt188}`); the per-bus
//! discipline is the shared bus driver's (`crate::sources::bus`), the same
//! one the Modbus source uses. This folder holds only what is meter-specific:
//! - [`config`]: buses and meters (`[sources.meters]`), no I/O;
//! - meter maps (device profiles' `[meter]` tables) live in
//!   [`crate::profiles::meter`];
//! - [`link`]: the line and one request/first-frame exchange on it;
//! - [`reply`]: request frames, reply checks and values (pure);
//! - [`meter`]: one meter's schedule and poll;
//! - [`discover`]: the address of the single meter on a bus (`AA…`).

pub mod config;
pub mod discover;
pub mod link;
pub mod meter;
pub mod reply;

use std::sync::Arc;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, Instrument};

use crate::backoff::Backoff;
use crate::pipeline::{Origin, SourceTx};
use crate::profiles::ProfileSet;
use crate::sources::bus::{self, BusSettings, Names};

pub use discover::discover;

/// The meter source's metric names.
pub static NAMES: Names = Names {
    protocol: "Meter",
    source: "meters",
    origin: Origin::Meter,
    bus_label: "bus",
    requests: "meter_requests_total",
    polls: "meter_polls_total",
    online: "meter_online",
    rtt: "meter_rtt_microseconds",
    errors: "meter_request_errors_total",
    errors_help: "Meter requests that gave no usable answer, by kind (timeout, truncated, bad_checksum, wrong_address, error_reply, unexpected, value, unit_code, transport, connect).",
    lateness: "meter_poll_lateness_max_microseconds",
};

/// The bus settings of a `[[sources.meters.buses]]` entry.
pub fn settings(b: &config::BusConfig) -> BusSettings {
    BusSettings {
        name: b.name.clone(),
        timeout: b.timeout,
        inter_request_delay: b.inter_request_delay,
        reconnect_min: b.reconnect_min,
        reconnect_max: b.reconnect_max,
        degraded_after: b.degraded_after,
        busy_retry: std::time::Duration::ZERO,
        busy_retries: 0,
        status_interval: b.status_interval,
    }
}

/// Polls every configured bus until `shutdown` is cancelled. A meter whose
/// profile is missing or invalid (which `greengate check` reports) is
/// logged and skipped; the others still poll.
pub async fn run(
    cfg: config::MetersConfig,
    profiles: Arc<ProfileSet>,
    tx: SourceTx,
    shutdown: CancellationToken,
) {
    let mut tasks = tokio::task::JoinSet::new();
    let now = Instant::now();
    for b in cfg.buses {
        let n = b.meters.len().max(1) as f64;
        let mut meters = Vec::new();
        for (k, m) in b.meters.iter().enumerate() {
            let built = profiles
                .get(&m.profile)
                .ok_or_else(|| format!("no profile named {:?} is loaded", m.profile))
                .and_then(|p| {
                    let min = m.poll_interval.max(b.reconnect_min);
                    let backoff = Backoff::new(min, b.reconnect_max.max(min));
                    meter::Meter::new(m, p, b.preamble, backoff, now, k as f64 / n)
                });
            match built {
                Ok(dev) => meters.push(dev),
                Err(e) => error!(bus = %b.name, meter = %m.id, error = %e, "Meter skipped."),
            }
        }
        let requests: usize = meters.iter().map(|m| m.requests_per_cycle()).sum();
        info!(bus = %b.name, meters = meters.len(), requests_per_cycle = requests, "Meter bus polling.");
        let span = tracing::info_span!("meters", bus = %b.name);
        let s = settings(&b);
        let link = link::MeterLink { cfg: b };
        tasks.spawn(
            bus::run(&NAMES, s, link, meters, tx.clone(), shutdown.clone()).instrument(span),
        );
    }
    drop(tx);
    shutdown.cancelled().await;
    while tasks.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests;
