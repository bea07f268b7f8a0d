//! Green-community assessment: the sensor-measurable criteria of the 2020
//! action plan's annex (绿色社区创建标准（试行）) evaluated from the indicator
//! history over a period, each as pass, fail or insufficient data with the
//! figures behind it and the thresholds used. The other criteria are listed
//! as not measurable from sensors rather than guessed. The criteria
//! themselves (number, title, standard, judge) are the table in
//! [`super::criteria`].

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

use super::criteria::CRITERIA;
use super::ctx::Ctx;
use super::engine::IndicatorEngine;
use super::history::History;
use super::noise::round2;
use super::window::local_date;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    InsufficientData,
    NotMeasurable,
}

#[derive(Debug, Clone, Serialize)]
pub struct Criterion {
    pub number: u8,
    pub title: &'static str,
    pub verdict: Verdict,
    pub figures: BTreeMap<String, f64>,
    pub thresholds: BTreeMap<String, f64>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Assessment {
    pub community: String,
    pub from_ns: i64,
    pub to_ns: i64,
    pub from: String,
    pub to: String,
    pub criteria: Vec<Criterion>,
}

/// The figures, thresholds and notes a criterion's judge writes.
#[derive(Debug, Default)]
pub struct Evidence {
    figures: BTreeMap<String, f64>,
    thresholds: BTreeMap<String, f64>,
    notes: Vec<String>,
}

impl Evidence {
    /// A figure, rounded to two decimals.
    pub fn fig(&mut self, k: &str, v: f64) {
        self.figures.insert(k.to_string(), round2(v));
    }
    pub fn thr(&mut self, k: &str, v: f64) {
        self.thresholds.insert(k.to_string(), v);
    }
    pub fn note(&mut self, n: &str) {
        self.notes.push(n.to_string());
    }
}

/// The period being assessed, `[from, to)`, and the history it is read from.
pub struct Period<'a> {
    pub(crate) cx: &'a Ctx,
    pub(crate) h: &'a History,
    pub(crate) from: i64,
    pub(crate) to: i64,
}

impl Period<'_> {
    /// Σ `field` over the interval records of `kind` in the period, and how
    /// many records had it.
    pub fn sum(&self, kind: &str, field: &str) -> (f64, usize) {
        self.h
            .intervals(kind, self.from, self.to)
            .filter_map(|r| r.get(field))
            .fold((0.0, 0), |(s, n), v| (s + v, n + 1))
    }
}

/// Combines sub-checks: any fail fails; no data is insufficient.
pub fn combine(checks: &[Option<bool>]) -> Verdict {
    if checks.iter().all(Option::is_none) {
        Verdict::InsufficientData
    } else if checks.contains(&Some(false)) {
        Verdict::Fail
    } else {
        Verdict::Pass
    }
}

impl IndicatorEngine {
    /// Evaluates every criterion of [`CRITERIA`] over `[from_ns, to_ns)`.
    pub fn assess(&self, from_ns: i64, to_ns: i64) -> Assessment {
        let cx = &self.cx;
        let period = Period {
            cx,
            h: &self.state.history,
            from: from_ns,
            to: to_ns,
        };
        let criteria = CRITERIA
            .iter()
            .map(|def| {
                let mut e = Evidence::default();
                let verdict = (def.judge)(&period, &mut e);
                Criterion {
                    number: def.number,
                    title: def.title,
                    verdict,
                    figures: e.figures,
                    thresholds: e.thresholds,
                    notes: e.notes,
                }
            })
            .collect();
        Assessment {
            community: cx.community.clone(),
            from_ns,
            to_ns,
            from: local_date(from_ns, cx.offset),
            to: local_date(to_ns, cx.offset),
            criteria,
        }
    }
}

/// A plain-text report of an assessment, one criterion per block.
pub fn render_text(a: &Assessment) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Green community assessment: {} ({} to {})",
        a.community, a.from, a.to
    );
    for c in &a.criteria {
        let v = match c.verdict {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::InsufficientData => "INSUFFICIENT DATA",
            Verdict::NotMeasurable => "not measurable",
        };
        let _ = writeln!(s, "\n{:>2}. {} — {}", c.number, c.title, v);
        for (k, x) in &c.figures {
            let _ = writeln!(s, "      {k} = {x}");
        }
        for (k, x) in &c.thresholds {
            let _ = writeln!(s, "      threshold {k} = {x}");
        }
        for n in &c.notes {
            let _ = writeln!(s, "      note: {n}");
        }
    }
    s
}
