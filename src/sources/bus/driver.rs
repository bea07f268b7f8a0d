//! The loop of one bus: wait for the first due group, poll the devices
//! whose groups are due, one after the other, and turn each poll's outcome
//! into degraded mode, online state and `device_status` readings.

use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{later, BusDevice, BusSettings, Line, Link, Names, Polled, Tally};
use crate::metrics;
use crate::model::now_ns;
use crate::pipeline::{SourceBatch, SourceTx};

/// Polls `devices` on one bus until `shutdown` is cancelled.
pub async fn run<L: Link, D: BusDevice<L>>(
    names: &'static Names,
    cfg: BusSettings,
    link: L,
    mut devices: Vec<D>,
    tx: SourceTx,
    shutdown: CancellationToken,
) {
    let tallies: Vec<Tally> = devices
        .iter()
        .map(|d| Tally::new(names, &cfg.name, d.id()))
        .collect();
    let lateness = metrics::gauge(
        names.lateness,
        "Worst lateness of a poll against its schedule since start.",
        &[(names.bus_label, &cfg.name)],
    );
    let mut line = Line::new(link, cfg, lateness);
    loop {
        let Some(due) = devices
            .iter()
            .flat_map(|d| (0..d.groups()).map(|g| d.next_due(g)))
            .min()
        else {
            shutdown.cancelled().await;
            return;
        };
        let wake = line.reconnect_at.map_or(due, |r| r.max(due));
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = sleep_until(wake) => {}
        }
        for (d, t) in devices.iter_mut().zip(&tallies) {
            if shutdown.is_cancelled() {
                return;
            }
            let now = Instant::now();
            let due: Vec<usize> = (0..d.groups()).filter(|&g| d.next_due(g) <= now).collect();
            if due.is_empty() {
                continue;
            }
            let batch = tokio::select! {
                _ = shutdown.cancelled() => return,
                b = poll_device(names, &mut line, d, t, &due) => b,
            };
            if !(batch.readings.is_empty() && batch.dead.is_empty()) {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    sent = tx.send(batch) => if sent.is_err() {
                        debug!(bus = %line.cfg.name, "Pipeline closed; {} poller stops.", names.protocol);
                        return;
                    }
                }
            }
        }
    }
}

async fn poll_device<L: Link, D: BusDevice<L>>(
    names: &'static Names,
    line: &mut Line<L>,
    d: &mut D,
    t: &Tally,
    due: &[usize],
) -> SourceBatch {
    let time_ns = now_ns();
    let started = Instant::now();
    t.polls.inc();
    for &g in due {
        let late = started.saturating_duration_since(d.next_due(g));
        if late.as_micros() as i64 > line.lateness_max.get() {
            line.lateness_max.set(late.as_micros() as i64);
        }
    }
    let Polled {
        answered,
        mut readings,
        dead,
    } = d.poll(line, t, due, time_ns).await;
    let now = Instant::now();
    for &g in due {
        d.advance(g, now);
    }
    let degraded_after = line.cfg.degraded_after;
    let (id, proto) = (d.id().to_string(), names.protocol);
    let h = d.health();
    let was_online = h.online;
    let mut postpone = None;
    if answered {
        if h.failures >= degraded_after {
            info!(bus = %line.cfg.name, device = %id, "{proto} device online again.");
        }
        h.failures = 0;
        h.backoff.reset();
        h.online = Some(true);
    } else {
        h.failures += 1;
        if h.failures >= degraded_after {
            let wait = h.backoff.next_delay();
            postpone = Some(later(now, wait));
            if h.online != Some(false) {
                warn!(bus = %line.cfg.name, device = %id, failures = h.failures, retry_in = ?wait,
                    metric = names.online,
                    "{proto} device offline; polling it once per back-off period.");
            }
            h.online = Some(false);
        }
    }
    t.online.set(i64::from(h.online == Some(true)));
    let status_due = h
        .last_status
        .map_or(true, |s| now.duration_since(s) >= line.cfg.status_interval);
    if h.online.is_some() && (was_online != h.online || status_due) {
        h.last_status = Some(now);
        readings.push(h.status(&id, names.source, time_ns));
    }
    if let Some(until) = postpone {
        d.postpone(until);
    }
    SourceBatch {
        origin: names.origin,
        readings,
        dead,
        ..SourceBatch::default()
    }
}
