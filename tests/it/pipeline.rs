//! The pipeline on a real outbox: acknowledgements fire in order and only
//! once the readings are committed; every outbox gets the same bytes; a
//! full outbox holds acknowledgements until the sink drains it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use greengate::deadletter::DeadLetterWriter;
use greengate::model::{FieldValue, Reading};
use greengate::outbox::{self, OutboxConfig};
use greengate::pipeline::{Ack, Enrich, Pipeline, PipelineOptions, SourceBatch};

fn reading(i: i64) -> Reading {
    let mut r = Reading::new("noise", 1_700_000_000_000_000_000 + i);
    r.set_tag("device", "n1");
    r.add_field("laeq", FieldValue::Float(40.0 + (i % 30) as f64));
    r
}

fn cfg(max_bytes: u64) -> OutboxConfig {
    OutboxConfig {
        segment_bytes: 4096,
        max_bytes,
        ..OutboxConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_fire_in_order_after_every_outbox_has_the_readings() {
    let dir = tempfile::tempdir().unwrap();
    let (w1, mut r1) = outbox::open(&dir.path().join("a"), &cfg(1 << 20)).unwrap();
    let (w2, mut r2) = outbox::open(&dir.path().join("b"), &cfg(1 << 20)).unwrap();
    let dead = DeadLetterWriter::open(dir.path().join("dead.jsonl"), 1 << 20).unwrap();
    let enrich = Enrich {
        community_id: "c1".into(),
        ..Enrich::default()
    };
    let pipeline = Pipeline::new(enrich, vec![w1, w2], dead, None, PipelineOptions::default());
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let task = tokio::spawn(pipeline.run(rx));

    let acked = Arc::new(Mutex::new(Vec::new()));
    for i in 0..200 {
        let acked = acked.clone();
        let batch = SourceBatch {
            readings: vec![reading(i)],
            dead: vec![],
            ack: Some(Ack::new(move || acked.lock().unwrap().push(i))),
            ..SourceBatch::default()
        };
        tx.send(batch).await.unwrap();
    }
    drop(tx);
    task.await.unwrap();
    assert_eq!(
        *acked.lock().unwrap(),
        (0..200).collect::<Vec<_>>(),
        "acks in receive order"
    );

    for r in [&mut r1, &mut r2] {
        let mut lines = Vec::new();
        while let Some(b) = r
            .next_batch(1000, 1 << 20, Duration::from_millis(10))
            .await
            .unwrap()
        {
            lines.extend(
                String::from_utf8(b.data.clone())
                    .unwrap()
                    .lines()
                    .map(str::to_string),
            );
            r.ack(b).unwrap();
        }
        assert_eq!(lines.len(), 200);
        assert!(
            lines[0].starts_with("noise,community=c1,device=n1 laeq=40 "),
            "{}",
            lines[0]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_outbox_holds_acks_until_the_sink_drains_it() {
    let dir = tempfile::tempdir().unwrap();
    // Room for a few segments only.
    let (w, mut r) = outbox::open(&dir.path().join("a"), &cfg(16 * 1024)).unwrap();
    let dead = DeadLetterWriter::open(dir.path().join("dead.jsonl"), 1 << 20).unwrap();
    let pipeline = Pipeline::new(
        Enrich::default(),
        vec![w],
        dead,
        None,
        PipelineOptions::default(),
    );
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let task = tokio::spawn(pipeline.run(rx));
    let acked = Arc::new(Mutex::new(0usize));
    let total = 2000;
    let producer = {
        let acked = acked.clone();
        tokio::spawn(async move {
            for i in 0..total {
                let acked = acked.clone();
                let batch = SourceBatch {
                    readings: vec![reading(i as i64)],
                    dead: vec![],
                    ack: Some(Ack::new(move || *acked.lock().unwrap() += 1)),
                    ..SourceBatch::default()
                };
                tx.send(batch).await.unwrap();
            }
        })
    };
    // Nothing reads yet: the outbox fills and acknowledgements stop short of the total.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = *acked.lock().unwrap();
    assert!(
        held < total,
        "back-pressure must hold acknowledgements, {held} of {total} acked"
    );
    // The sink drains: everything is stored exactly once and acknowledged.
    let mut got = 0;
    while got < total {
        if let Some(b) = r
            .next_batch(100, 1 << 20, Duration::from_millis(10))
            .await
            .unwrap()
        {
            got += b.lines;
            r.ack(b).unwrap();
        }
    }
    producer.await.unwrap();
    task.await.unwrap();
    assert_eq!(got, total);
    assert_eq!(*acked.lock().unwrap(), total);
    assert!(greengate::metrics::registry().counter_total("outbox_full_waits_total") > 0);
}
