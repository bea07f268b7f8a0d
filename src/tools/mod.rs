//! The installer's commissioning tools, run beside (never inside) the
//! daemon: `greengate probe` reads one configured device once and shows
//! every step from raw registers to the stored value; `greengate sniff`
//! shows what the MQTT source would make of each message on a topic;
//! `greengate scan` finds the Modbus units and the single meter on a bus.
//!
//! They reuse the daemon's own parts, so what they print is what the daemon
//! does: the Modbus planner, decoder and transport
//! ([`crate::sources::modbus`]), the register maps ([`crate::profiles`]), the
//! MQTT source's router ([`crate::sources::mqtt::router`]) over the shared
//! connection code ([`crate::common::mqtt`]), and the pure meter codecs
//! ([`crate::protocols`]).
//!
//! Invariants:
//! - the tools change nothing: Modbus reads only (functions 1 to 4),
//!   meter read and read-address requests only, and an MQTT client with its own
//!   client id, a clean session and QoS 0, so it never takes a message from
//!   the daemon's session or acknowledges one for it (and never joins a
//!   `$share` group, which would divert the daemon's messages);
//! - they open no listening socket (the HTTP rules of the daemon's server
//!   have nothing to apply to) and print no secret (passwords stay in
//!   [`crate::config::Secret`]);
//! - bad input (an unknown device, a filter that matches no subscription,
//!   a port that is not there) is one line on stderr and a non-zero exit
//!   ([`ToolError::exit_code`]).

pub mod modbus_text;
pub mod probe;
pub mod scan;
pub mod sniff;

use std::path::Path;
use std::process::ExitCode;

use crate::app::Config;

/// Why a tool stopped; the variant is the exit code a script sees.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The command line or the config names something that is not there
    /// (exit 64, EX_USAGE, as `greengate check`).
    #[error("{0}")]
    Usage(String),
    /// The device, bus or broker cannot be reached (exit 69, EX_UNAVAILABLE).
    #[error("{0}")]
    Unavailable(String),
    /// It was reached, but did not give what was asked (exit 1).
    #[error("{0}")]
    Failed(String),
}

impl ToolError {
    pub fn exit_code(&self) -> u8 {
        match self {
            ToolError::Usage(_) => 64,
            ToolError::Unavailable(_) => 69,
            ToolError::Failed(_) => 1,
        }
    }
}

/// Prints the error as one line on stderr and turns it into the exit code.
pub fn exit(r: Result<(), ToolError>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, whatever the underlying error carried.
            let line = e.to_string().replace(['\n', '\r'], " ");
            eprintln!("error: {line}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Loads and validates the config; its problems are printed as
/// `greengate check` prints them (exit 64).
pub fn load(path: &Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|problems| {
        eprintln!("{problems}");
        eprintln!("{}: {} problem(s)", path.display(), problems.0.len());
        ExitCode::from(64)
    })
}

/// A current-thread runtime for one tool run.
pub fn runtime() -> Result<tokio::runtime::Runtime, ToolError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ToolError::Failed(format!("cannot start the runtime: {e}")))
}

/// Parses `"200ms"`, `"1s"` (humantime) for a command-line option.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{s:?}: {e}"))
}

/// The start of a payload as printable text: at most `max` bytes, control
/// characters and invalid UTF-8 escaped, so one message is one line.
pub fn payload_start(payload: &[u8], max: usize) -> String {
    let head = &payload[..payload.len().min(max)];
    let mut s: String = String::from_utf8_lossy(head)
        .chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect();
    if payload.len() > max {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_start_is_one_line_and_says_when_it_was_cut() {
        assert_eq!(payload_start(b"{not json\n}", 80), "{not json\\n}");
        assert_eq!(payload_start(b"abcdef", 3), "abc…");
        assert_eq!(payload_start(&[0xff, b'a'], 80), "\u{fffd}a");
    }

    #[test]
    fn exit_codes_follow_sysexits() {
        assert_eq!(ToolError::Usage(String::new()).exit_code(), 64);
        assert_eq!(ToolError::Unavailable(String::new()).exit_code(), 69);
        assert_eq!(ToolError::Failed(String::new()).exit_code(), 1);
    }
}
