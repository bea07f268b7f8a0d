//! glibc malloc settings for a small edge box, applied once at start.
//!
//! Why: glibc gives a thread that meets contention on the main arena an
//! arena of its own (up to 8 per core), and each arena keeps what was freed
//! in it. The daemon's tokio workers and the blocking threads its outbox
//! commits on each end up with one: on the issue-15 burst (600,000 messages
//! over 1,000 sensors) those arenas were 4–7 MB of the peak RSS. Two arenas
//! are enough for two busy threads of a 2-core box. glibc also raises its
//! mmap threshold (up to 32 MiB) each time a large block is freed, so the
//! sinks' ~1 MiB batch buffers soon come from the heap, where freeing them
//! rarely shrinks it; fixed mmap and trim thresholds keep large buffers in
//! mappings of their own that are returned on free.
//!
//! The environment wins: with `MALLOC_ARENA_MAX` or `GLIBC_TUNABLES` set,
//! nothing is changed here (an operator's own tuning, or a measurement of
//! glibc's defaults: `GLIBC_TUNABLES=glibc.malloc.arena_max=8`).

/// Arenas at most (glibc's default is 8 per core).
pub const ARENA_MAX: i32 = 2;
/// Blocks of at least this size get a mapping of their own (glibc starts at
/// 128 KiB but raises it dynamically; fixed here).
pub const MMAP_THRESHOLD: i32 = 128 * 1024;
/// Free memory at the top of the heap above this is returned to the system.
pub const TRIM_THRESHOLD: i32 = 128 * 1024;

/// What [`tune`] did, for the start-up log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tuning {
    /// The settings above are in force.
    Applied,
    /// `MALLOC_ARENA_MAX` or `GLIBC_TUNABLES` is set: glibc's own reading of
    /// the environment is left alone.
    FromEnvironment,
    /// Not glibc (musl, another OS) or glibc refused a setting.
    Unavailable,
}

/// Applies the settings unless the environment has its own. Call it before
/// any thread starts (arenas are created as threads first allocate).
pub fn tune() -> Tuning {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some()
        || std::env::var_os("GLIBC_TUNABLES").is_some()
    {
        return Tuning::FromEnvironment;
    }
    apply()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn apply() -> Tuning {
    let settings = [
        (libc::M_ARENA_MAX, ARENA_MAX),
        (libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD),
        (libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD),
    ];
    let mut ok = true;
    for (param, value) in settings {
        // SAFETY: mallopt takes two plain integers, touches only malloc's own
        // state under its own lock, and returns 0 on an invalid setting.
        ok &= unsafe { libc::mallopt(param, value) } == 1;
    }
    if ok {
        Tuning::Applied
    } else {
        Tuning::Unavailable
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn apply() -> Tuning {
    Tuning::Unavailable
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_accepts_the_settings() {
        // The test harness may already run threads; mallopt still applies
        // to arenas created from now on, and its return says whether glibc
        // took each value.
        if std::env::var_os("MALLOC_ARENA_MAX").is_none()
            && std::env::var_os("GLIBC_TUNABLES").is_none()
        {
            let t = tune();
            if cfg!(all(target_os = "linux", target_env = "gnu")) {
                assert_eq!(t, Tuning::Applied);
            } else {
                assert_eq!(t, Tuning::Unavailable);
            }
        }
    }
}
