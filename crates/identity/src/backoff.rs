//! How long to wait before retrying a retryable failure: exponential back-off with jitter,
//! capped, unless the server said how long (`Retry-After`).

use rand::Rng;
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
    let ceiling = RETRY_BASE_DELAY
        .checked_mul(2u32.saturating_pow(attempt.min(30)))
        .unwrap_or(MAX_RETRY_DELAY)
        .min(MAX_RETRY_DELAY);
    let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    let half = ceiling_ms / 2;
    Duration::from_millis(rand::rng().random_range(half..=ceiling_ms))
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
