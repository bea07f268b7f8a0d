//! Wiring: configuration, then sources, pipeline, outbox and sinks started,
//! and stopped in order.
//!
//! Shutdown (STYLE.md, after mini-redis and Vector): only the sources see the
//! shutdown token. When they return, their senders drop, the pipeline drains
//! its channel, flushes the indicator windows, commits and drops the outbox
//! writers; each sink then drains its outbox and returns. If the sinks are
//! not done within `sinks.shutdown_grace` they are cancelled, and whatever is
//! unsent stays in the outbox for the next start. The outbox is never
//! written to after the pipeline ends, so no write is ever aborted halfway.

pub mod allocator;
pub mod assess_store;
pub mod config;
pub mod indicators;
pub mod meters_cli;
pub mod modbus_raw;
pub mod preflight;
pub mod reload;
pub mod replay;
mod replay_io;

pub use config::Config;

use std::net::SocketAddr;

use anyhow::Context;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::deadletter::DeadLetterWriter;
use crate::pipeline::{IndicatorSink, Origin, Pipeline, PipelineExit, PipelineOptions};
use crate::{http, outbox, sinks, status};
use std::sync::Arc;

/// Capacity of the channel between sources and the pipeline, in batches.
const SOURCE_CHANNEL: usize = 4096;

/// Installs the process-wide TLS crypto provider (ring) once.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A running daemon's handles, for tests and the demo.
pub struct Running {
    pub http_addr: Option<SocketAddr>,
    /// The indicator engine the pipeline feeds (when enabled), for `/assess`-like readers.
    pub indicators: Option<indicators::SharedEngine>,
    done: tokio::task::JoinHandle<()>,
    fatal: std::sync::Arc<std::sync::OnceLock<String>>,
}

impl Running {
    /// Waits until the daemon has stopped (after `shutdown` is cancelled, or
    /// after a fatal storage error cancelled it).
    pub async fn wait(self) -> Result<(), StorageFailed> {
        let _ = self.done.await;
        match self.fatal.get() {
            Some(e) => Err(StorageFailed(e.clone())),
            None => Ok(()),
        }
    }
}

/// The outbox could not be written for longer than the pipeline's I/O
/// error grace: the daemon stopped (exit code [`EXIT_STORAGE_FAILED`]).
#[derive(Debug, thiserror::Error)]
#[error("the outbox cannot be written: {0}")]
pub struct StorageFailed(pub String);

/// Exit code after [`StorageFailed`] (EX_IOERR from sysexits.h); the systemd
/// unit restarts it only after a delay.
pub const EXIT_STORAGE_FAILED: u8 = 74;

/// Starts everything `cfg` describes; returns once it is running.
/// Cancel `shutdown` to stop; then `Running::wait`.
pub async fn start(cfg: Config, shutdown: CancellationToken) -> anyhow::Result<Running> {
    start_reloadable(cfg, None, shutdown).await
}

/// [`start`], and with `config_path` the sources and device registry are
/// reloaded from that file on SIGHUP (see [`reload`]).
pub async fn start_reloadable(
    cfg: Config,
    config_path: Option<std::path::PathBuf>,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    install_crypto();
    let mut shared_engine = None;
    let (indicators, routes): (Option<Box<dyn IndicatorSink>>, Vec<http::Route>) =
        if cfg.indicators.enabled {
            let (engine, checkpoint) = indicators::engine(&cfg)?;
            shared_engine = Some(engine.clone());
            let sink = indicators::EngineSink::new(
                engine.clone(),
                checkpoint,
                cfg.indicators.checkpoint_interval,
            );
            let assess = indicators::assess_route(engine, Arc::new(cfg.clone()));
            (Some(Box::new(sink)), vec![assess])
        } else {
            (None, Vec::new())
        };
    let dead_path = cfg.dead_letter.path.clone();
    let dead = DeadLetterWriter::open(dead_path.clone(), cfg.dead_letter.max_bytes)
        .with_context(|| format!("dead_letter.path: cannot open {}", dead_path.display()))?;

    // One outbox per sink.
    let mut writers = Vec::new();
    let mut modbus_outbox = None;
    let mut sink_tasks = Vec::new();
    let sink_stop = CancellationToken::new();
    if let Some(influx) = cfg.sinks.influxdb.clone() {
        let dir = cfg.outbox.dir.join("influxdb");
        let (w, r) = outbox::open(&dir, &cfg.outbox)
            .with_context(|| format!("outbox.dir: cannot open {}", dir.display()))?;
        writers.push(w);
        // Raw Modbus readings: their own, droppable outbox (see modbus_raw).
        if let Some((w, task)) = modbus_raw::open(&cfg, &influx, &dead, &sink_stop)? {
            modbus_outbox = w;
            sink_tasks.push(task);
        }
        let span = tracing::info_span!("sink", name = "influxdb");
        sink_tasks.push(tokio::spawn(
            sinks::influxdb::run(influx, r, dead.clone(), sink_stop.clone()).instrument(span),
        ));
    }

    // The city northbound: its own, droppable outbox (see sinks::city).
    let mut city_outbox = None;
    if let Some(city) = cfg.sinks.city.clone() {
        let dir = cfg.outbox.dir.join(sinks::city::SINK);
        let (w, r) = outbox::open(&dir, &cfg.outbox)
            .with_context(|| format!("outbox.dir: cannot open {}", dir.display()))?;
        city_outbox = Some((w, city.route()));
        let span = tracing::info_span!("sink", name = sinks::city::SINK);
        sink_tasks.push(tokio::spawn(
            sinks::city::run(
                city,
                cfg.site.community_id.clone(),
                r,
                dead.clone(),
                sink_stop.clone(),
            )
            .instrument(span),
        ));
    }

    // The HJ 212 platforms: one droppable outbox each (see sinks::hj212).
    let hj212_outboxes = hj212_sinks(&cfg, &sink_stop, &mut sink_tasks)?;

    let (enrich_tx, enrich_rx) = tokio::sync::watch::channel(reload::enrich(&cfg));
    // The status page (`/`, `/status.json`): read-only views of all the above.
    let info = status::StaticInfo::new(
        &cfg.site.community_id,
        cfg.utc_offset.seconds(),
        &cfg.sources,
    );
    let board = Arc::new(status::Board::new(
        info,
        cfg.profile_set.clone(),
        dead.clone(),
        shared_engine.clone(),
        enrich_tx.subscribe(),
    ));
    let routes = [routes, board.routes()].concat();

    let http_addr = if cfg.http.enabled {
        let opts = http::Options::from_config(&cfg.http)?;
        let (addr, _task) = http::serve(opts, routes, shutdown.clone())
            .await
            .with_context(|| format!("http.listen: cannot bind {}", cfg.http.listen))?;
        tracing::info!(addr = %addr, "Serving /, /status.json, /healthz, /readyz, /metrics and /assess.");
        Some(addr)
    } else {
        None
    };

    let (tx, rx) = mpsc::channel(SOURCE_CHANNEL);
    let enrich = reload::enrich(&cfg);
    let mut pipeline = Pipeline::new(
        enrich,
        writers,
        dead.clone(),
        indicators,
        PipelineOptions {
            commit_spacing: cfg.outbox.commit_spacing,
            ..PipelineOptions::default()
        },
    );
    pipeline = pipeline
        .with_enrich_updates(enrich_rx)
        .with_shutdown(shutdown.clone())
        .with_observer(board.observer());
    if let Some(w) = modbus_outbox {
        pipeline = pipeline.with_raw_outbox(Origin::Modbus, w);
    }
    if let Some((w, route)) = city_outbox {
        pipeline = pipeline.with_routed_outbox(w, route);
    }
    for (w, route) in hj212_outboxes {
        pipeline = pipeline.with_routed_outbox(w, route);
    }
    let pipeline_exit = pipeline
        .spawn(rx, tracing::info_span!("pipeline"))
        .context("cannot start the pipeline thread")?;

    let grace = cfg.sinks.shutdown_grace;
    let sources_task = tokio::spawn(reload::supervise(
        config_path,
        cfg,
        tx,
        enrich_tx,
        shutdown.clone(),
    ));

    let fatal = std::sync::Arc::new(std::sync::OnceLock::new());
    let fatal_set = fatal.clone();
    let stop_sources = shutdown.clone();
    let pipeline_task = tokio::spawn(async move {
        let exit = pipeline_exit.await;
        if let Ok(PipelineExit::Fatal(e)) = exit {
            let _ = fatal_set.set(e);
            // Stop the sources too: nothing can be stored any more.
            stop_sources.cancel();
        }
    });
    let done = tokio::spawn(async move {
        let _ = sources_task.await;
        tracing::info!("Sources stopped; draining the pipeline.");
        let _ = pipeline_task.await;
        let all_sinks = futures_join(sink_tasks);
        tokio::pin!(all_sinks);
        tokio::select! {
            _ = &mut all_sinks => tracing::info!("Sinks drained."),
            _ = tokio::time::sleep(grace) => {
                tracing::warn!(grace = ?grace, "Sinks not drained within the grace period; unsent records stay in the outbox.");
                sink_stop.cancel();
                all_sinks.await;
            }
        }
    });
    Ok(Running {
        http_addr,
        indicators: shared_engine,
        done,
        fatal,
    })
}

/// Opens each HJ 212 platform's outbox and starts its sink; returns the
/// writers and routes for the pipeline.
fn hj212_sinks(
    cfg: &Config,
    stop: &CancellationToken,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> anyhow::Result<Vec<(outbox::OutboxWriter, crate::pipeline::Route)>> {
    let mut out = Vec::new();
    let platforms = cfg
        .sinks
        .hj212
        .as_ref()
        .map_or(&[][..], |h| &h.platforms[..]);
    let offset = cfg.utc_offset.seconds();
    for (i, p) in platforms.iter().enumerate() {
        let pw = p
            .resolve_pw(std::path::Path::new(""))
            .map_err(|e| anyhow::anyhow!("sinks.hj212.platforms[{i}].{e}"))?;
        let name = p.sink_name();
        let dir = cfg.outbox.dir.join(&name);
        let (w, r) = outbox::open(&dir, &cfg.outbox)
            .with_context(|| format!("outbox.dir: cannot open {}", dir.display()))?;
        out.push((w, p.route()));
        let span = tracing::info_span!("sink", name = %name);
        tasks.push(tokio::spawn(
            sinks::hj212::run(p.clone(), pw, offset, r, stop.clone()).instrument(span),
        ));
    }
    Ok(out)
}

async fn futures_join(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for t in tasks {
        let _ = t.await;
    }
}

/// Runs until SIGTERM or SIGINT, then shuts down gracefully; reloads
/// devices and profiles from `config_path` on SIGHUP.
pub async fn run(cfg: Config, config_path: std::path::PathBuf) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let running = start_reloadable(cfg, Some(config_path), shutdown.clone()).await?;
    tokio::select! {
        _ = crate::signal::wait_for_signal() => tracing::info!("Shutdown requested; stopping sources."),
        _ = shutdown.cancelled() => {}
    }
    shutdown.cancel();
    running.wait().await?;
    tracing::info!("Stopped.");
    Ok(())
}
