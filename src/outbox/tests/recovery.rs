//! Recovery: torn tails, corrupt records and headers, missing segments.

use super::*;
use crate::outbox::format::{self, RECORD_HEADER, SEGMENT_HEADER};
use crate::outbox::open;
use std::fs;

#[tokio::test]
async fn torn_tail_is_truncated_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dir(&tmp, "torn");
    let (mut w, r) = open(&d, &cfg(1 << 20, 4 << 20)).unwrap();
    write(&mut w, 0..10);
    drop((w, r));
    let seg = format::segment_path(&d, segments(&d)[0]);
    let good = fs::metadata(&seg).unwrap().len();
    // A record cut short by a crash: header complete, payload partial.
    let mut torn = format::record_header(b"m v=99i 99").to_vec();
    torn.extend_from_slice(b"m v=");
    let mut bytes = fs::read(&seg).unwrap();
    bytes.extend_from_slice(&torn);
    fs::write(&seg, &bytes).unwrap();
    let (mut w, mut r) = open(&d, &cfg(1 << 20, 4 << 20)).unwrap();
    assert_eq!(fs::metadata(&seg).unwrap().len(), good);
    // Appends continue after the cut, correctly framed.
    write(&mut w, 10..12);
    drop(w);
    assert_eq!(drain(&mut r).await, expected(0..12));
}

#[tokio::test]
async fn corrupt_record_in_the_middle_is_quarantined_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dir(&tmp, "corrupt");
    let (mut w, r) = open(&d, &cfg(1 << 20, 4 << 20)).unwrap();
    write(&mut w, 0..10);
    drop((w, r));
    let seg = format::segment_path(&d, segments(&d)[0]);
    let mut bytes = fs::read(&seg).unwrap();
    // Flip a payload byte of record 3.
    let rec_len = |i: usize| RECORD_HEADER as usize + line(i).len();
    let at = SEGMENT_HEADER as usize + (0..3).map(rec_len).sum::<usize>() + 8 + 2;
    bytes[at] ^= 0x20;
    fs::write(&seg, &bytes).unwrap();
    let (w, mut r) = open(&d, &cfg(1 << 20, 4 << 20)).unwrap();
    drop(w);
    let mut want = expected(0..10);
    want.remove(3);
    assert_eq!(drain(&mut r).await, want);
    assert_eq!(corrupt_count(&d), 1);
    let q: Vec<_> = fs::read_dir(d.join("quarantine")).unwrap().collect();
    assert_eq!(q.len(), 1);
    // Acknowledged past it: a restart does not count it again.
    let (w, mut r) = open(&d, &cfg(1 << 20, 4 << 20)).unwrap();
    drop(w);
    assert!(drain(&mut r).await.is_empty());
    assert_eq!(corrupt_count(&d), 1);
}

#[tokio::test]
async fn broken_framing_in_a_closed_segment_costs_only_that_segment_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dir(&tmp, "framing");
    let (mut w, r) = open(&d, &cfg(4096, 1 << 20)).unwrap();
    write(&mut w, 0..400);
    drop((w, r));
    let ids = segments(&d);
    let first = format::segment_path(&d, ids[0]);
    let mut bytes = fs::read(&first).unwrap();
    // An absurd length in the second record of the first segment.
    let at = SEGMENT_HEADER as usize + RECORD_HEADER as usize + line(0).len();
    bytes[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    fs::write(&first, &bytes).unwrap();
    let (w, mut r) = open(&d, &cfg(4096, 1 << 20)).unwrap();
    drop(w);
    let got = drain(&mut r).await;
    assert_eq!(got[0], expected(0..1)[0]);
    assert_eq!(got.last(), expected(399..400).last());
    assert!(got.len() < 400);
    assert_eq!(corrupt_count(&d), 1);
}

#[tokio::test]
async fn segment_with_a_bad_header_is_quarantined() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dir(&tmp, "badheader");
    let (mut w, r) = open(&d, &cfg(4096, 1 << 20)).unwrap();
    write(&mut w, 0..400);
    drop((w, r));
    let first = format::segment_path(&d, segments(&d)[0]);
    let mut bytes = fs::read(&first).unwrap();
    bytes[0] = b'X';
    fs::write(&first, &bytes).unwrap();
    let (w, mut r) = open(&d, &cfg(4096, 1 << 20)).unwrap();
    drop(w);
    let got = drain(&mut r).await;
    assert!(!got.is_empty() && got.len() < 400);
    assert_eq!(got.last(), expected(399..400).last());
    // Counted as the records it held, not as one event.
    assert_eq!(corrupt_count(&d), 400 - got.len() as u64);
}

#[tokio::test]
async fn deleted_segment_referenced_by_the_ack_is_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dir(&tmp, "missing");
    let (mut w, mut r) = open(&d, &cfg(4096, 1 << 20)).unwrap();
    write(&mut w, 0..400);
    let b = r
        .next_batch(5, 1 << 20, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    r.ack(b).unwrap();
    drop((w, r));
    // The ack points into the first segment; it disappears (and so does the
    // second: a gap in the ids).
    let ids = segments(&d);
    fs::remove_file(format::segment_path(&d, ids[0])).unwrap();
    fs::remove_file(format::segment_path(&d, ids[1])).unwrap();
    let (w, mut r) = open(&d, &cfg(4096, 1 << 20)).unwrap();
    drop(w);
    let got = drain(&mut r).await;
    assert_eq!(got.last(), expected(399..400).last());
    assert!(got.len() < 395);
}

#[tokio::test]
async fn segment_deleted_while_running_is_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dir(&tmp, "missingrun");
    let (mut w, mut r) = open(&d, &cfg(4096, 1 << 20)).unwrap();
    write(&mut w, 0..400);
    let ids = segments(&d);
    fs::remove_file(format::segment_path(&d, ids[1])).unwrap();
    drop(w);
    let got = drain(&mut r).await;
    assert_eq!(got.first(), expected(0..1).first());
    assert_eq!(got.last(), expected(399..400).last());
}
