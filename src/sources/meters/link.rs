//! The meter half of a bus's line: a serial port or a TCP socket to a
//! serial device server, and one call = one request frame out, the first
//! frame back. Framing only: which frame it is (address, identifier,
//! values) is [`super::reply`]'s pure business.
//!
//! - Bytes left on the line from an earlier, late answer are drained
//!   before every request, so a timeout does not have to reopen the port.
//! - Noise before a frame start and stray `68`s are dropped (counted in
//!   `meter_noise_bytes_total`); wake-up `FE`s are not noise.
//! - The first complete frame decides: a checked frame (or error reply)
//!   is the answer, a damaged one is [`MeterError::BadFrame`]; at the
//!   deadline a partial frame is [`MeterError::Truncated`], nothing at all
//!   [`MeterError::Timeout`].

use std::fmt;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::config::{BusConfig, MeterTransport};
use crate::metrics;
use crate::profiles::meter::MeterProtocol;
use crate::protocols::{cjt188, dlt645};
use crate::sources::bus::{CallError, Link};

/// A byte stream to the bus.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Why a meter request gave no usable answer; the `kind` label of
/// `meter_request_errors_total`.
#[derive(Debug, thiserror::Error)]
pub enum MeterError {
    /// Nothing (or only noise) within the timeout: the meter is silent.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// A frame started but did not end within the timeout.
    #[error("truncated frame: {have} bytes by the deadline")]
    Truncated { have: usize, bytes: Vec<u8> },
    /// A complete frame with a wrong checksum or end byte.
    #[error("damaged frame: {detail}")]
    BadFrame { detail: String, bytes: Vec<u8> },
    /// The line broke: reopen it.
    #[error("transport error: {0}")]
    Transport(io::Error),
    /// A checked frame from another meter than the one asked.
    #[error("reply from address {got}, not {want}")]
    WrongAddress { want: String, got: String },
    /// The meter answered with an error reply (DL/T 645 0xD1 + ERR).
    #[error("error reply: {0}")]
    ErrorReply(String),
    /// A reply for another identifier, or not a read reply.
    #[error("unexpected reply: {0}")]
    Unexpected(String),
    /// A value that does not decode (not BCD, too short).
    #[error("value: {0}")]
    Value(String),
    /// A CJ/T 188 unit code the profile's `unit_codes` does not name.
    #[error("unit code {0:#04x} is not in the profile's unit_codes")]
    UnitCode(u8),
}

impl MeterError {
    /// The frame bytes the error is about, for the dead-letter record.
    pub fn bytes(&self) -> &[u8] {
        match self {
            MeterError::Truncated { bytes, .. } | MeterError::BadFrame { bytes, .. } => bytes,
            _ => &[],
        }
    }
    /// The meter did not answer at all (the poll of that meter ends).
    pub fn silent(&self) -> bool {
        matches!(self, MeterError::Timeout(_) | MeterError::Transport(_))
    }
}

impl CallError for MeterError {
    fn transport(e: io::Error) -> Self {
        MeterError::Transport(e)
    }
    fn reconnect(&self) -> bool {
        matches!(self, MeterError::Transport(_))
    }
    fn kind(&self) -> &'static str {
        match self {
            MeterError::Timeout(_) => "timeout",
            MeterError::Truncated { .. } => "truncated",
            MeterError::BadFrame { .. } => "bad_checksum",
            MeterError::Transport(_) => "transport",
            MeterError::WrongAddress { .. } => "wrong_address",
            MeterError::ErrorReply(_) => "error_reply",
            MeterError::Unexpected(_) => "unexpected",
            MeterError::Value(_) => "value",
            MeterError::UnitCode(_) => "unit_code",
        }
    }
}

/// One request frame, ready to send.
pub struct MeterRequest {
    pub protocol: MeterProtocol,
    /// Wake-up bytes and frame.
    pub bytes: Vec<u8>,
    /// `<address>/<identifier>` for logs.
    pub label: String,
}

impl fmt::Display for MeterRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

/// The first frame of an answer (with any wake-up bytes around it).
#[derive(Debug, Clone)]
pub struct RawReply {
    pub frame: Vec<u8>,
    /// Noise bytes dropped before it.
    pub noise: usize,
}

/// What the front of a receive buffer holds, for either protocol.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Frame(usize),
    NeedMore,
    Skip(usize),
    Bad(String, usize),
}

/// Frames the front of `buf` (pure; both protocols start with `68`).
pub fn step(protocol: MeterProtocol, buf: &[u8]) -> Step {
    let r = match protocol {
        MeterProtocol::Cjt188 => match cjt188::decode(buf) {
            Ok(cjt188::Decoded::Frame { len, .. }) => return Step::Frame(len),
            Ok(cjt188::Decoded::NeedMore) => return Step::NeedMore,
            Err(cjt188::Error::NotAFrame { skip }) => return Step::Skip(skip.max(1)),
            Err(e @ cjt188::Error::ErrorReply { .. }) => return Step::Frame(e.skip()),
            Err(e) => (e.to_string(), e.skip()),
        },
        _ => match dlt645::decode(buf) {
            Ok(dlt645::Decoded::Frame { len, .. }) => return Step::Frame(len),
            Ok(dlt645::Decoded::NeedMore) => return Step::NeedMore,
            Err(dlt645::Error::NotAFrame { skip }) => return Step::Skip(skip.max(1)),
            Err(e @ dlt645::Error::ErrorReply { .. }) => return Step::Frame(e.skip()),
            Err(e) => (e.to_string(), e.skip()),
        },
    };
    Step::Bad(r.0, r.1.clamp(1, buf.len().max(1)))
}

/// A bus's line: how to open it and its wake-up preamble.
pub struct MeterLink {
    pub cfg: BusConfig,
}

impl MeterLink {
    pub async fn open(cfg: &BusConfig) -> io::Result<Box<dyn Stream>> {
        match cfg.transport {
            MeterTransport::Tcp => {
                let addr = cfg.address.as_deref().unwrap_or_default();
                let s = tokio::net::TcpStream::connect(addr).await?;
                let _ = s.set_nodelay(true);
                Ok(Box::new(s))
            }
            MeterTransport::Serial => {
                let s = cfg.serial.clone().unwrap_or_default().to_serial();
                Ok(Box::new(crate::sources::bus::serial::open(&s)?))
            }
        }
    }
}

/// Sends `req` and reads its answer's first frame within `limit`.
pub async fn exchange(
    conn: &mut dyn Stream,
    req: &MeterRequest,
    limit: Duration,
    bus: &str,
) -> Result<RawReply, MeterError> {
    let deadline = Instant::now() + limit;
    let mut tmp = [0u8; 256];
    // Drain what an earlier, late answer left on the line.
    while let Ok(r) = tokio::time::timeout(Duration::ZERO, conn.read(&mut tmp)).await {
        match r {
            Ok(0) => return Err(MeterError::Transport(io::ErrorKind::UnexpectedEof.into())),
            Ok(_) => continue,
            Err(e) => return Err(MeterError::Transport(e)),
        }
    }
    let write = async {
        conn.write_all(&req.bytes).await?;
        conn.flush().await
    };
    match tokio::time::timeout_at(deadline, write).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(MeterError::Transport(e)),
        Err(_) => return Err(MeterError::Timeout(limit)),
    }
    let mut buf: Vec<u8> = Vec::with_capacity(64);
    let mut noise = 0;
    loop {
        loop {
            match step(req.protocol, &buf) {
                Step::Frame(len) => {
                    if noise > 0 {
                        noise_counter(bus).add(noise as u64);
                    }
                    return Ok(RawReply {
                        frame: buf.get(..len).unwrap_or(&buf).to_vec(),
                        noise,
                    });
                }
                Step::Skip(n) => {
                    let n = n.min(buf.len());
                    noise += n;
                    buf.drain(..n);
                    if buf.is_empty() {
                        break;
                    }
                }
                Step::Bad(detail, len) => {
                    let bytes = buf.get(..len).unwrap_or(&buf).to_vec();
                    return Err(MeterError::BadFrame { detail, bytes });
                }
                Step::NeedMore => break,
            }
        }
        match tokio::time::timeout_at(deadline, conn.read(&mut tmp)).await {
            Ok(Ok(0)) => return Err(MeterError::Transport(io::ErrorKind::UnexpectedEof.into())),
            Ok(Ok(n)) => buf.extend_from_slice(tmp.get(..n).unwrap_or(&[])),
            Ok(Err(e)) => return Err(MeterError::Transport(e)),
            Err(_) => {
                if noise > 0 {
                    noise_counter(bus).add(noise as u64);
                }
                return Err(if buf.contains(&0x68) {
                    MeterError::Truncated {
                        have: buf.len(),
                        bytes: buf,
                    }
                } else {
                    MeterError::Timeout(limit)
                });
            }
        }
    }
}

fn noise_counter(bus: &str) -> metrics::Counter {
    metrics::counter(
        "meter_noise_bytes_total",
        "Bytes before a frame start that were dropped (noise, stray 0x68).",
        &[("bus", bus)],
    )
}

impl Link for MeterLink {
    type Conn = Box<dyn Stream>;
    type Request = MeterRequest;
    type Answer = RawReply;
    type Error = MeterError;

    async fn connect(&self) -> io::Result<Box<dyn Stream>> {
        MeterLink::open(&self.cfg).await
    }

    async fn call<'a>(
        &'a self,
        conn: &'a mut Box<dyn Stream>,
        req: &'a MeterRequest,
        limit: Duration,
    ) -> Result<RawReply, MeterError> {
        exchange(conn.as_mut(), req, limit, &self.cfg.name).await
    }

    async fn close(&self, mut conn: Box<dyn Stream>) {
        let _ = conn.shutdown().await;
    }
}
