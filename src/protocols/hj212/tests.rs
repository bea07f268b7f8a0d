//! The check vectors of protocols.md (HJ 212 section) and every real-world
//! deviation it lists. Expected CRCs and frames are literals (computed
//! outside the codec), never produced by the code under test.

use super::*;

/// protocols.md check vector 1 (standard CRC 1C80; CRC-16/MODBUS 0759).
const V1: &str = "QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&";
/// protocols.md check vector 2 (CRC BE01, length field 0176).
const V2: &str = "QN=20261201100000000;ST=23;CN=2061;PW=123456;MN=GG0001;Flag=5;CP=&&DataTime=20261201090000;Leq-Data=52.3;L10-Data=55.1;L50-Data=50.2;L90-Data=46.0;LMx-Data=68.4;LMn-Data=42.1&&";

pub(super) fn framed(len: &str, seg: &str, crc: &str) -> Vec<u8> {
    format!("##{len}{seg}{crc}\r\n").into_bytes()
}

pub(super) fn packet(buf: &[u8], crc: Crc) -> Packet<'_> {
    let (f, len) = decode_complete(buf, crc).expect("a checked frame");
    assert_eq!(len, buf.len());
    Packet::parse(f.segment).expect("a valid segment")
}

#[test]
fn check_vectors_give_the_standard_crc_and_not_modbus() {
    assert_eq!(Crc::Standard.of(V1.as_bytes()), 0x1C80);
    assert_eq!(Crc::ModbusHighFirst.of(V1.as_bytes()), 0x0759);
    assert_eq!(Crc::ModbusLowFirst.of(V1.as_bytes()), 0x5907);
    assert_eq!(Crc::Standard.of(V2.as_bytes()), 0xBE01);
    assert_eq!(
        Crc::matching(V1.as_bytes(), 0x0759).collect::<Vec<_>>(),
        [Crc::ModbusHighFirst]
    );
}

#[test]
fn check_vector_frames_encode_and_decode() {
    let mut out = Vec::new();
    encode(V2, Crc::Standard, &mut out).unwrap();
    assert_eq!(out, framed("0176", V2, "BE01"));
    let mut out = Vec::new();
    encode(V1, Crc::Standard, &mut out).unwrap();
    assert_eq!(out, framed("0101", V1, "1C80"));
    assert_eq!(
        packet(&framed("0101", V1, "1C80"), Crc::Standard).cn,
        Some(1062)
    );
}

#[test]
fn either_hex_case_is_accepted_and_each_crc_variant_is_a_setting() {
    assert_eq!(
        packet(&framed("0176", V2, "be01"), Crc::Standard).mn,
        Some("GG0001")
    );
    assert_eq!(
        packet(&framed("0101", V1, "0759"), Crc::ModbusHighFirst).st,
        Some(32)
    );
    assert_eq!(
        packet(&framed("0101", V1, "5907"), Crc::ModbusLowFirst).st,
        Some(32)
    );
    let wrong = framed("0101", V1, "0759");
    assert_eq!(
        decode(&wrong, Crc::Standard),
        Err(Error::BadCrc {
            got: *b"0759",
            want: 0x1C80,
            len: wrong.len()
        })
    );
}

#[test]
fn the_noise_hour_upload_parses_into_header_and_factors() {
    let buf = framed("0176", V2, "BE01");
    let p = packet(&buf, Crc::Standard);
    assert_eq!(
        (p.qn, p.st, p.cn, p.pw, p.mn),
        (
            Some("20261201100000000"),
            Some(23),
            Some(2061),
            Some("123456"),
            Some("GG0001")
        )
    );
    let flag = p.flag.unwrap();
    assert_eq!(
        (flag.version(), flag.split(), flag.answer_requested()),
        (1, false, true)
    );
    assert!(p.wants_answer() && !p.is_split() && !p.is_2005_style());
    let cp = p.cp.unwrap();
    assert_eq!(cp.get("DataTime"), Some("20261201090000"));
    let start = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).and_then(|d| d.and_hms_opt(9, 0, 0));
    assert_eq!(cp.data_time(), start, "local time, the window's start");
    let factors: Vec<_> = cp
        .fields()
        .filter_map(|f| Some((f.factor()?, f.number()?)))
        .collect();
    assert_eq!(factors.first(), Some(&(("Leq", Suffix::Data), 52.3)));
    assert_eq!(factors.len(), 6);
    assert_eq!(factors.last(), Some(&(("LMn", Suffix::Data), 42.1)));
}

#[test]
fn keys_are_trimmed_and_fields_of_one_factor_share_an_item() {
    // The standard's own noise example has "; LA-Rtd=50.1".
    let cp =
        Cp("DataTime=20261201090000; LA-Rtd=50.1,LA-Flag=N;Leq-Avg=51.0,Leq-Max=60.2,Leq-Min=40.3");
    let items: Vec<Vec<_>> = cp
        .items()
        .map(|i| i.fields().map(|f| (f.key, f.value)).collect())
        .collect();
    assert_eq!(
        items,
        [
            vec![("DataTime", "20261201090000")],
            vec![("LA-Rtd", "50.1"), ("LA-Flag", "N")],
            vec![
                ("Leq-Avg", "51.0"),
                ("Leq-Max", "60.2"),
                ("Leq-Min", "40.3")
            ],
        ]
    );
    let suffixes: Vec<_> = cp
        .fields()
        .filter_map(|f| f.factor())
        .map(|(_, s)| s)
        .collect();
    assert_eq!(
        suffixes,
        [
            Suffix::Rtd,
            Suffix::Flag,
            Suffix::Avg,
            Suffix::Max,
            Suffix::Min
        ]
    );
    assert_eq!(
        cp.get("LA-Flag").and_then(DataFlag::parse),
        Some(DataFlag::Normal)
    );
}

#[test]
fn every_data_quality_flag_is_known() {
    let flags: Vec<_> = "N F M S D C T B"
        .split(' ')
        .filter_map(DataFlag::parse)
        .collect();
    assert_eq!(flags.len(), 8);
    assert!(flags.iter().all(|f| DataFlag::parse(f.code()) == Some(*f)));
    assert_eq!(DataFlag::parse("X"), None);
}

#[test]
fn a_9014_with_the_uploads_st_and_flag_5_is_accepted_and_never_answered() {
    let upload = Packet::parse(V2).unwrap();
    let real =
        Packet::parse("QN=20261201100000000;ST=23;CN=9014;PW=123456;MN=GG0001;Flag=5;CP=&&&&")
            .unwrap();
    assert!(real.answers(&upload));
    assert!(
        real.is_answer() && !real.wants_answer(),
        "never answer an answer"
    );
    let other =
        Packet::parse("QN=20261201100000001;ST=91;CN=9014;PW=123456;MN=GG0001;Flag=4;CP=&&&&")
            .unwrap();
    assert!(!other.answers(&upload));
}

#[test]
fn the_standards_data_answer_echoes_the_qn_with_st_91_and_flag_4() {
    let upload = Packet::parse(V2).unwrap();
    let mut s = String::new();
    Packet::data_answer(&upload).write(&mut s).unwrap();
    assert_eq!(
        s,
        "QN=20261201100000000;ST=91;CN=9014;PW=123456;MN=GG0001;Flag=4;CP=&&&&"
    );
}

#[test]
fn epoch_millisecond_and_odd_qns_are_kept_verbatim() {
    let cmd =
        Packet::parse("QN=1764554400000;ST=91;CN=1011;PW=123456;MN=GG0001;Flag=5;CP=&&&&").unwrap();
    assert_eq!(cmd.qn, Some("1764554400000"));
    assert_eq!(
        qn_kind("1764554400000"),
        QnKind::EpochMillis(1_764_554_400_000)
    );
    let t = chrono::NaiveDate::from_ymd_opt(2016, 8, 1)
        .and_then(|d| d.and_hms_milli_opt(8, 58, 57, 223));
    assert_eq!(qn_kind("20160801085857223"), QnKind::Time(t.unwrap()));
    assert_eq!(qn_kind("abc"), QnKind::Other);
    let mut s = String::new();
    Packet::data_answer(&cmd).write(&mut s).unwrap();
    assert!(s.starts_with("QN=1764554400000;"));
}

#[test]
fn uploads_reusing_a_qn_are_both_delivered() {
    let mut r = Reassembler::default();
    let a = Packet::parse(V2).unwrap();
    let other = V2.replace("Leq-Data=52.3", "Leq-Data=53.0");
    let b = Packet::parse(&other)
        .map(|p| Packet { cp: p.cp, ..a })
        .unwrap();
    assert!(matches!(r.push(&a).unwrap(), Pushed::Complete(m) if m.cp.contains("52.3")));
    assert!(matches!(r.push(&b).unwrap(), Pushed::Complete(m) if m.cp.contains("53.0")));
}

#[test]
fn a_2005_style_frame_without_qn_and_flag_is_accepted() {
    let seg =
        "ST=32;CN=2011;PW=123456;MN=88888880000001;CP=&&DataTime=20040516020111;B03-Rtd=55.2&&";
    let p = Packet::parse(seg).unwrap();
    assert!(p.is_2005_style() && !p.wants_answer());
    assert_eq!(
        (p.st, p.cn, p.cp.and_then(|c| c.get("B03-Rtd"))),
        (Some(32), Some(2011), Some("55.2"))
    );
}

#[test]
fn every_day_data_coding_reads_as_factors() {
    for (cp, want) in [
        (
            "DataTime=20261201000000;Ld-DayData=55.0;Ln-NightData=45.0;Ldn-Data=56.1",
            ["Ld", "Ln", "Ldn"],
        ),
        (
            "DataTime=20261201000000;Leq-DayData=55.0;Leq-NightData=45.0;L10-DayData=58.0",
            ["Leq", "Leq", "L10"],
        ),
        (
            "DataTime=20261201000000;Ldn-Data=56.1;L10-Data=58.0;L90-Data=40.0",
            ["Ldn", "L10", "L90"],
        ),
    ] {
        let codes: Vec<_> = Cp(cp)
            .fields()
            .filter_map(|f| f.factor())
            .map(|(c, _)| c)
            .collect();
        assert_eq!(codes, want, "{cp}");
    }
}

#[test]
fn pno_before_pnum_and_packets_without_the_split_flag_are_split_packets() {
    let p = Packet::parse("QN=20261201100000000;ST=23;CN=2061;PW=123456;MN=GG0001;Flag=5;PNO=2;PNUM=3;CP=&&L90-Data=46.0&&").unwrap();
    assert_eq!((p.pnum, p.pno, p.is_split()), (Some(3), Some(2), true));
    assert!(!p.flag.unwrap().split());
}

#[test]
fn noise_and_a_half_frame_before_a_whole_one_are_skipped() {
    let whole = framed("0176", V2, "BE01");
    let mut buf = b"xx".to_vec();
    buf.extend_from_slice(&whole);
    assert_eq!(
        decode(&buf, Crc::Standard),
        Err(Error::NotAFrame { skip: 2 })
    );
    // A station cut off mid-frame, then the whole frame: the half frame's
    // length swallows the next one, whose CRC checks.
    let mut buf = framed("0176", V2, "BE01");
    buf.truncate(60);
    let cut = buf.len();
    buf.extend_from_slice(&whole);
    assert_eq!(
        decode(&buf, Crc::Standard),
        Err(Error::NotAFrame { skip: cut })
    );
    assert!(matches!(
        decode(&buf[cut..], Crc::Standard),
        Ok(Decoded::Frame { .. })
    ));
    assert_eq!(decode(&whole[..100], Crc::Standard), Ok(Decoded::NeedMore));
    assert_eq!(
        decode_complete(&whole[..100], Crc::Standard),
        Err(Error::Truncated {
            have: 100,
            need: 188
        })
    );
    let mut no_crlf = whole.clone();
    no_crlf[186] = b' ';
    assert_eq!(
        decode(&no_crlf, Crc::Standard),
        Err(Error::BadEnd { len: 188 })
    );
    assert_eq!(
        decode(b"##01x", Crc::Standard),
        Err(Error::NotAFrame { skip: 1 })
    );
}

#[test]
fn the_cp_writer_refuses_what_would_break_the_structure() {
    let mut w = CpWriter::new();
    w.field("DataTime", "20261201090000").unwrap();
    w.item()
        .field("LA-Rtd", "50.1")
        .unwrap()
        .field("LA-Flag", "N")
        .unwrap();
    assert_eq!(
        w.clone().finish(),
        "DataTime=20261201090000;LA-Rtd=50.1,LA-Flag=N"
    );
    for bad in ["a;b", "a,b", "a=b", "a&&b", " a", "a\r\n"] {
        assert!(w.field("Leq-Data", bad).is_err(), "{bad:?}");
    }
    let mut s = String::new();
    assert!(Packet {
        mn: Some("G;G"),
        ..Default::default()
    }
    .write(&mut s)
    .is_err());
}

#[test]
fn flag_versions_of_2005_2017_and_2025_are_read_from_bits_7_to_2() {
    assert_eq!(
        (Flag(0).version(), Flag(4).version(), Flag(5).version()),
        (0, 1, 1)
    );
    assert_eq!((Flag(8).version(), Flag(9).answer_requested()), (2, true));
    assert_eq!(Flag::new(1, true, true), Flag(7));
    assert!(Flag(7).split() && !Flag(5).split());
}

#[test]
fn the_cp_example_of_protocols_md_splits_into_items_and_fields() {
    let cp = Cp("DataTime=20261201090000;Leq-Data=52.3,Leq-Flag=N;L10-Data=55.1");
    let items: Vec<Vec<_>> = cp
        .items()
        .map(|i| i.fields().map(|f| (f.key, f.value)).collect())
        .collect();
    assert_eq!(
        items,
        [
            vec![("DataTime", "20261201090000")],
            vec![("Leq-Data", "52.3"), ("Leq-Flag", "N")],
            vec![("L10-Data", "55.1")]
        ]
    );
}

#[test]
fn qn_and_data_time_are_written_as_the_standard_reads_them() {
    let t = chrono::NaiveDate::from_ymd_opt(2016, 8, 1)
        .and_then(|d| d.and_hms_milli_opt(8, 58, 57, 223))
        .unwrap();
    assert_eq!(format_qn(t), "20160801085857223");
    assert_eq!(qn_kind(&format_qn(t)), QnKind::Time(t));
    assert_eq!(format_data_time(t), "20160801085857");
}

#[test]
fn a_request_answer_echoes_the_upload_with_its_qn_rtn() {
    let up = Packet::parse(V2).unwrap();
    let cp = Packet::request_answer_cp(qn_rtn::BAD_PW);
    let mut s = String::new();
    Packet::request_answer(&up, &cp).write(&mut s).unwrap();
    assert_eq!(
        s,
        "QN=20261201100000000;ST=91;CN=9011;PW=123456;MN=GG0001;Flag=4;CP=&&QnRtn=3&&"
    );
}

#[test]
fn a_split_message_wants_one_answer_per_distinct_qn() {
    let mut r = Reassembler::default();
    let a = Packet::parse("QN=1;ST=23;CN=2011;MN=A;Flag=7;PNUM=2;PNO=2;CP=&&b=2&&").unwrap();
    let b = Packet::parse("QN=1;ST=23;CN=2011;MN=A;Flag=7;PNUM=2;PNO=1;CP=&&a=1&&").unwrap();
    assert_eq!(r.push(&a).unwrap(), Pushed::Pending);
    let Pushed::Complete(m) = r.push(&b).unwrap() else {
        panic!()
    };
    assert!(m.wants_answer());
    assert_eq!(m.distinct_qns(), ["1"]);
    let answer = Packet::parse("QN=1;ST=91;CN=9014;Flag=5;CP=&&&&").unwrap();
    let mut r = Reassembler::default();
    let Pushed::Complete(m) = r.push(&answer).unwrap() else {
        panic!()
    };
    assert!(!m.wants_answer(), "a reply is never answered");
}
