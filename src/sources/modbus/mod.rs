//! Modbus source: polls TCP, RTU and RTU-over-TCP devices with few requests,
//! and never lets one bad device stall the rest.
//!
//! Layers (each pure layer is unit-tested beside its code):
//! - [`config`]: endpoints and devices (`[sources.modbus]`), no I/O;
//! - register maps (device profiles' `[modbus]` tables, resolved and
//!   validated) live in [`crate::profiles::modbus`];
//! - [`planner`]: coalesces a device's registers into few reads;
//! - [`decode`]: words and bits into typed, scaled, unit-normalised values;
//! - [`rbe`]: report by exception (deadband and heartbeat);
//! - [`refusal`]: exception answers: splitting coalesced reads, retry back-off;
//! - [`device`]: one device's plan, schedule, health and reading assembly;
//! - [`transport`]: connecting and single reads under a timeout;
//! - [`poller`]: one task per endpoint owning its line.

pub mod config;
pub mod decode;
pub mod device;
pub mod planner;
pub mod poller;
pub mod rbe;
pub mod refusal;
pub mod transport;

use std::sync::Arc;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, Instrument};

use crate::backoff::Backoff;
use crate::pipeline::SourceTx;
use crate::profiles::ProfileSet;

/// Polls every configured endpoint until `shutdown` is cancelled.
///
/// A device whose profile is missing or invalid (which `greengate check`
/// reports) is logged and skipped; the others still poll.
pub async fn run(
    cfg: config::ModbusConfig,
    profiles: Arc<ProfileSet>,
    tx: SourceTx,
    shutdown: CancellationToken,
) {
    let mut tasks = tokio::task::JoinSet::new();
    let now = Instant::now();
    let endpoints = cfg.endpoints.len().max(1) as f64;
    for (e, ep) in cfg.endpoints.into_iter().enumerate() {
        let mut devices = Vec::new();
        // First polls are spread over the interval: the devices of a line
        // evenly, and the lines among each other within one device's slot.
        let n = ep.devices.len().max(1) as f64;
        for (k, d) in ep.devices.iter().enumerate() {
            let built = profiles
                .get(&d.profile)
                .ok_or_else(|| format!("no profile named {:?} is loaded", d.profile))
                .and_then(|p| {
                    let min = d.poll_interval.max(ep.reconnect_min);
                    let backoff = Backoff::new(min, ep.reconnect_max.max(min));
                    device::Device::new(d, p, backoff, now, (k as f64 + e as f64 / endpoints) / n)
                });
            match built {
                Ok(dev) => devices.push(dev),
                Err(e) => {
                    error!(endpoint = %ep.name, device = %d.id, error = %e, "Modbus device skipped.")
                }
            }
        }
        let requests: usize = devices.iter().map(|d| d.requests_per_cycle()).sum();
        info!(endpoint = %ep.name, devices = devices.len(), requests_per_cycle = requests, "Modbus endpoint polling.");
        let span = tracing::info_span!("modbus", endpoint = %ep.name);
        tasks.spawn(
            poller::run_endpoint(ep, devices, tx.clone(), shutdown.clone()).instrument(span),
        );
    }
    drop(tx);
    shutdown.cancelled().await;
    while tasks.join_next().await.is_some() {}
}
