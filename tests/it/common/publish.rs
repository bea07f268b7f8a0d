//! A QoS 1 publisher that sends each message once and finishes only when
//! the broker has acknowledged every one; a connection failure is an error,
//! never silent loss. Shared by the fault tests (`tests/it/faults_support`)
//! and the benchmark publisher (`examples/publish.rs`, which includes this
//! file by path).
//!
//! Not `mosquitto_pub -l`: the 2.0.11 in Debian exits 0 at the end of its
//! input while most queued messages were never sent (100,000 lines, 34,545
//! reached the broker; the broker logs "disconnected due to out of memory").

use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};

/// Publishes `messages` to `topic` on 127.0.0.1:`port` with at most
/// `inflight` unacknowledged; disconnects after the last PUBACK.
pub async fn publish_all(
    port: u16,
    topic: String,
    messages: Vec<String>,
    inflight: u16,
) -> Result<(), String> {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let n = messages.len();
    if n == 0 {
        return Ok(());
    }
    let mut opts = MqttOptions::new(
        format!("gg-pub-{}-{id}", std::process::id()),
        "127.0.0.1",
        port,
    );
    opts.set_inflight(inflight.max(1))
        .set_keep_alive(Duration::from_secs(30))
        .set_max_packet_size(64 << 20, 64 << 20);
    let (client, mut eventloop) = AsyncClient::new(opts, usize::from(inflight.max(1)));
    let publisher = client.clone();
    let sender = tokio::spawn(async move {
        for m in messages {
            let r = publisher.publish(topic.as_str(), QoS::AtLeastOnce, false, m.into_bytes());
            if r.await.is_err() {
                return;
            }
        }
    });
    let mut acked = 0;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::PubAck(_))) => {
                acked += 1;
                // Disconnect only once the broker has every message.
                if acked == n && client.try_disconnect().is_err() {
                    return Err("disconnect could not be queued".into());
                }
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => return Ok(()),
            Ok(_) => {}
            Err(e) => {
                sender.abort();
                return Err(format!(
                    "connection failed after {acked} of {n} acknowledged: {e}"
                ));
            }
        }
    }
}
