use super::*;

/// 2026-12-01 09:00 in +08:00.
const T9: i64 = 1_796_086_800 * 1_000_000_000;
const CST: i32 = 8 * 3600;

fn cfg(v: serde_json::Value) -> PlatformConfig {
    let mut base = serde_json::json!({
        "name": "p", "address": "127.0.0.1:1", "pw": "123456",
        "points": {"n1": "GG0001"},
    });
    if let (Some(b), Some(o)) = (base.as_object_mut(), v.as_object()) {
        b.extend(o.clone());
    }
    serde_json::from_value(base).unwrap()
}

fn hour(valid: bool, reason: Option<&str>) -> Reading {
    let mut r = Reading::new("gg_noise_hour", T9);
    r.set_tag("device", "n1");
    for (k, v) in [
        ("leq", 52.3),
        ("l10", 55.1),
        ("l50", 50.2),
        ("l90", 46.0),
        ("lmax", 68.4),
        ("lmin", 42.1),
        ("l5", 57.0),
    ] {
        r.add_field(k, FieldValue::Float(v));
    }
    r.add_field("valid", FieldValue::Bool(valid));
    if let Some(why) = reason {
        r.add_field("invalid_reason", FieldValue::Str(why.into()));
    }
    r
}

fn no_interval(_: &str) -> i64 {
    0
}

#[test]
fn an_hour_becomes_2061_with_the_default_factor_codes_and_flag_n() {
    let u = Mapper::new(CST)
        .upload(&cfg(serde_json::json!({})), &hour(true, None), no_interval)
        .unwrap();
    assert_eq!(u.cn, 2061);
    assert_eq!(u.mn, "GG0001");
    assert_eq!(
        u.cp,
        "DataTime=20261201090000;Leq-Data=52.3,Leq-Flag=N;L10-Data=55.1,L10-Flag=N;\
         L50-Data=50.2,L50-Flag=N;L90-Data=46,L90-Flag=N;LMx-Data=68.4,LMx-Flag=N;\
         LMn-Data=42.1,LMn-Flag=N"
    );
}

#[test]
fn invalid_windows_are_flagged_b_for_missing_samples_and_d_for_a_wrong_interval() {
    let c = cfg(serde_json::json!({}));
    let mut m = Mapper::new(CST);
    let b = m
        .upload(&c, &hour(false, Some("low_coverage")), no_interval)
        .unwrap();
    assert!(b.cp.contains("Leq-Flag=B"), "{}", b.cp);
    let d = m
        .upload(
            &c,
            &hour(false, Some("sample_interval_mismatch")),
            no_interval,
        )
        .unwrap();
    assert!(d.cp.contains("Leq-Flag=D"), "{}", d.cp);
}

#[test]
fn a_configured_factor_table_renames_and_leaves_out_codes() {
    let c = cfg(serde_json::json!({"factors": {"leq": "n00000", "l10": "", "l5": "L5"}}));
    let u = Mapper::new(CST)
        .upload(&c, &hour(true, None), no_interval)
        .unwrap();
    assert!(u.cp.contains("n00000-Data=52.3,n00000-Flag=N"), "{}", u.cp);
    assert!(u.cp.contains("L5-Data=57"), "{}", u.cp);
    assert!(!u.cp.contains("L10-"), "{}", u.cp);
}

#[test]
fn a_day_is_2031_dated_at_midnight_with_day_and_night_codes() {
    let mut r = Reading::new("gg_noise_day", T9 - 3 * 3_600_000_000_000);
    r.set_tag("device", "n1");
    r.add_field("date", FieldValue::Str("2026-12-01".into()));
    r.add_field("ld", FieldValue::Float(50.0));
    r.add_field("ln", FieldValue::Float(40.5));
    r.add_field("ldn", FieldValue::Float(50.12));
    let mut m = Mapper::new(CST);
    let u = m
        .upload(&cfg(serde_json::json!({})), &r, no_interval)
        .unwrap();
    assert_eq!(u.cn, 2031);
    assert_eq!(
        u.cp,
        "DataTime=20261201000000;Ld-DayData=50,Ld-Flag=N;Ln-NightData=40.5,Ln-Flag=N;\
         Ldn-Data=50.12,Ldn-Flag=N"
    );
    let u = m
        .upload(
            &cfg(serde_json::json!({"day_coding": "data"})),
            &r,
            no_interval,
        )
        .unwrap();
    assert!(u.cp.contains("Ld-Data=50,") && u.cp.contains("Ln-Data=40.5,"));
}

#[test]
fn a_day_without_valid_periods_is_not_sent() {
    let mut r = Reading::new("gg_noise_day", T9);
    r.set_tag("device", "n1");
    r.add_field("day_hours_valid", FieldValue::Int(3));
    let e = Mapper::new(CST).upload(&cfg(serde_json::json!({})), &r, no_interval);
    assert_eq!(e, Err(Skip::Empty));
}

#[test]
fn real_time_readings_are_sent_once_per_interval_per_point() {
    let c = cfg(serde_json::json!({"realtime": true}));
    let mut m = Mapper::new(CST);
    let raw = |t: i64| {
        let mut r = Reading::new("noise", t);
        r.set_tag("device", "n1");
        r.add_field("laeq", FieldValue::Float(50.1));
        r
    };
    let s = 1_000_000_000;
    let thirty = |_: &str| 30 * s;
    let u = m.upload(&c, &raw(T9), thirty).unwrap();
    assert_eq!(
        (u.cn, u.cp.as_str()),
        (2011, "DataTime=20261201090000;LA-Rtd=50.1,LA-Flag=N")
    );
    assert_eq!(
        m.upload(&c, &raw(T9 + 10 * s), thirty),
        Err(Skip::Throttled)
    );
    assert!(m.upload(&c, &raw(T9 + 30 * s), thirty).is_ok());
}

#[test]
fn unknown_devices_and_measurements_are_skipped() {
    let c = cfg(serde_json::json!({"hour": false}));
    let mut m = Mapper::new(CST);
    assert_eq!(
        m.upload(&c, &hour(true, None), no_interval),
        Err(Skip::Other)
    );
    let mut r = hour(true, None);
    r.measurement = "gg_noise_minute".into();
    r.set_tag("device", "unknown");
    assert_eq!(m.upload(&c, &r, no_interval), Err(Skip::NoMn));
}
