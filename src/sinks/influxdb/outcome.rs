//! What to do about a store's answer: a pure function of (status, headers,
//! body), so every rule is a unit test.
//!
//! | answer | decision |
//! |---|---|
//! | 2xx | [`Outcome::Written`] |
//! | 429, 5xx, timeout, connection error | [`Outcome::Retry`] the same lines, honouring `Retry-After` |
//! | 413 | [`Outcome::Split`] into halves; one line still too large is dead-lettered |
//! | 400, 422 | [`Outcome::Reject`]: bisect to isolate the bad lines, dead-letter only those |
//! | 401, 403, 404, other | [`Outcome::Retry`] with kind `config`: an operator fixes the token or creates the database; the data waits |

use std::time::{Duration, SystemTime};

/// Why a write attempt did not succeed; the `kind` label of
/// `influx_write_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request timed out.
    Timeout,
    /// The store could not be reached.
    Connect,
    /// The connection broke otherwise.
    Transport,
    /// 429: the store asks us to slow down.
    Throttled,
    /// 5xx.
    Server,
    /// 413.
    TooLarge,
    /// 400/422: some lines are unacceptable.
    BadRequest,
    /// 401/403/404/3xx/other 4xx: the configuration is wrong.
    Config,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::Transport => "transport",
            ErrorKind::Throttled => "throttled",
            ErrorKind::Server => "server",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Config => "config",
        }
    }
}

/// The decision about one write attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every line is stored.
    Written,
    /// Send the same lines again after a backoff of at least `after`.
    Retry {
        kind: ErrorKind,
        after: Option<Duration>,
        reason: String,
    },
    /// The body is too large: write each half on its own.
    Split { reason: String },
    /// Some lines are bad: bisect; a single bad line is dead-lettered with
    /// `reason`. `dropped` is InfluxDB 1.x's count of refused points in a
    /// "partial write" (a lower bound: with several shards it reports one).
    Reject {
        reason: String,
        dropped: Option<usize>,
    },
}

/// Classifies an HTTP answer. `retry_after` is the raw header value; `now`
/// is wall time (for an HTTP-date `Retry-After`).
pub fn classify(status: u16, retry_after: Option<&str>, body: &str, now: SystemTime) -> Outcome {
    let reason = describe(status, body);
    let after = retry_after.and_then(|v| parse_retry_after(v, now));
    let retry = |kind| Outcome::Retry {
        kind,
        after,
        reason: reason.clone(),
    };
    match status {
        200..=299 => Outcome::Written,
        413 => Outcome::Split { reason },
        400 | 422 if names_missing_target(body) => retry(ErrorKind::Config),
        400 | 422 => Outcome::Reject {
            reason,
            dropped: partial_write_dropped(body),
        },
        429 => retry(ErrorKind::Throttled),
        500..=599 => retry(ErrorKind::Server),
        _ => retry(ErrorKind::Config),
    }
}

/// `HTTP 400: {"error":"..."}`, the body trimmed and cut to a readable size.
pub fn describe(status: u16, body: &str) -> String {
    const MAX: usize = 2048;
    let body = body.trim();
    let mut cut = body.len().min(MAX);
    while !body.is_char_boundary(cut) {
        cut -= 1;
    }
    let more = if cut < body.len() { "..." } else { "" };
    format!("HTTP {status}: {}{more}", &body[..cut])
}

/// A 400 that is about the destination, not the lines (InfluxDB 1.x answers
/// a missing retention policy this way): retrying, not dead-lettering.
fn names_missing_target(body: &str) -> bool {
    let b = body.to_ascii_lowercase();
    b.contains("retention policy not found") || b.contains("database not found")
}

/// `N` of InfluxDB 1.x's `partial write: ... dropped=N`.
fn partial_write_dropped(body: &str) -> Option<usize> {
    if !body.contains("partial write") {
        return None;
    }
    let at = body.rfind("dropped=")? + "dropped=".len();
    let digits: String = body[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// `Retry-After` as delay-seconds or an HTTP date; `None` when unreadable.
pub fn parse_retry_after(v: &str, now: SystemTime) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let at = SystemTime::UNIX_EPOCH.checked_add(Duration::from_millis(
        u64::try_from(at.timestamp_millis()).ok()?,
    ))?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> SystemTime {
        // Sun, 29 Nov 2026 04:00:00 GMT
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_924_800)
    }

    #[test]
    fn success_statuses_mean_written() {
        for s in [200, 204] {
            assert_eq!(classify(s, None, "", now()), Outcome::Written);
        }
    }

    #[test]
    fn throttling_retries_after_the_servers_delay() {
        let o = classify(429, Some("7"), "slow down", now());
        assert_eq!(
            o,
            Outcome::Retry {
                kind: ErrorKind::Throttled,
                after: Some(Duration::from_secs(7)),
                reason: "HTTP 429: slow down".into()
            }
        );
    }

    #[test]
    fn server_errors_retry_with_or_without_retry_after() {
        let o = classify(503, Some("Sun, 29 Nov 2026 04:00:30 GMT"), "", now());
        assert!(matches!(
            o,
            Outcome::Retry { kind: ErrorKind::Server, after: Some(d), .. } if d == Duration::from_secs(30)
        ));
        let o = classify(500, None, "boom", now());
        assert!(matches!(
            o,
            Outcome::Retry {
                kind: ErrorKind::Server,
                after: None,
                ..
            }
        ));
    }

    #[test]
    fn retry_after_in_the_past_or_garbage_is_no_floor() {
        assert_eq!(
            parse_retry_after("Sun, 29 Nov 2026 03:00:00 GMT", now()),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now()), None);
        assert_eq!(parse_retry_after("-5", now()), None);
    }

    #[test]
    fn too_large_splits() {
        assert!(matches!(
            classify(413, None, "", now()),
            Outcome::Split { .. }
        ));
    }

    #[test]
    fn bad_lines_are_rejected_with_the_body_as_reason() {
        let body = r#"{"error":"partial write: field type conflict: dropped=1"}"#;
        assert_eq!(
            classify(400, None, body, now()),
            Outcome::Reject {
                reason: format!("HTTP 400: {body}"),
                dropped: Some(1)
            }
        );
        let o = classify(
            400,
            None,
            r#"{"error":"unable to parse 'x': missing fields"}"#,
            now(),
        );
        assert!(matches!(o, Outcome::Reject { dropped: None, .. }));
        let o = classify(
            400,
            None,
            r#"{"error":"partial write: points beyond retention policy dropped=12"}"#,
            now(),
        );
        assert!(matches!(
            o,
            Outcome::Reject {
                dropped: Some(12),
                ..
            }
        ));
        assert!(matches!(
            classify(422, None, "", now()),
            Outcome::Reject { .. }
        ));
    }

    #[test]
    fn auth_and_missing_database_are_configuration_problems_that_keep_the_data() {
        for s in [401, 403, 404, 301, 405] {
            assert!(
                matches!(
                    classify(s, None, "", now()),
                    Outcome::Retry {
                        kind: ErrorKind::Config,
                        ..
                    }
                ),
                "{s}"
            );
        }
        let o = classify(
            400,
            None,
            r#"{"error":"retention policy not found: x"}"#,
            now(),
        );
        assert!(matches!(
            o,
            Outcome::Retry {
                kind: ErrorKind::Config,
                ..
            }
        ));
    }

    #[test]
    fn long_bodies_are_cut_on_a_character_boundary() {
        let body = "é".repeat(3000);
        let d = describe(400, &body);
        assert!(d.ends_with("..."));
        assert!(d.len() < 2100);
    }
}
