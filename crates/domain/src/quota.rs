//! One sliding-window limit for everything counted over time: setup-link sends, test alerts,
//! invitation mails and resends. The uses are stored as rows (their times); the rule of what
//! fits and when a place frees up lives here, once.

use crate::Timestamp;

/// At most `limit` uses within any `window_ms` milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub window_ms: i64,
}

impl Quota {
    pub const fn new(limit: u32, window_ms: i64) -> Self {
        Quota { limit, window_ms }
    }

    /// `limit` uses an hour.
    pub const fn per_hour(limit: u32) -> Self {
        Quota::new(limit, 3_600_000)
    }

    /// `limit` uses a minute.
    pub const fn per_minute(limit: u32) -> Self {
        Quota::new(limit, 60_000)
    }

    /// `limit` uses a day.
    pub const fn per_day(limit: u32) -> Self {
        Quota::new(limit, 86_400_000)
    }

    /// Uses at or before this time no longer count at `now` (and may be forgotten).
    pub fn window_start(&self, now: Timestamp) -> Timestamp {
        now.plus_millis(-self.window_ms)
    }

    /// Whether `wanted` more uses fit at `now` beside `used`: the times of the uses still
    /// in the window, oldest first. When they do not, the time at which they would: once
    /// enough of the oldest uses have left the window.
    pub fn admit(&self, used: &[Timestamp], wanted: u32, now: Timestamp) -> Result<(), Timestamp> {
        let start = self.window_start(now);
        let counted: Vec<Timestamp> = used.iter().copied().filter(|at| *at > start).collect();
        let total = counted.len() as u64 + u64::from(wanted);
        if total <= u64::from(self.limit) {
            return Ok(());
        }
        if u64::from(wanted) > u64::from(self.limit) {
            // Never fits; say "a whole window from now" rather than never.
            return Err(now.plus_millis(self.window_ms));
        }
        let must_leave = (total - u64::from(self.limit)) as usize;
        let leaves = counted[must_leave - 1];
        Err(leaves.plus_millis(self.window_ms))
    }

    /// [`Quota::admit`] of one more use, from a count instead of the times: `recent` uses in
    /// the window, the oldest at `oldest` (for counters read as one aggregate).
    pub fn admit_one(
        &self,
        recent: u32,
        oldest: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(), Timestamp> {
        if recent < self.limit {
            return Ok(());
        }
        Err(oldest.unwrap_or(now).plus_millis(self.window_ms))
    }
}

/// Whole seconds from `now` until `at`, at least one (for `Retry-After`).
pub fn seconds_until(at: Timestamp, now: Timestamp) -> u64 {
    ((at.unix_millis() - now.unix_millis()).max(1000) as u64).div_ceil(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_more_use_from_a_count_frees_when_the_oldest_leaves() {
        let q = Quota::per_hour(3);
        assert_eq!(q.admit_one(2, Some(t(10)), t(100)), Ok(()));
        assert_eq!(q.admit_one(3, Some(t(10)), t(100)), Err(t(10 + 3_600_000)));
        // Counted the same as from the times.
        assert_eq!(
            q.admit(&[t(10), t(20), t(30)], 1, t(100)),
            q.admit_one(3, Some(t(10)), t(100))
        );
    }

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_unix_millis(ms)
    }

    #[test]
    fn uses_below_the_limit_fit() {
        let q = Quota::new(3, 1_000);
        assert_eq!(q.admit(&[], 1, t(10_000)), Ok(()));
        assert_eq!(q.admit(&[t(9_500), t(9_600)], 1, t(10_000)), Ok(()));
        assert_eq!(q.admit(&[t(9_500)], 2, t(10_000)), Ok(()));
    }

    #[test]
    fn a_full_window_frees_up_when_its_oldest_use_leaves() {
        let q = Quota::new(3, 1_000);
        let used = [t(9_100), t(9_500), t(9_900)];
        assert_eq!(q.admit(&used, 1, t(10_000)), Err(t(10_100)));
        // Two wanted: the two oldest must leave.
        let q = Quota::new(4, 1_000);
        assert_eq!(q.admit(&used, 3, t(10_000)), Err(t(10_500)));
    }

    #[test]
    fn uses_at_or_before_the_window_start_do_not_count() {
        let q = Quota::new(2, 1_000);
        assert_eq!(
            q.admit(&[t(9_000), t(8_000), t(9_999)], 1, t(10_000)),
            Ok(())
        );
        assert_eq!(q.window_start(t(10_000)), t(9_000));
    }

    #[test]
    fn more_than_the_limit_at_once_never_fits() {
        let q = Quota::new(5, 3_600_000);
        assert_eq!(q.admit(&[], 6, t(0)), Err(t(3_600_000)));
    }

    #[test]
    fn seconds_round_up_and_are_at_least_one() {
        assert_eq!(seconds_until(t(1_001), t(0)), 2);
        assert_eq!(seconds_until(t(0), t(5_000)), 1);
        assert_eq!(seconds_until(t(60_000), t(0)), 60);
    }
}
