//! The per-message path of the MQTT source and the pipeline, without the
//! broker and the fsync: route and decode (`sources::mqtt::router`, the
//! shipped profiles of `config/devices/`), enrich (`pipeline::TagSets`, as the pipeline does, 1,000
//! registered devices with two tags each), encode line protocol once, append
//! to an outbox (`fsync = "never"`, one commit per 1,000 messages, as a
//! group commit would). Two profiles: `fiware-noise` (JSON, one reading per
//! message) and `line-protocol` (two lines per message).
//!
//! Besides criterion's time per message, it counts heap allocations per
//! message with a counting global allocator (this binary only) over a
//! separate pass of 100,000 messages, and prints them.
//!
//! Run: `cargo bench --bench per_message`.

// A test or bench binary has no API: its `pub` only shares between its modules.
#![allow(unreachable_pub)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use greengate::app::Config;
use greengate::devices::DeviceConfig;
use greengate::outbox::{open, FsyncPolicy, OutboxConfig, OutboxReader, OutboxWriter};
use greengate::pipeline::TagSets;
use greengate::sources::mqtt::router::Router;
use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Counts every allocation (and reallocation) made through it.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counters are atomics touched without allocating.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(l.size() as u64, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new as u64, Ordering::Relaxed);
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const DEVICES: usize = 1000;
const GROUP: usize = 1000;

/// The example config's MQTT source and profiles, with 1,000 registered
/// noise sensors and 1,000 line-protocol devices (two tags each).
fn setup() -> (Router, TagSets) {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/greengate.example.toml");
    let mut cfg = Config::load(&file).expect("the example config loads");
    for i in 0..DEVICES {
        for id in [format!("nl-{i:04}"), format!("env-{i:04}")] {
            let mut d = DeviceConfig::default();
            d.tags.0.insert("building".into(), format!("b{}", i % 40));
            d.tags.0.insert("zone".into(), "north".into());
            cfg.devices.insert(id, d);
        }
    }
    let mqtt = cfg
        .sources
        .mqtt
        .as_ref()
        .expect("example has [sources.mqtt]");
    let router = Router::new(mqtt);
    // What the pipeline applies: the tag sets built once per registry.
    (router, TagSets::new(&greengate::app::reload::enrich(&cfg)))
}

/// `(topic, payload)` of message `i` of a profile.
fn messages(profile: &str) -> Vec<(String, Vec<u8>)> {
    (0..DEVICES)
        .map(|i| match profile {
            "json" => (
                format!("community/green-garden/noise/nl-{i:04}/up"),
                format!(
                    "{{\"id\":\"urn:ngsi-ld:NoiseLevelObserved:nl-{i:04}\",\"type\":\"NoiseLevelObserved\",\
                     \"dateObserved\":\"2025-11-29T12:{:02}:{:02}+08:00\",\"LAeq\":{}.{},\"LAmax\":71.2,\
                     \"LAmin\":41.7,\"LA90\":45.1,\"sonometerClass\":\"1\"}}",
                    i / 60 % 60,
                    i % 60,
                    40 + i % 30,
                    i % 10
                )
                .into_bytes(),
            ),
            _ => (
                format!("community/green-garden/lp/env-{i:04}"),
                format!(
                    "environment,sensor=bme280 temp_c=21.{},rh_pct={}i {t}\n\
                     environment,sensor=pms5003 pm25=12.5,pm10=20.25 {t}",
                    i % 10,
                    30 + i % 40,
                    t = (1_764_388_800 + i as i64) * 1_000_000_000
                )
                .into_bytes(),
            ),
        })
        .collect()
}

fn outbox(dir: &Path) -> (OutboxWriter, OutboxReader) {
    let cfg = OutboxConfig {
        fsync: FsyncPolicy::Never,
        max_bytes: 1 << 40,
        ..OutboxConfig::default()
    };
    open(&dir.join("ob"), &cfg).unwrap()
}

/// One message through the path; returns the readings it gave.
fn one(
    router: &Router,
    enrich: &TagSets,
    w: &mut OutboxWriter,
    buf: &mut Vec<u8>,
    (topic, payload): &(String, Vec<u8>),
) -> usize {
    let readings = router
        .handle(topic, payload, 1_764_388_800_000_000_000)
        .expect("the sample message decodes");
    let n = readings.len();
    for mut r in readings {
        enrich.apply(&mut r);
        buf.clear();
        greengate::lineproto::encode(&r, buf).unwrap();
        w.append(buf).unwrap();
    }
    n
}

fn drain(rt: &tokio::runtime::Runtime, r: &mut OutboxReader) {
    rt.block_on(async {
        loop {
            let f = r.next_batch(5000, 1 << 20, Duration::ZERO);
            match tokio::time::timeout(Duration::from_millis(1), f).await {
                Ok(Ok(Some(b))) => r.ack(b).unwrap(),
                _ => break,
            }
        }
    });
}

/// Allocations and allocated bytes per message over `n` messages.
fn count_allocs(profile: &str, n: usize) -> (f64, f64, f64) {
    let (router, enrich) = setup();
    let msgs = messages(profile);
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let (mut w, _r) = outbox(tmp.path());
    let mut buf = Vec::with_capacity(512);
    // Warm up: metrics handles, buffers, the outbox's first segment.
    for m in msgs.iter().take(GROUP) {
        one(&router, &enrich, &mut w, &mut buf, m);
    }
    w.commit().unwrap();
    let (a0, b0) = (
        ALLOCS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    );
    let mut readings = 0;
    for i in 0..n {
        readings += one(&router, &enrich, &mut w, &mut buf, &msgs[i % msgs.len()]);
        if i % GROUP == GROUP - 1 {
            w.commit().unwrap();
        }
    }
    let (a1, b1) = (
        ALLOCS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    );
    let per = |x: u64| x as f64 / n as f64;
    (per(a1 - a0), per(b1 - b0), readings as f64 / n as f64)
}

fn per_message(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    for profile in ["json", "line_protocol"] {
        let (allocs, bytes, readings) = count_allocs(profile, 100_000);
        println!(
            "per_message/{profile}: {allocs:.1} allocations and {bytes:.0} bytes allocated per message ({readings} readings per message)"
        );
    }
    let mut g = c.benchmark_group("per_message");
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(GROUP as u64));
    for profile in ["json", "line_protocol"] {
        let (router, enrich) = setup();
        let msgs = messages(profile);
        g.bench_function(profile, |b| {
            b.iter_custom(|iters| {
                let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
                let (mut w, mut r) = outbox(tmp.path());
                let mut buf = Vec::with_capacity(512);
                let mut timed = Duration::ZERO;
                for it in 0..iters {
                    let t = Instant::now();
                    for m in msgs.iter().take(GROUP) {
                        one(&router, &enrich, &mut w, &mut buf, m);
                    }
                    w.commit().unwrap();
                    timed += t.elapsed();
                    if it % 64 == 63 {
                        drain(&rt, &mut r); // untimed: keeps the disk use flat
                    }
                }
                timed
            })
        });
    }
    g.finish();
}

criterion_group!(benches, per_message);
criterion_main!(benches);
