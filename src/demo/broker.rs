//! The demo's embedded MQTT broker: rumqttd on a free loopback port.
//!
//! `rumqttd::Broker::start` runs its own threads (a current-thread runtime
//! per listener) and blocks while they serve, so it gets a thread of its
//! own; it has no stop call and ends with the process. Only 127.0.0.1 is
//! listened on.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::time::Duration;

use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};

/// Why the broker could not be started.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("no free loopback port for the MQTT broker: {0}")]
    Port(std::io::Error),
    #[error("cannot start the MQTT broker thread: {0}")]
    Thread(std::io::Error),
    #[error("the embedded MQTT broker did not accept connections on {0} within 10 s")]
    NotListening(SocketAddr),
}

/// The broker's settings: one MQTT 3.1.1 listener on `addr`, no TLS, no
/// authentication, bounded in-memory logs.
pub fn config(addr: SocketAddr) -> Config {
    let connections = ConnectionSettings {
        connection_timeout_ms: 60_000,
        max_payload_size: 256 * 1024,
        max_inflight_count: 500,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let server = ServerSettings {
        name: "demo-v4".into(),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 1,
        connections,
    };
    Config {
        id: 0,
        router: RouterConfig {
            max_connections: 1000,
            max_outgoing_packet_count: 200,
            max_segment_size: 4 * 1024 * 1024,
            max_segment_count: 4,
            ..RouterConfig::default()
        },
        v4: Some(HashMap::from([("1".to_string(), server)])),
        ..Config::default()
    }
}

/// Starts the broker on a free 127.0.0.1 port and waits until it accepts
/// connections; returns its address.
pub async fn start() -> Result<SocketAddr, BrokerError> {
    // rumqttd binds the configured address itself and does not report a
    // port it picked, so a free one is found first (and released).
    let addr = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map_err(BrokerError::Port)?;
    let mut broker = Broker::new(config(addr));
    std::thread::Builder::new()
        .name("mqtt-broker".into())
        .spawn(move || {
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "Embedded MQTT broker stopped.");
            }
        })
        .map_err(BrokerError::Thread)?;
    for _ in 0..100 {
        if accepts_mqtt(addr).await {
            return Ok(addr);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(BrokerError::NotListening(addr))
}

/// An MQTT CONNECT answered by a CONNACK (a bare TCP probe would make the
/// broker log a failed connection).
async fn accepts_mqtt(addr: SocketAddr) -> bool {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet};
    let id = format!("gg-demo-probe-{}", std::process::id());
    let opts = MqttOptions::new(id, addr.ip().to_string(), addr.port());
    let (client, mut events) = AsyncClient::new(opts, 1);
    let answered = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    })
    .await
    .unwrap_or(false);
    if answered {
        let _ = client.try_disconnect();
        // Let the DISCONNECT go out before the connection is dropped.
        let _ = tokio::time::timeout(Duration::from_millis(200), events.poll()).await;
    }
    answered
}
