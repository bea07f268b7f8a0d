//! Sound-level statistics: energetic means, percentiles and their merging.
//!
//! Invariant: everything in [`LevelStats`] is additive, so a window's
//! statistics are the merge of its parts (minutes → hour) and equal to
//! recording every sample into the larger window directly (up to the 0.1 dB
//! resolution of the percentile histogram).

use serde::{Deserialize, Serialize};

use super::histogram::{bin, Histogram};

/// 10·lg(x).
pub fn db(x: f64) -> f64 {
    10.0 * x.log10()
}

/// 10^(0.1·L), the relative energy of a level.
pub fn energy(level: f64) -> f64 {
    (level * (std::f64::consts::LN_10 / 10.0)).exp()
}

/// The equivalent continuous level of equally spaced levels.
pub fn leq(levels: &[f64]) -> Option<f64> {
    if levels.is_empty() {
        return None;
    }
    Some(db(
        levels.iter().map(|l| energy(*l)).sum::<f64>() / levels.len() as f64
    ))
}

/// L_dn = 10·lg((16·10^(0.1·Ld) + 8·10^(0.1·(Ln+10))) / 24), for the
/// standard 16 h day; `day_hours` generalises the weights.
pub fn ldn(ld: f64, ln: f64, day_hours: f64) -> f64 {
    let night_hours = 24.0 - day_hours;
    db((day_hours * energy(ld) + night_hours * energy(ln + 10.0)) / 24.0)
}

/// Textbook estimate from percentiles: L_eq ≈ L50 + (L10 − L90)²/60.
pub fn leq_from_percentiles(l10: f64, l50: f64, l90: f64) -> f64 {
    l50 + (l10 - l90).powi(2) / 60.0
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LevelStats {
    pub n: u64,
    pub energy: f64,
    pub sum: f64,
    pub sum_sq: f64,
    pub min: f64,
    pub max: f64,
    /// 0.1 dB bins, sparse until dense is smaller (see `histogram`).
    hist: Histogram,
}

/// The figures of a closed window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub leq: f64,
    pub lmax: f64,
    pub lmin: f64,
    pub l5: f64,
    pub l10: f64,
    pub l50: f64,
    pub l90: f64,
    pub l95: f64,
    pub std: f64,
    pub count: u64,
}

impl LevelStats {
    /// Adds one sample: its L_eq, and the max/min over its interval when the
    /// device reports them.
    pub fn add(&mut self, laeq: f64, lamax: f64, lamin: f64) {
        if self.n == 0 {
            self.min = lamin;
            self.max = lamax;
        } else {
            self.min = self.min.min(lamin);
            self.max = self.max.max(lamax);
        }
        self.n += 1;
        self.energy += energy(laeq);
        self.sum += laeq;
        self.sum_sq += laeq * laeq;
        self.hist.add(bin(laeq), 1);
    }

    pub fn merge(&mut self, o: &LevelStats) {
        if o.n == 0 {
            return;
        }
        if self.n == 0 {
            self.min = o.min;
            self.max = o.max;
        } else {
            self.min = self.min.min(o.min);
            self.max = self.max.max(o.max);
        }
        self.n += o.n;
        self.energy += o.energy;
        self.sum += o.sum;
        self.sum_sq += o.sum_sq;
        self.hist.merge(&o.hist);
    }

    /// L_N, the level exceeded N % of the time, by the field rule of
    /// `shared/reference/indicators.md`: sort the samples loudest first and
    /// take the ⌈N·n/100⌉-th, counting from 1. Exact at the histogram's
    /// 0.1 dB resolution (the rank is integer arithmetic, never a float).
    fn exceeded(&self, pct: u64) -> f64 {
        let rank = rank_loudest_first(pct, self.n);
        match self.hist.nth_loudest(rank) {
            Some(b) => f64::from(b) / 10.0,
            // Only when the histogram disagrees with `n` (a damaged
            // checkpoint): the quietest level is the safest answer.
            None => self.min,
        }
    }

    pub fn summary(&self) -> Option<Summary> {
        if self.n == 0 {
            return None;
        }
        let n = self.n as f64;
        let mean = self.sum / n;
        let var = (self.sum_sq / n - mean * mean).max(0.0);
        Some(Summary {
            leq: db(self.energy / n),
            lmax: self.max,
            lmin: self.min,
            l5: self.exceeded(5),
            l10: self.exceeded(10),
            l50: self.exceeded(50),
            l90: self.exceeded(90),
            l95: self.exceeded(95),
            std: var.sqrt(),
            count: self.n,
        })
    }
}

/// ⌈pct·n/100⌉, at least 1: the rank, loudest first and counting from 1, of
/// the sample that is L_pct among `n` samples.
fn rank_loudest_first(pct: u64, n: u64) -> u64 {
    pct.saturating_mul(n).div_ceil(100).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_at_50_and_half_at_60_gives_57_4() {
        let l = leq(&[50.0, 60.0]).unwrap();
        assert!((l - 57.4).abs() < 0.05, "{l}");
    }

    #[test]
    fn leq_of_equal_levels_is_that_level() {
        assert!((leq(&[63.2; 10]).unwrap() - 63.2).abs() < 1e-9);
    }

    /// `n` samples at `first_tenths`, `first_tenths + 1`, … tenths of a dB
    /// (each level `repeat` times), recorded in a scrambled order (stride 13,
    /// coprime to every n used here) so that no test depends on input order.
    fn ramp(n: u64, first_tenths: u64, repeat: u64) -> LevelStats {
        let mut s = LevelStats::default();
        for i in 0..n {
            let j = (i * 13 + 5) % n;
            let l = (first_tenths + j / repeat) as f64 / 10.0;
            s.add(l, l, l);
        }
        s
    }

    /// (L5, L10, L50, L90, L95) of a summary.
    fn ln(s: &LevelStats) -> (f64, f64, f64, f64, f64) {
        let m = s.summary().unwrap();
        (m.l5, m.l10, m.l50, m.l90, m.l95)
    }

    // Golden tests of the rule in shared/reference/indicators.md: sort
    // loudest first, L_N is the ⌈N·n/100⌉-th, counting from 1. Every
    // expected value below is worked out by hand and written literally.

    #[test]
    fn one_sample_is_every_percentile() {
        // n = 1: ⌈5/100⌉ = ⌈10/100⌉ = ⌈50/100⌉ = ⌈90/100⌉ = ⌈95/100⌉ = 1st.
        assert_eq!(ln(&ramp(1, 473, 1)), (47.3, 47.3, 47.3, 47.3, 47.3));
    }

    #[test]
    fn seven_samples_round_the_rank_up() {
        // 40.0 … 46.0 dB; loudest first: 46.0, 45.0, 44.0, 43.0, 42.0, 41.0, 40.0.
        // L5: ⌈0.35⌉ = 1st = 46.0; L10: ⌈0.7⌉ = 1st = 46.0; L50: ⌈3.5⌉ = 4th = 43.0;
        // L90: ⌈6.3⌉ = 7th = 40.0; L95: ⌈6.65⌉ = 7th = 40.0.
        let mut s = LevelStats::default();
        for l in [43.0, 40.0, 46.0, 41.0, 45.0, 42.0, 44.0] {
            s.add(l, l, l);
        }
        assert_eq!(ln(&s), (46.0, 46.0, 43.0, 40.0, 40.0));
    }

    #[test]
    fn hourly_l10_of_minute_samples_is_the_sixth_loudest_of_sixty() {
        // 60 samples 30.1 … 36.0 dB; the r-th loudest is 36.0 − 0.1·(r − 1).
        // L5: 3rd = 35.8; L10: 6th = 35.5 (not the 7th, 35.4); L50: 30th = 33.1;
        // L90: 54th = 30.7; L95: 57th = 30.4.
        assert_eq!(ln(&ramp(60, 301, 1)), (35.8, 35.5, 33.1, 30.7, 30.4));
    }

    #[test]
    fn hundred_samples_take_the_tenth_fiftieth_and_ninetieth_loudest() {
        // 100 samples 40.1 … 50.0 dB; the r-th loudest is 50.0 − 0.1·(r − 1).
        // L5: 5th = 49.6; L10: 10th = 49.1; L50: 50th = 45.1; L90: 90th = 41.1;
        // L95: 95th = 40.6.
        // (Before issue 12 this test asserted 49.0 / 45.0 / 41.0, the ascending
        // 90th/50th/10th sample, one rank off the rule in indicators.md.)
        assert_eq!(ln(&ramp(100, 401, 1)), (49.6, 49.1, 45.1, 41.1, 40.6));
    }

    #[test]
    fn two_hundred_samples_take_the_twentieth_hundredth_and_180th_loudest() {
        // 200 samples 30.1 … 50.0 dB; the r-th loudest is 50.0 − 0.1·(r − 1).
        // L5: 10th = 49.1; L10: 20th = 48.1; L50: 100th = 40.1; L90: 180th = 32.1;
        // L95: 190th = 31.1.
        assert_eq!(ln(&ramp(200, 301, 1)), (49.1, 48.1, 40.1, 32.1, 31.1));
    }

    #[test]
    fn an_hour_of_one_second_samples_with_ties() {
        // 3,600 samples: 360 levels 40.0 … 75.9 dB, each 10 times; the r-th
        // loudest is 75.9 − 0.1·(⌈r/10⌉ − 1).
        // L5: 180th → 18th level = 74.2; L10: 360th → 36th = 72.4;
        // L50: 1800th → 180th = 58.0; L90: 3240th → 324th = 43.6;
        // L95: 3420th → 342nd = 41.8.
        assert_eq!(ln(&ramp(3600, 400, 10)), (74.2, 72.4, 58.0, 43.6, 41.8));
    }

    #[test]
    fn percentiles_of_merged_minutes_equal_the_hour() {
        // 60 minutes of the 3,600-sample hour above, merged.
        let mut hour = LevelStats::default();
        for m in 0..60u64 {
            let mut minute = LevelStats::default();
            for k in 0..60 {
                let l = (400 + (m * 60 + k) / 10) as f64 / 10.0;
                minute.add(l, l, l);
            }
            hour.merge(&minute);
        }
        assert_eq!(ln(&hour), (74.2, 72.4, 58.0, 43.6, 41.8));
    }

    #[test]
    fn rank_is_integer_ceiling_and_at_least_one() {
        assert_eq!(rank_loudest_first(10, 60), 6);
        assert_eq!(rank_loudest_first(10, 61), 7);
        assert_eq!(rank_loudest_first(50, 7), 4);
        assert_eq!(rank_loudest_first(95, 1), 1);
        assert_eq!(rank_loudest_first(10, 0), 1);
    }

    #[test]
    fn ldn_penalises_night_by_ten_db() {
        let v = ldn(55.0, 45.0, 16.0);
        assert!((v - 55.0).abs() < 1e-9);
    }
}
