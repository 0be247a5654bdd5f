//! The certificate-expiry reminder schedule (SPEC.md D6).
//!
//! Thresholds, in time order, with the exact moment each one begins (`not_after` is the
//! certificate's notAfter; a day is exactly 24 hours, so no time zone or calendar is involved):
//!
//! | threshold | key | begins at |
//! |---|---|---|
//! | `Before(60)`, `Before(30)`, `Before(14)`, `Before(7)`, `Before(3)`, `Before(1)` | `d60` ... `d1` | `not_after − N × 24 h` |
//! | `ExpiryDay` ("on the day it expires") | `d0` | `not_after` itself: the certificate has just expired |
//! | `WeeklyAfter(k)`, k = 1, 2, ... | `w1`, `w2`, ... | `not_after + k × 7 × 24 h` |
//!
//! A threshold is *current* from its moment until the next one begins. [`current_threshold`]
//! gives the current one (the latest whose moment is `<= now`), so a certificate first seen
//! inside a window only ever yields the nearest threshold, never the older ones it missed.
//! [`next_threshold_at`] gives the moment the following threshold begins: store it as the
//! certificate's "next due" time, and a sweep only has to look at rows whose time has come.
//!
//! How a sweep uses this: for each certificate with `next_due_at <= now`, take
//! `current_threshold(not_after, now)`, mail each contact who has not had `(fingerprint,
//! threshold.key(), contact)` yet, and only when every send succeeded set `next_due_at =
//! next_threshold_at(not_after, now)` (a failed send leaves it due, so the next sweep retries).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use time::{Duration, OffsetDateTime, PrimitiveDateTime};

/// Days before notAfter at which a reminder is due, earliest first.
pub const DAYS_BEFORE: [u32; 6] = [60, 30, 14, 7, 3, 1];

const WEEK: Duration = Duration::WEEK;

/// One step of the reminder schedule of a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Threshold {
    /// N days before notAfter; N is one of [`DAYS_BEFORE`].
    Before(u32),
    /// The moment the certificate expires.
    ExpiryDay,
    /// k weeks after expiry (k ≥ 1).
    WeeklyAfter(u32),
}

impl Threshold {
    /// Stable key for storage and de-duplication: `d60` ... `d1`, `d0`, `w1`, `w2`, ...
    pub fn key(&self) -> String {
        match self {
            Threshold::Before(days) => format!("d{days}"),
            Threshold::ExpiryDay => "d0".to_string(),
            Threshold::WeeklyAfter(weeks) => format!("w{weeks}"),
        }
    }

    /// The threshold a [`Threshold::key`] names; None for anything else.
    pub fn parse_key(key: &str) -> Option<Threshold> {
        let (kind, n) = key.split_at_checked(1)?;
        let n: u32 = n.parse().ok()?;
        match kind {
            "d" if n == 0 => Some(Threshold::ExpiryDay),
            "d" if DAYS_BEFORE.contains(&n) => Some(Threshold::Before(n)),
            "w" if n >= 1 => Some(Threshold::WeeklyAfter(n)),
            _ => None,
        }
    }

    /// Where this threshold begins relative to notAfter (negative: before it).
    pub fn offset(&self) -> Duration {
        match self {
            Threshold::Before(days) => -Duration::days(i64::from(*days)),
            Threshold::ExpiryDay => Duration::ZERO,
            Threshold::WeeklyAfter(weeks) => Duration::weeks(i64::from(*weeks)),
        }
    }

    /// The moment this threshold begins for a certificate expiring at `not_after`
    /// (saturating at the limits of the representable dates).
    pub fn moment(&self, not_after: OffsetDateTime) -> OffsetDateTime {
        not_after
            .checked_add(self.offset())
            .unwrap_or_else(|| saturate(self.offset()))
    }

    /// The first threshold of every schedule.
    pub fn first() -> Threshold {
        Threshold::Before(DAYS_BEFORE[0])
    }

    /// The threshold after this one.
    pub fn next(&self) -> Threshold {
        match self {
            Threshold::Before(days) => DAYS_BEFORE
                .iter()
                .copied()
                .find(|d| d < days)
                .map_or(Threshold::ExpiryDay, Threshold::Before),
            Threshold::ExpiryDay => Threshold::WeeklyAfter(1),
            Threshold::WeeklyAfter(weeks) => Threshold::WeeklyAfter(weeks.saturating_add(1)),
        }
    }

    /// Whether the certificate has expired at this threshold.
    pub fn is_expired(&self) -> bool {
        !matches!(self, Threshold::Before(_))
    }

    /// A short phrase for messages: "expires in 30 days", "expires tomorrow", "has expired",
    /// "expired 2 weeks ago".
    pub fn describe(&self) -> String {
        match self {
            Threshold::Before(1) => "expires tomorrow".to_string(),
            Threshold::Before(days) => format!("expires in {days} days"),
            Threshold::ExpiryDay => "has expired".to_string(),
            Threshold::WeeklyAfter(1) => "expired 1 week ago".to_string(),
            Threshold::WeeklyAfter(weeks) => format!("expired {weeks} weeks ago"),
        }
    }
}

fn saturate(direction: Duration) -> OffsetDateTime {
    if direction.is_negative() {
        PrimitiveDateTime::MIN.assume_utc()
    } else {
        PrimitiveDateTime::MAX.assume_utc()
    }
}

impl Ord for Threshold {
    /// Time order: `d60 < d30 < ... < d1 < d0 < w1 < w2 < ...`.
    fn cmp(&self, other: &Self) -> Ordering {
        self.offset().cmp(&other.offset())
    }
}

impl PartialOrd for Threshold {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// A stored threshold key that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown reminder threshold \"{0}\" (expected d60, d30, d14, d7, d3, d1, d0 or w1, w2, ...)"
)]
pub struct UnknownThreshold(pub String);

impl FromStr for Threshold {
    type Err = UnknownThreshold;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownThreshold(s.to_string());
        let digits = |rest: &str| -> Result<u32, UnknownThreshold> {
            // Canonical decimal only: no sign, no leading zeros.
            if rest.is_empty()
                || !rest.bytes().all(|b| b.is_ascii_digit())
                || (rest.len() > 1 && rest.starts_with('0'))
            {
                return Err(unknown());
            }
            rest.parse().map_err(|_| unknown())
        };
        if let Some(rest) = s.strip_prefix('d') {
            match digits(rest)? {
                0 => Ok(Threshold::ExpiryDay),
                n if DAYS_BEFORE.contains(&n) => Ok(Threshold::Before(n)),
                _ => Err(unknown()),
            }
        } else if let Some(rest) = s.strip_prefix('w') {
            match digits(rest)? {
                0 => Err(unknown()),
                n => Ok(Threshold::WeeklyAfter(n)),
            }
        } else {
            Err(unknown())
        }
    }
}

/// The threshold current at `now`: the latest one whose moment is `<= now`; `None` while `now`
/// is earlier than 60 days before `not_after`.
pub fn current_threshold(not_after: OffsetDateTime, now: OffsetDateTime) -> Option<Threshold> {
    if now < Threshold::first().moment(not_after) {
        return None;
    }
    if now >= not_after {
        let weeks = (now - not_after).whole_weeks();
        return Some(match u32::try_from(weeks) {
            Ok(0) => Threshold::ExpiryDay,
            Ok(k) => Threshold::WeeklyAfter(k),
            Err(_) => Threshold::WeeklyAfter(u32::MAX),
        });
    }
    DAYS_BEFORE
        .iter()
        .rev()
        .map(|d| Threshold::Before(*d))
        .find(|t| t.moment(not_after) <= now)
}

/// When the threshold after the current one begins (the first one when none is current yet).
/// Always later than `now`.
pub fn next_threshold_at(not_after: OffsetDateTime, now: OffsetDateTime) -> OffsetDateTime {
    let next = match current_threshold(not_after, now) {
        None => Threshold::first(),
        Some(current) => current.next(),
    };
    let at = next.moment(not_after);
    if at > now {
        at
    } else {
        // Only reachable at the very end of the representable time range.
        now.checked_add(WEEK).unwrap_or(now)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_parse_back_and_nothing_else_does() {
        for t in [
            super::Threshold::Before(60),
            super::Threshold::Before(1),
            super::Threshold::ExpiryDay,
            super::Threshold::WeeklyAfter(1),
            super::Threshold::WeeklyAfter(52),
        ] {
            assert_eq!(super::Threshold::parse_key(&t.key()), Some(t));
        }
        for bad in ["", "d", "d5", "w0", "renewed", "x7", "d-1", "w1x"] {
            assert_eq!(super::Threshold::parse_key(bad), None, "{bad}");
        }
    }

    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    const NOT_AFTER: OffsetDateTime = datetime!(2027-03-15 10:00 UTC);
    const NS: Duration = Duration::nanoseconds(1);

    fn all_scheduled() -> Vec<Threshold> {
        let mut v: Vec<Threshold> = DAYS_BEFORE.iter().map(|d| Threshold::Before(*d)).collect();
        v.push(Threshold::ExpiryDay);
        v.extend((1..=5).map(Threshold::WeeklyAfter));
        v
    }

    #[test]
    fn keys_are_stable_and_parse_back() {
        let keys: Vec<String> = all_scheduled().iter().map(Threshold::key).collect();
        assert_eq!(
            keys,
            [
                "d60", "d30", "d14", "d7", "d3", "d1", "d0", "w1", "w2", "w3", "w4", "w5"
            ]
        );
        for t in all_scheduled() {
            assert_eq!(t.key().parse::<Threshold>(), Ok(t));
            assert_eq!(t.to_string(), t.key());
        }
        assert_eq!("w52".parse(), Ok(Threshold::WeeklyAfter(52)));
    }

    #[test]
    fn unknown_keys_are_refused() {
        for bad in [
            "",
            "d",
            "w",
            "d2",
            "d61",
            "w0",
            "x1",
            "d-1",
            "w+1",
            "d07",
            "w01",
            "D60",
            "d60 ",
            "w99999999999",
        ] {
            assert_eq!(
                bad.parse::<Threshold>(),
                Err(UnknownThreshold(bad.to_string())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn thresholds_are_ordered_in_time() {
        let v = all_scheduled();
        for pair in v.windows(2) {
            assert!(pair[0] < pair[1], "{:?} < {:?}", pair[0], pair[1]);
            assert_eq!(pair[0].next(), pair[1]);
            assert!(pair[0].moment(NOT_AFTER) < pair[1].moment(NOT_AFTER));
        }
    }

    #[test]
    fn moments_are_exact_multiples_of_24_hours() {
        assert_eq!(
            Threshold::Before(60).moment(NOT_AFTER),
            datetime!(2027-01-14 10:00 UTC)
        );
        assert_eq!(
            Threshold::Before(1).moment(NOT_AFTER),
            datetime!(2027-03-14 10:00 UTC)
        );
        assert_eq!(Threshold::ExpiryDay.moment(NOT_AFTER), NOT_AFTER);
        assert_eq!(
            Threshold::WeeklyAfter(2).moment(NOT_AFTER),
            datetime!(2027-03-29 10:00 UTC)
        );
    }

    #[test]
    fn nothing_is_due_more_than_60_days_before() {
        let start = Threshold::Before(60).moment(NOT_AFTER);
        assert_eq!(current_threshold(NOT_AFTER, start - NS), None);
        assert_eq!(
            current_threshold(NOT_AFTER, datetime!(2020-01-01 00:00 UTC)),
            None
        );
        assert_eq!(next_threshold_at(NOT_AFTER, start - NS), start);
        assert_eq!(
            next_threshold_at(NOT_AFTER, datetime!(2020-01-01 00:00 UTC)),
            start
        );
    }

    #[test]
    fn each_threshold_is_current_from_its_moment_until_the_next() {
        for t in all_scheduled() {
            let begins = t.moment(NOT_AFTER);
            let ends = t.next().moment(NOT_AFTER);
            assert_eq!(
                current_threshold(NOT_AFTER, begins),
                Some(t),
                "{t} at start"
            );
            assert_eq!(
                current_threshold(NOT_AFTER, ends - NS),
                Some(t),
                "{t} at end"
            );
            assert_eq!(next_threshold_at(NOT_AFTER, begins), ends, "{t} next");
            assert_eq!(next_threshold_at(NOT_AFTER, ends - NS), ends, "{t} next");
            if let Threshold::Before(_) = t {
                assert_ne!(current_threshold(NOT_AFTER, begins - NS), Some(t));
            }
        }
    }

    #[test]
    fn first_seen_inside_a_window_yields_only_the_nearest_threshold() {
        // Seen 10 days before expiry: d60, d30 and d14 were missed; only d14 is current.
        let now = NOT_AFTER - Duration::days(10);
        assert_eq!(
            current_threshold(NOT_AFTER, now),
            Some(Threshold::Before(14))
        );
        assert_eq!(
            next_threshold_at(NOT_AFTER, now),
            Threshold::Before(7).moment(NOT_AFTER)
        );
        // Seen 100 days after expiry: only week 14.
        let now = NOT_AFTER + Duration::days(100);
        assert_eq!(
            current_threshold(NOT_AFTER, now),
            Some(Threshold::WeeklyAfter(14))
        );
        assert_eq!(
            next_threshold_at(NOT_AFTER, now),
            NOT_AFTER + Duration::days(105)
        );
    }

    #[test]
    fn the_expiry_day_is_the_week_after_expiry() {
        assert_eq!(
            current_threshold(NOT_AFTER, NOT_AFTER - NS),
            Some(Threshold::Before(1))
        );
        assert_eq!(
            current_threshold(NOT_AFTER, NOT_AFTER),
            Some(Threshold::ExpiryDay)
        );
        assert_eq!(
            current_threshold(NOT_AFTER, NOT_AFTER + Duration::days(6)),
            Some(Threshold::ExpiryDay)
        );
        assert_eq!(
            current_threshold(NOT_AFTER, NOT_AFTER + Duration::days(7)),
            Some(Threshold::WeeklyAfter(1))
        );
    }

    #[test]
    fn walking_the_schedule_visits_every_threshold_once() {
        let mut now = datetime!(2026-01-01 00:00 UTC);
        let mut seen = Vec::new();
        while now < NOT_AFTER + Duration::weeks(5) {
            now = next_threshold_at(NOT_AFTER, now);
            seen.push(current_threshold(NOT_AFTER, now).unwrap());
        }
        assert_eq!(seen, all_scheduled());
    }

    #[test]
    fn descriptions_read_well() {
        assert_eq!(Threshold::Before(30).describe(), "expires in 30 days");
        assert_eq!(Threshold::Before(1).describe(), "expires tomorrow");
        assert_eq!(Threshold::ExpiryDay.describe(), "has expired");
        assert_eq!(Threshold::WeeklyAfter(1).describe(), "expired 1 week ago");
        assert_eq!(Threshold::WeeklyAfter(3).describe(), "expired 3 weeks ago");
        assert!(!Threshold::Before(3).is_expired());
        assert!(Threshold::ExpiryDay.is_expired());
    }

    #[test]
    fn extreme_dates_do_not_panic() {
        let max = PrimitiveDateTime::MAX.assume_utc();
        let min = PrimitiveDateTime::MIN.assume_utc();
        assert_eq!(current_threshold(max, min), None);
        assert!(next_threshold_at(max, min) > min);
        assert!(current_threshold(min, max).is_some());
        let _ = next_threshold_at(min, max);
        assert_eq!(Threshold::WeeklyAfter(u32::MAX).moment(max), max);
    }

    fn any_time() -> impl Strategy<Value = OffsetDateTime> {
        // 1990 .. 2090, nanosecond resolution.
        (631_152_000i64..3_786_912_000i64, 0u32..1_000_000_000u32).prop_map(|(s, ns)| {
            OffsetDateTime::from_unix_timestamp(s).unwrap() + Duration::nanoseconds(i64::from(ns))
        })
    }

    proptest! {
        #[test]
        fn current_threshold_is_monotonic_in_time(
            not_after in any_time(),
            a in any_time(),
            b in any_time(),
        ) {
            let (early, late) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(current_threshold(not_after, early) <= current_threshold(not_after, late));
        }

        #[test]
        fn next_threshold_is_later_and_changes_the_current_one(
            not_after in any_time(),
            now in any_time(),
        ) {
            let next = next_threshold_at(not_after, now);
            prop_assert!(next > now);
            let current = current_threshold(not_after, now);
            prop_assert!(current_threshold(not_after, next) > current);
            prop_assert_eq!(current_threshold(not_after, next - NS), current);
            if let Some(t) = current {
                prop_assert!(t.moment(not_after) <= now);
                prop_assert_eq!(t.key().parse::<Threshold>(), Ok(t));
            }
        }

        #[test]
        fn near_expiry_a_threshold_is_always_current(
            not_after in any_time(),
            offset_s in -(60i64 * 86_400)..(400 * 86_400),
        ) {
            let now = not_after + Duration::seconds(offset_s);
            prop_assert!(current_threshold(not_after, now).is_some());
        }
    }
}
