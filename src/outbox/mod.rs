//! The durable outbox. (Stub: being written.)

pub mod config;
pub use config::OutboxConfig;
