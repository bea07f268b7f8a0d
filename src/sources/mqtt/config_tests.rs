use super::*;
use crate::config::parse_value;

fn check(v: serde_json::Value) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let mut cx = Check::new(dir.path());
    if let Some(c) = parse_value::<MqttConfig>(v, "sources.mqtt", &mut cx) {
        c.validate("sources.mqtt", &mut cx);
    }
    cx.problems().iter().map(|p| p.to_string()).collect()
}

#[test]
fn a_minimal_config_is_valid_with_safe_defaults() {
    let probs = check(serde_json::json!({
        "client_id": "gg-1",
        "subscriptions": [{"filter": "c/+site/noise/+device/up", "profile": "fiware-noise"}]
    }));
    assert!(probs.is_empty(), "{probs:?}");
    let c = MqttConfig::default();
    assert!(!c.clean_session);
    assert_eq!(c.max_payload_bytes, 256 * 1024);
    assert!(c.max_packet_bytes() > c.max_payload_bytes);
}

#[test]
fn every_problem_is_reported_with_its_path() {
    let probs = check(serde_json::json!({
        "client_id": "",
        "max_payload_bytes": 10,
        "reconnect_min": "10s",
        "reconnect_max": "1s",
        "password": "x",
        "tls": {"client_cert_file": "c.pem"},
        "bogus": 1,
        "subscriptions": [
            {"filter": "a/b+/c", "profile": "p", "qos": 3},
            {"filter": "a/#x/b", "profile": ""}
        ]
    }));
    let want = [
        "sources.mqtt.bogus: unknown key",
        "sources.mqtt.client_id: must be set",
        "sources.mqtt.username: a password needs a username",
        "sources.mqtt.tls.ca_file: must be set",
        "sources.mqtt.max_payload_bytes: must be between",
        "sources.mqtt.reconnect_max: must be at least reconnect_min",
        "sources.mqtt.subscriptions[0].filter: level 2",
        "sources.mqtt.subscriptions[0].qos: must be 0, 1 or 2",
        "sources.mqtt.subscriptions[1].filter: level 2",
        "sources.mqtt.subscriptions[1].profile: must name",
    ];
    for w in want {
        assert!(
            probs.iter().any(|p| p.starts_with(w)),
            "missing {w:?} in {probs:#?}"
        );
    }
    assert_eq!(probs.len(), want.len(), "{probs:#?}");
}

#[test]
fn unreadable_tls_and_password_files_are_problems() {
    let probs = check(serde_json::json!({
        "client_id": "x",
        "username": "u",
        "password_file": "nope.txt",
        "tls": {"ca_file": "missing-ca.pem"},
        "subscriptions": [{"filter": "a", "profile": "p"}]
    }));
    assert_eq!(probs.len(), 2, "{probs:#?}");
    assert!(probs[0].starts_with("sources.mqtt.password_file: cannot read"));
    assert!(probs[1].starts_with("sources.mqtt.tls.ca_file: cannot read"));
}

#[test]
fn subscriptions_must_name_a_loaded_mqtt_profile() {
    let mut set = ProfileSet::default();
    set.profiles.insert(
        "modbus-meter".into(),
        crate::profiles::Profile {
            name: "modbus-meter".into(),
            class: "water_meter".into(),
            modbus: Some(Default::default()),
            ..Default::default()
        },
    );
    let cfg = MqttConfig {
        subscriptions: vec![
            Subscription {
                filter: "a".into(),
                profile: "missing".into(),
                ..Default::default()
            },
            Subscription {
                filter: "b".into(),
                profile: "modbus-meter".into(),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let mut cx = Check::new(".");
    cfg.check_refs("sources.mqtt", &set, &mut cx);
    let probs: Vec<String> = cx.problems().iter().map(|p| p.to_string()).collect();
    assert_eq!(
        probs,
        [
            "sources.mqtt.subscriptions[0].profile: no profile named \"missing\" is loaded",
            "sources.mqtt.subscriptions[1].profile: profile \"modbus-meter\" has no [mqtt] table (it is not an MQTT profile)",
        ]
    );
}

#[test]
fn several_sessions_share_every_subscription_under_distinct_client_ids() {
    let cfg = MqttConfig {
        client_id: "gg".into(),
        sessions: 2,
        subscriptions: vec![
            Subscription {
                filter: "a/+device".into(),
                profile: "p".into(),
                ..Default::default()
            },
            Subscription {
                filter: "$share/own/b".into(),
                profile: "p".into(),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let s = cfg.session_configs();
    assert_eq!(
        s.iter().map(|c| c.client_id.as_str()).collect::<Vec<_>>(),
        ["gg-0", "gg-1"]
    );
    assert_eq!(s[1].subscriptions[0].filter, "$share/greengate/a/+device");
    assert_eq!(s[1].subscriptions[1].filter, "$share/own/b");
    assert_eq!(MqttConfig { sessions: 1, ..cfg }.session_configs().len(), 1);
}

#[test]
fn a_subscription_that_cannot_yield_a_device_id_is_a_problem() {
    let mut set = ProfileSet::default();
    let mut cx = Check::new(".");
    let m: crate::profiles::MqttProfile = parse_value(
        serde_json::json!({"fields": {"laeq": {"path": "v"}}}),
        "p",
        &mut cx,
    )
    .unwrap();
    set.profiles.insert(
        "n".into(),
        crate::profiles::Profile {
            name: "n".into(),
            class: "noise".into(),
            mqtt: Some(m),
            ..Default::default()
        },
    );
    let sub = |filter: &str| Subscription {
        filter: filter.into(),
        profile: "n".into(),
        ..Default::default()
    };
    let mut tagged = sub("x/y");
    tagged.tags.0.insert("device".into(), "fixed".into());
    let cfg = MqttConfig {
        subscriptions: vec![sub("a/+device/up"), sub("b/+/up"), tagged],
        ..Default::default()
    };
    cfg.check_refs("sources.mqtt", &set, &mut cx);
    let probs: Vec<String> = cx.problems().iter().map(|p| p.to_string()).collect();
    assert_eq!(probs.len(), 1, "{probs:?}");
    assert!(
        probs[0].starts_with("sources.mqtt.subscriptions[1].filter: no device id"),
        "{probs:?}"
    );
}

#[test]
fn the_receive_limit_is_a_ceiling_far_above_the_payload_limit() {
    let c = MqttConfig::default();
    assert_eq!(c.receive_limit(), 32 << 20);
    let big = MqttConfig {
        max_payload_bytes: 40 << 20,
        ..MqttConfig::default()
    };
    assert_eq!(big.receive_limit(), big.max_packet_bytes());
    let probs = check(serde_json::json!({
        "client_id": "gg-1",
        "max_payload_bytes": 4096,
        "receive_limit_bytes": 8192,
        "subscriptions": [{"filter": "c/+device", "profile": "p"}]
    }));
    assert_eq!(probs.len(), 1, "{probs:?}");
    assert!(
        probs[0].starts_with("sources.mqtt.receive_limit_bytes: must be between"),
        "{probs:?}"
    );
}

#[test]
fn mqtt_5_keys_need_protocol_5_and_mqtt_5_needs_a_keep_alive_of_5s() {
    let probs = check(serde_json::json!({
        "client_id": "x",
        "receive_maximum": 10,
        "session_expiry": "1h",
        "subscriptions": [{"filter": "a", "profile": "p"}]
    }));
    assert_eq!(
        probs,
        [
            "sources.mqtt.receive_maximum: needs protocol = 5 (MQTT 3.1.1 has no such property)",
            "sources.mqtt.session_expiry: needs protocol = 5 (MQTT 3.1.1 has no such property)",
        ]
    );
    let probs = check(serde_json::json!({
        "protocol": 5,
        "client_id": "x",
        "keep_alive": "2s",
        "receive_maximum": 0,
        "session_expiry": "0s",
        "subscriptions": [{"filter": "a", "profile": "p"}]
    }));
    assert_eq!(probs.len(), 3, "{probs:#?}");
    assert!(probs[0].starts_with("sources.mqtt.keep_alive: must be at least 5s"));
    assert!(probs[1].starts_with("sources.mqtt.receive_maximum: must be 1..65535"));
    assert!(probs[2].starts_with("sources.mqtt.session_expiry: must be at least 1s"));
}

#[test]
fn mqtt_5_defaults_follow_the_3_1_1_session() {
    let mut c = MqttConfig {
        protocol: Protocol::V5,
        inflight: 42,
        ..Default::default()
    };
    assert_eq!(c.receive_maximum(), 42, "the window defaults to inflight");
    assert_eq!(
        c.session_expiry_secs(),
        u32::MAX,
        "a persistent session never expires"
    );
    c.clean_session = true;
    assert_eq!(
        c.session_expiry_secs(),
        0,
        "a clean session ends with the connection"
    );
    c.session_expiry = Some(Duration::from_secs(3600));
    c.receive_maximum = Some(7);
    assert_eq!((c.receive_maximum(), c.session_expiry_secs()), (7, 3600));
}

#[test]
fn protocol_4_and_3_1_1_name_the_default() {
    for p in [serde_json::json!(4), serde_json::json!("3.1.1")] {
        let probs = check(serde_json::json!({
            "protocol": p,
            "client_id": "x",
            "keep_alive": "1s",
            "subscriptions": [{"filter": "a", "profile": "p"}]
        }));
        assert!(probs.is_empty(), "{probs:?}");
    }
}

#[test]
fn a_time_from_a_user_property_needs_protocol_5() {
    let mut set = ProfileSet::default();
    let mqtt: crate::profiles::MqttProfile = serde_json::from_value(serde_json::json!({
        "time": {"property": "ts", "format": "ms"},
        "fields": {"v": {"path": "v"}}
    }))
    .unwrap();
    set.profiles.insert(
        "v5-only".into(),
        crate::profiles::Profile {
            name: "v5-only".into(),
            class: "noise".into(),
            mqtt: Some(mqtt),
            ..Default::default()
        },
    );
    let mut cfg = MqttConfig {
        subscriptions: vec![Subscription {
            filter: "a/+device".into(),
            profile: "v5-only".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let problems = |cfg: &MqttConfig| {
        let mut cx = Check::new(".");
        cfg.check_refs("sources.mqtt", &set, &mut cx);
        cx.problems()
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        problems(&cfg),
        ["sources.mqtt.subscriptions[0].profile: profile \"v5-only\" reads its time from the user property \"ts\", which only MQTT 5 carries: set protocol = 5"]
    );
    cfg.protocol = Protocol::V5;
    assert!(problems(&cfg).is_empty());
}
