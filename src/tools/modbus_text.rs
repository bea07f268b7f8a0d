//! What a Modbus failure means to the person at the cabinet: the exception
//! codes with their meaning and the usual fix, and connection errors named
//! with the endpoint. Pure; shared by `probe` and `scan`.

use std::io;

use tokio_modbus::ExceptionCode;

use crate::sources::modbus::config::{EndpointConfig, Transport};
use crate::sources::modbus::transport::ReadError;

/// The code on the wire (`0x02`).
pub fn exception_number(code: ExceptionCode) -> u8 {
    u8::from(code)
}

/// What an exception code says, and what usually causes it.
pub fn exception_meaning(code: ExceptionCode) -> &'static str {
    match code {
        ExceptionCode::IllegalFunction => {
            "the device does not support this function (this register table)"
        }
        ExceptionCode::IllegalDataAddress => {
            "a register in this range is not implemented: check the address, 0- or 1-based numbering (register = \"40001\" is address 0), or read it alone (coalesce = false)"
        }
        ExceptionCode::IllegalDataValue => {
            "the device refuses this request's length: lower max_request"
        }
        ExceptionCode::ServerDeviceFailure => "the device failed while answering",
        ExceptionCode::Acknowledge => "accepted, the answer comes later (not for reads)",
        ExceptionCode::ServerDeviceBusy => "the device is busy: try again shortly",
        ExceptionCode::MemoryParityError => "the device reports a memory parity error",
        ExceptionCode::GatewayPathUnavailable => {
            "the gateway has no path to this unit id: check the unit id and the gateway's routing"
        }
        ExceptionCode::GatewayTargetDevice => {
            "the gateway got no answer from the unit behind it: check the unit id, wiring, baud rate and parity"
        }
        ExceptionCode::Custom(_) => "a code the Modbus specification does not define",
    }
}

/// `exception 0x02 (Illegal data address): <meaning>`.
pub fn exception(code: ExceptionCode) -> String {
    format!(
        "exception {:#04x} ({code}): {}",
        exception_number(code),
        exception_meaning(code)
    )
}

/// Why a read failed, in one line.
pub fn read_error(e: &ReadError) -> String {
    match e {
        ReadError::Timeout(d) => format!(
            "timeout: no answer within {d:?} (unit id, wiring, baud rate or parity, or the device is off)"
        ),
        ReadError::Transport(e) => format!("connection broke: {e}"),
        ReadError::Mismatch(m) => format!("an answer that does not match the request: {m}"),
        ReadError::Gateway(c) | ReadError::Exception(c) => exception(*c),
        ReadError::Busy => exception(ExceptionCode::ServerDeviceBusy),
    }
}

/// Where an endpoint is: `tcp 10.0.0.5:502`, `rtu /dev/ttyUSB0 9600 8N1`.
pub fn endpoint_place(ep: &EndpointConfig) -> String {
    match ep.transport {
        Transport::Tcp => format!("tcp {}", ep.address.as_deref().unwrap_or("")),
        Transport::RtuOverTcp => format!("rtu_over_tcp {}", ep.address.as_deref().unwrap_or("")),
        Transport::Rtu => match &ep.serial {
            Some(s) => format!(
                "rtu {} {} {}{}{}",
                s.path.display(),
                s.baud,
                s.data_bits,
                match s.parity {
                    crate::sources::modbus::config::Parity::None => 'N',
                    crate::sources::modbus::config::Parity::Even => 'E',
                    crate::sources::modbus::config::Parity::Odd => 'O',
                },
                s.stop_bits
            ),
            None => "rtu (no serial line)".into(),
        },
    }
}

/// Why connecting failed, naming the place: refused, no such serial port,
/// timed out.
pub fn connect_error(place: &str, e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => {
            format!("{place}: connection refused (nothing listens on that port)")
        }
        _ if e.to_string().contains("exclusive lock") => format!(
            "{place}: the serial port is in use (by the running daemon or another program; stop it to probe this bus)"
        ),
        io::ErrorKind::NotFound => format!("{place}: no such serial port or host ({e})"),
        io::ErrorKind::TimedOut => format!("{place}: {e}"),
        io::ErrorKind::PermissionDenied => format!("{place}: permission denied ({e})"),
        _ => format!("{place}: cannot connect: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exceptions_name_their_code_and_meaning() {
        let s = exception(ExceptionCode::IllegalDataAddress);
        assert!(
            s.starts_with("exception 0x02 (Illegal data address): "),
            "{s}"
        );
        assert!(s.contains("not implemented"), "{s}");
        assert!(exception(ExceptionCode::GatewayTargetDevice).starts_with("exception 0x0b"));
    }

    #[test]
    fn refused_connections_say_so() {
        let e = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(
            connect_error("tcp 127.0.0.1:1", &e),
            "tcp 127.0.0.1:1: connection refused (nothing listens on that port)"
        );
    }
}
