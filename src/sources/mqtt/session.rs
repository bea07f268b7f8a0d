//! Connection events of one MQTT session: connect, disconnect,
//! subscriptions, reason codes and a packet refused for its size.
//!
//! Every CONNACK, SUBACK return code and broker DISCONNECT is logged with
//! its reason code and counted in `mqtt_reason_codes_total{packet,code}`.

use rumqttc::QoS;
use tracing::{debug, error, info, warn};

use super::options::options;
use super::Source;
use crate::common::mqtt::client::{
    reason_counter, Client, ConnAck, ConnectionError, EventLoop, SubCode,
};
use crate::common::mqtt::Protocol;
use crate::metrics;

impl Source {
    pub(super) fn on_connect(&mut self, ack: &ConnAck) {
        self.connections.inc();
        self.acks.new_connection();
        self.connected.set(1);
        self.is_connected = true;
        reason_counter("connack", "success").inc();
        if self.cfg.protocol == Protocol::V5 {
            info!(
                session_present = ack.session_present,
                code = "success",
                receive_maximum = self.cfg.receive_maximum(),
                session_expiry_secs = ack.session_expiry.unwrap_or(self.cfg.session_expiry_secs()),
                broker_receive_maximum = ?ack.receive_maximum,
                broker_max_packet_size = ?ack.max_packet_size,
                "MQTT 5 connected."
            );
        } else {
            info!(
                session_present = ack.session_present,
                code = "success",
                "MQTT connected."
            );
        }
        if !ack.session_present || !self.subscribed_once {
            self.need_subscribe = true;
        } else {
            self.set_ready(true);
        }
    }

    pub(super) fn on_disconnect(&mut self) {
        self.acks.new_connection();
        self.awaiting_suback = false;
        self.connected.set(0);
        self.is_connected = false;
        self.set_ready(false);
    }

    /// `/readyz` component `mqtt:<client id>`.
    pub(super) fn set_ready(&self, ready: bool) {
        crate::http::set_ready(&format!("mqtt:{}", self.cfg.client_id), ready);
    }

    pub(super) fn subscribe(&mut self, client: &Client) {
        let filters: Vec<(String, QoS)> = self
            .router
            .routes
            .iter()
            .map(|r| (r.filter.broker_filter().to_string(), r.qos))
            .collect();
        if filters.is_empty() {
            self.need_subscribe = false;
            return;
        }
        match client.try_subscribe_many(&filters) {
            Ok(()) => {
                self.need_subscribe = false;
                self.awaiting_suback = true;
                self.subscribed_once = true;
                info!(count = self.router.routes.len(), "MQTT subscriptions sent.");
            }
            Err(e) => warn!(error = %e, "MQTT subscribe could not be queued; retrying."),
        }
    }

    pub(super) fn on_suback(&mut self, codes: &[SubCode]) {
        self.awaiting_suback = false;
        for (route, c) in self.router.routes.iter().zip(codes) {
            reason_counter("suback", &c.code).inc();
            match c.granted {
                None => {
                    metrics::counter(
                        "mqtt_subscriptions_refused_total",
                        "Subscriptions the broker refused.",
                        &[],
                    )
                    .inc();
                    error!(filter = %route.filter, code = %c.code, "MQTT subscription refused by the broker.");
                }
                Some(q) => {
                    debug!(filter = %route.filter, qos = ?q, code = %c.code, "MQTT subscription granted.")
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
        let Some(n) = e.refused_packet_size() else {
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

    /// A refused CONNACK or (MQTT 5) a DISCONNECT from the broker: logged
    /// with its reason code and counted.
    pub(super) fn on_reason(&self, e: &ConnectionError) {
        let Some((packet, code, reason)) = e.reason() else {
            return;
        };
        reason_counter(packet, &code).inc();
        match packet {
            "connack" => error!(packet, code = %code, "MQTT connection refused by the broker."),
            _ => {
                warn!(packet, code = %code, reason = reason.as_deref().unwrap_or(""), "MQTT broker closed the connection.")
            }
        }
    }

    /// Re-reads the password and TLS files for the next connection.
    pub(super) fn refresh_options(&self, eventloop: &mut EventLoop) {
        match options(&self.cfg) {
            Ok(o) => eventloop.set_options(o),
            Err(e) => {
                warn!(error = %e, "MQTT client options could not be refreshed; keeping the previous ones.")
            }
        }
    }
}
