//! Probing one Modbus device: the reads of its register map as the daemon
//! plans them ([`Device::new`], the planner), each read once through the
//! daemon's transport, every field rendered by [`super::render`].
//!
//! A read answered with an exception is read again field by field
//! ([`planner::split`]), so the output names the register the device
//! refuses instead of the whole coalesced read. After a timeout or a broken
//! connection the connection is opened again before the next read (a late
//! answer would be taken for the next one), as the poller does.

use std::collections::VecDeque;
use std::io::Write;
use std::time::Duration;

use tokio::time::Instant;

use super::render;
use crate::backoff::Backoff;
use crate::profiles::Profile;
use crate::sources::modbus::config::{DeviceConfig, EndpointConfig};
use crate::sources::modbus::decode::{self, Data};
use crate::sources::modbus::device::Device;
use crate::sources::modbus::planner::{self, Read};
use crate::sources::modbus::transport::{self, ReadError};
use crate::tools::modbus_text::{connect_error, endpoint_place, read_error};
use crate::tools::ToolError;

/// Reads every field of `dev` once and prints it to `out`.
pub async fn run(
    ep: &EndpointConfig,
    dev: &DeviceConfig,
    profile: &Profile,
    out: &mut dyn Write,
) -> Result<(), ToolError> {
    let once = Backoff::new(Duration::from_secs(1), Duration::from_secs(1));
    let device = Device::new(dev, profile, once, Instant::now(), 0.0).map_err(ToolError::Usage)?;
    let place = endpoint_place(ep);
    let _ = writeln!(
        out,
        "device {} (profile {}, class {}) unit {} on endpoint {} ({place}), timeout {:?}",
        device.id, profile.name, device.measurement, device.unit, ep.name, ep.timeout
    );
    let mut ctx = transport::connect(ep)
        .await
        .map_err(|e| ToolError::Unavailable(connect_error(&place, &e)))?;
    // (read, whether it is already one field's own read)
    let mut queue: VecDeque<(Read, bool)> = device
        .groups
        .iter()
        .flat_map(|g| g.reads.iter().cloned())
        .map(|r| (r, false))
        .collect();
    let total = device.specs.len();
    let mut unread: Vec<&str> = Vec::new();
    let mut undecoded: Vec<&str> = Vec::new();
    let mut first = true;
    while let Some((read, alone)) = queue.pop_front() {
        if !first && !ep.inter_request_delay.is_zero() {
            tokio::time::sleep(ep.inter_request_delay).await;
        }
        first = false;
        let started = Instant::now();
        let answer = read_with_busy_retries(&mut ctx, ep, device.unit, &read).await;
        let rtt = started.elapsed();
        let label = render::read_label(&read);
        match answer {
            Ok(data) => {
                let _ = writeln!(
                    out,
                    "read {label} in {:.1} ms: {}",
                    rtt.as_secs_f64() * 1000.0,
                    render::data_hex(&data)
                );
                for &i in &read.fields {
                    if let Some(spec) = device.specs.get(i) {
                        for line in render::field(spec, &read, &data) {
                            let _ = writeln!(out, "{line}");
                        }
                        if decode::field(spec, &read, &data).is_err() {
                            undecoded.push(&spec.name);
                        }
                    }
                }
            }
            Err(e) => {
                let why = read_error(&e);
                let parts = planner::split(&device.specs, &read);
                let refused = matches!(e, ReadError::Exception(_));
                if refused && !alone && parts.len() > 1 {
                    let _ = writeln!(
                        out,
                        "read {label}: {why}; reading its {} fields one by one",
                        parts.len()
                    );
                    for (k, p) in parts.into_iter().enumerate() {
                        queue.insert(k, (p, true));
                    }
                    continue;
                }
                let _ = writeln!(out, "read {label}: {why}");
                for &i in &read.fields {
                    if let Some(spec) = device.specs.get(i) {
                        let _ = writeln!(
                            out,
                            "  {:<16} {:<14} not read: {why}",
                            spec.name,
                            spec.location()
                        );
                        unread.push(&spec.name);
                    }
                }
                if e.reconnect() {
                    // The old connection goes first: a serial port is
                    // opened exclusively, so it must be closed to reopen.
                    drop(ctx);
                    ctx = match transport::connect(ep).await {
                        Ok(c) => c,
                        Err(e) => {
                            return Err(ToolError::Unavailable(format!(
                                "reconnecting after the failed read: {}",
                                connect_error(&place, &e)
                            )))
                        }
                    };
                }
            }
        }
    }
    let good = total.saturating_sub(unread.len() + undecoded.len());
    let _ = writeln!(out, "{good} of {total} fields read and decoded");
    let mut problems = Vec::new();
    if !unread.is_empty() {
        problems.push(format!(
            "{} of {total} fields not read ({})",
            unread.len(),
            unread.join(", ")
        ));
    }
    if !undecoded.is_empty() {
        problems.push(format!(
            "{} of {total} fields not decoded ({})",
            undecoded.len(),
            undecoded.join(", ")
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ToolError::Failed(format!(
            "device {}: {}",
            device.id,
            problems.join("; ")
        )))
    }
}

/// One read, retried after "server device busy" as the poller retries it.
async fn read_with_busy_retries(
    ctx: &mut tokio_modbus::client::Context,
    ep: &EndpointConfig,
    unit: u8,
    read: &Read,
) -> Result<Data, ReadError> {
    let mut left = ep.busy_retries;
    loop {
        match transport::read(ctx, unit, read, ep.timeout).await {
            Err(ReadError::Busy) if left > 0 => {
                left -= 1;
                tokio::time::sleep(ep.busy_retry).await;
            }
            r => return r,
        }
    }
}
