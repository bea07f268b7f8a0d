//! Self-monitoring over HTTP, bound to 127.0.0.1 by default:
//! `/healthz` (the process is up), `/readyz` (every component that reports
//! readiness is ready), `/metrics` (Prometheus text format).
//!
//! Components report readiness with [`set_ready`]; `/readyz` answers 503
//! with the names of those not ready.

use std::net::SocketAddr;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::metrics;

/// Marks a component (`mqtt`, `modbus`, `outbox`, `sink:influxdb`) ready or not.
pub fn set_ready(component: &str, ready: bool) {
    metrics::gauge(
        "component_ready",
        "1 when the component is ready.",
        &[("component", component)],
    )
    .set(ready as i64);
}

fn reasons() -> std::sync::MutexGuard<'static, std::collections::BTreeMap<String, String>> {
    static REASONS: std::sync::OnceLock<
        std::sync::Mutex<std::collections::BTreeMap<String, String>>,
    > = std::sync::OnceLock::new();
    REASONS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// [`set_ready`] with the reason a component is not ready (`None`: ready),
/// shown by `/readyz` beside its name.
pub fn set_ready_because(component: &str, not_ready: Option<&str>) {
    match not_ready {
        Some(why) => {
            reasons().insert(component.to_string(), why.to_string());
        }
        None => {
            reasons().remove(component);
        }
    }
    set_ready(component, not_ready.is_none());
}

/// Components that are not ready (with their reason, when one was given).
pub fn not_ready() -> Vec<String> {
    let why = reasons();
    metrics::registry()
        .gauge_values("component_ready")
        .into_iter()
        .filter(|(_, v)| *v == 0)
        .map(|(l, _)| l.into_iter().map(|(_, v)| v).collect::<Vec<_>>().join(","))
        .map(|name| match why.get(&name) {
            Some(r) => format!("{name} ({r})"),
            None => name,
        })
        .collect()
}

fn respond(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// Extra routes a caller can add (e.g. `/assess`): path → body producer.
pub type Route = (
    String,
    std::sync::Arc<dyn Fn(&str) -> (u16, String) + Send + Sync>,
);

fn route(req: &Request<hyper::body::Incoming>, extra: &[Route]) -> Response<Full<Bytes>> {
    match req.uri().path() {
        "/healthz" => respond(StatusCode::OK, "text/plain", "ok\n".into()),
        "/readyz" => {
            let bad = not_ready();
            if bad.is_empty() {
                respond(StatusCode::OK, "text/plain", "ready\n".into())
            } else {
                respond(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    format!("not ready: {}\n", bad.join(" ")),
                )
            }
        }
        "/metrics" => respond(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            metrics::registry().render(),
        ),
        path => {
            for (p, f) in extra {
                if p == path {
                    let (code, body) = f(req.uri().query().unwrap_or(""));
                    let status =
                        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    return respond(status, "application/json", body);
                }
            }
            respond(StatusCode::NOT_FOUND, "text/plain", "not found\n".into())
        }
    }
}

/// Binds `addr` (fails fast, so a port clash is reported at start) and
/// returns the task serving until `shutdown`.
pub async fn serve(
    addr: SocketAddr,
    extra: Vec<Route>,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let extra = std::sync::Arc::new(extra);
    let task = tokio::spawn(async move {
        loop {
            let (stream, _) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "HTTP accept failed.");
                        continue;
                    }
                },
                _ = shutdown.cancelled() => break,
            };
            let extra = extra.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let extra = extra.clone();
                    async move { Ok::<_, std::convert::Infallible>(route(&req, &extra)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok((local, task))
}
