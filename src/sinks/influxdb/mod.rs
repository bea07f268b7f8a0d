//! The InfluxDB sink: batches of line protocol from the outbox, written with
//! the v2 API (`/api/v2/write`, InfluxDB 2.x/3.x and VictoriaMetrics) or the
//! v1 API (`/write`, InfluxDB 1.x), gzip-compressed, nanosecond precision.
//!
//! Two layers:
//! - [`InfluxWriter::write`] takes one batch and returns when every line is
//!   stored (2xx) or dead-lettered, or when shutdown is requested (then the
//!   batch is not acknowledged and stays in the outbox);
//! - [`run`] is the loop: next batch from the outbox, write, acknowledge.
//!
//! What each answer means is a pure function in [`outcome`]:
//! - 2xx: done.
//! - 429, 5xx, timeouts, connection errors: the same lines again after a
//!   capped, jittered backoff (`retry_min`..`retry_max`) that honours
//!   `Retry-After` (seconds or HTTP date, capped at `retry_max`). Forever:
//!   data is never dropped because the store is down.
//! - 401, 403, 404 (and other unexpected 4xx/3xx): a configuration problem
//!   (token, database, bucket). Logged as an error and retried the same way;
//!   the data waits for an operator, it is not dead-lettered.
//! - 413: the batch is split in halves, recursively; a single line that is
//!   still too large is dead-lettered. The smallest refused size is
//!   remembered (until restart) and larger pieces are split before sending.
//! - 400/422: the batch is bisected until the bad lines are isolated; good
//!   lines are written, each bad line is dead-lettered with the status and
//!   the store's answer. InfluxDB 1.x answers a field type conflict with a
//!   400 "partial write" after storing the other lines: re-sending them while
//!   bisecting writes identical points, which is harmless. When its
//!   `dropped=N` covers every line of a piece, the piece is dead-lettered
//!   without bisecting further. (Fewer dropped lines prove nothing about the
//!   rest: InfluxDB 1.x reports only the first failing shard.)
//!
//! Invariants: the sink holds one batch at a time (pieces are slices of it),
//! so a slow or absent store slows acknowledgement and never grows memory; a
//! batch is acknowledged only after each of its lines is stored or
//! dead-lettered. Shutdown during a batch leaves it unacknowledged: after a
//! restart it is written again (duplicates are identical points).
//!
//! Events (log `event` field = metric, label `sink`): `InfluxBatchRetried`
//! (`influx_batches_retried_total`, `influx_write_errors_total{kind}`),
//! `InfluxBatchSplit` (`influx_batch_splits_total`), `InfluxLinesDeadLettered`
//! (`influx_lines_dead_lettered_total`), plus `influx_batches_written_total`
//! and `influx_lines_written_total`. Secrets are never logged.

mod client;
pub mod config;
pub mod outcome;
mod redact;
pub use client::error_chain;
pub use redact::Redactor;
pub mod split;
mod writer;

pub use writer::{InfluxWriter, Interrupted, Written};

use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::deadletter::DeadLetterWriter;
use crate::outbox::OutboxReader;

/// Why the sink cannot start writing.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InfluxError {
    /// The settings do not describe a usable endpoint (validation catches this first).
    #[error("invalid InfluxDB sink settings: {0}")]
    Config(String),
    /// The HTTP client could not be built (TLS setup).
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// The `sink` label of this sink's metrics.
pub const SINK: &str = "influxdb";

/// Writes batches from `reader` until it is drained and closed, or until
/// `shutdown` is cancelled (unsent records stay in the outbox).
pub async fn run(
    cfg: config::InfluxDbConfig,
    reader: OutboxReader,
    dead: DeadLetterWriter,
    shutdown: CancellationToken,
) {
    run_as(SINK, cfg, reader, dead, shutdown).await
}

/// [`run`] under another sink name (the `sink` label and log field), for a
/// second InfluxDB destination such as the city northbound.
pub async fn run_as(
    sink: &'static str,
    cfg: config::InfluxDbConfig,
    mut reader: OutboxReader,
    dead: DeadLetterWriter,
    shutdown: CancellationToken,
) {
    let mut writer = loop {
        match InfluxWriter::new(&cfg, sink, dead.clone()) {
            Ok(w) => break w,
            Err(e) => {
                error!(sink = sink, error = %e, "InfluxDB sink cannot start; retrying.");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(cfg.retry_max) => {}
                }
            }
        }
    };
    info!(sink = sink, origin = %cfg.origin(), "InfluxDB sink started.");
    loop {
        let next = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            n = reader.next_batch(cfg.batch_max_lines, cfg.batch_max_bytes, cfg.linger) => n,
        };
        let batch = match next {
            Ok(Some(b)) => b,
            Ok(None) => break,
            Err(e) => {
                error!(sink = sink, error = %e, "Outbox read failed; retrying.");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(cfg.retry_min) => continue,
                }
            }
        };
        if writer.write(&batch.data, &shutdown).await.is_err() {
            break;
        }
        if let Err(e) = reader.ack(batch) {
            // The batch is stored; it will be written again after a restart.
            error!(sink = sink, error = %e, "Outbox acknowledgement failed.");
        }
    }
    info!(sink = sink, "InfluxDB sink stopped.");
}
