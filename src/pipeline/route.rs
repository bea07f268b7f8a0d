//! Which readings an outbox receives: everything (the main sink), only some
//! measurements (the city northbound), or only the raw readings of one
//! source kind (raw Modbus readings, which may be dropped under pressure).
//!
//! Why raw Modbus readings are routed apart: MQTT can be slowed down (the
//! broker keeps what greengate has not acknowledged), a poll cannot (a value
//! not read now is gone). When the store is down long enough to fill the
//! outbox, blocking the pollers would lose the newest readings and delay the
//! indicators; instead raw Modbus readings go to their own, bounded,
//! droppable outbox whose oldest unsent data makes room for new polls
//! (`outbox_records_dropped_total{name="influxdb-modbus"}`). Indicators
//! (computed in the pipeline, [`Origin::Internal`], measurements `gg_*`) and
//! MQTT readings never go there: they keep the lossless, blocking outbox.

use crate::outbox::OutboxWriter;

/// Where a batch of readings came from (set by the source; the pipeline
/// marks the indicator readings it computes as [`Origin::Internal`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Origin {
    /// An MQTT message (acknowledged after its readings are stored).
    #[default]
    Mqtt,
    /// A Modbus poll (readings and `device_status`), nothing to acknowledge.
    Modbus,
    /// A DL/T 645 or CJ/T 188 meter poll; nothing to acknowledge, stored
    /// in the main outbox (water totals feed the water balance).
    Meter,
    /// Computed by the pipeline itself (indicators).
    Internal,
    /// An HJ 212 station upload (answered 9014 after its readings are
    /// stored; blocking outboxes, like MQTT).
    Hj212,
}

/// The measurement prefix of indicator readings: never raw, whatever the
/// origin says (a profile cannot make raw data droppable by naming it so).
pub const INDICATOR_PREFIX: &str = "gg_";

/// Whether a reading of `measurement` from `origin` is raw data of `raw`
/// (the one predicate both halves of a raw split use, so every reading goes
/// to exactly one of them).
fn is_raw(raw: Origin, origin: Origin, measurement: &str) -> bool {
    origin == raw && origin != Origin::Internal && !measurement.starts_with(INDICATOR_PREFIX)
}

/// Which readings an outbox receives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Route {
    /// Every reading; a full outbox blocks (back-pressure, never loss).
    #[default]
    All,
    /// Only readings whose measurement starts with one of `prefixes` (or,
    /// when `only` is not empty, is exactly one of `only`); a full outbox
    /// drops its oldest data instead of blocking.
    Measurements {
        prefixes: Vec<String>,
        only: Vec<String>,
    },
    /// Only the raw readings of this origin (never indicators); a full
    /// outbox drops its oldest data instead of blocking.
    RawFrom(Origin),
    /// Every reading except what [`Route::RawFrom`] of the same origin takes;
    /// a full outbox blocks.
    AllButRawFrom(Origin),
}

impl Route {
    /// Whether a reading of `measurement` from `origin` goes to this outbox.
    pub fn accepts_from(&self, origin: Origin, measurement: &str) -> bool {
        match self {
            Route::All => true,
            Route::Measurements { only, .. } if !only.is_empty() => {
                only.iter().any(|m| m == measurement)
            }
            Route::Measurements { prefixes, .. } => {
                prefixes.iter().any(|p| measurement.starts_with(p.as_str()))
            }
            Route::RawFrom(raw) => is_raw(*raw, origin, measurement),
            Route::AllButRawFrom(raw) => !is_raw(*raw, origin, measurement),
        }
    }

    /// Whether a reading of `measurement` goes to this outbox when it comes
    /// from no source a route singles out (MQTT); measurement routes do not
    /// look at the origin at all.
    pub fn accepts(&self, measurement: &str) -> bool {
        self.accepts_from(Origin::Mqtt, measurement)
    }

    /// Whether a full outbox drops old data rather than blocking the pipeline.
    pub fn droppable(&self) -> bool {
        matches!(self, Route::Measurements { .. } | Route::RawFrom(_))
    }
}

impl super::Pipeline {
    /// Sends the raw readings of `origin` only to `outbox`, which is
    /// droppable ([`Route::RawFrom`]), and no longer to the outboxes that
    /// take every reading (they become [`Route::AllButRawFrom`]).
    pub fn with_raw_outbox(mut self, origin: Origin, outbox: OutboxWriter) -> Self {
        for r in self.routes.iter_mut().filter(|r| **r == Route::All) {
            *r = Route::AllButRawFrom(origin);
        }
        self.with_routed_outbox(outbox, Route::RawFrom(origin))
    }
}

#[cfg(test)]
#[path = "route_tests.rs"]
mod tests;
