//! HJ 212 source: a TCP server for noise (and dust) monitoring stations
//! that upload in HJ 212-2017 (README.md beside this file).
//!
//! ```text
//! station --TCP--> accept (max_connections) --> conn (buffer, deadlines, bucket)
//!    --frame--> session (PW, MN, CRC, reassembly, map) --SourceBatch--> pipeline
//!    <--9014-- writer <-- Ack fired after the group commit
//! ```
//!
//! Invariants:
//! - a 9014 leaves only through the [`crate::pipeline::Ack`] of its batch,
//!   which the pipeline fires after the readings (or the dead letter) are
//!   in every outbox, the same rule as the MQTT PUBACK: a station that
//!   got its 9014 can forget the data, and a killed daemon has lost none;
//! - a frame never waits for another connection: each connection is a
//!   task with its own bounded buffer, deadlines, pacing and reassembler;
//!   they share only the pipeline channel (back-pressure);
//! - nothing read from a station is trusted: a bad frame costs its own
//!   bytes only, and is counted (`hj212_*`, docs/metrics.md) and, where
//!   data was involved, dead-lettered with its PW redacted;
//! - on shutdown the listener closes first; connections stop reading and
//!   keep writing the answers the pipeline still fires (at most 10 s).

mod answer;
pub mod config;
mod conn;
mod counters;
pub mod map;
mod session;
mod stations;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn, Instrument};

use crate::backoff::Backoff;
use crate::pipeline::SourceTx;
use crate::protocols::hj212::Limits;
use config::Hj212Config;
use counters::Counters;
use session::Shared;

/// The readiness component: `hj212:<listen>`.
pub fn component(cfg: &Hj212Config) -> String {
    format!("hj212:{}", cfg.listen)
}

/// Serves stations until `shutdown`; `site_offset_s` is the site's UTC
/// offset (stations' DataTime is local time unless `utc_offset` says).
pub async fn run(cfg: Hj212Config, site_offset_s: i32, tx: SourceTx, shutdown: CancellationToken) {
    let ready = component(&cfg);
    crate::http::set_ready(&ready, false);
    let shared = Arc::new(Shared {
        stations: stations::Stations::new(&cfg),
        mapping: map::Mapping::new(
            &cfg.factor_codes,
            cfg.offset_seconds(site_offset_s),
            cfg.minute_data_feeds_indicators,
        ),
        limits: Limits {
            messages: cfg.max_pending_uploads,
            bytes: cfg.max_upload_bytes,
            packets: cfg.max_packets,
        },
        c: Counters::new(),
    });
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    let listener = loop {
        match TcpListener::bind(cfg.listen).await {
            Ok(l) => break l,
            Err(e) => {
                let delay = backoff.next_delay();
                error!(listen = %cfg.listen, error = %e, retry_in = ?delay, "HJ 212 server cannot listen; retrying.");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    };
    info!(listen = %cfg.listen, stations = cfg.stations.len(), "HJ 212 server listening.");
    crate::http::set_ready(&ready, true);
    let cfg = Arc::new(cfg);
    let slots = Arc::new(tokio::sync::Semaphore::new(cfg.max_connections));
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
            // Reap finished connections so the set does not grow.
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(s) => s,
            Err(e) => {
                // Out of descriptors and the like: wait, do not spin.
                let delay = backoff.next_delay();
                warn!(error = %e, retry_in = ?delay, "HJ 212 accept failed.");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(delay) => {}
                }
                continue;
            }
        };
        backoff.reset();
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            shared.c.refused.inc();
            warn!(peer = %peer, max = cfg.max_connections, "HJ 212 connection refused: max_connections open.");
            drop(stream);
            continue;
        };
        shared.c.connections.inc();
        shared.c.open.add(1);
        let c = conn::Conn::new(cfg.clone(), shared.clone(), peer);
        let (tx, stop, open) = (tx.clone(), shutdown.clone(), shared.c.open.clone());
        let span = tracing::info_span!("station", peer = %peer);
        conns.spawn(
            async move {
                c.run(stream, tx, stop).await;
                open.add(-1);
                drop(permit);
            }
            .instrument(span),
        );
    }
    drop(listener);
    crate::http::set_ready(&ready, false);
    drop(tx);
    while conns.join_next().await.is_some() {}
    info!("HJ 212 server stopped.");
}
