//! Splitting and reassembly: long segments, PNUM/PNO, bounded memory.

use super::tests::{framed, packet};
use super::*;

fn long_segment(k: usize) -> String {
    // Built as in the Python that computed the CRCs below.
    format!(
        "QN=20261201100000000;ST=23;CN=2011;PW=123456;MN=GG0001;Flag=4;CP=&&{}DataTime=111111111&&",
        "LA-Rtd=50.1;".repeat(k)
    )
}

#[test]
fn segments_past_1024_up_to_9999_are_accepted_unsplit() {
    let s1623 = long_segment(128);
    assert_eq!(s1623.len(), 1623);
    assert!(packet(&framed("1623", &s1623, "71C0"), Crc::Standard)
        .cp
        .is_some());
    let s9999 = long_segment(826);
    assert_eq!(s9999.len(), 9999);
    assert_eq!(
        packet(&framed("9999", &s9999, "8201"), Crc::Standard)
            .cp
            .unwrap()
            .items()
            .count(),
        827
    );
    let mut out = Vec::new();
    assert_eq!(
        encode(&format!("{s9999}x"), Crc::Standard, &mut out),
        Err(Error::TooLong(10000))
    );
}

#[test]
fn long_uploads_split_below_the_threshold_and_reassemble_in_any_order() {
    let seg = long_segment(300);
    let p = Packet::parse(&seg).unwrap();
    let parts = split(&p, 1024).unwrap();
    assert_eq!(parts.len(), 4);
    assert!(parts.iter().all(|s| s.len() <= 1024));
    let packets: Vec<_> = parts.iter().map(|s| Packet::parse(s).unwrap()).collect();
    assert!(packets
        .iter()
        .all(|q| q.flag.is_some_and(Flag::split) && q.pnum == Some(4)));
    assert!(parts[0].contains(";PNUM=4;PNO=1;CP=&&"));
    let mut r = Reassembler::default();
    for q in [&packets[2], &packets[0], &packets[3]] {
        assert_eq!(r.push(q).unwrap(), Pushed::Pending);
    }
    assert_eq!(r.push(&packets[2]).unwrap(), Pushed::Duplicate);
    let Pushed::Complete(m) = r.push(&packets[1]).unwrap() else {
        panic!("incomplete")
    };
    assert_eq!(m.cp, p.cp.unwrap().0);
    assert_eq!(
        (m.qn.as_deref(), m.cn, m.flag),
        (Some("20261201100000000"), Some(2011), Some(Flag(4)))
    );
    assert_eq!((r.pending(), r.bytes()), (0, 0));
    assert_eq!(split(&p, 10_000).unwrap(), [seg]);
}

#[test]
fn the_reassembler_stays_within_its_limits() {
    let mut r = Reassembler::new(Limits {
        messages: 2,
        bytes: 100,
        packets: 8,
    });
    let part = |mn: &'static str, pno: u16| Packet {
        mn: Some(mn),
        cn: Some(2011),
        pnum: Some(2),
        pno: Some(pno),
        cp: Some(Cp("LA-Rtd=50.1")),
        ..Default::default()
    };
    for mn in ["a", "b", "c"] {
        assert_eq!(r.push(&part(mn, 1)).unwrap(), Pushed::Pending);
    }
    assert_eq!((r.pending(), r.dropped()), (2, 1));
    assert!(matches!(
        r.push(&part("c", 2)).unwrap(),
        Pushed::Complete(_)
    ));
    assert_eq!(
        r.push(&Packet {
            pnum: Some(9),
            ..part("d", 1)
        }),
        Err(Error::BadPacketIndex { pno: 1, pnum: 9 })
    );
    assert_eq!(
        r.push(&part("d", 3)),
        Err(Error::BadPacketIndex { pno: 3, pnum: 2 })
    );
}

#[test]
fn packets_with_a_qn_each_reassemble_and_keep_every_qn() {
    let part = |qn: &'static str, pno: u16, cp: &'static str| Packet {
        qn: Some(qn),
        st: Some(23),
        cn: Some(2061),
        mn: Some("GG0001"),
        flag: Some(Flag(5)),
        pnum: Some(2),
        pno: Some(pno),
        cp: Some(Cp(cp)),
        ..Default::default()
    };
    let mut r = Reassembler::default();
    assert_eq!(
        r.push(&part("20261201100000001", 2, "L90-Data=46.0"))
            .unwrap(),
        Pushed::Pending
    );
    let Pushed::Complete(m) = r
        .push(&part(
            "20261201100000000",
            1,
            "DataTime=20261201090000;Leq-Data=52.3",
        ))
        .unwrap()
    else {
        panic!("incomplete")
    };
    assert_eq!(m.cp, "DataTime=20261201090000;Leq-Data=52.3;L90-Data=46.0");
    assert_eq!(
        m.qn.as_deref(),
        Some("20261201100000000"),
        "the header is PNO 1's"
    );
    assert_eq!(m.qns, ["20261201100000000", "20261201100000001"]);
}
