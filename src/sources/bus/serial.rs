//! Opening a local serial port (RS-485 adapter) with tokio-serial, for
//! every bus protocol.

use std::io;

use crate::sources::modbus::config::{Parity, SerialConfig};

/// Opens `s.path` at its baud rate, parity, data and stop bits.
pub fn open(s: &SerialConfig) -> io::Result<tokio_serial::SerialStream> {
    let parity = match s.parity {
        Parity::None => tokio_serial::Parity::None,
        Parity::Even => tokio_serial::Parity::Even,
        Parity::Odd => tokio_serial::Parity::Odd,
    };
    let data_bits = match s.data_bits {
        5 => tokio_serial::DataBits::Five,
        6 => tokio_serial::DataBits::Six,
        7 => tokio_serial::DataBits::Seven,
        _ => tokio_serial::DataBits::Eight,
    };
    let stop_bits = match s.stop_bits {
        2 => tokio_serial::StopBits::Two,
        _ => tokio_serial::StopBits::One,
    };
    let builder = tokio_serial::new(s.path.to_string_lossy(), s.baud)
        .parity(parity)
        .data_bits(data_bits)
        .stop_bits(stop_bits);
    tokio_serial::SerialStream::open(&builder).map_err(io::Error::from)
}
