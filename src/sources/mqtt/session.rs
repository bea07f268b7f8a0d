//! Connection events of one MQTT session: connect, disconnect,
//! subscriptions and the packet-size limit.

use rumqttc::{
    AsyncClient, ConnAck, ConnectionError, EventLoop, SubAck, SubscribeFilter, SubscribeReasonCode,
};
use tracing::{debug, error, info, warn};

use super::config::MQTT_MAX_PACKET;
use super::options::{options, qos, refused_packet_size, MAX_OUTGOING};
use super::Source;
use crate::metrics;

impl Source {
    pub(super) fn on_connect(&mut self, ack: &ConnAck, eventloop: &mut EventLoop) {
        self.acks.new_connection();
        self.connected.set(1);
        self.is_connected = true;
        info!(session_present = ack.session_present, "MQTT connected.");
        if !ack.session_present || !self.subscribed_once {
            self.need_subscribe = true;
        } else {
            self.set_ready(true);
        }
        if self.limit_raised {
            // This connection keeps the raised limit; later ones get the configured one.
            eventloop
                .mqtt_options
                .set_max_packet_size(self.cfg.max_packet_bytes(), MAX_OUTGOING);
            self.limit_raised = false;
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

    /// rumqttc fails the connection on a packet above its limit, and the
    /// broker redelivers it on every reconnect. Raise the limit for the next
    /// connection (up to a hard cap) so the message arrives, is rejected as
    /// oversized and dead-lettered, and is acknowledged.
    pub(super) fn on_refused_packet(&mut self, e: &ConnectionError, eventloop: &mut EventLoop) {
        let Some(n) = refused_packet_size(e) else {
            return;
        };
        self.count_rejected("packet_too_large");
        let cap = self
            .cfg
            .max_packet_bytes()
            .saturating_mul(4)
            .clamp(16 << 20, MQTT_MAX_PACKET);
        if n < cap {
            warn!(
                bytes = n,
                "MQTT packet above the limit; reconnecting with a raised limit to dead-letter it."
            );
            eventloop
                .mqtt_options
                .set_max_packet_size(n + 16, MAX_OUTGOING);
            self.limit_raised = true;
        } else {
            error!(bytes = n, cap, "MQTT packet too large to receive; it will be redelivered forever. Set the broker's max_packet_size below max_payload_bytes.");
        }
    }

    /// Re-reads the password and TLS files for the next connection.
    pub(super) fn refresh_options(&self, eventloop: &mut EventLoop) {
        match options(&self.cfg) {
            Ok(mut o) => {
                o.set_max_packet_size(eventloop.mqtt_options.max_packet_size(), MAX_OUTGOING);
                eventloop.mqtt_options = o;
            }
            Err(e) => {
                warn!(error = %e, "MQTT client options could not be refreshed; keeping the previous ones.")
            }
        }
    }
}
