//! Wiring: configuration, then sources, pipeline, outbox and sinks started
//! and stopped in order. (Being written.)

pub mod config;

pub use config::Config;
