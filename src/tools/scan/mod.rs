//! `greengate scan`: what answers on a bus that is not configured yet.
//!
//! - `--protocol modbus` (default): every unit id of `--units` (1–247) on a
//!   Modbus TCP endpoint, a serial bus (RTU) or RTU over TCP, one short
//!   read per function ([`modbus`]); an exception counts as present.
//! - `--protocol dlt645` / `cjt188`: the broadcast-address read that makes
//!   the single meter on a bus say its address ([`meters`]), over a serial
//!   port or TCP to a serial device server.
//!
//! Reads only; nothing is configured or written.

pub mod meters;
pub mod modbus;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::ToolError;
use crate::sources::modbus::config::{Parity, SerialConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    Modbus,
    Dlt645,
    Cjt188,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ParityArg {
    None,
    Even,
    Odd,
}

/// Which Modbus read each unit is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Function {
    /// Read holding registers (function 3).
    Holding,
    /// Read input registers (function 4).
    Input,
    /// Both, holding first.
    Both,
}

/// `greengate scan` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bus protocol.
    #[arg(long, value_enum, default_value = "modbus")]
    pub protocol: Protocol,
    /// host:port: Modbus TCP; for the meters, a serial device server (transparent TCP).
    #[arg(long)]
    pub tcp: Option<String>,
    /// host:port: Modbus RTU frames over TCP (a serial device server).
    #[arg(long)]
    pub rtu_over_tcp: Option<String>,
    /// A serial port (RS-485 adapter), e.g. /dev/ttyUSB0.
    #[arg(long)]
    pub serial: Option<PathBuf>,
    /// Serial baud rate (default 9600 for Modbus, 2400 for the meters).
    #[arg(long)]
    pub baud: Option<u32>,
    /// Serial parity (default none for Modbus, even for the meters).
    #[arg(long, value_enum)]
    pub parity: Option<ParityArg>,
    #[arg(long, default_value_t = 8)]
    pub data_bits: u8,
    #[arg(long, default_value_t = 1)]
    pub stop_bits: u8,
    /// Limit on each request (default 200ms for Modbus, 1s for the meters).
    #[arg(long, value_parser = super::parse_duration)]
    pub timeout: Option<Duration>,
    /// Modbus unit ids: `1-247`, `3`, `1-16,17`.
    #[arg(long, default_value = "1-247")]
    pub units: String,
    /// Modbus: which read each unit is asked.
    #[arg(long, value_enum, default_value = "both")]
    pub function: Function,
    /// Modbus: the register each read asks for (protocol address, 0-based).
    #[arg(long, default_value_t = 0)]
    pub register: u16,
}

/// Where the bus is.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    Tcp(String),
    RtuOverTcp(String),
    Serial(SerialConfig),
}

impl Line {
    pub fn place(&self) -> String {
        match self {
            Line::Tcp(a) => format!("tcp {a}"),
            Line::RtuOverTcp(a) => format!("rtu_over_tcp {a}"),
            Line::Serial(s) => format!(
                "serial {} {} {}{}{}",
                s.path.display(),
                s.baud,
                s.data_bits,
                match s.parity {
                    Parity::None => 'N',
                    Parity::Even => 'E',
                    Parity::Odd => 'O',
                },
                s.stop_bits
            ),
        }
    }
}

/// The line from the arguments: exactly one of --tcp, --rtu-over-tcp, --serial.
pub fn line(args: &Args) -> Result<Line, ToolError> {
    let meters = args.protocol != Protocol::Modbus;
    let given = [
        args.tcp.is_some(),
        args.rtu_over_tcp.is_some(),
        args.serial.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(ToolError::Usage(
            "give exactly one of --tcp HOST:PORT, --rtu-over-tcp HOST:PORT, --serial PATH".into(),
        ));
    }
    let addr = |a: &str| -> Result<String, ToolError> {
        match a.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok() => Ok(a.to_string()),
            _ => Err(ToolError::Usage(format!("expected host:port, got {a:?}"))),
        }
    };
    if let Some(a) = &args.tcp {
        return Ok(Line::Tcp(addr(a)?));
    }
    if let Some(a) = &args.rtu_over_tcp {
        if meters {
            return Err(ToolError::Usage(
                "--rtu-over-tcp is for Modbus; a meter bus behind a serial device server is --tcp"
                    .into(),
            ));
        }
        return Ok(Line::RtuOverTcp(addr(a)?));
    }
    let path = args.serial.clone().unwrap_or_default();
    if !(5..=8).contains(&args.data_bits) || !(1..=2).contains(&args.stop_bits) {
        return Err(ToolError::Usage(
            "--data-bits must be 5 to 8 and --stop-bits 1 or 2".into(),
        ));
    }
    let parity = match args.parity {
        Some(ParityArg::None) => Parity::None,
        Some(ParityArg::Even) => Parity::Even,
        Some(ParityArg::Odd) => Parity::Odd,
        None if meters => Parity::Even,
        None => Parity::None,
    };
    Ok(Line::Serial(SerialConfig {
        path,
        baud: args.baud.unwrap_or(if meters { 2400 } else { 9600 }),
        parity,
        data_bits: args.data_bits,
        stop_bits: args.stop_bits,
    }))
}

/// `1-247`, `3`, `1-16,17`: unit ids in order, each once.
pub fn units(s: &str) -> Result<Vec<u8>, ToolError> {
    let bad = || {
        ToolError::Usage(format!(
            "--units: expected ids 0-255 like 1-247 or 3,17, got {s:?}"
        ))
    };
    let mut out: Vec<u8> = Vec::new();
    for part in s.split(',').map(str::trim) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let a: u8 = a.trim().parse().map_err(|_| bad())?;
        let b: u8 = b.trim().parse().map_err(|_| bad())?;
        if a > b {
            return Err(bad());
        }
        for u in a..=b {
            if !out.contains(&u) {
                out.push(u);
            }
        }
    }
    Ok(out)
}

pub fn main(args: Args) -> ExitCode {
    super::exit(scan(&args))
}

fn scan(args: &Args) -> Result<(), ToolError> {
    let line = line(args)?;
    let rt = super::runtime()?;
    let mut out = std::io::stdout().lock();
    match args.protocol {
        Protocol::Modbus => {
            let units = units(&args.units)?;
            let timeout = args.timeout.unwrap_or(Duration::from_millis(200));
            rt.block_on(modbus::run(
                &line,
                &units,
                args.function,
                args.register,
                timeout,
                &mut out,
            ))
        }
        p => {
            let timeout = args.timeout.unwrap_or(Duration::from_secs(1));
            let p = if p == Protocol::Dlt645 {
                meters::Meter::Dlt645
            } else {
                meters::Meter::Cjt188
            };
            rt.block_on(meters::run(p, &line, timeout, &mut out))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_lists_and_ranges() {
        assert_eq!(units("1-3,17,2").unwrap(), vec![1, 2, 3, 17]);
        assert_eq!(units("1-247").unwrap().len(), 247);
        assert!(units("5-3").is_err());
        assert!(units("1-300").is_err());
        assert!(units("x").is_err());
    }
}
