//! Shared pieces of the HTTP server tests (`tests/http_*.rs`): the fault
//! tests' stack (real Mosquitto, VictoriaMetrics, the greengate binary) with
//! extra `[http]` keys, a raw HTTP/1.1 client that shows status and headers,
//! and what `/proc` says about a process.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{free_port, Mosquitto, Victoria};
use crate::faults_support::write_config;

/// Broker settings of the fault tests: keep every queued QoS 1 message.
pub const BROKER: &str = "max_queued_messages 0\nmax_inflight_messages 1000\n";

/// A broker, a store and a config for greengate with `http_extra` added to
/// its `[http]` section.
pub struct Stack {
    pub broker: Mosquitto,
    pub vm: Victoria,
    pub config: PathBuf,
    pub http_port: u16,
}

pub fn stack(dir: &Path, http_extra: &str) -> Stack {
    let broker = Mosquitto::start_with(BROKER);
    let vm = Victoria::start();
    let http_port = free_port();
    let config = write_config(dir, broker.port(), http_port, &vm, "", "");
    let listen = format!("listen = \"127.0.0.1:{http_port}\"\n");
    let text = std::fs::read_to_string(&config).expect("config");
    assert!(text.contains(&listen));
    let text = text.replacen(&listen, &format!("{listen}{http_extra}\n"), 1);
    std::fs::write(&config, text).expect("config");
    Stack {
        broker,
        vm,
        config,
        http_port,
    }
}

/// A response as the wire carried it.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Header lines, names lowercased: `("allow", "GET, HEAD")`.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One request on its own connection (`Connection: close`), with an
/// optional `Authorization` value; `None` when the server did not answer.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    authorization: Option<&str>,
) -> Option<Response> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(Response {
        status,
        headers,
        body: body.to_string(),
    })
}

/// A `/proc/<pid>/status` value in kB (`VmRSS`, `VmHWM`).
pub fn status_kb(pid: u32, key: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// File descriptors open in a process.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}
