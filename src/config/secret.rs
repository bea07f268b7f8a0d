//! Secrets (InfluxDB token, MQTT password): from the config value, an
//! environment override (`GREENGATE__SINKS__INFLUXDB__TOKEN`), or a file
//! (`token_file`), never printed by `Debug` or `Display`.

use super::{join, Check};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The most a secret file (`token_file`, `password_file`) may hold.
pub(super) const SECRET_FILE_CAP: u64 = 64 * 1024;

/// Reads a small regular file whole: a FIFO, a device, a directory or a file
/// over `cap` bytes is an error, not a hang or an out-of-memory. It is
/// opened with `O_NONBLOCK` (a FIFO without a writer would block the open
/// itself; the flag does nothing for a regular file), checked with `fstat`
/// on the open descriptor, and read through a `cap + 1` window.
pub fn read_small_file(p: &Path, cap: u64) -> Result<Vec<u8>, String> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK);
    }
    let cannot = |e: std::io::Error| format!("cannot read {}: {e}", p.display());
    let f = opts.open(p).map_err(cannot)?;
    let meta = f.metadata().map_err(cannot)?;
    if !meta.is_file() {
        return Err(format!(
            "cannot read {}: not a regular file ({})",
            p.display(),
            file_kind(&meta)
        ));
    }
    let too_big = || format!("cannot read {}: larger than {cap} bytes", p.display());
    if meta.len() > cap {
        return Err(too_big());
    }
    let mut buf = Vec::new();
    f.take(cap + 1).read_to_end(&mut buf).map_err(cannot)?;
    if buf.len() as u64 > cap {
        return Err(too_big());
    }
    Ok(buf)
}

fn file_kind(m: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = m.file_type();
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if m.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

/// A secret string whose `Debug` and `Display` print a redaction.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself: call only where it goes on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// A secret given either inline (`key`) or by file (`key_file`).
pub struct SecretSource<'a> {
    pub key: &'a str,
    pub value: &'a Option<Secret>,
    pub file: &'a Option<PathBuf>,
}

impl SecretSource<'_> {
    /// Resolves the secret; a file's trailing newline is trimmed. Records a
    /// problem when both or an unreadable file are given.
    pub fn resolve(&self, path: &str, cx: &mut Check) -> Option<Secret> {
        match (self.value, self.file) {
            (Some(_), Some(_)) => {
                cx.problem(
                    join(path, self.key),
                    format!("give either {} or {}_file, not both", self.key, self.key),
                );
                None
            }
            (Some(v), None) => Some(v.clone()),
            (None, Some(f)) => {
                let full = cx.resolve(f);
                let text = read_small_file(&full, SECRET_FILE_CAP).and_then(|b| {
                    String::from_utf8(b)
                        .map_err(|_| format!("cannot read {}: not UTF-8 text", full.display()))
                });
                match text {
                    Ok(s) => Some(Secret(s.trim_end_matches(['\n', '\r']).to_string())),
                    Err(e) => {
                        cx.problem(join(path, &format!("{}_file", self.key)), e);
                        None
                    }
                }
            }
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve_file(p: &Path) -> Result<Secret, String> {
        let mut cx = Check::new("/");
        let file = Some(p.to_path_buf());
        let s = SecretSource {
            key: "token",
            value: &None,
            file: &file,
        }
        .resolve("sinks.influxdb", &mut cx);
        match cx.problems().first() {
            Some(p) => Err(p.to_string()),
            None => Ok(s.expect("a secret")),
        }
    }

    #[test]
    fn secret_files_are_read_only_when_small_and_regular() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("token");
        std::fs::write(&ok, "s3cret\n").unwrap();
        assert_eq!(resolve_file(&ok).unwrap().expose(), "s3cret");

        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; SECRET_FILE_CAP as usize + 1]).unwrap();
        let e = resolve_file(&big).unwrap_err();
        assert!(
            e.starts_with("sinks.influxdb.token_file: cannot read"),
            "{e}"
        );
        assert!(e.ends_with("larger than 65536 bytes"), "{e}");

        // /dev/zero would be read until memory runs out; it is a device.
        let e = resolve_file(Path::new("/dev/zero")).unwrap_err();
        assert!(e.ends_with("not a regular file (a device)"), "{e}");
        assert!(resolve_file(dir.path())
            .unwrap_err()
            .contains("a directory"));
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_as_secret_file_is_refused_without_hanging() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(status.success());
        // No writer: a blocking open would never return.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(resolve_file(&fifo));
        });
        let r = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("reading a FIFO must not hang");
        assert!(r.unwrap_err().ends_with("not a regular file (a FIFO)"));
    }

    #[test]
    fn secrets_never_show_in_debug_or_display() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?} {s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }
}
