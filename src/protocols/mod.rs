//! Pure codecs for the Chinese field and platform protocols: no I/O, no
//! configuration, no clocks. The bus drivers and the HJ 212 source and sink
//! call these with the bytes they read and the frames they want to send.
//!
//! - [`dlt645`]: DL/T 645-2007 and -1997 electricity meters (RS-485);
//! - [`cjt188`]: CJ/T 188-2004 and -2018 water, heat and gas meters (RS-485/M-Bus);
//! - [`hj212`]: HJ 212-2017 environmental data transmission (TCP, ASCII).
//!
//! The facts each codec implements, with the standard's own example frames
//! and check vectors, are in `shared/reference/protocols.md`; every one of
//! them is a unit test beside the codec. Every decoder works on a borrowed
//! byte slice, never panics on any input (a property test each), and tells
//! the caller how many bytes it used or must drop.

pub mod bcd;
pub mod cjt188;
pub mod dlt645;
pub mod hj212;
mod scan;
