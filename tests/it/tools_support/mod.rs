//! The commissioning tools as the installer runs them: the greengate
//! binary on a config written by the test, its exit code and output.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// What one run of the binary left.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Asserts a failed run: a non-zero exit and exactly one `error:` line
    /// on stderr containing `want`.
    pub fn assert_one_line_error(&self, want: &str) {
        assert_ne!(self.code, 0, "{self:?}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line expected: {self:?}");
        assert!(lines[0].starts_with("error: "), "{self:?}");
        assert!(lines[0].contains(want), "{want:?} not in {self:?}");
    }
}

/// Runs `greengate ARGS` to its end (blocking).
pub fn greengate(args: &[String]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_greengate"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run greengate");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// [`greengate`] from async code: the device servers of the test keep
/// running on the test's runtime meanwhile.
pub async fn greengate_async(args: &[&str]) -> Out {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || greengate(&args))
        .await
        .expect("greengate run")
}

/// Writes `greengate.toml` in `dir`: the sections every config needs, the
/// shipped profiles plus `dir/profiles`, and `body` (sources).
pub fn write_config(dir: &Path, body: &str) -> PathBuf {
    let profiles = dir.join("profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    let text = format!(
        r#"
[site]
community_id = "cn-tools-0001"

[outbox]
dir = "{dir}/outbox"

[dead_letter]
path = "{dir}/dead-letter.jsonl"

[profiles]
dirs = ["{repo}/config/devices", "{profiles}"]

[sinks.influxdb]
url = "http://127.0.0.1:9"
api = "v1"
database = "community"

{body}
"#,
        dir = dir.display(),
        repo = env!("CARGO_MANIFEST_DIR"),
        profiles = profiles.display(),
    );
    let path = dir.join("greengate.toml");
    std::fs::write(&path, text).unwrap();
    path
}
