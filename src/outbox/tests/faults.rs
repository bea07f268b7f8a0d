//! Write and fsync failures injected through the writer's file layer: a
//! failed group is rolled back whole, on disk and in memory, and after it
//! the outbox holds exactly the committed records, then whatever is
//! re-appended.

use super::*;
use crate::outbox::format::{RECORD_HEADER, SEGMENT_HEADER};
use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Fails the `n`-th and later writes (or fsyncs) while armed.
#[derive(Default)]
struct Faults {
    writes: AtomicU64,
    syncs: AtomicU64,
    fail_write_from: AtomicU64,
    fail_sync_from: AtomicU64,
    errno: AtomicU64,
}

impl Faults {
    fn new() -> Arc<Self> {
        let f = Faults::default();
        f.fail_write_from.store(u64::MAX, Ordering::SeqCst);
        f.fail_sync_from.store(u64::MAX, Ordering::SeqCst);
        f.errno.store(libc::ENOSPC as u64, Ordering::SeqCst);
        Arc::new(f)
    }
    fn fail_writes_after(&self, n: u64, errno: i32) {
        self.errno.store(errno as u64, Ordering::SeqCst);
        let at = self.writes.load(Ordering::SeqCst) + n;
        self.fail_write_from.store(at, Ordering::SeqCst);
    }
    fn fail_next_sync(&self) {
        self.errno.store(libc::EIO as u64, Ordering::SeqCst);
        let at = self.syncs.load(Ordering::SeqCst);
        self.fail_sync_from.store(at, Ordering::SeqCst);
    }
    fn heal(&self) {
        self.fail_write_from.store(u64::MAX, Ordering::SeqCst);
        self.fail_sync_from.store(u64::MAX, Ordering::SeqCst);
    }
    fn err(&self) -> io::Error {
        io::Error::from_raw_os_error(self.errno.load(Ordering::SeqCst) as i32)
    }
}

impl FileLayer for Faults {
    fn write(&self, file: &mut File, buf: &[u8]) -> io::Result<usize> {
        let n = self.writes.fetch_add(1, Ordering::SeqCst);
        if n >= self.fail_write_from.load(Ordering::SeqCst) {
            // A short write first, as a filling disk gives, then the error.
            if n == self.fail_write_from.load(Ordering::SeqCst) && buf.len() > 3 {
                return io::Write::write(file, &buf[..buf.len() / 2]);
            }
            return Err(self.err());
        }
        io::Write::write(file, buf)
    }
    fn sync_data(&self, file: &File) -> io::Result<()> {
        let n = self.syncs.fetch_add(1, Ordering::SeqCst);
        if n >= self.fail_sync_from.load(Ordering::SeqCst) {
            return Err(self.err());
        }
        file.sync_data()
    }
}

/// Appends `range` and commits; `Err` as soon as anything fails.
fn group(w: &mut OutboxWriter, range: std::ops::Range<usize>) -> Result<(), OutboxError> {
    for i in range {
        w.append(&line(i))?;
    }
    w.commit()
}

#[tokio::test]
async fn a_write_error_mid_group_rolls_back_the_whole_group_across_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dir(&tmp, "rollback");
    let faults = Faults::new();
    let (mut w, mut r) = open(&d, &cfg(4096, 1 << 20)).unwrap();
    w.set_file_layer(faults.clone());
    group(&mut w, 0..100).unwrap();
    let committed_segments = segments(&d);
    // The group spans several segments before the disk "fills".
    faults.fail_writes_after(3, libc::ENOSPC);
    let e = group(&mut w, 100..400).unwrap_err();
    assert!(matches!(e, OutboxError::Io { .. }), "{e}");
    assert_eq!(segments(&d), committed_segments, "new segments deleted");
    // Still failing: every retry fails the same way and changes nothing.
    assert!(group(&mut w, 100..400).is_err());
    faults.heal();
    group(&mut w, 100..400).unwrap();
    drop(w);
    assert_eq!(
        drain(&mut r).await,
        expected(0..400),
        "nothing twice, nothing lost"
    );
}

#[tokio::test]
async fn a_failed_fsync_rolls_back_the_group_and_the_retry_is_durable() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dir(&tmp, "fsync");
    let faults = Faults::new();
    let c = OutboxConfig {
        fsync: FsyncPolicy::Always,
        ..cfg(1 << 16, 1 << 20)
    };
    let (mut w, r) = open(&d, &c).unwrap();
    w.set_file_layer(faults.clone());
    group(&mut w, 0..10).unwrap();
    faults.fail_next_sync();
    assert!(group(&mut w, 10..20).is_err());
    let len_after_rollback = std::fs::metadata(format::segment_path(&d, segments(&d)[0]))
        .unwrap()
        .len();
    faults.heal();
    group(&mut w, 10..20).unwrap();
    drop((w, r));
    let (w, mut r) = open(&d, &c).unwrap();
    drop(w);
    assert_eq!(drain(&mut r).await, expected(0..20));
    let per_record = (RECORD_HEADER as usize + line(0).len()) as u64;
    assert_eq!(len_after_rollback, SEGMENT_HEADER + 10 * per_record);
}

#[tokio::test]
async fn a_writer_dropped_after_a_failure_leaves_only_committed_records() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dir(&tmp, "dropfail");
    let faults = Faults::new();
    let (mut w, r) = open(&d, &cfg(4096, 1 << 20)).unwrap();
    w.set_file_layer(faults.clone());
    group(&mut w, 0..50).unwrap();
    faults.fail_writes_after(1, libc::EIO);
    assert!(group(&mut w, 50..300).is_err());
    drop((w, r));
    let (w, mut r) = open(&d, &cfg(4096, 1 << 20)).unwrap();
    drop(w);
    assert_eq!(drain(&mut r).await, expected(0..50));
}
