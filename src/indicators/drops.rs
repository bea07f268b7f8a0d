//! Readings the engine leaves out: counted per device and reason
//! (`indicator_dropped_readings_total{device, reason}`) and logged at most
//! once per device and hour, with how many were left out since.

use crate::metrics::Counter;

const HOUR: i64 = 3_600_000_000_000;

#[derive(Default)]
struct Slot {
    late: Option<Counter>,
    future: Option<Counter>,
    /// The hour (engine clock) last logged, and drops since that line.
    logged: Option<i64>,
    since: u64,
}

/// Per device index: counters created on the first drop, log limits.
#[derive(Default)]
pub(super) struct Drops(Vec<Slot>);

impl Drops {
    /// One reading of device `i` stamped `t` dropped for `reason` ("late":
    /// beyond the device's lateness; "future": beyond `max_clock_skew`).
    pub(super) fn drop(&mut self, i: usize, id: &str, reason: &'static str, t: i64, now: i64) {
        if self.0.len() <= i {
            self.0.resize_with(i + 1, Slot::default);
        }
        let s = &mut self.0[i];
        let c = if reason == "late" {
            &mut s.late
        } else {
            &mut s.future
        };
        c.get_or_insert_with(|| {
            crate::metrics::counter(
                "indicator_dropped_readings_total",
                "Readings left out of the indicators, per device and reason (late, future).",
                &[("device", id), ("reason", reason)],
            )
        })
        .inc();
        s.since += 1;
        let hour = now.div_euclid(HOUR);
        if s.logged != Some(hour) {
            s.logged = Some(hour);
            let since = std::mem::take(&mut s.since);
            tracing::warn!(
                device = id,
                reason,
                reading_time_ns = t,
                engine_now_ns = now,
                dropped_since_last_line = since,
                "Readings left out of the indicators: late beyond the device's lateness, or \
                 stamped ahead of the clock; raise [indicators.<class>] lateness or the \
                 device's lateness for meters that upload in batches (logged once per device \
                 and hour)."
            );
        }
    }
}
