//! `greengate probe -c FILE DEVICE`: reads one configured device once,
//! without the daemon, and prints every field from the raw answer to the
//! stored value, or why it could not be read.
//!
//! The device is found by its id in the config ([`find`]); what it is read
//! with is a [`Target`]. Modbus devices are read by [`modbus::run`] through
//! the daemon's planner, transport and decoder; DL/T 645 and CJ/T 188
//! meters (`[sources.meters]`) by [`meter::run`] through the meter
//! source's request, link and reply code. The command line, the lookup
//! and the exit codes are the same for both.

pub mod meter;
pub mod modbus;
pub mod render;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::ToolError;
use crate::app::Config;
use crate::sources::meters::config::{BusConfig, MeterConfig};
use crate::sources::modbus::config::{DeviceConfig, EndpointConfig};

/// `greengate probe` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The configuration file.
    #[arg(short, long)]
    pub config: PathBuf,
    /// The device id, as configured (`[[sources.modbus.endpoints.devices]] id`
    /// or `[[sources.meters.buses.meters]] id`).
    pub device: String,
    /// Limit on each request instead of the endpoint's or bus's `timeout` (e.g. 2s).
    #[arg(long, value_parser = super::parse_duration)]
    pub timeout: Option<Duration>,
}

/// A configured device and what reads it: one variant per kind of source.
#[derive(Debug)]
pub enum Target<'a> {
    Modbus {
        endpoint: &'a EndpointConfig,
        device: &'a DeviceConfig,
    },
    Meter {
        bus: &'a BusConfig,
        meter: &'a MeterConfig,
    },
}

/// Finds `id` among the configured devices of every source that polls.
pub fn find<'a>(cfg: &'a Config, id: &str) -> Result<Target<'a>, ToolError> {
    let endpoints = cfg
        .sources
        .modbus
        .as_ref()
        .map(|m| m.endpoints.as_slice())
        .unwrap_or_default();
    for endpoint in endpoints {
        if let Some(device) = endpoint.devices.iter().find(|d| d.id == id) {
            return Ok(Target::Modbus { endpoint, device });
        }
    }
    let buses = cfg
        .sources
        .meters
        .as_ref()
        .map(|m| m.buses.as_slice())
        .unwrap_or_default();
    for bus in buses {
        if let Some(meter) = bus.meters.iter().find(|m| m.id == id) {
            return Ok(Target::Meter { bus, meter });
        }
    }
    let known: Vec<&str> = endpoints
        .iter()
        .flat_map(|e| e.devices.iter().map(|d| d.id.as_str()))
        .chain(
            buses
                .iter()
                .flat_map(|b| b.meters.iter().map(|m| m.id.as_str())),
        )
        .collect();
    let list = match known.len() {
        0 => "none is configured".to_string(),
        n if n <= 12 => format!("configured: {}", known.join(", ")),
        n => format!("configured: {}, ... ({n} in all)", known[..12].join(", ")),
    };
    Err(ToolError::Usage(format!(
        "no device {id:?} in [sources.modbus] or [sources.meters] ({list})"
    )))
}

/// Runs the probe; prints to stdout, the error (one line) to stderr.
pub fn main(args: Args) -> ExitCode {
    let cfg = match super::load(&args.config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    super::exit(probe(&cfg, &args.device, args.timeout))
}

fn probe(cfg: &Config, id: &str, timeout: Option<Duration>) -> Result<(), ToolError> {
    let target = find(cfg, id)?;
    let rt = super::runtime()?;
    let mut out = std::io::stdout().lock();
    match target {
        Target::Modbus { endpoint, device } => {
            let profile = cfg.profile_set.get(&device.profile).ok_or_else(|| {
                ToolError::Usage(format!("no profile named {:?} is loaded", device.profile))
            })?;
            let mut ep = endpoint.clone();
            if let Some(t) = timeout {
                ep.timeout = t;
            }
            rt.block_on(modbus::run(&ep, device, profile, &mut out))
        }
        Target::Meter { bus, meter } => {
            let profile = cfg.profile_set.get(&meter.profile).ok_or_else(|| {
                ToolError::Usage(format!("no profile named {:?} is loaded", meter.profile))
            })?;
            let mut b = bus.clone();
            if let Some(t) = timeout {
                b.timeout = t;
            }
            rt.block_on(meter::run(&b, meter, profile, &mut out))
        }
    }
}
