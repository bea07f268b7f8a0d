//! (Stub: being written.)

pub mod config;
