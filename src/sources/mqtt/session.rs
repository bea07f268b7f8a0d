//! Connection events of one MQTT session: connect, disconnect,
//! subscriptions and a packet refused for its size.

use rumqttc::{
    AsyncClient, ConnAck, ConnectionError, EventLoop, SubAck, SubscribeFilter, SubscribeReasonCode,
};
use tracing::{debug, error, info, warn};

use super::options::{options, qos, refused_packet_size};
use super::Source;
use crate::metrics;

impl Source {
    pub(super) fn on_connect(&mut self, ack: &ConnAck) {
        self.connections.inc();
        self.acks.new_connection();
        self.connected.set(1);
        self.is_connected = true;
        info!(session_present = ack.session_present, "MQTT connected.");
        if !ack.session_present || !self.subscribed_once {
            self.need_subscribe = true;
        } else {
            self.set_ready(true);
        }
    }

    pub(super) fn on_disconnect(&mut self) {
        self.acks.new_connection();
        self.connected.set(0);
        self.is_connected = false;
        self.set_ready(false);
    }

    /// `/readyz` component `mqtt:<client id>`.
    pub(super) fn set_ready(&self, ready: bool) {
        crate::http::set_ready(&format!("mqtt:{}", self.cfg.client_id), ready);
    }

    pub(super) fn subscribe(&mut self, client: &AsyncClient) {
        let filters: Vec<SubscribeFilter> = self
            .router
            .routes
            .iter()
            .map(|r| SubscribeFilter::new(r.filter.broker_filter().to_string(), qos(r.qos)))
            .collect();
        if filters.is_empty() {
            self.need_subscribe = false;
            return;
        }
        match client.try_subscribe_many(filters) {
            Ok(()) => {
                self.need_subscribe = false;
                self.subscribed_once = true;
                info!(count = self.router.routes.len(), "MQTT subscriptions sent.");
            }
            Err(e) => warn!(error = %e, "MQTT subscribe could not be queued; retrying."),
        }
    }

    pub(super) fn on_suback(&self, s: &SubAck) {
        for (route, code) in self.router.routes.iter().zip(&s.return_codes) {
            match code {
                SubscribeReasonCode::Failure => {
                    metrics::counter(
                        "mqtt_subscriptions_refused_total",
                        "Subscriptions the broker refused.",
                        &[],
                    )
                    .inc();
                    error!(filter = %route.filter, "MQTT subscription refused by the broker.");
                }
                SubscribeReasonCode::Success(q) => {
                    debug!(filter = %route.filter, qos = ?q, "MQTT subscription granted.")
                }
            }
        }
        // Ready once the broker has confirmed the subscriptions: from now on
        // nothing published to them is missed.
        self.set_ready(true);
    }

    /// A packet above `receive_limit_bytes` (rumqttc's incoming limit) fails
    /// the connection before it is read: rumqttc has not parsed its packet
    /// id, so it cannot be acknowledged, and the broker redelivers it on
    /// every reconnect. This is the one case the source cannot dead-letter;
    /// it is counted, logged with the fix, and retried with the backoff (not
    /// with a raised limit: the limit is what bounds the memory one message
    /// takes). Everything up to the limit arrives and is dead-lettered.
    pub(super) fn on_refused_packet(&mut self, e: &ConnectionError) {
        let Some(n) = refused_packet_size(e) else {
            return;
        };
        let count = self.count_rejected("packet_too_large");
        if count <= 10 || count.is_power_of_two() {
            error!(
                bytes = n,
                receive_limit_bytes = self.cfg.receive_limit(),
                count,
                event = "MqttPacketTooLarge",
                "MQTT packet above receive_limit_bytes: it cannot be read or acknowledged and the broker redelivers it. Set the broker's message_size_limit below receive_limit_bytes (or raise receive_limit_bytes), then remove it from the broker's queue."
            );
        }
    }

    /// Re-reads the password and TLS files for the next connection.
    pub(super) fn refresh_options(&self, eventloop: &mut EventLoop) {
        match options(&self.cfg) {
            Ok(o) => eventloop.mqtt_options = o,
            Err(e) => {
                warn!(error = %e, "MQTT client options could not be refreshed; keeping the previous ones.")
            }
        }
    }
}
