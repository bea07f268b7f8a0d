//! Client options from the config: the connection (identity, credentials,
//! TLS) from [`crate::common::mqtt`], and the source's session: persistent,
//! manual acks, its in-flight window and receive limit (with MQTT 5 also
//! announced as Maximum Packet Size, with the Receive Maximum and the
//! Session Expiry Interval). Rebuilt before every reconnect so rotated
//! password and certificate files are picked up.

use super::config::MqttConfig;
use crate::common::mqtt::client::Options;
use crate::common::mqtt::{OptionsError, Protocol, Session};

/// Builds the client options (reading the password and TLS files now).
pub fn options(cfg: &MqttConfig) -> Result<Options, OptionsError> {
    let v5 = cfg.protocol == Protocol::V5;
    cfg.connection().client_options(
        cfg.protocol,
        &Session {
            clean_session: cfg.clean_session,
            manual_acks: true,
            inflight: cfg.inflight,
            max_incoming: cfg.receive_limit(),
            receive_maximum: v5.then(|| cfg.receive_maximum()),
            session_expiry: v5.then(|| cfg.session_expiry_secs()),
        },
    )
}
