//! Opening a local serial port (RS-485 adapter) with tokio-serial, for
//! every bus protocol.

use serde::Deserialize;
use std::io;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Parity {
    #[default]
    None,
    Even,
    Odd,
}

/// A serial line (Modbus `transport = "rtu"`, meter buses `transport = "serial"`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct SerialConfig {
    pub path: PathBuf,
    pub baud: u32,
    pub parity: Parity,
    pub data_bits: u8,
    pub stop_bits: u8,
}

impl Default for SerialConfig {
    fn default() -> Self {
        SerialConfig {
            path: PathBuf::new(),
            baud: 9600,
            parity: Parity::None,
            data_bits: 8,
            stop_bits: 1,
        }
    }
}

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
