//! Config reload on SIGHUP, for device and profile changes.
//!
//! On SIGHUP the config file is loaded and validated again
//! ([`Config::load`]). If it is invalid, every problem is logged
//! (`ConfigReloadRejected`) and the running configuration stays. If it is
//! valid:
//! - the pipeline's enrichment (device registry, site tags) is swapped
//!   through a watch channel; it applies from the pipeline's next group,
//!   and at the same point the indicator engine gets the devices'
//!   `[devices.<id>.indicators]` attributes (`IndicatorSink::devices_changed`):
//!   a new device's attributes apply to its next readings, a changed zone
//!   class or meter role to the windows opened after the reload, and a
//!   removed device's open windows still close and are emitted;
//! - the sources are restarted with the new config: the old source tasks are
//!   cancelled with their own token and awaited (they stop without
//!   acknowledging what is not durable; an MQTT broker redelivers it to the
//!   persistent session), then new ones start on the same pipeline channel.
//!
//! The pipeline, the outboxes and the sinks keep running throughout, so
//! nothing is dropped. Changes that need a restart (outbox, dead letter,
//! sinks, http, the `[indicators]` settings, log, community id) are logged as
//! "restart required" and otherwise ignored (`ConfigReloadNeedsRestart`).

use std::path::PathBuf;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::Config;
use crate::metrics;
use crate::pipeline::{Enrich, SourceTx};
use crate::sources;

/// The pipeline enrichment a config describes.
pub fn enrich(cfg: &Config) -> Enrich {
    Enrich {
        community_id: cfg.site.community_id.clone(),
        site_tags: cfg
            .site
            .tags
            .0
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        devices: cfg.devices.clone(),
    }
}

/// Starts the sources `cfg` describes, each stopping when `token` is cancelled.
pub fn start_sources(
    cfg: &Config,
    tx: &SourceTx,
    token: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    if let Some(m) = cfg.sources.mqtt.clone() {
        let span = tracing::info_span!("source", name = "mqtt");
        tasks.push(tokio::spawn(
            sources::mqtt::run(m, tx.clone(), token.clone()).instrument(span),
        ));
    }
    if let Some(m) = cfg.sources.modbus.clone() {
        let span = tracing::info_span!("source", name = "modbus");
        tasks.push(tokio::spawn(
            sources::modbus::run(m, cfg.profile_set.clone(), tx.clone(), token.clone())
                .instrument(span),
        ));
    }
    if let Some(m) = cfg.sources.meters.clone() {
        let span = tracing::info_span!("source", name = "meters");
        tasks.push(tokio::spawn(
            sources::meters::run(m, cfg.profile_set.clone(), tx.clone(), token.clone())
                .instrument(span),
        ));
    }
    if let Some(h) = cfg.sources.hj212.clone() {
        let span = tracing::info_span!("source", name = "hj212");
        let offset = cfg.utc_offset.seconds();
        tasks.push(tokio::spawn(
            sources::hj212::run(h, offset, tx.clone(), token.clone()).instrument(span),
        ));
    }
    tasks
}

/// The config sections that changed between `old` and `new` but are only
/// applied by a restart (pure; compared through their Debug forms, in which
/// secrets are redacted, so a changed secret alone is not noticed).
pub fn restart_required(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut check = |name: &'static str, a: String, b: String| {
        if a != b {
            out.push(name);
        }
    };
    check(
        "site.community_id",
        old.site.community_id.clone(),
        new.site.community_id.clone(),
    );
    check(
        "site.utc_offset",
        old.site.utc_offset.clone(),
        new.site.utc_offset.clone(),
    );
    check("log", format!("{:?}", old.log), format!("{:?}", new.log));
    check("http", format!("{:?}", old.http), format!("{:?}", new.http));
    check(
        "outbox",
        format!("{:?}", old.outbox),
        format!("{:?}", new.outbox),
    );
    check(
        "dead_letter",
        format!("{:?}", old.dead_letter),
        format!("{:?}", new.dead_letter),
    );
    check(
        "sinks",
        format!("{:?}", old.sinks),
        format!("{:?}", new.sinks),
    );
    check(
        "indicators",
        format!("{:?}", old.indicators),
        format!("{:?}", new.indicators),
    );
    out
}

/// Runs the sources until `shutdown`, restarting them on each valid reload
/// of `path` (SIGHUP). Returns after the last sources stopped, dropping
/// `tx`, which lets the pipeline drain and finish.
pub async fn supervise(
    path: Option<PathBuf>,
    mut cfg: Config,
    tx: SourceTx,
    enrich_tx: watch::Sender<Enrich>,
    shutdown: CancellationToken,
) {
    let mut token = shutdown.child_token();
    let mut tasks = start_sources(&cfg, &tx, &token);
    let mut hup = hangups(path.is_some());
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(()) = hup.recv() => {
                let Some(p) = path.as_ref() else { continue };
                let Some(new) = load(p) else { continue };
                for section in restart_required(&cfg, &new) {
                    metrics::counter("config_reload_needs_restart_total", "Reloaded config sections that need a restart to apply.", &[]).inc();
                    tracing::warn!(event = "ConfigReloadNeedsRestart", section, "Config section changed; restart required to apply it.");
                }
                let _ = enrich_tx.send(enrich(&new));
                token.cancel();
                for t in tasks.drain(..) {
                    let _ = t.await;
                }
                token = shutdown.child_token();
                tasks = start_sources(&new, &tx, &token);
                cfg = new;
                metrics::counter("config_reloads_total", "Successful config reloads (SIGHUP).", &[]).inc();
                tracing::info!(event = "ConfigReloaded", devices = cfg.devices.len(), "Config reloaded; sources restarted.");
            }
        }
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// Loads and validates the config; logs every problem and returns `None`
/// when it is not usable.
fn load(path: &std::path::Path) -> Option<Config> {
    match Config::load(path) {
        Ok(c) => Some(c),
        Err(problems) => {
            metrics::counter(
                "config_reload_rejected_total",
                "Config reloads rejected as invalid (the running config stays).",
                &[],
            )
            .inc();
            for p in &problems.0 {
                tracing::error!(event = "ConfigReloadRejected", problem = %p, "Config reload rejected; keeping the running config.");
            }
            None
        }
    }
}

/// A channel that yields once per SIGHUP (never, when disabled or not on Unix).
fn hangups(enabled: bool) -> tokio::sync::mpsc::Receiver<()> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    #[cfg(unix)]
    if enabled {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::hangup()) {
            Ok(mut s) => {
                tokio::spawn(async move {
                    while s.recv().await.is_some() {
                        if tx.send(()).await.is_err() {
                            break;
                        }
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "Cannot listen for SIGHUP; config reload disabled.")
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (enabled, tx);
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_changes_apply_live_and_outbox_changes_need_a_restart() {
        let old = Config::default();
        let mut new = Config::default();
        new.devices.insert("nl-b".into(), Default::default());
        assert!(restart_required(&old, &new).is_empty());
        new.outbox.dir = "elsewhere".into();
        new.http.listen = ([127, 0, 0, 1], 1).into();
        assert_eq!(restart_required(&old, &new), vec!["http", "outbox"]);
    }
}
