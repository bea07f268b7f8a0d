//! Self-monitoring over HTTP, bound to 127.0.0.1 by default:
//! `/healthz` (the process is up), `/readyz` (every component that reports
//! readiness is ready), `/metrics` (Prometheus text format), and the routes
//! the wiring adds (`/assess`).
//!
//! Components report readiness with [`set_ready`]; `/readyz` answers 503
//! with the names of those not ready.
//!
//! The server is built to survive whoever can reach it (issue 10): a
//! header-read and an idle timeout per connection ([`conn`]), a connection
//! limit and an accept loop that backs off instead of spinning when file
//! descriptors run out ([`server`]), 405/404 for anything but GET and HEAD
//! on a known path ([`routes`]), and credentials for every path but
//! `/healthz` whenever any are configured, which a non-loopback `listen`
//! requires unless `allow_unauthenticated` ([`config`], [`auth`]).
//!
//! Layout: `config` (serde and validation), `auth` and `routes` (pure),
//! `conn` (one connection), `server` (the accept loop).

pub mod auth;
pub mod config;
mod conn;
pub mod routes;
pub mod server;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

pub use auth::Auth;
pub use config::HttpConfig;
pub use routes::{Handler, Reply, ReplyFuture, Route};

use crate::config::{Check, Problems};
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

/// Everything [`serve`] needs, resolved from `[http]` (secret files read).
pub struct Options {
    pub listen: SocketAddr,
    pub auth: Auth,
    pub limits: server::Limits,
}

impl Options {
    /// Reads `cfg`'s secrets (its file paths were resolved when the config
    /// was loaded); every problem is reported with its key path under `http`.
    pub fn from_config(cfg: &HttpConfig) -> Result<Options, Problems> {
        let mut cx = Check::new("");
        let auth = cfg.auth("http", &mut cx);
        cx.into_result()?;
        Ok(Options {
            listen: cfg.listen,
            auth,
            limits: server::Limits {
                timeouts: conn::Timeouts {
                    header_read: cfg.header_read_timeout,
                    idle: cfg.idle_timeout,
                },
                max_connections: cfg.max_connections,
            },
        })
    }
}

/// Binds `opts.listen` (fails fast, so a port clash is reported at start)
/// and returns the task serving until `shutdown`.
pub async fn serve(
    opts: Options,
    extra: Vec<Route>,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let (listener, local) = server::bind(opts.listen).await?;
    if !opts.auth.is_required() && !config::is_loopback(&local) {
        tracing::warn!(
            addr = %local,
            "HTTP served without credentials on a non-loopback address \
             (http.allow_unauthenticated = true): anyone who reaches it reads /metrics and /assess."
        );
    }
    let router = Arc::new(routes::Router {
        auth: opts.auth,
        extra,
    });
    let task = tokio::spawn(server::accept_loop(listener, router, opts.limits, shutdown));
    Ok((local, task))
}
