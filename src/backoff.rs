//! A capped, jittered exponential backoff, shared by every connection loop
//! (MQTT reconnect, InfluxDB retries, Modbus reconnects).
//!
//! Invariant: `next()` never returns more than `max` (plus nothing: jitter is
//! taken off, not added), and `reset()` returns to `min` after a success.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    /// Fraction of the delay that is randomised away, 0.0..=1.0.
    jitter: f64,
    current: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        let max = max.max(min);
        Backoff {
            min,
            max,
            jitter: 0.5,
            current: min,
        }
    }

    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter.clamp(0.0, 1.0);
        self
    }

    /// The delay to wait now; doubles the next one up to `max`.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.current;
        self.current = (self.current * 2).min(self.max);
        let cut = base.mul_f64(self.jitter * fastrand::f64());
        base.saturating_sub(cut).max(self.min.min(base))
    }

    /// The delay to wait, at least `floor` (for a server's Retry-After), capped at `max`.
    pub fn next_delay_at_least(&mut self, floor: Duration) -> Duration {
        self.next_delay().max(floor.min(self.max))
    }

    pub fn reset(&mut self) {
        self.current = self.min;
    }

    pub fn max(&self) -> Duration {
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_never_exceeds_its_ceiling() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let mut last_cap = Duration::ZERO;
        for _ in 0..50 {
            let d = b.next_delay();
            assert!(d <= Duration::from_secs(2), "{d:?}");
            assert!(d >= Duration::from_millis(50), "{d:?}");
            last_cap = last_cap.max(d);
        }
        assert!(last_cap > Duration::from_millis(900));
    }

    #[test]
    fn backoff_resets_after_success() {
        let mut b =
            Backoff::new(Duration::from_millis(100), Duration::from_secs(10)).with_jitter(0.0);
        for _ in 0..10 {
            b.next_delay();
        }
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(100));
        assert_eq!(b.next_delay(), Duration::from_millis(200));
    }

    #[test]
    fn retry_after_is_honoured_but_capped() {
        let mut b =
            Backoff::new(Duration::from_millis(100), Duration::from_secs(5)).with_jitter(0.0);
        assert_eq!(
            b.next_delay_at_least(Duration::from_secs(3)),
            Duration::from_secs(3)
        );
        assert_eq!(
            b.next_delay_at_least(Duration::from_secs(60)),
            Duration::from_secs(5)
        );
    }
}
