//! The one policy for a tool a test needs: find it or fail loudly, naming
//! the tool and the Debian package that provides it. A test never returns
//! early and passes when its tool is missing; `scripts/test.sh` installs
//! every package named here.

use std::path::{Path, PathBuf};

/// Finds `name` on PATH or in the sbin directories Debian uses; panics
/// naming the Debian `package` when it is not installed.
pub fn require_tool(name: &str, package: &str) -> PathBuf {
    let path = std::env::var("PATH").unwrap_or_default();
    for dir in path
        .split(':')
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/usr/local/bin"])
    {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "{name} is not installed (Debian package {package}): run scripts/test.sh, \
         which installs every tool the tests need"
    );
}

/// Headless Chromium, for the tests of the status page.
pub fn chromium() -> PathBuf {
    require_tool("chromium", "chromium")
}
