//! Parsing InfluxDB line protocol payloads into readings (for MQTT messages
//! whose profile has `format = "line_protocol"`).
//!
//! TODO(profiles helper): full parser with escaping, all field types and
//! optional timestamps.

use crate::model::Reading;

/// Why a line of line protocol could not be parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line protocol at byte {at}: {reason}")]
pub struct ParseError {
    pub at: usize,
    pub reason: String,
}

/// Parses one line (no trailing newline). A missing timestamp yields `default_time_ns`.
pub fn parse_line(_line: &str, _default_time_ns: i64) -> Result<Reading, ParseError> {
    Err(ParseError {
        at: 0,
        reason: "not implemented".into(),
    })
}

/// Parses every non-empty, non-comment line of a payload.
pub fn parse_lines(payload: &str, default_time_ns: i64) -> Result<Vec<Reading>, ParseError> {
    payload
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| parse_line(l, default_time_ns))
        .collect()
}
