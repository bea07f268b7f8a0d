//! HTTP to the store: InfluxQL `/query` (chunked, `epoch=ns`) and line
//! protocol `/write`, both v1 API, the one InfluxDB 1.x, 2.x (v1
//! compatibility) and 3.x all answer. I/O only; parsing is in `series`.

use std::time::Duration;

use super::config::Target;
use super::series::{parse_answer, Series};
use super::StoreError;
use crate::sinks::influxdb::{error_chain, Redactor};

/// The largest line (one chunk, or one whole answer from a store that does
/// not chunk) held in memory: beyond it, lower `store.page`.
const MAX_CHUNK: usize = 256 << 20;

/// The most of a refusal's body kept for the error.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// A client for one store endpoint.
pub struct StoreClient {
    http: reqwest::Client,
    base: reqwest::Url,
    target: Target,
    /// What the store answers can echo the credentials (a proxy that
    /// reflects the request): redacted as the sink does.
    redactor: Redactor,
}

impl StoreClient {
    pub fn new(target: &Target) -> Result<StoreClient, StoreError> {
        let base = reqwest::Url::parse(&target.url)
            .map_err(|e| StoreError::Config(format!("store url {:?}: {e}", target.url)))?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(target.timeout)
            .connect_timeout(target.timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| StoreError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(StoreClient {
            http,
            base,
            redactor: Redactor::new(&target.auth),
            target: target.clone(),
        })
    }

    /// The endpoint, for messages (no secrets).
    pub fn origin(&self) -> String {
        format!("{} db={}", self.target.url, self.target.database)
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    fn url(&self, path: &str) -> reqwest::Url {
        let mut u = self.base.clone();
        let base = u.path().trim_end_matches('/').to_string();
        u.set_path(&format!("{base}{path}"));
        {
            let mut q = u.query_pairs_mut();
            q.clear().append_pair("db", &self.target.database);
            if !self.target.retention_policy.is_empty() {
                q.append_pair("rp", &self.target.retention_policy);
            }
        }
        u
    }

    /// Sends a request with the credentials; a transport error redacted.
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, StoreError> {
        (self.target.auth.apply(req).send().await).map_err(|e| self.transport(&e))
    }

    fn transport(&self, e: &reqwest::Error) -> StoreError {
        StoreError::Transport(self.redactor.redact(&error_chain(e)))
    }

    /// A non-2xx answer as an error: its status and the start of its body,
    /// redacted.
    async fn refused(&self, mut resp: reqwest::Response) -> StoreError {
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        while let Ok(Some(c)) = resp.chunk().await {
            body.extend_from_slice(&c);
            if body.len() > MAX_ERROR_BODY {
                break;
            }
        }
        let text = String::from_utf8_lossy(&body);
        StoreError::Status {
            status,
            body: self.redactor.redact(text.trim()),
        }
    }

    /// Runs one InfluxQL statement; `each` gets every series chunk as it
    /// arrives, so memory holds one chunk.
    pub async fn query(
        &self,
        q: &str,
        each: &mut (dyn FnMut(Series) + Send),
    ) -> Result<(), StoreError> {
        let mut u = self.url("/query");
        u.query_pairs_mut()
            .append_pair("epoch", "ns")
            .append_pair("chunked", "true")
            .append_pair("chunk_size", &self.target.chunk_size.to_string())
            .append_pair("q", q);
        let mut resp = self.send(self.http.get(u)).await?;
        if !resp.status().is_success() {
            return Err(self.refused(resp).await);
        }
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let chunk = resp.chunk().await.map_err(|e| self.transport(&e))?;
            let done = chunk.is_none();
            if let Some(c) = chunk {
                buf.extend_from_slice(&c);
            }
            while let Some(i) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=i).collect();
                if !line.iter().all(u8::is_ascii_whitespace) {
                    parse_answer(&line)?.into_iter().for_each(&mut *each);
                }
            }
            if buf.len() > MAX_CHUNK {
                return Err(StoreError::Answer(format!(
                    "an answer chunk exceeds {} MiB: lower store.page",
                    MAX_CHUNK >> 20
                )));
            }
            if done {
                break;
            }
        }
        if !buf.iter().all(u8::is_ascii_whitespace) {
            parse_answer(&buf)?.into_iter().for_each(each);
        }
        Ok(())
    }

    /// Writes line protocol (nanosecond timestamps); 2xx or an error.
    pub async fn write(&self, lines: Vec<u8>) -> Result<(), StoreError> {
        let mut u = self.url("/write");
        u.query_pairs_mut().append_pair("precision", "ns");
        let req = (self.http.post(u))
            .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(lines);
        let resp = self.send(req).await?;
        if resp.status().is_success() {
            return Ok(());
        }
        Err(self.refused(resp).await)
    }
}

/// An InfluxQL identifier in double quotes.
pub fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
