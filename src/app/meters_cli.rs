//! `greengate meters discover`: the address of the single meter on a bus,
//! through [`crate::sources::meters::discover`] (the library function other
//! tools reuse).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::profiles::meter::MeterProtocol;
use crate::protocols::cjt188::DiOrder;
use crate::sources::bus::serial::Parity;
use crate::sources::meters::config::{BusConfig, MeterSerial, MeterTransport};

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    #[command(subcommand)]
    pub command: Sub,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum Sub {
    /// Ask the single meter on a bus for its address (broadcast address AA…)
    /// and print it. Connect only that one meter while asking.
    Discover(DiscoverArgs),
}

#[derive(clap::Args, Debug, Clone)]
#[command(group(clap::ArgGroup::new("line").required(true).args(["port", "tcp"])))]
pub struct DiscoverArgs {
    /// A local serial port, e.g. /dev/ttyUSB0.
    #[arg(long)]
    pub port: Option<PathBuf>,
    /// host:port of a serial device server (transparent TCP).
    #[arg(long)]
    pub tcp: Option<String>,
    /// dlt645 or cjt188.
    #[arg(long, value_parser = ["dlt645", "cjt188"])]
    pub protocol: String,
    #[arg(long, default_value_t = 2400)]
    pub baud: u32,
    /// none, even or odd.
    #[arg(long, default_value = "even", value_parser = ["none", "even", "odd"])]
    pub parity: String,
    /// Wake-up FE bytes before the request.
    #[arg(long, default_value_t = 4)]
    pub preamble: usize,
    /// CJ/T 188: send the identifier high byte first (90 1F style: 0A 81).
    #[arg(long)]
    pub high_first: bool,
    /// How long to wait for the answer, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub timeout_ms: u64,
}

pub fn main(args: Args) -> ExitCode {
    let Sub::Discover(a) = args.command;
    let protocol = if a.protocol == "cjt188" {
        MeterProtocol::Cjt188
    } else {
        MeterProtocol::Dlt645
    };
    let bus = BusConfig {
        name: "discover".into(),
        transport: if a.tcp.is_some() {
            MeterTransport::Tcp
        } else {
            MeterTransport::Serial
        },
        address: a.tcp.clone(),
        serial: a.port.clone().map(|path| MeterSerial {
            path,
            baud: a.baud,
            parity: match a.parity.as_str() {
                "none" => Parity::None,
                "odd" => Parity::Odd,
                _ => Parity::Even,
            },
            ..MeterSerial::default()
        }),
        preamble: a.preamble.min(8),
        ..BusConfig::default()
    };
    let order = if a.high_first {
        DiOrder::HighFirst
    } else {
        DiOrder::LowFirst
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let limit = Duration::from_millis(a.timeout_ms.max(1));
    match rt.block_on(crate::sources::meters::discover(
        &bus, protocol, order, limit,
    )) {
        Ok(found) => {
            match found.meter_type {
                Some(t) => println!("{} (meter type {t:02X})", found.address),
                None => println!("{}", found.address),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: no meter address: {e}");
            ExitCode::FAILURE
        }
    }
}
