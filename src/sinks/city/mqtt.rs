//! The city northbound over MQTT: each line of an outbox batch is published
//! with QoS 1 to `topic` (`{community}` and `{measurement}` substituted),
//! payload = the line-protocol line.
//!
//! One connection is kept across batches ([`Conn`]); it is opened at the
//! first batch and again, after a capped jittered backoff
//! ([`crate::backoff::Backoff`], `retry` .. `retry_max`), whenever it broke.
//! Invariant: a batch is acknowledged in the outbox only after every one of
//! its PUBLISHes got its PUBACK; a batch interrupted by a connection loss is
//! published again whole on the next connection (duplicates are identical
//! points, which every store de-duplicates).
//!
//! MQTT 3.1.1 by default; `protocol = 5` adds PUBACK reason codes (a
//! refused batch is retried, see [`super::mqtt_conn`]).
//!
//! Events: `CityMqttConnected` (`city_mqtt_connects_total`),
//! `CityMqttBatchRetried` (`city_mqtt_batches_retried_total`),
//! `city_mqtt_lines_published_total`.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::mqtt_conn::{CityMqttError, Conn};
use crate::backoff::Backoff;
use crate::metrics;
use crate::outbox::OutboxReader;

pub use super::mqtt_config::CityMqttConfig;

/// At most this many lines per batch (the client's request channel holds
/// twice as many, so queueing a batch never waits on the event loop).
pub const MAX_LINES: usize = 500;

/// The measurement of a line-protocol line (up to the first unescaped comma or space).
pub fn measurement(line: &[u8]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < line.len() {
        match line[i] {
            b'\\' if i + 1 < line.len() => {
                out.push(line[i + 1]);
                i += 2;
                continue;
            }
            b',' | b' ' => break,
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The topic of one line (topic-unsafe characters in names replaced by `_`).
pub fn topic(template: &str, community: &str, measurement: &str) -> String {
    let safe = |s: &str| s.replace(['/', '+', '#'], "_");
    template
        .replace("{community}", &safe(community))
        .replace("{measurement}", &safe(measurement))
}

/// The messages of one batch: `(topic, payload)` per line.
pub fn messages<'a>(
    template: &str,
    community: &str,
    lines: impl Iterator<Item = &'a [u8]>,
) -> Vec<(String, bytes::Bytes)> {
    lines
        .map(|l| {
            let t = topic(template, community, &measurement(l));
            (t, bytes::Bytes::copy_from_slice(l))
        })
        .collect()
}

/// Publishes the outbox to the city broker until it is drained and closed or
/// `shutdown` is cancelled.
pub async fn run(
    cfg: CityMqttConfig,
    community: String,
    mut reader: OutboxReader,
    shutdown: CancellationToken,
) {
    let published = metrics::counter(
        "city_mqtt_lines_published_total",
        "Lines published to the city broker and acknowledged (PUBACK).",
        &[],
    );
    let retried = metrics::counter(
        "city_mqtt_batches_retried_total",
        "City MQTT batches published again after a connection error.",
        &[],
    );
    let connects = metrics::counter(
        "city_mqtt_connects_total",
        "Connections established to the city broker (CONNACK received).",
        &[("client_id", cfg.client_id.as_str())],
    );
    let mut backoff = Backoff::new(cfg.retry, cfg.retry_max);
    let mut conn: Option<Conn> = None;
    info!(sink = super::SINK, host = %cfg.host, port = cfg.port, tls = cfg.tls, protocol = %cfg.protocol, "City MQTT sink started.");
    'batches: loop {
        let next = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            n = reader.next_batch(MAX_LINES, 1 << 20, Duration::from_millis(200)) => n,
        };
        let batch = match next {
            Ok(Some(b)) => b,
            Ok(None) => break,
            Err(e) => {
                warn!(sink = super::SINK, error = %e, "Outbox read failed; retrying.");
                if sleep_or_stop(backoff.next_delay(), &shutdown).await {
                    break;
                }
                continue;
            }
        };
        let msgs = messages(&cfg.topic, &community, batch.lines());
        loop {
            let result = match connection(&mut conn, &cfg, &connects) {
                Ok(c) => c.publish_all(&msgs, &shutdown).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(n) => {
                    published.add(n);
                    backoff.reset();
                    break;
                }
                Err(CityMqttError::Shutdown) => break 'batches,
                Err(e) => {
                    retried.inc();
                    let delay = backoff.next_delay();
                    warn!(sink = super::SINK, event = "CityMqttBatchRetried", error = %e, retry_in = ?delay, "City MQTT publish failed; reconnecting and publishing the batch again.");
                    conn = None;
                    if sleep_or_stop(delay, &shutdown).await {
                        break 'batches;
                    }
                }
            }
        }
        if let Err(e) = reader.ack(batch) {
            warn!(sink = super::SINK, error = %e, "Outbox acknowledgement failed.");
        }
    }
    if let Some(c) = conn {
        c.close().await;
    }
    info!(sink = super::SINK, "City MQTT sink stopped.");
}

/// The live connection, opened anew when there is none or it broke.
fn connection<'a>(
    conn: &'a mut Option<Conn>,
    cfg: &CityMqttConfig,
    connects: &metrics::Counter,
) -> Result<&'a mut Conn, CityMqttError> {
    if conn.as_mut().is_some_and(|c| c.is_lost()) {
        *conn = None;
    }
    match conn {
        Some(c) => Ok(c),
        None => {
            let o = cfg.client_options().map_err(CityMqttError::Options)?;
            Ok(conn.insert(Conn::open(o, connects.clone())))
        }
    }
}

/// Sleeps `d`; true when `shutdown` came first.
async fn sleep_or_stop(d: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => true,
        _ = tokio::time::sleep(d) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_the_community_and_the_unescaped_measurement() {
        let m = measurement(b"gg_noise\\ hour,community=c1 laeq=55 1");
        assert_eq!(m, "gg_noise hour");
        assert_eq!(
            topic("city/{community}/{measurement}", "c/1", "gg_x"),
            "city/c_1/gg_x"
        );
    }
}
