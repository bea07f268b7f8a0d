//! MQTT source: subscribes with QoS 1 on a persistent session, decodes each
//! message with its subscription's profile, and hands the pipeline one
//! [`SourceBatch`] per message carrying the message's PUBACK.
//!
//! Invariants:
//! - A message is acknowledged only by its batch's [`Ack`], which the
//!   pipeline fires after the readings (or the dead letter) are durable, in
//!   receive order. Rejected messages travel the same way (empty readings,
//!   one dead letter), so acks never overtake each other.
//! - Acks are queued with `try_ack`, never awaited: awaiting the client from
//!   inside the poll loop deadlocks when rumqttc's request channel is full.
//!   An ack that finds the channel full waits, in order, in an overflow
//!   queue that the loop flushes after every polled event (see `ack.rs`).
//!   An ack that belongs to an earlier connection (a packet id is only
//!   meaningful on the connection that delivered it) is dropped; the broker
//!   redelivers the message on the next session.
//! - Subscriptions are sent on the first connection and whenever a ConnAck
//!   says the broker has no session for us.
//! - Back-pressure is waiting: the loop awaits `tx.send`, so the broker's
//!   in-flight window bounds what is buffered.
//! - After an error the loop sleeps a capped, jittered backoff before
//!   polling again (rumqttc reconnects on the next poll, immediately).
//! - A message over `max_payload_bytes` never blocks the ones behind it:
//!   rumqttc's incoming limit is `receive_limit_bytes` (default 32 MiB, far
//!   above the payload limit), so it arrives, is dead-lettered by its first
//!   4 KiB with its size, and is acknowledged like any rejected message.
//!   Only a packet above `receive_limit_bytes` fails the connection (rumqttc
//!   refuses it before parsing its packet id, so it cannot be acknowledged,
//!   and the broker redelivers it): the broker's `message_size_limit` must
//!   be below it (see `session.rs` and docs/delivery.md). With
//!   `protocol = 5` the limit is announced as CONNECT's Maximum Packet Size,
//!   and the broker drops such a message itself instead of sending it.
//! - Both protocols run this same loop, acks and routing: only the client
//!   (`crate::common::mqtt::client`) differs. With MQTT 5 the broker's
//!   in-flight window towards us is our Receive Maximum, not its
//!   `max_inflight_messages`.

mod ack;
pub mod config;
mod options;
pub mod router;
mod session;

use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc::error::TrySendError;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn, Instrument};

use crate::backoff::Backoff;
use crate::common::mqtt::client::{self, Client, Event, EventLoop, Message};
use crate::common::mqtt::{Polled, Protocol, REQUEST_CAPACITY};
use crate::deadletter::DeadLetter;
use crate::metrics::{self, Counter, Gauge};
use crate::pipeline::{SourceBatch, SourceTx};
use ack::Acks;
use config::MqttConfig;
pub use options::options;
use router::{rejected_counter, Router};

/// How long shutdown keeps the connection to send the last acks.
const ACK_GRACE: Duration = Duration::from_secs(5);

/// Subscribes and forwards readings until `shutdown` is cancelled.
///
/// With `sessions = N > 1` it runs N clients (`<client_id>-0` ..) that
/// share each subscription as `$share/<share_group>/<filter>`: the broker
/// spreads messages over them and each has its own in-flight window, so
/// throughput is not capped by one session's window (MQTT 3.1.1 has no
/// receive-maximum; with MQTT 5 `receive_maximum` widens one session's). Every session sends into the same `tx`; acks stay in
/// receive order per session, which is what MQTT requires.
pub async fn run(cfg: MqttConfig, tx: SourceTx, shutdown: CancellationToken) {
    let span = tracing::info_span!("source", source = "mqtt", broker = %format!("{}:{}", cfg.host, cfg.port));
    let sessions = cfg.session_configs();
    let mut tasks = tokio::task::JoinSet::new();
    for c in sessions {
        let router = Router::new(&c);
        let session_span = tracing::info_span!(parent: &span, "session", client_id = %c.client_id);
        tasks.spawn(
            Source::new(c, router)
                .run(tx.clone(), shutdown.clone())
                .instrument(session_span),
        );
    }
    drop(tx);
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r {
            tracing::error!(parent: &span, error = %e, "MQTT session task failed.");
        }
    }
}

struct Source {
    cfg: MqttConfig,
    router: Router,
    connected: Gauge,
    /// Our own state (the gauge is process-wide).
    is_connected: bool,
    acks: Acks,
    rejected: HashMap<&'static str, Counter>,
    subscribed_once: bool,
    need_subscribe: bool,
    /// A SUBSCRIBE is in rumqttc's request channel or unanswered: rumqttc's
    /// own poll must run until its SUBACK (see `batch_acks`).
    awaiting_suback: bool,
    /// `mqtt_connections_total`: one per ConnAck.
    connections: Counter,
}

impl Source {
    fn new(cfg: MqttConfig, router: Router) -> Source {
        Source {
            acks: Acks::new(cfg.protocol == Protocol::V4),
            router,
            connected: metrics::gauge(
                "mqtt_connected",
                "1 while the MQTT session is connected to its broker.",
                &[("client_id", cfg.client_id.as_str())],
            ),
            cfg,
            is_connected: false,
            rejected: HashMap::new(),
            subscribed_once: false,
            need_subscribe: false,
            awaiting_suback: false,
            connections: metrics::counter(
                "mqtt_connections_total",
                "MQTT connections established (ConnAck received).",
                &[],
            ),
        }
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(self.cfg.reconnect_min, self.cfg.reconnect_max)
    }

    async fn run(mut self, tx: SourceTx, shutdown: CancellationToken) {
        let mut backoff = self.backoff();
        let opts = loop {
            match options(&self.cfg) {
                Ok(o) => break o,
                Err(e) => {
                    let delay = backoff.next_delay();
                    error!(error = %e, retry_in = ?delay, "MQTT client cannot be configured; retrying.");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        };
        info!(client_id = %self.cfg.client_id, protocol = %self.cfg.protocol, subscriptions = self.router.routes.len(), "MQTT source starting.");
        self.set_ready(false);
        let (client, mut eventloop) = client::new(opts, REQUEST_CAPACITY);
        let errors = metrics::counter(
            "mqtt_connection_errors_total",
            "MQTT connection failures (each followed by a backoff and a reconnect).",
            &[],
        );
        let waits = metrics::counter(
            "mqtt_pipeline_waits_total",
            "Messages the MQTT source held because the pipeline channel was full.",
            &[],
        );
        loop {
            let via_requests = self.need_subscribe || self.awaiting_suback;
            let polled = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                e = eventloop.poll_or_wake(self.acks.wake(), via_requests) => e,
            };
            let event = match polled {
                Ok(Polled::Event(ev)) => Ok(ev),
                // Fired acks (MQTT 3.1.1): all of them, one flush.
                Ok(Polled::Woken) => self.write_acks(&mut eventloop).await.map(|()| Event::Other),
                Err(e) => Err(e),
            };
            match event {
                Ok(Event::ConnAck(ack)) => {
                    backoff.reset();
                    self.on_connect(&ack);
                }
                Ok(Event::Publish(p)) => {
                    let full = match tx.try_send(self.batch(&client, p)) {
                        Ok(()) => None,
                        Err(TrySendError::Closed(_)) => {
                            warn!("Pipeline closed; MQTT source stopping.");
                            break;
                        }
                        // While we wait nothing is polled (no pings, no acks
                        // sent): size the channel above the broker's
                        // in-flight window so QoS 1 traffic never gets here.
                        Err(TrySendError::Full(b)) => Some(b),
                    };
                    if let Some(batch) = full {
                        waits.inc();
                        tokio::select! {
                            biased;
                            // Not acknowledged: the broker redelivers it next session.
                            _ = shutdown.cancelled() => break,
                            r = tx.send(batch) => if r.is_err() {
                                warn!("Pipeline closed; MQTT source stopping.");
                                break;
                            }
                        }
                    }
                }
                Ok(Event::SubAck(s)) => self.on_suback(&s),
                Ok(_) => {}
                Err(e) => {
                    self.on_disconnect();
                    errors.inc();
                    if !self
                        .forward_stranded(&client, &mut eventloop, &tx, &shutdown)
                        .await
                    {
                        break;
                    }
                    self.on_refused_packet(&e);
                    self.on_reason(&e);
                    let delay = backoff.next_delay();
                    warn!(error = %e, retry_in = ?delay, "MQTT connection failed; reconnecting.");
                    self.refresh_options(&mut eventloop);
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
            if self.need_subscribe {
                self.subscribe(&client);
            }
            // Every polled event may have made room in the request channel.
            self.acks.flush(&client);
        }
        drop(tx);
        self.drain_acks(&client, &mut eventloop).await;
    }

    /// Messages rumqttc read before the connection failed stay queued in
    /// its state and would be returned after the reconnect, when their
    /// packet ids may name other messages. They are forwarded now without an
    /// ack (stored, never acknowledged: the broker redelivers them if it
    /// still has them, and duplicates are identical). Returns `false` when
    /// the source must stop.
    async fn forward_stranded(
        &mut self,
        client: &Client,
        eventloop: &mut EventLoop,
        tx: &SourceTx,
        shutdown: &CancellationToken,
    ) -> bool {
        for p in eventloop.take_stranded() {
            let mut batch = self.batch(client, p);
            batch.ack = None;
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return false,
                r = tx.send(batch) => if r.is_err() { return false },
            }
        }
        true
    }

    fn count_rejected(&mut self, reason: &'static str) -> u64 {
        let c = self
            .rejected
            .entry(reason)
            .or_insert_with(|| rejected_counter(reason));
        c.inc();
        c.get()
    }

    /// The batch for one message: readings or a dead letter, plus its ack.
    fn batch(&mut self, client: &Client, p: Message) -> SourceBatch {
        let ack = self.acks.ack_for(client, &p);
        match self.router.handle_with_properties(
            &p.topic,
            &p.payload,
            &p.user_properties,
            crate::model::now_ns(),
        ) {
            Ok(readings) => SourceBatch {
                readings,
                dead: Vec::new(),
                ack,
                ..SourceBatch::default()
            },
            Err(rej) => {
                let n = self.count_rejected(rej.reason);
                // Logged in full at first, then sampled: a flood of bad
                // messages must not flood the log; the counter has them all.
                if n <= 10 || n.is_power_of_two() {
                    warn!(topic = %p.topic, reason = rej.reason, error = %rej.detail, count = n, "MQTT message rejected.");
                }
                SourceBatch {
                    readings: Vec::new(),
                    dead: vec![DeadLetter::new(
                        "mqtt",
                        p.topic.as_str(),
                        format!("{}: {}", rej.reason, rej.detail),
                        router::dead_letter_payload(&p.payload, self.router.max_payload_bytes),
                    )],
                    ack,
                    ..SourceBatch::default()
                }
            }
        }
    }

    /// Writes every fired direct ack with one flush (MQTT 3.1.1); they
    /// stay outstanding until written.
    async fn write_acks(
        &mut self,
        eventloop: &mut EventLoop,
    ) -> Result<(), client::ConnectionError> {
        let ready = self.acks.take_ready();
        if !ready.acks.is_empty() {
            eventloop.write_acks(ready.acks).await?;
        }
        Ok(())
    }

    /// After shutdown: keep the connection while the pipeline stores what it
    /// has and fires the acks, then disconnect (the DISCONNECT is queued
    /// behind the acks, so seeing it go out means they went out).
    async fn drain_acks(&mut self, client: &Client, eventloop: &mut EventLoop) {
        let deadline = tokio::time::Instant::now() + ACK_GRACE;
        let mut disconnecting = false;
        // Without a connection the acks cannot be sent: the broker redelivers.
        while self.is_connected {
            if !disconnecting && self.acks.outstanding() == 0 {
                if client.try_disconnect().is_err() {
                    break;
                }
                disconnecting = true;
            }
            self.acks.flush(client);
            if self.write_acks(eventloop).await.is_err() {
                self.is_connected = false;
                break;
            }
            let wake = self.acks.wake();
            let polled =
                tokio::time::timeout_at(deadline, eventloop.poll_or_wake(wake, disconnecting))
                    .await;
            match polled {
                Ok(Ok(Polled::Event(Event::DisconnectSent))) => break,
                Ok(Ok(_)) => {}
                Ok(Err(_)) | Err(_) => self.is_connected = false,
            }
        }
        let left = self.acks.outstanding();
        if left > 0 {
            warn!(
                unacked = left,
                "MQTT source stopped with messages unacknowledged; the broker redelivers them."
            );
        }
        self.on_disconnect();
        info!("MQTT source stopped.");
    }
}
