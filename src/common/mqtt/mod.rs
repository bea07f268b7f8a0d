//! One MQTT client connection, shared by the MQTT source and the city
//! northbound sink: the connection settings every client config has (host,
//! port, client id, keep-alive, username and password or password file,
//! TLS), their checks, and the rumqttc options builder.
//!
//! Each user keeps its own serde struct (the keys differ: the source has a
//! `tls = { .. }` table, the city flat `ca_file`, ...) and lends it as a
//! [`Connection`]; what differs beyond the connection (session, acks,
//! limits) is a [`Session`]. The options are rebuilt before every
//! reconnect, so rotated password and certificate files are picked up.
//!
//! Both MQTT 3.1.1 and MQTT 5 are spoken ([`Protocol`]); [`client`] puts
//! rumqttc's two clients behind one shape.

mod batch_acks;
pub mod client;
mod protocol;
mod tls;

use rumqttc::{MqttOptions, TlsConfiguration, Transport};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{join, Check, Secret, SecretSource};
pub use batch_acks::Polled;
pub use protocol::Protocol;
pub use tls::{client_config, TlsConfig, TlsError, TlsKey, TlsProblem};

/// Room in rumqttc's request channel: the source's acks queue here while
/// its loop waits on the pipeline, so it must exceed any broker in-flight
/// window.
pub const REQUEST_CAPACITY: usize = 10_000;
/// The largest packet a client sends.
pub const MAX_OUTGOING: usize = 1 << 20;

/// The connection keys of one client config, borrowed from it.
pub struct Connection<'a> {
    pub host: &'a str,
    pub port: u16,
    pub client_id: &'a str,
    /// Appended to "must be set" for an empty client id.
    pub client_id_hint: &'a str,
    pub keep_alive: Duration,
    pub username: &'a Option<String>,
    pub password: &'a Option<Secret>,
    pub password_file: &'a Option<PathBuf>,
    pub tls: Option<&'a TlsConfig>,
    /// Where this config keeps its TLS keys, relative to the connection:
    /// `tls` for a `tls = { .. }` table, empty for flat keys. Errors name
    /// the key under it.
    pub tls_at: &'static str,
}

/// What the client does beyond connecting; each user sets its own.
#[derive(Debug, Clone, Default)]
pub struct Session {
    pub clean_session: bool,
    /// `true`: PUBACKs are sent by the caller, after a durable write.
    pub manual_acks: bool,
    /// Outgoing in-flight window (at least 1).
    pub inflight: u16,
    /// The largest packet the client reads (rumqttc's incoming limit); with
    /// MQTT 5 also announced to the broker as CONNECT's Maximum Packet Size,
    /// so the broker drops a larger message instead of sending it.
    pub max_incoming: usize,
    /// MQTT 5 CONNECT Receive Maximum: the broker's in-flight window towards
    /// us (None: the protocol's default, 65,535).
    pub receive_maximum: Option<u16>,
    /// MQTT 5 CONNECT Session Expiry Interval in seconds (None: 0, the
    /// session ends with the connection; `u32::MAX`: never expires).
    pub session_expiry: Option<u32>,
}

/// The shortest keep-alive rumqttc's MQTT 5 client takes (it asserts it).
pub const MIN_KEEP_ALIVE_V5: Duration = Duration::from_secs(5);

/// Why client options cannot be built now; the caller waits its backoff
/// and builds them again (a file may be fixed or rotated meanwhile).
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    #[error("client_id must be set")]
    NoClientId,
    #[error("keep_alive must be at least 5s with protocol = 5")]
    KeepAliveV5,
    /// The password file cannot be read (the message names the file).
    #[error("{0}")]
    Password(String),
    /// A TLS file is missing, unreadable or unusable.
    #[error("{}: {}", join(.at, .error.key.as_str()), .error.problem)]
    Tls { at: &'static str, error: TlsError },
}

impl Connection<'_> {
    /// Records every problem of the connection keys under `path` (TLS is
    /// checked by [`TlsConfig`]'s `Validate`, where the user keeps it).
    pub fn validate(&self, path: &str, cx: &mut Check) {
        if self.host.trim().is_empty() {
            cx.problem(join(path, "host"), "must be set");
        }
        if self.port == 0 {
            cx.problem(join(path, "port"), "must be 1..65535");
        }
        if self.client_id.trim().is_empty() {
            cx.problem(
                join(path, "client_id"),
                format!("must be set{}", self.client_id_hint),
            );
        }
        if !self.keep_alive.is_zero() && self.keep_alive < Duration::from_secs(1) {
            cx.problem(join(path, "keep_alive"), "must be 0 (off) or at least 1s");
        }
        if (self.password.is_some() || self.password_file.is_some()) && self.username.is_none() {
            cx.problem(join(path, "username"), "a password needs a username");
        }
        self.secret().resolve(path, cx);
    }

    fn secret(&self) -> SecretSource<'_> {
        SecretSource {
            key: "password",
            value: self.password,
            file: self.password_file,
        }
    }

    /// The password, read now (from the file if configured).
    pub fn password(&self) -> Result<Option<Secret>, OptionsError> {
        // The paths were resolved when the config was loaded (`Rebase`).
        let mut cx = Check::new("");
        let s = self.secret().resolve("", &mut cx);
        match cx.problems().first() {
            Some(p) => Err(OptionsError::Password(p.message.clone())),
            None => Ok(s),
        }
    }

    /// Builds the client options of `protocol` (reading the password and
    /// TLS files now).
    pub fn client_options(
        &self,
        protocol: Protocol,
        session: &Session,
    ) -> Result<client::Options, OptionsError> {
        Ok(match protocol {
            Protocol::V4 => client::Options::V4(self.options(session)?),
            Protocol::V5 => client::Options::V5(self.options_v5(session)?),
        })
    }

    /// Builds the MQTT 3.1.1 client options (reading the password and TLS
    /// files now).
    pub fn options(&self, session: &Session) -> Result<MqttOptions, OptionsError> {
        if self.client_id.trim().is_empty() {
            return Err(OptionsError::NoClientId);
        }
        let mut o = MqttOptions::new(self.client_id, self.host, self.port);
        if self.keep_alive.is_zero() || self.keep_alive >= Duration::from_secs(1) {
            o.set_keep_alive(self.keep_alive);
        }
        o.set_clean_session(session.clean_session)
            .set_manual_acks(session.manual_acks)
            .set_inflight(session.inflight.max(1))
            .set_request_channel_capacity(REQUEST_CAPACITY)
            .set_max_packet_size(session.max_incoming, MAX_OUTGOING);
        if let Some((user, pw)) = self.credentials()? {
            o.set_credentials(user, pw);
        }
        if let Some(t) = self.transport()? {
            o.set_transport(t);
        }
        Ok(o)
    }

    /// Builds the MQTT 5 client options: the same session, plus the CONNECT
    /// properties Maximum Packet Size (`max_incoming`, also rumqttc's
    /// incoming limit), Receive Maximum and Session Expiry Interval.
    pub fn options_v5(&self, session: &Session) -> Result<rumqttc::v5::MqttOptions, OptionsError> {
        if self.client_id.trim().is_empty() {
            return Err(OptionsError::NoClientId);
        }
        // rumqttc asserts this: refuse it here instead of panicking.
        if self.keep_alive < MIN_KEEP_ALIVE_V5 {
            return Err(OptionsError::KeepAliveV5);
        }
        let mut o = rumqttc::v5::MqttOptions::new(self.client_id, self.host, self.port);
        o.set_keep_alive(self.keep_alive)
            .set_clean_start(session.clean_session)
            .set_manual_acks(session.manual_acks)
            .set_outgoing_inflight_upper_limit(session.inflight.max(1))
            .set_request_channel_capacity(REQUEST_CAPACITY)
            .set_max_packet_size(Some(
                u32::try_from(session.max_incoming).unwrap_or(u32::MAX),
            ))
            .set_receive_maximum(session.receive_maximum)
            .set_session_expiry_interval(session.session_expiry);
        if let Some((user, pw)) = self.credentials()? {
            o.set_credentials(user, pw);
        }
        if let Some(t) = self.transport()? {
            o.set_transport(t);
        }
        Ok(o)
    }

    /// Username and password (read now), when a username is set.
    fn credentials(&self) -> Result<Option<(String, String)>, OptionsError> {
        let Some(user) = self.username else {
            return Ok(None);
        };
        let pw = self.password()?;
        Ok(Some((
            user.clone(),
            pw.as_ref().map(|s| s.expose()).unwrap_or("").to_string(),
        )))
    }

    /// The TLS transport (files read now), when TLS is configured.
    fn transport(&self) -> Result<Option<Transport>, OptionsError> {
        let Some(t) = self.tls else {
            return Ok(None);
        };
        let c = client_config(t).map_err(|error| OptionsError::Tls {
            at: self.tls_at,
            error,
        })?;
        Ok(Some(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(c),
        ))))
    }
}
