//! Reads a device refuses: what the poller does with an exception answer,
//! and the per-register state that spaces out retries of a refused read.
//!
//! A coalesced read refused with any exception (01 illegal function, 02
//! illegal data address, 03 illegal data value, 04 server device failure,
//! 0B gateway target device failed to respond, …) is halved until the
//! refusing register(s) sit in reads of their own, so their neighbours keep
//! their values. A read that cannot be cut further is refused: logged once
//! per device and register with its code and meaning, counted in
//! `modbus_read_refusals_total{endpoint, device, code}`, and retried only
//! after the device's back-off, growing while it keeps refusing.
//!
//! 0B is also what a gateway answers for a dead device. It is taken as a
//! refusal only once the device has answered something in this poll; before
//! that, one halving is tried as a probe, and a 0B to the probe's first half
//! means the device is silent: the plan is restored and the poll failed, so
//! a dead device behind a gateway costs one extra request per poll.
//!
//! Pure except for [`count`]: the decision and the retry state are plain types.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;
use tokio_modbus::ExceptionCode;

use super::planner::Read;
use super::transport::ReadError;
use crate::backoff::Backoff;
use crate::profiles::modbus::Table;

/// What to do with a failed read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Halve the read and read both halves now.
    Split(ExceptionCode),
    /// The read cannot be cut: mark its registers refused with this code.
    Refused(ExceptionCode),
    /// The device did not answer: the poll failed.
    DeviceFailed,
    /// Anything else (a busy device after its retries): mark, retry next poll.
    Other,
}

/// The exception code when `e` is the device refusing the read.
pub fn refusal_code(e: &ReadError) -> Option<ExceptionCode> {
    match e {
        ReadError::Exception(c) => Some(*c),
        ReadError::Gateway(c @ ExceptionCode::GatewayTargetDevice) => Some(*c),
        _ => None,
    }
}

/// Decides on a failed read. `splittable`: the read can be halved;
/// `alive`: the device answered something in this poll; `probing`: a
/// halving on 0B is being tried while the device had not yet answered.
pub fn decide(e: &ReadError, splittable: bool, alive: bool, probing: bool) -> Decision {
    let Some(code) = refusal_code(e) else {
        return if e.device_failed() {
            Decision::DeviceFailed
        } else {
            Decision::Other
        };
    };
    let gateway = matches!(e, ReadError::Gateway(_));
    if gateway && !alive && (probing || !splittable) {
        return Decision::DeviceFailed;
    }
    if splittable {
        Decision::Split(code)
    } else {
        Decision::Refused(code)
    }
}

/// The `code` label: two hex digits, as datasheets print them.
pub fn code_label(code: ExceptionCode) -> String {
    format!("{:02X}", u8::from(code))
}

/// Counts one refused read.
pub fn count(endpoint: &str, device: &str, code: ExceptionCode) {
    crate::metrics::counter(
        "modbus_read_refusals_total",
        "Modbus reads a device refused with an exception, by code (coalesced reads being split included).",
        &[
            ("endpoint", endpoint),
            ("device", device),
            ("code", &code_label(code)),
        ],
    )
    .inc();
}

/// One refused read's state.
#[derive(Debug, Clone)]
struct Mark {
    /// Not read again before this instant (`None`: next poll).
    retry_at: Option<Instant>,
    backoff: Backoff,
}

/// Refused reads of one device, by (table, start).
#[derive(Debug, Default)]
pub struct Refusals(BTreeMap<(Table, u16), Mark>);

impl Refusals {
    /// Whether `read` is refused and its back-off has not run out at `now`.
    pub fn waiting(&self, read: &Read, now: Instant) -> bool {
        self.0
            .get(&(read.table, read.start))
            .and_then(|m| m.retry_at)
            .is_some_and(|t| now < t)
    }

    /// Records a refusal at `now`; with `backoff` (the device's, reset) the
    /// read waits out a growing delay. Returns whether it is new (to log it
    /// once) and the delay until its retry.
    pub fn refuse(
        &mut self,
        read: &Read,
        backoff: Option<&Backoff>,
        now: Instant,
    ) -> (bool, Option<Duration>) {
        let key = (read.table, read.start);
        let new = !self.0.contains_key(&key);
        let m = self.0.entry(key).or_insert_with(|| Mark {
            retry_at: None,
            backoff: backoff.cloned().map_or_else(
                || Backoff::new(Duration::ZERO, Duration::ZERO),
                |mut b| {
                    b.reset();
                    b
                },
            ),
        });
        let wait = backoff.map(|_| m.backoff.next_delay());
        m.retry_at = wait.map(|w| super::device::later(now, w));
        (new, wait)
    }

    /// Forgets `read` after an answer; true when it had been refused.
    pub fn answered(&mut self, read: &Read) -> bool {
        self.0.remove(&(read.table, read.start)).is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ExceptionCode::*;

    #[test]
    fn every_exception_code_splits_a_coalesced_read() {
        for c in [
            IllegalFunction,
            IllegalDataAddress,
            IllegalDataValue,
            ServerDeviceFailure,
        ] {
            let e = ReadError::Exception(c);
            assert_eq!(decide(&e, true, false, false), Decision::Split(c));
            assert_eq!(decide(&e, false, false, false), Decision::Refused(c));
        }
        let e = ReadError::Gateway(GatewayTargetDevice);
        assert_eq!(
            decide(&e, true, true, false),
            Decision::Split(GatewayTargetDevice)
        );
        assert_eq!(
            decide(&e, false, true, false),
            Decision::Refused(GatewayTargetDevice)
        );
    }

    #[test]
    fn a_gateway_timeout_before_any_answer_is_probed_once_then_a_dead_device() {
        let e = ReadError::Gateway(GatewayTargetDevice);
        assert_eq!(
            decide(&e, true, false, false),
            Decision::Split(GatewayTargetDevice)
        );
        assert_eq!(decide(&e, true, false, true), Decision::DeviceFailed);
        assert_eq!(decide(&e, false, false, false), Decision::DeviceFailed);
        let path = ReadError::Gateway(GatewayPathUnavailable);
        assert_eq!(decide(&path, true, true, false), Decision::DeviceFailed);
    }

    #[test]
    fn timeouts_fail_the_device_and_busy_is_other() {
        let t = ReadError::Timeout(Duration::from_secs(1));
        assert_eq!(decide(&t, true, true, false), Decision::DeviceFailed);
        assert_eq!(decide(&ReadError::Busy, true, true, false), Decision::Other);
    }

    #[test]
    fn codes_are_labelled_in_hex() {
        assert_eq!(code_label(ServerDeviceFailure), "04");
        assert_eq!(code_label(GatewayTargetDevice), "0B");
    }

    #[test]
    fn a_refused_read_waits_out_a_growing_backoff_and_is_forgotten_on_an_answer() {
        let read = Read {
            table: Table::Holding,
            start: 3,
            count: 1,
            fields: vec![0],
        };
        let b = Backoff::new(Duration::from_secs(1), Duration::from_secs(8)).with_jitter(0.0);
        let mut r = Refusals::default();
        let t0 = Instant::now();
        assert_eq!(
            r.refuse(&read, Some(&b), t0),
            (true, Some(Duration::from_secs(1)))
        );
        assert!(r.waiting(&read, t0));
        assert!(!r.waiting(&read, t0 + Duration::from_secs(1)));
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(
            r.refuse(&read, Some(&b), t1),
            (false, Some(Duration::from_secs(2)))
        );
        assert!(r.waiting(&read, t1 + Duration::from_millis(1999)));
        assert!(r.answered(&read));
        assert!(r.is_empty());
        // Without a back-off (busy) the read is only marked.
        assert_eq!(r.refuse(&read, None, t1), (true, None));
        assert!(!r.waiting(&read, t1));
    }
}
