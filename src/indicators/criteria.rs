//! The criteria of the annex of the 2020 Green Community Creation Action
//! (绿色社区创建行动方案, 附件 绿色社区创建标准（试行）) as a table: each
//! criterion's number, title, the standards its evidence follows, and the
//! function that judges it from the indicator history. [`super::assess`]
//! walks the table in order; a criterion sensors cannot judge says so
//! ([`not_measurable`]) rather than guessing.

use std::collections::BTreeMap;

use super::assess::{combine, Evidence, Period, Verdict};
use super::water::per_capita_range;

/// One criterion of the annex.
pub struct CriterionDef {
    pub number: u8,
    pub title: &'static str,
    /// The standards (or practice) behind its figures and thresholds.
    pub standard: &'static str,
    /// Judges the period, writing its figures, thresholds and notes.
    pub judge: fn(&Period<'_>, &mut Evidence) -> Verdict,
}

const NONE: &str = "not a sensor question";

const fn def(
    number: u8,
    title: &'static str,
    standard: &'static str,
    judge: fn(&Period<'_>, &mut Evidence) -> Verdict,
) -> CriterionDef {
    CriterionDef {
        number,
        title,
        standard,
        judge,
    }
}

/// Every criterion of the annex, in its order.
pub static CRITERIA: [CriterionDef; 16] = [
    def(1, "各主体共同参与社区人居环境建设和整治 (joint participation)", NONE, not_measurable),
    def(2, "搭建沟通议事平台 (consultation platform)", NONE, not_measurable),
    def(3, "设计师、工程师进社区 (designers and engineers in the community)", NONE, not_measurable),
    def(
        4,
        "社区各类基础设施比较完善 (infrastructure fairly complete)",
        "device online rate per infrastructure category [practice]",
        infrastructure,
    ),
    def(
        5,
        "道路综合治理、海绵化改造、垃圾分类全覆盖 (roads, sponge city, waste sorting)",
        "waterlogging and waste-bin device online rate [practice]",
        roads_sponge_waste,
    ),
    def(
        6,
        "基础设施改造落实经济适用、绿色环保 (energy- and water-saving infrastructure)",
        "CJJ 45-2015 and municipal rules (lighting), CJJ 92-2016 (water loss), GB/T 50331-2002 (per-capita use)",
        energy_and_water_saving,
    ),
    def(7, "绿地布局合理，有公共活动空间 (green space and public space)", NONE, not_measurable),
    def(
        8,
        "停车秩序规范，无占压消防、救护等生命通道 (orderly parking, fire lanes never blocked)",
        "fire-lane occupation events, target zero; dwell and clear times [default]",
        parking_and_fire_lanes,
    ),
    def(9, "适老化改造和无障碍设施 (ageing-friendly and barrier-free works)", NONE, not_measurable),
    def(
        10,
        "对噪声扰民等问题进行了有效治理 (noise nuisance effectively controlled)",
        "GB 3096-2008, GB 22337-2008",
        noise,
    ),
    def(
        11,
        "建设了智能化安防系统 (intelligent security system)",
        "local residential security codes (alarm response target) [std, local]",
        security,
    ),
    def(
        12,
        "物业管理覆盖面不低于30% (property management covers at least 30 %)",
        "the annex's 30 % [std]; households from config",
        property_management,
    ),
    def(13, "固定宣传场所和设施 (publicity facilities)", NONE, not_measurable),
    def(14, "定期开展培训 (regular training)", NONE, not_measurable),
    def(15, "发布居民绿色生活行为公约 (green living convention)", NONE, not_measurable),
    def(16, "历史文化资源得到有效保护 (heritage protected)", NONE, not_measurable),
];

/// The criteria sensors cannot give evidence for.
pub fn not_measurable(_: &Period<'_>, c: &mut Evidence) -> Verdict {
    c.note("not measurable from sensors");
    Verdict::NotMeasurable
}

/// Online rate (device-intervals online / device-intervals) per
/// infrastructure category, all categories or only `only`, with a check each.
fn online_by_category(
    p: &Period<'_>,
    c: &mut Evidence,
    only: Option<&[&str]>,
) -> Vec<Option<bool>> {
    let ac = &p.cx.cfg.assess;
    let mut cats: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for r in p.h.intervals("gg_device_health", p.from, p.to) {
        let cat = r.key.split(':').next().unwrap_or("");
        let e = cats.entry(cat).or_default();
        e.0 += r.get("devices").unwrap_or(0.0);
        e.1 += r.get("online").unwrap_or(0.0);
    }
    c.thr("min_online_pct", ac.min_online_pct);
    let mut checks = Vec::new();
    for (cat, (dev, on)) in cats {
        if only.is_some_and(|o| !o.contains(&cat)) {
            continue;
        }
        let rate = 100.0 * on / dev.max(1.0);
        c.fig(&format!("online_rate_pct.{cat}"), rate);
        checks.push(Some(rate >= ac.min_online_pct));
    }
    checks
}

/// 4: every infrastructure category online often enough.
pub fn infrastructure(p: &Period<'_>, c: &mut Evidence) -> Verdict {
    let checks = online_by_category(p, c, None);
    c.note("online rate per infrastructure category (device-intervals online / device-intervals)");
    combine(&checks)
}

/// 5: waterlogging and waste-bin devices online, where there are any.
pub fn roads_sponge_waste(p: &Period<'_>, c: &mut Evidence) -> Verdict {
    let checks = online_by_category(p, c, Some(&["drainage", "waste"]));
    if checks.is_empty() {
        c.note("no waterlogging or waste-bin devices configured");
        return Verdict::NotMeasurable;
    }
    combine(&checks)
}

/// 6: 亮灯率 at target, water loss and per-capita use within bounds.
pub fn energy_and_water_saving(p: &Period<'_>, c: &mut Evidence) -> Verdict {
    let cx = p.cx;
    let lc = &cx.cfg.lighting;
    let (lit, _) = p.sum("gg_lighting", "lit_lamp_hours");
    let (sched, _) = p.sum("gg_lighting", "scheduled_lamp_hours");
    let light = (sched > 0.0).then(|| {
        let rate = 100.0 * lit / sched;
        c.fig("lit_rate_pct", rate);
        c.thr("min_lit_rate_pct", lc.target_lit_rate_pct);
        rate >= lc.target_lit_rate_pct
    });
    let (kwh, _) = p.sum("gg_lighting", "energy_kwh");
    let (refk, _) = p.sum("gg_lighting", "reference_kwh");
    if refk > 0.0 {
        c.fig("lighting_saving_rate_pct", 100.0 * (refk - kwh) / refk);
    }
    let (master, _) = p.sum("gg_water_balance", "master_m3");
    let (loss, _) = p.sum("gg_water_balance", "loss_m3");
    let water = (master > 0.0).then(|| {
        let pct = 100.0 * loss / master;
        c.fig("water_loss_pct", pct);
        c.thr("max_water_loss_pct", cx.cfg.water.loss_check_pct);
        pct <= cx.cfg.water.loss_check_pct
    });
    let (m3, _) = p.sum("gg_water_day", "consumption_m3");
    let (pd, _) = p.sum("gg_water_day", "persons");
    let capita = (pd > 0.0).then(|| {
        let lpd = m3 * 1000.0 / pd;
        let [lo, hi] = per_capita_range(cx);
        c.fig("per_capita_lpd", lpd);
        c.thr("per_capita_max_lpd", hi);
        c.thr("per_capita_min_lpd", lo);
        lpd <= hi
    });
    let count = |field: &str| {
        p.h.intervals("gg_water_night_flow", p.from, p.to)
            .filter(|r| r.get(field) == Some(1.0))
            .count() as f64
    };
    c.fig("night_flow_alarm_nights", count("alarm"));
    c.fig("household_leak_flag_nights", count("leak_suspected"));
    combine(&[light, water, capita])
}

/// 8: no fire-lane events (insufficient data without fire-lane sensors).
pub fn parking_and_fire_lanes(p: &Period<'_>, c: &mut Evidence) -> Verdict {
    let (lanes, n) = p.sum("gg_parking", "fire_lanes");
    let (events, _) = p.sum("gg_parking", "fire_lane_events");
    let (mins, _) = p.sum("gg_parking", "fire_lane_occupied_minutes");
    let longest = (p.h.intervals("gg_fire_lane_event", p.from, p.to))
        .filter_map(|r| r.get("duration_s"))
        .fold(0.0, f64::max);
    c.thr("max_fire_lane_events", 0.0);
    c.fig("fire_lane_events", events);
    c.fig("fire_lane_occupied_minutes", mins);
    c.fig("longest_event_s", longest);
    let (occ, k) = p.sum("gg_parking", "occupancy_pct");
    if k > 0 {
        c.fig("mean_occupancy_pct", occ / k as f64);
    }
    if n == 0 || lanes == 0.0 {
        c.note("no fire-lane sensors reported in the period");
        return Verdict::InsufficientData;
    }
    combine(&[Some(events == 0.0)])
}

/// 10: day and night point-day compliance with the zone limits.
pub fn noise(p: &Period<'_>, c: &mut Evidence) -> Verdict {
    let ac = &p.cx.cfg.assess;
    let recs = (p.h.noise.iter()).filter(|r| r.day >= p.from && r.day < p.to);
    let (mut dv, mut dc, mut nv, mut nc, mut ev) = (0u32, 0u32, 0u32, 0u32, 0u32);
    // Why hours were invalid: sensors sampling at another interval than
    // configured (coverage is judged by sample_interval).
    let mut off: BTreeMap<&str, f64> = BTreeMap::new();
    for r in recs {
        if let Some(s) = r.observed_interval_s {
            off.insert(&r.device, s);
        }
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
    for (dev, s) in &off {
        c.note(&format!(
            "{dev}: samples every {s} s, not at its configured sample_interval: its hours \
             count as invalid (low coverage); set its sample_interval"
        ));
    }
    let day = (dv > 0).then(|| {
        let pct = 100.0 * dc as f64 / dv as f64;
        c.fig("day_compliance_pct", pct);
        pct >= ac.min_noise_compliance_pct
    });
    let night = (nv > 0).then(|| {
        let pct = 100.0 * nc as f64 / nv as f64;
        c.fig("night_compliance_pct", pct);
        pct >= ac.min_noise_compliance_pct
    });
    combine(&[day, night])
}

/// 11: security devices online, alarms answered within the target.
pub fn security(p: &Period<'_>, c: &mut Evidence) -> Verdict {
    let ac = &p.cx.cfg.assess;
    let (dev, k) = p.sum("gg_security", "devices");
    let (on, _) = p.sum("gg_security", "online");
    let (acked, _) = p.sum("gg_security", "acknowledged");
    let (within, _) = p.sum("gg_security", "response_within_target");
    let (unacked, _) = p.sum("gg_security", "unacknowledged");
    c.thr("min_online_pct", ac.min_online_pct);
    let target = p.cx.cfg.security.response_target.as_secs_f64();
    c.thr("response_target_s", target);
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

/// 12: households under property management, from the registry in config.
pub fn property_management(p: &Period<'_>, c: &mut Evidence) -> Verdict {
    let ac = &p.cx.cfg.assess;
    c.thr("min_managed_pct", ac.min_managed_pct);
    match (ac.managed_households, ac.total_households) {
        (Some(m), Some(t)) if t > 0 => {
            let pct = 100.0 * m as f64 / t as f64;
            c.fig("managed_pct", pct);
            c.note("from the registry in config ([indicators.assess])");
            combine(&[Some(pct >= ac.min_managed_pct)])
        }
        _ => {
            c.note("set indicators.assess.managed_households and total_households");
            Verdict::InsufficientData
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CRITERIA;

    #[test]
    fn the_table_lists_every_criterion_once_in_order() {
        for (i, c) in CRITERIA.iter().enumerate() {
            assert_eq!(c.number as usize, i + 1);
            assert!(!c.title.is_empty() && !c.standard.is_empty());
        }
    }
}
