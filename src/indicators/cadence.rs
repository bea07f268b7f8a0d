//! A noise sensor's observed sampling interval, next to the configured one.
//!
//! Coverage (samples received ÷ samples due) decides whether a minute, an
//! hour and a noise day are valid, and "due" comes from `sample_interval`.
//! A 1-minute sensor left at the default `"1s"` reaches 1/60 coverage and
//! never has a valid hour. So each sensor's median gap over its last
//! samples is tracked; when it differs from the configured interval by more
//! than 2× this is logged once (`NoiseSampleIntervalMismatch`), exported as
//! `indicator_observed_sample_interval_seconds` and
//! `indicator_sample_interval_mismatch`, and an invalid hour says why
//! (`invalid_reason = "sample_interval_mismatch"`).
//!
//! The configured interval stays the one coverage is judged by: following
//! the observed one would call a sensor that lost half its samples fully
//! covered. See docs/indicators.md.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

use super::window::SECOND;

/// Gaps kept for the median.
const GAPS: usize = 15;
/// Gaps needed before the median is trusted.
const MIN_GAPS: usize = 5;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(super) struct Cadence {
    last: Option<i64>,
    gaps: VecDeque<i64>,
    /// The mismatch was logged (cleared when the sensor is back in line).
    warned: bool,
}

impl Cadence {
    /// One sample stamped `t` (ns). Out-of-order and duplicate stamps are
    /// not gaps.
    pub(super) fn sample(&mut self, t: i64) {
        match self.last {
            Some(l) if t > l => {
                if self.gaps.len() == GAPS {
                    self.gaps.pop_front();
                }
                self.gaps.push_back(t - l);
                self.last = Some(t);
            }
            Some(_) => {}
            None => self.last = Some(t),
        }
    }

    /// The median of the recent gaps (ns), once there are enough of them.
    pub(super) fn median(&self) -> Option<i64> {
        if self.gaps.len() < MIN_GAPS {
            return None;
        }
        let mut g: Vec<i64> = self.gaps.iter().copied().collect();
        g.sort_unstable();
        Some(g[g.len() / 2])
    }

    /// The observed interval when it is more than 2× off the configured
    /// `interval_ns` (either way).
    pub(super) fn mismatch(&self, interval_ns: i64) -> Option<i64> {
        let m = self.median()?;
        (interval_ns > 0 && (m > 2 * interval_ns || 2 * m < interval_ns)).then_some(m)
    }

    /// Exports the observed interval of sensor `id` and logs a mismatch
    /// once (again after the sensor was back in line).
    pub(super) fn report(&mut self, id: &str, interval_ns: i64) {
        let Some(m) = self.median() else { return };
        let l = [("device", id)];
        crate::metrics::gauge(
            "indicator_observed_sample_interval_seconds",
            "Median gap between a noise sensor's recent samples.",
            &l,
        )
        .set(m / SECOND);
        let off = self.mismatch(interval_ns);
        crate::metrics::gauge(
            "indicator_sample_interval_mismatch",
            "1 while a noise sensor's observed sampling interval is more than 2x off its \
             configured sample_interval.",
            &l,
        )
        .set(i64::from(off.is_some()));
        match off {
            Some(m) if !self.warned => {
                self.warned = true;
                tracing::warn!(
                    event = "NoiseSampleIntervalMismatch",
                    device = id,
                    observed_s = m as f64 / SECOND as f64,
                    configured_s = interval_ns as f64 / SECOND as f64,
                    metric = "indicator_sample_interval_mismatch",
                    "Noise sensor samples at another interval than configured: coverage is \
                     judged by sample_interval, so its hours may be invalid; set \
                     [devices.<id>.indicators] sample_interval (or [indicators.noise] \
                     sample_interval) to the sensor's interval."
                );
            }
            None => self.warned = false,
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_gap_ignores_an_outage_and_reordering() {
        let mut c = Cadence::default();
        for (i, t) in [0, 60, 120, 180, 900, 960, 1020, 1000].iter().enumerate() {
            c.sample(t * SECOND);
            if i < 5 {
                assert_eq!(c.median(), None);
            }
        }
        assert_eq!(c.median(), Some(60 * SECOND));
        assert_eq!(c.mismatch(SECOND), Some(60 * SECOND));
        assert_eq!(c.mismatch(60 * SECOND), None);
        assert_eq!(c.mismatch(100 * SECOND), None);
        assert_eq!(c.mismatch(200 * SECOND), Some(60 * SECOND));
    }
}
