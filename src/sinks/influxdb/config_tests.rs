//! Tests of `[sinks.influxdb]` parsing and validation.

use super::*;
use crate::config::parse_value;

fn check(v: serde_json::Value) -> Vec<String> {
    let mut cx = Check::new(".");
    if let Some(c) = parse_value::<InfluxDbConfig>(v, "sinks.influxdb", &mut cx) {
        c.validate("sinks.influxdb", &mut cx);
    }
    cx.problems().iter().map(|p| p.to_string()).collect()
}

#[test]
fn a_complete_v2_config_is_valid_with_defaults() {
    let v = serde_json::json!({"url": "http://127.0.0.1:8428", "org": "o", "bucket": "b", "token": "t"});
    assert_eq!(check(v.clone()), Vec::<String>::new());
    let c: InfluxDbConfig = serde_json::from_value(v).unwrap();
    assert_eq!(c.batch_max_lines, 5000);
    assert!(c.gzip);
    assert_eq!(c.linger, Duration::from_secs(1));
    assert_eq!(
        c.write_url().unwrap().as_str(),
        "http://127.0.0.1:8428/api/v2/write?org=o&bucket=b&precision=ns"
    );
}

#[test]
fn v1_url_carries_database_and_retention_policy() {
    let v = serde_json::json!({"url": "https://db.example/influx/", "api": "v1",
        "database": "green db", "retention_policy": "one year", "username": "u", "password": "p"});
    assert_eq!(check(v.clone()), Vec::<String>::new());
    let c: InfluxDbConfig = serde_json::from_value(v).unwrap();
    assert_eq!(
        c.write_url().unwrap().as_str(),
        "https://db.example/influx/write?db=green+db&rp=one+year&precision=ns"
    );
    let mut cx = Check::new(".");
    assert!(matches!(c.auth("x", &mut cx), Auth::Basic { .. }));
}

/// The snippet documented for `config/greengate.example.toml`.
const EXAMPLE: &str = r#"
[sinks.influxdb]
# Base URL of the store, http:// or https://, without /write (no credentials in it).
url = "http://127.0.0.1:8086"
# Write API: "v2" = POST /api/v2/write (InfluxDB 2.x/3.x, VictoriaMetrics);
# "v1" = POST /write (InfluxDB 1.x).
api = "v2"
# v2: organisation and bucket.
org = "greengate"
bucket = "greengate"
# v2: API token, inline or from token_file (trailing newline trimmed), or from
# the environment: GREENGATE__SINKS__INFLUXDB__TOKEN. Required for v2
# (VictoriaMetrics ignores it: any value). Never logged.
token = "change-me"
# token_file = "/etc/greengate/influxdb.token"
# v1: database (it must exist: until it does, writes are retried and logged
# as errors, nothing is dropped), retention policy ("" = the database's
# default), and basic-auth credentials ("" = no authentication).
# database = "greengate"
# retention_policy = ""
# username = ""
# password = ""
# password_file = "/etc/greengate/influxdb.password"
# A write request holds at most this many lines and bytes (before
# compression); after the first line, wait up to `linger` for a fuller batch.
batch_max_lines = 5000
batch_max_bytes = 1048576
linger = "1s"
# gzip request bodies (Content-Encoding: gzip).
gzip = true
# Timeout of one write request (connect, send, answer).
timeout = "10s"
# Retries (429, 5xx, timeouts, connection errors, and 401/403/404 which mean
# a configuration problem): capped, jittered exponential backoff from
# retry_min to retry_max, forever, never dropping data. A server's
# Retry-After is honoured up to retry_max.
retry_min = "200ms"
retry_max = "30s"
"#;

#[test]
fn the_documented_example_is_valid_and_spells_out_the_defaults() {
    let v: toml::Value = toml::from_str(EXAMPLE).unwrap();
    let v = serde_json::to_value(&v["sinks"]["influxdb"]).unwrap();
    assert_eq!(check(v.clone()), Vec::<String>::new());
    let c: InfluxDbConfig = serde_json::from_value(v).unwrap();
    let d = InfluxDbConfig::default();
    assert_eq!(
        (
            c.batch_max_lines,
            c.batch_max_bytes,
            c.linger,
            c.gzip,
            c.timeout,
            c.retry_min,
            c.retry_max
        ),
        (
            d.batch_max_lines,
            d.batch_max_bytes,
            d.linger,
            d.gzip,
            d.timeout,
            d.retry_min,
            d.retry_max
        )
    );
}

#[test]
fn credentials_in_the_url_are_refused() {
    let p = check(
        serde_json::json!({"url": "http://u:secret@h", "org": "o", "bucket": "b", "token": "t"}),
    );
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].starts_with("sinks.influxdb.url: must not contain credentials"));
    assert!(!p[0].contains("secret"));
}

#[test]
fn every_problem_is_reported_with_its_key_path() {
    let v = serde_json::json!({"url": "ftp://x", "api": "v1", "bucket": "b",
        "batch_max_lines": 0, "retry_min": "5s", "retry_max": "1s", "password": "p"});
    let p = check(v);
    for want in [
        "sinks.influxdb.url: expected an http",
        "sinks.influxdb.database: must be set",
        "sinks.influxdb.bucket: is not used",
        "sinks.influxdb.batch_max_lines: must be at least 1",
        "sinks.influxdb.retry_max: must not be less",
        "sinks.influxdb.username: a password needs a username",
    ] {
        assert!(
            p.iter().any(|x| x.starts_with(want)),
            "{want} not in {p:#?}"
        );
    }
}

#[test]
fn v2_needs_a_resolvable_token() {
    let p = check(serde_json::json!({"url": "http://h", "org": "o", "bucket": "b"}));
    assert!(
        p.iter().any(|x| x.starts_with("sinks.influxdb.token:")),
        "{p:?}"
    );
    let p = check(
        serde_json::json!({"url": "http://h", "org": "o", "bucket": "b",
        "token_file": "/nonexistent/token"}),
    );
    assert!(
        p.iter()
            .any(|x| x.starts_with("sinks.influxdb.token_file: cannot read")),
        "{p:?}"
    );
}

#[test]
fn token_file_is_read_and_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tok"), "s3cret\n").unwrap();
    let mut c: InfluxDbConfig = serde_json::from_value(serde_json::json!({
        "url": "http://h", "org": "o", "bucket": "b", "token_file": "tok"}))
    .unwrap();
    c.rebase(dir.path());
    let mut cx = Check::new(".");
    let auth = c.auth("x", &mut cx);
    assert_eq!(auth, Auth::Token(Secret::new("s3cret")));
    assert!(!format!("{auth:?} {c:?}").contains("s3cret"));
}
