//! Event time as the only clock: the watermark follows the readings, never
//! the wall clock, so a past day can be replayed (`greengate replay`) or
//! ingested by a daemon running with `watermark = "event_time"`.
//!
//! Invariants:
//! - the clock is the newest accepted reading time. A reading becomes the
//!   newest only when it is at most `max_clock_skew` ahead of the newest so
//!   far or of the wall clock, whichever is later: one device with a wrong
//!   clock cannot close every window (its reading is dropped as `future`);
//! - the engine is advanced *before* a reading is recorded once the clock
//!   has moved more than `min(1 s, max_clock_skew)` past the last advance,
//!   so no accepted reading is ever `future` and at most one advance runs
//!   per event-time second;
//! - the same readings in the same order give the same advances, whether a
//!   daemon or a replay feeds them: a replay of a day equals the live result.

use super::engine::IndicatorEngine;
use crate::model::Reading;

const SECOND: i64 = 1_000_000_000;

/// The event-time clock of one engine.
#[derive(Debug, Clone)]
pub struct EventClock {
    newest: i64,
    advanced: i64,
    skew: i64,
}

impl EventClock {
    /// A clock that accepts readings up to `skew_ns` ahead of itself or of the wall clock.
    pub fn new(skew_ns: i64) -> Self {
        EventClock {
            newest: i64::MIN,
            advanced: i64::MIN,
            skew: skew_ns.max(0),
        }
    }

    /// The newest accepted reading time, once there is one.
    pub fn now(&self) -> Option<i64> {
        (self.newest != i64::MIN).then_some(self.newest)
    }

    /// Moves the clock with `r`, advances the engine when due (the closed
    /// windows go to `out`), then records `r`.
    pub fn feed(
        &mut self,
        e: &mut IndicatorEngine,
        r: &Reading,
        wall_ns: i64,
        out: &mut Vec<Reading>,
    ) {
        let t = r.time_ns;
        if t > self.newest && t <= self.newest.max(wall_ns).saturating_add(self.skew) {
            self.newest = t;
        }
        let step = SECOND.min(self.skew);
        if self.newest != i64::MIN
            && (self.advanced == i64::MIN || self.newest > self.advanced.saturating_add(step))
        {
            out.extend(e.advance(self.newest));
            self.advanced = self.newest;
        }
        e.record(r);
    }

    /// Advances the engine to the clock (nothing before the first reading).
    pub fn advance(&mut self, e: &mut IndicatorEngine) -> Vec<Reading> {
        match self.now() {
            Some(t) => {
                self.advanced = t;
                e.advance(t)
            }
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::config::IndicatorsConfig;
    use crate::model::FieldValue;

    const MIN: i64 = 60 * SECOND;
    /// 2026-03-10T00:00:00+08:00, long before the wall clock of any test run.
    const PAST: i64 = 1_773_072_000 * SECOND;

    fn noise(t: i64) -> Reading {
        let mut r = Reading::new("noise", t);
        r.set_tag("device", "n-1");
        r.add_field("laeq", FieldValue::Float(50.0));
        r
    }

    #[test]
    fn a_past_day_closes_its_windows_from_its_own_readings() {
        let cfg = IndicatorsConfig::default();
        let mut e = IndicatorEngine::new(&cfg, &Default::default(), "c", 8 * 3600);
        let mut c = EventClock::new(600 * SECOND);
        let mut out = Vec::new();
        for s in 0..(10 * 60) {
            c.feed(
                &mut e,
                &noise(PAST + s * SECOND),
                crate::model::now_ns(),
                &mut out,
            );
        }
        out.extend(c.advance(&mut e));
        let minutes = out
            .iter()
            .filter(|r| r.measurement == "gg_noise_minute")
            .count();
        // Ten minutes of readings, two minutes of lateness: minutes 0..=6 closed.
        assert_eq!(minutes, 7);
        assert_eq!(e.late_readings(), 0);
        assert_eq!(e.watermark(), PAST + 10 * MIN - SECOND - 2 * MIN);
    }

    #[test]
    fn a_reading_far_ahead_of_the_clock_does_not_move_it() {
        let cfg = IndicatorsConfig::default();
        let mut e = IndicatorEngine::new(&cfg, &Default::default(), "c", 8 * 3600);
        let mut c = EventClock::new(600 * SECOND);
        let mut out = Vec::new();
        c.feed(&mut e, &noise(PAST), PAST, &mut out);
        c.feed(&mut e, &noise(PAST + 3600 * SECOND), PAST, &mut out);
        assert_eq!(c.now(), Some(PAST));
        assert!(out.is_empty());
    }
}
