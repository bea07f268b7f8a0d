use super::*;

#[test]
fn reason_codes_are_snake_case_names() {
    assert_eq!(
        snake(&p5::ConnectReturnCode::NotAuthorized),
        "not_authorized"
    );
    assert_eq!(snake(&rumqttc::ConnectReturnCode::Success), "success");
    assert_eq!(
        snake(&p5::DisconnectReasonCode::SessionTakenOver),
        "session_taken_over"
    );
    assert_eq!(
        snake(&p5::SubscribeReasonCode::SharedSubscriptionsNotSupported),
        "shared_subscriptions_not_supported"
    );
    assert_eq!(granted(QoS::AtLeastOnce).code, "granted_qos_1");
}

#[test]
fn refused_connacks_and_broker_disconnects_carry_their_reason() {
    let e = ConnectionError::V5(v5::ConnectionError::MqttState(
        v5::StateError::ServerDisconnect {
            reason_code: p5::DisconnectReasonCode::SessionTakenOver,
            reason_string: Some("bye".into()),
        },
    ));
    assert_eq!(
        e.reason(),
        Some((
            "disconnect",
            "session_taken_over".into(),
            Some("bye".into())
        ))
    );
    let e = ConnectionError::V5(v5::ConnectionError::ConnectionRefused(
        p5::ConnectReturnCode::NotAuthorized,
    ));
    assert_eq!(e.reason(), Some(("connack", "not_authorized".into(), None)));
    let e = ConnectionError::V4(rumqttc::ConnectionError::ConnectionRefused(
        rumqttc::ConnectReturnCode::BadUserNamePassword,
    ));
    assert_eq!(
        e.reason(),
        Some(("connack", "bad_user_name_password".into(), None))
    );
    let e = ConnectionError::V4(rumqttc::ConnectionError::RequestsDone);
    assert_eq!(e.reason(), None);
}

#[test]
fn qos_maps_both_ways() {
    for q in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        assert_eq!(qos4(qos5(q)), q);
    }
}

#[test]
fn pubacks_refuse_only_with_error_codes_and_publishes_keep_user_properties() {
    let ack = |reason| {
        let mut a = p5::PubAck::new(7, None);
        a.reason = reason;
        match event5(v5::Event::Incoming(p5::Packet::PubAck(a))) {
            Event::PubAck {
                pkid,
                code,
                refused,
            } => (pkid, code, refused),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(ack(p5::PubAckReason::Success), (7, "success".into(), false));
    // Mosquitto answers so when nobody subscribes: accepted.
    assert_eq!(
        ack(p5::PubAckReason::NoMatchingSubscribers),
        (7, "no_matching_subscribers".into(), false)
    );
    assert_eq!(
        ack(p5::PubAckReason::QuotaExceeded),
        (7, "quota_exceeded".into(), true)
    );

    let props = p5::PublishProperties {
        user_properties: vec![("ts".into(), "1".into()), ("ts".into(), "2".into())],
        ..Default::default()
    };
    let p = p5::Publish::new("t", QoS5::AtLeastOnce, "x", Some(props));
    let Event::Publish(m) = event5(v5::Event::Incoming(p5::Packet::Publish(p))) else {
        panic!("not a publish");
    };
    // In order, repeated names kept: decode takes the first (its tests).
    assert_eq!(
        m.user_properties,
        [
            ("ts".to_string(), "1".to_string()),
            ("ts".into(), "2".into())
        ]
    );
}
