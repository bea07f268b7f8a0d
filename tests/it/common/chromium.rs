//! Headless Chromium (Debian package `chromium`) for tests of the pages the
//! daemon serves: the DOM after the page's script ran, and a screenshot.
//! Each call gets its own profile directory, so tests run in parallel.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::require_tool;

/// Virtual time the page gets to fetch and render (its timers run on it).
const BUDGET_MS: u32 = 5000;
/// A Chromium that has not finished in this long is stuck: the test fails.
const HANG: Duration = Duration::from_secs(120);

fn run(url: &str, extra: &[String]) -> Output {
    let profile = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(require_tool("chromium", "chromium"));
    cmd.args([
        "--headless",
        "--disable-gpu",
        "--no-sandbox",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .arg(format!("--virtual-time-budget={BUDGET_MS}"))
    .args(extra)
    .arg(url)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start chromium");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait chromium").is_some() {
            return child.wait_with_output().expect("chromium output");
        }
        if start.elapsed() > HANG {
            let _ = child.kill();
            let out = child.wait_with_output().expect("chromium output");
            panic!(
                "chromium did not finish within {HANG:?} on {url}:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The serialized DOM of `url` after its scripts ran for the budget.
pub fn dump_dom(url: &str) -> String {
    let out = run(url, &["--dump-dom".to_string()]);
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && dom.contains("</html>"),
        "chromium --dump-dom {url} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    dom
}

/// A PNG screenshot of `url` at `width`×`height` into `path`.
pub fn screenshot(url: &str, path: &Path, width: u32, height: u32) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("screenshot directory");
    }
    let _ = std::fs::remove_file(path);
    let out = run(
        url,
        &[
            format!("--screenshot={}", path.display()),
            format!("--window-size={width},{height}"),
        ],
    );
    let png = std::fs::read(path).unwrap_or_default();
    assert!(
        out.status.success() && png.starts_with(b"\x89PNG"),
        "chromium --screenshot {url} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Where tests keep what a person looks at afterwards (screenshots).
pub fn artifacts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts")
}
