//! greengate: an edge daemon for smart, green residential communities.
//!
//! Data flow (see `docs/architecture.md`):
//!
//! ```text
//! sources (mqtt, modbus) -> pipeline (enrich, indicators, encode once) -> outbox (disk) -> sinks (influxdb)
//! ```
//!
//! Each source and sink is a folder with a `config.rs` (serde structs and
//! validation, no I/O) beside the runtime that owns its loop. Decoding,
//! planning and windowing are pure functions the loops call.

pub mod app;
pub mod backoff;
pub mod common;
pub mod config;
pub mod deadletter;
#[cfg(feature = "demo")]
pub mod demo;
pub mod devices;
pub mod http;
pub mod indicators;
pub mod lineproto;
pub mod log_limit;
pub mod metrics;
pub mod model;
pub mod outbox;
pub mod pipeline;
pub mod profiles;
pub mod protocols;
pub mod signal;
#[cfg(feature = "demo")]
pub mod sim;
pub mod sinks;
pub mod sources;
pub mod status;
pub mod store;
pub mod tools;
