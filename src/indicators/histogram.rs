//! The 0.1 dB level histogram of one noise window, grown as samples come.
//!
//! Levels are binned at 0.1 dB from 0 to 149.9 dB (1,500 bins; below 0 into
//! the first, above into the last). A window starts with no allocation,
//! keeps its non-empty bins as sorted `(bin, count)` pairs while it has at
//! most [`SPARSE_MAX`] distinct levels, and switches to the dense 1,500
//! counts beyond that, where the dense form is the smaller one. Both forms
//! hold the same counts, so percentiles are exact at 0.1 dB either way.
//!
//! Memory bound, at any input rate: an empty histogram holds nothing; a
//! sparse one at most 8 B × the distinct levels rounded up to a power of two
//! (≤ 4 KiB, a minute of 60 one-second samples ≤ 512 B); a dense one
//! 6,000 B. It grows with the spread of the levels, never with their count.
//!
//! On disk (checkpoints) it is the list of `[bin, count]` pairs of its
//! non-empty bins, the format dense histograms were written in before, so
//! older checkpoints load unchanged.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Histogram bins: 0.1 dB from 0 to 150 dB.
pub(super) const BINS: usize = 1500;

/// Distinct levels kept as pairs; one more makes the histogram dense. At
/// 512 pairs of 8 B (a power of two: the vector's capacity is exactly that)
/// the pairs take 4 KiB, below the dense form's 6,000 B.
pub(super) const SPARSE_MAX: usize = 512;

/// The bin of a level.
pub(super) fn bin(level: f64) -> u16 {
    ((level * 10.0).round().max(0.0) as usize).min(BINS - 1) as u16
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Histogram {
    /// Non-empty bins, sorted by bin, at most [`SPARSE_MAX`].
    Sparse(Vec<(u16, u32)>),
    /// `BINS` counts.
    Dense(Vec<u32>),
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::Sparse(Vec::new())
    }
}

impl Histogram {
    /// Adds `count` samples to bin `b` (`b < BINS`).
    pub(super) fn add(&mut self, b: u16, count: u32) {
        if count == 0 || usize::from(b) >= BINS {
            return;
        }
        if let Histogram::Sparse(pairs) = self {
            match pairs.binary_search_by_key(&b, |p| p.0) {
                Ok(i) => {
                    pairs[i].1 = pairs[i].1.saturating_add(count);
                    return;
                }
                Err(i) if pairs.len() < SPARSE_MAX => {
                    pairs.insert(i, (b, count));
                    return;
                }
                Err(_) => self.densify(),
            }
        }
        if let Histogram::Dense(bins) = self {
            bins[usize::from(b)] = bins[usize::from(b)].saturating_add(count);
        }
    }

    fn densify(&mut self) {
        if let Histogram::Sparse(pairs) = self {
            let mut bins = vec![0u32; BINS];
            for (b, c) in pairs.iter() {
                bins[usize::from(*b)] = *c;
            }
            *self = Histogram::Dense(bins);
        }
    }

    /// Adds every count of `o`.
    pub(super) fn merge(&mut self, o: &Histogram) {
        match o {
            Histogram::Sparse(pairs) => {
                for (b, c) in pairs {
                    self.add(*b, *c);
                }
            }
            Histogram::Dense(bins) => {
                self.densify();
                if let Histogram::Dense(mine) = self {
                    for (a, c) in mine.iter_mut().zip(bins) {
                        *a = a.saturating_add(*c);
                    }
                }
            }
        }
    }

    /// The bin of the `rank`-th sample counting from the loudest (from 1),
    /// or `None` when the histogram holds fewer samples.
    pub(super) fn nth_loudest(&self, rank: u64) -> Option<u16> {
        let mut acc = 0u64;
        let mut hit = |c: u32| {
            acc += u64::from(c);
            acc >= rank
        };
        match self {
            Histogram::Sparse(pairs) => pairs.iter().rev().find(|(_, c)| hit(*c)).map(|p| p.0),
            Histogram::Dense(bins) => (0..BINS).rev().find(|i| hit(bins[*i])).map(|i| i as u16),
        }
    }

    /// The non-empty bins in ascending order.
    fn pairs(&self) -> Vec<(u32, u32)> {
        match self {
            Histogram::Sparse(p) => p.iter().map(|(b, c)| (u32::from(*b), *c)).collect(),
            Histogram::Dense(bins) => bins
                .iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(|(i, c)| (i as u32, *c))
                .collect(),
        }
    }
}

impl Serialize for Histogram {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.pairs().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Histogram {
    /// Bins outside the range are ignored, as they always were; a bin
    /// listed twice (never written so) keeps its last count, as the dense
    /// reader did.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut pairs: Vec<(u32, u32)> = Vec::deserialize(d)?;
        pairs.retain(|(b, c)| (*b as usize) < BINS && *c > 0);
        // Stable sort, then keep the last of equal bins.
        pairs.sort_by_key(|p| p.0);
        let mut h = Histogram::default();
        for (i, (b, c)) in pairs.iter().enumerate() {
            if pairs.get(i + 1).is_some_and(|n| n.0 == *b) {
                continue;
            }
            h.add(*b as u16, *c);
        }
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dense_of(h: &Histogram) -> Vec<u32> {
        let mut v = vec![0u32; BINS];
        for (b, c) in h.pairs() {
            v[b as usize] = c;
        }
        v
    }

    #[test]
    fn a_new_histogram_allocates_nothing() {
        match Histogram::default() {
            Histogram::Sparse(p) => assert_eq!(p.capacity(), 0),
            Histogram::Dense(_) => panic!("dense"),
        }
    }

    #[test]
    fn a_minute_of_samples_stays_sparse_and_small() {
        let mut h = Histogram::default();
        for i in 0..60u16 {
            h.add(400 + i * 3, 1);
        }
        match &h {
            Histogram::Sparse(p) => assert!(p.capacity() * 8 <= 512, "{}", p.capacity()),
            Histogram::Dense(_) => panic!("dense"),
        }
    }

    #[test]
    fn many_distinct_levels_switch_to_dense_with_the_same_counts() {
        let mut h = Histogram::default();
        let mut want = vec![0u32; BINS];
        for i in 0..5000u32 {
            let b = ((i * 7919) % BINS as u32) as u16;
            h.add(b, 1 + i % 3);
            want[b as usize] += 1 + i % 3;
        }
        assert!(matches!(h, Histogram::Dense(_)));
        assert_eq!(dense_of(&h), want);
    }

    #[test]
    fn merging_sparse_and_dense_adds_counts() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        for i in 0..(SPARSE_MAX as u16 + 10) {
            b.add(i, 2);
        }
        a.add(3, 5);
        a.add(1499, 1);
        let mut ab = a.clone();
        ab.merge(&b);
        let mut ba = b.clone();
        ba.merge(&a);
        assert_eq!(dense_of(&ab), dense_of(&ba));
        assert_eq!(dense_of(&ab)[3], 7);
        assert_eq!(dense_of(&ab)[1499], 1);
    }

    #[test]
    fn nth_loudest_counts_from_the_top() {
        let mut h = Histogram::default();
        h.add(500, 2);
        h.add(600, 1);
        h.add(400, 3);
        assert_eq!(h.nth_loudest(1), Some(600));
        assert_eq!(h.nth_loudest(2), Some(500));
        assert_eq!(h.nth_loudest(3), Some(500));
        assert_eq!(h.nth_loudest(4), Some(400));
        assert_eq!(h.nth_loudest(7), None);
        h.densify();
        assert_eq!(h.nth_loudest(3), Some(500));
        assert_eq!(h.nth_loudest(6), Some(400));
    }

    #[test]
    fn the_pairs_format_of_old_dense_checkpoints_loads() {
        // What a dense histogram with bins 473 (×2) and 512 (×1) wrote, and
        // out-of-range and zero entries the old reader skipped.
        let h: Histogram = serde_json::from_str("[[473,2],[512,1],[9000,4],[600,0]]").unwrap();
        assert_eq!(h, {
            let mut w = Histogram::default();
            w.add(473, 2);
            w.add(512, 1);
            w
        });
        assert_eq!(serde_json::to_string(&h).unwrap(), "[[473,2],[512,1]]");
        let big: Histogram =
            serde_json::from_str(&serde_json::to_string(&dense_of_all()).unwrap()).unwrap();
        assert!(matches!(big, Histogram::Dense(_)));
        assert_eq!(big, dense_of_all());
    }

    fn dense_of_all() -> Histogram {
        let mut h = Histogram::default();
        for b in 0..BINS as u16 {
            h.add(b, 1);
        }
        h
    }
}
