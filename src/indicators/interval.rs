//! The interface every interval indicator implements: device health,
//! lighting, parking and fire lanes, chargers and security.
//!
//! Shape (Vector's `aggregate` transform, Telegraf's aggregators):
//! [`Indicator::record`] folds one reading into the open intervals and never
//! emits; [`Indicator::close`] ends one interval (credits the state each
//! device holds up to its end), emits its readings and forgets it;
//! [`Indicator::advance`] runs timers that do not wait for an interval (the
//! fire-lane dwell and clear times). The indicators are stateless: their
//! state is plain data in [`State`](super::state::State) so that a
//! checkpoint stays one document. What they read and write is passed once,
//! as a [`Record`] or a [`Close`].
//!
//! Noise and water keep per-device windows of their own lengths and
//! lateness and are closed by the engine directly (see [`super::noise`],
//! [`super::water_close`]).

use super::attrs::Attrs;
use super::chargers::Chargers;
use super::ctx::Ctx;
use super::health::Health;
use super::history::{numeric, History};
use super::lighting::Lighting;
use super::parking::Parking;
use super::security::{Security, SecurityState};
use super::state::{DeviceState, InfraState};
use crate::model::Reading;

/// One reading of one device, and the state an indicator may fold it into.
pub(super) struct Record<'a> {
    pub cx: &'a Ctx,
    pub attrs: &'a Attrs,
    pub device: &'a mut DeviceState,
    pub infra: &'a mut InfraState,
    pub security: &'a mut SecurityState,
    /// The engine's base watermark (ns).
    pub watermark: i64,
}

/// Everything closing an interval (or advancing the watermark) reads and
/// writes, and where its readings go.
pub(super) struct Close<'a> {
    pub cx: &'a Ctx,
    /// Every device's attributes: for an interval, those in force when it
    /// opened.
    pub attrs: &'a [Attrs],
    pub devices: &'a mut [DeviceState],
    pub infra: &'a mut InfraState,
    pub security: &'a mut SecurityState,
    pub(super) out: &'a mut Vec<Reading>,
    pub(super) history: &'a mut History,
}

impl Close<'_> {
    /// Emits `r` and keeps its numeric fields for `assess`, under its time,
    /// measurement and `key` (a lot, a class; empty when there is none).
    pub(super) fn emit(&mut self, key: &str, r: Reading) {
        self.history
            .push(r.time_ns, &r.measurement, key, numeric(&r));
        self.out.push(r);
    }

    /// Emits `r` without keeping it for `assess`.
    pub(super) fn emit_unkept(&mut self, r: Reading) {
        self.out.push(r);
    }
}

/// An interval indicator. Implementations are unit structs listed in
/// [`INDICATORS`].
pub(super) trait Indicator: Sync {
    /// The measurement whose readings it records; `None`: every reading.
    fn measurement(&self) -> Option<&'static str>;

    /// Folds one reading in. Never emits.
    fn record(&self, r: &Reading, at: &mut Record<'_>);

    /// Runs timers up to the base watermark `wm` and emits what they ended.
    fn advance(&self, _wm: i64, _at: &mut Close<'_>) {}

    /// Ends the interval starting at `ws` (`cx.interval` long), emits its
    /// readings and forgets its accumulators.
    fn close(&self, ws: i64, at: &mut Close<'_>);
}

/// Every interval indicator, in the order their readings are emitted.
pub(super) static INDICATORS: [&dyn Indicator; 5] =
    [&Health, &Lighting, &Parking, &Chargers, &Security];
