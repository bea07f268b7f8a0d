//! District water balance and per-capita use, combined from the meters
//! whose windows were emitted in one `advance`.

use crate::devices::MeterRole;
use std::collections::{BTreeMap, BTreeSet};

use super::ctx::Ctx;
use super::history::{History, IntervalRecord};
use super::noise::round2;
use super::water::{WaterAttrs, WaterState};
use crate::model::{FieldValue, Reading};

/// GB/T 50331-2002 per-capita range for the configured zone, L/(person·day).
pub fn per_capita_range(cx: &Ctx) -> [f64; 2] {
    const ZONES: [[f64; 2]; 6] = [
        [80.0, 135.0],
        [85.0, 140.0],
        [120.0, 180.0],
        [150.0, 220.0],
        [100.0, 140.0],
        [75.0, 125.0],
    ];
    let w = &cx.cfg.water;
    w.per_capita_range
        .unwrap_or(ZONES[(w.per_capita_zone.clamp(1, 6) - 1) as usize])
}

/// Results of meters emitted in one `advance`, combined per district.
#[derive(Default)]
pub struct Closed {
    /// (window start, is day, district) of every meter window emitted.
    pub(crate) touched: BTreeSet<(i64, bool, String)>,
    /// (window start, is day, district) → [master, subs, public, subs reporting].
    pub(crate) balance: BTreeMap<(i64, bool, String), [f64; 4]>,
    /// (day, device, m³, persons).
    pub(crate) per_capita: Vec<(i64, String, f64, u32)>,
    /// Night-flow results for the history.
    pub(crate) nights: Vec<IntervalRecord>,
}

impl Closed {
    /// Sums, for every touched window and district, the windows of all the
    /// district's meters that hold one (emitted now or earlier and still
    /// within their lateness), so a balance is whole however late its
    /// meters reported.
    pub fn sum_touched<'a>(
        &mut self,
        meters: &[(usize, &WaterState)],
        attrs_at: &dyn Fn(usize, i64) -> &'a WaterAttrs,
    ) {
        for key in std::mem::take(&mut self.touched) {
            let (ws, day, district) = &key;
            let mut b = [0.0; 4];
            for (i, w) in meters {
                let a = attrs_at(*i, *ws);
                if a.district.as_deref() != Some(district.as_str()) {
                    continue;
                }
                let Some(acc) = w.window(*ws, *day) else {
                    continue;
                };
                match a.role {
                    MeterRole::Master | MeterRole::Inlet => b[0] += acc.m3,
                    // Household meters are the district's sub-meters too.
                    MeterRole::Sub | MeterRole::Household => {
                        b[1] += acc.m3;
                        b[3] += 1.0;
                    }
                    MeterRole::Public => b[2] += acc.m3,
                }
            }
            self.balance.insert(key, b);
        }
    }

    pub fn emit(self, cx: &Ctx, out: &mut Vec<Reading>, hist: &mut History) {
        let wc = &cx.cfg.water;
        for ((ws, day, district), [m, s, p, n]) in self.balance {
            if m <= 0.0 {
                continue;
            }
            let mut r = cx.reading("gg_water_balance", ws);
            r.set_tag("district", district.as_str());
            r.set_tag("period", if day { "day" } else { "interval" });
            r.add_field("master_m3", FieldValue::Float(m));
            if n == 0.0 {
                // No sub-meter reported in the window: master minus nothing
                // is not a loss. Said as such, and kept out of the history
                // the assessment's loss rate is summed from.
                r.add_field("subs_reporting", FieldValue::Int(0));
                r.add_field("status", FieldValue::Str("insufficient_data".into()));
                out.push(r);
                continue;
            }
            let loss = m - s - p;
            let pct = 100.0 * loss / m;
            r.add_field("subs_m3", FieldValue::Float(s));
            r.add_field("public_m3", FieldValue::Float(p));
            r.add_field("subs_reporting", FieldValue::Int(n as i64));
            r.add_field("loss_m3", FieldValue::Float(loss));
            r.add_field("loss_pct", FieldValue::Float(round2(pct)));
            let status = if pct > wc.loss_alarm_pct {
                "alarm"
            } else if pct > wc.loss_check_pct {
                "check"
            } else {
                "ok"
            };
            r.add_field("status", FieldValue::Str(status.into()));
            if day {
                hist.upsert(
                    ws,
                    "gg_water_balance",
                    &district,
                    vec![("master_m3".into(), m), ("loss_m3".into(), loss)],
                );
            }
            out.push(r);
        }
        hist.intervals.extend(self.nights);
        for (ws, id, m3, p) in self.per_capita {
            hist.upsert(
                ws,
                "gg_water_day",
                &id,
                vec![("consumption_m3".into(), m3), ("persons".into(), p as f64)],
            );
        }
    }
}
