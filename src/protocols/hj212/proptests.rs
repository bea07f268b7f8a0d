//! Property tests: packets round-trip through frames, split and reassembly
//! return the upload in any packet order, and no bytes panic the decoder,
//! the parser or the reassembler.

use proptest::prelude::*;

use super::*;

fn text() -> impl Strategy<Value = String> {
    "[A-Za-z0-9.]{0,12}"
}

fn cp_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        ("[A-Za-z0-9]{1,6}(-[A-Za-z]{1,8})?", "[0-9.A-Z]{0,8}"),
        0..30,
    )
    .prop_map(|fs| {
        fs.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";")
    })
}

proptest! {
    #[test]
    fn packets_round_trip_through_frames(
        qn in proptest::option::of(text()), st in proptest::option::of(any::<u16>()), cn in proptest::option::of(any::<u16>()),
        pw in proptest::option::of(text()), mn in proptest::option::of(text()), flag in proptest::option::of(any::<u8>()),
        pnum in proptest::option::of(any::<u16>()), pno in proptest::option::of(any::<u16>()),
        cp in proptest::option::of(cp_text()), crc in prop_oneof![Just(Crc::Standard), Just(Crc::ModbusHighFirst), Just(Crc::ModbusLowFirst)],
    ) {
        let p = Packet {
            qn: qn.as_deref(), st, cn, pw: pw.as_deref(), mn: mn.as_deref(), flag: flag.map(Flag), pnum, pno,
            cp: cp.as_deref().map(Cp),
        };
        let bytes = p.to_frame(crc).unwrap();
        let (f, len) = decode_complete(&bytes, crc).unwrap();
        prop_assert_eq!(len, bytes.len());
        prop_assert_eq!(Packet::parse(f.segment).unwrap(), p);
    }

    #[test]
    fn split_uploads_reassemble_in_any_order(cp in cp_text(), max in 120usize..400, seed in any::<u64>()) {
        let p = Packet { qn: Some("20261201100000000"), st: Some(23), cn: Some(2011), pw: Some("123456"), mn: Some("GG0001"), flag: Some(Flag(5)), cp: Some(Cp(&cp)), ..Default::default() };
        let parts = split(&p, max).unwrap();
        prop_assert!(parts.len() == 1 || parts.iter().all(|s| s.len() <= max));
        let mut order: Vec<usize> = (0..parts.len()).collect();
        let mut rng = fastrand::Rng::with_seed(seed);
        rng.shuffle(&mut order);
        let mut r = Reassembler::default();
        let mut done = None;
        for i in order {
            let q = Packet::parse(&parts[i]).unwrap();
            if let Pushed::Complete(m) = r.push(&q).unwrap() { done = Some(m); }
        }
        let m = done.expect("complete after the last packet");
        prop_assert_eq!(m.cp.split(';').filter(|s| !s.is_empty()).collect::<Vec<_>>(), cp.split(';').filter(|s| !s.is_empty()).collect::<Vec<_>>());
        prop_assert_eq!(r.pending(), 0);
    }

    #[test]
    fn no_bytes_panic_or_stall_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut rest = &bytes[..];
        loop {
            match decode(rest, Crc::Standard) {
                Ok(Decoded::Frame { frame, len }) => { let _ = Packet::parse(frame.segment); rest = rest.get(len..).unwrap_or(&[]); }
                Ok(Decoded::NeedMore) => break,
                Err(e) => { prop_assert!(e.skip() >= 1); rest = rest.get(e.skip()..).unwrap_or(&[]); }
            }
        }
        let _ = decode_complete(&bytes, Crc::ModbusLowFirst);
    }

    #[test]
    fn frame_like_garbage_never_panics(s in "(##)?[0-9]{0,4}[A-Za-z0-9=;,&#-]{0,80}(\r\n)?") {
        let _ = decode(s.as_bytes(), Crc::Standard);
        if let Ok(p) = Packet::parse(&s) {
            if let Some(c) = p.cp {
                c.fields().for_each(|f| { let _ = (f.factor(), f.number()); });
            }
            let _ = p.to_frame(Crc::Standard);
            let _ = split(&p, 50);
        }
    }

    #[test]
    fn arbitrary_packets_never_panic_the_reassembler(
        packets in proptest::collection::vec((0u8..3, any::<u16>(), 0u16..6, 0u16..6, "[a-z=;]{0,20}"), 0..60),
    ) {
        let mut r = Reassembler::new(Limits { messages: 3, bytes: 200, packets: 5 });
        let mns = ["a", "b", "c"];
        for (mn, cn, pnum, pno, cp) in &packets {
            let p = Packet { mn: mns.get(usize::from(*mn)).copied(), cn: Some(*cn % 3), pnum: Some(*pnum), pno: Some(*pno), cp: Some(Cp(cp)), ..Default::default() };
            let _ = r.push(&p);
            prop_assert!(r.pending() <= 3 && r.bytes() <= 200);
        }
    }
}
