//! MQTT 3.1.1: many PUBACKs with one write and one flush.
//!
//! rumqttc's event loop takes one request per turn from its channel and
//! flushes after each, so every manual PUBACK costs a `write` system call
//! and a turn of the loop (15 % of greengate's CPU at full rate). This is a
//! wrapper around rumqttc's `EventLoop`, not a patched copy: it uses only
//! what rumqttc makes public (`network`, `state`, `pending`, `clean`,
//! `Network::readb/write/flush`, `MqttState::handle_outgoing_packet`).
//!
//! [`EventLoop::poll_or_wake`] does what rumqttc's `select` does for the
//! incoming side (read a burst of packets, flush, yield the first event)
//! and also returns when `wake` is notified; [`EventLoop::write_acks`] then
//! writes every ack the caller has ready, through rumqttc's own state (so
//! its bookkeeping is that of a queued ack), and flushes once.
//!
//! It falls back to rumqttc's `poll` whenever rumqttc must act itself: not
//! connected (connect), packets pending from the last session, a request of
//! the caller in the channel (subscribe, disconnect: `via_requests`), or at
//! least every half keep-alive, so rumqttc's keep-alive timer gets its turn
//! to send a ping.
//!
//! Cancel safety: the only future this select may drop is `readb` waiting
//! for its first packet (tokio-util's framed read keeps partial data in its
//! buffer) or `wake`; writes and flushes are awaited outside the select.
//! rumqttc's own `poll` is cancelled only where it always was (shutdown).
//!
//! MQTT 5 is not covered: rumqttc's v5 event loop keeps its connection
//! private, so v5 acks go through the request channel as before.

use rumqttc::{PubAck, PubRec, QoS, Request};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::client::{event4, ConnectionError, Event, EventLoop};

/// What [`EventLoop::poll_or_wake`] returned.
#[derive(Debug)]
pub enum Polled {
    Event(Event),
    /// `wake` was notified: acks are ready to write.
    Woken,
}

/// How long rumqttc's `poll` may go uncalled while connected.
fn slow_path_every(keep_alive: Duration) -> Duration {
    if keep_alive.is_zero() {
        Duration::from_secs(60)
    } else {
        keep_alive / 2
    }
}

impl EventLoop {
    /// The next event, or [`Polled::Woken`] when `wake` is notified (MQTT
    /// 3.1.1; with MQTT 5 this is `poll`, never woken).
    pub async fn poll_or_wake(
        &mut self,
        wake: &Notify,
        via_requests: bool,
    ) -> Result<Polled, ConnectionError> {
        let EventLoop::V4(e, slow_at) = self else {
            return self.poll().await.map(Polled::Event);
        };
        let now = Instant::now();
        if e.network.is_none() || !e.pending.is_empty() || via_requests || now >= *slow_at {
            *slow_at = now + slow_path_every(e.mqtt_options.keep_alive());
            return e
                .poll()
                .await
                .map(|ev| Polled::Event(event4(ev)))
                .map_err(ConnectionError::V4);
        }
        if let Some(ev) = e.state.events.pop_front() {
            return Ok(Polled::Event(event4(ev)));
        }
        let Some(network) = e.network.as_mut() else {
            return Ok(Polled::Event(Event::Other));
        };
        let read = tokio::select! {
            biased;
            _ = wake.notified() => return Ok(Polled::Woken),
            r = network.readb(&mut e.state) => r,
            // Next call takes rumqttc's poll (its keep-alive).
            _ = tokio::time::sleep_until(*slow_at) => return Ok(Polled::Event(Event::Other)),
        };
        let timeout = Duration::from_secs(e.network_options.connection_timeout());
        let flushed = match read {
            Ok(()) => match tokio::time::timeout(timeout, network.flush()).await {
                Ok(r) => r.map_err(rumqttc::ConnectionError::MqttState),
                Err(_) => Err(rumqttc::ConnectionError::FlushTimeout),
            },
            Err(err) => Err(rumqttc::ConnectionError::MqttState(err)),
        };
        if let Err(err) = flushed {
            // As rumqttc's poll does on an error: the next poll reconnects.
            e.clean();
            return Err(ConnectionError::V4(err));
        }
        Ok(Polled::Event(
            e.state.events.pop_front().map_or(Event::Other, event4),
        ))
    }

    /// MQTT 3.1.1: writes the PUBACK (QoS 1) or PUBREC (QoS 2) of every
    /// `(packet id, QoS)`, in order, and flushes once. Not connected: none
    /// is written (they belong to a connection that is gone). With MQTT 5
    /// it writes nothing and returns `Ok(false)`.
    pub async fn write_acks(&mut self, acks: &[(u16, QoS)]) -> Result<bool, ConnectionError> {
        let EventLoop::V4(e, _) = self else {
            return Ok(false);
        };
        let Some(network) = e.network.as_mut() else {
            return Ok(false);
        };
        // rumqttc records every outgoing ack as an event; the caller has no
        // use for them, so they are taken back out.
        let events = e.state.events.len();
        let mut result = Ok(());
        for (pkid, qos) in acks {
            let request = match qos {
                QoS::AtMostOnce => continue,
                QoS::AtLeastOnce => Request::PubAck(PubAck::new(*pkid)),
                QoS::ExactlyOnce => Request::PubRec(PubRec::new(*pkid)),
            };
            match e.state.handle_outgoing_packet(request) {
                Ok(Some(packet)) => {
                    if let Err(err) = network.write(packet).await {
                        result = Err(rumqttc::ConnectionError::MqttState(err));
                        break;
                    }
                }
                Ok(None) => {}
                Err(err) => {
                    result = Err(rumqttc::ConnectionError::MqttState(err));
                    break;
                }
            }
        }
        e.state.events.truncate(events);
        if result.is_ok() {
            let timeout = Duration::from_secs(e.network_options.connection_timeout());
            result = match tokio::time::timeout(timeout, network.flush()).await {
                Ok(r) => r.map_err(rumqttc::ConnectionError::MqttState),
                Err(_) => Err(rumqttc::ConnectionError::FlushTimeout),
            };
        }
        match result {
            Ok(()) => Ok(true),
            Err(err) => {
                e.clean();
                Err(ConnectionError::V4(err))
            }
        }
    }
}
