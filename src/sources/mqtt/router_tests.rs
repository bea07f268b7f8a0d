use super::*;
use crate::profiles::ProfileSet;
use crate::sources::mqtt::config::Subscription;

/// The router of `cfg` planned against `set`, as `Config::load` plans it.
fn planned(mut cfg: MqttConfig, set: &ProfileSet) -> Router {
    let mut cx = crate::config::Check::new(".");
    cfg.routes = cfg.plan("sources.mqtt", set, &mut cx);
    Router::new(&cfg)
}

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
    planned(cfg, &set)
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
        "payload of 1025 bytes exceeds max_payload_bytes = 1024 (the dead letter keeps its first 1025 bytes)"
    );
}

#[test]
fn an_oversized_payload_is_dead_lettered_by_its_start_only() {
    let small = b"{\"v\": 1}";
    assert_eq!(dead_letter_payload(small, 1024), small);
    let big = vec![b'x'; 20 << 20];
    assert_eq!(dead_letter_payload(&big, 1024).len(), OVERSIZED_HEAD);
    // A character split by the cut is left out: the head stays text.
    let text = "é".repeat(OVERSIZED_HEAD);
    let head = dead_letter_payload(text.as_bytes(), 1024);
    assert_eq!(head.len(), OVERSIZED_HEAD);
    let odd = format!("x{text}");
    let head = dead_letter_payload(odd.as_bytes(), 1024);
    assert_eq!(head.len(), OVERSIZED_HEAD - 1);
    assert!(std::str::from_utf8(head).is_ok());
}

fn lp_router(policy: DeviceMismatch) -> Router {
    let mut set = ProfileSet::default();
    let mut cx = crate::config::Check::new(".");
    let mqtt: crate::profiles::MqttProfile =
        crate::config::parse_value(serde_json::json!({"format": "line_protocol"}), "p", &mut cx)
            .unwrap();
    set.profiles.insert(
        "lp".into(),
        Profile {
            name: "lp".into(),
            class: "custom".into(),
            mqtt: Some(mqtt),
            ..Default::default()
        },
    );
    let cfg = MqttConfig {
        subscriptions: vec![
            Subscription {
                filter: format!("s/{policy:?}/lp/+device"),
                profile: "lp".into(),
                device_mismatch: policy,
                ..Default::default()
            },
            Subscription {
                filter: format!("s/{policy:?}/agg"),
                profile: "lp".into(),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    planned(cfg, &set)
}

#[test]
fn a_payload_cannot_name_another_device_than_its_topic() {
    let r = lp_router(DeviceMismatch::TopicWins);
    let rs = r
        .handle(
            "s/TopicWins/lp/devA",
            b"env,device=devB t=1 5\nenv t=2 6",
            1,
        )
        .unwrap();
    assert!(rs.iter().all(|r| r.tag("device") == Some("devA")));
    assert_eq!(r.routes[0].overrides.get(), 1, "the override is counted");
    // Without a device in the topic, the payload's is the only one.
    let rs = r
        .handle("s/TopicWins/agg", b"env,device=devB t=1 5", 1)
        .unwrap();
    assert_eq!(rs[0].tag("device"), Some("devB"));

    let r = lp_router(DeviceMismatch::Reject);
    let e = r
        .handle("s/Reject/lp/devA", b"env,device=devB t=1 5", 1)
        .unwrap_err();
    assert_eq!(e.reason, "device_mismatch");
    assert!(
        e.detail
            .contains("\"devB\" contradicts the topic's device \"devA\""),
        "{}",
        e.detail
    );
    assert!(r
        .handle("s/Reject/lp/devA", b"env,device=devA t=1 5", 1)
        .is_ok());
}

#[test]
fn a_json_payloads_device_tag_cannot_override_the_topics() {
    let mut set = ProfileSet::default();
    let mut cx = crate::config::Check::new(".");
    let mqtt: crate::profiles::MqttProfile = crate::config::parse_value(
        serde_json::json!({"tags": {"device": "id"}, "fields": {"v": {"path": "v"}}}),
        "p",
        &mut cx,
    )
    .unwrap();
    let profile = Profile {
        name: "j".into(),
        class: "meter".into(),
        mqtt: Some(mqtt),
        ..Default::default()
    };
    set.profiles.insert("j".into(), profile);
    let cfg = MqttConfig {
        subscriptions: vec![Subscription {
            filter: "json/+device".into(),
            profile: "j".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let r = planned(cfg, &set);
    let rs = r.handle("json/m1", br#"{"id": "m2", "v": 1}"#, 1).unwrap();
    assert_eq!(rs[0].tag("device"), Some("m1"));
    assert_eq!(r.routes[0].overrides.get(), 1);
}

#[test]
fn indicator_measurements_are_refused_from_mqtt_payloads() {
    let r = lp_router(DeviceMismatch::TopicWins);
    let e = r
        .handle(
            "s/TopicWins/lp/noise-01",
            b"noise laeq=50 5\ngg_noise_day,device=noise-01 ld=20 5",
            1,
        )
        .unwrap_err();
    assert_eq!(e.reason, "reserved_measurement");
    assert!(e.detail.contains("\"gg_noise_day\""), "{}", e.detail);
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
    let r = planned(cfg, &set);
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
