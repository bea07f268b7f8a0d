//! The greengate binary as a child process for end-to-end tests: started
//! on a config file, ready once subscribed, stopped with SIGTERM or SIGKILL,
//! killed on drop. Shared by the end-to-end, reload and fault tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::http;

/// The greengate binary, killed (SIGKILL) on drop.
pub struct Daemon {
    pub child: Child,
    pub http_port: u16,
    pub dir: PathBuf,
    run: usize,
}

impl Daemon {
    /// Starts greengate and waits until it is subscribed. Each start logs to
    /// its own file (`greengate-<n>.log`) so a restart keeps the first log.
    pub fn start(config: &Path, http_port: u16, dir: &Path) -> Daemon {
        Self::start_run(config, http_port, dir, 0)
    }

    pub fn start_run(config: &Path, http_port: u16, dir: &Path, run: usize) -> Daemon {
        let mut d = Self::spawn(config, http_port, dir, run, &[], None);
        d.wait_ready();
        d
    }

    /// Starts greengate without waiting for it, with extra environment
    /// variables and, with `nofile`, under that RLIMIT_NOFILE (through
    /// util-linux `prlimit`, which execs greengate: the pid stays the same).
    pub fn spawn(
        config: &Path,
        http_port: u16,
        dir: &Path,
        run: usize,
        env: &[(&str, &str)],
        nofile: Option<u64>,
    ) -> Daemon {
        let log = std::fs::File::create(dir.join(format!("greengate-{run}.log"))).unwrap();
        let bin = env!("CARGO_BIN_EXE_greengate");
        let mut cmd = match nofile {
            Some(n) => {
                let mut c = Command::new(super::require_tool("prlimit", "util-linux"));
                c.arg(format!("--nofile={n}:{n}")).arg("--").arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let child = cmd
            .args(["run", "-c"])
            .arg(config)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start greengate");
        Daemon {
            child,
            http_port,
            dir: dir.to_path_buf(),
            run,
        }
    }

    pub fn log(&self) -> String {
        let mut s = String::new();
        for r in 0..=self.run {
            let t = std::fs::read_to_string(self.dir.join(format!("greengate-{r}.log")))
                .unwrap_or_default();
            let tail: Vec<&str> = t.lines().rev().take(40).collect();
            s.push_str(&format!("--- greengate run {r} (last lines) ---\n"));
            for l in tail.into_iter().rev() {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }

    pub fn metrics(&self) -> String {
        http("GET", self.http_port, "/metrics", b"")
            .map(|(_, b)| b)
            .unwrap_or_default()
    }

    /// The sum of a metric over all its label sets (`greengate_` is added).
    pub fn metric(&self, name: &str) -> f64 {
        metric_sum(&self.metrics(), name)
    }

    pub fn wait_ready(&mut self) {
        let start = Instant::now();
        loop {
            if let Some((200, _)) = http("GET", self.http_port, "/readyz", b"") {
                if self
                    .metrics()
                    .contains("greengate_component_ready{component=\"mqtt:")
                {
                    return;
                }
            }
            self.assert_running();
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "greengate not ready:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Panics (with the log) if the process has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(s)) = self.child.try_wait() {
            panic!("greengate exited ({s}):\n{}", self.log());
        }
    }

    /// SIGKILL: no chance to flush or acknowledge anything.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then the exit code.
    pub fn stop(&mut self) -> i32 {
        signal("TERM", self.child.id());
        let start = Instant::now();
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.code().unwrap_or(-1);
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "greengate did not stop:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends a signal (`STOP`, `CONT`, `TERM`) to a process.
pub fn signal(sig: &str, pid: u32) {
    let _ = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status();
}

/// The sum of `greengate_<name>` over its label sets in Prometheus text.
pub fn metric_sum(text: &str, name: &str) -> f64 {
    let full = format!("greengate_{name}");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(&full)
                .map(|rest| rest.starts_with('{') || rest.starts_with(' '))
                .unwrap_or(false)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
