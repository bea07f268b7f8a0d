//! Connections and single reads, through tokio-modbus.
//!
//! tokio-modbus answers `Result<Result<Response, ExceptionCode>, Error>`:
//! the inner error is the device saying no (keep the connection), the outer
//! one a broken or confused connection. It has no timeouts of its own, so
//! every call here runs under one, and [`ReadError::reconnect`] tells the
//! poller when the connection must be dropped: after a timeout a late answer
//! would be taken as the answer to the next request.

use std::io;
use std::time::Duration;

use tokio_modbus::client::{rtu, tcp, Client, Context};
use tokio_modbus::slave::SlaveContext;
use tokio_modbus::{ExceptionCode, Request, Response, Slave};

use super::config::{EndpointConfig, Transport};
use super::decode::Data;
use super::planner::Read;
use crate::profiles::modbus::Table;

/// Why a read failed: each variant is one decision of the poller.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// No answer in time: drop the connection, count a device failure.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The connection broke: drop it and reconnect.
    #[error("transport error: {0}")]
    Transport(io::Error),
    /// An answer that does not match the request: drop the connection.
    #[error("mismatched response: {0}")]
    Mismatch(String),
    /// A gateway says the device behind it did not answer (exceptions 10,
    /// 11): keep the connection to the gateway, count a device failure.
    #[error("gateway: {0}")]
    Gateway(ExceptionCode),
    /// "Server device busy" (exception 6): keep the connection, retry shortly.
    #[error("device busy")]
    Busy,
    /// Any other exception: keep the connection, mark the registers.
    #[error("Modbus exception: {0}")]
    Exception(ExceptionCode),
}

impl ReadError {
    /// Whether the device failed to answer (counts toward degraded).
    pub fn device_failed(&self) -> bool {
        self.reconnect() || matches!(self, ReadError::Gateway(_))
    }

    /// Whether the connection can no longer be trusted.
    pub fn reconnect(&self) -> bool {
        matches!(
            self,
            ReadError::Timeout(_) | ReadError::Transport(_) | ReadError::Mismatch(_)
        )
    }

    /// The `kind` label of `modbus_request_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            ReadError::Timeout(_) => "timeout",
            ReadError::Transport(_) => "transport",
            ReadError::Mismatch(_) => "mismatch",
            ReadError::Gateway(_) => "gateway",
            ReadError::Busy => "busy",
            ReadError::Exception(_) => "exception",
        }
    }
}

/// Opens the endpoint's connection (under its timeout).
pub async fn connect(cfg: &EndpointConfig) -> io::Result<Context> {
    let limit = cfg.timeout;
    let fut = async {
        match cfg.transport {
            Transport::Tcp | Transport::RtuOverTcp => {
                let addr = cfg.address.as_deref().unwrap_or_default();
                let stream = tokio::net::TcpStream::connect(addr).await?;
                let _ = stream.set_nodelay(true);
                Ok(if cfg.transport == Transport::Tcp {
                    tcp::attach_slave(stream, Slave(1))
                } else {
                    rtu::attach_slave(stream, Slave(1))
                })
            }
            Transport::Rtu => {
                let s = cfg.serial.clone().unwrap_or_default();
                let port = crate::sources::bus::serial::open(&s)?;
                Ok(rtu::attach_slave(port, Slave(1)))
            }
        }
    };
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("connect timed out after {limit:?}"),
        )),
    }
}

/// Reads one planned request from `unit`, checking the answer's shape.
pub async fn read(
    ctx: &mut Context,
    unit: u8,
    r: &Read,
    limit: Duration,
) -> Result<Data, ReadError> {
    ctx.set_slave(Slave(unit));
    let req = match r.table {
        Table::Coil => Request::ReadCoils(r.start, r.count),
        Table::DiscreteInput => Request::ReadDiscreteInputs(r.start, r.count),
        Table::Holding => Request::ReadHoldingRegisters(r.start, r.count),
        Table::Input => Request::ReadInputRegisters(r.start, r.count),
    };
    let answer = match tokio::time::timeout(limit, ctx.call(req)).await {
        Err(_) => return Err(ReadError::Timeout(limit)),
        Ok(Err(tokio_modbus::Error::Transport(e))) => return Err(ReadError::Transport(e)),
        Ok(Err(tokio_modbus::Error::Protocol(e))) => {
            return Err(ReadError::Mismatch(e.to_string()))
        }
        Ok(Ok(Err(ExceptionCode::ServerDeviceBusy))) => return Err(ReadError::Busy),
        Ok(Ok(Err(
            code @ (ExceptionCode::GatewayPathUnavailable | ExceptionCode::GatewayTargetDevice),
        ))) => return Err(ReadError::Gateway(code)),
        Ok(Ok(Err(code))) => return Err(ReadError::Exception(code)),
        Ok(Ok(Ok(a))) => a,
    };
    let n = r.count as usize;
    match answer {
        Response::ReadCoils(mut b) | Response::ReadDiscreteInputs(mut b) if b.len() >= n => {
            b.truncate(n);
            Ok(Data::Bits(b))
        }
        Response::ReadHoldingRegisters(w) | Response::ReadInputRegisters(w) if w.len() == n => {
            Ok(Data::Words(w))
        }
        other => Err(ReadError::Mismatch(format!(
            "asked for {n} of {}, got {other:?}",
            r.table.name()
        ))),
    }
}
