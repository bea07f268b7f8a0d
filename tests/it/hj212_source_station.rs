//! HJ 212 stations for the source tests, written from the standard's byte
//! layout (protocols.md, HJ 212 section): `##`, 4-digit length, segment,
//! CRC of the segment (the standard's: 0xFFFF, `crc = (crc >> 8) ^ byte`,
//! 8 rounds with 0xA001), `\r\n`. Nothing here calls greengate's codec;
//! the check vectors of protocols.md are asserted against this CRC.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::daemon::Daemon;
use crate::common::{free_port, Victoria};

/// The standard's CRC.
pub fn crc(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for b in data {
        crc = (crc >> 8) ^ u16::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
        }
    }
    crc
}

pub fn frame(segment: &str) -> Vec<u8> {
    format!(
        "##{:04}{segment}{:04X}\r\n",
        segment.len(),
        crc(segment.as_bytes())
    )
    .into_bytes()
}

#[test]
fn the_stations_crc_gives_the_check_vectors_of_protocols_md() {
    assert_eq!(crc(b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&"), 0x1C80);
    let v2 = "QN=20261201100000000;ST=23;CN=2061;PW=123456;MN=GG0001;Flag=5;CP=&&DataTime=20261201090000;Leq-Data=52.3;L10-Data=55.1;L50-Data=50.2;L90-Data=46.0;LMx-Data=68.4;LMn-Data=42.1&&";
    assert_eq!(crc(v2.as_bytes()), 0xBE01);
    assert!(frame(v2).starts_with(b"##0176QN="));
}

/// 2026-11-30 10:00:00 +08:00 (02:00 UTC), in ns: where test uploads start.
pub fn t0_ns() -> i64 {
    1_796_004_000 * 1_000_000_000
}

/// `YYYYMMDDhhmmss` in +08:00 for a UTC ns time.
pub fn local(ns: i64) -> String {
    let t = chrono::DateTime::from_timestamp(ns / 1_000_000_000 + 8 * 3600, 0).unwrap();
    t.format("%Y%m%d%H%M%S").to_string()
}

/// A real-time (2011) noise upload asking for an answer.
pub fn rtd(qn: &str, mn: &str, pw: &str, t_ns: i64, la: f64) -> String {
    format!(
        "QN={qn};ST=23;CN=2011;PW={pw};MN={mn};Flag=5;CP=&&DataTime={};LA-Rtd={la:.1},LA-Flag=N&&",
        local(t_ns)
    )
}

pub struct Station {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Station {
    pub fn connect(port: u16) -> Station {
        let start = Instant::now();
        loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => {
                    s.set_nodelay(true).unwrap();
                    return Station { s, buf: Vec::new() };
                }
                Err(e) => {
                    assert!(start.elapsed() < Duration::from_secs(20), "connect: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.s.write_all(bytes)
    }

    pub fn upload(&mut self, segment: &str) {
        self.send(&frame(segment)).expect("send");
    }

    /// The next frame from the server, CRC-checked here; `None` on timeout
    /// or when the server closed the connection.
    pub fn answer(&mut self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(start) = self.buf.windows(2).position(|w| w == b"##") {
                let b = &self.buf[start..];
                if b.len() >= 6 {
                    let len: usize = std::str::from_utf8(&b[2..6]).unwrap().parse().unwrap();
                    if b.len() >= 12 + len {
                        let seg = String::from_utf8(b[6..6 + len].to_vec()).unwrap();
                        let written = std::str::from_utf8(&b[6 + len..10 + len]).unwrap();
                        assert_eq!(
                            u16::from_str_radix(written, 16).unwrap(),
                            crc(seg.as_bytes()),
                            "the server's answer has a wrong CRC: {seg}"
                        );
                        assert_eq!(&b[10 + len..12 + len], b"\r\n");
                        self.buf.drain(..start + 12 + len);
                        return Some(seg);
                    }
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.s.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 1024];
            match self.s.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => return None,
            }
        }
    }

    /// Uploads and waits for the 9014 with the same QN.
    pub fn upload_answered(&mut self, segment: &str, timeout: Duration) -> String {
        self.upload(segment);
        let a = self
            .answer(timeout)
            .unwrap_or_else(|| panic!("no answer to {segment}"));
        let qn = segment.split(';').next().unwrap();
        assert!(a.starts_with(&format!("{qn};ST=91;CN=9014;")), "{a}");
        a
    }
}

/// A daemon with an HJ 212 source on a free port, devices `noise-hj-1`
/// .. `noise-hj-{stations}` (MN `GG0001` ..), PW 123456, writing to `vm`.
pub struct Setup {
    pub daemon: Daemon,
    pub port: u16,
}

pub fn mn(i: usize) -> String {
    format!("GG{i:04}")
}

pub fn write_config(
    dir: &Path,
    vm: &Victoria,
    stations: usize,
    extra: &str,
) -> (PathBuf, u16, u16) {
    let sink = format!(
        "url = \"{}\"\napi = \"v2\"\norg = \"o\"\nbucket = \"b\"\ntoken = \"t\"",
        vm.url()
    );
    write_config_to(dir, &sink, stations, extra)
}

/// [`write_config`] with any `[sinks.influxdb]` settings.
pub fn write_config_to(
    dir: &Path,
    sink: &str,
    stations: usize,
    extra: &str,
) -> (PathBuf, u16, u16) {
    let (port, http_port) = (free_port(), free_port());
    let mut devices = String::new();
    let mut table = String::new();
    for i in 1..=stations {
        devices.push_str(&format!(
            "[devices.noise-hj-{i}.indicators]\nclass = \"noise\"\nzone_class = \"1\"\nsample_interval = \"30s\"\n"
        ));
        table.push_str(&format!(
            "[[sources.hj212.stations]]\nmn = \"{}\"\ndevice = \"noise-hj-{i}\"\n",
            mn(i)
        ));
    }
    let text = format!(
        r#"
[site]
community_id = "cn-hj212"

[http]
listen = "127.0.0.1:{http_port}"

[outbox]
dir = "{dir}/outbox"
fsync = "always"

[dead_letter]
path = "{dir}/dead-letter.jsonl"

[indicators]
watermark = "event_time"
allowed_lateness = "1s"

{devices}
[sources.hj212]
listen = "127.0.0.1:{port}"
pw = "123456"
{extra}

{table}
[sinks]
shutdown_grace = "5s"

[sinks.influxdb]
linger = "50ms"
{sink}
"#,
        dir = dir.display(),
    );
    let path = dir.join("greengate.toml");
    std::fs::write(&path, text).unwrap();
    (path, port, http_port)
}

/// Starts greengate and waits until the HJ 212 server listens.
pub fn start(cfg: &Path, port: u16, http_port: u16, dir: &Path, run: usize) -> Daemon {
    let mut d = Daemon::spawn(cfg, http_port, dir, run, &[], None);
    let want = format!("greengate_component_ready{{component=\"hj212:127.0.0.1:{port}\"}} 1");
    let start = Instant::now();
    while !d.metrics().contains(&want) {
        d.assert_running();
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "HJ 212 server not listening:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    d
}

pub fn setup(dir: &Path, vm: &Victoria, stations: usize, extra: &str) -> Setup {
    let (cfg, port, http_port) = write_config(dir, vm, stations, extra);
    let daemon = start(&cfg, port, http_port, dir, 0);
    Setup { daemon, port }
}

/// `(device, ms, value)` of every sample of `name`.
pub fn samples(vm: &Victoria, name: &str) -> Vec<(String, i64, f64)> {
    let mut out = Vec::new();
    for s in vm.export(&format!("{{__name__=\"{name}\"}}")) {
        let dev = s["metric"]["device"].as_str().unwrap_or("").to_string();
        let ts = s["timestamps"].as_array().cloned().unwrap_or_default();
        let vs = s["values"].as_array().cloned().unwrap_or_default();
        for (t, v) in ts.iter().zip(vs.iter()) {
            out.push((dev.clone(), t.as_i64().unwrap(), v.as_f64().unwrap()));
        }
    }
    out.sort_by(|a, b| (a.0.as_str(), a.1).cmp(&(b.0.as_str(), b.1)));
    out
}

/// The dead-letter records written so far.
pub fn dead_letters(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("dead-letter.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
