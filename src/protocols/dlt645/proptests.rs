//! Property tests: what the encoders write decodes to the same thing, and
//! no byte string panics a decoder or stalls a stream.

use super::app::{self, ReplySpec};
use super::*;
use crate::protocols::bcd::{self, Format};
use proptest::prelude::*;

fn address() -> impl Strategy<Value = Address> {
    any::<[u8; 6]>().prop_map(Address)
}

fn di() -> impl Strategy<Value = DataId> {
    prop_oneof![
        any::<u32>().prop_map(DataId::V2007),
        any::<u16>().prop_map(DataId::V1997)
    ]
}

/// Drops what each error says and returns the first frame's address,
/// control and data, or `None` when the stream runs dry.
fn first_frame(mut buf: &[u8]) -> Option<(Address, Control, Vec<u8>)> {
    loop {
        match decode(buf) {
            Ok(Decoded::Frame { frame, .. }) => {
                return Some((frame.address, frame.control, frame.data().collect()))
            }
            Ok(Decoded::NeedMore) => return None,
            Err(e) => {
                assert!(e.skip() >= 1, "{e:?} would stall the stream");
                buf = buf.get(e.skip()..)?;
            }
        }
    }
}

proptest! {
    #[test]
    fn encoded_frames_decode_to_their_input(
        a in address(),
        c in any::<u8>().prop_filter("requests have no error bit; error replies are their own case", |c| *c & 0x40 == 0),
        data in proptest::collection::vec(any::<u8>(), 0..=200),
        preamble in 0usize..5,
    ) {
        let mut out = Vec::new();
        encode(&a, Control(c), &data, preamble, &mut out).unwrap();
        let Ok(Decoded::Frame { frame, len }) = decode(&out) else { panic!("{:?}", decode(&out)) };
        prop_assert_eq!((frame.address, frame.control, len), (a, Control(c), out.len()));
        prop_assert_eq!(frame.data().collect::<Vec<_>>(), data);
    }

    #[test]
    fn error_replies_decode_to_their_input(a in address(), f in 0u8..0x20, code in any::<u8>()) {
        let mut out = Vec::new();
        app::encode_error_reply(&a, f, ErrorCode(code), 1, &mut out).unwrap();
        prop_assert_eq!(decode(&out), Err(Error::ErrorReply { address: a, function: f, code: ErrorCode(code), len: out.len() }));
    }

    #[test]
    fn read_replies_decode_to_their_input(
        a in address(), di in di(), values in proptest::collection::vec(any::<u8>(), 0..190),
        more in any::<bool>(), follow_up in any::<bool>(), seq in any::<u8>(),
    ) {
        let spec = ReplySpec { address: a, di, values: &values, more, follow_up, seq };
        let mut out = Vec::new();
        app::encode_read_reply(&spec, 2, &mut out).unwrap();
        let (f, _) = decode_complete(&out).unwrap();
        let r = app::read_reply_for(&f, di).unwrap();
        prop_assert_eq!((r.address, r.more), (a, more));
        prop_assert_eq!(r.seq, (follow_up && di.edition() == Edition::V2007).then_some(seq));
        prop_assert_eq!(r.value_bytes().collect::<Vec<_>>(), values);
    }

    #[test]
    fn bcd_values_round_trip(v in -99_999_999i64..=99_999_999, bytes in 1u8..=9, decimals in 0u8..6, signed in any::<bool>()) {
        let fmt = Format::new(bytes, decimals, signed);
        let mut out = Vec::new();
        if bcd::encode(v, fmt, &mut out).is_some() {
            prop_assert_eq!(bcd::decode(&out, fmt), Ok(Some(bcd::Decimal { raw: v, decimals })));
        }
    }

    #[test]
    fn a_frame_behind_noise_without_68_is_found(
        noise in proptest::collection::vec(any::<u8>().prop_filter("no start byte", |b| *b != 0x68), 0..40),
        a in address(), data in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let mut buf = noise.clone();
        encode(&a, Control(0x91), &data, 0, &mut buf).unwrap();
        prop_assert_eq!(first_frame(&buf), Some((a, Control(0x91), data)));
    }

    #[test]
    fn a_frame_behind_any_noise_is_found(
        noise in proptest::collection::vec(any::<u8>(), 0..40),
        a in address(), data in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let mut buf = noise.clone();
        encode(&a, Control(0x91), &data, 0, &mut buf).unwrap();
        prop_assert_eq!(first_frame(&buf), Some((a, Control(0x91), data)));
    }

    #[test]
    fn no_byte_string_panics_or_stalls_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = first_frame(&bytes);
        let _ = decode_complete(&bytes);
    }

    #[test]
    fn frames_of_any_content_never_panic_the_reply_readers(
        a in address(), c in any::<u8>(), data in proptest::collection::vec(any::<u8>(), 0..30),
        bytes in 0u8..12, decimals in 0u8..8, signed in any::<bool>(),
    ) {
        let mut out = Vec::new();
        encode(&a, Control(c), &data, 0, &mut out).unwrap();
        if let Ok((f, _)) = decode_complete(&out) {
            let _ = app::address_reply(&f);
            if let Ok(r) = app::read_reply(&f) {
                let fmt = Format::new(bytes, decimals, signed);
                let _ = r.values(fmt).count();
                let _ = r.value(fmt);
                let _ = known(r.di);
            }
        }
    }
}
