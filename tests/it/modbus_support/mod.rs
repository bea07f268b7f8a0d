//! Real Modbus devices for tests: a tokio-modbus server (TCP on a free
//! loopback port, or RTU on one end of a socat pty pair) serving a bank of
//! units, each of which can be told to misbehave.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_modbus::server::Service;
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};

mod harness;
pub use harness::*;

/// How a unit behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Normal,
    /// Never answers (a dead slave behind a gateway, or a cut RS-485 pair).
    Silent,
    /// Answers after this delay.
    Late(Duration),
    /// Answers every read with this exception.
    Exception(ExceptionCode),
    /// Answers "server device busy" to the next n requests.
    Busy(u32),
}

#[derive(Debug)]
pub struct Unit {
    pub holding: BTreeMap<u16, u16>,
    pub input: BTreeMap<u16, u16>,
    pub coils: BTreeMap<u16, bool>,
    pub mode: Mode,
    pub requests: u64,
    /// Registers (holding or input) whose reads are refused with a code:
    /// any read that covers one of them is answered with that exception.
    pub refuse: BTreeMap<u16, ExceptionCode>,
    /// Reads refused because of `refuse`.
    pub refused: u64,
}

impl Default for Unit {
    fn default() -> Self {
        Unit {
            holding: BTreeMap::new(),
            input: BTreeMap::new(),
            coils: BTreeMap::new(),
            mode: Mode::Normal,
            requests: 0,
            refuse: BTreeMap::new(),
            refused: 0,
        }
    }
}

/// The units behind one server; cloneable, shared with the server task.
#[derive(Clone, Default)]
pub struct Bank {
    units: Arc<Mutex<BTreeMap<u8, Unit>>>,
    pub connections: Arc<AtomicU64>,
}

impl Bank {
    pub fn with(&self, unit: u8, f: impl FnOnce(&mut Unit)) {
        let mut g = self.units.lock().unwrap();
        f(g.entry(unit).or_default());
    }
    pub fn holding(&self, unit: u8, addr: u16, words: &[u16]) {
        self.with(unit, |u| {
            for (i, w) in words.iter().enumerate() {
                u.holding.insert(addr + i as u16, *w);
            }
        });
    }
    pub fn input(&self, unit: u8, addr: u16, words: &[u16]) {
        self.with(unit, |u| {
            for (i, w) in words.iter().enumerate() {
                u.input.insert(addr + i as u16, *w);
            }
        });
    }
    pub fn input_f32(&self, unit: u8, addr: u16, v: f32) {
        let b = v.to_bits();
        self.input(unit, addr, &[(b >> 16) as u16, b as u16]);
    }
    pub fn coil(&self, unit: u8, addr: u16, v: bool) {
        self.with(unit, |u| {
            u.coils.insert(addr, v);
        });
    }
    pub fn mode(&self, unit: u8, mode: Mode) {
        self.with(unit, |u| u.mode = mode);
    }
    /// Refuses every read covering `addr` with `code`.
    pub fn refuse(&self, unit: u8, addr: u16, code: ExceptionCode) {
        self.with(unit, |u| {
            u.refuse.insert(addr, code);
        });
    }
    pub fn refused(&self, unit: u8) -> u64 {
        self.units
            .lock()
            .unwrap()
            .get(&unit)
            .map_or(0, |u| u.refused)
    }
    pub fn requests(&self, unit: u8) -> u64 {
        self.units
            .lock()
            .unwrap()
            .get(&unit)
            .map_or(0, |u| u.requests)
    }

    fn answer(
        &self,
        req: SlaveRequest<'static>,
    ) -> (Mode, Result<Option<Response>, ExceptionCode>) {
        let mut g = self.units.lock().unwrap();
        let Some(u) = g.get_mut(&req.slave) else {
            return (Mode::Silent, Ok(None));
        };
        u.requests += 1;
        let mode = u.mode;
        match mode {
            Mode::Silent => return (mode, Ok(None)),
            Mode::Exception(e) => return (mode, Err(e)),
            Mode::Busy(n) => {
                u.mode = if n > 1 {
                    Mode::Busy(n - 1)
                } else {
                    Mode::Normal
                };
                return (mode, Err(ExceptionCode::ServerDeviceBusy));
            }
            _ => {}
        }
        if let Request::ReadHoldingRegisters(a, n) | Request::ReadInputRegisters(a, n) = req.request
        {
            if let Some((_, code)) = u.refuse.range(a..a.saturating_add(n)).next() {
                let code = *code;
                u.refused += 1;
                return (mode, Err(code));
            }
        }
        let words = |m: &BTreeMap<u16, u16>, a: u16, n: u16| -> Result<Vec<u16>, ExceptionCode> {
            (a..a.saturating_add(n))
                .map(|i| m.get(&i).copied().ok_or(ExceptionCode::IllegalDataAddress))
                .collect()
        };
        let r = match req.request {
            Request::ReadHoldingRegisters(a, n) => {
                words(&u.holding, a, n).map(Response::ReadHoldingRegisters)
            }
            Request::ReadInputRegisters(a, n) => {
                words(&u.input, a, n).map(Response::ReadInputRegisters)
            }
            Request::ReadCoils(a, n) => (a..a + n)
                .map(|i| {
                    u.coils
                        .get(&i)
                        .copied()
                        .ok_or(ExceptionCode::IllegalDataAddress)
                })
                .collect::<Result<Vec<bool>, _>>()
                .map(Response::ReadCoils),
            _ => Err(ExceptionCode::IllegalFunction),
        };
        (mode, r.map(Some))
    }
}

type Fut = Pin<Box<dyn Future<Output = Result<Option<Response>, ExceptionCode>> + Send>>;

impl Service for Bank {
    type Request = SlaveRequest<'static>;
    type Response = Option<Response>;
    type Exception = ExceptionCode;
    type Future = Fut;

    fn call(&self, req: Self::Request) -> Self::Future {
        let (mode, answer) = self.answer(req);
        Box::pin(async move {
            if let Mode::Late(d) = mode {
                tokio::time::sleep(d).await;
            }
            answer
        })
    }
}

/// A Modbus TCP server on 127.0.0.1; stops (closing its connections) on drop.
pub struct TcpDevice {
    pub addr: SocketAddr,
    pub bank: Bank,
    /// While set, new connections are accepted and closed at once.
    pub refuse: Arc<AtomicBool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TcpDevice {
    pub async fn start(bank: Bank) -> TcpDevice {
        Self::start_at("127.0.0.1:0".parse().unwrap(), bank).await
    }

    pub async fn start_at(addr: SocketAddr, bank: Bank) -> TcpDevice {
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let refuse = Arc::new(AtomicBool::new(false));
        let (b, r) = (bank.clone(), refuse.clone());
        let task = tokio::spawn(async move {
            let server = tokio_modbus::server::tcp::Server::new(listener);
            let on_connected = move |stream, _addr| {
                let (b, r) = (b.clone(), r.clone());
                async move {
                    b.connections.fetch_add(1, Ordering::SeqCst);
                    if r.load(Ordering::SeqCst) {
                        return Ok(None);
                    }
                    Ok(Some((b, stream)))
                }
            };
            let _ = server.serve(&on_connected, |_e| {}).await;
        });
        TcpDevice {
            addr,
            bank,
            refuse,
            task: Some(task),
        }
    }

    /// Stops listening and closes every connection (a device power-cycle).
    pub async fn stop(mut self) -> (SocketAddr, Bank) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
        (self.addr, self.bank.clone())
    }
}

impl Drop for TcpDevice {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

/// Serves `bank` as RTU on the serial device at `path` until the task is aborted.
pub fn rtu_device(path: &Path, bank: Bank) -> tokio::task::JoinHandle<()> {
    let port = tokio_serial::SerialStream::open(&tokio_serial::new(path.to_string_lossy(), 19200))
        .unwrap();
    tokio::spawn(async move {
        let server = tokio_modbus::server::rtu::Server::new(port);
        let _ = server.serve_forever(bank).await;
    })
}
