//! The summary's indicator lines from a hand-made history.

use super::*;

fn rec(t: i64, kind: &str, key: &str, f: &[(&str, f64)]) -> IntervalRecord {
    IntervalRecord {
        t,
        kind: kind.into(),
        key: key.into(),
        fields: f.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    }
}

#[test]
fn summary_shows_the_newest_interval_of_each_indicator() {
    let h = History {
        intervals: vec![
            rec(
                1,
                "gg_device_health",
                "environment:noise",
                &[("online", 2.0), ("devices", 4.0)],
            ),
            rec(
                2,
                "gg_device_health",
                "environment:noise",
                &[("online", 4.0), ("devices", 4.0)],
            ),
            rec(
                2,
                "gg_lighting",
                "",
                &[
                    ("lit_rate_pct", 97.5),
                    ("lamps", 4.0),
                    ("lamps_faulty", 1.0),
                ],
            ),
            rec(3, "gg_lighting", "", &[("lamps", 4.0)]),
            rec(
                1,
                "gg_parking",
                "north",
                &[("fire_lane_events", 1.0), ("occupancy_pct", 30.0)],
            ),
            rec(
                2,
                "gg_parking",
                "north",
                &[
                    ("fire_lane_events", 2.0),
                    ("occupancy_pct", 66.7),
                    ("occupied", 2.0),
                    ("spaces", 3.0),
                ],
            ),
            rec(
                2,
                "gg_security",
                "",
                &[("unacknowledged", 1.0), ("alarms", 3.0)],
            ),
            rec(
                2,
                "gg_water_balance",
                "A",
                &[("master_m3", 2.0), ("loss_m3", 0.5)],
            ),
        ],
        ..History::default()
    };
    let text = indicator_lines(&h).join("\n");
    assert!(text.contains("noise 4/4"), "{text}");
    assert!(
        text.contains("亮灯率      97.5 % (1 of 4 lamps faulty)"),
        "{text}"
    );
    assert!(
        text.contains("north 67 % occupied (2/3) | fire-lane events 3"),
        "{text}"
    );
    assert!(text.contains("1 open (unacknowledged), 3 raised"), "{text}");
    assert!(
        text.contains("district A 0.500 m³ of 2.000 (25.0 %)"),
        "{text}"
    );
}

#[test]
fn summary_says_what_it_waits_for_before_the_first_window() {
    let text = indicator_lines(&History::default()).join("\n");
    assert!(
        text.contains("after the first indicator interval"),
        "{text}"
    );
    assert!(text.contains("after the first local day"), "{text}");
}
