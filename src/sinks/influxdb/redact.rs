//! Credentials out of what the store answers. An answer body is logged and
//! becomes the reason of dead letters, and a proxy or a debugging server
//! that echoes the request (headers included) would put the token there.
//! Every answer body and transport error passes through [`Redactor`] before
//! anything else sees it:
//!
//! - the configured secrets themselves (the token, the basic-auth password
//!   and the `user:password` base64 a Basic header carries), wherever they
//!   appear;
//! - credential-shaped text: the value after `authorization`, `token`,
//!   `password`, `passwd`, `secret` or `api_key` followed by `:` or `=`
//!   (JSON, headers, query strings), the credential after the schemes
//!   `Token `, `Bearer ` and `Basic `, and the user info of a URL
//!   (`scheme://user:pass@`).
//!
//! The body is already capped where it is read (`client.rs`, 64 KiB) and
//! cut to 2 KiB where it becomes a reason (`outcome::describe`).

use super::config::Auth;

const MARK: &str = "<redacted>";
/// The shortest configured secret replaced wherever it appears.
const MIN_LITERAL: usize = 6;

/// Redacts credentials from text the store sent back.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    pub fn new(auth: &Auth) -> Redactor {
        let secrets = match auth {
            Auth::None => Vec::new(),
            Auth::Token(t) => vec![t.expose().to_string()],
            Auth::Basic { username, password } => vec![
                password.expose().to_string(),
                base64(format!("{username}:{}", password.expose()).as_bytes()),
            ],
        };
        Redactor {
            // Longest first, so a secret containing another is replaced whole.
            // A very short secret is not replaced literally (it would
            // mangle every answer); the patterns still catch it in place.
            secrets: {
                let mut s: Vec<String> = secrets
                    .into_iter()
                    .filter(|s| s.len() >= MIN_LITERAL)
                    .collect();
                s.sort_by_key(|s| std::cmp::Reverse(s.len()));
                s
            },
        }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MARK);
            }
        }
        redact_patterns(&out)
    }
}

fn is_value_end(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b'"' | b'\'' | b',' | b'&' | b';' | b'}' | b']' | b'<' | b'>' | b')'
        )
}

/// Byte ranges of credential-shaped values in `s` (see the module doc).
fn credential_ranges(s: &str) -> Vec<(usize, usize)> {
    let lower = s.to_ascii_lowercase();
    let b = s.as_bytes();
    let run_end = |mut j: usize| {
        while j < b.len() && !is_value_end(b[j]) {
            j += 1;
        }
        j
    };
    let mut ranges = Vec::new();
    for key in [
        "authorization",
        "token",
        "password",
        "passwd",
        "secret",
        "api_key",
        "apikey",
    ] {
        for (i, _) in lower.match_indices(key) {
            let mut j = i + key.len();
            let mut assigned = false;
            while j < b.len() && matches!(b[j], b'"' | b'\'' | b' ' | b'\t' | b':' | b'=' | b'[') {
                assigned |= matches!(b[j], b':' | b'=');
                j += 1;
            }
            if !assigned {
                continue;
            }
            // `Authorization: Token abc`: the credential is after the scheme.
            for scheme in ["token ", "bearer ", "basic "] {
                if lower[j..].starts_with(scheme) {
                    j += scheme.len();
                }
            }
            let end = run_end(j);
            if end > j {
                ranges.push((j, end));
            }
        }
    }
    for scheme in ["Token ", "Bearer ", "Basic "] {
        for (i, _) in s.match_indices(scheme) {
            let j = i + scheme.len();
            let end = run_end(j);
            // A credential, not a word: long enough to be one.
            if end - j >= 8 {
                ranges.push((j, end));
            }
        }
    }
    for (i, _) in s.match_indices("://") {
        let j = i + 3;
        let end = run_end(j);
        if let Some(at) = s[j..end].rfind('@') {
            ranges.push((j, j + at));
        }
    }
    ranges
}

fn redact_patterns(s: &str) -> String {
    let mut ranges = credential_ranges(s);
    if ranges.is_empty() {
        return s.to_string();
    }
    ranges.sort();
    let mut out = String::with_capacity(s.len());
    let mut pos = 0;
    for (start, end) in ranges {
        if end <= pos {
            continue;
        }
        let start = start.max(pos);
        out.push_str(&s[pos..start]);
        out.push_str(MARK);
        pos = end;
    }
    out.push_str(&s[pos..]);
    out
}

/// Standard base64 with padding (the form of a Basic credential).
fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= c.len() {
                out.push(char::from(T[(n >> (18 - 6 * k) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn token(t: &str) -> Redactor {
        Redactor::new(&Auth::Token(Secret::new(t)))
    }

    #[test]
    fn the_configured_token_never_survives_wherever_it_is_echoed() {
        let r = token("s3cr3t-t0ken");
        let body = r#"{"error":"bad request","echo":"s3cr3t-t0ken"}"#;
        assert_eq!(
            r.redact(body),
            r#"{"error":"bad request","echo":"<redacted>"}"#
        );
    }

    #[test]
    fn echoed_headers_and_credential_fields_are_redacted() {
        let r = Redactor::default();
        let cases = [
            (
                "Authorization: Token abcdefgh123\r\nHost: x",
                "Authorization: Token <redacted>\r\nHost: x",
            ),
            (
                r#"{"headers":{"authorization":["Bearer xyz"]}}"#,
                r#"{"headers":{"authorization":["Bearer <redacted>"]}}"#,
            ),
            (
                "proxy saw Basic dXNlcjpwYXNzd29yZA== from client",
                "proxy saw Basic <redacted> from client",
            ),
            (
                r#"{"password":"hunter2","user":"u"}"#,
                r#"{"password":"<redacted>","user":"u"}"#,
            ),
            (
                "GET /write?u=a&p=1&token=abc",
                "GET /write?u=a&p=1&token=<redacted>",
            ),
            (
                "dial http://user:pw@influx:8086 failed",
                "dial http://<redacted>@influx:8086 failed",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(r.redact(input), want, "{input}");
        }
    }

    #[test]
    fn ordinary_store_errors_are_left_readable() {
        let r = token("tok-123456");
        for body in [
            r#"{"code":"unauthorized","message":"unauthorized access"}"#,
            r#"{"error":"authorization not found"}"#,
            r#"{"error":"partial write: field type conflict: dropped=1"}"#,
            "max tokens exceeded",
        ] {
            assert_eq!(r.redact(body), body);
        }
    }

    #[test]
    fn a_basic_credential_is_redacted_in_its_encoded_form() {
        let r = Redactor::new(&Auth::Basic {
            username: "user".into(),
            password: Secret::new("password"),
        });
        assert_eq!(base64(b"user:password"), "dXNlcjpwYXNzd29yZA==");
        assert_eq!(r.redact("cred=dXNlcjpwYXNzd29yZA== x"), "cred=<redacted> x");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"a"), "YQ==");
    }
}
