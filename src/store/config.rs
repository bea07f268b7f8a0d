//! `[store]`: where indicator history and recorded readings are read back
//! (and replayed indicators written) with InfluxQL over the v1 HTTP API. No
//! I/O here beyond reading secret files during validation.
//!
//! Unset (`url` empty), the `[sinks.influxdb]` settings are used: with
//! `api = "v1"` its database, retention policy and basic auth; with
//! `api = "v2"` its bucket as the database name of the v1 compatibility
//! (DBRP) mapping and its token.

use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::{join, rebase_paths, Check, Rebase, Secret, SecretSource, Validate};
use crate::sinks::influxdb::config::{Api, Auth, InfluxDbConfig};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Base URL, `http://` or `https://` (no `/query` path); empty: use `[sinks.influxdb]`.
    pub url: String,
    /// The database (InfluxDB 2.x: the database name of the bucket's DBRP mapping).
    pub database: String,
    /// Retention policy; empty means the database's default.
    pub retention_policy: String,
    /// Basic auth (InfluxDB 1.x, or 2.x with a v1 authorization).
    pub username: String,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    /// Token auth (`Authorization: Token ..`, InfluxDB 2.x/3.x).
    pub token: Option<Secret>,
    pub token_file: Option<PathBuf>,
    /// Timeout of one request.
    #[serde(deserialize_with = "crate::config::duration")]
    pub timeout: Duration,
    /// Readings are read back one page of this much time at a time: memory
    /// holds one page (sorted by time before it is replayed).
    #[serde(deserialize_with = "crate::config::duration")]
    pub page: Duration,
    /// Rows per chunk of a chunked `/query` answer.
    pub chunk_size: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: String::new(),
            database: String::new(),
            retention_policy: String::new(),
            username: String::new(),
            password: None,
            password_file: None,
            token: None,
            token_file: None,
            timeout: Duration::from_secs(30),
            page: Duration::from_secs(3600),
            chunk_size: 10_000,
        }
    }
}

/// A resolved store endpoint, ready for [`super::StoreClient`].
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub database: String,
    pub retention_policy: String,
    pub auth: Auth,
    pub timeout: Duration,
    pub page: Duration,
    pub chunk_size: usize,
}

impl StoreConfig {
    /// The endpoint: this section, or `[sinks.influxdb]` when `url` is empty.
    /// Secrets are resolved against `cx`; problems are recorded there.
    pub fn target(&self, sink: Option<&InfluxDbConfig>, cx: &mut Check) -> Option<Target> {
        let mut t = Target {
            url: self.url.clone(),
            database: self.database.clone(),
            retention_policy: self.retention_policy.clone(),
            auth: Auth::None,
            timeout: self.timeout,
            page: self.page,
            chunk_size: self.chunk_size.max(1),
        };
        if !self.url.is_empty() {
            t.auth = self.auth("store", cx);
            return Some(t);
        }
        let Some(s) = sink else {
            cx.problem(
                "store.url",
                "must be set (or configure [sinks.influxdb], whose settings are used)",
            );
            return None;
        };
        t.url = s.url.clone();
        t.auth = s.auth("sinks.influxdb", cx);
        match s.api {
            Api::V1 => {
                t.database = s.database.clone();
                t.retention_policy = s.retention_policy.clone();
            }
            Api::V2 => t.database = s.bucket.clone(),
        }
        Some(t)
    }

    fn auth(&self, path: &str, cx: &mut Check) -> Auth {
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
        match (token, self.username.is_empty(), password) {
            (Some(t), true, None) => Auth::Token(t),
            (Some(_), _, _) => {
                cx.problem(
                    join(path, "token"),
                    "give a token or username/password, not both",
                );
                Auth::None
            }
            (None, true, None) => Auth::None,
            (None, true, Some(_)) => {
                cx.problem(join(path, "username"), "a password needs a username");
                Auth::None
            }
            (None, false, p) => Auth::Basic {
                username: self.username.clone(),
                password: p.unwrap_or_default(),
            },
        }
    }
}

impl Rebase for StoreConfig {
    fn rebase(&mut self, base: &std::path::Path) {
        rebase_paths([&mut self.token_file, &mut self.password_file], base);
    }
}

impl Validate for StoreConfig {
    fn validate(&self, path: &str, cx: &mut Check) {
        let key = |k: &str| join(path, k);
        if self.url.is_empty() {
            return;
        }
        match reqwest::Url::parse(&self.url) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {
                if !u.username().is_empty() || u.password().is_some() {
                    cx.problem(
                        key("url"),
                        "must not contain credentials: use token or username/password",
                    );
                }
            }
            Ok(_) => cx.problem(key("url"), "expected an http:// or https:// URL"),
            Err(e) => cx.problem(key("url"), format!("invalid URL {:?}: {e}", self.url)),
        }
        if self.database.is_empty() {
            cx.problem(key("database"), "must be set when url is set");
        }
        self.auth(path, cx);
        if self.timeout.is_zero() {
            cx.problem(key("timeout"), "must be more than 0s");
        }
        if self.page < Duration::from_secs(1) {
            cx.problem(key("page"), "must be at least 1s");
        }
        if self.chunk_size == 0 {
            cx.problem(key("chunk_size"), "must be at least 1");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: serde_json::Value) -> StoreConfig {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn without_a_url_the_sink_settings_are_used() {
        let sink: InfluxDbConfig = serde_json::from_value(serde_json::json!({
            "url": "http://127.0.0.1:8086", "org": "o", "bucket": "gg", "token": "t"}))
        .unwrap();
        let mut cx = Check::new(".");
        let t = StoreConfig::default().target(Some(&sink), &mut cx).unwrap();
        assert_eq!(t.database, "gg");
        assert_eq!(t.auth, Auth::Token(Secret::new("t")));
        assert!(cx.problems().is_empty());
        assert!(StoreConfig::default().target(None, &mut cx).is_none());
        assert_eq!(cx.problems()[0].path, "store.url");
    }

    #[test]
    fn problems_name_their_keys_and_secrets_stay_hidden() {
        let c = parse(serde_json::json!({
            "url": "http://u:p@127.0.0.1:8086", "token": "s3cret", "username": "u",
            "page": "0s"}));
        let mut cx = Check::new(".");
        c.validate("store", &mut cx);
        let paths: Vec<_> = cx.problems().iter().map(|p| p.path.clone()).collect();
        assert_eq!(
            paths,
            ["store.url", "store.database", "store.token", "store.page"]
        );
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
