//! Report by exception: send a field only when it moved past its deadband,
//! or when its heartbeat interval has passed since it was last sent.
//!
//! Pure. A numeric field is sent when `|v - last| >= deadband` or
//! `|v - last| >= deadband_pct / 100 * |last|` (either threshold; an unset
//! one never fires), a non-numeric field when it differs from the last sent
//! value. The first value is always sent. Fields without settings are
//! always sent (the default, and the rule for cumulative counters).

use crate::model::FieldValue;
use crate::profiles::modbus::Rbe;

/// The last value sent of one field.
#[derive(Debug, Clone, PartialEq)]
pub struct Last {
    pub value: FieldValue,
    pub time_ns: i64,
}

/// Whether `v`, read at `now_ns`, should be sent, given the last sent value.
pub fn should_send(rbe: Option<&Rbe>, last: Option<&Last>, v: &FieldValue, now_ns: i64) -> bool {
    let (Some(rbe), Some(last)) = (rbe, last) else {
        return true;
    };
    if now_ns.saturating_sub(last.time_ns) >= rbe.heartbeat.as_nanos() as i64 {
        return true;
    }
    match (v.as_f64(), last.value.as_f64(), v, &last.value) {
        (_, _, FieldValue::Bool(a), FieldValue::Bool(b)) => a != b,
        (Some(a), Some(b), _, _) => {
            let d = (a - b).abs();
            d >= rbe.deadband || d >= rbe.deadband_pct / 100.0 * b.abs()
        }
        _ => v != &last.value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const S: i64 = 1_000_000_000;

    fn rbe(deadband: f64, pct: f64) -> Rbe {
        Rbe {
            deadband,
            deadband_pct: pct,
            heartbeat: Duration::from_secs(60),
        }
    }

    fn last(v: f64, t: i64) -> Last {
        Last {
            value: FieldValue::Float(v),
            time_ns: t,
        }
    }

    #[test]
    fn fields_without_settings_are_always_sent() {
        assert!(should_send(
            None,
            Some(&last(1.0, 0)),
            &FieldValue::Float(1.0),
            1
        ));
    }

    #[test]
    fn the_first_value_is_always_sent() {
        assert!(should_send(
            Some(&rbe(1.0, f64::INFINITY)),
            None,
            &FieldValue::Float(1.0),
            0
        ));
    }

    #[test]
    fn absolute_deadband_suppresses_small_moves() {
        let r = rbe(0.5, f64::INFINITY);
        let l = last(60.0, 0);
        assert!(!should_send(
            Some(&r),
            Some(&l),
            &FieldValue::Float(60.4),
            S
        ));
        assert!(should_send(Some(&r), Some(&l), &FieldValue::Float(60.5), S));
        assert!(should_send(Some(&r), Some(&l), &FieldValue::Float(59.4), S));
    }

    #[test]
    fn percent_deadband_is_relative_to_the_last_sent_value() {
        let r = rbe(f64::INFINITY, 1.0);
        let l = last(200.0, 0);
        assert!(!should_send(
            Some(&r),
            Some(&l),
            &FieldValue::Float(201.9),
            S
        ));
        assert!(should_send(
            Some(&r),
            Some(&l),
            &FieldValue::Float(202.0),
            S
        ));
    }

    #[test]
    fn heartbeat_sends_unchanged_values_periodically() {
        let r = rbe(0.5, f64::INFINITY);
        let l = last(60.0, 0);
        assert!(!should_send(
            Some(&r),
            Some(&l),
            &FieldValue::Float(60.0),
            59 * S
        ));
        assert!(should_send(
            Some(&r),
            Some(&l),
            &FieldValue::Float(60.0),
            60 * S
        ));
    }

    #[test]
    fn bools_and_strings_are_sent_on_any_change() {
        let r = rbe(5.0, f64::INFINITY);
        let l = Last {
            value: FieldValue::Bool(false),
            time_ns: 0,
        };
        assert!(should_send(Some(&r), Some(&l), &FieldValue::Bool(true), S));
        assert!(!should_send(
            Some(&r),
            Some(&l),
            &FieldValue::Bool(false),
            S
        ));
        let l = Last {
            value: FieldValue::Str("ok".into()),
            time_ns: 0,
        };
        assert!(should_send(
            Some(&r),
            Some(&l),
            &FieldValue::Str("defectiveLamp".into()),
            S
        ));
        assert!(!should_send(
            Some(&r),
            Some(&l),
            &FieldValue::Str("ok".into()),
            S
        ));
    }
}
