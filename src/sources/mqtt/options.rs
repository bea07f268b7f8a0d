//! Client options from the config: identity, session, limits, credentials
//! and TLS. Rebuilt before every reconnect so rotated password and
//! certificate files are picked up.

use rumqttc::{ConnectionError, MqttOptions, QoS, StateError, TlsConfiguration, Transport};
use std::sync::Arc;
use std::time::Duration;

use super::config::MqttConfig;
use super::tls;

/// Room in rumqttc's request channel: acks queue here while the loop waits
/// on the pipeline, so it must exceed any broker in-flight window.
pub const REQUEST_CAPACITY: usize = 10_000;
/// We only send SUBSCRIBE, PUBACK and pings.
pub const MAX_OUTGOING: usize = 1 << 20;

/// Builds the client options (reading the password and TLS files now).
pub fn options(cfg: &MqttConfig) -> Result<MqttOptions, String> {
    if cfg.client_id.trim().is_empty() {
        return Err("client_id must be set".into());
    }
    let mut o = MqttOptions::new(cfg.client_id.clone(), cfg.host.clone(), cfg.port);
    if cfg.keep_alive.is_zero() || cfg.keep_alive >= Duration::from_secs(1) {
        o.set_keep_alive(cfg.keep_alive);
    }
    o.set_clean_session(cfg.clean_session)
        .set_manual_acks(true)
        .set_inflight(cfg.inflight.max(1))
        .set_request_channel_capacity(REQUEST_CAPACITY)
        .set_max_packet_size(cfg.receive_limit(), MAX_OUTGOING);
    if let Some(user) = &cfg.username {
        let pw = cfg.password()?;
        o.set_credentials(user.clone(), pw.as_ref().map(|s| s.expose()).unwrap_or(""));
    }
    if let Some(t) = &cfg.tls {
        let base = cfg.base_dir.get().cloned().unwrap_or_default();
        let c = tls::client_config(t, &base).map_err(|(k, e)| format!("tls.{k}: {e}"))?;
        o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(c),
        )));
    }
    Ok(o)
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
