//! The resolved site settings every indicator reads: local offset, day and
//! night boundaries, interval, lateness and schedules, parsed once from
//! `[indicators]` and `[site]`.

use super::config::{parse_hhmm, IndicatorsConfig};
use super::window::{floor, split, MINUTE};
use crate::model::Reading;

/// Settings every indicator reads, resolved once.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub cfg: IndicatorsConfig,
    pub community: String,
    /// UTC offset in ns.
    pub offset: i64,
    /// Local minutes after midnight.
    pub day_start: u32,
    pub night_start: u32,
    /// Length of the day period in minutes.
    pub day_minutes: u32,
    /// `day_start` in ns: the phase of the noise day.
    pub day_phase: i64,
    /// The infrastructure interval in ns.
    pub interval: i64,
    pub lateness: i64,
    pub skew: i64,
    pub mnf: (u32, u32),
    pub light_on: (u32, u32),
}

impl Ctx {
    pub fn new(cfg: &IndicatorsConfig, community: &str, utc_offset_seconds: i32) -> Ctx {
        let hm = |s: &str, d: u32| parse_hhmm(s).unwrap_or(d);
        let day_start = hm(&cfg.day_start, 360);
        let night_start = hm(&cfg.night_start, 1320);
        let interval = (cfg.interval.as_secs() as i64).max(60) * 1_000_000_000;
        let interval = if 86_400 * 1_000_000_000 % interval == 0 {
            interval
        } else {
            3600 * 1_000_000_000
        };
        Ctx {
            cfg: cfg.clone(),
            community: community.to_string(),
            offset: utc_offset_seconds as i64 * 1_000_000_000,
            day_start,
            night_start,
            day_minutes: (night_start + 1440 - day_start) % 1440,
            day_phase: day_start as i64 * MINUTE,
            interval,
            lateness: cfg.allowed_lateness.as_nanos().min(i64::MAX as u128) as i64,
            skew: cfg.max_clock_skew.as_nanos().min(i64::MAX as u128) as i64,
            mnf: (
                hm(&cfg.water.night_flow_start, 120),
                hm(&cfg.water.night_flow_end, 240),
            ),
            light_on: (
                hm(&cfg.lighting.on_time, 1080),
                hm(&cfg.lighting.off_time, 360),
            ),
        }
    }

    /// A new indicator reading tagged with the community.
    pub fn reading(&self, measurement: &str, t: i64) -> Reading {
        let mut r = Reading::new(measurement, t);
        r.set_tag("community", self.community.as_str());
        r
    }

    /// Spreads a meter register's delta `de`, read at `t` (the previous
    /// reading at `from`), over the intervals between the two readings in
    /// proportion to time, as water deltas are: a lamp or charger reporting
    /// every 15 min books 18:45–19:00 to the 18:00 interval, not to the one
    /// its reading falls in. Time in intervals already closed (those ending
    /// by the watermark `wm`) is folded into the open ones, so nothing is
    /// lost; without a previous time (a checkpoint from before it was kept)
    /// the delta goes to the reading's interval. `add(ws, share)` books one
    /// interval's share.
    pub fn spread_delta(
        &self,
        de: f64,
        from: Option<i64>,
        t: i64,
        wm: i64,
        mut add: impl FnMut(i64, f64),
    ) {
        let open = match wm {
            i64::MIN => i64::MIN,
            wm => floor(wm, self.interval, self.offset, 0),
        };
        let from = from.map_or(t, |f| f.max(open));
        if t <= from {
            add(floor(t, self.interval, self.offset, 0), de);
            return;
        }
        let span = (t - from) as f64;
        split(from, t, self.interval, self.offset, 0, 48, |ws, ns| {
            add(ws, de * ns as f64 / span);
        });
    }
}
