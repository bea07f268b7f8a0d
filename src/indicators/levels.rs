//! Sound-level statistics: energetic means, percentiles and their merging.
//!
//! Invariant: everything in [`LevelStats`] is additive, so a window's
//! statistics are the merge of its parts (minutes → hour) and equal to
//! recording every sample into the larger window directly (up to the 0.1 dB
//! resolution of the percentile histogram).

use serde::{Deserialize, Serialize};

/// Histogram bins: 0.1 dB from 0 to 150 dB.
const BINS: usize = 1500;

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
    #[serde(with = "sparse")]
    hist: Vec<u32>,
}

/// The figures of a closed window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub leq: f64,
    pub lmax: f64,
    pub lmin: f64,
    pub l10: f64,
    pub l50: f64,
    pub l90: f64,
    pub std: f64,
    pub count: u64,
}

fn bin(level: f64) -> usize {
    ((level * 10.0).round().max(0.0) as usize).min(BINS - 1)
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
        if self.hist.is_empty() {
            self.hist = vec![0; BINS];
        }
        self.hist[bin(laeq)] += 1;
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
        if self.hist.is_empty() {
            self.hist = vec![0; BINS];
        }
        for (a, b) in self.hist.iter_mut().zip(&o.hist) {
            *a += b;
        }
    }

    /// The level at or below which a fraction `q` of samples lie.
    fn quantile(&self, q: f64) -> f64 {
        let target = ((q * self.n as f64).ceil() as u64).max(1);
        let mut acc = 0u64;
        for (i, c) in self.hist.iter().enumerate() {
            acc += *c as u64;
            if acc >= target {
                return i as f64 / 10.0;
            }
        }
        self.max
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
            l10: self.quantile(0.9),
            l50: self.quantile(0.5),
            l90: self.quantile(0.1),
            std: var.sqrt(),
            count: self.n,
        })
    }
}

/// The histogram as `[bin, count]` pairs of its non-empty bins.
mod sparse {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(h: &[u32], s: S) -> Result<S::Ok, S::Error> {
        let pairs: Vec<(u32, u32)> = h
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| (i as u32, *c))
            .collect();
        pairs.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u32>, D::Error> {
        let pairs: Vec<(u32, u32)> = Vec::deserialize(d)?;
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let mut h = vec![0u32; super::BINS];
        for (i, c) in pairs {
            if let Some(slot) = h.get_mut(i as usize) {
                *slot = c;
            }
        }
        Ok(h)
    }
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

    #[test]
    fn percentiles_follow_the_exceedance_convention() {
        let mut s = LevelStats::default();
        for i in 1..=100 {
            let l = 40.0 + i as f64 * 0.1;
            s.add(l, l, l);
        }
        let m = s.summary().unwrap();
        assert!(
            (m.l10 - 49.0).abs() < 0.01,
            "L10 is exceeded 10 % of the time"
        );
        assert!((m.l90 - 41.0).abs() < 0.01);
        assert!((m.l50 - 45.0).abs() < 0.01);
        assert_eq!(m.count, 100);
    }

    #[test]
    fn ldn_penalises_night_by_ten_db() {
        let v = ldn(55.0, 45.0, 16.0);
        assert!((v - 55.0).abs() < 1e-9);
    }
}
