//! A QoS 1 load publisher for the end-to-end benchmark
//! (`scripts/bench-e2e.sh`): sends every line of a file as one message and
//! exits 0 only once the broker acknowledged every one (`mosquitto_pub -l`
//! 2.0.11 exits 0 with most of a large input unsent, see docs/delivery.md).
//!
//! `cargo run --release --example publish -- PORT TOPIC FILE [INFLIGHT]`

use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [port, topic, file, rest @ ..] = args.as_slice() else {
        return Err("usage: publish PORT TOPIC FILE [INFLIGHT]".into());
    };
    let port: u16 = port.parse().map_err(|e| format!("PORT: {e}"))?;
    let inflight: u16 = match rest.first() {
        Some(v) => v.parse().map_err(|e| format!("INFLIGHT: {e}"))?,
        None => 1000,
    };
    let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let n = lines.len();
    if n == 0 {
        return Ok(());
    }
    let id = format!("bench-pub-{}", std::process::id());
    let mut opts = MqttOptions::new(id, "127.0.0.1", port);
    opts.set_inflight(inflight)
        .set_keep_alive(Duration::from_secs(30));
    let (client, mut eventloop) = AsyncClient::new(opts, inflight as usize);
    let sender = client.clone();
    let topic = topic.clone();
    tokio::spawn(async move {
        for l in lines {
            if sender
                .publish(topic.as_str(), QoS::AtLeastOnce, false, l.into_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let mut acked = 0;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::PubAck(_))) => {
                acked += 1;
                if acked == n {
                    return Ok(());
                }
            }
            Ok(_) => {}
            Err(e) => {
                return Err(format!(
                    "connection failed after {acked} of {n} acknowledged: {e}"
                ))
            }
        }
    }
}
