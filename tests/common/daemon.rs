//! The greengate binary as a child process for end-to-end tests: started
//! on a config file, ready once subscribed, stopped with SIGTERM, killed on
//! drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::http;

/// The greengate binary, killed on drop; `stop` sends SIGTERM.
pub struct Daemon {
    pub child: Child,
    pub http_port: u16,
    pub dir: PathBuf,
}

impl Daemon {
    pub fn start(config: &Path, http_port: u16, dir: &Path) -> Daemon {
        let log = std::fs::File::create(dir.join("greengate.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_greengate"))
            .args(["run", "-c"])
            .arg(config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start greengate");
        let mut d = Daemon {
            child,
            http_port,
            dir: dir.to_path_buf(),
        };
        d.wait_ready();
        d
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("greengate.log")).unwrap_or_default()
    }

    pub fn metrics(&self) -> String {
        http("GET", self.http_port, "/metrics", b"")
            .map(|(_, b)| b)
            .unwrap_or_default()
    }

    /// Ready = subscribed to the broker (and everything else ready).
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
            if let Ok(Some(s)) = self.child.try_wait() {
                panic!("greengate exited early ({s}):\n{}", self.log());
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "greengate not ready:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then the exit code.
    pub fn stop(&mut self) -> i32 {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.code().unwrap_or(-1);
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
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
