//! The pipeline: the one task between sources and outboxes.
//!
//! ```text
//! sources --SourceBatch--> [enrich -> indicators.record -> encode once -> append to every outbox] --commit--> ack
//! ```
//!
//! Invariants:
//! - a reading is encoded to line protocol exactly once and the same bytes
//!   are appended to every sink's outbox;
//! - a batch's [`Ack`] fires only after its readings were committed to every
//!   outbox and its dead letters written; acks fire in the order batches
//!   arrived (MQTT requires PUBACKs in receive order);
//! - batches are grouped: everything already queued is appended, then one
//!   commit (one fsync) covers the group (group commit);
//! - when an outbox is full the pipeline waits and retries: it stops reading
//!   its channel, sources block on `send`, and MQTT acknowledgements are
//!   withheld, so the broker holds the backlog (back-pressure, never loss).
//!
//! - an outbox may carry a [`Route`]: it then receives only the readings
//!   whose measurement the route accepts, and a *droppable* route never
//!   blocks: when its outbox is full the oldest unread segment is deleted
//!   (`OutboxRecordsDropped`), and if nothing can be deleted the reading is
//!   skipped for that outbox only (`RoutedReadingsDropped`). The city
//!   northbound uses this: it gets indicators that are also in the main store.
//! - raw readings of one origin (Modbus polls, see [`Origin`]) can have an
//!   outbox of their own ([`Pipeline::with_raw_outbox`]): a droppable route
//!   takes them and the blocking outboxes no longer do, so a full outbox
//!   drops the oldest raw polls and never blocks the pollers, while MQTT
//!   readings and indicators keep back-pressure (see `route`).
//!
//! The pipeline ends when every source has dropped its sender; it then
//! flushes the indicator windows, commits, and drops the outbox writers,
//! which lets the sinks drain and finish.

use std::time::Duration;

use tokio::sync::mpsc;

use crate::deadletter::{DeadLetter, DeadLetterWriter};
use crate::lineproto;
use crate::metrics::{self, Counter};
use crate::model::Reading;
use crate::outbox::{OutboxError, OutboxWriter};

mod enrich;
mod route;
pub use enrich::Enrich;
pub use route::{Origin, Route, INDICATOR_PREFIX};

/// Acknowledges a source message once its readings are durably stored (or
/// dead-lettered). Called in the order batches were sent.
pub struct Ack(Box<dyn FnOnce() + Send>);

impl Ack {
    pub fn new(f: impl FnOnce() + Send + 'static) -> Self {
        Ack(Box::new(f))
    }
    pub fn fire(self) {
        (self.0)()
    }
}

impl std::fmt::Debug for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ack")
    }
}

/// What a source hands to the pipeline: the readings of one message (or one
/// poll), the inputs that could not be used, and the acknowledgement to fire
/// once both are durable.
#[derive(Debug, Default)]
pub struct SourceBatch {
    pub readings: Vec<Reading>,
    pub dead: Vec<DeadLetter>,
    pub ack: Option<Ack>,
    /// The kind of source: decides which outboxes take the readings.
    pub origin: Origin,
}

/// The channel sources send into.
pub type SourceTx = mpsc::Sender<SourceBatch>;

/// What the pipeline needs of the indicator engine (kept as a trait so the
/// pipeline can be tested without it).
pub trait IndicatorSink: Send {
    /// Feeds one enriched reading into the windows.
    fn record(&mut self, r: &Reading);
    /// Emits the indicator readings of every window closed by `now_ns`.
    fn advance(&mut self, now_ns: i64) -> Vec<Reading>;
    /// At shutdown: emits what is due and checkpoints the open windows.
    fn finish(&mut self, now_ns: i64) -> Vec<Reading>;
    /// The device registry was reloaded (SIGHUP); called before the first
    /// reading enriched with it.
    fn devices_changed(&mut self, _devices: &crate::devices::Devices) {}
}

/// Tuning of the pipeline loop.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// At most this many source batches per group commit.
    pub max_group: usize,
    /// How often indicator windows are advanced.
    pub tick: Duration,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            max_group: 1024,
            tick: Duration::from_secs(1),
        }
    }
}

/// Above this share of `outbox.max_bytes`, `/readyz` reports the outbox
/// (component `outbox:<name>`) not ready: the store is not keeping up and
/// back-pressure on the sources is near.
pub const OUTBOX_HIGH_WATER: f64 = 0.9;

fn report_outbox_readiness(ob: &OutboxWriter) {
    let stats = ob.stats();
    crate::http::set_ready(
        &format!("outbox:{}", stats.name()),
        stats.usage() < OUTBOX_HIGH_WATER && !stats.is_full(),
    );
}

struct Counters {
    readings: Counter,
    routed_dropped: Counter,
    invalid: Counter,
    commits: Counter,
    full_waits: Counter,
}

/// The pipeline task's state.
pub struct Pipeline {
    enrich: Enrich,
    outboxes: Vec<OutboxWriter>,
    /// `routes[i]` is the route of `outboxes[i]`.
    routes: Vec<Route>,
    dead: DeadLetterWriter,
    /// New enrichment after a config reload (SIGHUP), applied between groups.
    enrich_updates: Option<tokio::sync::watch::Receiver<Enrich>>,
    indicators: Option<Box<dyn IndicatorSink>>,
    opts: PipelineOptions,
    buf: Vec<u8>,
    c: Counters,
}

impl Pipeline {
    pub fn new(
        enrich: Enrich,
        outboxes: Vec<OutboxWriter>,
        dead: DeadLetterWriter,
        indicators: Option<Box<dyn IndicatorSink>>,
        opts: PipelineOptions,
    ) -> Self {
        Pipeline {
            enrich,
            routes: vec![Route::All; outboxes.len()],
            outboxes,
            dead,
            enrich_updates: None,
            indicators,
            opts,
            buf: Vec::with_capacity(64 * 1024),
            c: Counters {
                readings: metrics::counter(
                    "pipeline_readings_total",
                    "Readings stored in the outbox.",
                    &[],
                ),
                routed_dropped: metrics::counter(
                    "pipeline_routed_readings_dropped_total",
                    "Readings skipped for a full droppable (routed) outbox.",
                    &[],
                ),
                invalid: metrics::counter(
                    "pipeline_readings_invalid_total",
                    "Readings that could not be encoded (dead-lettered).",
                    &[],
                ),
                commits: metrics::counter(
                    "outbox_commits_total",
                    "Group commits of the outboxes.",
                    &[],
                ),
                full_waits: metrics::counter(
                    "outbox_full_waits_total",
                    "Times the pipeline waited for a full outbox (back-pressure).",
                    &[],
                ),
            },
        }
    }

    /// Adds an outbox that receives only what `route` accepts.
    pub fn with_routed_outbox(mut self, outbox: OutboxWriter, route: Route) -> Self {
        self.outboxes.push(outbox);
        self.routes.push(route);
        self
    }

    /// Takes the enrichment (device registry, site tags) from `rx` whenever
    /// it changes (config reload); the change applies from the next group.
    pub fn with_enrich_updates(mut self, rx: tokio::sync::watch::Receiver<Enrich>) -> Self {
        self.enrich_updates = Some(rx);
        self
    }

    /// Runs until every sender of `rx` is dropped. Must run on a
    /// multi-threaded runtime (commits block in place).
    pub async fn run(mut self, mut rx: mpsc::Receiver<SourceBatch>) {
        let mut tick = tokio::time::interval(self.opts.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut group = Vec::with_capacity(self.opts.max_group);
        loop {
            tokio::select! {
                n = rx.recv_many(&mut group, self.opts.max_group) => {
                    if n == 0 {
                        break;
                    }
                    tokio::task::block_in_place(|| self.process(&mut group));
                }
                _ = tick.tick() => {
                    tokio::task::block_in_place(|| {
                        self.advance_indicators(crate::model::now_ns(), false);
                        for ob in self.outboxes.iter_mut() {
                            if let Err(e) = ob.sync_if_due() {
                                tracing::error!(error = %e, "Outbox sync failed.");
                            }
                            ob.stats().refresh_gauges();
                            report_outbox_readiness(ob);
                        }
                    });
                }
            }
        }
        tokio::task::block_in_place(|| self.advance_indicators(crate::model::now_ns(), true));
        tracing::info!("Pipeline finished: every source closed.");
    }

    /// Appends one group of batches, commits once, then fires their acks in order.
    pub fn process(&mut self, group: &mut Vec<SourceBatch>) {
        if let Some(rx) = self.enrich_updates.as_mut() {
            if rx.has_changed().unwrap_or(false) {
                self.enrich = rx.borrow_and_update().clone();
                if let Some(ind) = self.indicators.as_mut() {
                    ind.devices_changed(&self.enrich.devices);
                }
                tracing::info!("Device registry and site tags reloaded.");
            }
        }
        let mut acks = Vec::with_capacity(group.len());
        for batch in group.drain(..) {
            let origin = batch.origin;
            for d in &batch.dead {
                self.dead.write(d);
            }
            for mut r in batch.readings {
                self.enrich.apply(&mut r);
                if let Some(ind) = self.indicators.as_mut() {
                    ind.record(&r);
                }
                self.store(&r, origin);
            }
            if let Some(a) = batch.ack {
                acks.push(a);
            }
        }
        self.commit();
        for a in acks {
            a.fire();
        }
    }

    fn advance_indicators(&mut self, now_ns: i64, last: bool) {
        let Some(ind) = self.indicators.as_mut() else {
            return;
        };
        let out = if last {
            ind.finish(now_ns)
        } else {
            ind.advance(now_ns)
        };
        if out.is_empty() && !last {
            return;
        }
        for mut r in out {
            self.enrich.apply(&mut r);
            self.store(&r, Origin::Internal);
        }
        self.commit();
    }

    /// Encodes once and appends to every outbox, waiting while one is full.
    fn store(&mut self, r: &Reading, origin: Origin) {
        self.buf.clear();
        if let Err(e) = lineproto::encode(r, &mut self.buf) {
            self.c.invalid.inc();
            tracing::warn!(measurement = %r.measurement, device = r.tag("device").unwrap_or(""), error = %e, "Reading could not be encoded; dead-lettered.");
            self.dead.write(&DeadLetter::new(
                "pipeline",
                r.measurement.clone(),
                e.to_string(),
                format!("{r:?}").as_bytes(),
            ));
            return;
        }
        for (ob, route) in self.outboxes.iter_mut().zip(&self.routes) {
            if !route.accepts_from(origin, &r.measurement) {
                continue;
            }
            let mut waited = false;
            loop {
                match ob.append(&self.buf) {
                    Ok(()) => break,
                    Err(OutboxError::Full { .. }) if route.droppable() => {
                        // Never block the main sink or the sources for a
                        // droppable outbox: make room, or skip this reading.
                        match ob.commit().and_then(|()| ob.drop_oldest()) {
                            Ok(n) if n > 0 => continue,
                            _ => {
                                self.c.routed_dropped.inc();
                                tracing::warn!(event = "RoutedReadingsDropped", outbox = ob.stats().name(), measurement = %r.measurement, "Routed outbox full; reading dropped for it.");
                                break;
                            }
                        }
                    }
                    Err(OutboxError::Full { .. }) => {
                        if !waited {
                            self.c.full_waits.inc();
                            tracing::warn!(
                                outbox = ob.stats().name(),
                                "Outbox full; holding acknowledgements until its sink drains it."
                            );
                            waited = true;
                        }
                        report_outbox_readiness(ob);
                        // Commit what we have so the sink can make progress,
                        // then wait for an acknowledgement to free space.
                        let _ = ob.commit();
                        ob.wait_for_space(Duration::from_millis(500));
                    }
                    Err(e @ OutboxError::InvalidRecord { .. }) => {
                        self.c.invalid.inc();
                        self.dead.write(&DeadLetter::new(
                            "pipeline",
                            r.measurement.clone(),
                            e.to_string(),
                            &self.buf,
                        ));
                        return;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "Outbox append failed; retrying.");
                        std::thread::sleep(Duration::from_millis(200));
                    }
                }
            }
        }
        self.c.readings.inc();
    }

    fn commit(&mut self) {
        for ob in self.outboxes.iter_mut() {
            while let Err(e) = ob.commit() {
                tracing::error!(error = %e, "Outbox commit failed; retrying.");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        self.c.commits.inc();
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
