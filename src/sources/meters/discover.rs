//! The address of the single meter on a bus, asked with the any-meter
//! address (`AA…`): DL/T 645-2007 read address (0x13), CJ/T 188 read
//! address (0x03, identifier 810A). A library function, so the CLI
//! (`greengate meters discover`) and other tools (a bus scan) share it.

use std::time::Duration;

use super::config::BusConfig;
use super::link::{exchange, MeterError, MeterLink, MeterRequest};
use crate::profiles::meter::MeterProtocol;
use crate::protocols::{cjt188, dlt645};

/// What the meter on the bus answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The nameplate address (12 or 14 digits).
    pub address: String,
    /// CJ/T 188: the meter type byte.
    pub meter_type: Option<u8>,
}

/// Why no address was found.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("cannot open the bus: {0}")]
    Open(std::io::Error),
    #[error("{0}")]
    Reply(#[from] MeterError),
    #[error("the answer is not a read-address reply: {0}")]
    NotAnAddress(String),
}

/// The request frame of a read-address on `protocol`.
pub fn request(protocol: MeterProtocol, preamble: usize, order: cjt188::DiOrder) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = match protocol {
        MeterProtocol::Cjt188 => {
            cjt188::read_address_request(cjt188::MeterType::ANY, order, 0, preamble, &mut out)
                .map_err(|e| e.to_string())
        }
        _ => dlt645::app::read_address_request(preamble, &mut out).map_err(|e| e.to_string()),
    };
    out
}

/// Reads the address in a read-address reply (pure).
pub fn parse(protocol: MeterProtocol, frame: &[u8]) -> Result<Found, DiscoverError> {
    let bad = |e: String| DiscoverError::NotAnAddress(e);
    match protocol {
        MeterProtocol::Cjt188 => {
            let (f, _) = cjt188::decode_complete(frame).map_err(|e| bad(e.to_string()))?;
            cjt188::reply_for(
                &f,
                cjt188::function::READ_ADDRESS,
                cjt188::DataId::READ_ADDRESS,
            )
            .map_err(|e| bad(e.to_string()))?;
            Ok(Found {
                address: f.address.to_string(),
                meter_type: Some(f.meter_type.0),
            })
        }
        _ => {
            let (f, _) = dlt645::decode_complete(frame).map_err(|e| bad(e.to_string()))?;
            let a = dlt645::app::address_reply(&f).map_err(|e| bad(e.to_string()))?;
            Ok(Found {
                address: a.to_string(),
                meter_type: None,
            })
        }
    }
}

/// Opens `bus` (its serial port or TCP address), asks the single meter on
/// it for its address, and closes it. Only one meter may be connected:
/// with several, their answers collide (a damaged frame).
pub async fn discover(
    bus: &BusConfig,
    protocol: MeterProtocol,
    order: cjt188::DiOrder,
    limit: Duration,
) -> Result<Found, DiscoverError> {
    let mut conn = tokio::time::timeout(limit, MeterLink::open(bus))
        .await
        .map_err(|_| DiscoverError::Open(std::io::ErrorKind::TimedOut.into()))?
        .map_err(DiscoverError::Open)?;
    let req = MeterRequest {
        protocol,
        bytes: request(protocol, bus.preamble, order),
        label: "any meter/read address".into(),
    };
    let raw = exchange(conn.as_mut(), &req, limit, &bus.name).await?;
    parse(protocol, &raw.frame)
}
