//! Window arithmetic: pure functions of timestamps (ns since the epoch, UTC)
//! and the site's fixed UTC offset. Windows are tumbling, aligned to local
//! wall-clock boundaries, half-open `[start, end)`.

pub const SECOND: i64 = 1_000_000_000;
pub const MINUTE: i64 = 60 * SECOND;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;

/// Start of the window of length `len` containing `t`, where windows are
/// aligned to local midnight shifted by `phase` (ns after midnight).
pub fn floor(t: i64, len: i64, offset: i64, phase: i64) -> i64 {
    let local = t.saturating_add(offset) - phase;
    local.div_euclid(len) * len - offset + phase
}

/// Minute of the local day (0..1440) at `t`.
pub fn minute_of_day(t: i64, offset: i64) -> u32 {
    (t.saturating_add(offset).rem_euclid(DAY) / MINUTE) as u32
}

/// Whether local minute `m` lies in `[start, end)`, a range that may cross
/// midnight (start > end).
pub fn in_range(m: u32, start: u32, end: u32) -> bool {
    if start <= end {
        m >= start && m < end
    } else {
        m >= start || m < end
    }
}

/// Minutes of `[start, end)` (local minutes, may wrap) that fall inside the
/// window `[ws, ws + len)`.
pub fn overlap_minutes(ws: i64, len: i64, offset: i64, start: u32, end: u32) -> u32 {
    let first = minute_of_day(ws, offset);
    let n = (len / MINUTE) as u32;
    (0..n)
        .filter(|i| in_range((first + i) % 1440, start, end))
        .count() as u32
}

/// The local calendar date of `t` as "YYYY-MM-DD".
pub fn local_date(t: i64, offset: i64) -> String {
    let days = t.saturating_add(offset).div_euclid(DAY);
    let d = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|e| e.checked_add_signed(chrono::TimeDelta::days(days)));
    d.map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// Splits the span `[from, to)` over windows of `len` (aligned as in
/// [`floor`]), calling `f(window_start, ns_inside)`. At most `max` windows
/// (the latest ones) are visited; earlier time is folded into the first.
pub fn split(
    from: i64,
    to: i64,
    len: i64,
    offset: i64,
    phase: i64,
    max: i64,
    mut f: impl FnMut(i64, i64),
) {
    if to <= from {
        return;
    }
    let last = floor(to - 1, len, offset, phase);
    let first = floor(from, len, offset, phase).max(last - (max - 1) * len);
    let mut ws = first;
    while ws <= last {
        let s = if ws == first { from } else { ws };
        let e = (ws + len).min(to);
        f(ws, e - s);
        ws += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const CST: i64 = 8 * HOUR;

    #[test]
    fn local_day_starts_at_local_midnight() {
        // 2026-01-01T16:00:00Z is 2026-01-02 00:00 in +08:00.
        let t = 1_767_283_200 * SECOND;
        assert_eq!(floor(t + 5 * MINUTE, DAY, CST, 0), t);
        assert_eq!(local_date(t, CST), "2026-01-02");
        assert_eq!(floor(t - 1, DAY, CST, 0), t - DAY);
    }

    #[test]
    fn noise_day_is_phase_shifted_to_six() {
        let midnight = 1_767_283_200 * SECOND;
        let six = midnight + 6 * HOUR;
        assert_eq!(floor(six + HOUR, DAY, CST, 6 * HOUR), six);
        assert_eq!(floor(six - 1, DAY, CST, 6 * HOUR), six - DAY);
    }

    #[test]
    fn ranges_cross_midnight() {
        assert!(in_range(23 * 60, 22 * 60, 6 * 60));
        assert!(in_range(0, 22 * 60, 6 * 60));
        assert!(!in_range(6 * 60, 22 * 60, 6 * 60));
        assert!(in_range(12 * 60, 6 * 60, 22 * 60));
    }

    #[test]
    fn split_spreads_a_span_over_windows() {
        let mut parts = Vec::new();
        split(30 * MINUTE, 150 * MINUTE, HOUR, 0, 0, 48, |w, d| {
            parts.push((w, d))
        });
        assert_eq!(
            parts,
            vec![(0, 30 * MINUTE), (HOUR, HOUR), (2 * HOUR, 30 * MINUTE)]
        );
        let total: i64 = parts.iter().map(|p| p.1).sum();
        assert_eq!(total, 120 * MINUTE);
    }
}
