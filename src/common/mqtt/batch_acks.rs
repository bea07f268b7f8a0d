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
//! connected (connect), packets pending from the last session, or a request
//! of the caller in the channel (subscribe, disconnect: `via_requests`).
//! Otherwise it sends the keep-alive PINGREQ itself, as rumqttc's ping
//! branch does (every keep-alive, through rumqttc's state, so an unanswered
//! ping fails the connection as it would in rumqttc). It never waits inside
//! rumqttc's `poll` while connected without a request of ours queued: there
//! a fired ack would wait for the next incoming packet or ping, and with
//! the broker's in-flight window full nothing else comes.
//!
//! Cancel safety: the only future this select may drop is `readb` waiting
//! for its first packet (tokio-util's framed read keeps partial data in its
//! buffer) or `wake`; writes and flushes are awaited outside the select.
//! rumqttc's own `poll` is cancelled only where it always was (shutdown).
//!
//! MQTT 5 is not covered: rumqttc's v5 event loop keeps its connection
//! private, so v5 acks go through the request channel as before.

use rumqttc::{Packet, PingReq, PubAck, PubRec, QoS, Request};
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

impl EventLoop {
    /// The next event, or [`Polled::Woken`] when `wake` is notified (MQTT
    /// 3.1.1; with MQTT 5 this is `poll`, never woken).
    pub async fn poll_or_wake(
        &mut self,
        wake: &Notify,
        via_requests: bool,
    ) -> Result<Polled, ConnectionError> {
        let EventLoop::V4(e, ping_at) = self else {
            return self.poll().await.map(Polled::Event);
        };
        let keep_alive = e.mqtt_options.keep_alive();
        if e.network.is_none() || !e.pending.is_empty() || via_requests {
            let r = e.poll().await;
            if let Ok(rumqttc::Event::Incoming(Packet::ConnAck(_))) = &r {
                *ping_at = Instant::now() + keep_alive;
            }
            return r
                .map(|ev| Polled::Event(event4(ev)))
                .map_err(ConnectionError::V4);
        }
        if let Some(ev) = e.state.events.pop_front() {
            return Ok(Polled::Event(event4(ev)));
        }
        let Some(network) = e.network.as_mut() else {
            return Ok(Polled::Event(Event::Other));
        };
        let pinging = !keep_alive.is_zero();
        let step = tokio::select! {
            biased;
            _ = wake.notified() => return Ok(Polled::Woken),
            r = network.readb(&mut e.state) => r,
            // rumqttc's ping branch: a PINGREQ every keep-alive, whatever
            // else is sent; unanswered since the last one is an error.
            _ = tokio::time::sleep_until(*ping_at), if pinging => {
                *ping_at = Instant::now() + keep_alive;
                match e.state.handle_outgoing_packet(Request::PingReq(PingReq)) {
                    Ok(Some(packet)) => network.write(packet).await,
                    Ok(None) => Ok(()),
                    Err(err) => Err(err),
                }
            }
        };
        let timeout = Duration::from_secs(e.network_options.connection_timeout());
        let flushed = match step {
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
