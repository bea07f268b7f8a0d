//! The status board: a read-only page at `/` and its data at
//! `/status.json`, for the person standing at the edge box.
//!
//! Everything shown is what the daemon already has: the metrics registry
//! (source, device, outbox and dead-letter figures), the latest reading of
//! each device and the latest indicator outputs as the pipeline stored them
//! ([`Latest`], fed through [`crate::pipeline::Observer`]), the dead-letter
//! writer's recent reasons, and the indicator engine (noise limits, open
//! alarms, the assessment). Nothing here writes anywhere.
//!
//! Invariants:
//! - read-only: both routes answer GET and HEAD only (the HTTP router), and
//!   building a snapshot takes locks only to copy;
//! - no secret is ever part of a snapshot: sources appear by host, port,
//!   client id and endpoint address, sinks only by their outbox name, dead
//!   letters by origin and reason (never their payload);
//! - the page is one embedded file (no network beyond this origin: the
//!   router serves it with a Content-Security-Policy that forbids any other)
//!   and renders outside text with `textContent` only.
//!
//! Both routes sit behind the server's credentials like every path but
//! `/healthz` (see `http`): loopback by default, a token or basic
//! credentials when exposed.

mod latest;
mod sections;
mod snapshot;
mod sources;

use std::sync::Arc;

pub use latest::{DeviceLatest, Latest};
pub use snapshot::{Board, StaticInfo};

use crate::http::{Handler, Reply, Route};
use crate::pipeline::Observer;

/// The page: HTML with its script and style inline.
pub const PAGE: &str = include_str!("page.html");

/// How often the page fetches `/status.json`, in seconds (also in the page).
pub const REFRESH_SECONDS: u64 = 5;

impl Board {
    /// The routes `/` and `/status.json`.
    pub fn routes(self: &Arc<Board>) -> Vec<Route> {
        let page: Route = (
            "/".to_string(),
            Handler::Now(Arc::new(|_q: &str| Reply::html(PAGE.to_string()))),
        );
        let board = self.clone();
        let json: Route = (
            "/status.json".to_string(),
            Handler::Now(Arc::new(move |_q: &str| {
                let v = board.snapshot(crate::model::now_ns());
                Reply::json(200, serde_json::to_string(&v).unwrap_or_default())
            })),
        );
        vec![page, json]
    }

    /// What the pipeline calls for every reading it stores.
    pub fn observer(self: &Arc<Board>) -> Observer {
        let latest = self.latest.clone();
        Arc::new(move |origin, rs| latest.observe_all(origin, rs))
    }
}
