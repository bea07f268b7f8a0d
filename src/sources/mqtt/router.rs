//! Routing a message to its subscription and decoding it: pure, so every
//! rejection path is tested without a broker.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::metrics::{self, Counter};
use crate::model::Reading;
use crate::profiles::topic::TopicFilter;
use crate::profiles::{decode, Profile, ProfileSet};

use super::config::MqttConfig;

/// One subscription, resolved.
pub struct Route {
    pub filter: TopicFilter,
    pub qos: u8,
    pub profile: Arc<Profile>,
    pub tags: BTreeMap<String, String>,
    /// `mqtt_messages_received_total{subscription=<filter>}`.
    pub received: Counter,
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
    /// Builds the routes; subscriptions whose filter or profile is unusable
    /// (already reported by `greengate check`) are skipped with an error log.
    pub fn new(cfg: &MqttConfig, profiles: &ProfileSet) -> Router {
        let mut routes = Vec::new();
        for s in &cfg.subscriptions {
            let filter = match TopicFilter::parse(&s.filter) {
                Ok(f) => f,
                Err(e) => {
                    tracing::error!(filter = %s.filter, error = %e, "MQTT subscription skipped: bad filter.");
                    continue;
                }
            };
            let Some(profile) = profiles.get(&s.profile).filter(|p| p.mqtt.is_some()) else {
                tracing::error!(filter = %s.filter, profile = %s.profile, "MQTT subscription skipped: no such MQTT profile.");
                continue;
            };
            routes.push(Route {
                received: received_counter(&s.filter),
                filter,
                qos: s.qos,
                profile: Arc::new(profile.clone()),
                tags: s.tags.0.clone(),
            });
        }
        Router {
            routes,
            max_payload_bytes: cfg.max_payload_bytes,
            unrouted: received_counter(""),
        }
    }

    /// Decodes one message into readings, or says why it is rejected.
    pub fn handle(
        &self,
        topic: &str,
        payload: &[u8],
        received_ns: i64,
    ) -> Result<Vec<Reading>, Rejection> {
        let found = self
            .routes
            .iter()
            .find_map(|r| r.filter.matches(topic).map(|caps| (r, caps)));
        let Some((route, captures)) = found else {
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
                    "payload of {} bytes exceeds max_payload_bytes = {}",
                    payload.len(),
                    self.max_payload_bytes
                ),
            });
        }
        decode(&route.profile, &route.tags, &captures, payload, received_ns).map_err(|e| {
            Rejection {
                reason: e.reason(),
                detail: format!("profile {}: {e}", route.profile.name),
            }
        })
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
mod tests {
    use super::*;
    use crate::sources::mqtt::config::Subscription;

    fn router() -> Router {
        let mut set = ProfileSet::default();
        let mut cx = crate::config::Check::new(".");
        let mqtt: crate::profiles::MqttProfile = crate::config::parse_value(
            serde_json::json!({"fields": {"laeq": {"path": "v"}}}),
            "p",
            &mut cx,
        )
        .unwrap();
        set.profiles.insert(
            "n".into(),
            Profile {
                name: "n".into(),
                class: "noise".into(),
                mqtt: Some(mqtt),
                ..Default::default()
            },
        );
        let sub = |filter: &str, zone: &str| Subscription {
            filter: filter.into(),
            profile: "n".into(),
            tags: crate::config::Tags([("zone".to_string(), zone.to_string())].into()),
            ..Default::default()
        };
        let cfg = MqttConfig {
            max_payload_bytes: 1024,
            subscriptions: vec![
                sub("a/+device/up", "first"),
                sub("a/#", "second"),
                sub("b/+x/up", "no-device"),
                Subscription {
                    filter: "c/+device".into(),
                    profile: "missing".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        Router::new(&cfg, &set)
    }

    #[test]
    fn the_first_matching_subscription_decodes_the_message() {
        let rs = router().handle("a/d1/up", br#"{"v": 1}"#, 5).unwrap();
        assert_eq!(rs[0].tag("zone"), Some("first"));
        assert_eq!(rs[0].tag("device"), Some("d1"));
    }

    #[test]
    fn unmatched_topics_and_unusable_subscriptions_are_unknown_topic() {
        let r = router();
        assert_eq!(
            r.routes.len(),
            3,
            "the subscription with a missing profile is skipped"
        );
        for t in ["x/y", "c/d1"] {
            assert_eq!(r.handle(t, b"{}", 1).unwrap_err().reason, "unknown_topic");
        }
    }

    #[test]
    fn oversized_payloads_are_rejected_before_decoding() {
        let big = vec![b' '; 1025];
        let e = router().handle("a/d1/up", &big, 1).unwrap_err();
        assert_eq!(e.reason, "oversized");
        assert_eq!(
            e.detail,
            "payload of 1025 bytes exceeds max_payload_bytes = 1024"
        );
    }

    #[test]
    fn decode_errors_name_the_profile() {
        let e = router().handle("b/x/up", br#"{"v": 1}"#, 1).unwrap_err();
        assert_eq!(e.reason, "no_device");
        assert!(
            e.detail.starts_with("profile n: no device tag"),
            "{}",
            e.detail
        );
    }

    #[test]
    fn messages_are_counted_per_subscription_filter_not_per_topic() {
        let mut set = ProfileSet::default();
        set.profiles
            .insert("n".into(), router().routes[0].profile.as_ref().clone());
        let cfg = MqttConfig {
            subscriptions: vec![Subscription {
                filter: "counted/+device".into(),
                profile: "n".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let r = Router::new(&cfg, &set);
        for dev in ["d1", "d2", "d3"] {
            r.handle(&format!("counted/{dev}"), br#"{"v": 1}"#, 1)
                .unwrap();
        }
        let text = metrics::registry().render();
        assert!(
            text.contains(
                r#"greengate_mqtt_messages_received_total{subscription="counted/+device"} 3"#
            ),
            "{text}"
        );
        assert!(!text.contains("counted/d1"));
    }
}
