//! `[sinks.influxdb]`: where and how batches are written. No I/O here beyond
//! reading secret files during validation.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{join, rebase_paths, Check, Rebase, Secret, SecretSource, Validate};

/// Which write API the store speaks.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Api {
    /// `POST /api/v2/write?org=..&bucket=..` with `Authorization: Token ..`
    /// (InfluxDB 2.x/3.x, VictoriaMetrics).
    #[default]
    V2,
    /// `POST /write?db=..&rp=..` with basic auth (InfluxDB 1.x).
    V1,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct InfluxDbConfig {
    /// Base URL of the store, `http://` or `https://` (no `/write` path).
    pub url: String,
    pub api: Api,
    /// v2: organisation name.
    pub org: String,
    /// v2: bucket name.
    pub bucket: String,
    /// v2: API token, inline (prefer `token_file` or `GREENGATE__SINKS__INFLUXDB__TOKEN`).
    pub token: Option<Secret>,
    /// v2: a file holding the token (trailing newline trimmed).
    pub token_file: Option<PathBuf>,
    /// v1: database name.
    pub database: String,
    /// v1: retention policy; empty means the database's default.
    pub retention_policy: String,
    /// v1: user for basic auth; empty means no authentication.
    pub username: String,
    /// v1: password, inline.
    pub password: Option<Secret>,
    /// v1: a file holding the password.
    pub password_file: Option<PathBuf>,
    /// A batch holds at most this many lines...
    pub batch_max_lines: usize,
    /// ...and at most this many bytes (before compression).
    pub batch_max_bytes: usize,
    /// How long to wait after the first line for a fuller batch.
    #[serde(deserialize_with = "crate::config::duration")]
    pub linger: Duration,
    /// Compress request bodies with gzip.
    pub gzip: bool,
    /// Timeout of one write request (connect, send and answer).
    #[serde(deserialize_with = "crate::config::duration")]
    pub timeout: Duration,
    /// First retry delay.
    #[serde(deserialize_with = "crate::config::duration")]
    pub retry_min: Duration,
    /// Ceiling of retry delays, also of a server's `Retry-After`.
    #[serde(deserialize_with = "crate::config::duration")]
    pub retry_max: Duration,
}

impl Default for InfluxDbConfig {
    fn default() -> Self {
        InfluxDbConfig {
            url: String::new(),
            api: Api::V2,
            org: String::new(),
            bucket: String::new(),
            token: None,
            token_file: None,
            database: String::new(),
            retention_policy: String::new(),
            username: String::new(),
            password: None,
            password_file: None,
            batch_max_lines: 5000,
            batch_max_bytes: 1 << 20,
            linger: Duration::from_secs(1),
            gzip: true,
            timeout: Duration::from_secs(10),
            retry_min: Duration::from_millis(200),
            retry_max: Duration::from_secs(30),
        }
    }
}

/// Credentials as they go on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    /// `Authorization: Token ...`
    Token(Secret),
    /// HTTP basic auth.
    Basic {
        username: String,
        password: Secret,
    },
}

impl Auth {
    /// Puts the credentials on a request (the sink's writes, the store's
    /// queries and writes).
    pub fn apply(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Auth::None => req,
            Auth::Token(t) => req.header(
                reqwest::header::AUTHORIZATION,
                format!("Token {}", t.expose()),
            ),
            Auth::Basic { username, password } => req.basic_auth(username, Some(password.expose())),
        }
    }
}

impl Rebase for InfluxDbConfig {
    fn rebase(&mut self, base: &Path) {
        rebase_paths([&mut self.token_file, &mut self.password_file], base);
    }
}

impl InfluxDbConfig {
    /// Resolves the secrets for the configured API; records problems under `path`.
    pub fn auth(&self, path: &str, cx: &mut Check) -> Auth {
        match self.api {
            Api::V2 => {
                let src = SecretSource {
                    key: "token",
                    value: &self.token,
                    file: &self.token_file,
                };
                match src.resolve(path, cx) {
                    Some(t) => Auth::Token(t),
                    None => Auth::None,
                }
            }
            Api::V1 => {
                let src = SecretSource {
                    key: "password",
                    value: &self.password,
                    file: &self.password_file,
                };
                let password = src.resolve(path, cx);
                match (self.username.is_empty(), password) {
                    (true, None) => Auth::None,
                    (false, p) => Auth::Basic {
                        username: self.username.clone(),
                        password: p.unwrap_or_default(),
                    },
                    (true, Some(_)) => {
                        cx.problem(join(path, "username"), "a password needs a username");
                        Auth::None
                    }
                }
            }
        }
    }

    /// The write endpoint with its query string.
    pub fn write_url(&self) -> Result<reqwest::Url, String> {
        let mut u = parse_base_url(&self.url)?;
        let base = u.path().trim_end_matches('/').to_string();
        match self.api {
            Api::V2 => {
                u.set_path(&format!("{base}/api/v2/write"));
                u.query_pairs_mut()
                    .clear()
                    .append_pair("org", &self.org)
                    .append_pair("bucket", &self.bucket)
                    .append_pair("precision", "ns");
            }
            Api::V1 => {
                u.set_path(&format!("{base}/write"));
                let mut q = u.query_pairs_mut();
                q.clear().append_pair("db", &self.database);
                if !self.retention_policy.is_empty() {
                    q.append_pair("rp", &self.retention_policy);
                }
                q.append_pair("precision", "ns");
            }
        }
        Ok(u)
    }

    /// Names the destination in logs and dead letters (no secrets).
    pub fn origin(&self) -> String {
        let url = self.url.trim_end_matches('/');
        match self.api {
            Api::V2 => format!("{url} org={} bucket={}", self.org, self.bucket),
            Api::V1 if self.retention_policy.is_empty() => format!("{url} db={}", self.database),
            Api::V1 => format!("{url} db={} rp={}", self.database, self.retention_policy),
        }
    }
}

fn parse_base_url(s: &str) -> Result<reqwest::Url, String> {
    let u = reqwest::Url::parse(s).map_err(|e| format!("invalid URL {s:?}: {e}"))?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(format!("expected an http:// or https:// URL, got {s:?}"));
    }
    if u.host_str().unwrap_or("").is_empty() {
        return Err(format!("URL {s:?} has no host"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        // It would show in logs and dead letters.
        return Err("must not contain credentials: use token or username/password".into());
    }
    Ok(u)
}

/// A key name and whether it is missing (or present where it does not belong).
type Flag<'a> = (&'a str, bool);

impl Validate for InfluxDbConfig {
    fn validate(&self, path: &str, cx: &mut Check) {
        let key = |k: &str| join(path, k);
        if self.url.is_empty() {
            cx.problem(key("url"), "must be set, e.g. \"http://127.0.0.1:8086\"");
        } else if let Err(e) = parse_base_url(&self.url) {
            cx.problem(key("url"), e);
        }
        let (needed, foreign): (&[Flag], &[Flag]) = match self.api {
            Api::V2 => (
                &[
                    ("org", self.org.is_empty()),
                    ("bucket", self.bucket.is_empty()),
                ],
                &[
                    ("database", !self.database.is_empty()),
                    ("retention_policy", !self.retention_policy.is_empty()),
                    ("username", !self.username.is_empty()),
                    ("password", self.password.is_some()),
                    ("password_file", self.password_file.is_some()),
                ],
            ),
            Api::V1 => (
                &[("database", self.database.is_empty())],
                &[
                    ("org", !self.org.is_empty()),
                    ("bucket", !self.bucket.is_empty()),
                    ("token", self.token.is_some()),
                    ("token_file", self.token_file.is_some()),
                ],
            ),
        };
        let api = match self.api {
            Api::V2 => "v2",
            Api::V1 => "v1",
        };
        for (k, missing) in needed {
            if *missing {
                cx.problem(key(k), format!("must be set for api = \"{api}\""));
            }
        }
        for (k, present) in foreign {
            if *present {
                cx.problem(key(k), format!("is not used with api = \"{api}\""));
            }
        }
        self.auth(path, cx);
        if self.api == Api::V2 && self.token.is_none() && self.token_file.is_none() {
            cx.problem(
                key("token"),
                "set token or token_file for api = \"v2\" (VictoriaMetrics accepts any value)",
            );
        }
        if self.batch_max_lines == 0 {
            cx.problem(key("batch_max_lines"), "must be at least 1");
        }
        if self.batch_max_bytes < 1024 {
            cx.problem(key("batch_max_bytes"), "must be at least 1024");
        }
        if self.timeout.is_zero() {
            cx.problem(key("timeout"), "must be more than 0s");
        }
        if self.retry_min.is_zero() {
            cx.problem(key("retry_min"), "must be more than 0s");
        }
        if self.retry_max < self.retry_min {
            cx.problem(key("retry_max"), "must not be less than retry_min");
        }
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
