//! The writer's file layer: every write and fsync of segment data goes
//! through a [`FileLayer`], so that tests can inject `ENOSPC`, `EIO` or a
//! failing `fsync` at an exact point (the seam Vector's disk buffer has),
//! and the free-space probe that keeps the outbox out of the last few
//! percent of its filesystem.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

/// Writes and syncs of segment files. The default methods are the real
/// operations; a test implements the trait to fail some of them.
pub trait FileLayer: Send + Sync {
    /// One `write(2)` of segment data.
    fn write(&self, file: &mut File, buf: &[u8]) -> io::Result<usize> {
        file.write(buf)
    }
    /// `fdatasync(2)` of a segment.
    fn sync_data(&self, file: &File) -> io::Result<()> {
        file.sync_data()
    }
}

/// The real file system.
pub struct RealFiles;
impl FileLayer for RealFiles {}

/// A segment file seen through a [`FileLayer`] (what the `BufWriter` wraps).
pub(super) struct SegFile {
    pub file: File,
    pub layer: Arc<dyn FileLayer>,
}

impl Write for SegFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.layer.write(&mut self.file, buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl SegFile {
    pub(super) fn sync_data(&self) -> io::Result<()> {
        self.layer.sync_data(&self.file)
    }
}

/// Bytes available to an unprivileged writer and the filesystem's size.
/// The crate's one `unsafe` (the crate denies it elsewhere): libc has no
/// safe statvfs.
#[allow(unsafe_code)]
pub(super) fn space(dir: &Path) -> io::Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized,
    // zero-initialised out-parameter that statvfs fills on success.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let frsize = st.f_frsize as u64;
    Ok((st.f_bavail as u64 * frsize, st.f_blocks as u64 * frsize))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_space_of_a_real_directory_is_plausible() {
        let dir = tempfile::tempdir().unwrap();
        let (avail, total) = super::space(dir.path()).unwrap();
        assert!(total > 0 && avail <= total, "{avail} of {total}");
        assert!(super::space("/no/such/dir".as_ref()).is_err());
    }
}

#[cfg(test)]
mod reserve_tests {
    use crate::outbox::writer::{reserve, MAX_RESERVE};

    #[test]
    fn the_reserve_is_a_percentage_capped_for_large_shared_disks() {
        assert_eq!(reserve(12 << 20, 5), (12 << 20) / 100 * 5);
        assert_eq!(
            reserve(252 << 30, 5),
            MAX_RESERVE,
            "not 12.6 GB of a 252 GB disk"
        );
        assert_eq!(reserve(252 << 30, 0), 0);
    }
}
