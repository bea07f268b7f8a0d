//! One MQTT client over either protocol: rumqttc has a separate client,
//! event loop and options for MQTT 3.1.1 (`rumqttc`) and MQTT 5
//! (`rumqttc::v5`). These thin enums put the two behind one shape, so the
//! code that acknowledges, subscribes and routes is written once; each
//! method is a plain match with no logic of its own, except the mapping
//! of packets to a [`Event`] both protocols share.
//!
//! QoS is rumqttc's 3.1.1 [`QoS`] everywhere; reason codes are names in
//! snake_case (`not_authorized`, `granted_qos_1`), the same in logs and in
//! `mqtt_reason_codes_total{packet,code}`.

use rumqttc::v5::mqttbytes::v5 as p5;
use rumqttc::v5::mqttbytes::QoS as QoS5;
use rumqttc::{v5, Outgoing, Packet, QoS};
use std::fmt;

use crate::metrics::{self, Counter};

/// Client options of one protocol (from [`super::Connection::client_options`]).
// One per client, moved once: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Options {
    V4(rumqttc::MqttOptions),
    V5(v5::MqttOptions),
}

/// The cheap, cloneable request handle: it only queues requests.
#[derive(Clone)]
pub enum Client {
    V4(rumqttc::AsyncClient),
    V5(v5::AsyncClient),
}

/// The event loop: owns the connection; [`EventLoop::poll`] drives it.
// One per session, owned by its task and never moved while polled.
#[allow(clippy::large_enum_variant)]
pub enum EventLoop {
    /// With the time of the next keep-alive PINGREQ while
    /// [`super::batch_acks`] drives the connection.
    V4(rumqttc::EventLoop, tokio::time::Instant),
    V5(v5::EventLoop),
}

/// A request could not be queued (the channel is full, or the event loop
/// is gone).
#[derive(Debug, thiserror::Error)]
#[error("MQTT request not queued: {0}")]
pub struct RequestError(String);

/// A received PUBLISH, protocol-neutral.
#[derive(Debug, Clone)]
pub struct Message {
    /// MQTT 5 carries topics as bytes; brokers refuse non-UTF-8 topics, so
    /// the lossy conversion never changes a topic that reaches us.
    pub topic: String,
    pub payload: bytes::Bytes,
    pub pkid: u16,
    pub qos: QoS,
    /// MQTT 5 User Properties of the PUBLISH, in order (always empty with
    /// 3.1.1, and empty without allocating when a v5 message has none).
    pub user_properties: Vec<(String, String)>,
}

/// A CONNACK with success: what the broker granted.
#[derive(Debug, Clone, Default)]
pub struct ConnAck {
    pub session_present: bool,
    /// MQTT 5 properties the broker set (None with 3.1.1 or when absent).
    pub receive_maximum: Option<u16>,
    pub max_packet_size: Option<u32>,
    pub session_expiry: Option<u32>,
}

/// One SUBACK return code, in subscription order.
#[derive(Debug, Clone, PartialEq)]
pub struct SubCode {
    /// The QoS granted, or None when the subscription was refused.
    pub granted: Option<QoS>,
    pub code: String,
}

/// What both protocols' event loops yield that a user acts on.
#[derive(Debug)]
pub enum Event {
    ConnAck(ConnAck),
    Publish(Message),
    SubAck(Vec<SubCode>),
    /// The PUBACK of a QoS 1 PUBLISH we sent. `refused` is the MQTT 5 reason
    /// code when the broker did not accept the message (0x80 and above,
    /// e.g. `not_authorized`, `quota_exceeded`); `code` is its reason code
    /// name (`success` with 3.1.1, which has none).
    PubAck {
        pkid: u16,
        code: String,
        refused: bool,
    },
    /// Our DISCONNECT went out (everything queued before it did too).
    DisconnectSent,
    Other,
}

/// Why the connection failed; the next poll reconnects.
#[derive(Debug)]
pub enum ConnectionError {
    V4(rumqttc::ConnectionError),
    V5(v5::ConnectionError),
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectionError::V4(e) => e.fmt(f),
            ConnectionError::V5(e) => e.fmt(f),
        }
    }
}

impl ConnectionError {
    /// The size of an incoming packet the client refused (over its limit).
    pub fn refused_packet_size(&self) -> Option<usize> {
        use rumqttc::{ConnectionError as C4, StateError as S4};
        use v5::{ConnectionError as C5, StateError as S5};
        match self {
            ConnectionError::V4(C4::MqttState(S4::Deserialization(
                rumqttc::Error::PayloadSizeLimitExceeded(n),
            ))) => Some(*n),
            ConnectionError::V5(C5::MqttState(S5::Deserialization(
                v5::mqttbytes::Error::PayloadSizeLimitExceeded { pkt_size, .. },
            ))) => Some(*pkt_size),
            _ => None,
        }
    }

    /// The broker's reason, when the failure is a refused CONNACK or (MQTT
    /// 5) a DISCONNECT from the broker: `(packet, code, reason string)`.
    pub fn reason(&self) -> Option<(&'static str, String, Option<String>)> {
        use v5::{ConnectionError as C5, StateError as S5};
        match self {
            ConnectionError::V4(rumqttc::ConnectionError::ConnectionRefused(c)) => {
                Some(("connack", snake(c), None))
            }
            ConnectionError::V5(C5::ConnectionRefused(c)) => Some(("connack", snake(c), None)),
            ConnectionError::V5(C5::MqttState(S5::ConnFail { reason })) => {
                Some(("connack", snake(reason), None))
            }
            ConnectionError::V5(C5::MqttState(S5::ServerDisconnect {
                reason_code,
                reason_string,
            })) => Some(("disconnect", snake(reason_code), reason_string.clone())),
            _ => None,
        }
    }
}

/// The client and its event loop; `cap` is the request channel's room.
pub fn new(options: Options, cap: usize) -> (Client, EventLoop) {
    match options {
        Options::V4(o) => {
            let (c, e) = rumqttc::AsyncClient::new(o, cap);
            (Client::V4(c), EventLoop::V4(e, tokio::time::Instant::now()))
        }
        Options::V5(o) => {
            let (c, e) = v5::AsyncClient::new(o, cap);
            (Client::V5(c), EventLoop::V5(e))
        }
    }
}

impl Client {
    /// Queues the PUBACK (QoS 1) or PUBREC (QoS 2) of a received message.
    pub fn try_ack(&self, pkid: u16, qos: QoS) -> Result<(), RequestError> {
        match self {
            Client::V4(c) => {
                let mut p = rumqttc::Publish::new("", qos, Vec::new());
                p.pkid = pkid;
                c.try_ack(&p).map_err(err)
            }
            Client::V5(c) => {
                let mut p = p5::Publish::new("", qos5(qos), Vec::new(), None);
                p.pkid = pkid;
                c.try_ack(&p).map_err(err)
            }
        }
    }

    /// Publishes one message (waits for room in the request channel). With
    /// MQTT 5 the payload is declared UTF-8 text (Payload Format Indicator
    /// 1): every caller publishes line protocol.
    pub async fn publish_text(
        &self,
        topic: &str,
        qos: QoS,
        payload: bytes::Bytes,
    ) -> Result<(), RequestError> {
        match self {
            Client::V4(c) => c.publish(topic, qos, false, payload).await.map_err(err),
            Client::V5(c) => {
                let props = p5::PublishProperties {
                    payload_format_indicator: Some(1),
                    ..Default::default()
                };
                c.publish_with_properties(topic, qos5(qos), false, payload, props)
                    .await
                    .map_err(err)
            }
        }
    }

    /// Queues one SUBSCRIBE with every filter.
    pub fn try_subscribe_many(&self, filters: &[(String, QoS)]) -> Result<(), RequestError> {
        match self {
            Client::V4(c) => c
                .try_subscribe_many(
                    filters
                        .iter()
                        .map(|(f, q)| rumqttc::SubscribeFilter::new(f.clone(), *q)),
                )
                .map_err(err),
            Client::V5(c) => c
                .try_subscribe_many(filters.iter().map(|(f, q)| p5::Filter::new(f, qos5(*q))))
                .map_err(err),
        }
    }

    pub fn try_disconnect(&self) -> Result<(), RequestError> {
        match self {
            Client::V4(c) => c.try_disconnect().map_err(err),
            Client::V5(c) => c.try_disconnect().map_err(err),
        }
    }
}

fn err(e: impl fmt::Display) -> RequestError {
    RequestError(e.to_string())
}

impl EventLoop {
    /// The next event; reconnects first when the connection is down.
    pub async fn poll(&mut self) -> Result<Event, ConnectionError> {
        match self {
            EventLoop::V4(e, _) => e.poll().await.map(event4).map_err(ConnectionError::V4),
            EventLoop::V5(e) => e.poll().await.map(event5).map_err(ConnectionError::V5),
        }
    }

    /// Takes the PUBLISHes rumqttc read but did not yield before the
    /// connection failed (after a reconnect their packet ids may name other
    /// messages).
    pub fn take_stranded(&mut self) -> Vec<Message> {
        match self {
            EventLoop::V4(e, _) => e
                .state
                .events
                .drain(..)
                .filter_map(|ev| match event4(ev) {
                    Event::Publish(m) => Some(m),
                    _ => None,
                })
                .collect(),
            EventLoop::V5(e) => e
                .state
                .events
                .drain(..)
                .filter_map(|ev| match event5(ev) {
                    Event::Publish(m) => Some(m),
                    _ => None,
                })
                .collect(),
        }
    }

    /// Options for the next connection (rotated password or certificate
    /// files). Options of the other protocol are ignored: the protocol of a
    /// running client does not change.
    pub fn set_options(&mut self, options: Options) {
        match (self, options) {
            (EventLoop::V4(e, _), Options::V4(o)) => e.mqtt_options = o,
            (EventLoop::V5(e), Options::V5(o)) => e.options = o,
            _ => {}
        }
    }
}

pub(super) fn event4(e: rumqttc::Event) -> Event {
    match e {
        rumqttc::Event::Incoming(Packet::ConnAck(a)) => Event::ConnAck(ConnAck {
            session_present: a.session_present,
            ..ConnAck::default()
        }),
        rumqttc::Event::Incoming(Packet::Publish(p)) => Event::Publish(Message {
            topic: p.topic,
            payload: p.payload,
            pkid: p.pkid,
            qos: p.qos,
            user_properties: Vec::new(),
        }),
        rumqttc::Event::Incoming(Packet::PubAck(a)) => Event::PubAck {
            pkid: a.pkid,
            code: "success".into(),
            refused: false,
        },
        rumqttc::Event::Incoming(Packet::SubAck(s)) => Event::SubAck(
            s.return_codes
                .iter()
                .map(|c| match c {
                    rumqttc::SubscribeReasonCode::Success(q) => granted(*q),
                    rumqttc::SubscribeReasonCode::Failure => SubCode {
                        granted: None,
                        code: "failure".into(),
                    },
                })
                .collect(),
        ),
        rumqttc::Event::Outgoing(Outgoing::Disconnect) => Event::DisconnectSent,
        _ => Event::Other,
    }
}

fn event5(e: v5::Event) -> Event {
    match e {
        v5::Event::Incoming(p5::Packet::ConnAck(a)) => {
            let p = a.properties.as_ref();
            Event::ConnAck(ConnAck {
                session_present: a.session_present,
                receive_maximum: p.and_then(|p| p.receive_max),
                max_packet_size: p.and_then(|p| p.max_packet_size),
                session_expiry: p.and_then(|p| p.session_expiry_interval),
            })
        }
        v5::Event::Incoming(p5::Packet::Publish(p)) => Event::Publish(Message {
            topic: String::from_utf8_lossy(&p.topic).into_owned(),
            payload: p.payload,
            pkid: p.pkid,
            qos: qos4(p.qos),
            user_properties: p.properties.map(|p| p.user_properties).unwrap_or_default(),
        }),
        v5::Event::Incoming(p5::Packet::PubAck(a)) => Event::PubAck {
            pkid: a.pkid,
            code: snake(&a.reason),
            // Success and No Matching Subscribers (0x10) are acceptances.
            refused: !matches!(
                a.reason,
                p5::PubAckReason::Success | p5::PubAckReason::NoMatchingSubscribers
            ),
        },
        v5::Event::Incoming(p5::Packet::SubAck(s)) => Event::SubAck(
            s.return_codes
                .iter()
                .map(|c| match c {
                    p5::SubscribeReasonCode::Success(q) => granted(qos4(*q)),
                    other => SubCode {
                        granted: None,
                        code: snake(other),
                    },
                })
                .collect(),
        ),
        v5::Event::Outgoing(Outgoing::Disconnect) => Event::DisconnectSent,
        _ => Event::Other,
    }
}

fn granted(q: QoS) -> SubCode {
    SubCode {
        granted: Some(q),
        code: format!("granted_qos_{}", q as u8),
    }
}

pub fn qos5(q: QoS) -> QoS5 {
    match q {
        QoS::AtMostOnce => QoS5::AtMostOnce,
        QoS::AtLeastOnce => QoS5::AtLeastOnce,
        QoS::ExactlyOnce => QoS5::ExactlyOnce,
    }
}

pub fn qos4(q: QoS5) -> QoS {
    match q {
        QoS5::AtMostOnce => QoS::AtMostOnce,
        QoS5::AtLeastOnce => QoS::AtLeastOnce,
        QoS5::ExactlyOnce => QoS::ExactlyOnce,
    }
}

/// A reason code's name in snake_case, from rumqttc's variant name
/// (`NotAuthorized` -> `not_authorized`): a fixed, small set of labels.
pub fn snake(code: &impl fmt::Debug) -> String {
    let name = format!("{code:?}");
    let mut out = String::with_capacity(name.len() + 4);
    for (i, ch) in name.chars().enumerate() {
        if !ch.is_ascii_alphanumeric() {
            break; // a variant with data: its name only
        }
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

/// `mqtt_reason_codes_total{packet,code}`: every CONNACK, SUBACK return
/// code and broker DISCONNECT, by reason code.
pub fn reason_counter(packet: &str, code: &str) -> Counter {
    metrics::counter(
        "mqtt_reason_codes_total",
        "MQTT reason codes received from the broker, by packet (connack, suback, disconnect).",
        &[("packet", packet), ("code", code)],
    )
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
