//! Schedules on Tokio time: a group's next poll keeps its phase and skips
//! missed ticks instead of bursting (tokio's `MissedTickBehavior::Skip`).

use std::time::Duration;

use tokio::time::Instant;

/// Moves `next_due` on by `interval` after a poll at `now`, skipping ticks
/// that were missed.
pub fn advance(next_due: &mut Instant, interval: Duration, now: Instant) {
    *next_due = later(*next_due, interval);
    if *next_due <= now {
        let iv = interval.as_nanos().clamp(1, u64::MAX as u128);
        let rem = (now - *next_due).as_nanos() % iv;
        *next_due = later(now, Duration::from_nanos((iv - rem) as u64));
    }
}

/// `t + d`, saturating at a year ahead instead of overflowing on absurd
/// configured durations (no panics on input).
pub fn later(t: Instant, d: Duration) -> Instant {
    let year = Duration::from_secs(365 * 86400);
    t.checked_add(d.min(year)).unwrap_or(t)
}
