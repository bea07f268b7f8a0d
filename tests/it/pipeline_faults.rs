//! The pipeline under write and fsync errors injected through the outbox's
//! file layer (issue 10): no acknowledgement fires for a group that is not
//! durable in every outbox; once the disk heals every group is committed
//! once, in order, and acknowledged; the dead letters of a group are part
//! of its commit.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use greengate::deadletter::{DeadLetter, DeadLetterWriter};
use greengate::model::{FieldValue, Reading};
use greengate::outbox::{self, FileLayer, FsyncPolicy, OutboxConfig, OutboxReader};
use greengate::pipeline::{Ack, Enrich, Pipeline, PipelineExit, PipelineOptions, SourceBatch};

/// Every write and fsync fails with `errno` while `broken` is set.
struct Flaky {
    broken: AtomicBool,
    errno: i32,
    failed: AtomicU64,
}

impl FileLayer for Flaky {
    fn write(&self, file: &mut File, buf: &[u8]) -> io::Result<usize> {
        if self.broken.load(Ordering::SeqCst) {
            self.failed.fetch_add(1, Ordering::SeqCst);
            return Err(io::Error::from_raw_os_error(self.errno));
        }
        io::Write::write(file, buf)
    }
    fn sync_data(&self, file: &File) -> io::Result<()> {
        if self.broken.load(Ordering::SeqCst) {
            self.failed.fetch_add(1, Ordering::SeqCst);
            return Err(io::Error::from_raw_os_error(self.errno));
        }
        file.sync_data()
    }
}

fn reading(i: i64) -> Reading {
    let mut r = Reading::new("noise", 1_700_000_000_000_000_000 + i);
    r.set_tag("device", "n1");
    r.add_field("laeq", FieldValue::Float(i as f64));
    r
}

fn cfg() -> OutboxConfig {
    OutboxConfig {
        segment_bytes: 4096,
        max_bytes: 1 << 24,
        fsync: FsyncPolicy::Always,
        ..OutboxConfig::default()
    }
}

async fn read_all(r: &mut OutboxReader) -> Vec<String> {
    let mut lines = Vec::new();
    while let Some(b) = r
        .next_batch(1000, 1 << 20, Duration::from_millis(10))
        .await
        .unwrap()
    {
        lines.extend(b.lines().map(|l| String::from_utf8_lossy(l).into_owned()));
        r.ack(b).unwrap();
    }
    lines
}

async fn faults_lose_nothing(errno: i32) {
    let dir = tempfile::tempdir().unwrap();
    let (w1, mut r1) = outbox::open(&dir.path().join(format!("a{errno}")), &cfg()).unwrap();
    let (mut w2, mut r2) = outbox::open(&dir.path().join(format!("b{errno}")), &cfg()).unwrap();
    let flaky = Arc::new(Flaky {
        broken: AtomicBool::new(false),
        errno,
        failed: AtomicU64::new(0),
    });
    // Only the second outbox fails: the first must not get anything twice.
    w2.set_file_layer(flaky.clone());
    let dead = DeadLetterWriter::open(dir.path().join("dead.jsonl"), 1 << 20).unwrap();
    let opts = PipelineOptions {
        max_group: 16,
        ..PipelineOptions::default()
    };
    let pipeline = Pipeline::new(Enrich::default(), vec![w1, w2], dead, None, opts);
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let task = tokio::spawn(pipeline.run(rx));

    let acked = Arc::new(Mutex::new(Vec::new()));
    let n = 600;
    let sender = tokio::spawn({
        let acked = acked.clone();
        async move {
            for i in 0..n {
                let acked = acked.clone();
                let batch = SourceBatch {
                    readings: vec![reading(i)],
                    dead: if i % 50 == 0 {
                        vec![DeadLetter::new("mqtt", "t", "bad", b"x")]
                    } else {
                        vec![]
                    },
                    ack: Some(Ack::new(move || acked.lock().unwrap().push(i))),
                    ..SourceBatch::default()
                };
                tx.send(batch).await.unwrap();
            }
        }
    });
    // Break the disk mid-stream, hold it broken, then heal it.
    while acked.lock().unwrap().len() < 100 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    flaky.broken.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let acked_while_broken = acked.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        acked.lock().unwrap().len(),
        acked_while_broken,
        "no acknowledgement while the outbox cannot be written"
    );
    assert!(flaky.failed.load(Ordering::SeqCst) > 0);
    flaky.broken.store(false, Ordering::SeqCst);
    sender.await.unwrap();
    assert_eq!(task.await.unwrap(), PipelineExit::Finished);

    assert_eq!(*acked.lock().unwrap(), (0..n).collect::<Vec<_>>());
    let want: Vec<i64> = (0..n).collect();
    for r in [&mut r1, &mut r2] {
        let got: Vec<i64> = read_all(r)
            .await
            .iter()
            .map(|l| {
                l.split("laeq=")
                    .nth(1)
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        assert_eq!(got, want, "each reading once, in order");
    }
    let dead = std::fs::read_to_string(dir.path().join("dead.jsonl")).unwrap();
    assert_eq!(
        dead.lines().count(),
        (n as usize).div_ceil(50),
        "each dead letter once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_errors_withhold_acks_and_lose_nothing() {
    faults_lose_nothing(libc_eio()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_withholds_acks_and_loses_nothing() {
    faults_lose_nothing(libc_enospc()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_while_the_disk_fails_abandons_without_acknowledging() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, _r) = outbox::open(&dir.path().join("stuck"), &cfg()).unwrap();
    w.set_file_layer(Arc::new(Flaky {
        broken: AtomicBool::new(true),
        errno: libc_eio(),
        failed: AtomicU64::new(0),
    }));
    let dead = DeadLetterWriter::open(dir.path().join("dead.jsonl"), 1 << 20).unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let pipeline = Pipeline::new(
        Enrich::default(),
        vec![w],
        dead,
        None,
        PipelineOptions::default(),
    )
    .with_shutdown(stop.clone());
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let task = tokio::spawn(pipeline.run(rx));
    let fired = Arc::new(AtomicU64::new(0));
    for i in 0..5 {
        let fired = fired.clone();
        tx.send(SourceBatch {
            readings: vec![reading(i)],
            ack: Some(Ack::new(move || {
                fired.fetch_add(1, Ordering::SeqCst);
            })),
            ..SourceBatch::default()
        })
        .await
        .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();
    drop(tx);
    let exit = tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("the pipeline leaves a failing disk on shutdown")
        .unwrap();
    assert!(matches!(exit, PipelineExit::Abandoned { .. }), "{exit:?}");
    assert_eq!(fired.load(Ordering::SeqCst), 0);
}

fn libc_eio() -> i32 {
    5
}
fn libc_enospc() -> i32 {
    28
}
