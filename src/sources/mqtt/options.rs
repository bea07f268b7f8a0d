//! Client options from the config: the connection (identity, credentials,
//! TLS) from [`crate::common::mqtt`], and the source's session: persistent,
//! manual acks, its in-flight window and receive limit. Rebuilt before
//! every reconnect so rotated password and certificate files are picked up.

use rumqttc::{ConnectionError, MqttOptions, QoS, StateError};

use super::config::MqttConfig;
use crate::common::mqtt::{OptionsError, Session};

/// Builds the client options (reading the password and TLS files now).
pub fn options(cfg: &MqttConfig) -> Result<MqttOptions, OptionsError> {
    cfg.connection().options(&Session {
        clean_session: cfg.clean_session,
        manual_acks: true,
        inflight: cfg.inflight,
        max_incoming: cfg.receive_limit(),
    })
}

/// The size of a packet that rumqttc refused, from its error.
pub fn refused_packet_size(e: &ConnectionError) -> Option<usize> {
    match e {
        ConnectionError::MqttState(StateError::Deserialization(
            rumqttc::Error::PayloadSizeLimitExceeded(n),
        )) => Some(*n),
        _ => None,
    }
}

pub fn qos(q: u8) -> QoS {
    match q {
        0 => QoS::AtMostOnce,
        2 => QoS::ExactlyOnce,
        _ => QoS::AtLeastOnce,
    }
}
