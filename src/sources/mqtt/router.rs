//! Routing a message to its subscription and decoding it: pure, so every
//! rejection path is tested without a broker.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::metrics::{self, Counter};
use crate::model::Reading;
use crate::profiles::guard::{self, DeviceMismatch};
use crate::profiles::topic::TopicFilter;
use crate::profiles::{decode_with_properties, Profile};

use super::config::MqttConfig;

/// One subscription, as planned at load, with its counters.
pub struct Route {
    pub filter: TopicFilter,
    pub qos: rumqttc::QoS,
    pub profile: Arc<Profile>,
    pub tags: BTreeMap<String, String>,
    pub device_mismatch: DeviceMismatch,
    /// `mqtt_messages_received_total{subscription=<filter>}`.
    pub received: Counter,
    /// `mqtt_device_overrides_total{subscription=<filter>}`.
    overrides: Counter,
}

/// Why a message was rejected; `reason` is the metric label.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub reason: &'static str,
    pub detail: String,
}

pub struct Router {
    pub routes: Vec<Route>,
    pub max_payload_bytes: usize,
    unrouted: Counter,
}

impl Router {
    /// The router of the subscriptions `Config::load` planned
    /// ([`MqttConfig::routes`]): nothing is parsed or looked up here.
    pub fn new(cfg: &MqttConfig) -> Router {
        let routes = cfg
            .routes
            .iter()
            .map(|s| {
                let name = s.filter.to_string();
                Route {
                    received: received_counter(&name),
                    overrides: metrics::counter(
                        "mqtt_device_overrides_total",
                        "Readings whose payload named another device than the topic; the topic's was kept.",
                        &[("subscription", name.as_str())],
                    ),
                    device_mismatch: s.device_mismatch,
                    filter: s.filter.clone(),
                    qos: s.qos,
                    profile: s.profile.clone(),
                    tags: s.tags.clone(),
                }
            })
            .collect();
        Router {
            routes,
            max_payload_bytes: cfg.max_payload_bytes,
            unrouted: received_counter(""),
        }
    }

    /// The subscription a topic belongs to (the first that matches, in
    /// config order) and its captures; `greengate sniff` names it.
    pub fn route<'a>(&'a self, topic: &'a str) -> Option<(&'a Route, Vec<(&'a str, &'a str)>)> {
        self.routes
            .iter()
            .find_map(|r| r.filter.matches(topic).map(|caps| (r, caps)))
    }

    /// Decodes one message into readings, or says why it is rejected.
    pub fn handle(
        &self,
        topic: &str,
        payload: &[u8],
        received_ns: i64,
    ) -> Result<Vec<Reading>, Rejection> {
        self.handle_with_properties(topic, payload, &[], received_ns)
    }

    /// [`Router::handle`] of a message with MQTT 5 user properties (a
    /// profile may take its timestamp from one).
    pub fn handle_with_properties(
        &self,
        topic: &str,
        payload: &[u8],
        properties: &[(String, String)],
        received_ns: i64,
    ) -> Result<Vec<Reading>, Rejection> {
        let Some((route, captures)) = self.route(topic) else {
            self.unrouted.inc();
            return Err(Rejection {
                reason: "unknown_topic",
                detail: "topic matches no subscription".into(),
            });
        };
        route.received.inc();
        if payload.len() > self.max_payload_bytes {
            return Err(Rejection {
                reason: "oversized",
                detail: format!(
                    "payload of {} bytes exceeds max_payload_bytes = {} (the dead letter keeps its first {} bytes)",
                    payload.len(),
                    self.max_payload_bytes,
                    OVERSIZED_HEAD.min(payload.len()),
                ),
            });
        }
        let mut readings = decode_with_properties(
            &route.profile,
            &route.tags,
            &captures,
            payload,
            properties,
            received_ns,
        )
        .map_err(|e| Rejection {
            reason: e.reason(),
            detail: format!("profile {}: {e}", route.profile.name),
        })?;
        let guarded = guard::refuse_reserved(&readings).and_then(|()| {
            // The device the topic names: a capture, else the subscription's tag.
            let topic_device = captures
                .iter()
                .find(|(k, _)| *k == "device")
                .map(|(_, v)| *v)
                .or(route.tags.get("device").map(String::as_str));
            match topic_device {
                Some(d) => guard::enforce_device(&mut readings, d, route.device_mismatch),
                None => Ok(0),
            }
        });
        match guarded {
            Ok(0) => {}
            Ok(n) => {
                route.overrides.add(n as u64);
                let total = route.overrides.get();
                if total <= 10 || total.is_power_of_two() {
                    tracing::warn!(
                        topic,
                        readings = n,
                        total,
                        event = "MqttDeviceOverridden",
                        "Payload named another device than its topic; the topic's device was kept."
                    );
                }
            }
            Err(e) => {
                return Err(Rejection {
                    reason: e.reason(),
                    detail: format!("profile {}: {e}", route.profile.name),
                })
            }
        }
        Ok(readings)
    }
}

/// How much of an oversized payload its dead letter keeps: enough to tell
/// what it was, never the whole message (which may be many MiB).
pub const OVERSIZED_HEAD: usize = 4096;

/// The part of a rejected payload its dead letter keeps: all of it within
/// `max_payload_bytes`, else its first [`OVERSIZED_HEAD`] bytes (cut before
/// a character split at the end, so a text head stays text).
pub fn dead_letter_payload(payload: &[u8], max_payload_bytes: usize) -> &[u8] {
    if payload.len() <= max_payload_bytes {
        return payload;
    }
    let head = &payload[..OVERSIZED_HEAD.min(payload.len())];
    match std::str::from_utf8(head) {
        Err(e) if e.error_len().is_none() => &head[..e.valid_up_to()],
        _ => head,
    }
}

/// Counted per subscription filter, not per topic: topics carry device ids,
/// so a per-topic label would grow one series per device (unbounded
/// cardinality); filters are few and fixed by the config. Messages matching
/// no subscription are counted under `subscription=""`.
fn received_counter(filter: &str) -> Counter {
    metrics::counter(
        "mqtt_messages_received_total",
        "MQTT messages received, by subscription filter.",
        &[("subscription", filter)],
    )
}

/// `mqtt_messages_rejected_total{reason}`.
pub fn rejected_counter(reason: &str) -> Counter {
    metrics::counter(
        "mqtt_messages_rejected_total",
        "MQTT messages rejected and dead-lettered, by reason.",
        &[("reason", reason)],
    )
}

#[cfg(test)]
#[path = "router_tests.rs"]
mod tests;
