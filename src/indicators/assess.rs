//! Green-community assessment: the sensor-measurable criteria of the 2020
//! action plan's annex (绿色社区创建标准（试行）) evaluated from the indicator
//! history over a period, each as pass, fail or insufficient data with the
//! figures behind it and the thresholds used. The other criteria are listed
//! as not measurable from sensors rather than guessed.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

use super::engine::IndicatorEngine;
use super::history::History;
use super::noise::round2;
use super::water::per_capita_range;
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

const TITLES: [&str; 16] = [
    "各主体共同参与社区人居环境建设和整治 (joint participation)",
    "搭建沟通议事平台 (consultation platform)",
    "设计师、工程师进社区 (designers and engineers in the community)",
    "社区各类基础设施比较完善 (infrastructure fairly complete)",
    "道路综合治理、海绵化改造、垃圾分类全覆盖 (roads, sponge city, waste sorting)",
    "基础设施改造落实经济适用、绿色环保 (energy- and water-saving infrastructure)",
    "绿地布局合理，有公共活动空间 (green space and public space)",
    "停车秩序规范，无占压消防、救护等生命通道 (orderly parking, fire lanes never blocked)",
    "适老化改造和无障碍设施 (ageing-friendly and barrier-free works)",
    "对噪声扰民等问题进行了有效治理 (noise nuisance effectively controlled)",
    "建设了智能化安防系统 (intelligent security system)",
    "物业管理覆盖面不低于30% (property management covers at least 30 %)",
    "固定宣传场所和设施 (publicity facilities)",
    "定期开展培训 (regular training)",
    "发布居民绿色生活行为公约 (green living convention)",
    "历史文化资源得到有效保护 (heritage protected)",
];

struct C {
    n: u8,
    figures: BTreeMap<String, f64>,
    thresholds: BTreeMap<String, f64>,
    notes: Vec<String>,
}

impl C {
    fn new(n: u8) -> C {
        C {
            n,
            figures: BTreeMap::new(),
            thresholds: BTreeMap::new(),
            notes: Vec::new(),
        }
    }
    fn fig(&mut self, k: &str, v: f64) {
        self.figures.insert(k.to_string(), round2(v));
    }
    fn thr(&mut self, k: &str, v: f64) {
        self.thresholds.insert(k.to_string(), v);
    }
    fn done(self, verdict: Verdict) -> Criterion {
        Criterion {
            number: self.n,
            title: TITLES[(self.n - 1) as usize],
            verdict,
            figures: self.figures,
            thresholds: self.thresholds,
            notes: self.notes,
        }
    }
}

/// Combines sub-checks: any fail fails; no data is insufficient.
fn combine(checks: &[Option<bool>]) -> Verdict {
    if checks.iter().all(Option::is_none) {
        Verdict::InsufficientData
    } else if checks.contains(&Some(false)) {
        Verdict::Fail
    } else {
        Verdict::Pass
    }
}

/// Σ field over records of `kind` (optionally filtered by key) in [from, to).
fn sum(
    h: &History,
    kind: &str,
    from: i64,
    to: i64,
    key: Option<&str>,
    field: &str,
) -> (f64, usize) {
    h.intervals(kind, from, to)
        .filter(|r| key.map_or(true, |k| r.key == k))
        .filter_map(|r| r.get(field))
        .fold((0.0, 0), |(s, n), v| (s + v, n + 1))
}

impl IndicatorEngine {
    /// Evaluates the measurable criteria over `[from_ns, to_ns)`.
    pub fn assess(&self, from_ns: i64, to_ns: i64) -> Assessment {
        let cx = &self.cx;
        let h = &self.state.history;
        let ac = &cx.cfg.assess;
        let mut criteria = Vec::new();
        for n in 1..=16u8 {
            let mut c = C::new(n);
            let verdict = match n {
                4 | 5 => {
                    let mut cats: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
                    for r in h.intervals("gg_device_health", from_ns, to_ns) {
                        let cat = r.key.split(':').next().unwrap_or("");
                        let e = cats.entry(cat).or_default();
                        e.0 += r.get("devices").unwrap_or(0.0);
                        e.1 += r.get("online").unwrap_or(0.0);
                    }
                    let wanted: &[&str] = if n == 5 { &["drainage", "waste"] } else { &[] };
                    c.thr("min_online_pct", ac.min_online_pct);
                    let mut checks = Vec::new();
                    for (cat, (dev, on)) in cats {
                        if n == 5 && !wanted.contains(&cat) {
                            continue;
                        }
                        let rate = 100.0 * on / dev.max(1.0);
                        c.fig(&format!("online_rate_pct.{cat}"), rate);
                        checks.push(Some(rate >= ac.min_online_pct));
                    }
                    if n == 5 && checks.is_empty() {
                        c.notes
                            .push("no waterlogging or waste-bin devices configured".into());
                        Verdict::NotMeasurable
                    } else {
                        if n == 4 {
                            c.notes.push("online rate per infrastructure category (device-intervals online / device-intervals)".into());
                        }
                        combine(&checks)
                    }
                }
                6 => {
                    let lc = &cx.cfg.lighting;
                    let (lit, _) = sum(h, "gg_lighting", from_ns, to_ns, None, "lit_lamp_hours");
                    let (sched, _) = sum(
                        h,
                        "gg_lighting",
                        from_ns,
                        to_ns,
                        None,
                        "scheduled_lamp_hours",
                    );
                    let light = (sched > 0.0).then(|| {
                        let rate = 100.0 * lit / sched;
                        c.fig("lit_rate_pct", rate);
                        c.thr("min_lit_rate_pct", lc.target_lit_rate_pct);
                        rate >= lc.target_lit_rate_pct
                    });
                    let (kwh, _) = sum(h, "gg_lighting", from_ns, to_ns, None, "energy_kwh");
                    let (refk, _) = sum(h, "gg_lighting", from_ns, to_ns, None, "reference_kwh");
                    if refk > 0.0 {
                        c.fig("lighting_saving_rate_pct", 100.0 * (refk - kwh) / refk);
                    }
                    let (master, _) = sum(h, "gg_water_balance", from_ns, to_ns, None, "master_m3");
                    let (loss, _) = sum(h, "gg_water_balance", from_ns, to_ns, None, "loss_m3");
                    let water = (master > 0.0).then(|| {
                        let pct = 100.0 * loss / master;
                        c.fig("water_loss_pct", pct);
                        c.thr("max_water_loss_pct", cx.cfg.water.loss_check_pct);
                        pct <= cx.cfg.water.loss_check_pct
                    });
                    let (m3, _) = sum(h, "gg_water_day", from_ns, to_ns, None, "consumption_m3");
                    let (pd, _) = sum(h, "gg_water_day", from_ns, to_ns, None, "persons");
                    let capita = (pd > 0.0).then(|| {
                        let lpd = m3 * 1000.0 / pd;
                        let [lo, hi] = per_capita_range(cx);
                        c.fig("per_capita_lpd", lpd);
                        c.thr("per_capita_max_lpd", hi);
                        c.thr("per_capita_min_lpd", lo);
                        lpd <= hi
                    });
                    let count = |field: &str| {
                        h.intervals("gg_water_night_flow", from_ns, to_ns)
                            .filter(|r| r.get(field) == Some(1.0))
                            .count() as f64
                    };
                    c.fig("night_flow_alarm_nights", count("alarm"));
                    c.fig("household_leak_flag_nights", count("leak_suspected"));
                    combine(&[light, water, capita])
                }
                8 => {
                    let (lanes, n) = sum(h, "gg_parking", from_ns, to_ns, None, "fire_lanes");
                    let (events, _) =
                        sum(h, "gg_parking", from_ns, to_ns, None, "fire_lane_events");
                    let (mins, _) = sum(
                        h,
                        "gg_parking",
                        from_ns,
                        to_ns,
                        None,
                        "fire_lane_occupied_minutes",
                    );
                    let longest = h
                        .intervals("gg_fire_lane_event", from_ns, to_ns)
                        .filter_map(|r| r.get("duration_s"))
                        .fold(0.0, f64::max);
                    c.thr("max_fire_lane_events", 0.0);
                    c.fig("fire_lane_events", events);
                    c.fig("fire_lane_occupied_minutes", mins);
                    c.fig("longest_event_s", longest);
                    let (occ, k) = sum(h, "gg_parking", from_ns, to_ns, None, "occupancy_pct");
                    if k > 0 {
                        c.fig("mean_occupancy_pct", occ / k as f64);
                    }
                    if n == 0 || lanes == 0.0 {
                        c.notes
                            .push("no fire-lane sensors reported in the period".into());
                        Verdict::InsufficientData
                    } else {
                        combine(&[Some(events == 0.0)])
                    }
                }
                10 => {
                    let recs = h.noise.iter().filter(|r| r.day >= from_ns && r.day < to_ns);
                    let (mut dv, mut dc, mut nv, mut nc, mut ev) = (0u32, 0u32, 0u32, 0u32, 0u32);
                    for r in recs {
                        if let Some(ok) = r.day_ok {
                            dv += 1;
                            dc += ok as u32;
                        }
                        if let Some(ok) = r.night_ok {
                            nv += 1;
                            nc += ok as u32;
                        }
                        ev += r.night_events;
                    }
                    c.thr("min_compliance_pct", ac.min_noise_compliance_pct);
                    c.fig("day_valid_point_days", dv as f64);
                    c.fig("night_valid_point_days", nv as f64);
                    c.fig("night_sudden_events", ev as f64);
                    let day = (dv > 0).then(|| {
                        let p = 100.0 * dc as f64 / dv as f64;
                        c.fig("day_compliance_pct", p);
                        p >= ac.min_noise_compliance_pct
                    });
                    let night = (nv > 0).then(|| {
                        let p = 100.0 * nc as f64 / nv as f64;
                        c.fig("night_compliance_pct", p);
                        p >= ac.min_noise_compliance_pct
                    });
                    combine(&[day, night])
                }
                11 => {
                    let (dev, k) = sum(h, "gg_security", from_ns, to_ns, None, "devices");
                    let (on, _) = sum(h, "gg_security", from_ns, to_ns, None, "online");
                    let (acked, _) = sum(h, "gg_security", from_ns, to_ns, None, "acknowledged");
                    let (within, _) = sum(
                        h,
                        "gg_security",
                        from_ns,
                        to_ns,
                        None,
                        "response_within_target",
                    );
                    let (unacked, _) =
                        sum(h, "gg_security", from_ns, to_ns, None, "unacknowledged");
                    c.thr("min_online_pct", ac.min_online_pct);
                    c.thr(
                        "response_target_s",
                        cx.cfg.security.response_target.as_secs_f64(),
                    );
                    c.thr("min_response_within_pct", ac.min_response_share_pct);
                    c.fig("unacknowledged_interval_count", unacked);
                    let online = (k > 0 && dev > 0.0).then(|| {
                        let r = 100.0 * on / dev;
                        c.fig("online_rate_pct", r);
                        r >= ac.min_online_pct
                    });
                    let resp = (acked > 0.0).then(|| {
                        let r = 100.0 * within / acked;
                        c.fig("response_within_pct", r);
                        r >= ac.min_response_share_pct
                    });
                    combine(&[online, resp])
                }
                12 => {
                    c.thr("min_managed_pct", ac.min_managed_pct);
                    match (ac.managed_households, ac.total_households) {
                        (Some(m), Some(t)) if t > 0 => {
                            let p = 100.0 * m as f64 / t as f64;
                            c.fig("managed_pct", p);
                            c.notes
                                .push("from the registry in config ([indicators.assess])".into());
                            combine(&[Some(p >= ac.min_managed_pct)])
                        }
                        _ => {
                            c.notes.push(
                                "set indicators.assess.managed_households and total_households"
                                    .into(),
                            );
                            Verdict::InsufficientData
                        }
                    }
                }
                _ => {
                    c.notes.push("not measurable from sensors".into());
                    Verdict::NotMeasurable
                }
            };
            criteria.push(c.done(verdict));
        }
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
