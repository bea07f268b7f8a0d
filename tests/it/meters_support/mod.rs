//! Meter simulators for the meter tests, written from the standards' byte
//! layouts (protocols.md) with their own checksum, BCD and +0x33 code, so
//! they share nothing with the codecs under test:
//!
//! ```text
//! DL/T 645: [FE..] 68 A0..A5 68 C L DATA(+0x33 each) CS 16   (CS = sum from 68, mod 256)
//! CJ/T 188: [FE..] 68 T A0..A6 C L DATA CS 16
//! ```
//!
//! One [`Bus`] serves any number of meters on one byte stream (a pty end
//! or a TCP connection, as behind a serial device server), answering the
//! frame addressed to each, misbehaving as each meter's [`Fault`] says.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How a simulated meter misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    /// Never answers.
    Silent,
    /// Answers this DL/T 645 identifier with a wrong checksum.
    BadChecksum(u32),
    /// Answers this identifier with error reply 0xD1, ERR 0x02.
    ErrorReply(u32),
    /// Answers this identifier with another meter's address.
    WrongAddress(u32),
    /// Noise and a stray 68 before every reply.
    Noise,
    /// Cuts this identifier's reply short.
    Truncate(u32),
}

#[derive(Debug, Clone)]
pub enum Kind {
    /// DL/T 645-2007; values by identifier, as plain (offset-free) bytes.
    Dlt645 { values: HashMap<u32, Vec<u8>> },
    /// CJ/T 188 water meter: type, flow in hundredths of its unit, unit
    /// code, ST1; `high_first` answers 90 1F instead of 1F 90.
    Cjt188 {
        meter_type: u8,
        flow: u64,
        unit: u8,
        st1: u8,
        high_first: bool,
    },
}

#[derive(Debug, Clone)]
pub struct Sim {
    /// Nameplate digits (12 or 14).
    pub nameplate: String,
    pub kind: Kind,
    pub fault: Fault,
    /// Wake-up FE bytes before each reply.
    pub preamble: usize,
}

/// Wire order of a nameplate: the last two digits first.
pub fn wire_address(nameplate: &str) -> Vec<u8> {
    let d: Vec<u8> = nameplate.bytes().map(|b| b - b'0').collect();
    d.chunks(2).rev().map(|p| (p[0] << 4) | p[1]).collect()
}

/// `n` as `bytes` BCD bytes, least significant first.
pub fn bcd(mut n: u64, bytes: usize) -> Vec<u8> {
    (0..bytes)
        .map(|_| {
            let b = (((n % 100 / 10) << 4) | (n % 10)) as u8;
            n /= 100;
            b
        })
        .collect()
}

/// A signed DL/T 645 value: BCD magnitude, bit 7 of the top byte the sign.
pub fn bcd_signed(n: i64, bytes: usize) -> Vec<u8> {
    let mut v = bcd(n.unsigned_abs(), bytes);
    if n < 0 {
        *v.last_mut().unwrap() |= 0x80;
    }
    v
}

fn sum(b: &[u8]) -> u8 {
    b.iter().fold(0u8, |a, x| a.wrapping_add(*x))
}

fn dlt_frame(addr: &[u8], control: u8, data: &[u8], preamble: usize, bad_cs: bool) -> Vec<u8> {
    let mut f = vec![0x68];
    f.extend_from_slice(addr);
    f.push(0x68);
    f.push(control);
    f.push(data.len() as u8);
    f.extend(data.iter().map(|b| b.wrapping_add(0x33)));
    let cs = sum(&f).wrapping_add(u8::from(bad_cs));
    f.push(cs);
    f.push(0x16);
    let mut out = vec![0xFE; preamble];
    out.extend(f);
    out
}

fn cjt_frame(t: u8, addr: &[u8], control: u8, data: &[u8], preamble: usize) -> Vec<u8> {
    let mut f = vec![0x68, t];
    f.extend_from_slice(addr);
    f.push(control);
    f.push(data.len() as u8);
    f.extend_from_slice(data);
    f.push(sum(&f));
    f.push(0x16);
    let mut out = vec![0xFE; preamble];
    out.extend(f);
    out
}

/// A request found on the bus.
enum Req {
    Dlt {
        addr: Vec<u8>,
        control: u8,
        data: Vec<u8>,
    },
    Cjt {
        addr: Vec<u8>,
        control: u8,
        data: Vec<u8>,
    },
}

/// Takes one complete request off the front of `buf`, if there is one.
fn take(buf: &mut Vec<u8>) -> Option<Req> {
    while buf.first().is_some_and(|b| *b != 0x68) {
        buf.remove(0);
    }
    if buf.len() < 12 {
        return None;
    }
    if buf[7] == 0x68 {
        let n = buf[9] as usize;
        if buf.len() < 12 + n {
            return None;
        }
        let f: Vec<u8> = buf.drain(..12 + n).collect();
        if sum(&f[..10 + n]) != f[10 + n] {
            return take(buf);
        }
        return Some(Req::Dlt {
            addr: f[1..7].to_vec(),
            control: f[8],
            data: f[10..10 + n].iter().map(|b| b.wrapping_sub(0x33)).collect(),
        });
    }
    if buf.len() < 13 {
        return None;
    }
    let n = buf[10] as usize;
    if buf.len() < 13 + n {
        return None;
    }
    let f: Vec<u8> = buf.drain(..13 + n).collect();
    if sum(&f[..11 + n]) != f[11 + n] {
        return take(buf);
    }
    Some(Req::Cjt {
        addr: f[2..9].to_vec(),
        control: f[9],
        data: f[11..11 + n].to_vec(),
    })
}

/// The meters of one bus, and how many requests they saw.
#[derive(Clone)]
pub struct Bus {
    pub meters: Arc<Vec<Sim>>,
    pub requests: Arc<AtomicU64>,
    /// Pace the line at this baud rate (11 bits a byte, 8E1): each answer
    /// waits the wire time of its request and itself. A pty has no baud rate.
    pub baud: Option<u32>,
    /// When each request arrived, for the benchmark.
    pub arrivals: Arc<std::sync::Mutex<Vec<std::time::Instant>>>,
}

impl Bus {
    pub fn new(meters: Vec<Sim>) -> Bus {
        Bus {
            meters: Arc::new(meters),
            requests: Arc::new(AtomicU64::new(0)),
            baud: None,
            arrivals: Arc::default(),
        }
    }

    /// Serves requests on `s` until it closes.
    pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(&self, mut s: S) {
        let mut buf = Vec::new();
        let mut tmp = [0u8; 256];
        loop {
            let n = match s.read(&mut tmp).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            buf.extend_from_slice(&tmp[..n]);
            loop {
                let before = buf.len();
                let Some(req) = take(&mut buf) else { break };
                let req_len = before - buf.len();
                self.requests.fetch_add(1, Ordering::Relaxed);
                self.arrivals
                    .lock()
                    .unwrap()
                    .push(std::time::Instant::now());
                let out = self.answer(&req);
                if let Some(baud) = self.baud {
                    let bytes = req_len + out.as_ref().map_or(0, Vec::len);
                    let wire = bytes as f64 * 11.0 / f64::from(baud);
                    tokio::time::sleep(std::time::Duration::from_secs_f64(wire)).await;
                }
                if let Some(out) = out {
                    if s.write_all(&out).await.is_err() {
                        return;
                    }
                    let _ = s.flush().await;
                }
            }
        }
    }

    fn answer(&self, req: &Req) -> Option<Vec<u8>> {
        match req {
            Req::Dlt {
                addr,
                control,
                data,
            } => {
                let any = addr.iter().all(|b| *b == 0xAA);
                let m = self.meters.iter().find(|m| {
                    matches!(m.kind, Kind::Dlt645 { .. })
                        && (any || wire_address(&m.nameplate) == *addr)
                })?;
                let Kind::Dlt645 { values } = &m.kind else {
                    return None;
                };
                let me = wire_address(&m.nameplate);
                if m.fault == Fault::Silent {
                    return None;
                }
                let mut out = Vec::new();
                if m.fault == Fault::Noise {
                    out.extend([0x00, 0x13, 0x68, 0x01, 0x99]);
                }
                if *control == 0x13 {
                    out.extend(dlt_frame(&me, 0x93, &me, m.preamble, false));
                    return Some(out);
                }
                if *control != 0x11 || data.len() < 4 {
                    return None;
                }
                let di = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
                let Some(v) = values.get(&di) else {
                    out.extend(dlt_frame(&me, 0xD1, &[0x02], m.preamble, false));
                    return Some(out);
                };
                let mut d = data[..4].to_vec();
                d.extend_from_slice(v);
                match m.fault {
                    Fault::ErrorReply(x) if x == di => {
                        out.extend(dlt_frame(&me, 0xD1, &[0x02], m.preamble, false))
                    }
                    Fault::BadChecksum(x) if x == di => {
                        out.extend(dlt_frame(&me, 0x91, &d, m.preamble, true))
                    }
                    Fault::WrongAddress(x) if x == di => out.extend(dlt_frame(
                        &wire_address("999999999999"),
                        0x91,
                        &d,
                        m.preamble,
                        false,
                    )),
                    Fault::Truncate(x) if x == di => {
                        let f = dlt_frame(&me, 0x91, &d, m.preamble, false);
                        out.extend(&f[..f.len() - 4]);
                    }
                    _ => out.extend(dlt_frame(&me, 0x91, &d, m.preamble, false)),
                }
                Some(out)
            }
            Req::Cjt {
                addr,
                control,
                data,
                ..
            } => {
                let any = addr.iter().all(|b| *b == 0xAA);
                let m = self.meters.iter().find(|m| {
                    matches!(m.kind, Kind::Cjt188 { .. })
                        && (any || wire_address(&m.nameplate) == *addr)
                })?;
                let Kind::Cjt188 {
                    meter_type,
                    flow,
                    unit,
                    st1,
                    high_first,
                } = m.kind
                else {
                    return None;
                };
                if m.fault == Fault::Silent || data.len() < 3 {
                    return None;
                }
                let me = wire_address(&m.nameplate);
                let ser = data[2];
                let di = |id: u16| {
                    if high_first {
                        id.to_be_bytes()
                    } else {
                        id.to_le_bytes()
                    }
                };
                match control {
                    0x03 => {
                        let mut d = di(0x810A).to_vec();
                        d.push(ser);
                        Some(cjt_frame(meter_type, &me, 0x83, &d, m.preamble))
                    }
                    0x01 => {
                        let mut d = di(0x901F).to_vec();
                        d.push(ser);
                        d.extend(bcd(flow, 4));
                        d.push(unit);
                        d.extend([0xFF; 5]); // settlement-day flow: not supported
                        d.extend([0x00, 0x30, 0x09, 0x01, 0x12, 0x26, 0x20]); // 2026-12-01 09:30:00
                        d.extend([st1, 0x00]);
                        Some(cjt_frame(meter_type, &me, 0x81, &d, m.preamble))
                    }
                    _ => None,
                }
            }
        }
    }
}

/// A DL/T 645 single-phase meter's four values: energy (kWh ×100),
/// voltage (V ×10), current (A ×1000, signed), power (kW ×10000, signed).
pub fn single_phase(kwh_x100: u64, v_x10: u64, a_x1000: i64, kw_x10000: i64) -> Kind {
    Kind::Dlt645 {
        values: HashMap::from([
            (0x0001_0000, bcd(kwh_x100, 4)),
            (0x0201_0100, bcd(v_x10, 2)),
            (0x0202_0100, bcd_signed(a_x1000, 3)),
            (0x0203_0000, bcd_signed(kw_x10000, 3)),
        ]),
    }
}

pub fn dlt(nameplate: &str, kind: Kind, fault: Fault) -> Sim {
    Sim {
        nameplate: nameplate.into(),
        kind,
        fault,
        preamble: 2,
    }
}

/// Serves `bus` on the serial device at `path` (one end of a pty pair).
pub fn serve_serial(path: &std::path::Path, bus: Bus) -> tokio::task::JoinHandle<()> {
    let port =
        tokio_serial::SerialStream::open(&tokio_serial::new(path.to_string_lossy(), 2400)).unwrap();
    tokio::spawn(async move { bus.serve(port).await })
}

/// Serves `bus` to every TCP connection on a free loopback port, as a
/// transparent serial device server; returns its address.
pub async fn serve_tcp(bus: Bus) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let b = bus.clone();
            tokio::spawn(async move { b.serve(s).await });
        }
    });
    (addr, task)
}
