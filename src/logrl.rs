//! Rate-limited logging: an error that repeats for every message (a full
//! disk, a refused connection) is logged once per interval with the count
//! of those suppressed in between, never once per message.

use std::time::{Duration, Instant};

/// Decides whether the next occurrence of one kind of event is logged.
#[derive(Debug)]
pub struct RateLimited {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimited {
    pub fn new(every: Duration) -> Self {
        RateLimited {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(n)`: log now, `n` occurrences were suppressed since the last
    /// line; `None`: count it and stay quiet.
    pub fn allow(&mut self) -> Option<u64> {
        let now = Instant::now();
        match self.last {
            Some(t) if now.duration_since(t) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_within_the_interval_are_counted_not_logged() {
        let mut r = RateLimited::new(Duration::from_secs(3600));
        assert_eq!(r.allow(), Some(0));
        assert_eq!(r.allow(), None);
        assert_eq!(r.allow(), None);
        let mut r0 = RateLimited::new(Duration::ZERO);
        assert_eq!(r0.allow(), Some(0));
        assert_eq!(r0.allow(), Some(0));
        r.last = Some(Instant::now() - Duration::from_secs(7200));
        assert_eq!(r.allow(), Some(2));
    }
}
