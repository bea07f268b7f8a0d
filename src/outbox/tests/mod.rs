//! Unit tests of the outbox on real files in temporary directories.

mod faults;
mod recovery;

use super::format;
use super::*;
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
pub(super) fn dir(tmp: &tempfile::TempDir, name: &str) -> PathBuf {
    tmp.path().join(format!("{name}-{}", fastrand::u64(..)))
}

pub(super) fn label(d: &Path) -> String {
    d.file_name().unwrap().to_string_lossy().into_owned()
}

pub(super) fn corrupt_count(d: &Path) -> u64 {
    crate::metrics::counter("outbox_records_corrupt_total", "", &[("name", &label(d))]).get()
}

pub(super) fn line(i: usize) -> Vec<u8> {
    format!("m,device=d{i} v={i}i {i}").into_bytes()
}

pub(super) fn write(w: &mut OutboxWriter, range: std::ops::Range<usize>) {
    for i in range {
        w.append(&line(i)).unwrap();
    }
    w.commit().unwrap();
}

/// Reads and acks everything until the writer is gone.
pub(super) async fn drain(r: &mut OutboxReader) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(b) = r.next_batch(1000, 1 << 20, Duration::ZERO).await.unwrap() {
        out.extend(b.lines().map(|l| String::from_utf8_lossy(l).into_owned()));
        r.ack(b).unwrap();
    }
    out
}

pub(super) fn expected(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| String::from_utf8(line(i)).unwrap()).collect()
}

pub(super) fn segments(d: &Path) -> Vec<u64> {
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

#[tokio::test]
async fn drop_oldest_frees_the_oldest_unread_segment_and_counts_its_records() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dir(&tmp, "dropoldest");
    let (mut w, mut r) = open(&d, &cfg(4096, 16384)).unwrap();
    let mut n = 0;
    while w.append(&line(n)).is_ok() {
        n += 1;
    }
    w.commit().unwrap();
    // The reader holds a batch from the first segment (the sink is down).
    let held = r
        .next_batch(3, 1 << 20, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    let ids = segments(&d);
    let dropped = w.drop_oldest().unwrap();
    assert!(dropped > 0);
    assert!(
        !format::segment_path(&d, ids[1]).exists(),
        "the second segment goes"
    );
    assert!(
        format::segment_path(&d, ids[0]).exists(),
        "the one being read stays"
    );
    w.append(&line(n)).unwrap();
    w.commit().unwrap();
    drop(w);
    r.ack(held).unwrap();
    let rest = drain(&mut r).await;
    assert_eq!(rest.len() as u64 + 3 + dropped, n as u64 + 1);
    assert_eq!(rest.last(), expected(n..n + 1).last());
    let missing =
        crate::metrics::counter("outbox_segments_missing_total", "", &[("name", &label(&d))]);
    assert_eq!(
        missing.get(),
        0,
        "a dropped segment is not reported missing"
    );
}
