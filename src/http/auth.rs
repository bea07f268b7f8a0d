//! Who may read the endpoints: a bearer token, basic-auth credentials,
//! either, or nobody needs any. Pure: the server hands it the
//! `Authorization` header and gets a yes or no.
//!
//! Invariants: secrets are compared in constant time (for a given length),
//! and never appear in `Debug`. Basic credentials are kept in their encoded
//! form (`base64("user:password")`), so a request's are compared without
//! decoding attacker-controlled bytes.

use crate::config::Secret;

/// The credentials the server accepts; [`Auth::none`] accepts everyone.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    bearer: Option<Secret>,
    /// `base64("user:password")`, as a client sends it.
    basic: Option<Secret>,
}

impl Auth {
    /// No credentials: every request is allowed.
    pub fn none() -> Auth {
        Auth::default()
    }

    /// A bearer token, basic-auth `(username, password)`, or both.
    pub fn new(bearer: Option<Secret>, basic: Option<(String, Secret)>) -> Auth {
        Auth {
            bearer,
            basic: basic
                .map(|(u, p)| Secret::new(base64(format!("{u}:{}", p.expose()).as_bytes()))),
        }
    }

    /// Whether any credentials are configured (and so enforced).
    pub fn is_required(&self) -> bool {
        self.bearer.is_some() || self.basic.is_some()
    }

    /// Whether a request with this `Authorization` header value may pass.
    pub fn allows(&self, authorization: Option<&[u8]>) -> bool {
        if !self.is_required() {
            return true;
        }
        let Some(value) = authorization else {
            return false;
        };
        let Some((scheme, rest)) = split_scheme(value) else {
            return false;
        };
        let expected = if scheme.eq_ignore_ascii_case(b"bearer") {
            &self.bearer
        } else if scheme.eq_ignore_ascii_case(b"basic") {
            &self.basic
        } else {
            return false;
        };
        expected
            .as_ref()
            .is_some_and(|e| constant_time_eq(e.expose().as_bytes(), rest))
    }

    /// The `WWW-Authenticate` challenges of a 401 answer.
    pub fn challenges(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.bearer.is_some() {
            out.push("Bearer realm=\"greengate\"");
        }
        if self.basic.is_some() {
            out.push("Basic realm=\"greengate\", charset=\"UTF-8\"");
        }
        out
    }
}

/// `Bearer abc` -> (`Bearer`, `abc`): the scheme, then the credentials
/// without the spaces between them.
fn split_scheme(value: &[u8]) -> Option<(&[u8], &[u8])> {
    let value = value.trim_ascii();
    let space = value.iter().position(|b| *b == b' ')?;
    let (scheme, rest) = value.split_at(space);
    Some((scheme, rest.trim_ascii_start()))
}

/// Equality whose time depends only on the lengths, not on where the first
/// difference is.
pub fn constant_time_eq(expected: &[u8], given: &[u8]) -> bool {
    let mut diff = u8::from(expected.len() != given.len());
    for (i, e) in expected.iter().enumerate() {
        let g = given.get(i).copied().unwrap_or(!*e);
        diff |= std::hint::black_box(e ^ g);
    }
    diff == 0
}

/// Standard base64 with padding (RFC 4648 section 4), as basic auth uses it.
pub fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextet = |shift: u32| char::from(ALPHABET[((n >> shift) & 0x3f) as usize]);
        out.push(sextet(18));
        out.push(sextet(12));
        out.push(if chunk.len() > 1 { sextet(6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(0) } else { '=' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_4648_test_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
        // RFC 7617's example.
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn without_credentials_everyone_passes() {
        let a = Auth::none();
        assert!(!a.is_required());
        assert!(a.allows(None));
        assert!(a.allows(Some(b"Bearer anything")));
        assert!(a.challenges().is_empty());
    }

    #[test]
    fn a_bearer_token_must_match_exactly() {
        let a = Auth::new(Some(Secret::new("s3cret")), None);
        assert!(a.allows(Some(b"Bearer s3cret")));
        assert!(a.allows(Some(b"bearer   s3cret ")));
        for bad in [
            &b"Bearer s3cre"[..],
            b"Bearer s3cret2",
            b"Bearer S3cret",
            b"Bearers3cret",
            b"Basic s3cret",
            b"s3cret",
            b"",
        ] {
            assert!(!a.allows(Some(bad)), "{:?}", String::from_utf8_lossy(bad));
        }
        assert!(!a.allows(None));
        assert_eq!(a.challenges(), vec!["Bearer realm=\"greengate\""]);
    }

    #[test]
    fn basic_credentials_match_their_encoded_form() {
        let a = Auth::new(None, Some(("Aladdin".into(), Secret::new("open sesame"))));
        assert!(a.allows(Some(b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")));
        assert!(!a.allows(Some(b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ")));
        assert!(!a.allows(Some(b"Bearer QWxhZGRpbjpvcGVuIHNlc2FtZQ==")));
        assert!(!a.allows(Some(b"Basic ")));
    }

    #[test]
    fn token_and_basic_are_both_accepted_when_both_are_configured() {
        let a = Auth::new(Some(Secret::new("t")), Some(("u".into(), Secret::new("p"))));
        assert!(a.allows(Some(b"Bearer t")));
        assert!(a.allows(Some(format!("Basic {}", base64(b"u:p")).as_bytes())));
        assert_eq!(a.challenges().len(), 2);
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(!constant_time_eq(b"", b"a"));
        // A given byte equal to the complement placeholder cannot fake a match.
        assert!(!constant_time_eq(&[0x00], &[]));
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let a = Auth::new(
            Some(Secret::new("hunter2")),
            Some(("u".into(), Secret::new("swordfish"))),
        );
        let shown = format!("{a:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains(&base64(b"u:swordfish")), "{shown}");
    }
}
