//! HJ 212 northbound drain rate: a day of noise indicators for 10 points
//! (10 × (1,440 minutes + 24 hours + 1 day) = 14,650 records) waiting in a
//! platform's outbox, uploaded to a platform on loopback that checks each
//! frame's CRC (its own implementation of the standard's) and answers 9014
//! at once; timed from the sink's start until the outbox is drained.
//! With answers the sink waits for each 9014 (stop and wait), so the figure
//! is bounded by the round trip. Run: `cargo bench --bench hj212_drain`.

// A test or bench binary has no API: its `pub` only shares between its modules.
#![allow(unreachable_pub)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use greengate::config::Secret;
use greengate::outbox::{open, OutboxConfig};
use greengate::sinks::hj212::{self, config::PlatformConfig};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

const POINTS: i64 = 10;
const DAY0: i64 = 1_773_093_600 * 1_000_000_000;
const MIN: i64 = 60 * 1_000_000_000;

fn crc(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xffff;
    for b in data {
        crc = (crc >> 8) ^ u16::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xa001
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// A day of backlog, in the order the engine emits it.
fn backlog() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let stats = "leq=52.31,l10=55.1,l50=50.2,l90=46,lmax=68.4,lmin=42.1,valid=true";
    for m in 0..1440 {
        for p in 0..POINTS {
            let t = DAY0 + m * MIN;
            out.push(format!("gg_noise_minute,community=c,device=n{p} {stats} {t}").into_bytes());
            if m % 60 == 59 {
                let t = DAY0 + (m - 59) * MIN;
                out.push(format!("gg_noise_hour,community=c,device=n{p} {stats} {t}").into_bytes());
            }
        }
    }
    for p in 0..POINTS {
        out.push(
            format!("gg_noise_day,community=c,device=n{p} date=\"2026-03-10\",ld=55.2,ln=44.1,ldn=55.9 {DAY0}")
                .into_bytes(),
        );
    }
    out
}

/// Accepts one connection; checks and (with `answer`) answers each frame.
async fn platform(l: tokio::net::TcpListener, answer: bool) -> u64 {
    let Ok((mut s, _)) = l.accept().await else {
        return 0;
    };
    let (mut buf, mut chunk, mut n) = (Vec::new(), vec![0u8; 65536], 0u64);
    loop {
        let k = match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return n,
            Ok(k) => k,
        };
        buf.extend_from_slice(&chunk[..k]);
        let mut out = Vec::new();
        while buf.len() >= 6 {
            let len: usize = std::str::from_utf8(&buf[2..6]).unwrap().parse().unwrap();
            if buf.len() < len + 12 {
                break;
            }
            let f: Vec<u8> = buf.drain(..len + 12).collect();
            let seg = &f[6..6 + len];
            assert_eq!(
                &f[6 + len..6 + len + 4],
                format!("{:04X}", crc(seg)).as_bytes()
            );
            n += 1;
            if answer {
                let text = std::str::from_utf8(seg).unwrap();
                let qn = text.split(';').next().unwrap();
                let a = format!("{qn};ST=91;CN=9014;PW=123456;MN=GG0001;Flag=4;CP=&&&&");
                out.extend(format!("##{:04}{a}{:04X}\r\n", a.len(), crc(a.as_bytes())).bytes());
            }
        }
        if !out.is_empty() && s.write_all(&out).await.is_err() {
            return n;
        }
    }
}

fn drain(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let lines = backlog();
    let mut g = c.benchmark_group("hj212_drain_day_backlog");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(lines.len() as u64));
    for answers in [true, false] {
        let name = if answers {
            "answered_9014"
        } else {
            "no_answers"
        };
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
                    let (mut w, r) =
                        open(&tmp.path().join("hj212-b"), &OutboxConfig::default()).unwrap();
                    for l in &lines {
                        w.append(l).unwrap();
                    }
                    w.commit().unwrap();
                    drop(w);
                    timed += rt.block_on(async {
                        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                        let port = l.local_addr().unwrap().port();
                        let plat = tokio::spawn(platform(l, answers));
                        let points: serde_json::Map<_, _> = (0..POINTS)
                            .map(|p| (format!("n{p}"), format!("GG{p:04}").into()))
                            .collect();
                        let cfg: PlatformConfig = serde_json::from_value(serde_json::json!({
                            "name": "b", "address": format!("127.0.0.1:{port}"), "pw": "123456",
                            "answers": answers, "points": points,
                        }))
                        .unwrap();
                        let t = Instant::now();
                        hj212::run(
                            cfg,
                            Secret::new("123456"),
                            8 * 3600,
                            r,
                            CancellationToken::new(),
                        )
                        .await;
                        let took = t.elapsed();
                        // The sink closed the connection: the platform counts what it got.
                        let got = plat.await.unwrap();
                        assert_eq!(got, lines.len() as u64);
                        took
                    });
                }
                timed
            })
        });
    }
    g.finish();
}

criterion_group!(benches, drain);
criterion_main!(benches);
