//! One connection to the city broker: a rumqttc client and the task that
//! polls its event loop, kept across batches.
//!
//! Invariant: the PUBACKs a [`Conn`] reports are exactly those of the
//! PUBLISHes sent through it. That is why a broken connection is never
//! reconnected in place: rumqttc would replay its own in-flight messages
//! after reconnecting, and their PUBACKs would be counted for the next
//! batch. The sink drops the broken [`Conn`] (and its in-flight state) and
//! opens a new one after its backoff, then publishes the whole batch again.
//!
//! With `protocol = 5` a PUBACK carries a reason code: a refusal (0x80 and
//! above: `not_authorized`, `quota_exceeded`, ...) fails the batch like a
//! broken connection, so the batch stays in the outbox and is published
//! again after the backoff. Every PUBACK reason code is counted in
//! `mqtt_reason_codes_total{packet="puback",code}`. (With 3.1.1 a broker
//! that refuses a PUBLISH, e.g. by ACL, acknowledges it all the same and
//! drops it: the protocol cannot say so.)

use rumqttc::QoS;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::common::mqtt::client::{self, Client, Event, Options};
use crate::metrics::Counter;

/// Room in the client's request channel: more than a batch, so queueing a
/// batch never waits on the event loop.
const REQUEST_CAPACITY: usize = 2 * super::mqtt::MAX_LINES;

/// What went wrong with a publish; the variants are the caller's decisions.
#[derive(Debug, thiserror::Error)]
pub(super) enum CityMqttError {
    /// The client cannot be configured (unreadable password or TLS file):
    /// wait the backoff and build the options again.
    #[error("client options: {0}")]
    Options(#[from] crate::common::mqtt::OptionsError),
    /// The connection failed or broke before every PUBACK: drop it, wait the
    /// backoff, reconnect and publish the whole batch again.
    #[error("connection: {0}")]
    Connection(String),
    /// The broker refused some PUBLISHes of the batch (MQTT 5 PUBACK reason
    /// codes): wait the backoff and publish the whole batch again.
    #[error("the broker refused {refused} of {sent} messages (PUBACK reason code {code})")]
    Refused {
        refused: usize,
        sent: usize,
        code: String,
    },
    /// Shutdown while waiting: stop; the batch stays in the outbox.
    #[error("shutting down")]
    Shutdown,
}

enum Note {
    Acked,
    /// A PUBACK with a refusing reason code (its name).
    Refused(String),
    Lost(String),
}

/// A live connection (or one being established).
pub(super) struct Conn {
    client: Client,
    notes: mpsc::UnboundedReceiver<Note>,
    task: JoinHandle<()>,
    lost: bool,
}

impl Conn {
    /// Starts the event loop task; the broker is connected by its first poll.
    /// `connects` counts every CONNACK (event `CityMqttConnected`).
    pub(super) fn open(o: Options, connects: Counter) -> Conn {
        let v5 = matches!(o, Options::V5(_));
        let (client, mut ev) = client::new(o, REQUEST_CAPACITY);
        // Unbounded but bounded in practice: at most one note per PUBLISH of
        // the batch in progress, plus the final `Lost`.
        let (tx, notes) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let note = match ev.poll().await {
                    Ok(Event::ConnAck(_)) => {
                        connects.inc();
                        info!(
                            sink = super::SINK,
                            event = "CityMqttConnected",
                            "Connected to the city broker."
                        );
                        continue;
                    }
                    Ok(Event::PubAck { code, refused, .. }) => {
                        if v5 {
                            client::reason_counter("puback", &code).inc();
                        }
                        if refused {
                            Note::Refused(code)
                        } else {
                            Note::Acked
                        }
                    }
                    Ok(_) => continue,
                    Err(e) => {
                        if let Some((packet, code, _)) = e.reason() {
                            client::reason_counter(packet, &code).inc();
                        }
                        Note::Lost(e.to_string())
                    }
                };
                let last = matches!(note, Note::Lost(_));
                if tx.send(note).is_err() || last {
                    break;
                }
            }
        });
        Conn {
            client,
            notes,
            task,
            lost: false,
        }
    }

    /// Whether the connection broke since the last batch (idle connections
    /// break too: keep-alive, broker restart).
    pub(super) fn is_lost(&mut self) -> bool {
        loop {
            match self.notes.try_recv() {
                Ok(Note::Lost(_)) => self.lost = true,
                Ok(Note::Acked | Note::Refused(_)) => {}
                Err(mpsc::error::TryRecvError::Empty) => return self.lost,
                // The event loop task ended: its `Lost` was read before.
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    self.lost = true;
                    return true;
                }
            }
        }
    }

    /// Publishes every `(topic, payload)` with QoS 1 and waits for all their
    /// PUBACKs. Returns how many were acknowledged; any refusal fails the
    /// batch (after every PUBACK arrived, so the next batch's count starts
    /// clean).
    pub(super) async fn publish_all(
        &mut self,
        msgs: &[(String, bytes::Bytes)],
        shutdown: &CancellationToken,
    ) -> Result<u64, CityMqttError> {
        for (topic, payload) in msgs {
            if let Err(e) = self
                .client
                .publish_text(topic, QoS::AtLeastOnce, payload.clone())
                .await
            {
                self.lost = true;
                return Err(CityMqttError::Connection(e.to_string()));
            }
        }
        let (mut acked, mut refused) = (0usize, 0usize);
        let mut code = String::new();
        while acked + refused < msgs.len() {
            tokio::select! {
                _ = shutdown.cancelled() => return Err(CityMqttError::Shutdown),
                n = self.notes.recv() => match n {
                    Some(Note::Acked) => acked += 1,
                    Some(Note::Refused(c)) => {
                        refused += 1;
                        code = c;
                    }
                    Some(Note::Lost(e)) => {
                        self.lost = true;
                        return Err(CityMqttError::Connection(e));
                    }
                    None => {
                        self.lost = true;
                        return Err(CityMqttError::Connection("event loop ended".into()));
                    }
                }
            }
        }
        if refused > 0 {
            return Err(CityMqttError::Refused {
                refused,
                sent: msgs.len(),
                code,
            });
        }
        Ok(acked as u64)
    }

    /// Sends DISCONNECT and gives the event loop a moment to write it.
    pub(super) async fn close(mut self) {
        if !self.lost && self.client.try_disconnect().is_ok() {
            let _ =
                tokio::time::timeout(std::time::Duration::from_millis(200), &mut self.task).await;
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.task.abort();
    }
}
