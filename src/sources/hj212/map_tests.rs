use super::*;
use crate::protocols::hj212::{Packet, Pushed, Reassembler};

const CST: i32 = 8 * 3600;

fn msg(segment: &str) -> Message {
    let p = Packet::parse(segment).unwrap();
    match Reassembler::default().push(&p).unwrap() {
        Pushed::Complete(m) => m,
        other => panic!("{other:?}"),
    }
}

fn one(m: Result<Mapped, MapError>) -> Reading {
    match m.unwrap() {
        Mapped::Readings(mut r) => {
            assert_eq!(r.len(), 1);
            r.remove(0)
        }
        other => panic!("{other:?}"),
    }
}

fn f(r: &Reading, k: &str) -> Option<f64> {
    r.field(k).and_then(FieldValue::as_f64)
}

fn mapping() -> Mapping {
    Mapping::new(&BTreeMap::new(), CST, false)
}

/// 2026-12-01 09:00:00 +08:00 = 01:00:00 UTC, in ns.
fn t0900() -> i64 {
    let t = chrono::NaiveDate::from_ymd_opt(2026, 12, 1)
        .and_then(|d| d.and_hms_opt(1, 0, 0))
        .unwrap();
    t.and_utc().timestamp() * 1_000_000_000
}

#[test]
fn real_time_la_rtd_becomes_noise_laeq_at_data_time_in_utc() {
    let r = one(mapping().map(
        &msg("QN=20261201090000123;ST=23;CN=2011;PW=123456;MN=GG0001;Flag=5;CP=&&DataTime=20261201090000; LA-Rtd=50.1,LA-Flag=N&&"),
        "noise-07",
        0,
    ));
    assert_eq!(r.measurement, "noise");
    assert_eq!(r.tag("device"), Some("noise-07"));
    assert_eq!(f(&r, "laeq"), Some(50.1));
    assert_eq!(r.time_ns, t0900());
}

#[test]
fn real_time_without_data_time_takes_the_receive_time() {
    let r = one(mapping().map(&msg("ST=23;CN=2011;MN=A;CP=&&LA-Rtd=50&&"), "d", 42));
    assert_eq!(r.time_ns, 42);
}

#[test]
fn a_flagged_level_is_kept_apart_from_the_indicators() {
    let r = one(mapping().map(
        &msg("ST=23;CN=2011;MN=A;CP=&&DataTime=20261201090000;LA-Rtd=94.0,LA-Flag=C&&"),
        "d",
        0,
    ));
    assert_eq!(r.measurement, "noise_flagged");
    assert_eq!(r.field("flag"), Some(&FieldValue::Str("C".into())));
}

#[test]
fn hour_data_of_the_check_vector_becomes_noise_interval_fields() {
    let r = one(mapping().map(
        &msg("QN=20261201100000000;ST=23;CN=2061;PW=123456;MN=GG0001;Flag=5;CP=&&DataTime=20261201090000;Leq-Data=52.3;L10-Data=55.1;L50-Data=50.2;L90-Data=46.0;LMx-Data=68.4;LMn-Data=42.1&&"),
        "noise-07",
        0,
    ));
    assert_eq!(r.measurement, "noise_interval");
    assert_eq!(r.tag("interval"), Some("hour"));
    assert_eq!(r.time_ns, t0900());
    for (k, v) in [
        ("laeq", 52.3),
        ("la10", 55.1),
        ("la50", 50.2),
        ("la90", 46.0),
        ("lamax", 68.4),
        ("lamin", 42.1),
    ] {
        assert_eq!(f(&r, k), Some(v), "{k}");
    }
}

#[test]
fn every_day_data_coding_gives_ld_ln_ldn() {
    for cp in [
        "Ld-DayData=55.0;Ln-NightData=45.0;Ldn-Data=56.1",
        "Leq-DayData=55.0;Leq-NightData=45.0;Ldn-Data=56.1",
        "Ld-Data=55.0;Ln-Data=45.0;Ldn-Data=56.1",
    ] {
        let seg = format!("ST=23;CN=2031;MN=A;CP=&&DataTime=20261201000000;{cp}&&");
        let r = one(mapping().map(&msg(&seg), "d", 0));
        assert_eq!(r.tag("interval"), Some("day"), "{cp}");
        assert_eq!(f(&r, "ld"), Some(55.0), "{cp}");
        assert_eq!(f(&r, "ln"), Some(45.0), "{cp}");
        assert_eq!(f(&r, "ldn"), Some(56.1), "{cp}");
    }
}

#[test]
fn minute_data_feeds_the_indicators_only_when_configured() {
    let seg = "ST=23;CN=2051;MN=A;CP=&&DataTime=20261201090000;Leq-Data=52.3;LMx-Data=60&&";
    assert_eq!(
        one(mapping().map(&msg(seg), "d", 0)).measurement,
        "noise_interval"
    );
    let m = Mapping::new(&BTreeMap::new(), CST, true);
    let r = one(m.map(&msg(seg), "d", 0));
    assert_eq!(r.measurement, "noise");
    assert_eq!(f(&r, "lamax"), Some(60.0));
}

#[test]
fn configured_codes_extend_the_table_and_unknown_codes_stay_raw() {
    let extra = BTreeMap::from([("n00000".to_string(), "laeq".to_string())]);
    let m = Mapping::new(&extra, CST, false);
    let r = one(m.map(
        &msg("ST=23;CN=2011;MN=A;CP=&&n00000-Rtd=48.5;x9-Rtd=3&&"),
        "d",
        0,
    ));
    assert_eq!(f(&r, "laeq"), Some(48.5));
    assert_eq!(f(&r, "x9_rtd"), Some(3.0));
}

#[test]
fn dust_terminals_are_raw_readings_of_their_own_class() {
    let r = one(mapping().map(
        &msg("ST=39;CN=2011;MN=A;CP=&&DataTime=20261201090000;a34001-Rtd=0.121,a34001-Flag=N;LA-Rtd=61.2&&"),
        "site-1",
        0,
    ));
    assert_eq!(r.measurement, "dust");
    assert_eq!(r.tag("interval"), Some("rtd"));
    assert_eq!(f(&r, "a34001_rtd"), Some(0.121));
    assert_eq!(f(&r, "laeq"), Some(61.2));
    assert_eq!(r.field("a34001_flag"), Some(&FieldValue::Str("N".into())));
}

#[test]
fn status_and_heartbeats_are_ignored_and_bad_uploads_refused() {
    assert_eq!(
        mapping().map(&msg("ST=23;CN=2021;MN=A;CP=&&x-Info=1&&"), "d", 0),
        Ok(Mapped::Ignored(2021))
    );
    assert_eq!(
        mapping().map(&msg("ST=23;CN=2061;MN=A;CP=&&Leq-Data=5&&"), "d", 0),
        Err(MapError::NoDataTime(2061))
    );
    assert_eq!(
        mapping().map(&msg("ST=23;CN=2011;MN=A;CP=&&LA-Rtd=x&&"), "d", 0),
        Err(MapError::NoValues)
    );
    assert!(matches!(
        mapping().map(
            &msg("ST=23;CN=2011;MN=A;CP=&&DataTime=2026;LA-Rtd=1&&"),
            "d",
            0
        ),
        Err(MapError::BadDataTime(_))
    ));
}
