//! socat for the RTU tests: a pseudo-terminal pair (a serial line with
//! both ends on this machine) and a TCP-to-serial bridge (a serial device
//! server).

use std::path::{Path, PathBuf};
use std::time::Duration;

/// A socat process, killed on drop.
pub struct Socat(std::process::Child);

impl Drop for Socat {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `socat -d -d <a> <b>`; panics (naming the package) when socat
/// is not installed.
pub fn socat(a: &str, b: &str, wait_for: &[&Path]) -> Socat {
    let child = std::process::Command::new(super::require_tool("socat", "socat"))
        .args(["-d", "-d", a, b])
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(Socat)
        .unwrap_or_else(|e| panic!("cannot start socat: {e}"));
    for _ in 0..500 {
        if wait_for.iter().all(|p| p.exists()) {
            return child;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("socat did not create {wait_for:?}");
}

/// A pty pair in `dir`: (`dir/a`, `dir/b`).
pub fn pty_pair(dir: &Path) -> (Socat, PathBuf, PathBuf) {
    let (a, b) = (dir.join("a"), dir.join("b"));
    let s = socat(
        &format!("pty,raw,echo=0,link={}", a.display()),
        &format!("pty,raw,echo=0,link={}", b.display()),
        &[&a, &b],
    );
    (s, a, b)
}
