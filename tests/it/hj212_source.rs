//! The HJ 212 source end to end: stations written in the test from the
//! standard's byte layout (`hj212_source_station`, its own CRC) connect
//! to the greengate binary, which stores into a real VictoriaMetrics.

use std::time::Duration;

use crate::common::Victoria;
use crate::hj212_source_station::*;

const T: Duration = Duration::from_secs(20);
const S: i64 = 1_000_000_000;

#[test]
fn a_stations_real_time_uploads_are_stored_answered_and_feed_the_noise_indicators() {
    let dir = tempfile::tempdir().unwrap();
    let vm = Victoria::start();
    let mut s = setup(dir.path(), &vm, 1, "");
    let mut st = Station::connect(s.port);
    // Two samples a minute for six minutes; minute m is at 50 + m dB.
    for i in 0..12i64 {
        let t = t0_ns() + i * 30 * S;
        let seg = rtd(
            &format!("2026113010{:02}{:02}000", i / 2, (i % 2) * 30),
            &mn(1),
            "123456",
            t,
            50.0 + (i / 2) as f64,
        );
        st.upload_answered(&seg, T);
    }
    let got = {
        vm.wait_for_samples(r#"{__name__="noise_laeq"}"#, 12, T);
        samples(&vm, "noise_laeq")
    };
    let want: Vec<_> = (0..12i64)
        .map(|i| {
            (
                "noise-hj-1".to_string(),
                (t0_ns() + i * 30 * S) / 1_000_000,
                50.0 + (i / 2) as f64,
            )
        })
        .collect();
    assert_eq!(got, want, "{}", s.daemon.log());
    let e = vm.export(r#"{__name__="noise_laeq"}"#);
    assert_eq!(e[0]["metric"]["community"], "cn-hj212");

    // The engine closes minutes 0..4 (the newest reading is in minute 5).
    vm.wait_for_samples(r#"{__name__="gg_noise_minute_leq"}"#, 5, T);
    let minutes = samples(&vm, "gg_noise_minute_leq");
    assert!(minutes.len() >= 5, "{minutes:?}\n{}", s.daemon.log());
    for (m, (dev, t, leq)) in minutes.iter().take(5).enumerate() {
        assert_eq!(dev, "noise-hj-1");
        assert_eq!(*t, (t0_ns() + m as i64 * 60 * S) / 1_000_000);
        assert!((leq - (50.0 + m as f64)).abs() < 0.05, "minute {m}: {leq}");
    }
    assert_eq!(s.daemon.metric("hj212_uploads_total"), 12.0);
    assert_eq!(s.daemon.metric("hj212_answers_total"), 12.0);
    assert_eq!(s.daemon.stop(), 0);
}

#[test]
fn a_wrong_pw_is_refused_with_qn_rtn_3_and_nothing_of_it_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let vm = Victoria::start();
    let s = setup(dir.path(), &vm, 1, "");
    let mut st = Station::connect(s.port);
    st.upload(&rtd("20261130100000001", &mn(1), "654321", t0_ns(), 61.0));
    let a = st.answer(T).expect("an answer");
    assert!(
        a.starts_with("QN=20261130100000001;ST=91;CN=9011;") && a.ends_with("CP=&&QnRtn=3&&"),
        "{a}"
    );
    // The connection stays usable; the right PW is stored.
    st.upload_answered(
        &rtd("20261130100000002", &mn(1), "123456", t0_ns() + S, 52.0),
        T,
    );
    vm.wait_for_samples(r#"{__name__="noise_laeq"}"#, 1, T);
    std::thread::sleep(Duration::from_secs(2));
    let got = samples(&vm, "noise_laeq");
    assert_eq!(
        got,
        vec![("noise-hj-1".into(), (t0_ns() + S) / 1_000_000, 52.0)]
    );
    assert_eq!(s.daemon.metric("hj212_uploads_rejected_total"), 1.0);
    assert!(s
        .daemon
        .metrics()
        .contains("greengate_hj212_uploads_rejected_total{reason=\"bad_pw\"} 1"));
    assert!(!s.daemon.log().contains("654321"), "the PW is never logged");
}

#[test]
fn a_bad_crc_is_answered_qn_rtn_9_and_dead_lettered_without_its_pw() {
    let dir = tempfile::tempdir().unwrap();
    let vm = Victoria::start();
    let s = setup(dir.path(), &vm, 1, "");
    let mut st = Station::connect(s.port);
    let seg = rtd("20261130100000003", &mn(1), "123456", t0_ns(), 61.0);
    let mut bad = frame(&seg);
    let n = bad.len();
    bad[n - 3] = if bad[n - 3] == b'0' { b'1' } else { b'0' };
    st.send(&bad).unwrap();
    let a = st.answer(T).expect("an answer");
    assert!(
        a.starts_with("QN=20261130100000003;ST=91;CN=9011;") && a.ends_with("CP=&&QnRtn=9&&"),
        "{a}"
    );
    let dl = dead_letters(dir.path());
    assert_eq!(dl.len(), 1, "{dl:?}");
    assert_eq!(dl[0]["source"], "hj212");
    assert_eq!(dl[0]["origin"], mn(1).as_str());
    assert!(
        dl[0]["reason"].as_str().unwrap().starts_with("bad_crc"),
        "{dl:?}"
    );
    let payload = dl[0]["payload"].as_str().unwrap();
    assert!(
        payload.contains("PW=***;") && !payload.contains("123456"),
        "{payload}"
    );
    // The good one after it is stored.
    st.upload_answered(
        &rtd("20261130100000004", &mn(1), "123456", t0_ns(), 61.0),
        T,
    );
    let e = vm.wait_for_samples(r#"{__name__="noise_laeq"}"#, 1, T);
    assert_eq!(e[0]["values"][0], 61.0);
    assert!(s
        .daemon
        .metrics()
        .contains("greengate_hj212_uploads_rejected_total{reason=\"bad_crc\"} 1"));
}

#[test]
fn a_split_hour_upload_is_reassembled_in_any_order_and_answered_once_stored() {
    let dir = tempfile::tempdir().unwrap();
    let vm = Victoria::start();
    let s = setup(dir.path(), &vm, 1, "");
    let mut st = Station::connect(s.port);
    let head = |pno: u32| {
        format!(
            "QN=20261130110000000;ST=23;CN=2061;PW=123456;MN={};Flag=7;PNUM=3;PNO={pno};CP=&&",
            mn(1)
        )
    };
    let parts = [
        (3, "L90-Data=46.0;LMx-Data=68.4;LMn-Data=42.1"),
        (1, "DataTime=20261130100000;Leq-Data=52.3,Leq-Flag=N"),
        (2, "L10-Data=55.1;L50-Data=50.2"),
    ];
    for (i, (pno, cp)) in parts.iter().enumerate() {
        st.upload(&format!("{}{cp}&&", head(*pno)));
        if i < 2 {
            assert_eq!(
                st.answer(Duration::from_millis(500)),
                None,
                "no answer before the upload is whole"
            );
        }
    }
    let a = st.answer(T).expect("the 9014");
    assert!(a.starts_with("QN=20261130110000000;ST=91;CN=9014;"), "{a}");
    for (field, v) in [
        ("laeq", 52.3),
        ("la10", 55.1),
        ("la50", 50.2),
        ("la90", 46.0),
        ("lamax", 68.4),
        ("lamin", 42.1),
    ] {
        let name = format!("noise_interval_{field}");
        let e = vm.wait_for_samples(&format!("{{__name__=\"{name}\"}}"), 1, T);
        assert_eq!(e.len(), 1, "{name}: {e:?}\n{}", s.daemon.log());
        assert_eq!(e[0]["metric"]["interval"], "hour");
        assert_eq!(e[0]["metric"]["device"], "noise-hj-1");
        assert_eq!(
            e[0]["timestamps"][0],
            t0_ns() / 1_000_000,
            "DataTime 10:00 +08:00"
        );
        assert_eq!(e[0]["values"][0], v, "{name}");
    }
}

#[test]
fn dust_flagged_levels_and_unknown_stations_arrive_in_influxdb_1x_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::common::Influx1::start();
    db.create_db("community");
    let sink = format!(
        "url = \"{}\"\napi = \"v1\"\ndatabase = \"community\"",
        db.url()
    );
    let (cfg, port, http_port) = write_config_to(dir.path(), &sink, 1, "");
    let _d = start(&cfg, port, http_port, dir.path(), 0);
    let mut st = Station::connect(port);
    // A construction-site dust terminal (ST 39), as station GG0001.
    let dust = format!(
        "QN=20261130100000010;ST=39;CN=2011;PW=123456;MN={};Flag=5;CP=&&DataTime={};a34001-Rtd=0.121,a34001-Flag=N;LA-Rtd=61.2&&",
        mn(1),
        local(t0_ns())
    );
    st.upload_answered(&dust, T);
    // A calibration tone: stored apart, with its flag, not as `noise`.
    let cal = rtd("20261130100000011", &mn(1), "123456", t0_ns() + S, 94.0)
        .replace("LA-Flag=N", "LA-Flag=C");
    st.upload_answered(&cal, T);
    // An MN no station has: dead-lettered (default rule), then answered 9014.
    st.upload_answered(
        &rtd("20261130100000012", "XX9999", "123456", t0_ns(), 50.0),
        T,
    );

    let rows = db.wait_for_rows("community", "SELECT * FROM dust", 1, T);
    assert_eq!(rows[0]["a34001_rtd"], 0.121);
    assert_eq!(rows[0]["a34001_flag"], "N");
    assert_eq!(rows[0]["laeq"], 61.2);
    assert_eq!(rows[0]["interval"], "rtd");
    assert_eq!(rows[0]["device"], "noise-hj-1");
    assert_eq!(rows[0]["time"], t0_ns());
    let rows = db.wait_for_rows("community", "SELECT * FROM noise_flagged", 1, T);
    assert_eq!(rows[0]["laeq"], 94.0);
    assert_eq!(rows[0]["flag"], "C");
    assert!(
        db.rows("community", "SELECT * FROM noise").is_empty(),
        "nothing reached `noise`"
    );
    let dl = dead_letters(dir.path());
    assert_eq!(dl.len(), 1, "{dl:?}");
    assert_eq!(dl[0]["origin"], "XX9999");
    assert!(dl[0]["reason"].as_str().unwrap().starts_with("unknown_mn"));
}
