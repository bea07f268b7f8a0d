//! Unit tests of the outbox on real files in temporary directories.

use super::format::{self, RECORD_HEADER, SEGMENT_HEADER};
use super::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(super) fn cfg(segment_bytes: u64, max_bytes: u64) -> OutboxConfig {
    OutboxConfig {
        segment_bytes,
        max_bytes,
        fsync: FsyncPolicy::Never,
        ..OutboxConfig::default()
    }
}

/// A fresh outbox directory whose name (the metrics label) is unique.
fn dir(tmp: &tempfile::TempDir, name: &str) -> PathBuf {
    tmp.path().join(format!("{name}-{}", fastrand::u64(..)))
}

fn label(d: &Path) -> String {
    d.file_name().unwrap().to_string_lossy().into_owned()
}

fn corrupt_count(d: &Path) -> u64 {
    crate::metrics::counter("outbox_records_corrupt_total", "", &[("name", &label(d))]).get()
}

fn line(i: usize) -> Vec<u8> {
    format!("m,device=d{i} v={i}i {i}").into_bytes()
}

fn write(w: &mut OutboxWriter, range: std::ops::Range<usize>) {
    for i in range {
        w.append(&line(i)).unwrap();
    }
    w.commit().unwrap();
}

/// Reads and acks everything until the writer is gone.
async fn drain(r: &mut OutboxReader) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(b) = r.next_batch(1000, 1 << 20, Duration::ZERO).await.unwrap() {
        out.extend(b.lines().map(|l| String::from_utf8_lossy(l).into_owned()));
        r.ack(b).unwrap();
    }
    out
}

fn expected(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| String::from_utf8(line(i)).unwrap()).collect()
}

fn segments(d: &Path) -> Vec<u64> {
    format::list_segments(d).unwrap()
}

#[tokio::test]
async fn committed_records_survive_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dir(&tmp, "reopen");
    let (mut w, r) = open(&d, &cfg(4096, 1 << 20)).unwrap();
    write(&mut w, 0..300);
    drop((w, r));
    let (w, mut r) = open(&d, &cfg(4096, 1 << 20)).unwrap();
    drop(w);
    assert_eq!(drain(&mut r).await, expected(0..300));
}

#[tokio::test]
async fn ack_persists_across_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dir(&tmp, "ackpersist");
    let (mut w, mut r) = open(&d, &cfg(4096, 1 << 20)).unwrap();
    write(&mut w, 0..100);
    let b = r
        .next_batch(40, 1 << 20, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.lines, 40);
    r.ack(b).unwrap();
    // Read but not acknowledged: must come back.
    let b = r
        .next_batch(10, 1 << 20, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.lines, 10);
    drop((w, r, b));
    let (w, mut r) = open(&d, &cfg(4096, 1 << 20)).unwrap();
    drop(w);
    assert_eq!(drain(&mut r).await, expected(40..100));
}

#[tokio::test]
async fn acknowledged_segments_are_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dir(&tmp, "delete");
    let (mut w, mut r) = open(&d, &cfg(4096, 1 << 20)).unwrap();
    write(&mut w, 0..1000);
    let before = segments(&d);
    assert!(before.len() > 5, "{before:?}");
    let bytes_before = w.stats().bytes();
    let all = r
        .next_batch(1000, 1 << 20, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(all.lines, 1000);
    r.ack(all).unwrap();
    // Only the writer's segment is left.
    assert_eq!(segments(&d), vec![*before.last().unwrap()]);
    assert!(w.stats().bytes() < bytes_before);
    assert_eq!(w.stats().oldest_age(), Duration::ZERO);
}

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
    assert_eq!(corrupt_count(&d), 1);
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

#[tokio::test]
async fn full_when_over_max_bytes_and_released_after_ack() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dir(&tmp, "full");
    let (mut w, mut r) = open(&d, &cfg(4096, 8192)).unwrap();
    let mut n = 0;
    let err = loop {
        match w.append(&line(n)) {
            Ok(()) => n += 1,
            Err(e) => break e,
        }
    };
    assert!(matches!(err, OutboxError::Full { .. }), "{err}");
    assert!(w.is_full() && w.stats().is_full());
    assert!(w.stats().bytes() <= 8192);
    w.commit().unwrap();
    assert!(!w.wait_for_space(Duration::from_millis(1)));
    let b = r
        .next_batch(usize::MAX, 1 << 20, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.lines, n);
    r.ack(b).unwrap();
    assert!(w.wait_for_space(Duration::ZERO));
    w.append(&line(n)).unwrap();
    w.commit().unwrap();
    drop(w);
    assert_eq!(drain(&mut r).await, expected(n..n + 1));
}

#[tokio::test]
async fn reader_waits_for_commit_and_wakes() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dir(&tmp, "wake");
    let (mut w, mut r) = open(&d, &cfg(4096, 1 << 20)).unwrap();
    w.append(&line(0)).unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        // Appended but not committed: invisible until the reader has waited.
        rx.recv().unwrap();
        w.commit().unwrap();
        w
    });
    let b = {
        let read = r.next_batch(10, 1 << 20, Duration::ZERO);
        tokio::pin!(read);
        // The first poll finds nothing committed.
        assert!(futures_poll_once(read.as_mut()).await.is_none());
        tx.send(()).unwrap();
        read.await.unwrap().unwrap()
    };
    assert_eq!(b.lines, 1);
    r.ack(b).unwrap();
    drop(t.join().unwrap());
    assert!(r
        .next_batch(10, 1 << 20, Duration::ZERO)
        .await
        .unwrap()
        .is_none());
}

async fn futures_poll_once<F: std::future::Future + Unpin>(f: F) -> Option<F::Output> {
    let mut f = f;
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut f).poll(cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        })
    })
    .await
}

#[tokio::test]
async fn none_once_the_writer_is_dropped_and_everything_read() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dir(&tmp, "none");
    let (mut w, mut r) = open(&d, &cfg(4096, 1 << 20)).unwrap();
    write(&mut w, 0..3);
    w.append(&line(99)).unwrap(); // never committed: discarded
    drop(w);
    assert_eq!(drain(&mut r).await, expected(0..3));
    assert!(r
        .next_batch(10, 100, Duration::ZERO)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn batches_respect_lines_and_bytes_and_may_be_acked_out_of_order() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dir(&tmp, "order");
    let (mut w, mut r) = open(&d, &cfg(4096, 1 << 20)).unwrap();
    write(&mut w, 0..100);
    let a = r
        .next_batch(7, 1 << 20, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.lines, 7);
    let b = r
        .next_batch(1000, 64, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    assert!(b.data.len() <= 64 && b.lines >= 1);
    let seen = a.lines + b.lines;
    r.ack(b).unwrap();
    r.ack(a).unwrap();
    drop((w, r));
    let (w, mut r) = open(&d, &cfg(4096, 1 << 20)).unwrap();
    drop(w);
    assert_eq!(drain(&mut r).await, expected(seen..100));
}

#[test]
fn lines_that_can_never_be_stored_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dir(&tmp, "invalid");
    let (mut w, _r) = open(&d, &cfg(4096, 1 << 20)).unwrap();
    for bad in [&b""[..], b"\n", b"a v=1\nb v=2", &[b'x'; 5000]] {
        let e = w.append(bad).unwrap_err();
        assert!(matches!(e, OutboxError::InvalidRecord { .. }), "{e}");
    }
    w.append(b"a v=1\n").unwrap();
}

/// The sink spawns its loop on the runtime; the pipeline moves the writer
/// to a blocking thread.
#[allow(dead_code)]
fn halves_can_move_between_threads(mut r: OutboxReader, w: OutboxWriter) {
    fn is_send<T: Send>(_: &T) {}
    is_send(&w);
    is_send(&r.stats());
    is_send(&r.next_batch(1, 1, Duration::ZERO));
}
