//! Wiring of the raw-Modbus outbox: for the InfluxDB sink, a second,
//! droppable outbox `<outbox.dir>/influxdb-modbus` (size
//! `[outbox] modbus_max_bytes`) that takes only raw Modbus readings, drained
//! into the same store by a second instance of the sink loop (label
//! `sink="influxdb-modbus"`). Policy and reasons: `pipeline::route`.
//!
//! It is opened when a Modbus source is configured, or when its directory
//! exists (records left from an earlier run are always delivered; with
//! `modbus_max_bytes = 0` they are drained and nothing new is routed there).
//! A Modbus source added later by a reload (SIGHUP) without one shares the
//! main outbox until the next restart.

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::Config;
use crate::deadletter::DeadLetterWriter;
use crate::outbox::{self, OutboxWriter};
use crate::sinks::influxdb::{self, config::InfluxDbConfig};

/// The outbox directory name, its metrics' `name` label and the sink's
/// `sink` label.
pub const NAME: &str = "influxdb-modbus";

/// Opens the raw-Modbus outbox and starts its sink; returns the writer for
/// the pipeline (`None` when nothing new is to be routed there) and the
/// sink task, or `None` when there is no such outbox.
pub fn open(
    cfg: &Config,
    influx: &InfluxDbConfig,
    dead: &DeadLetterWriter,
    stop: &CancellationToken,
) -> anyhow::Result<Option<(Option<OutboxWriter>, JoinHandle<()>)>> {
    let dir = cfg.outbox.dir.join(NAME);
    let wanted = cfg
        .sources
        .modbus
        .as_ref()
        .and_then(|_| cfg.outbox.raw_modbus());
    if wanted.is_none() && !dir.is_dir() {
        return Ok(None);
    }
    // Leftovers only: the main settings read any segment it wrote (its
    // segments are never larger); the writer is dropped at once.
    let ob_cfg = wanted.clone().unwrap_or_else(|| cfg.outbox.clone());
    let (w, r) = outbox::open(&dir, &ob_cfg)
        .with_context(|| format!("outbox.dir: cannot open {}", dir.display()))?;
    let span = tracing::info_span!("sink", name = NAME);
    let task = tokio::spawn(
        influxdb::run_as(NAME, influx.clone(), r, dead.clone(), stop.clone()).instrument(span),
    );
    Ok(Some((wanted.map(|_| w), task)))
}
