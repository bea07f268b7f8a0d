//! The outbox under concurrency and random operation sequences (crashes:
//! `tests/it/outbox_crash.rs`).

use crate::outbox_support;
use outbox_support::{cfg, id_of, line, read_all};

use greengate::outbox::{open, FsyncPolicy, OutboxError};
use proptest::prelude::*;
use std::path::Path;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_thread_and_acking_reader_lose_and_duplicate_nothing() {
    const N: u64 = 100_000;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("concurrent");
    let (mut w, mut r) = open(&dir, &cfg(64 * 1024, 1 << 20, FsyncPolicy::Never)).unwrap();
    let writer = std::thread::spawn(move || {
        let mut id = 0;
        while id < N {
            match w.append(&line(id, (id % 13) as usize)) {
                Ok(()) => id += 1,
                Err(OutboxError::Full { .. }) => {
                    w.commit().unwrap();
                    w.wait_for_space(Duration::from_millis(50));
                }
                Err(e) => panic!("{e}"),
            }
            if id % 100 == 0 {
                w.commit().unwrap();
            }
        }
        w.commit().unwrap();
        w.stats()
    });
    let mut next = 0;
    while let Some(b) = r
        .next_batch(1000, 64 * 1024, Duration::from_millis(1))
        .await
        .unwrap()
    {
        for id in b.lines().map(id_of) {
            assert_eq!(id, next, "lost or duplicated");
            next += 1;
        }
        r.ack(b).unwrap();
    }
    assert_eq!(next, N);
    let stats = writer.join().unwrap();
    // Everything acknowledged: only the writer's last segment is left.
    assert!(stats.bytes() <= 64 * 1024, "{}", stats.bytes());
    assert_eq!(
        std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".seg")
            })
            .count(),
        1
    );
}

#[derive(Debug, Clone)]
enum Op {
    Append(u8, u8),
    Commit,
    Read(u8),
    Ack(u8),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u8..40, any::<u8>()).prop_map(|(n, pad)| Op::Append(n, pad)),
        2 => Just(Op::Commit),
        2 => (1u8..60).prop_map(Op::Read),
        2 => any::<u8>().prop_map(Op::Ack),
        1 => Just(Op::Reopen),
    ]
}

/// Polls a future once: the outbox reader returns whatever is committed
/// without waiting when `linger` is zero, and is cancel safe.
fn poll_once<F: std::future::Future>(rt: &tokio::runtime::Runtime, f: F) -> Option<F::Output> {
    rt.block_on(async {
        let mut f = std::pin::pin!(f);
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match f.as_mut().poll(cx) {
                std::task::Poll::Ready(v) => Some(v),
                std::task::Poll::Pending => None,
            })
        })
        .await
    })
}

fn run_ops(dir: &Path, ops: &[Op]) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let c = cfg(4096, 32 * 1024, FsyncPolicy::Never);
    let (mut w, mut r) = open(dir, &c).unwrap();
    let mut next_id = 0u64;
    let mut committed: Vec<u64> = Vec::new(); // every committed id, in order
    let mut uncommitted: Vec<u64> = Vec::new();
    let mut acked = std::collections::BTreeSet::new();
    let mut held = Vec::new();
    for op in ops {
        match op {
            Op::Append(n, pad) => {
                for _ in 0..*n {
                    match w.append(&line(next_id, *pad as usize)) {
                        Ok(()) => uncommitted.push(next_id),
                        Err(OutboxError::Full { .. }) => break,
                        Err(e) => return Err(TestCaseError::fail(e.to_string())),
                    }
                    next_id += 1;
                }
            }
            Op::Commit => {
                w.commit().unwrap();
                committed.append(&mut uncommitted);
            }
            Op::Read(n) => {
                let f = r.next_batch(*n as usize, 1 << 20, Duration::ZERO);
                if let Some(b) = poll_once(&rt, f) {
                    let b = b.unwrap().unwrap();
                    let ids: Vec<u64> = b.lines().map(id_of).collect();
                    prop_assert!(ids.windows(2).all(|p| p[0] < p[1]), "{ids:?}");
                    held.push((ids, b));
                }
            }
            Op::Ack(i) if !held.is_empty() => {
                let (ids, b) = held.remove(*i as usize % held.len());
                r.ack(b).unwrap();
                acked.extend(ids);
            }
            Op::Ack(_) => {}
            Op::Reopen => {
                drop((w, r));
                held.clear();
                // Uncommitted records may or may not come back.
                (w, r) = open(dir, &c).unwrap();
                uncommitted.clear();
            }
        }
    }
    drop(w);
    drop(held);
    let (w, mut r2) = open(dir, &c).unwrap();
    drop((w, r));
    let got = rt.block_on(read_all(&mut r2));
    prop_assert!(got.windows(2).all(|p| p[0] < p[1]), "out of order: {got:?}");
    for id in &committed {
        if !acked.contains(id) {
            prop_assert!(
                got.contains(id),
                "lost committed, unacknowledged record {id}"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn random_operations_never_lose_an_unacknowledged_record(ops in proptest::collection::vec(op(), 1..80)) {
        let tmp = tempfile::tempdir().unwrap();
        run_ops(&tmp.path().join("prop"), &ops)?;
    }
}
