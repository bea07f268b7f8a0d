//! The indicator engine as the pipeline sees it: shared behind a mutex (the
//! HTTP `/assess` endpoint reads it), checkpointed to disk at an interval
//! and at shutdown so a restart keeps the hour, night and day in progress.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::app::Config;
use crate::http;
use crate::indicators::config::WatermarkClock;
use crate::indicators::{EventClock, IndicatorEngine};
use crate::model::Reading;
use crate::pipeline::IndicatorSink;

/// The engine shared between the pipeline and the HTTP endpoint.
pub type SharedEngine = Arc<Mutex<IndicatorEngine>>;

/// Builds the engine from the config and restores its checkpoint, if any.
pub fn engine(cfg: &Config) -> anyhow::Result<(SharedEngine, Option<PathBuf>)> {
    let offset = cfg.utc_offset.seconds();
    let mut engine = IndicatorEngine::new(
        &cfg.indicators,
        &cfg.devices,
        &cfg.site.community_id,
        offset,
    );
    let path = cfg.indicators.checkpoint_path.clone();
    if let Some(p) = &path {
        match engine.load(p) {
            Ok(true) => {
                tracing::info!(path = %p.display(), "Indicator state restored from checkpoint.")
            }
            Ok(false) => {}
            Err(e) => {
                // A checkpoint we cannot read costs the windows in progress, never the raw data.
                tracing::error!(path = %p.display(), error = %e, "Indicator checkpoint unreadable; starting fresh.");
                crate::metrics::counter(
                    "indicator_checkpoint_errors_total",
                    "Checkpoints that could not be read or written.",
                    &[],
                )
                .inc();
            }
        }
    }
    Ok((Arc::new(Mutex::new(engine)), path))
}

/// The pipeline's handle on the shared engine.
pub struct EngineSink {
    engine: SharedEngine,
    /// With `watermark = "event_time"`: the readings drive the engine, not
    /// the wall clock (see [`EventClock`]).
    event_clock: Option<EventClock>,
    /// Windows closed while recording (event time), for the next `advance`.
    pending: Vec<Reading>,
    checkpoint: Option<PathBuf>,
    every: Duration,
    last_save: Instant,
}

impl EngineSink {
    pub fn new(engine: SharedEngine, checkpoint: Option<PathBuf>, every: Duration) -> Self {
        let event_clock = {
            let e = engine.lock().unwrap_or_else(|p| p.into_inner());
            let cfg = &e.ctx().cfg;
            (cfg.watermark == WatermarkClock::EventTime).then(|| {
                EventClock::new(cfg.max_clock_skew.as_nanos().min(i64::MAX as u128) as i64)
            })
        };
        EngineSink {
            engine,
            event_clock,
            pending: Vec::new(),
            checkpoint,
            every,
            last_save: Instant::now(),
        }
    }

    /// Closes what is due: by the wall clock, or in event time by the
    /// newest reading only (a past day is replayed as it happened).
    fn due(&mut self, e: &mut IndicatorEngine, now_ns: i64) -> Vec<Reading> {
        let mut out = std::mem::take(&mut self.pending);
        match self.event_clock.as_mut() {
            Some(c) => out.extend(c.advance(e)),
            None => out.extend(e.advance(now_ns)),
        }
        out
    }

    fn save(&mut self, e: &IndicatorEngine) {
        self.last_save = Instant::now();
        if let Some(p) = &self.checkpoint {
            if let Err(err) = e.save(p) {
                tracing::error!(path = %p.display(), error = %err, "Indicator checkpoint could not be written.");
                crate::metrics::counter(
                    "indicator_checkpoint_errors_total",
                    "Checkpoints that could not be read or written.",
                    &[],
                )
                .inc();
            }
        }
    }
}

impl IndicatorSink for EngineSink {
    fn record(&mut self, r: &Reading) {
        let mut e = self.engine.lock().unwrap_or_else(|p| p.into_inner());
        match self.event_clock.as_mut() {
            Some(c) => c.feed(&mut e, r, crate::model::now_ns(), &mut self.pending),
            None => e.record(r),
        }
    }

    fn advance(&mut self, now_ns: i64) -> Vec<Reading> {
        let engine = self.engine.clone();
        let mut e = engine.lock().unwrap_or_else(|p| p.into_inner());
        let out = self.due(&mut e, now_ns);
        if self.last_save.elapsed() >= self.every {
            self.save(&e);
        }
        out
    }

    /// Reloaded `[devices.<id>.indicators]` attributes: each window uses
    /// the attributes in force when it opened (see `IndicatorEngine::update_devices`).
    fn devices_changed(&mut self, devices: &crate::devices::Devices) {
        let mut e = self.engine.lock().unwrap_or_else(|p| p.into_inner());
        e.update_devices(devices);
        tracing::info!(
            devices = devices.len(),
            "Indicator device attributes reloaded."
        );
    }

    fn finish(&mut self, now_ns: i64) -> Vec<Reading> {
        let engine = self.engine.clone();
        let mut e = engine.lock().unwrap_or_else(|p| p.into_inner());
        let out = self.due(&mut e, now_ns);
        self.save(&e);
        out
    }
}

/// Parses `from`/`to` of the assessment: RFC 3339 or epoch seconds.
pub fn parse_time(s: &str) -> Option<i64> {
    if let Ok(secs) = s.parse::<i64>() {
        return secs.checked_mul(1_000_000_000);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
}

/// The assessment period from a query string (`from=...&to=...`); the last
/// 30 days by default.
pub fn period(query: &str, now_ns: i64) -> Result<(i64, i64), String> {
    assess_query(query, now_ns).map(|q| (q.from, q.to))
}

/// `/assess`: the assessment of the engine's own history, or with
/// `from_store=1` of the `gg_*` history read back from the store (the store
/// query runs on the daemon's runtime; the data path never waits for it).
pub fn assess_route(engine: SharedEngine, cfg: Arc<Config>) -> http::Route {
    let answer = move |query: &str| -> http::ReplyFuture {
        let error = |status: u16, msg: String| {
            http::Reply::json(status, serde_json::json!({ "error": msg }).to_string())
        };
        let json = |a: &crate::indicators::Assessment| {
            http::Reply::json(200, serde_json::to_string_pretty(a).unwrap_or_default())
        };
        match assess_query(query, crate::model::now_ns()) {
            Err(msg) => Box::pin(std::future::ready(error(400, msg))),
            Ok(q) if !q.from_store => {
                let e = engine.lock().unwrap_or_else(|p| p.into_inner());
                Box::pin(std::future::ready(json(&e.assess(q.from, q.to))))
            }
            Ok(q) => {
                let cfg = cfg.clone();
                Box::pin(async move {
                    match super::assess_store::assess_async(&cfg, q.from, q.to).await {
                        Ok(a) => json(&a),
                        Err(e) => error(502, format!("the store: {e:#}")),
                    }
                })
            }
        }
    };
    (
        "/assess".to_string(),
        http::Handler::Later(Arc::new(answer)),
    )
}

/// What `/assess?…` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssessQuery {
    pub from: i64,
    pub to: i64,
    /// `from_store=1`: assess the `gg_*` history read back from the store
    /// (as `greengate assess --from-store`), not the engine's own.
    pub from_store: bool,
}

/// Parses `from`, `to` (RFC 3339 or epoch seconds; default: the last 30
/// days) and `from_store` (`1`/`true`, `0`/`false`).
pub fn assess_query(query: &str, now_ns: i64) -> Result<AssessQuery, String> {
    let mut q = AssessQuery {
        from: now_ns - 30 * 86_400 * 1_000_000_000,
        to: now_ns,
        from_store: false,
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == "from_store" {
            q.from_store = match v {
                "1" | "true" => true,
                "0" | "false" => false,
                _ => return Err(format!("from_store: expected 1 or 0, got {v:?}")),
            };
            continue;
        }
        let v = v
            .replace("%3A", ":")
            .replace("%2B", "+")
            .replace("%3a", ":")
            .replace("%2b", "+");
        let t = parse_time(&v)
            .ok_or_else(|| format!("{k}: expected RFC 3339 or epoch seconds, got {v:?}"))?;
        match k {
            "from" => q.from = t,
            "to" => q.to = t,
            _ => return Err(format!("unknown parameter {k:?}")),
        }
    }
    if q.from >= q.to {
        return Err("from must be before to".into());
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assessment_period_accepts_rfc3339_and_epoch_seconds() {
        let (f, t) = period("from=2026-11-01T00:00:00%2B08:00&to=1893456000", 0).unwrap();
        assert_eq!(f, 1_793_462_400_000_000_000);
        assert_eq!(t, 1_893_456_000_000_000_000);
        assert!(period("from=yesterday", 0).is_err());
        assert_eq!(
            period("", 100 * 86_400 * 1_000_000_000).unwrap().1,
            100 * 86_400 * 1_000_000_000
        );
    }
}
