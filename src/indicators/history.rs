//! Daily and per-interval results kept for `assess`, bounded by
//! `history_days`.

use serde::{Deserialize, Serialize};

use super::ctx::Ctx;
use super::noise::NoiseDayRecord;
use super::window::DAY;

/// The numeric fields of one closed infrastructure interval.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IntervalRecord {
    pub t: i64,
    /// The indicator measurement (`gg_lighting`, `gg_parking`, ...).
    pub kind: String,
    /// Its key tag value (lot, class, district), or empty.
    pub key: String,
    pub fields: Vec<(String, f64)>,
}

impl IntervalRecord {
    pub fn get(&self, k: &str) -> Option<f64> {
        self.fields.iter().find(|(n, _)| n == k).map(|(_, v)| *v)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct History {
    pub noise: Vec<NoiseDayRecord>,
    pub intervals: Vec<IntervalRecord>,
}

impl History {
    pub fn push(&mut self, t: i64, kind: &str, key: &str, fields: Vec<(String, f64)>) {
        self.intervals.push(IntervalRecord {
            t,
            kind: kind.to_string(),
            key: key.to_string(),
            fields,
        });
    }

    /// Like [`History::push`], replacing the record of the same time, kind
    /// and key: a window emitted again after a late reading.
    pub fn upsert(&mut self, t: i64, kind: &str, key: &str, fields: Vec<(String, f64)>) {
        match self
            .intervals
            .iter_mut()
            .rev()
            .find(|r| r.t == t && r.kind == kind && r.key == key)
        {
            Some(r) => r.fields = fields,
            None => self.push(t, kind, key, fields),
        }
    }

    /// Drops records older than `history_days` before the watermark.
    pub fn prune(&mut self, wm: i64, cx: &Ctx) {
        let keep = wm.saturating_sub(cx.cfg.history_days as i64 * DAY);
        self.noise.retain(|r| r.day >= keep);
        self.intervals.retain(|r| r.t >= keep);
    }

    pub fn intervals<'a>(
        &'a self,
        kind: &'a str,
        from: i64,
        to: i64,
    ) -> impl Iterator<Item = &'a IntervalRecord> + 'a {
        self.intervals
            .iter()
            .filter(move |r| r.kind == kind && r.t >= from && r.t < to)
    }
}

/// Numeric fields of a reading, for [`History::push`].
pub fn numeric(r: &crate::model::Reading) -> Vec<(String, f64)> {
    r.fields
        .iter()
        .filter_map(|(k, v)| v.as_f64().map(|x| (k.clone(), x)))
        .collect()
}
