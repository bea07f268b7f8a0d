//! At most one log line per interval for an event that can repeat without
//! bound (an accept loop out of file descriptors, a flood of refused
//! connections), with the number of occurrences left out since the last
//! line. The event's counter still counts every occurrence.
//!
//! Pure: the caller passes the time, so tests give exact instants.
//!
//! ```
//! # use std::time::{Duration, Instant};
//! # use greengate::log_limit::LogLimit;
//! let mut limit = LogLimit::new(Duration::from_secs(10));
//! if let Some(suppressed) = limit.hit(Instant::now()) {
//!     tracing::warn!(suppressed, "HTTP accept failed.");
//! }
//! ```

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct LogLimit {
    every: Duration,
    next: Option<Instant>,
    suppressed: u64,
}

impl LogLimit {
    pub fn new(every: Duration) -> LogLimit {
        LogLimit {
            every,
            next: None,
            suppressed: 0,
        }
    }

    /// One occurrence at `now`: `Some(suppressed)` when a line is due (with
    /// the occurrences not logged since the previous line), else `None`.
    pub fn hit(&mut self, now: Instant) -> Option<u64> {
        match self.next {
            Some(next) if now < next => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.next = Some(now + self.every);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_count_left_out() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut l = LogLimit::new(Duration::from_secs(10));
        assert_eq!(l.hit(t0), Some(0));
        for i in 1..=1000u32 {
            assert_eq!(l.hit(t0 + s * i / 200), None);
        }
        assert_eq!(l.hit(t0 + s * 10), Some(1000));
        assert_eq!(l.hit(t0 + s * 11), None);
        assert_eq!(l.hit(t0 + s * 60), Some(1));
    }

    #[test]
    fn a_million_hits_in_a_burst_make_one_line() {
        let t0 = Instant::now();
        let mut l = LogLimit::new(Duration::from_secs(10));
        let lines = (0..1_000_000).filter(|_| l.hit(t0).is_some()).count();
        assert_eq!(lines, 1);
    }
}
