//! The daily patterns' tests: day/night levels, cumulative totals, schedules, event order.

use super::*;

fn mean_laeq(hour: f64) -> f64 {
    let mut rng = Rng::with_seed(7);
    let mut n = Noise::new(&mut rng);
    n.offset_db = 0.0;
    let xs: Vec<f64> = (0..200)
        .map(|_| get(&n.step(&mut rng, hour, 0.0), "laeq").unwrap().as_f64())
        .collect();
    xs.iter().sum::<f64>() / xs.len() as f64
}

#[test]
fn noise_is_louder_by_day_than_at_night() {
    let (day, night) = (mean_laeq(14.0), mean_laeq(3.0));
    assert!((55.0..=62.0).contains(&day), "day {day}");
    assert!((40.0..=47.0).contains(&night), "night {night}");
}

#[test]
fn water_total_only_grows_and_a_leak_raises_the_flag() {
    let mut rng = Rng::with_seed(1);
    let mut w = Water::new(&mut rng, true);
    let mut last = 0.0;
    let mut flagged = false;
    for i in 0..200 {
        let v = w.step(&mut rng, (i as f64 * 60.0 / 3600.0) % 24.0, 60.0);
        let total = get(&v, "total_m3").unwrap().as_f64();
        assert!(total >= last);
        last = total;
        flagged |= get(&v, "leak") == Some(&V::B(true));
    }
    assert!(flagged);
}

#[test]
fn lights_are_on_at_night_and_off_at_noon() {
    let mut rng = Rng::with_seed(3);
    let mut l = Light::new(&mut rng, 1);
    assert_eq!(
        get(&l.step(&mut rng, 12.0, 330, 1.0), "on"),
        Some(&V::B(false))
    );
    assert_eq!(
        get(&l.step(&mut rng, 21.0, 330, 1.0), "on"),
        Some(&V::B(true))
    );
}

#[test]
fn alarm_is_followed_by_ack_then_clear() {
    let mut rng = Rng::with_seed(5);
    let mut s = Security::new("sec-01");
    let seen: Vec<&str> = (0..2000)
        .filter_map(|_| s.step(&mut rng, 60.0))
        .map(|e| e.event)
        .take(3)
        .collect();
    assert_eq!(seen, ["alarm", "ack", "clear"]);
}

#[test]
fn fire_lane_bay_is_empty_outside_violations() {
    let mut rng = Rng::with_seed(9);
    let mut b = Bay::new(&mut rng, true, 20.0);
    let occupied = (0..600)
        .filter(|_| get(&b.step(&mut rng, 20.0, 60.0), "occupied") == Some(&V::B(true)))
        .count();
    assert!(occupied > 0 && occupied < 300, "{occupied}");
}

#[test]
fn the_master_meter_measures_what_it_delivered_plus_the_pipe_loss() {
    let mut rng = Rng::with_seed(7);
    let mut m = MasterWater::new(&mut rng, false);
    let t0 = get(&m.step(0.0, 60.0), "total_m3").unwrap().as_f64();
    let t1 = get(&m.step(1.0, 60.0), "total_m3").unwrap().as_f64();
    assert!(
        (t1 - t0 - (1.0 + DISTRICT_LOSS)).abs() < 1e-3,
        "{t0} -> {t1}"
    );
    let mut leaking = MasterWater::new(&mut rng, true);
    let a = get(&leaking.step(0.0, 3600.0), "total_m3")
        .unwrap()
        .as_f64();
    let b = get(&leaking.step(0.0, 3600.0), "total_m3")
        .unwrap()
        .as_f64();
    assert!(b > a, "a pipe leak flows with no household use");
}
