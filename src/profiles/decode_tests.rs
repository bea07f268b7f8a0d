use super::*;
use crate::config::{parse_value, Check, Validate};
use proptest::prelude::*;
use serde_json::json;

const T: i64 = 1_764_388_800_000_000_000; // 2025-11-29T04:00:00Z

fn profile(class: &str, mqtt: serde_json::Value) -> Profile {
    let mut cx = Check::new(".");
    let m: MqttProfile = parse_value(mqtt, "p.mqtt", &mut cx).expect("profile parses");
    m.validate("p.mqtt", &mut cx);
    assert!(cx.problems().is_empty(), "{:?}", cx.problems());
    Profile {
        name: "p".into(),
        class: class.into(),
        mqtt: Some(m),
        ..Default::default()
    }
}

fn caps(device: &str) -> Vec<(&str, &str)> {
    vec![("device", device)]
}

/// The line-protocol lines of what `p` decodes from `payload` (no tags).
fn lines(p: &Profile, payload: &[u8], received_ns: i64) -> Vec<String> {
    decode(p, &no_tags(), &[], payload, received_ns)
        .unwrap()
        .iter()
        .map(|r| crate::lineproto::to_line(r).unwrap())
        .collect()
}

fn no_tags() -> BTreeMap<String, String> {
    BTreeMap::new()
}

fn noise() -> Profile {
    profile(
        "noise",
        json!({
            "time": {"path": "dateObserved", "format": "rfc3339"},
            "fields": {
                "laeq": {"path": "LAeq", "unit": "dB(A)"},
                "lamax": {"path": "LAmax", "optional": true},
            }
        }),
    )
}

#[test]
fn json_fields_become_one_reading_with_topic_tags() {
    let rs = decode(
        &noise(),
        &no_tags(),
        &caps("n-1"),
        br#"{"LAeq": 55.2, "LAmax": 70, "dateObserved": "2025-11-29T04:00:00Z"}"#,
        1,
    )
    .unwrap();
    assert_eq!(rs.len(), 1);
    assert_eq!(
        crate::lineproto::to_line(&rs[0]).unwrap(),
        format!("noise,device=n-1 laeq=55.2,lamax=70 {T}")
    );
}

#[test]
fn a_missing_field_names_the_field_and_the_path() {
    let e = decode(
        &noise(),
        &no_tags(),
        &caps("n"),
        br#"{"dateObserved": "2025-11-29T04:00:00Z"}"#,
        1,
    )
    .unwrap_err();
    assert_eq!(e.to_string(), r#"field laeq: path "LAeq" not found"#);
    assert_eq!(e.reason(), "missing_field");
}

#[test]
fn optional_fields_may_be_missing_or_null() {
    let rs = decode(
        &noise(),
        &no_tags(),
        &caps("n"),
        br#"{"LAeq": 50, "LAmax": null, "dateObserved": "2025-11-29T04:00:00Z"}"#,
        1,
    )
    .unwrap();
    assert_eq!(rs[0].fields, vec![("laeq".into(), FieldValue::Float(50.0))]);
}

#[test]
fn array_messages_give_one_reading_per_element_with_its_own_time() {
    let p = profile(
        "water_meter",
        json!({
            "records": "readings",
            "time": {"path": "ts", "format": "ms"},
            "tags": {"device": "$.meter"},
            "fields": {"total_m3": {"path": "total", "unit": "L"}}
        }),
    );
    let payload = br#"{"meter": "wm-9", "readings": [{"ts": 1764388800000, "total": 1500}, {"ts": 1764388860000, "total": 1502.5}]}"#;
    let lines = lines(&p, payload, 1);
    assert_eq!(
        lines,
        [
            format!("water_meter,device=wm-9 total_m3=1.5 {T}"),
            format!(
                "water_meter,device=wm-9 total_m3=1.5025 {}",
                T + 60_000_000_000
            ),
        ]
    );
}

#[test]
fn scale_offset_and_unit_apply_in_that_order() {
    let p = profile(
        "parking",
        json!({"fields": {"battery_v": {"path": "bat", "scale": 10.0, "offset": 5.0, "unit": "mV"}}}),
    );
    let rs = decode(&p, &no_tags(), &caps("p"), br#"{"bat": 361.5}"#, 7).unwrap();
    assert_eq!(rs[0].field("battery_v"), Some(&FieldValue::Float(3.62)));
    assert_eq!(rs[0].time_ns, 7, "no time spec: the receive time");
}

#[test]
fn bools_coerce_from_zero_one_and_through_a_map() {
    let p = profile(
        "lighting",
        json!({"fields": {
            "on": {"path": "state", "type": "bool", "map": {"ON": true, "OFF": false}},
            "occupied": {"path": "occ", "type": "bool"},
            "status_code": {"path": "code", "type": "int"},
            "status": {"path": "code", "type": "string", "map": {"0": "ok", "3": "brokenLantern"}},
        }}),
    );
    let rs = decode(
        &p,
        &no_tags(),
        &caps("l"),
        br#"{"state": "ON", "occ": 1, "code": 3}"#,
        1,
    )
    .unwrap();
    assert_eq!(rs[0].field("on"), Some(&FieldValue::Bool(true)));
    assert_eq!(rs[0].field("occupied"), Some(&FieldValue::Bool(true)));
    assert_eq!(rs[0].field("status_code"), Some(&FieldValue::Int(3)));
    assert_eq!(
        rs[0].field("status"),
        Some(&FieldValue::Str("brokenLantern".into()))
    );
    let e = decode(
        &p,
        &no_tags(),
        &caps("l"),
        br#"{"state": "BLINK", "occ": 1, "code": 0}"#,
        1,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"field on: value "BLINK" is not in the field's map"#
    );
    let e = decode(
        &p,
        &no_tags(),
        &caps("l"),
        br#"{"state": "ON", "occ": 2, "code": 0}"#,
        1,
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "field occupied: expected 0 or 1, got 2");
}

#[test]
fn wrong_types_and_bad_json_are_named() {
    let e = decode(&noise(), &no_tags(), &caps("n"), br#"{"LAeq": "loud"}"#, 1).unwrap_err();
    assert_eq!(e.reason(), "bad_timestamp");
    let e = decode(
        &noise(),
        &no_tags(),
        &caps("n"),
        br#"{"LAeq": "loud", "dateObserved": "2025-11-29T04:00:00Z"}"#,
        1,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"field laeq: expected a number, got "loud""#
    );
    let e = decode(&noise(), &no_tags(), &caps("n"), b"{nope", 1).unwrap_err();
    assert_eq!(e.reason(), "invalid_json");
    let e = decode(&noise(), &no_tags(), &caps("n"), &[0xff, 0xfe], 1).unwrap_err();
    assert_eq!(e, DecodeError::NotUtf8);
}

#[test]
fn a_reading_without_a_device_is_rejected() {
    let e = decode(
        &noise(),
        &no_tags(),
        &[],
        br#"{"LAeq": 50, "dateObserved": "2025-11-29T04:00:00Z"}"#,
        1,
    )
    .unwrap_err();
    assert_eq!(e, DecodeError::NoDevice);
}

#[test]
fn payload_tags_beat_captures_which_beat_subscription_and_profile_tags() {
    let mut p = profile(
        "security",
        json!({"tags": {"zone": "z"}, "fields": {"event": {"path": "e", "type": "string"}}}),
    );
    p.tags.0.insert("zone".into(), "profile".into());
    p.tags.0.insert("vendor".into(), "acme".into());
    let sub: BTreeMap<String, String> = [
        ("zone".to_string(), "sub".to_string()),
        ("lot".to_string(), "A".to_string()),
    ]
    .into();
    let captures = vec![("device", "d1"), ("zone", "cap")];
    let rs = decode(
        &p,
        &sub,
        &captures,
        br#"{"e": "heartbeat", "z": "payload"}"#,
        1,
    )
    .unwrap();
    assert_eq!(rs[0].tag("zone"), Some("payload"));
    let rs = decode(&p, &sub, &captures, br#"{"e": "heartbeat"}"#, 1).unwrap();
    assert_eq!(rs[0].tag("zone"), Some("cap"));
    assert_eq!(rs[0].tag("lot"), Some("A"));
    assert_eq!(rs[0].tag("vendor"), Some("acme"));
}

#[test]
fn line_protocol_passes_through_with_enrichment_that_never_overrides() {
    let p = profile("custom", json!({"format": "line_protocol"}));
    let caps = vec![("device", "gw"), ("site", "s1")];
    let rs = decode(
        &p,
        &no_tags(),
        &caps,
        b"env,site=own temp=21.5 5\nenv rh=40i\n",
        9,
    )
    .unwrap();
    let lines: Vec<String> = rs
        .iter()
        .map(|r| crate::lineproto::to_line(r).unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            "env,device=gw,site=own temp=21.5 5",
            "env,device=gw,site=s1 rh=40i 9"
        ]
    );
    let e = decode(&p, &no_tags(), &caps, b"env temp=", 9).unwrap_err();
    assert_eq!(e.reason(), "invalid_line_protocol");
    let e = decode(&p, &no_tags(), &caps, b"# only a comment\n", 9).unwrap_err();
    assert_eq!(
        e.to_string(),
        "line protocol at byte 0: payload has no lines"
    );
}

#[test]
fn non_finite_results_are_rejected_not_stored() {
    let p = profile(
        "noise",
        json!({"fields": {"laeq": {"path": "v", "scale": 1e308}}}),
    );
    let e = decode(&p, &no_tags(), &caps("n"), br#"{"v": 1e308}"#, 1).unwrap_err();
    assert_eq!(e.reason(), "wrong_type");
}

#[test]
fn newlines_in_string_fields_are_rejected() {
    let p = profile(
        "security",
        json!({"fields": {"event": {"path": "e", "type": "string"}}}),
    );
    let e = decode(&p, &no_tags(), &caps("n"), br#"{"e": "a\nb"}"#, 1).unwrap_err();
    assert_eq!(e.reason(), "invalid_reading");
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_json_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode(&noise(), &no_tags(), &caps("n"), &bytes, 1);
    }

    #[test]
    fn arbitrary_json_values_never_panic_the_decoder(
        laeq in prop_oneof![Just(json!(null)), any::<f64>().prop_map(|f| json!(f)), any::<i64>().prop_map(|i| json!(i)), ".{0,8}".prop_map(|s| json!(s))],
        ts in prop_oneof![any::<i64>().prop_map(|i| json!(i)), ".{0,30}".prop_map(|s| json!(s))],
    ) {
        let p = profile("noise", json!({
            "records": "$[*]",
            "time": {"path": "t", "format": "s"},
            "fields": {"laeq": {"path": "v", "type": "int", "scale": 3.0}}
        }));
        let payload = serde_json::to_vec(&json!([{"v": laeq, "t": ts}])).unwrap();
        if let Ok(rs) = decode(&p, &no_tags(), &caps("n"), &payload, 1) {
            for r in rs {
                prop_assert!(r.validate().is_ok());
            }
        }
    }
}

#[test]
fn converted_values_carry_no_binary_division_noise() {
    let p = profile(
        "water_meter",
        json!({"fields": {"total_m3": {"path": "l", "unit": "L"}}}),
    );
    let rs = decode(&p, &no_tags(), &caps("w"), br#"{"l": 123470.2}"#, 1).unwrap();
    assert_eq!(rs[0].field("total_m3"), Some(&FieldValue::Float(123.4702)));
}

#[test]
fn escapes_duplicate_keys_and_object_wildcards_decode_as_value_did() {
    // Records over an object iterate in key order; of duplicate keys the
    // last wins; escaped text is unescaped (the borrowed tree, issue 15).
    let p = profile(
        "noise",
        json!({
            "records": "$.by[*]",
            "tags": {"device": "d"},
            "fields": {"laeq": {"path": "v"}}
        }),
    );
    let payload = br#"{"by": {"z": {"d": "n\u002d2", "v": 1}, "a": {"d": "n-1", "v": 2, "v": 3}}}"#;
    let lines = lines(&p, payload, 1);
    assert_eq!(
        lines,
        ["noise,device=n-1 laeq=3 1", "noise,device=n-2 laeq=1 1"]
    );
}

/// Issue 15 point 3: `time = { property = .. }` takes the timestamp from an
/// MQTT 5 user property, for every record of the message.
#[test]
fn the_time_can_come_from_a_user_property() {
    let p = profile(
        "noise",
        json!({
            "records": "r",
            "time": {"property": "ts", "format": "ms"},
            "fields": {"laeq": {"path": "v"}}
        }),
    );
    let props = vec![
        ("site".to_string(), "x".to_string()),
        ("ts".to_string(), "1764388800123".to_string()),
        // MQTT 5 allows a name twice: the first one wins.
        ("ts".to_string(), "1".to_string()),
    ];
    let rs = decode_with_properties(
        &p,
        &no_tags(),
        &caps("n1"),
        br#"{"r": [{"v": 50}, {"v": 51}]}"#,
        &props,
        9,
    )
    .unwrap();
    assert_eq!(rs.len(), 2);
    assert!(rs.iter().all(|r| r.time_ns == T + 123_000_000));

    // Without the property (a 3.1.1 message has none): a bad timestamp,
    // never the receive time.
    let e = decode(&p, &no_tags(), &caps("n1"), br#"{"r": [{"v": 50}]}"#, 9).unwrap_err();
    assert_eq!(e.reason(), "bad_timestamp");
    assert!(
        e.to_string().contains(r#"user property "ts" not found"#),
        "{e}"
    );
    let bad = vec![("ts".to_string(), "later".to_string())];
    let e = decode_with_properties(
        &p,
        &no_tags(),
        &caps("n1"),
        br#"{"r": [{"v": 1}]}"#,
        &bad,
        9,
    )
    .unwrap_err();
    assert_eq!(e.reason(), "bad_timestamp");
    assert!(
        e.to_string().starts_with(r#"time: user property "ts": "#),
        "{e}"
    );
}

#[test]
fn a_time_needs_exactly_one_of_path_and_property() {
    for (time, want) in [
        (
            json!({"path": "t", "property": "ts", "format": "ms"}),
            "not both",
        ),
        (json!({"format": "ms"}), "needs path"),
        (json!({"property": "", "format": "ms"}), "must not be empty"),
    ] {
        let mut cx = Check::new(".");
        let m: MqttProfile = parse_value(
            json!({"time": time, "fields": {"v": {"path": "v"}}}),
            "p.mqtt",
            &mut cx,
        )
        .expect("parses");
        m.validate("p.mqtt", &mut cx);
        let p: Vec<String> = cx.problems().iter().map(|p| p.to_string()).collect();
        assert!(
            p.iter()
                .any(|s| s.starts_with("p.mqtt.time") && s.contains(want)),
            "{p:?}"
        );
    }
}
