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

pub mod assess;
mod attrs;
mod checkpoint;
pub mod config;
mod ctx;
mod drops;
mod engine;
mod event_clock;
mod health;
pub mod history;
mod infra;
pub mod levels;
mod lighting;
pub mod noise;
mod parking;
mod registry;
mod security;
pub mod stored;
pub mod water;
mod water_balance;
mod water_close;
pub mod window;

pub use assess::{render_text, Assessment, Criterion, Verdict};
pub use engine::{Ctx, IndicatorEngine, IndicatorError, State, STATE_VERSION};
pub use event_clock::EventClock;
