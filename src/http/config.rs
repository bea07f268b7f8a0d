//! `[http]`: where the self-monitoring endpoint listens, how long a client
//! may take, how many connections it may hold, and who may read it. No I/O
//! here beyond reading secret files during validation.
//!
//! The rule (issue 10): a non-loopback `listen` needs credentials (a bearer
//! token or basic-auth username and password) unless
//! `allow_unauthenticated = true` says deliberately that anyone who can
//! reach the port may read `/metrics` and `/assess`. Credentials, when
//! configured, are enforced on loopback too.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::auth::Auth;
use crate::config::{join, rebase_paths, Check, Rebase, Secret, SecretSource, Validate};

/// Largest `max_connections`: far above what a monitoring endpoint needs,
/// below what one process can keep open.
pub const MAX_CONNECTIONS_LIMIT: usize = 16_384;

/// `[http]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    pub enabled: bool,
    /// Bound to loopback by default; expose deliberately (and with credentials).
    pub listen: SocketAddr,
    /// A client must send a complete request head within this time from
    /// connecting (or from the end of its previous response on a keep-alive
    /// connection), else the connection is closed.
    #[serde(deserialize_with = "crate::config::duration")]
    pub header_read_timeout: Duration,
    /// A connection on which no byte moves either way for this long (a
    /// client that stops reading its response) is closed.
    #[serde(deserialize_with = "crate::config::duration")]
    pub idle_timeout: Duration,
    /// Connections served at once; a connection over the limit is answered
    /// 503 and closed at once.
    pub max_connections: usize,
    /// `Authorization: Bearer <token>`, inline (prefer `token_file` or
    /// `GREENGATE__HTTP__TOKEN`).
    pub token: Option<Secret>,
    pub token_file: Option<PathBuf>,
    /// Basic auth: the user name, with `password` or `password_file`.
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    /// Serve a non-loopback `listen` without credentials (logged as a warning).
    pub allow_unauthenticated: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9898)),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            max_connections: 64,
            token: None,
            token_file: None,
            username: None,
            password: None,
            password_file: None,
            allow_unauthenticated: false,
        }
    }
}

/// Whether `addr` is reachable only from this host (127.0.0.0/8, ::1, and
/// ::ffff:127.x.y.z).
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().to_canonical().is_loopback()
}

impl HttpConfig {
    /// Resolves the credentials (reading `token_file` and `password_file`
    /// against the config directory); records problems under `path`.
    pub fn auth(&self, path: &str, cx: &mut Check) -> Auth {
        let token = SecretSource {
            key: "token",
            value: &self.token,
            file: &self.token_file,
        }
        .resolve(path, cx);
        let password = SecretSource {
            key: "password",
            value: &self.password,
            file: &self.password_file,
        }
        .resolve(path, cx);
        if token.as_ref().is_some_and(|t| t.expose().is_empty()) {
            cx.problem(join(path, "token"), "is empty");
        }
        let username = self.username.as_deref();
        let basic = match (username, password) {
            (None, None) => None,
            (Some(u), Some(p)) => {
                if u.is_empty() {
                    cx.problem(join(path, "username"), "is empty");
                } else if u.contains(':') {
                    cx.problem(
                        join(path, "username"),
                        "cannot contain ':' (basic auth separates user and password with it)",
                    );
                }
                if p.expose().is_empty() {
                    cx.problem(join(path, "password"), "is empty");
                }
                Some((u.to_string(), p))
            }
            (Some(_), None) => {
                // A password given but unreadable is already reported.
                if self.password.is_none() && self.password_file.is_none() {
                    cx.problem(
                        join(path, "password"),
                        "a username needs password or password_file",
                    );
                }
                None
            }
            (None, Some(_)) => {
                cx.problem(join(path, "username"), "a password needs a username");
                None
            }
        };
        Auth::new(token, basic)
    }

    fn credentials_given(&self) -> bool {
        self.token.is_some()
            || self.token_file.is_some()
            || self.username.is_some()
            || self.password.is_some()
            || self.password_file.is_some()
    }
}

impl Rebase for HttpConfig {
    fn rebase(&mut self, base: &std::path::Path) {
        rebase_paths([&mut self.token_file, &mut self.password_file], base);
    }
}

impl Validate for HttpConfig {
    fn validate(&self, path: &str, cx: &mut Check) {
        let key = |k: &str| join(path, k);
        for (k, d) in [
            ("header_read_timeout", self.header_read_timeout),
            ("idle_timeout", self.idle_timeout),
        ] {
            if d < Duration::from_millis(100) || d > Duration::from_secs(3600) {
                cx.problem(
                    key(k),
                    format!(
                        "must be between 100ms and 1h, got {}",
                        humantime::format_duration(d)
                    ),
                );
            }
        }
        if !(1..=MAX_CONNECTIONS_LIMIT).contains(&self.max_connections) {
            cx.problem(
                key("max_connections"),
                format!(
                    "must be between 1 and {MAX_CONNECTIONS_LIMIT}, got {}",
                    self.max_connections
                ),
            );
        }
        // Secrets are checked (and files read) whether or not the server is enabled.
        let auth = self.auth(path, cx);
        if self.enabled
            && !is_loopback(&self.listen)
            && !self.allow_unauthenticated
            && !auth.is_required()
            && !self.credentials_given()
        {
            cx.problem(
                key("listen"),
                format!(
                    "{} is not a loopback address: set http.token (or token_file, or \
                     GREENGATE__HTTP__TOKEN) or http.username with password_file, or set \
                     http.allow_unauthenticated = true to let anyone who reaches it read \
                     /metrics and /assess",
                    self.listen
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(v: serde_json::Value) -> Vec<String> {
        let mut cx = Check::new(".");
        if let Some(c) = crate::config::parse_value::<HttpConfig>(v, "http", &mut cx) {
            c.validate("http", &mut cx);
        }
        cx.problems().iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn loopback_needs_no_credentials() {
        assert!(problems(json!({})).is_empty());
        assert!(problems(json!({"listen": "[::1]:9898"})).is_empty());
    }

    #[test]
    fn a_non_loopback_bind_without_credentials_is_a_problem_at_http_listen() {
        let p = problems(json!({"listen": "0.0.0.0:9898"}));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("http.listen: 0.0.0.0:9898 is not a loopback"),
            "{p:?}"
        );
        let p = problems(json!({"listen": "[::ffff:10.0.0.1]:9898"}));
        assert_eq!(p.len(), 1, "{p:?}");
    }

    #[test]
    fn a_non_loopback_bind_is_allowed_with_a_token_basic_auth_or_explicit_consent() {
        assert!(problems(json!({"listen": "0.0.0.0:1", "token": "t0k"})).is_empty());
        assert!(problems(json!({
            "listen": "0.0.0.0:1", "username": "prom", "password": "pw"
        }))
        .is_empty());
        assert!(problems(json!({"listen": "0.0.0.0:1", "allow_unauthenticated": true})).is_empty());
        assert!(problems(json!({"listen": "0.0.0.0:1", "enabled": false})).is_empty());
    }

    #[test]
    fn half_given_credentials_are_reported_with_their_key() {
        let p = problems(json!({"username": "prom"}));
        assert_eq!(
            p,
            vec!["http.password: a username needs password or password_file"]
        );
        let p = problems(json!({"password": "pw"}));
        assert_eq!(p, vec!["http.username: a password needs a username"]);
        let p = problems(json!({"token": "", "username": "a:b", "password": "x"}));
        assert!(p.contains(&"http.token: is empty".to_string()), "{p:?}");
        assert!(
            p.iter().any(|s| s.starts_with("http.username: cannot")),
            "{p:?}"
        );
        let p = problems(json!({"token": "a", "token_file": "/nonexistent"}));
        assert!(
            p.iter().any(|s| s.starts_with("http.token: give either")),
            "{p:?}"
        );
    }

    #[test]
    fn an_unreadable_token_file_is_reported_and_not_echoed() {
        let p = problems(json!({"listen": "0.0.0.0:1", "token_file": "/nonexistent/t"}));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("http.token_file: cannot read"), "{p:?}");
    }

    #[test]
    fn limits_out_of_range_are_reported() {
        let p = problems(json!({
            "header_read_timeout": "0s", "idle_timeout": "2h", "max_connections": 0
        }));
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p
            .iter()
            .any(|s| s.starts_with("http.header_read_timeout: ")));
        assert!(p.iter().any(|s| s.starts_with("http.idle_timeout: ")));
        assert!(p.iter().any(|s| s.starts_with("http.max_connections: ")));
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let mut cx = Check::new(".");
        let c: HttpConfig = crate::config::parse_value(
            json!({"token": "hunter2", "username": "u", "password": "swordfish"}),
            "http",
            &mut cx,
        )
        .expect("parses");
        let shown = format!("{c:?} {:?}", c.auth("http", &mut cx));
        assert!(
            !shown.contains("hunter2") && !shown.contains("swordfish"),
            "{shown}"
        );
    }
}
