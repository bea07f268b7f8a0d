//! The indicator engine. (Stub: being written.)

pub mod config;
