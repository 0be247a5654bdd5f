//! One rule for every background queue's leases (issue 22): the sync's contacts, the
//! identity-side removals and tombstones, the metadata URLs, the certificate reminders being
//! sent and the welcomes. A worker *claims* a due row by writing its owner name (one per pass,
//! so a heartbeat renews only the rows of the pass under way) and the moment the lease runs out;
//! while it works it *renews* the lease; when it is done, or the pass ends, it *releases* it.
//! A worker that dies holds nothing for long: once its lease has run out, the row is free for
//! the next claim.
//!
//! Storage writes the same rule in SQL, in one statement shape for every queue (see
//! `smartcore_storage`'s `lease` module): a row is free at `now` when `lease_until IS NULL OR
//! lease_until < now` ([`Lease::is_free`]), a claim sets owner and end ([`Lease::take`]), a
//! renewal or a release touches only the rows whose owner is the holder's
//! ([`Lease::is_held_by`]).

use crate::Timestamp;
use std::time::Duration;

/// A worker's hold on a queue row: who holds it, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    owner: String,
    until: Timestamp,
}

impl Lease {
    /// The default length (`SMARTCORE_SYNC_LEASE_S`): a live holder renews well before it runs
    /// out, a dead one frees its rows within it.
    pub const DEFAULT_LENGTH: Duration = Duration::from_secs(10);

    /// The shortest lease given: a holder must be able to renew it at all.
    pub const MIN_LENGTH: Duration = Duration::from_millis(1);

    /// The shortest time between two renewals, however short the lease.
    pub const MIN_RENEWAL_GAP: Duration = Duration::from_millis(100);

    /// How long leases are given for when `configured` is asked: at least [`Lease::MIN_LENGTH`].
    pub fn length(configured: Duration) -> Duration {
        configured.max(Self::MIN_LENGTH)
    }

    /// How often a holder renews a lease of `length`: every third of it (two renewals may fail
    /// before the lease runs out), but not more often than [`Lease::MIN_RENEWAL_GAP`].
    pub fn renew_every(length: Duration) -> Duration {
        (length / 3).max(Self::MIN_RENEWAL_GAP)
    }

    /// A lease taken by `owner` at `now` for `length`.
    pub fn take(owner: impl Into<String>, now: Timestamp, length: Duration) -> Lease {
        Lease {
            owner: owner.into(),
            until: now.plus_millis(millis(length)),
        }
    }

    /// A lease as stored: held by `owner` until `until`.
    pub fn held(owner: impl Into<String>, until: Timestamp) -> Lease {
        Lease {
            owner: owner.into(),
            until,
        }
    }

    /// Who holds it.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// When it runs out unless renewed.
    pub fn until(&self) -> Timestamp {
        self.until
    }

    /// Whether a row whose lease runs out at `held_until` (none: nobody holds it) may be claimed
    /// at `now`: nobody holds it, or its lease ran out before `now`. A lease running out at
    /// `now` still holds.
    pub fn is_free(held_until: Option<Timestamp>, now: Timestamp) -> bool {
        held_until.is_none_or(|until| until < now)
    }

    /// The lease renewed at `now` for `length`: the same holder, a new end.
    pub fn renewed(&self, now: Timestamp, length: Duration) -> Lease {
        Lease::take(self.owner.clone(), now, length)
    }

    /// Only the holder renews or releases a row: whether the row's owner (`holder`, none when
    /// nobody holds it) is this lease's.
    pub fn is_held_by(&self, holder: Option<&str>) -> bool {
        holder == Some(self.owner.as_str())
    }
}

/// A length in whole milliseconds, as times are stored (saturating).
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_unix_millis(ms)
    }

    #[test]
    fn a_lease_runs_for_its_length_from_the_claim() {
        let lease = Lease::take("sync#1", at(1_000), Duration::from_secs(10));
        assert_eq!(lease.owner(), "sync#1");
        assert_eq!(lease.until(), at(11_000));
        assert_eq!(lease, Lease::held("sync#1", at(11_000)));
    }

    #[test]
    fn a_row_is_free_when_nobody_holds_it_or_its_lease_ran_out() {
        assert!(Lease::is_free(None, at(5)));
        assert!(Lease::is_free(Some(at(4)), at(5)));
        // Running out at this very moment: still held.
        assert!(!Lease::is_free(Some(at(5)), at(5)));
        assert!(!Lease::is_free(Some(at(6)), at(5)));
    }

    #[test]
    fn a_renewal_keeps_the_holder_and_moves_the_end() {
        let lease = Lease::take("welcomes#3", at(0), Duration::from_secs(10));
        let renewed = lease.renewed(at(4_000), Duration::from_secs(10));
        assert_eq!(renewed.owner(), "welcomes#3");
        assert_eq!(renewed.until(), at(14_000));
    }

    #[test]
    fn only_the_holder_renews_or_releases() {
        let lease = Lease::take("reminders#7", at(0), Duration::from_secs(1));
        assert!(lease.is_held_by(Some("reminders#7")));
        assert!(!lease.is_held_by(Some("reminders#8")));
        assert!(!lease.is_held_by(None));
    }

    #[test]
    fn lengths_and_renewals_have_a_floor() {
        assert_eq!(Lease::length(Duration::ZERO), Lease::MIN_LENGTH);
        assert_eq!(
            Lease::length(Duration::from_secs(10)),
            Duration::from_secs(10)
        );
        assert_eq!(
            Lease::renew_every(Duration::from_secs(9)),
            Duration::from_secs(3)
        );
        assert_eq!(
            Lease::renew_every(Duration::from_millis(30)),
            Lease::MIN_RENEWAL_GAP
        );
        assert_eq!(Lease::DEFAULT_LENGTH, Duration::from_secs(10));
    }

    #[test]
    fn a_huge_length_saturates() {
        let lease = Lease::take("x#1", at(0), Duration::MAX);
        assert_eq!(lease.until(), at(0).plus_millis(i64::MAX));
    }
}
