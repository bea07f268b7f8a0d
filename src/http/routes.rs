//! What each request gets: pure, from the method, path and `Authorization`
//! header to a response.
//!
//! Order: `/healthz` is open to everyone (a liveness probe carries no
//! credentials and reveals nothing); every other path needs the configured
//! credentials first (401 with `WWW-Authenticate`, so an unauthenticated
//! client learns neither which paths exist nor which methods they take);
//! then unknown paths are 404 and any method but GET and HEAD is 405 with
//! `Allow: GET, HEAD`. HEAD answers like GET without the body (hyper drops it).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{
    HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY,
    WWW_AUTHENTICATE, X_CONTENT_TYPE_OPTIONS,
};
use hyper::{Method, Response, StatusCode};

use super::auth::Auth;
use crate::metrics;

/// Extra routes a caller can add (e.g. `/assess`, the status page): path →
/// reply producer from the query string.
pub type Route = (String, Handler);

/// A reply that needs I/O first (a query to the store).
pub type ReplyFuture = Pin<Box<dyn Future<Output = Reply> + Send>>;

/// How an extra route answers.
#[derive(Clone)]
pub enum Handler {
    /// At once, from memory (the status page, `/status.json`).
    Now(Arc<dyn Fn(&str) -> Reply + Send + Sync>),
    /// Later: the connection awaits the future (`/assess?from_store=1`);
    /// other connections and the data path go on meanwhile.
    Later(Arc<dyn Fn(&str) -> ReplyFuture + Send + Sync>),
}

/// What an extra route answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, body: String) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            body,
        }
    }

    /// A page: served with a Content-Security-Policy that lets it run its
    /// own inline script and style and fetch from this origin only.
    pub fn html(body: String) -> Reply {
        Reply {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body,
        }
    }
}

/// The policy of every HTML reply: no external resource of any kind (edge
/// boxes have no internet, and a page of ours never needs one), no framing,
/// no forms, requests to this origin only.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The routes and who may use them, shared by every connection.
pub struct Router {
    pub auth: Auth,
    pub extra: Vec<Route>,
}

/// The parts of a request the router looks at.
pub struct Req<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: &'a str,
    pub authorization: Option<&'a [u8]>,
}

pub fn respond(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(CONTENT_TYPE, v);
    }
    r
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    respond(status, "text/plain", body.to_string())
}

impl Router {
    pub async fn route(&self, req: &Req<'_>) -> Response<Full<Bytes>> {
        let known = matches!(req.path, "/healthz" | "/readyz" | "/metrics")
            || self.extra.iter().any(|(p, _)| p == req.path);
        if req.path != "/healthz" && !self.auth.allows(req.authorization) {
            unauthorized().inc();
            let mut r = text(StatusCode::UNAUTHORIZED, "unauthorized\n");
            for c in self.auth.challenges() {
                r.headers_mut()
                    .append(WWW_AUTHENTICATE, HeaderValue::from_static(c));
            }
            return r;
        }
        if !known {
            return text(StatusCode::NOT_FOUND, "not found\n");
        }
        if req.method != Method::GET && req.method != Method::HEAD {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return r;
        }
        match req.path {
            "/healthz" => text(StatusCode::OK, "ok\n"),
            "/readyz" => {
                let bad = super::not_ready();
                if bad.is_empty() {
                    text(StatusCode::OK, "ready\n")
                } else {
                    let body = format!("not ready: {}\n", bad.join(" "));
                    respond(StatusCode::SERVICE_UNAVAILABLE, "text/plain", body)
                }
            }
            "/metrics" => respond(
                StatusCode::OK,
                "text/plain; version=0.0.4",
                metrics::registry().render(),
            ),
            path => {
                let Some((_, f)) = self.extra.iter().find(|(p, _)| p == path) else {
                    return text(StatusCode::NOT_FOUND, "not found\n");
                };
                let reply = match f {
                    Handler::Now(f) => f(req.query),
                    Handler::Later(f) => f(req.query).await,
                };
                let status =
                    StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let mut r = respond(status, reply.content_type, reply.body);
                let h = r.headers_mut();
                h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
                if reply.content_type.starts_with("text/html") {
                    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
                    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
                }
                r
            }
        }
    }
}

/// HttpRequestUnauthorized: a request without the configured credentials.
fn unauthorized() -> metrics::Counter {
    metrics::counter(
        "http_requests_unauthorized_total",
        "HTTP requests refused with 401 (missing or wrong credentials).",
        &[],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn router(auth: Auth) -> Router {
        let assess: Route = (
            "/assess".into(),
            Handler::Now(Arc::new(|q: &str| {
                Reply::json(200, format!("{{\"q\":\"{q}\"}}"))
            })),
        );
        Router {
            auth,
            extra: vec![assess],
        }
    }

    fn status(
        r: &Router,
        method: Method,
        path: &str,
        authz: Option<&str>,
    ) -> Response<Full<Bytes>> {
        let req = Req {
            method: &method,
            path,
            query: "",
            authorization: authz.map(str::as_bytes),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(r.route(&req))
    }

    #[test]
    fn every_route_refuses_other_methods_with_405_and_allow() {
        let r = router(Auth::none());
        for path in ["/healthz", "/readyz", "/metrics", "/assess"] {
            for m in [
                Method::POST,
                Method::PUT,
                Method::DELETE,
                Method::OPTIONS,
                Method::PATCH,
            ] {
                let resp = status(&r, m.clone(), path, None);
                assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "{m} {path}");
                assert_eq!(resp.headers()[ALLOW], "GET, HEAD");
            }
            // `/readyz` may be 503 here: other tests mark components not ready.
            for m in [Method::GET, Method::HEAD] {
                let s = status(&r, m.clone(), path, None).status();
                assert!(s == StatusCode::OK || path == "/readyz", "{m} {path}: {s}");
                assert!(s != StatusCode::METHOD_NOT_ALLOWED, "{m} {path}");
            }
        }
    }

    #[test]
    fn unknown_paths_are_404_for_every_method() {
        let r = router(Auth::none());
        for m in [Method::GET, Method::POST] {
            assert_eq!(status(&r, m, "/nope", None).status(), StatusCode::NOT_FOUND);
        }
    }

    #[test]
    fn with_a_token_everything_but_healthz_needs_it() {
        let r = router(Auth::new(Some(Secret::new("tok")), None));
        assert_eq!(
            status(&r, Method::GET, "/healthz", None).status(),
            StatusCode::OK
        );
        for path in ["/readyz", "/metrics", "/assess", "/nope"] {
            let resp = status(&r, Method::GET, path, None);
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path}");
            assert_eq!(
                resp.headers()[WWW_AUTHENTICATE],
                "Bearer realm=\"greengate\""
            );
            let resp = status(&r, Method::POST, path, Some("Bearer wrong"));
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path}");
        }
        for path in ["/readyz", "/metrics", "/assess"] {
            let resp = status(&r, Method::GET, path, Some("Bearer tok"));
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
        }
        let resp = status(&r, Method::GET, "/nope", Some("Bearer tok"));
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }
}
