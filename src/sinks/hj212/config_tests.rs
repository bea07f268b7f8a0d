use super::*;
use std::path::Path;

fn platform(v: serde_json::Value) -> PlatformConfig {
    serde_json::from_value(v).unwrap()
}

fn problems(v: serde_json::Value, base: &Path) -> Vec<String> {
    let c: Hj212Config = serde_json::from_value(v).unwrap();
    let mut cx = Check::new(base);
    c.validate("sinks.hj212", &mut cx);
    cx.problems().iter().map(|p| p.to_string()).collect()
}

fn good() -> serde_json::Value {
    serde_json::json!({
        "name": "city-env", "address": "127.0.0.1:9000", "pw": "123456",
        "points": {"noise-01": "GG0001"},
    })
}

#[test]
fn a_minimal_platform_is_valid_with_the_standards_defaults() {
    let p = problems(serde_json::json!({"platforms": [good()]}), Path::new("."));
    assert!(p.is_empty(), "{p:?}");
    let c = platform(good());
    assert_eq!((c.st, c.flag_version, c.answers), (23, 1, true));
    assert_eq!(c.factors.ld, "Ld");
    assert_eq!(c.sink_name(), "hj212-city-env");
}

#[test]
fn the_route_takes_the_chosen_windows_and_the_realtime_measurement() {
    let mut c = platform(good());
    let r = c.route();
    assert!(r.accepts("gg_noise_minute") && r.accepts("gg_noise_day"));
    assert!(!r.accepts("noise") && !r.accepts("gg_water_day"));
    c.minute = false;
    c.realtime = true;
    let r = c.route();
    assert!(!r.accepts("gg_noise_minute") && r.accepts("noise"));
    assert!(r.droppable());
}

#[test]
fn every_problem_is_reported_with_its_key_path() {
    let p = problems(
        serde_json::json!({"platforms": [{
            "name": "a b", "address": "nohost", "st": 0, "flag_version": 64,
            "over_time": "0s", "retry": "5s", "retry_max": "1s", "max_segment": 10,
            "minute": false, "hour": false, "day": false,
            "factors": {"leq": "Leq-Data", "l10": "L 10"},
            "points": {"noise-01": "MN;1"},
        }]}),
        Path::new("."),
    );
    for k in [
        "name",
        "address",
        "pw",
        "st",
        "flag_version",
        "over_time",
        "retry_max",
        "max_segment",
        "minute",
        "factors.leq",
        "factors.l10",
        "points.noise-01",
    ] {
        let want = format!("sinks.hj212.platforms[0].{k}: ");
        assert!(p.iter().any(|s| s.starts_with(&want)), "{want} in {p:?}");
    }
}

#[test]
fn no_platforms_no_points_and_a_reused_name_are_problems() {
    let p = problems(serde_json::json!({}), Path::new("."));
    assert!(p.iter().any(|s| s.starts_with("sinks.hj212.platforms: ")));
    let mut nopoints = good();
    nopoints["points"] = serde_json::json!({});
    let p = problems(
        serde_json::json!({"platforms": [good(), nopoints]}),
        Path::new("."),
    );
    assert!(
        p.iter()
            .any(|s| s.starts_with("sinks.hj212.platforms[1].name: ")),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|s| s.starts_with("sinks.hj212.platforms[1].points: ")),
        "{p:?}"
    );
}

#[test]
fn the_pw_file_is_read_relative_to_the_config_and_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "s3cret\n").unwrap();
    let mut v = good();
    v["pw"] = serde_json::Value::Null;
    v["pw_file"] = "pw".into();
    let p = problems(serde_json::json!({"platforms": [v.clone()]}), dir.path());
    assert!(p.is_empty(), "{p:?}");
    let c = platform(v);
    assert_eq!(c.resolve_pw(dir.path()).unwrap().expose(), "s3cret");
    let c = platform(good());
    assert!(!format!("{c:?}").contains("123456"));
    let mut missing = good();
    missing["pw"] = serde_json::Value::Null;
    missing["pw_file"] = "nope".into();
    let p = problems(serde_json::json!({"platforms": [missing]}), dir.path());
    assert!(
        p.iter()
            .any(|s| s.starts_with("sinks.hj212.platforms[0].pw_file: ")),
        "{p:?}"
    );
}
