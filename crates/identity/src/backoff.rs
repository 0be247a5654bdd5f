//! How long to wait before retrying a retryable failure: exponential back-off with jitter,
//! capped, unless the server said how long (`Retry-After`).

use rand::Rng;
use smartcore_domain::Backoff;
use std::time::Duration;

/// Delay ceiling of the first retry (attempt 0).
pub const RETRY_BASE_DELAY: Duration = Duration::from_secs(1);
/// No computed delay exceeds this.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(5 * 60);
/// A server's `Retry-After` is honoured up to this (guards against absurd values).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60 * 60);

/// The delay before retry number `attempt` (0 for the first retry).
///
/// With `retry_after` (the server's `Retry-After`), that value wins, bounded by
/// [`MAX_RETRY_AFTER`]. Otherwise "equal jitter": the ceiling is `1 s × 2^attempt` capped at
/// [`MAX_RETRY_DELAY`], and the delay is drawn uniformly between half the ceiling and the
/// ceiling, so delays grow with the attempt while concurrent retriers spread out.
pub fn retry_delay(attempt: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(after) = retry_after {
        return after.min(MAX_RETRY_AFTER);
    }
    Backoff::new(RETRY_BASE_DELAY, MAX_RETRY_DELAY)
        .jittered(attempt, rand::rng().random_range(0.0..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_retry_is_between_half_a_second_and_a_second() {
        for _ in 0..100 {
            let d = retry_delay(0, None);
            assert!(
                d >= Duration::from_millis(500) && d <= Duration::from_secs(1),
                "{d:?}"
            );
        }
    }

    #[test]
    fn huge_attempts_do_not_overflow() {
        assert!(retry_delay(u32::MAX, None) <= MAX_RETRY_DELAY);
    }
}
