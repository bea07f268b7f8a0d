//! What belongs to an interval at its boundary: lamp energy from a register
//! is split between the intervals its two readings span, and parking
//! occupancy "at the interval's end" is the state at the boundary, however
//! late after it the next readings are recorded.

use super::*;

/// 18:00 local on DAY0.
const EVENING: i64 = DAY0 + 12 * HOUR;

/// Four 155 W lamps (620 W), each with an energy register read every
/// 15 minutes from `from` to `to` (inclusive), burning until `off`.
fn lamps_every_quarter(from: i64, to: i64, off: i64) -> (IndicatorEngine, Vec<Reading>) {
    let lamp = DeviceAttributes {
        rated_power_w: Some(155.0),
        ..attrs("lighting")
    };
    let ids = ["l1", "l2", "l3", "l4"];
    let mut e = engine(ids.iter().map(|id| (*id, lamp.clone())).collect());
    let mut out = Vec::new();
    let mut t = from;
    while t <= to {
        let burnt = (t.min(off) - from) as f64 / HOUR as f64 * 0.155;
        for id in ids {
            let fields = vec![
                ("on", Bool(t < off)),
                ("power_w", Float(if t < off { 155.0 } else { 0.0 })),
                ("energy_kwh", Float(100.0 + burnt)),
            ];
            at(&mut e, &mut out, reading("lighting", id, t, fields));
        }
        t += 15 * MINUTE;
    }
    (e, out)
}

#[test]
fn lamp_energy_of_the_last_quarter_stays_in_its_interval() {
    // Readings at 18:00 (the baseline), 18:15, ..., 19:30: the 19:00 reading's
    // delta is 18:45–19:00 and belongs to 18:00–19:00.
    let (mut e, mut out) = lamps_every_quarter(EVENING, EVENING + 90 * MINUTE, i64::MAX);
    out.extend(e.advance(EVENING + HOUR + 3 * MINUTE));
    let r = one(&out, "gg_lighting", EVENING);
    assert!(
        (f(r, "energy_kwh") - 0.62).abs() < 1e-9,
        "620 W for an hour: {}",
        f(r, "energy_kwh")
    );
    assert_eq!(f(r, "reference_kwh"), 0.62);
    assert_eq!(f(r, "saving_rate_pct"), 0.0, "metered at rated power");
}

#[test]
fn lamp_energy_before_six_is_booked_to_the_night() {
    // On from 05:00 (the baseline) until 06:00, read every 15 minutes: the
    // 06:00 reading's delta is 05:45–06:00, night-time use.
    let five = DAY0 + 23 * HOUR;
    let (mut e, mut out) = lamps_every_quarter(five, five + 90 * MINUTE, five + HOUR);
    out.extend(e.advance(five + 2 * HOUR + 3 * MINUTE));
    let night = one(&out, "gg_lighting", five);
    assert!(
        (f(night, "energy_kwh") - 0.62).abs() < 1e-9,
        "05:00–06:00: {}",
        f(night, "energy_kwh")
    );
    assert_eq!(f(night, "saving_rate_pct"), 0.0);
    let day = one(&out, "gg_lighting", five + HOUR);
    assert_eq!(f(day, "energy_kwh"), 0.0, "nothing burnt after 06:00");
}

fn two_bays(lateness_s: u64) -> IndicatorEngine {
    let bay = DeviceAttributes {
        lot: Some("north".into()),
        ..attrs("parking")
    };
    let mut d = Devices::new();
    for id in ["p1", "p2"] {
        let cfg = DeviceConfig {
            indicators: bay.clone(),
            ..Default::default()
        };
        d.insert(id.into(), cfg);
    }
    let cfg = IndicatorsConfig {
        allowed_lateness: std::time::Duration::from_secs(lateness_s),
        ..Default::default()
    };
    IndicatorEngine::new(&cfg, &d, "c1", 8 * 3600)
}

fn occ(id: &str, t: i64, v: bool) -> Reading {
    reading("parking", id, t, vec![("occupied", Bool(v))])
}

/// `occupied` of the lot in the intervals starting 17:00, 18:00, 19:00.
fn occupied_by_hour(out: &[Reading]) -> Vec<f64> {
    (0..3)
        .map(|h| f(one(out, "gg_parking", EVENING + (h - 1) * HOUR), "occupied"))
        .collect()
}

#[test]
fn parking_occupancy_is_the_state_at_the_boundary_not_after_it() {
    // Ten minutes of lateness: readings a few minutes past the hour are
    // recorded before the hour that just ended is closed.
    let mut e = two_bays(600);
    let m = MINUTE;
    let mut out = Vec::new();
    for r in [
        occ("p2", EVENING - 50 * m, false),
        occ("p1", EVENING - 30 * m, true),
        occ("p1", EVENING + 6 * m, false), // p1 was still parked at 18:00
        occ("p2", EVENING + 20 * m, true),
        occ("p2", EVENING + HOUR + 5 * m, false), // p2 was parked at 19:00
    ] {
        at(&mut e, &mut out, r);
    }
    out.extend(e.advance(EVENING + 2 * HOUR + 11 * m));
    assert_eq!(occupied_by_hour(&out), vec![1.0, 1.0, 0.0]);
    let p = one(&out, "gg_parking", EVENING - HOUR);
    assert_eq!(f(p, "occupancy_pct"), 50.0);
}

#[test]
fn a_replayed_evening_keeps_each_boundary_state() {
    // The whole evening arrives at once and is recorded before any interval
    // closes: each interval still gets the state at its own end.
    let mut e = two_bays(120);
    let m = MINUTE;
    for r in [
        occ("p2", EVENING - 55 * m, false),
        occ("p1", EVENING - 50 * m, true),
        occ("p1", EVENING + 3 * m, false),
        occ("p1", EVENING + 30 * m, true),
        occ("p1", EVENING + HOUR + 4 * m, false),
    ] {
        e.record(&r);
    }
    let out = e.advance(EVENING + 2 * HOUR + 5 * m);
    assert_eq!(occupied_by_hour(&out), vec![1.0, 1.0, 0.0]);
    let p = one(&out, "gg_parking", EVENING);
    assert_eq!(f(p, "arrivals"), 1.0, "arrivals stay in their intervals");
}

#[test]
fn charger_energy_is_split_between_the_intervals_its_readings_span() {
    // A 7 kW charger charging 18:00–19:30, its register read every 20 min:
    // the 19:00 interval gets 19:00–19:20 of the 19:20 reading's delta, and
    // 18:00–19:00 exactly 7 kWh, though its last reading falls at 18:40.
    let mut e = engine(vec![("k1", attrs("charger"))]);
    let mut out = Vec::new();
    let mut t = EVENING;
    while t <= EVENING + 100 * MINUTE {
        let kwh = 500.0 + (t.min(EVENING + 90 * MINUTE) - EVENING) as f64 / HOUR as f64 * 7.0;
        let status = if t < EVENING + 90 * MINUTE {
            "Charging"
        } else {
            "Available"
        };
        let fields = vec![("status", Str(status.into())), ("energy_kwh", Float(kwh))];
        at(&mut e, &mut out, reading("charger", "k1", t, fields));
        t += 20 * MINUTE;
    }
    out.extend(e.advance(EVENING + 2 * HOUR + 3 * MINUTE));
    let first = one(&out, "gg_charger", EVENING);
    assert!(
        (f(first, "energy_kwh") - 7.0).abs() < 1e-9,
        "7 kW for an hour: {}",
        f(first, "energy_kwh")
    );
    let second = one(&out, "gg_charger", EVENING + HOUR);
    assert!(
        (f(second, "energy_kwh") - 3.5).abs() < 1e-9,
        "19:00–19:30 at 7 kW: {}",
        f(second, "energy_kwh")
    );
}
