//! One exponential back-off for every retry: identity-side calls, certificate reminders,
//! metadata refreshes and domain re-checks.

use std::time::Duration;

/// Waits that double from `first` with each failure, never longer than `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Backoff {
    pub const fn new(first: Duration, max: Duration) -> Self {
        Backoff { first, max }
    }

    /// The wait after `doublings` doublings: `first × 2^doublings`, at most `max`.
    pub fn delay(&self, doublings: u32) -> Duration {
        self.first
            .checked_mul(2u32.saturating_pow(doublings.min(31)))
            .unwrap_or(self.max)
            .min(self.max)
    }

    /// The wait before retry number `n` after `n` failures in a row (1 for the first
    /// failure): `first` after the first, doubling after each further one.
    pub fn after_failures(&self, n: u64) -> Duration {
        self.delay(u32::try_from(n.saturating_sub(1)).unwrap_or(u32::MAX))
    }

    /// "Equal jitter": a wait between half of [`delay`](Backoff::delay) and all of it, placed
    /// by `unit` (a uniform draw in `0.0..=1.0` the caller makes), so that concurrent
    /// retriers spread out while waits still grow.
    pub fn jittered(&self, doublings: u32, unit: f64) -> Duration {
        let ceiling = self.delay(doublings);
        let half = ceiling / 2;
        half + (ceiling - half).mul_f64(unit.clamp(0.0, 1.0))
    }

    /// The wait in milliseconds, for adding to a [`Timestamp`](crate::Timestamp).
    pub fn millis(d: Duration) -> i64 {
        i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Backoff = Backoff::new(Duration::from_secs(60), Duration::from_secs(3600));

    #[test]
    fn waits_double_up_to_the_ceiling() {
        assert_eq!(B.delay(0), Duration::from_secs(60));
        assert_eq!(B.delay(1), Duration::from_secs(120));
        assert_eq!(B.delay(5), Duration::from_secs(1920));
        assert_eq!(B.delay(6), Duration::from_secs(3600));
        assert_eq!(B.delay(u32::MAX), Duration::from_secs(3600));
    }

    #[test]
    fn counted_in_failures_the_first_waits_first() {
        assert_eq!(B.after_failures(0), Duration::from_secs(60));
        assert_eq!(B.after_failures(1), Duration::from_secs(60));
        assert_eq!(B.after_failures(2), Duration::from_secs(120));
        assert_eq!(B.after_failures(u64::MAX), Duration::from_secs(3600));
    }

    #[test]
    fn jitter_stays_between_half_and_all_of_the_wait() {
        assert_eq!(B.jittered(1, 0.0), Duration::from_secs(60));
        assert_eq!(B.jittered(1, 1.0), Duration::from_secs(120));
        assert_eq!(B.jittered(1, 0.5), Duration::from_secs(90));
        assert_eq!(B.jittered(1, 7.0), Duration::from_secs(120));
    }
}
