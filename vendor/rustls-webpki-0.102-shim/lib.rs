//! rustls-webpki 0.102's name for rumqttc 0.25, with 0.103's code.
//!
//! rumqttc 0.25.1 (the last release) requires `rustls-webpki ^0.102.8`, a line
//! with four open advisories (RUSTSEC-2026-0049, -0098, -0099, -0104) that
//! are fixed only in 0.103. rumqttc uses the crate for one thing, the type of
//! its `TlsError::WebPki(#[from] webpki::Error)` variant, and verifies
//! nothing with it: certificate verification is rustls's own, through the
//! rustls-webpki 0.103 that rustls 0.23 already depends on. This crate takes
//! 0.102's place (`[patch.crates-io]` in the workspace manifest) and
//! re-exports 0.103, so no 0.102 code is compiled. Remove it when rumqttc
//! releases with `rustls-webpki 0.103` (bytebeamio/rumqtt#1037).
#![no_std]

pub use upstream::*;
