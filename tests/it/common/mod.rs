//! The test harness: real services started on free loopback ports in
//! temporary directories, stopped and removed on drop, so tests run in
//! parallel and leave nothing behind.
//!
//! - [`Mosquitto`]: a real MQTT broker (`mosquitto` from Debian).
//! - [`Victoria`]: VictoriaMetrics, which implements InfluxDB's `/api/v2/write`.
//! - [`Influx1`]: InfluxDB 1.x (v1 `/write`, InfluxQL).
//! - [`chromium`]: headless Chromium for the pages the daemon serves.
//!
//! `scripts/test.sh` installs all of them; see `shared/reference/test-services.md`.

#![allow(dead_code)]

pub mod chromium;
pub mod daemon;
pub mod http_stub;
pub mod pki;
pub mod publish;
pub mod socat;
pub mod tmpfs;
pub mod tools;

pub use tools::require_tool;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository root (shipped configs, profiles, dashboards).
pub fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// RFC 3339 of a UTC epoch second in the simulated sites' zone (+08:00).
pub fn rfc3339_local(t: i64) -> String {
    let off = chrono::FixedOffset::east_opt(8 * 3600).expect("+08:00");
    chrono::DateTime::from_timestamp(t, 0)
        .expect("a time in range")
        .with_timezone(&off)
        .to_rfc3339()
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// A child process killed (and its directory removed) on drop.
pub struct Proc {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl Proc {
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn log_tail(&self) -> String {
        let p = self.dir.path().join("log.txt");
        let s = std::fs::read_to_string(p).unwrap_or_default();
        s.lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn(cmd: &mut Command, dir: &Path) -> Child {
    let log = std::fs::File::create(dir.join("log.txt")).expect("log file");
    let log2 = log.try_clone().expect("log file");
    cmd.stdout(Stdio::from(log))
        .stderr(Stdio::from(log2))
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"))
}

fn wait_until(what: &str, p: &mut Proc, timeout: Duration, mut ready: impl FnMut(u16) -> bool) {
    let start = Instant::now();
    loop {
        if ready(p.port) {
            return;
        }
        if let Ok(Some(status)) = p.child.try_wait() {
            panic!("{what} exited early ({status}):\n{}", p.log_tail());
        }
        if start.elapsed() > timeout {
            panic!("{what} not ready after {timeout:?}:\n{}", p.log_tail());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tcp_open(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// A minimal blocking HTTP/1.1 request on loopback; returns (status, body).
pub fn http(method: &str, port: u16, path_and_query: &str, body: &[u8]) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let head = format!(
        "{method} {path_and_query} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Some((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// URL-encodes a query value.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A real Mosquitto broker on a free port.
pub struct Mosquitto {
    pub proc: Proc,
    extra_conf: String,
}

/// A Mosquitto stopped cleanly by [`Mosquitto::stop`]: its directory (with
/// the persistence file), port and config, ready to start again.
pub struct StoppedMosquitto {
    dir: tempfile::TempDir,
    port: u16,
    extra_conf: String,
}

impl StoppedMosquitto {
    pub fn start(self) -> Mosquitto {
        Mosquitto::start_in(self.dir, self.port, &self.extra_conf)
    }
}

impl Mosquitto {
    pub fn start() -> Mosquitto {
        Self::start_with("")
    }

    /// Starts with extra lines appended to the generated mosquitto.conf.
    pub fn start_with(extra_conf: &str) -> Mosquitto {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        Self::start_in(dir, port, extra_conf)
    }

    /// Starts in a given directory and port (for restart tests with persistence).
    pub fn start_in(dir: tempfile::TempDir, port: u16, extra_conf: &str) -> Mosquitto {
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\n{extra_conf}\n"),
        )
        .expect("write mosquitto.conf");
        let child = spawn(
            Command::new(require_tool("mosquitto", "mosquitto"))
                .arg("-c")
                .arg(&conf),
            dir.path(),
        );
        let mut proc = Proc { child, dir, port };
        wait_until("mosquitto", &mut proc, Duration::from_secs(20), tcp_open);
        Mosquitto {
            proc,
            extra_conf: extra_conf.to_string(),
        }
    }

    /// Starts with persistence in its own directory, for restart tests. The
    /// directory is world-writable: Mosquitto started as root drops to the
    /// `mosquitto` user before it writes its database.
    pub fn start_persistent(extra_conf: &str) -> Mosquitto {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
        let conf = format!(
            "persistence true\npersistence_location {}/\n{extra_conf}",
            dir.path().display()
        );
        Self::start_in(dir, free_port(), &conf)
    }

    /// A clean shutdown (SIGTERM writes the persistence file) that keeps the
    /// directory and port for [`StoppedMosquitto::start`].
    pub fn stop(mut self) -> StoppedMosquitto {
        let _ = Command::new("kill")
            .args(["-TERM", &self.proc.child.id().to_string()])
            .status();
        let _ = self.proc.child.wait();
        let dir = std::mem::replace(&mut self.proc.dir, tempfile::tempdir().expect("tempdir"));
        StoppedMosquitto {
            dir,
            port: self.port(),
            extra_conf: std::mem::take(&mut self.extra_conf),
        }
    }

    pub fn port(&self) -> u16 {
        self.proc.port
    }

    /// Publishes with the real `mosquitto_pub` client.
    pub fn publish(&self, topic: &str, payload: &str, qos: u8) {
        self.mosquitto_pub(topic, payload, qos, None);
    }

    /// Publishes one MQTT 5 message with these user properties.
    pub fn publish_v5(&self, topic: &str, payload: &str, qos: u8, props: &[(&str, &str)]) {
        self.mosquitto_pub(topic, payload, qos, Some(props));
    }

    /// mosquitto_pub (a peer client, not ours): MQTT 3.1.1, or MQTT 5 with
    /// user properties.
    fn mosquitto_pub(&self, topic: &str, payload: &str, qos: u8, v5: Option<&[(&str, &str)]>) {
        let mut cmd = Command::new(require_tool("mosquitto_pub", "mosquitto-clients"));
        cmd.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port().to_string(),
            "-q",
            &qos.to_string(),
            "-t",
            topic,
            "-m",
            payload,
        ]);
        if let Some(props) = v5 {
            cmd.args(["-V", "mqttv5"]);
            for (k, v) in props {
                cmd.args(["-D", "PUBLISH", "user-property", k, v]);
            }
        }
        let status = cmd.status().expect("mosquitto_pub");
        assert!(status.success(), "mosquitto_pub failed");
    }
}

/// A real VictoriaMetrics on a free port (InfluxDB v2 write API, PromQL).
pub struct Victoria {
    pub proc: Proc,
}

impl Victoria {
    pub fn start() -> Victoria {
        Self::start_on(free_port())
    }

    /// Starts on a given port (a store that "comes back" where a sink has
    /// been failing to connect).
    pub fn start_on(port: u16) -> Victoria {
        let dir = tempfile::tempdir().expect("tempdir");
        let child = spawn(
            Command::new(require_tool("victoria-metrics", "victoria-metrics"))
                .arg(format!(
                    "-storageDataPath={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
                .arg("-retentionPeriod=100y")
                .arg("-search.latencyOffset=0s")
                .arg("-influxTrimTimestamp=1ns"),
            dir.path(),
        );
        let mut proc = Proc { child, dir, port };
        wait_until(
            "victoria-metrics",
            &mut proc,
            Duration::from_secs(30),
            |p| {
                http("GET", p, "/health", b"")
                    .map(|(s, b)| s == 200 && b.contains("OK"))
                    .unwrap_or(false)
            },
        );
        Victoria { proc }
    }

    pub fn port(&self) -> u16 {
        self.proc.port
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }

    /// Raw points of every series matching a PromQL selector (one JSON object per series).
    pub fn export(&self, selector: &str) -> Vec<serde_json::Value> {
        let _ = http("GET", self.port(), "/internal/force_flush", b"");
        let q = format!("/api/v1/export?match[]={}", enc(selector));
        let (status, body) = http("GET", self.port(), &q, b"").expect("export");
        assert_eq!(status, 200, "export: {body}");
        body.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The number of samples over every series matching `selector`.
    pub fn sample_count(&self, selector: &str) -> usize {
        self.export(selector)
            .iter()
            .map(|s| s["values"].as_array().map(|a| a.len()).unwrap_or(0))
            .sum()
    }

    /// Waits until at least `n` samples match `selector`; returns the export.
    pub fn wait_for_samples(
        &self,
        selector: &str,
        n: usize,
        timeout: Duration,
    ) -> Vec<serde_json::Value> {
        let start = Instant::now();
        loop {
            let e = self.export(selector);
            let count: usize = e
                .iter()
                .map(|s| s["values"].as_array().map(|a| a.len()).unwrap_or(0))
                .sum();
            if count >= n || start.elapsed() > timeout {
                return e;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// A real InfluxDB 1.x on free ports (v1 `/write`, `/query`).
pub struct Influx1 {
    pub proc: Proc,
}

impl Influx1 {
    pub fn start() -> Influx1 {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let rpc = free_port();
        let influxd = require_tool("influxd", "influxdb");
        let out = Command::new(&influxd)
            .arg("config")
            .output()
            .expect("influxd config");
        let d = dir.path().display();
        let mut conf = String::new();
        let mut section = String::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let t = line.trim_start();
            if t.starts_with('[') {
                section = t.to_string();
            }
            let key = t.split('=').next().unwrap_or("").trim();
            let replaced = match (section.as_str(), key) {
                ("", "bind-address") => format!("bind-address = \"127.0.0.1:{rpc}\""),
                ("", "reporting-disabled") => "reporting-disabled = true".into(),
                ("[meta]", "dir") => format!("dir = \"{d}/meta\""),
                ("[data]", "dir") => format!("dir = \"{d}/data\""),
                ("[data]", "wal-dir") => format!("wal-dir = \"{d}/wal\""),
                ("[data]", "query-log-enabled") => "query-log-enabled = false".into(),
                ("[http]", "bind-address") => format!("bind-address = \"127.0.0.1:{port}\""),
                ("[http]", "log-enabled") => "log-enabled = false".into(),
                _ => line.to_string(),
            };
            conf.push_str(&replaced);
            conf.push('\n');
        }
        // Services we do not use would open more ports.
        let conf = conf.replace("[[udp]]\n  enabled = true", "[[udp]]\n  enabled = false");
        let path = dir.path().join("influxdb.conf");
        std::fs::write(&path, conf).expect("write influxdb.conf");
        let child = spawn(Command::new(influxd).arg("-config").arg(&path), dir.path());
        let mut proc = Proc { child, dir, port };
        wait_until("influxd", &mut proc, Duration::from_secs(30), |p| {
            http("GET", p, "/ping", b"")
                .map(|(s, _)| s == 204)
                .unwrap_or(false)
        });
        Influx1 { proc }
    }

    pub fn port(&self) -> u16 {
        self.proc.port
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }

    pub fn create_db(&self, db: &str) {
        let body = format!("q={}", enc(&format!("CREATE DATABASE \"{db}\"")));
        let (s, b) = http("POST", self.port(), "/query", body.as_bytes()).expect("create db");
        assert_eq!(s, 200, "{b}");
    }

    /// Runs an InfluxQL query with nanosecond epochs; returns the JSON response.
    pub fn query(&self, db: &str, q: &str) -> serde_json::Value {
        let path = format!("/query?db={}&epoch=ns&q={}", enc(db), enc(q));
        let (s, b) = http("GET", self.port(), &path, b"").expect("query");
        assert_eq!(s, 200, "{b}");
        serde_json::from_str(&b).unwrap_or(serde_json::Value::Null)
    }

    /// The rows of the first series of a query, as (columns, values).
    pub fn rows(&self, db: &str, q: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
        let v = self.query(db, q);
        let mut out = Vec::new();
        for series in v["results"][0]["series"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let cols: Vec<String> = series["columns"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|c| c.as_str().unwrap_or("").to_string())
                        .collect()
                })
                .unwrap_or_default();
            for row in series["values"].as_array().cloned().unwrap_or_default() {
                let mut m = serde_json::Map::new();
                if let Some(tags) = series["tags"].as_object() {
                    for (k, v) in tags {
                        m.insert(k.clone(), v.clone());
                    }
                }
                for (c, v) in cols.iter().zip(row.as_array().cloned().unwrap_or_default()) {
                    m.insert(c.clone(), v);
                }
                out.push(m);
            }
        }
        out
    }

    /// Waits until a query returns at least `n` rows.
    pub fn wait_for_rows(
        &self,
        db: &str,
        q: &str,
        n: usize,
        timeout: Duration,
    ) -> Vec<serde_json::Map<String, serde_json::Value>> {
        let start = Instant::now();
        loop {
            let r = self.rows(db, q);
            if r.len() >= n || start.elapsed() > timeout {
                return r;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
