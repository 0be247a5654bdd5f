//! One statement shape for every background queue's leases ([`smartcore_domain::Lease`] in
//! SQL). Each queue names its lease columns once ([`LeaseColumns`]); the claim statement is
//! built from them, so every queue claims the same way: one conditional UPDATE that takes only
//! rows still due and free ([`Lease::is_free`]: nobody holds them, or their lease ran out
//! before now), with a bounded sub-select in due order, so each due row is claimed once however
//! many workers ask at the same moment. Releasing a row as its work is recorded clears both
//! columns ([`LeaseColumns::release`]) under the holder's name ([`LeaseColumns::held_by`]).
//!
//! The renewal and the release of everything a pass holds (`Store::renew_leases`,
//! `Store::release_leases`) go over [`PASS_QUEUES`] with [`LeaseColumns::renew_sql`] and
//! [`LeaseColumns::release_all_sql`].

use smartcore_domain::{Lease, Timestamp};
use sqlx::AssertSqlSafe;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::QueryAs;

/// Where a queue keeps its leases: its table, the key a claim selects rows by, and the owner
/// and end columns.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LeaseColumns {
    pub table: &'static str,
    /// A column, or a row value such as `(a, b)`.
    pub key: &'static str,
    pub owner: &'static str,
    pub until: &'static str,
}

/// IT contacts being registered (the sync).
pub(crate) const CONTACTS: LeaseColumns = LeaseColumns::of("it_contacts", "id");

/// Identity-side removals and tombstones (the sync's removal pass).
pub(crate) const REMOVALS: LeaseColumns = LeaseColumns::of("identity_removals", "id");

/// Metadata URLs (the refresh).
pub(crate) const METADATA: LeaseColumns = LeaseColumns::of("metadata_sources", "org_id");

/// Certificate reminders being sent (the delivery).
pub(crate) const REMINDERS: LeaseColumns = LeaseColumns::of(
    "certificate_reminders",
    "(fingerprint_sha256, threshold, contact_id)",
);

/// Welcomes being sent (the trust worker): the row's lease is the welcome's.
pub(crate) const WELCOMES: LeaseColumns = LeaseColumns {
    owner: "welcome_lease_owner",
    until: "welcome_lease_until",
    ..LeaseColumns::of("contact_trust", "contact_id")
};

/// What marks a held row as still in work, beside its holder.
#[derive(Debug, Clone, Copy)]
pub(crate) enum InWork {
    /// Its lease is set.
    Leased,
    /// A reminder: its status is `sending` (bound as `$3` when renewing, `$2` when releasing).
    Sending,
    /// A welcome: not sent yet.
    Unsent,
}

/// Every queue whose rows a pass holds under its owner's name, renewed by its heartbeat and
/// released when it ends.
pub(crate) const PASS_QUEUES: [(LeaseColumns, InWork); 5] = [
    (CONTACTS, InWork::Leased),
    (REMOVALS, InWork::Leased),
    (METADATA, InWork::Leased),
    (REMINDERS, InWork::Sending),
    (WELCOMES, InWork::Unsent),
];

/// What a queue's claim adds to the shape. In every part, `$1` is the lease's owner, `$2` its
/// end, `$3` now and `$4` the most rows to claim; the queue's own parameters count on from `$5`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClaimSql<'a> {
    /// Columns set besides the lease, each starting with `, `.
    pub set: &'a str,
    /// Which rows are due.
    pub due: &'a str,
    /// What must still hold of a row when it is updated.
    pub still: &'a str,
    /// The due order.
    pub order_by: &'a str,
    /// The columns the claim returns.
    pub returning: &'a str,
}

impl LeaseColumns {
    /// A table whose rows are leased through `lease_owner` and `lease_until`.
    const fn of(table: &'static str, key: &'static str) -> LeaseColumns {
        LeaseColumns {
            table,
            key,
            owner: "lease_owner",
            until: "lease_until",
        }
    }

    /// The claim statement: due and free rows, at most `$4` of them in due order, taken for
    /// `$1` until `$2`.
    pub(crate) fn claim_sql(&self, c: &ClaimSql<'_>) -> String {
        let LeaseColumns {
            table,
            key,
            owner,
            until,
        } = *self;
        let free = self.free(3);
        let ClaimSql {
            set,
            due,
            still,
            order_by,
            returning,
        } = *c;
        // A row value's columns, as the sub-select lists them.
        let columns = key
            .strip_prefix('(')
            .and_then(|k| k.strip_suffix(')'))
            .unwrap_or(key);
        format!(
            "UPDATE {table} SET {owner} = $1, {until} = $2{set} \
             WHERE {key} IN (SELECT {columns} FROM {table} WHERE {due} AND {free} \
                             ORDER BY {order_by} LIMIT $4) \
               AND {still} AND {free} \
             RETURNING {returning}"
        )
    }

    /// The claim of [`LeaseColumns::claim_sql`] with the lease, the time and the limit bound;
    /// the caller binds its own parameters (`$5` …) after them.
    pub(crate) fn claim<'q, O>(
        &self,
        c: &ClaimSql<'_>,
        lease: &'q Lease,
        now: Timestamp,
        limit: i64,
    ) -> QueryAs<'q, sqlx::Any, O, AnyArguments>
    where
        O: for<'r> sqlx::FromRow<'r, AnyRow>,
    {
        sqlx::query_as(AssertSqlSafe(self.claim_sql(c)))
            .bind(lease.owner())
            .bind(lease.until().unix_millis())
            .bind(now.unix_millis())
            .bind(limit)
    }

    /// The row is free at the time bound as `$param` ([`Lease::is_free`]).
    pub(crate) fn free(&self, param: usize) -> String {
        format!(
            "({until} IS NULL OR {until} < ${param})",
            until = self.until
        )
    }

    /// The assignments that release a row: nobody holds it.
    pub(crate) fn release(&self) -> String {
        format!("{} = NULL, {} = NULL", self.owner, self.until)
    }

    /// Extends to `$1` the lease of every row in work the owner bound as `$2` holds (a
    /// reminder's status bound as `$3`).
    pub(crate) fn renew_sql(&self, in_work: InWork) -> String {
        format!(
            "UPDATE {} SET {} = $1 WHERE {} AND {}",
            self.table,
            self.until,
            self.held_by(2),
            self.in_work(in_work, 3)
        )
    }

    /// Frees every row in work the owner bound as `$1` holds (a reminder's status bound as
    /// `$2`). A reminder still being sent gets a lease that ran out already, so the next
    /// delivery takes it back and sends it.
    pub(crate) fn release_all_sql(&self, in_work: InWork) -> String {
        let release = match in_work {
            InWork::Sending => format!("{} = NULL, {} = 0", self.owner, self.until),
            InWork::Leased | InWork::Unsent => self.release(),
        };
        format!(
            "UPDATE {} SET {release} WHERE {}{}",
            self.table,
            self.held_by(1),
            match in_work {
                InWork::Leased => String::new(),
                _ => format!(" AND {}", self.in_work(in_work, 2)),
            }
        )
    }

    fn in_work(&self, in_work: InWork, status_param: usize) -> String {
        match in_work {
            InWork::Leased => format!("{} IS NOT NULL", self.until),
            InWork::Sending => format!("status = ${status_param}"),
            InWork::Unsent => "welcome_sent_at IS NULL".to_owned(),
        }
    }

    /// The condition that the row is held by the owner bound as `$param` ([`Lease::is_held_by`]):
    /// only the holder renews, records or releases.
    pub(crate) fn held_by(&self, param: usize) -> String {
        format!("{} = ${param}", self.owner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_queue_claims_with_one_shape() {
        let sql = METADATA.claim_sql(&ClaimSql {
            set: "",
            due: "next_fetch_at <= $3",
            still: "next_fetch_at <= $3",
            order_by: "next_fetch_at",
            returning: "org_id",
        });
        assert_eq!(
            sql.split_whitespace().collect::<Vec<_>>().join(" "),
            "UPDATE metadata_sources SET lease_owner = $1, lease_until = $2 \
             WHERE org_id IN (SELECT org_id FROM metadata_sources WHERE next_fetch_at <= $3 \
             AND (lease_until IS NULL OR lease_until < $3) ORDER BY next_fetch_at LIMIT $4) \
             AND next_fetch_at <= $3 AND (lease_until IS NULL OR lease_until < $3) \
             RETURNING org_id"
        );
        let welcome = WELCOMES.claim_sql(&ClaimSql {
            set: "",
            due: "welcome_sent_at IS NULL",
            still: "welcome_sent_at IS NULL",
            order_by: "welcome_claimed_at",
            returning: "contact_id",
        });
        assert!(welcome.starts_with(
            "UPDATE contact_trust SET welcome_lease_owner = $1, welcome_lease_until = $2 "
        ));
        assert!(welcome.contains("(welcome_lease_until IS NULL OR welcome_lease_until < $3)"));
    }

    #[test]
    fn a_row_value_key_is_selected_as_its_columns() {
        let sql = REMINDERS.claim_sql(&ClaimSql {
            set: "",
            due: "status = $5",
            still: "status = $5",
            order_by: "next_attempt_at",
            returning: "attempts",
        });
        assert!(sql.contains(
            "WHERE (fingerprint_sha256, threshold, contact_id) IN \
             (SELECT fingerprint_sha256, threshold, contact_id FROM certificate_reminders"
        ));
    }

    #[test]
    fn a_pass_renews_and_releases_what_it_holds_in_every_queue() {
        let squash = |s: String| s.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(
            squash(CONTACTS.renew_sql(InWork::Leased)),
            "UPDATE it_contacts SET lease_until = $1 WHERE lease_owner = $2 AND lease_until IS NOT NULL"
        );
        assert_eq!(
            squash(REMINDERS.renew_sql(InWork::Sending)),
            "UPDATE certificate_reminders SET lease_until = $1 WHERE lease_owner = $2 AND status = $3"
        );
        assert_eq!(
            squash(WELCOMES.renew_sql(InWork::Unsent)),
            "UPDATE contact_trust SET welcome_lease_until = $1 \
             WHERE welcome_lease_owner = $2 AND welcome_sent_at IS NULL"
        );
        assert_eq!(
            squash(REMOVALS.release_all_sql(InWork::Leased)),
            "UPDATE identity_removals SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1"
        );
        assert_eq!(
            squash(REMINDERS.release_all_sql(InWork::Sending)),
            "UPDATE certificate_reminders SET lease_owner = NULL, lease_until = 0 \
             WHERE lease_owner = $1 AND status = $2"
        );
        assert_eq!(
            squash(WELCOMES.release_all_sql(InWork::Unsent)),
            "UPDATE contact_trust SET welcome_lease_owner = NULL, welcome_lease_until = NULL \
             WHERE welcome_lease_owner = $1 AND welcome_sent_at IS NULL"
        );
    }

    #[test]
    fn releasing_and_holding_name_the_queues_columns() {
        assert_eq!(REMOVALS.release(), "lease_owner = NULL, lease_until = NULL");
        assert_eq!(
            WELCOMES.release(),
            "welcome_lease_owner = NULL, welcome_lease_until = NULL"
        );
        assert_eq!(REMINDERS.held_by(6), "lease_owner = $6");
    }
}
