use super::*;
use crate::config::Secret;
use crate::sources::hj212::config::{Hj212Config, StationConfig, UnknownMn};

fn shared(unknown: UnknownMn) -> Arc<Shared> {
    let cfg = Hj212Config {
        pw: Some(Secret::new("123456")),
        unknown_mn: unknown,
        stations: vec![StationConfig {
            mn: "GG0001".into(),
            device: "noise-07".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    Arc::new(Shared {
        stations: Stations::new(&cfg),
        mapping: Mapping::new(&cfg.factor_codes, 8 * 3600, false),
        limits: Limits::default(),
        c: Counters::new(),
    })
}

fn session(unknown: UnknownMn) -> Session {
    Session::new(shared(unknown), "127.0.0.1:1".into())
}

fn text(frames: &[Vec<u8>]) -> Vec<String> {
    frames
        .iter()
        .map(|f| String::from_utf8(f.clone()).unwrap())
        .collect()
}

const RTD: &str = "QN=20261201090000123;ST=23;CN=2011;PW=123456;MN=GG0001;Flag=5;CP=&&DataTime=20261201090000;LA-Rtd=50.1,LA-Flag=N&&";

#[test]
fn a_good_upload_becomes_readings_with_its_9014_held_for_the_pipeline() {
    let mut s = session(UnknownMn::Refuse);
    let out = s.frame(RTD.as_bytes(), RTD, 0);
    assert_eq!(out.readings.len(), 1);
    assert!(out.needs_pipeline());
    assert_eq!(out.code, cn::DATA_ANSWER);
    let a = text(&out.answers);
    assert_eq!(a.len(), 1);
    assert!(
        a[0].contains("QN=20261201090000123;ST=91;CN=9014;"),
        "{a:?}"
    );
}

#[test]
fn no_answer_unless_the_flag_asks() {
    let seg = RTD.replace("Flag=5", "Flag=4");
    let out = session(UnknownMn::Refuse).frame(seg.as_bytes(), &seg, 0);
    assert_eq!(out.readings.len(), 1);
    assert!(out.answers.is_empty());
}

#[test]
fn a_wrong_password_is_refused_at_once_with_qn_rtn_3() {
    let seg = RTD.replace("PW=123456", "PW=999999");
    let out = session(UnknownMn::Refuse).frame(seg.as_bytes(), &seg, 0);
    assert!(!out.needs_pipeline());
    assert_eq!(out.code, cn::REQUEST_ANSWER);
    assert!(text(&out.answers)[0].contains("CN=9011;PW=999999;MN=GG0001;Flag=4;CP=&&QnRtn=3&&"));
}

#[test]
fn unknown_stations_are_refused_or_dead_lettered_or_accepted() {
    let seg = RTD.replace("MN=GG0001", "MN=ZZ9");
    let out = session(UnknownMn::Refuse).frame(seg.as_bytes(), &seg, 0);
    assert!(text(&out.answers)[0].contains("QnRtn=4"));
    assert!(!out.needs_pipeline());
    let out = session(UnknownMn::DeadLetter).frame(seg.as_bytes(), &seg, 0);
    assert_eq!(out.dead.len(), 1);
    assert!(out.readings.is_empty());
    assert!(text(&out.answers)[0].contains("CN=9014"));
    let dl = String::from_utf8(out.dead[0].payload.clone()).unwrap();
    assert!(dl.contains("PW=***") && !dl.contains("123456"), "{dl}");
    let out = session(UnknownMn::Accept).frame(seg.as_bytes(), &seg, 0);
    assert_eq!(out.readings[0].tag("device"), Some("ZZ9"));
}

#[test]
fn a_bad_crc_is_dead_lettered_and_answered_qn_rtn_9() {
    let frame = format!("##{:04}{RTD}0000\r\n", RTD.len());
    let out = session(UnknownMn::Refuse).bad_crc(frame.as_bytes(), RTD.as_bytes(), *b"0000", 0);
    assert_eq!(out.dead.len(), 1);
    assert!(out.readings.is_empty());
    let a = text(&out.answers);
    assert!(
        a[0].contains("QN=20261201090000123;ST=91;CN=9011;"),
        "{a:?}"
    );
    assert!(a[0].contains("QnRtn=9"), "{a:?}");
}

#[test]
fn split_uploads_are_answered_once_whole_in_any_order() {
    let mut s = session(UnknownMn::Refuse);
    let p2 = "QN=1;ST=23;CN=2061;PW=123456;MN=GG0001;Flag=7;PNUM=2;PNO=2;CP=&&L10-Data=55.1&&";
    let p1 = "QN=1;ST=23;CN=2061;PW=123456;MN=GG0001;Flag=7;PNUM=2;PNO=1;CP=&&DataTime=20261201090000;Leq-Data=52.3&&";
    let out = s.frame(p2.as_bytes(), p2, 0);
    assert!(!out.needs_pipeline() && out.answers.is_empty());
    let out = s.frame(p1.as_bytes(), p1, 0);
    assert_eq!(out.readings.len(), 1);
    let r = &out.readings[0];
    assert_eq!(r.field("laeq").and_then(|v| v.as_f64()), Some(52.3));
    assert_eq!(r.field("la10").and_then(|v| v.as_f64()), Some(55.1));
    assert_eq!(out.answers.len(), 1);
}

#[test]
fn replies_are_never_answered() {
    let seg = "QN=1;ST=91;CN=9014;PW=123456;MN=GG0001;Flag=5;CP=&&&&";
    let out = session(UnknownMn::Refuse).frame(seg.as_bytes(), seg, 0);
    assert!(out.answers.is_empty() && !out.needs_pipeline());
}
