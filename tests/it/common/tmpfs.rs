//! A small real filesystem for full-disk tests: a tmpfs mounted by the
//! test (root, as CI and the project's machines run), filled to a chosen
//! free space by a filler file, unmounted on drop. Without root the mount
//! fails and the test with it, loudly.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Tmpfs(pub PathBuf);

impl Tmpfs {
    pub fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs and needs root (CI runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(at.to_path_buf())
    }

    /// Bytes free, as `df` reports them.
    pub fn available(&self) -> u64 {
        let out = Command::new("df")
            .args(["-B1", "--output=avail"])
            .arg(&self.0)
            .output()
            .expect("run df");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .expect("df output")
    }

    /// Leaves about `keep` bytes free: a filler file (written, not sparse:
    /// tmpfs counts the pages that hold data) takes the rest.
    pub fn fill_leaving(&self, keep: u64) {
        let filler = self.available().saturating_sub(keep);
        std::fs::write(self.0.join("filler"), vec![0x5au8; filler as usize]).unwrap();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}
