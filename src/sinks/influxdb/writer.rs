//! [`InfluxWriter`]: writes one batch until every line is stored or
//! dead-lettered. It keeps a stack of pieces of the one batch it was given
//! (slices, never copies), so memory is one batch plus one request body.

use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::client::{Answer, Client};
use super::config::InfluxDbConfig;
use super::outcome::{classify, ErrorKind, Outcome};
use super::split;
use super::InfluxError;
use crate::backoff::Backoff;
use crate::config::Check;
use crate::deadletter::{DeadLetter, DeadLetterWriter};
use crate::metrics::{self, Counter};

/// What happened to a batch's lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Lines the store acknowledged (a line re-sent while bisecting counts once per 2xx).
    pub lines_written: usize,
    /// Lines the store refused for good, now in the dead-letter file.
    pub lines_dead_lettered: usize,
}

/// Shutdown was requested before the batch was finished: do not acknowledge
/// it; it stays in the outbox and is written again after a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("shutdown requested before the batch was written")]
pub struct Interrupted;

struct Counters {
    batches_written: Counter,
    lines_written: Counter,
    batches_retried: Counter,
    lines_dead_lettered: Counter,
    splits: Counter,
}

impl Counters {
    fn new(sink: &str) -> Counters {
        let l = &[("sink", sink)];
        Counters {
            batches_written: metrics::counter(
                "influx_batches_written_total",
                "Write requests the store acknowledged (2xx).",
                l,
            ),
            lines_written: metrics::counter(
                "influx_lines_written_total",
                "Lines in write requests the store acknowledged.",
                l,
            ),
            batches_retried: metrics::counter(
                "influx_batches_retried_total",
                "Write requests sent again after a retryable failure.",
                l,
            ),
            lines_dead_lettered: metrics::counter(
                "influx_lines_dead_lettered_total",
                "Lines the store refused (400/413), written to the dead-letter file.",
                l,
            ),
            splits: metrics::counter(
                "influx_batch_splits_total",
                "Batches split in halves (413 too large, or bisecting a 400).",
                l,
            ),
        }
    }
}

fn error_counter(sink: &str, kind: ErrorKind) -> Counter {
    metrics::counter(
        "influx_write_errors_total",
        "Failed write requests, by kind.",
        &[("sink", sink), ("kind", kind.as_str())],
    )
}

/// Writes batches of line protocol to one InfluxDB endpoint.
pub struct InfluxWriter {
    client: Client,
    dead: DeadLetterWriter,
    backoff: Backoff,
    origin: String,
    sink: String,
    counters: Counters,
    /// The smallest body (uncompressed bytes) the store answered 413 to:
    /// larger pieces are split before sending, so a store with a small
    /// request limit costs one 413, not one per batch.
    too_large_at: Option<usize>,
}

impl InfluxWriter {
    /// Builds the client (once) and resolves the secrets. `sink` is the
    /// value of the `sink` metric label.
    pub fn new(
        cfg: &InfluxDbConfig,
        sink: &str,
        dead: DeadLetterWriter,
    ) -> Result<InfluxWriter, InfluxError> {
        let mut cx = Check::new(".");
        let auth = cfg.auth("sinks.influxdb", &mut cx);
        if let Err(p) = cx.into_result() {
            return Err(InfluxError::Config(p.to_string()));
        }
        Ok(InfluxWriter {
            client: Client::new(cfg, auth)?,
            dead,
            backoff: Backoff::new(cfg.retry_min, cfg.retry_max),
            origin: cfg.origin(),
            sink: sink.to_string(),
            counters: Counters::new(sink),
            too_large_at: None,
        })
    }

    /// Writes `data` (newline-terminated lines). Returns when every line is
    /// stored or dead-lettered; retries forever otherwise, until `shutdown`.
    pub async fn write(
        &mut self,
        data: &[u8],
        shutdown: &CancellationToken,
    ) -> Result<Written, Interrupted> {
        let mut done = Written::default();
        // Pieces still to write, the next one on top, in batch order.
        let mut todo = vec![data];
        while let Some(piece) = todo.pop() {
            let lines = split::line_count(piece);
            if lines == 0 {
                continue;
            }
            if self.too_large_at.is_some_and(|max| piece.len() >= max) {
                if let Some((left, right)) = split::halves(piece) {
                    self.counters.splits.inc();
                    todo.push(right);
                    todo.push(left);
                    continue;
                }
            }
            match self.write_piece(piece, lines, shutdown).await? {
                Settled::Written => {
                    self.counters.batches_written.inc();
                    self.counters.lines_written.add(lines as u64);
                    done.lines_written += lines;
                }
                Settled::AllRefused { reason } => {
                    self.dead_letter(piece, &reason, shutdown).await?;
                    done.lines_dead_lettered += lines;
                }
                Settled::Refused { reason } => {
                    if let Some((left, right)) = split::halves(piece) {
                        self.counters.splits.inc();
                        info!(sink = %self.sink, lines, reason = %reason,
                            event = "InfluxBatchSplit", "Influx batch split in halves.");
                        todo.push(right);
                        todo.push(left);
                    } else {
                        self.dead_letter(piece, &reason, shutdown).await?;
                        done.lines_dead_lettered += lines;
                    }
                }
            }
        }
        Ok(done)
    }

    /// Sends one piece until the answer is not a retry.
    async fn write_piece(
        &mut self,
        piece: &[u8],
        lines: usize,
        shutdown: &CancellationToken,
    ) -> Result<Settled, Interrupted> {
        let body = self.client.body(piece);
        loop {
            let sent = tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Err(Interrupted),
                r = self.client.send(body.clone()) => r,
            };
            let outcome = match sent {
                Ok(Answer {
                    status,
                    retry_after,
                    body,
                }) => classify(status, retry_after.as_deref(), &body, SystemTime::now()),
                Err(f) => Outcome::Retry {
                    kind: f.kind,
                    after: None,
                    reason: f.message,
                },
            };
            match outcome {
                Outcome::Retry {
                    kind,
                    after,
                    reason,
                } => {
                    error_counter(&self.sink, kind).inc();
                    self.counters.batches_retried.inc();
                    let delay = self
                        .backoff
                        .next_delay_at_least(after.unwrap_or(Duration::ZERO));
                    if kind == ErrorKind::Config {
                        error!(sink = %self.sink, origin = %self.origin, kind = kind.as_str(),
                            lines, error = %reason, delay = ?delay, event = "InfluxBatchRetried",
                            "Influx batch retried: the store refused the credentials or the destination; \
                             check token/username/password and that the database or bucket exists.");
                    } else {
                        warn!(sink = %self.sink, origin = %self.origin, kind = kind.as_str(),
                            lines, error = %reason, delay = ?delay, event = "InfluxBatchRetried",
                            "Influx batch retried.");
                    }
                    tokio::select! {
                        biased;
                        _ = shutdown.cancelled() => return Err(Interrupted),
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
                Outcome::Written => {
                    self.backoff.reset();
                    return Ok(Settled::Written);
                }
                // The store answered, so it is up: the next failure starts small.
                Outcome::Split { reason } => {
                    self.backoff.reset();
                    self.too_large_at = Some(
                        self.too_large_at
                            .map_or(piece.len(), |m| m.min(piece.len())),
                    );
                    error_counter(&self.sink, ErrorKind::TooLarge).inc();
                    return Ok(Settled::Refused { reason });
                }
                Outcome::Reject { reason, dropped } => {
                    self.backoff.reset();
                    error_counter(&self.sink, ErrorKind::BadRequest).inc();
                    if dropped.is_some_and(|d| d >= lines) {
                        return Ok(Settled::AllRefused { reason });
                    }
                    return Ok(Settled::Refused { reason });
                }
            }
        }
    }

    /// Dead-letters the lines of `piece` durably before the batch may be
    /// acknowledged; while the file cannot be written (a full disk) it
    /// retries with the backoff, until `shutdown`.
    async fn dead_letter(
        &mut self,
        piece: &[u8],
        reason: &str,
        shutdown: &CancellationToken,
    ) -> Result<(), Interrupted> {
        let letters: Vec<DeadLetter> = split::lines(piece)
            .map(|line| DeadLetter::new("influxdb", self.origin.clone(), reason, line))
            .collect();
        while self.dead.write_all(&letters).is_err() {
            let wait = self.backoff.next_delay();
            tokio::select! {
                _ = shutdown.cancelled() => return Err(Interrupted),
                _ = tokio::time::sleep(wait) => {}
            }
        }
        let n = split::line_count(piece);
        self.counters.lines_dead_lettered.add(n as u64);
        warn!(sink = %self.sink, origin = %self.origin, lines = n, reason = %reason,
            event = "InfluxLinesDeadLettered", "Influx lines dead-lettered.");
        Ok(())
    }
}

/// How a piece ended: stored, or refused (413 or 400) and to be halved or,
/// as a single line, dead-lettered.
enum Settled {
    Written,
    Refused {
        reason: String,
    },
    /// The store said it dropped every line of the piece (a partial write
    /// whose `dropped` count is the piece's line count): no need to bisect.
    AllRefused {
        reason: String,
    },
}
