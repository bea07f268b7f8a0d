//! Manual acknowledgements: one [`Ack`] per message, fired by the pipeline
//! once the message's readings or dead letter are durable.
//!
//! A packet id is only meaningful on the connection that delivered it, so
//! every ack carries the connection generation and is dropped when it is
//! stale (the broker redelivers on the new session).
//!
//! Acks are queued with `try_ack`, never awaited (awaiting rumqttc's request
//! channel from the pipeline could stall every source). When that channel is
//! full, the ack waits in an ordered overflow queue instead of being dropped;
//! the source loop moves the overflow into the channel after every event it
//! polls (each sent PUBACK is such an event, so the overflow drains as the
//! channel does). All `try_ack` calls happen under one lock, in the order the
//! pipeline fired them: MQTT wants PUBACKs in receive order.
//!
//! MQTT 3.1.1 (*direct* acks): fired acks are not put in rumqttc's
//! channel at all. They wait in the same ordered queue, the source loop is
//! woken (`wake`), takes every ack of the current connection
//! ([`Acks::take_ready`]) and writes them with one flush
//! (`common::mqtt::batch_acks`): one system call for a whole group commit's
//! PUBACKs instead of one each. The order is the firing order, as before.
//!
//! Why the channel can fill: after a restart with a large backlog, Mosquitto
//! may send far more than `max_inflight_messages` to a resumed session, and
//! rumqttc's event loop reads up to ten packets per turn but sends one
//! request per turn, so acks queue faster than they leave until the backlog
//! is through. Dropping them (and reconnecting) made the broker redeliver the
//! whole window again and again.

use rumqttc::QoS;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

use crate::common::mqtt::client::{Client, Message};
use crate::metrics::{self, Counter};
use crate::pipeline::Ack;

/// One fired ack waiting to be sent (for room in rumqttc's request
/// channel, or for the source loop to write it). It counts as outstanding
/// until it is sent or dropped as stale.
pub(super) struct Pending {
    generation: u64,
    pkid: u16,
    qos: QoS,
}

/// What every ack of a session shares: one `Arc` per ack, not one per
/// handle (the per-message path, issue 15).
struct Inner {
    /// Bumped on every connect and disconnect.
    generation: AtomicU64,
    /// Acks handed to the pipeline and not yet sent or dropped.
    outstanding: AtomicUsize,
    /// Fired acks the request channel had no room for (or, direct, that the
    /// source loop has not written yet), in firing order.
    overflow: Mutex<VecDeque<Pending>>,
    stale: Counter,
    deferred: Counter,
    /// Notified when a direct ack is fired.
    wake: Notify,
}

impl Inner {
    fn release(&self, n: usize) {
        self.outstanding.fetch_sub(n, Ordering::AcqRel);
    }

    /// Sends queued acks in order until the channel is full. Called with
    /// the queue locked, so sends never interleave.
    fn drain(&self, client: &Client, q: &mut VecDeque<Pending>) {
        while let Some(p) = q.front() {
            if self.generation.load(Ordering::Acquire) != p.generation {
                self.stale.inc();
            } else {
                // The channel is full (it is never closed while this
                // generation is current: the source bumps the generation
                // before its event loop goes away).
                if client.try_ack(p.pkid, p.qos).is_err() {
                    self.deferred.inc();
                    return;
                }
            }
            q.pop_front();
            self.release(1);
        }
    }
}

/// The shared state acks check and update (one per session).
pub(super) struct Acks {
    inner: Arc<Inner>,
    /// Direct acks (MQTT 3.1.1): the source loop writes them in batches.
    direct: bool,
    /// Direct acks being written, swapped with `inner.overflow` (reused, so
    /// a turn of the source loop allocates nothing once warm).
    writing: VecDeque<Pending>,
    ready: Vec<(u16, QoS)>,
}

/// The acks [`Acks::take_ready`] took: `acks` to write; they stay
/// outstanding until this is dropped (written, or the write failed and the
/// broker redelivers).
pub(super) struct Ready<'a> {
    pub(super) acks: &'a [(u16, QoS)],
    held: &'a mut VecDeque<Pending>,
    inner: &'a Inner,
}

impl Drop for Ready<'_> {
    fn drop(&mut self) {
        self.inner.release(self.held.len());
        self.held.clear();
    }
}

/// An ack handed to the pipeline and not fired: dropping it unfired (the
/// pipeline gave the group up) releases it.
struct Unfired {
    inner: Arc<Inner>,
    pending: Option<Pending>,
}

impl Drop for Unfired {
    fn drop(&mut self) {
        if self.pending.is_some() {
            self.inner.release(1);
        }
    }
}

impl Acks {
    pub(super) fn new(direct: bool) -> Acks {
        Acks {
            direct,
            writing: VecDeque::new(),
            ready: Vec::new(),
            inner: Arc::new(Inner {
                wake: Notify::new(),
                generation: AtomicU64::new(0),
                outstanding: AtomicUsize::new(0),
                overflow: Mutex::default(),
                stale: metrics::counter(
                    "mqtt_acks_stale_total",
                    "Acks dropped because their connection is gone (the broker redelivers).",
                    &[],
                ),
                deferred: metrics::counter(
                    "mqtt_acks_deferred_total",
                    "Times an ack found the MQTT client's request channel full and waited (sent later, in order).",
                    &[],
                ),
            }),
        }
    }

    pub(super) fn new_connection(&self) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Acks not yet handed to rumqttc: not yet fired, or waiting for room.
    pub(super) fn outstanding(&self) -> usize {
        self.inner.outstanding.load(Ordering::Acquire)
    }

    /// Moves overflowed acks into the request channel while it has room
    /// (direct acks never go there).
    pub(super) fn flush(&self, client: &Client) {
        if self.direct {
            return;
        }
        let mut q = lock(&self.inner.overflow);
        if !q.is_empty() {
            self.inner.drain(client, &mut q);
        }
    }

    /// What the source loop waits on for direct acks.
    pub(super) fn wake(&self) -> &Notify {
        &self.inner.wake
    }

    /// Direct acks: every fired ack of the current connection, in firing
    /// order, as `(packet id, QoS)`; stale ones are counted and dropped.
    /// The acks stay outstanding until the returned [`Ready`] is dropped:
    /// drop it once they are written.
    pub(super) fn take_ready(&mut self) -> Ready<'_> {
        std::mem::swap(&mut *lock(&self.inner.overflow), &mut self.writing);
        let generation = self.inner.generation.load(Ordering::Acquire);
        self.ready.clear();
        for p in &self.writing {
            if p.generation == generation {
                self.ready.push((p.pkid, p.qos));
            } else {
                self.inner.stale.inc();
            }
        }
        Ready {
            acks: &self.ready,
            held: &mut self.writing,
            inner: &self.inner,
        }
    }

    pub(super) fn ack_for(&self, client: &Client, p: &Message) -> Option<Ack> {
        if p.qos == QoS::AtMostOnce {
            return None;
        }
        self.inner.outstanding.fetch_add(1, Ordering::AcqRel);
        let mut unfired = Unfired {
            pending: Some(Pending {
                generation: self.inner.generation.load(Ordering::Acquire),
                pkid: p.pkid,
                qos: p.qos,
            }),
            inner: self.inner.clone(),
        };
        // Direct acks need no client: the source loop writes them.
        let client = (!self.direct).then(|| client.clone());
        Some(Ack::new(move || {
            let Some(pending) = unfired.pending.take() else {
                return;
            };
            let inner = &unfired.inner;
            let mut q = lock(&inner.overflow);
            q.push_back(pending);
            match &client {
                None => inner.wake.notify_one(),
                Some(c) => inner.drain(c, &mut q),
            }
        }))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttc::MqttOptions;

    fn publish(pkid: u16) -> Message {
        Message {
            topic: "t".into(),
            payload: Default::default(),
            pkid,
            qos: QoS::AtLeastOnce,
            user_properties: Vec::new(),
        }
    }

    /// Both protocols' clients with a request channel of `cap` (never
    /// polled), and a way to empty the channel as the event loop would.
    fn clients(cap: usize) -> Vec<(Client, Box<dyn FnMut()>)> {
        let (c4, mut e4) = rumqttc::AsyncClient::new(MqttOptions::new("t", "127.0.0.1", 1), cap);
        let (c5, mut e5) =
            rumqttc::v5::AsyncClient::new(rumqttc::v5::MqttOptions::new("t", "127.0.0.1", 1), cap);
        vec![
            (Client::V4(c4), Box::new(move || e4.clean())),
            (Client::V5(c5), Box::new(move || e5.clean())),
        ]
    }

    #[test]
    fn acks_that_find_the_request_channel_full_wait_instead_of_being_dropped() {
        // A request channel with room for two: the event loop is never
        // polled, so the channel is emptied by hand with `clean()`.
        for (client, mut clean) in clients(2) {
            let acks = Acks::new(false);
            let fired: Vec<Ack> = (1..=5)
                .filter_map(|i| acks.ack_for(&client, &publish(i)))
                .collect();
            assert_eq!(acks.outstanding(), 5);
            for a in fired {
                a.fire();
            }
            assert_eq!(acks.outstanding(), 3, "two sent, three waiting in order");
            clean(); // the event loop took the two
            acks.flush(&client);
            assert_eq!(acks.outstanding(), 1);
            clean();
            acks.flush(&client);
            assert_eq!(acks.outstanding(), 0, "none dropped");
        }
    }

    #[test]
    fn waiting_acks_of_a_closed_connection_are_dropped_as_stale() {
        for (client, _clean) in clients(1) {
            let acks = Acks::new(false);
            let fired: Vec<Ack> = (1..=3)
                .filter_map(|i| acks.ack_for(&client, &publish(i)))
                .collect();
            for a in fired {
                a.fire();
            }
            assert_eq!(acks.outstanding(), 2);
            acks.new_connection();
            acks.flush(&client);
            assert_eq!(acks.outstanding(), 0);
        }
    }

    #[test]
    fn direct_acks_wait_in_firing_order_for_the_source_loop() {
        let (client, _eventloop) =
            rumqttc::AsyncClient::new(MqttOptions::new("t", "127.0.0.1", 1), 1);
        let client = Client::V4(client);
        let mut acks = Acks::new(true);
        let fired: Vec<Ack> = (1..=3)
            .filter_map(|i| acks.ack_for(&client, &publish(i)))
            .collect();
        let stale = acks.ack_for(&client, &publish(9));
        for a in fired {
            a.fire();
        }
        // Nothing went into rumqttc's channel (it has room for one only).
        assert!(client.try_ack(7, QoS::AtLeastOnce).is_ok());
        let ready = acks.take_ready();
        assert_eq!(
            ready.acks.iter().map(|a| a.0).collect::<Vec<_>>(),
            [1, 2, 3],
            "in firing order"
        );
        assert_eq!(
            ready.inner.outstanding.load(Ordering::Acquire),
            4,
            "held until written"
        );
        drop(ready);
        assert_eq!(acks.outstanding(), 1, "released once written");
        acks.new_connection();
        stale.unwrap().fire();
        let ready = acks.take_ready();
        assert!(
            ready.acks.is_empty(),
            "an ack of an earlier connection is dropped"
        );
        drop(ready);
        assert_eq!(acks.outstanding(), 0);
        // The buffers are reused: a second round works the same.
        let again = acks.ack_for(&client, &publish(4));
        again.unwrap().fire();
        assert_eq!(acks.take_ready().acks, [(4, QoS::AtLeastOnce)]);
        assert_eq!(acks.outstanding(), 0);
    }

    #[test]
    fn an_ack_dropped_unfired_is_no_longer_outstanding() {
        for (client, _clean) in clients(1) {
            let acks = Acks::new(false);
            drop(acks.ack_for(&client, &publish(1)));
            assert_eq!(acks.outstanding(), 0);
        }
    }
}
