//! What `greengate check` verifies on the machine, beyond the file's
//! syntax and values: the places the daemon writes to can be written, so a
//! mistake there is found before `run` (and before any input is
//! acknowledged into them). Each problem names its config key.

use std::path::Path;

use super::Config;

/// The problems, as `key: text` lines (empty when everything is writable).
pub fn problems(cfg: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let dead = cfg.dead_letter.path.clone();
    if let Err(e) = writable_file(&dead) {
        out.push(format!(
            "dead_letter.path: {} cannot be opened for writing: {e}",
            dead.display()
        ));
    }
    let outbox = cfg.outbox.dir.clone();
    if let Err(e) = writable_dir(&outbox) {
        out.push(format!(
            "outbox.dir: {} is not a writable directory: {e}",
            outbox.display()
        ));
    }
    out
}

/// Opens (creating the directory and the file if needed) for appending,
/// without writing anything; a file it had to create is removed again.
fn writable_file(p: &Path) -> std::io::Result<()> {
    if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let existed = p.exists();
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)?;
    if !existed {
        let _ = std::fs::remove_file(p);
    }
    Ok(())
}

/// Creates the directory if needed and a probe file in it.
fn writable_dir(p: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(p)?;
    let probe = p.join(".greengate-check");
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_unwritable_dead_letter_path_is_named() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be: cannot be opened as one.
        let bad = dir.path().join("dl.jsonl");
        std::fs::create_dir(&bad).unwrap();
        assert!(super::writable_file(&bad).is_err());
        assert!(super::writable_file(&dir.path().join("ok/dl.jsonl")).is_ok());
        assert!(
            !dir.path().join("ok/dl.jsonl").exists(),
            "nothing left behind"
        );
        assert!(super::writable_dir(&dir.path().join("ob")).is_ok());
        let file = dir.path().join("plain");
        std::fs::write(&file, b"").unwrap();
        assert!(
            super::writable_dir(&file.join("x")).is_err(),
            "a file on the path"
        );
    }
}
