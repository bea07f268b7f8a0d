use super::*;
use crate::deadletter::DeadLetterWriter;
use crate::model::{FieldValue, Reading};
use crate::outbox::{self, OutboxConfig, OutboxReader, OutboxWriter};
use crate::pipeline::{Enrich, IndicatorSink, Pipeline, PipelineOptions, SourceBatch};

#[test]
fn raw_modbus_readings_go_to_the_raw_route_and_nothing_else_does() {
    let raw = Route::RawFrom(Origin::Modbus);
    let rest = Route::AllButRawFrom(Origin::Modbus);
    let cases = [
        (Origin::Modbus, "noise", true),
        (Origin::Modbus, "device_status", true),
        // An indicator is never raw, whatever a profile calls its output.
        (Origin::Modbus, "gg_noise_minute", false),
        (Origin::Mqtt, "noise", false),
        (Origin::Mqtt, "device_status", false),
        (Origin::Internal, "gg_noise_minute", false),
        (Origin::Internal, "noise", false),
    ];
    for (origin, m, is_raw) in cases {
        assert_eq!(raw.accepts_from(origin, m), is_raw, "{origin:?} {m}");
        // Exactly one of the two takes every reading.
        assert_eq!(rest.accepts_from(origin, m), !is_raw, "{origin:?} {m}");
    }
    assert!(raw.droppable());
    assert!(!rest.droppable());
    assert!(!Route::All.droppable());
}

fn reading(measurement: &str, seq: i64) -> Reading {
    let mut r = Reading::new(measurement, 1_700_000_000_000_000_000 + seq);
    r.set_tag("device", "d1");
    r.add_field("seq", FieldValue::Int(seq));
    r
}

fn batch(origin: Origin, readings: Vec<Reading>) -> SourceBatch {
    SourceBatch {
        readings,
        origin,
        ..SourceBatch::default()
    }
}

fn open(dir: &std::path::Path, name: &str, cfg: &OutboxConfig) -> (OutboxWriter, OutboxReader) {
    outbox::open(&dir.join(name), cfg).unwrap()
}

async fn read_all(mut r: OutboxReader) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(b) = r
        .next_batch(10_000, 1 << 20, std::time::Duration::ZERO)
        .await
        .unwrap()
    {
        out.extend(b.lines().map(|l| String::from_utf8_lossy(l).into_owned()));
        r.ack(b).unwrap();
    }
    out
}

/// Emits one indicator reading when the pipeline finishes.
struct OneIndicator;

impl IndicatorSink for OneIndicator {
    fn record(&mut self, _: &Reading) {}
    fn advance(&mut self, _: i64) -> Vec<Reading> {
        Vec::new()
    }
    fn finish(&mut self, _: i64) -> Vec<Reading> {
        vec![reading("gg_noise_minute", 99)]
    }
}

fn dead(dir: &std::path::Path) -> DeadLetterWriter {
    DeadLetterWriter::open(dir.join("dead.jsonl"), 1 << 20).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modbus_batches_go_to_the_raw_outbox_and_mqtt_and_indicators_to_the_main_one() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = OutboxConfig::default();
    let (main_w, main_r) = open(dir.path(), "route-main", &cfg);
    let (raw_w, raw_r) = open(dir.path(), "route-raw", &cfg.raw_modbus().unwrap());
    let p = Pipeline::new(
        Enrich::default(),
        vec![main_w],
        dead(dir.path()),
        Some(Box::new(OneIndicator)),
        PipelineOptions::default(),
    )
    .with_raw_outbox(Origin::Modbus, raw_w);
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let task = tokio::spawn(p.run(rx));
    let modbus = vec![reading("noise", 1), reading("device_status", 2)];
    tx.send(batch(Origin::Modbus, modbus)).await.unwrap();
    tx.send(batch(Origin::Mqtt, vec![reading("noise", 3)]))
        .await
        .unwrap();
    tx.send(batch(Origin::Modbus, vec![reading("gg_custom", 4)]))
        .await
        .unwrap();
    drop(tx);
    task.await.unwrap();
    let seqs = |lines: Vec<String>| -> Vec<String> {
        lines
            .iter()
            .map(|l| l.split(' ').next().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(
        seqs(read_all(raw_r).await),
        ["noise,device=d1", "device_status,device=d1"]
    );
    assert_eq!(
        seqs(read_all(main_r).await),
        [
            "noise,device=d1",
            "gg_custom,device=d1",
            "gg_noise_minute,device=d1"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_raw_outbox_drops_its_oldest_records_counts_them_and_never_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let name = "route-raw-full";
    let main_cfg = OutboxConfig::default();
    let raw_cfg = OutboxConfig {
        modbus_max_bytes: Some(outbox::config::MIN_RAW_MODBUS_BYTES),
        ..main_cfg.clone()
    }
    .raw_modbus()
    .unwrap();
    let (main_w, main_r) = open(dir.path(), "route-main-full", &main_cfg);
    let (raw_w, raw_r) = open(dir.path(), name, &raw_cfg);
    let stats = raw_w.stats();
    let skipped =
        || crate::metrics::registry().counter_total("pipeline_routed_readings_dropped_total");
    let skipped_before = skipped();
    let mut p = Pipeline::new(
        Enrich::default(),
        vec![main_w],
        dead(dir.path()),
        None,
        PipelineOptions::default(),
    )
    .with_raw_outbox(Origin::Modbus, raw_w);
    // No sink reads the raw outbox: it fills many times over. `process`
    // returning at all shows that a full droppable outbox does not block.
    let n = 2_000i64;
    for i in 0..n {
        let mut group = vec![batch(Origin::Modbus, vec![reading("noise", i)])];
        p.process(&mut group);
        assert!(stats.bytes() <= raw_cfg.max_bytes);
    }
    drop(p);
    let dropped = crate::metrics::registry()
        .counter("outbox_records_dropped_total", "", &[("name", name)])
        .get();
    let routed_dropped = skipped() - skipped_before;
    let kept: Vec<i64> = read_all(raw_r)
        .await
        .iter()
        .map(|l| {
            let f = l.split(' ').nth(1).unwrap();
            f.trim_start_matches("seq=")
                .trim_end_matches('i')
                .parse()
                .unwrap()
        })
        .collect();
    assert!(dropped > 0, "the full outbox dropped records");
    // Nothing is skipped at the door while old segments can be dropped:
    // what was appended is either kept or counted as dropped.
    assert_eq!(routed_dropped, 0);
    assert_eq!(kept.len() as u64 + dropped, n as u64);
    // The first segment (where the sink reads) and the newest survive; what
    // went is the oldest of the rest, one run in the middle.
    assert_eq!(kept.first(), Some(&0));
    assert_eq!(kept.last(), Some(&(n - 1)));
    let gaps = kept.windows(2).filter(|w| w[1] != w[0] + 1).count();
    assert_eq!(gaps, 1, "one run of old records dropped: {kept:?}");
    assert!(read_all(main_r).await.is_empty(), "no raw reading in main");
}
