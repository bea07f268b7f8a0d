//! The city northbound over MQTT: each line of an outbox batch is published
//! with QoS 1 to `topic` (`{community}` and `{measurement}` substituted),
//! payload = the line-protocol line. A batch is acknowledged in the outbox
//! only after every one of its PUBLISHes got its PUBACK; on any connection
//! error the connection is rebuilt after `retry` and the whole batch is
//! published again (duplicates are identical points).

use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{join, Check, Validate};
use crate::metrics;
use crate::outbox::OutboxReader;

/// At most this many lines per batch: below the client's request capacity,
/// so queueing a batch never waits on the event loop.
const MAX_LINES: usize = 500;

/// `[sinks.city.mqtt]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct CityMqttConfig {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    /// Topic template: `{community}` and `{measurement}` are substituted.
    pub topic: String,
    #[serde(deserialize_with = "crate::config::duration")]
    pub retry: Duration,
}

impl Default for CityMqttConfig {
    fn default() -> Self {
        CityMqttConfig {
            host: String::new(),
            port: 1883,
            client_id: "greengate-city".into(),
            topic: "city/{community}/{measurement}".into(),
            retry: Duration::from_secs(2),
        }
    }
}

impl Validate for CityMqttConfig {
    fn validate(&self, path: &str, cx: &mut Check) {
        if self.host.trim().is_empty() {
            cx.problem(join(path, "host"), "must be set");
        }
        if self.client_id.trim().is_empty() {
            cx.problem(join(path, "client_id"), "must be set");
        }
        if self.topic.contains('+') || self.topic.contains('#') || self.topic.is_empty() {
            cx.problem(
                join(path, "topic"),
                "must be a topic name without wildcards",
            );
        }
        if self.retry.is_zero() {
            cx.problem(join(path, "retry"), "must be more than 0");
        }
    }
}

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
    info!(sink = super::SINK, host = %cfg.host, port = cfg.port, "City MQTT sink started.");
    loop {
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
                tokio::time::sleep(cfg.retry).await;
                continue;
            }
        };
        loop {
            match publish(&cfg, &community, batch.lines(), &shutdown).await {
                Ok(n) => {
                    published.add(n);
                    break;
                }
                Err(e) => {
                    retried.inc();
                    warn!(sink = super::SINK, event = "CityMqttBatchRetried", error = %e, "City MQTT publish failed; retrying the batch.");
                    tokio::select! {
                        _ = shutdown.cancelled() => {
                            info!(sink = super::SINK, "City MQTT sink stopped.");
                            return;
                        }
                        _ = tokio::time::sleep(cfg.retry) => {}
                    }
                }
            }
        }
        if let Err(e) = reader.ack(batch) {
            warn!(sink = super::SINK, error = %e, "Outbox acknowledgement failed.");
        }
    }
    info!(sink = super::SINK, "City MQTT sink stopped.");
}

/// One connection: publishes the lines and waits for every PUBACK.
async fn publish<'a>(
    cfg: &CityMqttConfig,
    community: &str,
    lines: impl Iterator<Item = &'a [u8]>,
    shutdown: &CancellationToken,
) -> Result<u64, String> {
    let mut o = MqttOptions::new(cfg.client_id.clone(), cfg.host.clone(), cfg.port);
    o.set_keep_alive(Duration::from_secs(30));
    let (client, mut ev) = AsyncClient::new(o, MAX_LINES * 2);
    let mut sent = 0u64;
    for l in lines {
        let t = topic(&cfg.topic, community, &measurement(l));
        client
            .publish(t, QoS::AtLeastOnce, false, l.to_vec())
            .await
            .map_err(|e| e.to_string())?;
        sent += 1;
    }
    let mut acked = 0u64;
    while acked < sent {
        tokio::select! {
            _ = shutdown.cancelled() => return Err("shutdown".into()),
            e = ev.poll() => match e {
                Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    }
    let _ = client.disconnect().await;
    // Let the DISCONNECT go out; errors here do not matter.
    let _ = tokio::time::timeout(Duration::from_millis(100), ev.poll()).await;
    Ok(sent)
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
