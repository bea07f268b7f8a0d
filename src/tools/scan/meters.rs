//! The meter broadcast read: a meter on a DL/T 645 or CJ/T 188 bus whose
//! address nobody wrote down is asked, at the "any meter" address, to say
//! its address. Only the single meter on a bus can answer this way: with
//! several, their answers collide and arrive as bad checksums, which the
//! output says.
//!
//! - DL/T 645-2007: read address (control 0x13) to `AA AA AA AA AA AA`;
//!   without an answer, read data identifier 04000401 (the communication
//!   address) at the same address, which meters without 0x13 answer.
//! - CJ/T 188: read address (control 0x03, identifier 810A) with type and
//!   address `AA`, the identifier low byte first, then high byte first (both
//!   orders are in the field).
//!
//! Frames are built and read by the pure codecs in [`crate::protocols`];
//! this module only moves bytes under a timeout.

use std::io::Write;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::Line;
use crate::protocols::{cjt188, dlt645};
use crate::sources::bus::serial::open as open_serial;
use crate::tools::modbus_text::connect_error;
use crate::tools::ToolError;

/// Which meter protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meter {
    Dlt645,
    Cjt188,
}

/// The DL/T 645 communication-address identifier.
pub const DLT645_COMM_ADDRESS: dlt645::DataId = dlt645::DataId::V2007(0x0400_0401);

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// What the bytes at the front of the buffer are, for one request.
#[derive(Debug, PartialEq)]
pub enum Step {
    /// The answer (a line to print) and the bytes it used.
    Done(String, usize),
    /// Wait for more bytes.
    Need,
    /// Drop bytes (noise, our own echo, another frame); with a reason when
    /// they were a damaged answer.
    Drop(usize, Option<String>),
}

/// How one request ended.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Answer(String),
    /// Nothing usable before the timeout; the damaged answers seen.
    Silent(Vec<String>),
}

/// DL/T 645: reads the front of `buf` as the answer to `asked`
/// (0x13 read address, or a read of [`DLT645_COMM_ADDRESS`]).
pub fn dlt645_step(buf: &[u8], asked: u8) -> Step {
    match dlt645::decode(buf) {
        Ok(dlt645::Decoded::NeedMore) => Step::Need,
        Ok(dlt645::Decoded::Frame { frame, len }) => {
            if !frame.control.is_reply() {
                return Step::Drop(len, None); // a request: our own echo on a bus
            }
            let read = if asked == dlt645::function::READ_ADDRESS {
                dlt645::app::address_reply(&frame).map(|_| ())
            } else {
                dlt645::app::read_reply_for(&frame, DLT645_COMM_ADDRESS).map(|_| ())
            };
            match read {
                Ok(()) => Step::Done(format!("meter {}", frame.address), len),
                Err(e) => Step::Drop(len, Some(e.to_string())),
            }
        }
        Err(e @ dlt645::Error::ErrorReply { .. }) => {
            let n = e.skip();
            Step::Done(format!("a meter answered with an error: {e}"), n)
        }
        Err(e) => {
            let damaged = matches!(
                e,
                dlt645::Error::BadChecksum { .. } | dlt645::Error::BadEnd { .. }
            );
            Step::Drop(e.skip().max(1), damaged.then(|| e.to_string()))
        }
    }
}

/// CJ/T 188: reads the front of `buf` as the answer to read address.
pub fn cjt188_step(buf: &[u8]) -> Step {
    match cjt188::decode(buf) {
        Ok(cjt188::Decoded::NeedMore) => Step::Need,
        Ok(cjt188::Decoded::Frame { frame, len }) => {
            if !frame.control.is_reply() {
                return Step::Drop(len, None);
            }
            match cjt188::reply_for(
                &frame,
                cjt188::function::READ_ADDRESS,
                cjt188::DataId::READ_ADDRESS,
            ) {
                Ok(r) => Step::Done(
                    format!(
                        "meter {} type {:#04x} (identifier {})",
                        r.address,
                        r.meter_type.0,
                        match r.order {
                            cjt188::DiOrder::LowFirst => "low byte first",
                            cjt188::DiOrder::HighFirst => "high byte first",
                        }
                    ),
                    len,
                ),
                Err(e) => Step::Drop(len, Some(e.to_string())),
            }
        }
        Err(e @ cjt188::Error::ErrorReply { .. }) => {
            let n = e.skip();
            Step::Done(format!("a meter answered abnormally: {e}"), n)
        }
        Err(e) => {
            let damaged = matches!(
                e,
                cjt188::Error::BadChecksum { .. } | cjt188::Error::BadEnd { .. }
            );
            Step::Drop(e.skip().max(1), damaged.then(|| e.to_string()))
        }
    }
}

/// Sends `request` and reads until `step` finds the answer or `limit` passes.
async fn ask(
    s: &mut dyn Stream,
    request: &[u8],
    limit: Duration,
    step: impl Fn(&[u8]) -> Step,
) -> Result<Outcome, std::io::Error> {
    s.write_all(request).await?;
    s.flush().await?;
    let deadline = Instant::now() + limit;
    let mut buf: Vec<u8> = Vec::new();
    let mut damaged = Vec::new();
    let mut chunk = [0u8; 256];
    loop {
        loop {
            match step(&buf) {
                Step::Done(line, _) => return Ok(Outcome::Answer(line)),
                Step::Need => break,
                Step::Drop(n, why) => {
                    damaged.extend(why);
                    buf.drain(..n.min(buf.len()));
                    if buf.is_empty() {
                        break;
                    }
                }
            }
        }
        match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
            Err(_) => return Ok(Outcome::Silent(damaged)),
            Ok(Ok(0)) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the connection was closed",
                ))
            }
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Ok(Err(e)) => return Err(e),
        }
    }
}

async fn open(line: &Line, limit: Duration) -> Result<Box<dyn Stream>, ToolError> {
    let place = line.place();
    let fail = |e: std::io::Error| ToolError::Unavailable(connect_error(&place, &e));
    match line {
        Line::Tcp(a) => {
            let s = tokio::time::timeout(limit, tokio::net::TcpStream::connect(a))
                .await
                .map_err(|_| {
                    fail(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("connect timed out after {limit:?}"),
                    ))
                })?
                .map_err(fail)?;
            let _ = s.set_nodelay(true);
            Ok(Box::new(s))
        }
        Line::Serial(cfg) => Ok(Box::new(open_serial(cfg).map_err(fail)?)),
        Line::RtuOverTcp(_) => Err(ToolError::Usage(
            "a meter bus behind a serial device server is --tcp".into(),
        )),
    }
}

/// The requests to try, in order, with a label and how to read the answer.
fn requests(meter: Meter) -> Result<Vec<(String, Vec<u8>, u8)>, ToolError> {
    let bad = |e: String| ToolError::Failed(format!("cannot build the request: {e}"));
    let mut list = Vec::new();
    match meter {
        Meter::Dlt645 => {
            let mut a = Vec::new();
            dlt645::app::read_address_request(4, &mut a).map_err(|e| bad(e.to_string()))?;
            list.push((
                "DL/T 645 read address (control 0x13) to AAAAAAAAAAAA".to_string(),
                a,
                dlt645::function::READ_ADDRESS,
            ));
            let mut b = Vec::new();
            dlt645::app::read_request(&dlt645::Address::ANY, DLT645_COMM_ADDRESS, 4, &mut b)
                .map_err(|e| bad(e.to_string()))?;
            list.push((
                format!(
                    "DL/T 645 read {DLT645_COMM_ADDRESS} (communication address) to AAAAAAAAAAAA"
                ),
                b,
                dlt645::function::READ,
            ));
        }
        Meter::Cjt188 => {
            for (order, name) in [
                (cjt188::DiOrder::LowFirst, "0A 81"),
                (cjt188::DiOrder::HighFirst, "81 0A"),
            ] {
                let mut r = Vec::new();
                cjt188::read_address_request(cjt188::MeterType::ANY, order, 0, 2, &mut r)
                    .map_err(|e| bad(e.to_string()))?;
                list.push((
                    format!("CJ/T 188 read address (control 0x03, identifier {name}) to type AA, AAAAAAAAAAAAAA"),
                    r,
                    cjt188::function::READ_ADDRESS,
                ));
            }
        }
    }
    Ok(list)
}

/// Runs the broadcast read on `line`.
pub async fn run(
    meter: Meter,
    line: &Line,
    limit: Duration,
    out: &mut dyn Write,
) -> Result<(), ToolError> {
    let place = line.place();
    let mut s = open(line, limit).await?;
    let _ = writeln!(out, "broadcast read on {place}, timeout {limit:?} each");
    let mut damaged_seen = 0;
    for (label, request, asked) in requests(meter)? {
        let outcome = match meter {
            Meter::Dlt645 => ask(&mut *s, &request, limit, |b| dlt645_step(b, asked)).await,
            Meter::Cjt188 => ask(&mut *s, &request, limit, cjt188_step).await,
        }
        .map_err(|e| ToolError::Unavailable(format!("{place}: {e}")))?;
        match outcome {
            Outcome::Answer(a) => {
                let _ = writeln!(out, "{label} → {a}");
                return Ok(());
            }
            Outcome::Silent(damaged) if damaged.is_empty() => {
                let _ = writeln!(out, "{label} → no answer");
            }
            Outcome::Silent(damaged) => {
                damaged_seen += damaged.len();
                let _ = writeln!(
                    out,
                    "{label} → only damaged answers: {}",
                    damaged.join("; ")
                );
            }
        }
    }
    Err(ToolError::Failed(if damaged_seen > 0 {
        format!("no meter answered cleanly on {place}: damaged answers usually mean several meters answered at once (the broadcast read finds a single meter; disconnect the others)")
    } else {
        format!("no meter answered on {place} (check baud rate, parity and wiring, or a longer --timeout)")
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_reply_is_not_taken_for_the_address_reply() {
        // The checked reply of protocols.md (`68 37 03 00 92 81 39 68 91 08
        // ...`) answers a read of 00010000: to a read-address request (0x13)
        // it is no answer, and says why.
        let reply = [
            0x68, 0x37, 0x03, 0x00, 0x92, 0x81, 0x39, 0x68, 0x91, 0x08, 0x33, 0x33, 0x34, 0x33,
            0x37, 0x33, 0x33, 0x33, 0x8c, 0x16,
        ];
        match dlt645_step(&reply, dlt645::function::READ_ADDRESS) {
            Step::Drop(20, Some(why)) => assert!(why.contains("0x93"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn our_own_request_echoed_on_the_bus_is_skipped() {
        let mut req = Vec::new();
        dlt645::app::read_address_request(0, &mut req).unwrap();
        assert_eq!(
            dlt645_step(&req, dlt645::function::READ_ADDRESS),
            Step::Drop(req.len(), None)
        );
        let mut req = Vec::new();
        cjt188::read_address_request(cjt188::MeterType::ANY, Default::default(), 0, 0, &mut req)
            .unwrap();
        assert_eq!(cjt188_step(&req), Step::Drop(req.len(), None));
    }

    #[test]
    fn a_damaged_answer_is_reported_not_taken() {
        let mut req = Vec::new();
        dlt645::app::encode_address_reply(&dlt645::Address([1, 2, 3, 4, 5, 6]), 0, &mut req)
            .unwrap();
        let n = req.len();
        req[n - 2] ^= 0xff;
        match dlt645_step(&req, dlt645::function::READ_ADDRESS) {
            Step::Drop(_, Some(why)) => assert!(why.contains("checksum"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
