//! One HTTP write request: body (gzip), auth header, and the answer read
//! into a small, bounded value. I/O only; decisions are in [`super::outcome`].

use bytes::Bytes;
use std::io::Write;

use super::config::{Auth, InfluxDbConfig};
use super::outcome::ErrorKind;
use super::redact::Redactor;
use super::InfluxError;

/// The most of a response body we keep (for logs and dead letters; the
/// credentials in it are redacted).
const MAX_BODY: usize = 64 * 1024;

/// What the store answered.
#[derive(Debug, Clone)]
pub(super) struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: String,
}

/// The request never got an answer.
#[derive(Debug, Clone)]
pub(super) struct Failure {
    pub kind: ErrorKind,
    pub message: String,
}

/// A reusable client for one write endpoint.
pub(super) struct Client {
    http: reqwest::Client,
    url: reqwest::Url,
    auth: Auth,
    gzip: bool,
    /// Applied to every answer body and transport error (`redact.rs`).
    redactor: Redactor,
}

impl Client {
    pub(super) fn new(cfg: &InfluxDbConfig, auth: Auth) -> Result<Client, InfluxError> {
        let url = cfg.write_url().map_err(InfluxError::Config)?;
        // reqwest is built without a default crypto provider; https needs one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(1)
            .build()
            .map_err(|e| InfluxError::Client(e.to_string()))?;
        Ok(Client {
            http,
            url,
            redactor: Redactor::new(&auth),
            auth,
            gzip: cfg.gzip,
        })
    }

    /// The request body for `lines`: gzip-compressed when configured. Built
    /// once per piece and reused across retries.
    pub(super) fn body(&self, lines: &[u8]) -> Bytes {
        if self.gzip {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(lines.len() / 4 + 64),
                flate2::Compression::fast(),
            );
            if let Ok(gz) = enc.write_all(lines).and_then(|()| enc.finish()) {
                return Bytes::from(gz);
            }
        }
        Bytes::copy_from_slice(lines)
    }

    /// Sends one body built by [`Client::body`].
    pub(super) async fn send(&self, body: Bytes) -> Result<Answer, Failure> {
        let mut req = self
            .http
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(body);
        if self.gzip {
            req = req.header(reqwest::header::CONTENT_ENCODING, "gzip");
        }
        req = self.auth.apply(req);
        let mut resp = req.send().await.map_err(|e| {
            let mut f = failure(e);
            f.message = self.redactor.redact(&f.message);
            f
        })?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut body = Vec::new();
        while body.len() < MAX_BODY {
            match resp.chunk().await {
                Ok(Some(c)) => body.extend_from_slice(&c[..c.len().min(MAX_BODY - body.len())]),
                Ok(None) => break,
                // The status is what decides; a broken body only loses detail.
                Err(_) => break,
            }
        }
        Ok(Answer {
            status,
            retry_after,
            body: self.redactor.redact(&String::from_utf8_lossy(&body)),
        })
    }
}

fn failure(e: reqwest::Error) -> Failure {
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_connect() {
        ErrorKind::Connect
    } else {
        ErrorKind::Transport
    };
    Failure {
        kind,
        message: error_chain(&e),
    }
}

/// The full chain of an error ("error sending request ...: connection refused").
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        message.push_str(": ");
        message.push_str(&s.to_string());
        src = s.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_https_client_builds_with_the_ring_provider_and_compresses_bodies() {
        let cfg: InfluxDbConfig = serde_json::from_value(serde_json::json!({
            "url": "https://influx.example:8086", "org": "o", "bucket": "b", "token": "t"}))
        .unwrap();
        let c = Client::new(&cfg, Auth::None).unwrap();
        let lines = b"m v=1i 1\n".repeat(100);
        let gz = c.body(&lines);
        assert!(gz.len() < lines.len());
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut back).unwrap();
        assert_eq!(back, lines);
    }
}
