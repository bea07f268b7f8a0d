use super::*;

fn cmd(qn: &str, code: u16, pw: &str, cp: &str) -> Incoming {
    Incoming {
        qn: Some(qn.into()),
        st: Some(23),
        cn: Some(code),
        pw: Some(pw.into()),
        mn: Some("GG0001".into()),
        flag: Some(Flag(5)),
        cp: cp.into(),
    }
}

fn knows(mn: &str) -> bool {
    mn == "GG0001"
}

fn me() -> Identity<'static> {
    Identity {
        pw: "123456",
        st: 23,
        flag_version: 1,
        knows: &knows,
    }
}

fn now() -> NaiveDateTime {
    chrono::NaiveDate::from_ymd_opt(2026, 12, 1)
        .and_then(|d| d.and_hms_opt(10, 20, 30))
        .unwrap()
}

fn settings() -> Settings {
    Settings::new(Duration::from_secs(5), 3, Duration::from_secs(30))
}

#[test]
fn a_clock_read_is_answered_with_the_local_time_between_9011_and_9012() {
    let (out, o) = reply(
        &cmd("1764555630123", 1011, "123456", ""),
        &me(),
        &mut settings(),
        now(),
    );
    assert_eq!(o, Outcome::Done);
    assert_eq!(
        out,
        [
            "QN=1764555630123;ST=91;CN=9011;PW=123456;MN=GG0001;Flag=4;CP=&&QnRtn=1&&",
            "QN=1764555630123;ST=23;CN=1011;PW=123456;MN=GG0001;Flag=4;CP=&&SystemTime=20261201102030&&",
            "QN=1764555630123;ST=91;CN=9012;PW=123456;MN=GG0001;Flag=4;CP=&&ExeRtn=1&&",
        ]
    );
}

#[test]
fn setting_the_clock_is_refused() {
    let (out, o) = reply(
        &cmd(
            "20261201102030000",
            1012,
            "123456",
            "SystemTime=20200101000000",
        ),
        &me(),
        &mut settings(),
        now(),
    );
    assert_eq!(o, Outcome::Refused(2));
    assert_eq!(
        out,
        ["QN=20261201102030000;ST=91;CN=9011;PW=123456;MN=GG0001;Flag=4;CP=&&QnRtn=2&&"]
    );
}

#[test]
fn the_platform_sets_timeout_retries_and_the_real_time_interval() {
    let mut s = settings();
    let (_, o) = reply(
        &cmd("q1", 1000, "123456", "OverTime=2;ReCount=1"),
        &me(),
        &mut s,
        now(),
    );
    assert_eq!(o, Outcome::Done);
    assert_eq!((s.over_time, s.re_count), (Duration::from_secs(2), 1));
    let (_, o) = reply(
        &cmd("q2", 1062, "123456", "RtdInterval=60"),
        &me(),
        &mut s,
        now(),
    );
    assert_eq!(o, Outcome::Done);
    assert_eq!(s.rtd_interval("GG0001"), Duration::from_secs(60));
    let (out, _) = reply(&cmd("q3", 1061, "123456", ""), &me(), &mut s, now());
    assert!(out[1].ends_with("CN=1061;PW=123456;MN=GG0001;Flag=4;CP=&&RtdInterval=60&&"));
    let (out, o) = reply(
        &cmd("q4", 1062, "123456", "RtdInterval=5"),
        &me(),
        &mut s,
        now(),
    );
    assert_eq!(o, Outcome::Refused(3));
    assert!(out[1].ends_with("CP=&&ExeRtn=3&&"), "{out:?}");
    assert_eq!(s.rtd_interval("GG0001"), Duration::from_secs(60));
}

#[test]
fn wrong_pw_unknown_mn_and_unknown_commands_get_their_return_codes() {
    let rtn = |c: Incoming| reply(&c, &me(), &mut settings(), now()).1;
    assert_eq!(rtn(cmd("q", 1011, "000000", "")), Outcome::Refused(3));
    let mut other = cmd("q", 1011, "123456", "");
    other.mn = Some("XX".into());
    assert_eq!(rtn(other), Outcome::Refused(4));
    assert_eq!(rtn(cmd("q", 3020, "123456", "")), Outcome::Refused(8));
    let mut no_qn = cmd("q", 1011, "123456", "");
    no_qn.qn = None;
    assert_eq!(rtn(no_qn), Outcome::Refused(7));
}

#[test]
fn answers_are_never_answered() {
    for code in [9011, 9012, 9014, 9015] {
        let (out, o) = reply(&cmd("q", code, "123456", ""), &me(), &mut settings(), now());
        assert_eq!((out.len(), o), (0, Outcome::Ignored));
    }
}

#[test]
fn a_9014_with_the_uploads_st_and_flag_5_answers_it() {
    let a = cmd("20261201100000000", 9014, "123456", "");
    assert!(a.answers("20261201100000000"));
    assert!(!a.answers("20261201100000001"));
}
