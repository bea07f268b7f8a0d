//! Manual acknowledgements: one [`Ack`] per message, fired by the pipeline
//! once the message's readings or dead letter are durable.
//!
//! A packet id is only meaningful on the connection that delivered it, so
//! every ack carries the connection generation and is dropped when it is
//! stale (the broker redelivers on the new session). Acks are queued with
//! `try_ack`, never awaited; one that cannot be queued sets `lost`, and the
//! loop restarts the connection so the broker redelivers instead of holding
//! an in-flight slot forever.

use rumqttc::{AsyncClient, Publish, QoS};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tracing::warn;

use crate::metrics;
use crate::pipeline::Ack;

/// The shared state acks check and update.
#[derive(Default)]
pub struct Acks {
    /// Bumped on every connect and disconnect.
    pub generation: Arc<AtomicU64>,
    /// Acks handed to the pipeline and not yet fired or dropped.
    pub outstanding: Arc<AtomicUsize>,
    /// Set when an ack could not be queued.
    pub lost: Arc<AtomicBool>,
}

/// Decrements the outstanding-ack count when the ack is fired or dropped.
struct Outstanding(Arc<AtomicUsize>);

impl Drop for Outstanding {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Acks {
    pub fn new_connection(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::Acquire)
    }

    pub fn take_lost(&self) -> bool {
        self.lost.swap(false, Ordering::AcqRel)
    }

    pub fn ack_for(&self, client: &AsyncClient, p: &Publish) -> Option<Ack> {
        if p.qos == QoS::AtMostOnce {
            return None;
        }
        // Only qos and pkid matter to try_ack; do not keep the payload alive.
        let mut publish = Publish::new("", p.qos, Vec::new());
        publish.pkid = p.pkid;
        let client = client.clone();
        let gen = self.generation.load(Ordering::Acquire);
        let current = self.generation.clone();
        let lost = self.lost.clone();
        self.outstanding.fetch_add(1, Ordering::AcqRel);
        let guard = Outstanding(self.outstanding.clone());
        Some(Ack::new(move || {
            let _guard = guard;
            if current.load(Ordering::Acquire) != gen {
                metrics::counter(
                    "mqtt_acks_stale_total",
                    "Acks dropped because their connection is gone (the broker redelivers).",
                    &[],
                )
                .inc();
                return;
            }
            if let Err(e) = client.try_ack(&publish) {
                metrics::counter(
                    "mqtt_acks_failed_total",
                    "Acks that could not be queued (the broker redelivers).",
                    &[],
                )
                .inc();
                warn!(error = %e, "MQTT acknowledgement could not be queued.");
                lost.store(true, Ordering::Release);
            }
        }))
    }
}
