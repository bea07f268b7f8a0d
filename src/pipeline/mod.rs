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
//! The daemon runs it on a thread of its own ([`Pipeline::spawn`]), where
//! its blocking work (fsync, the group's gathering sleeps) holds up no
//! runtime worker; tests may run it as a task on a multi-threaded runtime,
//! where that work runs in `block_in_place`.
//!
//! The pipeline ends when every source has dropped its sender; it then
//! flushes the indicator windows, commits, and drops the outbox writers,
//! which lets the sinks drain and finish.

use std::time::Duration;

use tokio::sync::mpsc;

use crate::deadletter::{DeadLetter, DeadLetterWriter};
use crate::lineproto;
use crate::metrics::{self, Counter, Gauge};
use crate::model::Reading;
use crate::outbox::OutboxWriter;

mod enrich;
mod group;
mod route;
pub use enrich::{Enrich, TagSets};
use group::{GroupError, Staged};
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

/// Sees every enriched reading and every indicator output, read-only, a
/// source batch at a time (the status page keeps the latest of each under
/// one lock per batch; see `status`).
pub type Observer = std::sync::Arc<dyn Fn(Origin, &[Reading]) + Send + Sync>;

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
    /// An I/O error other than a full disk that lasts this long is judged
    /// permanent: the pipeline ends with [`PipelineExit::Fatal`] (the
    /// daemon exits with code 74). A full disk is waited out however long.
    pub io_error_grace: Duration,
    /// `outbox.commit_spacing`: the least time between two group commits
    /// while the group still grows (see [`group::gather`]). Zero here, so a
    /// pipeline built without a config commits as soon as it can.
    pub commit_spacing: Duration,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            max_group: 1024,
            tick: Duration::from_secs(1),
            io_error_grace: Duration::from_secs(300),
            commit_spacing: Duration::ZERO,
        }
    }
}

/// How the pipeline ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PipelineExit {
    /// Every source closed; everything received is committed.
    Finished,
    /// Stopped (shutdown) while it could not write: the groups not yet
    /// durable were not acknowledged (their sources redeliver them).
    Abandoned { batches: usize },
    /// The outbox could not be written for longer than `io_error_grace`.
    Fatal(String),
}

/// Readiness component while the pipeline cannot make groups durable.
pub const STORAGE_COMPONENT: &str = "storage";

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
    write_failures: Counter,
    storage_ok: Gauge,
}

/// The pipeline task's state.
pub struct Pipeline {
    enrich: Enrich,
    /// `enrich` resolved per device (rebuilt with it).
    tagsets: enrich::TagSets,
    outboxes: Vec<OutboxWriter>,
    /// `routes[i]` is the route of `outboxes[i]`.
    routes: Vec<Route>,
    dead: DeadLetterWriter,
    /// New enrichment after a config reload (SIGHUP), applied between groups.
    enrich_updates: Option<tokio::sync::watch::Receiver<Enrich>>,
    indicators: Option<Box<dyn IndicatorSink>>,
    observer: Option<Observer>,
    opts: PipelineOptions,
    /// Cancelled when the daemon stops: ends waits that cannot finish.
    shutdown: tokio_util::sync::CancellationToken,
    staged: Staged,
    /// The group's readings, kept for the observer (reused between groups).
    seen: Vec<Reading>,
    /// Set when a group failed permanently; the pipeline then ends.
    fatal: Option<String>,
    abandoned: usize,
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
            tagsets: enrich::TagSets::new(&enrich),
            enrich,
            routes: vec![Route::All; outboxes.len()],
            outboxes,
            dead,
            enrich_updates: None,
            indicators,
            observer: None,
            opts,
            shutdown: tokio_util::sync::CancellationToken::new(),
            staged: Staged::default(),
            seen: Vec::new(),
            fatal: None,
            abandoned: 0,
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
                write_failures: metrics::counter(
                    "pipeline_group_write_failures_total",
                    "Group commits that failed (disk full, I/O error) and were retried; nothing was acknowledged.",
                    &[],
                ),
                storage_ok: metrics::gauge(
                    "pipeline_storage_writable",
                    "1 while groups reach the outboxes, 0 while writes fail (acknowledgements withheld).",
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

    /// Shows every enriched reading and indicator output to `observer`.
    pub fn with_observer(mut self, observer: Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Stops waiting for space or for a failing disk once `token` is
    /// cancelled (the daemon's shutdown), abandoning what is not durable.
    pub fn with_shutdown(mut self, token: tokio_util::sync::CancellationToken) -> Self {
        self.shutdown = token;
        self
    }

    /// Takes the enrichment (device registry, site tags) from `rx` whenever
    /// it changes (config reload); the change applies from the next group.
    pub fn with_enrich_updates(mut self, rx: tokio::sync::watch::Receiver<Enrich>) -> Self {
        self.enrich_updates = Some(rx);
        self
    }

    /// Runs [`Pipeline::run`] on a thread of its own, on a current-thread
    /// runtime (timers only). Its commits block that thread and nothing
    /// else: as a task on the daemon's runtime each group commit was a
    /// `block_in_place`, which hands the worker's other tasks to another
    /// thread and back (a wake-up or a thread start per commit; ~3 % of the
    /// CPU of the issue-15 workload in context switches alone).
    pub fn spawn(
        self,
        rx: mpsc::Receiver<SourceBatch>,
        span: tracing::Span,
    ) -> std::io::Result<tokio::sync::oneshot::Receiver<PipelineExit>> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        let (tx, exit) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("gg-pipeline".into())
            .spawn(move || {
                let _entered = span.enter();
                let _ = tx.send(rt.block_on(self.run(rx)));
            })?;
        Ok(exit)
    }

    /// Runs until every sender of `rx` is dropped (or the outbox fails for
    /// good). On a multi-threaded runtime its blocking work runs in
    /// `block_in_place`; on a current-thread runtime (its own thread, see
    /// [`Pipeline::spawn`]) directly.
    pub async fn run(mut self, mut rx: mpsc::Receiver<SourceBatch>) -> PipelineExit {
        self.c.storage_ok.set(1);
        let mut tick = tokio::time::interval(self.opts.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut group = Vec::with_capacity(self.opts.max_group);
        let mut last_commit = std::time::Instant::now();
        loop {
            if self.fatal.is_some() {
                break;
            }
            tokio::select! {
                n = rx.recv_many(&mut group, self.opts.max_group) => {
                    if n == 0 {
                        break;
                    }
                    blocking(|| {
                        group::gather(&mut rx, &mut group, &self.opts, last_commit);
                        self.process(&mut group);
                    });
                    last_commit = std::time::Instant::now();
                }
                _ = tick.tick() => {
                    blocking(|| {
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
        if let Some(e) = self.fatal.take() {
            rx.close();
            while rx.recv().await.is_some() {
                self.abandoned += 1;
            }
            tracing::error!(error = %e, abandoned = self.abandoned, "Pipeline stopped: the outbox cannot be written. Nothing after the last commit was acknowledged.");
            return PipelineExit::Fatal(e);
        }
        if self.abandoned > 0 {
            tracing::warn!(batches = self.abandoned, "Pipeline stopped while it could not write; those batches were not acknowledged and will be redelivered. Indicator windows not checkpointed.");
            return PipelineExit::Abandoned {
                batches: self.abandoned,
            };
        }
        blocking(|| self.advance_indicators(crate::model::now_ns(), true));
        tracing::info!("Pipeline finished: every source closed.");
        PipelineExit::Finished
    }

    /// Stages one group of batches, makes it durable (one commit), then
    /// fires their acks in order. A group that cannot be made durable fires
    /// none.
    pub fn process(&mut self, group: &mut Vec<SourceBatch>) {
        if let Some(rx) = self.enrich_updates.as_mut() {
            if rx.has_changed().unwrap_or(false) {
                self.enrich = rx.borrow_and_update().clone();
                self.tagsets = enrich::TagSets::new(&self.enrich);
                if let Some(ind) = self.indicators.as_mut() {
                    ind.devices_changed(&self.enrich.devices);
                }
                tracing::info!("Device registry and site tags reloaded.");
            }
        }
        if self.fatal.is_some() || (self.abandoned > 0 && self.shutdown.is_cancelled()) {
            // Stopping after an abandoned group: keep order, ack nothing more.
            self.abandoned += group.len();
            group.clear();
            return;
        }
        self.staged.clear(self.outboxes.len());
        let mut acks = Vec::with_capacity(group.len());
        let n = group.len();
        // The observer sees the group's readings a run of one origin at a
        // time (one lock and clock read per run, not per message).
        let mut seen = std::mem::take(&mut self.seen);
        let mut run = None;
        for batch in group.drain(..) {
            let origin = batch.origin;
            self.staged.dead.extend(batch.dead);
            let mut readings = batch.readings;
            for r in &mut readings {
                self.tagsets.apply(r);
                if let Some(ind) = self.indicators.as_mut() {
                    ind.record(r);
                }
                self.stage(r, origin);
            }
            if let Some(o) = &self.observer {
                match run {
                    Some(prev) if prev != origin => {
                        o(prev, &seen);
                        seen.clear();
                    }
                    _ => {}
                }
                run = Some(origin);
                seen.append(&mut readings);
            }
            if let Some(a) = batch.ack {
                acks.push(a);
            }
        }
        if let (Some(o), Some(origin)) = (&self.observer, run) {
            o(origin, &seen);
        }
        seen.clear();
        self.seen = seen;
        if self.make_durable() {
            for a in acks {
                a.fire();
            }
        } else {
            self.abandoned += n;
        }
    }

    fn advance_indicators(&mut self, now_ns: i64, last: bool) {
        if self.fatal.is_some() || self.abandoned > 0 {
            return;
        }
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
        self.staged.clear(self.outboxes.len());
        let mut out = out;
        for r in &mut out {
            self.tagsets.apply(r);
            self.stage(r, Origin::Internal);
        }
        if let Some(o) = &self.observer {
            o(Origin::Internal, &out);
        }
        self.make_durable();
    }

    /// Encodes once into the staging buffer, marked with the outboxes
    /// whose routes take it; a reading that cannot be encoded becomes a
    /// dead letter of the group.
    fn stage(&mut self, r: &Reading, origin: Origin) {
        let start = self.staged.buf.len();
        if let Err(e) = lineproto::encode(r, &mut self.staged.buf) {
            self.staged.buf.truncate(start);
            self.c.invalid.inc();
            tracing::warn!(measurement = %r.measurement, device = r.tag("device").unwrap_or(""), error = %e, "Reading could not be encoded; dead-lettered.");
            self.staged.dead.push(DeadLetter::new(
                "pipeline",
                r.measurement.clone(),
                e.to_string(),
                format!("{r:?}").as_bytes(),
            ));
            return;
        }
        let end = self.staged.buf.len();
        let mut mask = 0u64;
        for (i, route) in self.routes.iter().enumerate() {
            if route.accepts_from(origin, &r.measurement) {
                mask |= 1 << i;
            }
        }
        self.staged.lines.push((start, end, mask));
        self.c.readings.inc();
    }

    /// Writes the staged group until it is durable (`true`), retrying after
    /// failures with a capped backoff while reporting not ready; `false`
    /// when the daemon stopped first or the failure was judged permanent.
    fn make_durable(&mut self) -> bool {
        if self.staged.is_empty() {
            return true;
        }
        let mut backoff =
            crate::backoff::Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let mut failing_since: Option<std::time::Instant> = None;
        let mut log = crate::log_limit::LogLimit::new(Duration::from_secs(10));
        loop {
            let err = match self.write_group() {
                Ok(()) => {
                    if failing_since.is_some() {
                        tracing::info!("Outbox writable again; acknowledging.");
                        self.storage_state(None);
                    }
                    return true;
                }
                Err(GroupError::Shutdown) => return false,
                Err(GroupError::Io(e, no_space)) => (e, no_space),
            };
            let (e, no_space) = err;
            self.c.write_failures.inc();
            let since = *failing_since.get_or_insert_with(std::time::Instant::now);
            let reason = if no_space {
                format!("disk full: {e}")
            } else {
                format!("I/O error: {e}")
            };
            self.storage_state(Some(&reason));
            if let Some(suppressed) = log.hit(std::time::Instant::now()) {
                tracing::error!(error = %e, no_space, suppressed, "Group could not be made durable; holding acknowledgements and retrying.");
            }
            if !no_space && since.elapsed() >= self.opts.io_error_grace {
                self.fatal = Some(e);
                return false;
            }
            // Sleep in short steps so a shutdown is seen at once.
            let until = std::time::Instant::now() + backoff.next_delay();
            while std::time::Instant::now() < until {
                if self.shutdown.is_cancelled() {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if self.shutdown.is_cancelled() {
                return false;
            }
        }
    }

    /// Readiness and the gauge: `None` when writes succeed.
    fn storage_state(&self, failing: Option<&str>) {
        self.c.storage_ok.set(failing.is_none() as i64);
        crate::http::set_ready_because(STORAGE_COMPONENT, failing);
    }
}

/// Runs `f`, which blocks (fsync, the gathering sleeps): in place on the
/// pipeline's own thread, in `block_in_place` on a multi-threaded runtime's
/// worker (so the worker's other tasks move to another thread meanwhile).
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
