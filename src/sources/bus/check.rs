//! The config checks every bus shares (Modbus endpoints, meter buses): the
//! line's address or serial settings, and the driver's timing keys. Each
//! source keeps only what is its own.

use std::time::Duration;

use super::serial::SerialConfig;
use crate::config::{join, Check};

/// `address` must be `host:port`; `missing` says what it is the address of.
pub(crate) fn check_address(at: &str, address: Option<&str>, missing: &str, cx: &mut Check) {
    match address {
        Some(a)
            if a.rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()) => {}
        Some(a) => cx.problem(
            join(at, "address"),
            format!("expected host:port, got {a:?}"),
        ),
        None => cx.problem(join(at, "address"), missing),
    }
}

/// `serial` must be set (`missing` says how) and its settings valid.
pub(crate) fn check_serial(at: &str, serial: Option<&SerialConfig>, missing: &str, cx: &mut Check) {
    let Some(s) = serial else {
        cx.problem(join(at, "serial"), missing);
        return;
    };
    let sp = join(at, "serial");
    if s.path.as_os_str().is_empty() {
        cx.problem(
            join(&sp, "path"),
            "missing: the serial device, e.g. /dev/ttyUSB0",
        );
    }
    if s.baud == 0 {
        cx.problem(join(&sp, "baud"), "must be positive");
    }
    if !(5..=8).contains(&s.data_bits) {
        cx.problem(join(&sp, "data_bits"), "must be 5, 6, 7 or 8");
    }
    if !(1..=2).contains(&s.stop_bits) {
        cx.problem(join(&sp, "stop_bits"), "must be 1 or 2");
    }
}

/// The driver's timing keys of one bus.
pub(crate) struct Timing {
    pub(crate) timeout: Duration,
    pub(crate) reconnect_min: Duration,
    pub(crate) reconnect_max: Duration,
    pub(crate) status_interval: Duration,
    pub(crate) degraded_after: u32,
}

/// Each of `at_most_a_day` (key, value) is at most a day; then the timing
/// rules the driver relies on.
pub(crate) fn check_timing(
    at: &str,
    t: &Timing,
    at_most_a_day: &[(&str, Duration)],
    cx: &mut Check,
) {
    let day = Duration::from_secs(86400);
    for (key, d) in at_most_a_day {
        if *d > day {
            cx.problem(join(at, key), "must be at most 1 day");
        }
    }
    if t.timeout.is_zero() {
        cx.problem(
            join(at, "timeout"),
            "must be positive: every request needs a timeout",
        );
    }
    if t.reconnect_min.is_zero() || t.reconnect_min > t.reconnect_max {
        cx.problem(
            join(at, "reconnect_min"),
            "must be positive and at most reconnect_max",
        );
    }
    if t.degraded_after == 0 {
        cx.problem(join(at, "degraded_after"), "must be at least 1");
    }
    if t.status_interval.is_zero() {
        cx.problem(join(at, "status_interval"), "must be positive");
    }
}
