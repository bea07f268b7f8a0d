//! The indicator engine: green-community and noise-control indicators
//! computed at the edge from normalised readings (see `docs/indicators.md`
//! for the standards and formulas, `docs/metrics.md` for the outputs).
//!
//! ```text
//! readings ──record()──▶ open windows ──advance(now)──▶ gg_* readings
//!                          │ checkpoint()/restore()
//!                          ▼
//!                     assess(from, to) ──▶ Assessment (criteria 4–12)
//! ```
//!
//! Where things are: `engine` routes readings and moves the watermark;
//! `interval` is the interface of the interval indicators (`health`,
//! `lighting`, `parking`, `chargers`, `security`); [`noise`] and [`water`]
//! keep per-device windows of their own; `state` is the checkpointed data
//! (`checkpoint` writes it); [`assess`] evaluates the table of criteria in
//! [`criteria`].

pub mod assess;
mod attrs;
mod cadence;
mod chargers;
mod checkpoint;
pub mod config;
pub mod criteria;
mod ctx;
mod drops;
mod engine;
mod event_clock;
mod health;
mod histogram;
pub mod history;
mod interval;
pub mod levels;
mod lighting;
pub mod noise;
mod parking;
mod registry;
mod security;
mod state;
pub mod stored;
mod view;
pub mod water;
mod water_balance;
mod water_close;
pub mod window;

pub use assess::{render_text, Assessment, Criterion, Verdict};
pub use checkpoint::IndicatorError;
pub use ctx::Ctx;
pub use engine::IndicatorEngine;
pub use event_clock::EventClock;
pub use security::OpenAlarm;
pub use state::{State, STATE_VERSION};
