//! `[sinks.city.mqtt]`: the city broker, its credentials and TLS. No I/O
//! beyond validation, which reads the password and TLS files once so a
//! typo is reported by `greengate check`, not at the first publish.
//!
//! The client options come from the shared connection code
//! ([`crate::common::mqtt`]), the same that serves the MQTT source, so
//! credentials and TLS are built by one piece of code and re-read at every
//! reconnect (rotated password and certificate files apply without a
//! restart).

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::mqtt::{client, Connection, OptionsError, Protocol, Session, TlsConfig};
use crate::config::{join, rebase_paths, Check, Rebase, Secret, Validate};

/// The client's outgoing in-flight window (the MQTT source's default).
const INFLIGHT: u16 = 100;
/// The largest packet the client reads (the MQTT source's default receive
/// limit); only CONNACK, PUBACK and ping responses arrive.
const MAX_INCOMING: usize = 32 << 20;

/// `[sinks.city.mqtt]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct CityMqttConfig {
    pub host: String,
    pub port: u16,
    /// MQTT 3.1.1 (default) or 5 (PUBACK reason codes: a refused batch is
    /// published again instead of being dropped by the broker unseen).
    pub protocol: Protocol,
    pub client_id: String,
    /// Topic template: `{community}` and `{measurement}` are substituted.
    pub topic: String,
    /// First reconnect delay after an error; doubles (jittered) up to `retry_max`.
    #[serde(deserialize_with = "crate::config::duration")]
    pub retry: Duration,
    #[serde(deserialize_with = "crate::config::duration")]
    pub retry_max: Duration,
    #[serde(deserialize_with = "crate::config::duration")]
    pub keep_alive: Duration,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    /// TLS to the broker (with `ca_file`; a client certificate optional).
    pub tls: bool,
    pub ca_file: Option<PathBuf>,
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
}

impl Default for CityMqttConfig {
    fn default() -> Self {
        CityMqttConfig {
            host: String::new(),
            port: 1883,
            protocol: Protocol::default(),
            client_id: "greengate-city".into(),
            topic: "city/{community}/{measurement}".into(),
            retry: Duration::from_secs(2),
            retry_max: Duration::from_secs(60),
            keep_alive: Duration::from_secs(30),
            username: None,
            password: None,
            password_file: None,
            tls: false,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
        }
    }
}

impl CityMqttConfig {
    fn tls_config(&self) -> TlsConfig {
        TlsConfig {
            ca_file: self.ca_file.clone(),
            client_cert_file: self.client_cert_file.clone(),
            client_key_file: self.client_key_file.clone(),
        }
    }

    /// The connection keys, lent to the shared MQTT connection code (the
    /// TLS keys are flat: `ca_file`, not `tls.ca_file`).
    fn connection<'a>(&'a self, tls: Option<&'a TlsConfig>) -> Connection<'a> {
        Connection {
            host: &self.host,
            port: self.port,
            client_id: &self.client_id,
            client_id_hint: "",
            keep_alive: self.keep_alive,
            username: &self.username,
            password: &self.password,
            password_file: &self.password_file,
            tls,
            tls_at: "",
        }
    }

    /// The client options for one connection, reading the password and TLS
    /// files now. A clean session: nothing is subscribed, and a batch that
    /// was not fully acknowledged is published again by the sink itself.
    pub fn client_options(&self) -> Result<client::Options, OptionsError> {
        let tls = self.tls.then(|| self.tls_config());
        self.connection(tls.as_ref()).client_options(
            self.protocol,
            &Session {
                clean_session: true,
                manual_acks: false,
                inflight: INFLIGHT,
                max_incoming: MAX_INCOMING,
                ..Session::default()
            },
        )
    }
}

impl Rebase for CityMqttConfig {
    fn rebase(&mut self, base: &Path) {
        rebase_paths(
            [
                &mut self.password_file,
                &mut self.ca_file,
                &mut self.client_cert_file,
                &mut self.client_key_file,
            ],
            base,
        );
    }
}

impl Validate for CityMqttConfig {
    fn validate(&self, path: &str, cx: &mut Check) {
        self.connection(None).validate(path, cx);
        if self.protocol == Protocol::V5 && self.keep_alive < crate::common::mqtt::MIN_KEEP_ALIVE_V5
        {
            cx.problem(
                join(path, "keep_alive"),
                "must be at least 5s with protocol = 5",
            );
        }
        if self.topic.contains('+') || self.topic.contains('#') || self.topic.is_empty() {
            cx.problem(
                join(path, "topic"),
                "must be a topic name without wildcards",
            );
        }
        if self.retry.is_zero() {
            cx.problem(join(path, "retry"), "must be more than 0");
        }
        if self.retry_max < self.retry {
            cx.problem(join(path, "retry_max"), "must be at least retry");
        }
        if self.tls {
            // Reads and parses the PEM files; problems name `<path>.ca_file` etc.
            self.tls_config().validate(path, cx);
        } else if self.tls_config() != TlsConfig::default() {
            cx.problem(
                join(path, "tls"),
                "ca_file, client_cert_file or client_key_file is set but tls = false",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn problems(v: serde_json::Value, base: &Path) -> Vec<String> {
        let c: CityMqttConfig = serde_json::from_value(v).unwrap();
        let mut cx = Check::new(base);
        c.validate("sinks.city.mqtt", &mut cx);
        cx.problems().iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn unreadable_password_and_ca_files_are_reported_with_their_keys() {
        let dir = tempfile::tempdir().unwrap();
        let p = problems(
            serde_json::json!({"host": "h", "username": "u", "password_file": "nope",
                               "tls": true, "ca_file": "missing.pem"}),
            dir.path(),
        );
        assert!(
            p.iter()
                .any(|s| s.starts_with("sinks.city.mqtt.password_file: cannot read")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|s| s.starts_with("sinks.city.mqtt.ca_file: ")),
            "{p:?}"
        );
    }

    #[test]
    fn tls_files_without_tls_and_a_password_without_user_are_problems() {
        let p = problems(
            serde_json::json!({"host": "h", "password": "x", "ca_file": "ca.pem"}),
            Path::new("."),
        );
        assert!(
            p.iter().any(|s| s.starts_with("sinks.city.mqtt.tls: ")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|s| s.starts_with("sinks.city.mqtt.username: ")),
            "{p:?}"
        );
    }

    #[test]
    fn the_password_never_shows_in_debug() {
        let c: CityMqttConfig =
            serde_json::from_value(serde_json::json!({"username": "u", "password": "hunter2"}))
                .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn a_password_file_resolves_against_the_config_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "s3cret\n").unwrap();
        let p = problems(
            serde_json::json!({"host": "h", "username": "u", "password_file": "pw"}),
            dir.path(),
        );
        assert!(p.is_empty(), "{p:?}");
    }
}
