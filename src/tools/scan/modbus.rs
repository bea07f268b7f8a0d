//! The Modbus unit scan: each unit id is asked for one register with the
//! daemon's transport (connect and read under a timeout). A normal answer
//! or an exception means something with that id is on the line; a timeout,
//! or a gateway's "target did not respond" (exception 0x0B) or "no path"
//! (0x0A), means nothing is. After a timeout the connection is opened again
//! before the next unit (a late answer would be taken for the next one).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use super::{Function, Line};
use crate::profiles::modbus::Table;
use crate::sources::modbus::config::{EndpointConfig, Transport};
use crate::sources::modbus::planner::Read;
use crate::sources::modbus::transport::{self, ReadError};
use crate::tools::modbus_text::{connect_error, exception, read_error};
use crate::tools::probe::render::data_hex;
use crate::tools::ToolError;

/// What one read of one unit showed.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Registers, or an exception: a device with this id is there.
    Present(String),
    /// Silence, or a gateway saying nobody answered behind it.
    Absent(String),
}

/// The endpoint the daemon's transport connects to for `line`.
pub fn endpoint(line: &Line, timeout: Duration) -> EndpointConfig {
    let (transport, address, serial) = match line {
        Line::Tcp(a) => (Transport::Tcp, Some(a.clone()), None),
        Line::RtuOverTcp(a) => (Transport::RtuOverTcp, Some(a.clone()), None),
        Line::Serial(s) => (Transport::Rtu, None, Some(s.clone())),
    };
    EndpointConfig {
        name: "scan".into(),
        transport,
        address,
        serial,
        timeout,
        ..EndpointConfig::default()
    }
}

fn function_code(t: Table) -> u8 {
    match t {
        Table::Coil => 1,
        Table::DiscreteInput => 2,
        Table::Holding => 3,
        Table::Input => 4,
    }
}

/// Classifies one read's outcome (pure).
pub fn classify(r: &Result<crate::sources::modbus::decode::Data, ReadError>) -> Answer {
    match r {
        Ok(d) => Answer::Present(format!("answered {}", data_hex(d))),
        Err(ReadError::Exception(c)) => Answer::Present(exception(*c)),
        Err(ReadError::Busy) => Answer::Present(read_error(&ReadError::Busy)),
        Err(ReadError::Timeout(_)) => Answer::Absent("no answer".into()),
        Err(e) => Answer::Absent(read_error(e)),
    }
}

/// Scans `units` on `line`; prints one line per unit that answered.
pub async fn run(
    line: &Line,
    units: &[u8],
    function: Function,
    register: u16,
    timeout: Duration,
    out: &mut dyn Write,
) -> Result<(), ToolError> {
    let ep = endpoint(line, timeout);
    let place = line.place();
    let tables: &[Table] = match function {
        Function::Holding => &[Table::Holding],
        Function::Input => &[Table::Input],
        Function::Both => &[Table::Holding, Table::Input],
    };
    let connect = || async {
        transport::connect(&ep)
            .await
            .map_err(|e| ToolError::Unavailable(connect_error(&place, &e)))
    };
    let mut ctx = connect().await?;
    let asks: Vec<String> = tables
        .iter()
        .map(|t| {
            format!(
                "read {} {register} (function {})",
                t.name(),
                function_code(*t)
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "scanning {} unit ids on {place}: {}, timeout {timeout:?} each",
        units.len(),
        asks.join(" and ")
    );
    let mut found = Vec::new();
    // A full scan of silent ids takes units × functions × timeout: show
    // where it is, on a terminal only (never in a script's output).
    let progress = std::io::stderr().is_terminal();
    for (k, &unit) in units.iter().enumerate() {
        if progress {
            eprint!("\runit {unit:>3} ({} of {})", k + 1, units.len());
        }
        let mut parts = Vec::new();
        let mut present = false;
        for &table in tables {
            let read = Read {
                table,
                start: register,
                count: 1,
                fields: Vec::new(),
            };
            let r = transport::read(&mut ctx, unit, &read, timeout).await;
            let reconnect = matches!(&r, Err(e) if e.reconnect());
            let what = match classify(&r) {
                Answer::Present(s) => {
                    present = true;
                    s
                }
                Answer::Absent(s) => s,
            };
            parts.push(format!("read {} {register} → {what}", table.name()));
            if reconnect {
                // Closed first: a serial port is opened exclusively.
                drop(ctx);
                ctx = connect().await?;
            }
        }
        if present {
            if progress {
                eprint!("\r{:24}\r", "");
            }
            let _ = writeln!(out, "unit {unit:>3}: present: {}", parts.join("; "));
            let _ = out.flush();
            found.push(unit.to_string());
        }
    }
    if progress {
        eprint!("\r{:24}\r", "");
    }
    if found.is_empty() {
        return Err(ToolError::Failed(format!(
            "no unit answered on {place} (check baud rate, parity and wiring, or a longer --timeout)"
        )));
    }
    let _ = writeln!(
        out,
        "{} unit(s) answered: {}",
        found.len(),
        found.join(", ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_modbus::ExceptionCode;

    #[test]
    fn an_exception_counts_as_present_a_gateway_timeout_does_not() {
        let e = classify(&Err(ReadError::Exception(
            ExceptionCode::IllegalDataAddress,
        )));
        assert!(matches!(e, Answer::Present(s) if s.starts_with("exception 0x02")));
        let g = classify(&Err(ReadError::Gateway(ExceptionCode::GatewayTargetDevice)));
        assert!(matches!(g, Answer::Absent(_)));
        let t = classify(&Err(ReadError::Timeout(Duration::from_millis(5))));
        assert_eq!(t, Answer::Absent("no answer".into()));
    }
}
