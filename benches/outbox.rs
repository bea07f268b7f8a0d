//! Outbox throughput: append+commit (fsync never / always, by group size)
//! and read+ack. Run: `cargo bench --bench outbox`.

// A test or bench binary has no API: its `pub` only shares between its modules.
#![allow(unreachable_pub)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use greengate::outbox::{open, FsyncPolicy, OutboxConfig, OutboxReader};
use std::time::{Duration, Instant};

/// A realistic record: a noise reading of about 120 bytes.
fn line(i: u64) -> Vec<u8> {
    format!(
        "noise,community=gc-0001,device=noise-{:04},building=b12,zone=north laeq={}.5,lamax=71.2 {}",
        i % 1000,
        40 + i % 30,
        1_764_000_000_000_000_000u64 + i
    )
    .into_bytes()
}

fn cfg(fsync: FsyncPolicy) -> OutboxConfig {
    OutboxConfig {
        fsync,
        max_bytes: 1 << 40,
        ..OutboxConfig::default()
    }
}

fn drain(rt: &tokio::runtime::Runtime, r: &mut OutboxReader) {
    rt.block_on(async {
        let t = Duration::ZERO;
        loop {
            let f = r.next_batch(5000, 1 << 20, t);
            match tokio::time::timeout(Duration::from_millis(1), f).await {
                Ok(Ok(Some(b))) => r.ack(b).unwrap(),
                _ => break,
            }
        }
    });
}

fn append_commit(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let lines: Vec<Vec<u8>> = (0..1000).map(line).collect();
    let mut g = c.benchmark_group("outbox_append_commit");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for (name, fsync, group) in [
        ("never_group1000", FsyncPolicy::Never, 1000),
        ("always_group1000", FsyncPolicy::Always, 1000),
        ("always_group100", FsyncPolicy::Always, 100),
    ] {
        g.throughput(Throughput::Elements(group as u64));
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
                let (mut w, mut r) = open(&tmp.path().join(name), &cfg(fsync)).unwrap();
                let mut timed = Duration::ZERO;
                for i in 0..iters {
                    let t = Instant::now();
                    for l in &lines[..group] {
                        w.append(l).unwrap();
                    }
                    w.commit().unwrap();
                    timed += t.elapsed();
                    if i % 256 == 255 {
                        drain(&rt, &mut r); // untimed: keeps the disk use flat
                    }
                }
                timed
            })
        });
    }
    g.finish();
}

fn read_ack(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    const N: u64 = 100_000;
    let mut g = c.benchmark_group("outbox_read_ack");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(N));
    for (name, fsync) in [
        ("ack_unsynced", FsyncPolicy::Never),
        ("ack_synced", FsyncPolicy::Interval),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
                    let (mut w, mut r) = open(&tmp.path().join(name), &cfg(fsync)).unwrap();
                    for i in 0..N {
                        w.append(&line(i)).unwrap();
                    }
                    w.commit().unwrap();
                    drop(w);
                    let t = Instant::now();
                    let n = rt.block_on(async {
                        let mut n = 0;
                        while let Some(b) =
                            r.next_batch(5000, 1 << 20, Duration::ZERO).await.unwrap()
                        {
                            n += b.lines;
                            r.ack(b).unwrap();
                        }
                        n
                    });
                    timed += t.elapsed();
                    assert_eq!(n as u64, N);
                }
                timed
            })
        });
    }
    g.finish();
}

criterion_group!(benches, append_commit, read_ack);
criterion_main!(benches);
