//! Device profiles. (Stub: being written.)

pub mod config;
