//! The welcome (issue 16): due once per contact when it is Synced (and once per organisation
//! and address a week, issue 24), taken for sending with a lease its sender renews while it
//! works, finished or released for a retry.

use super::{TrustMailJob, refresh_reconfirm_from};
use crate::lease::{ClaimSql, WELCOMES};
use crate::{Store, StoreError};
use smartcore_domain::{Lease, Timestamp};
use sqlx::{AnyConnection, AssertSqlSafe};

/// Gives the organisation's welcome budget for the contact's address back when its welcome
/// was claimed but is neither sent nor being sent (called as the contact is removed): a contact
/// added by mistake and removed at once does not cost the address its welcome for a week. A
/// welcome a worker holds may be on its way, so that one keeps the budget.
pub async fn return_unsent_welcome(
    conn: &mut AnyConnection,
    contact_id: &str,
    org_id: &str,
    email_key: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM welcome_budget WHERE org_id = $1 AND email_key = $2 AND welcomed_at IN \
             (SELECT welcome_claimed_at FROM contact_trust WHERE contact_id = $3 \
                  AND welcome_sent_at IS NULL AND (welcome_lease_until IS NULL OR welcome_lease_until <= $4))",
    )
    .bind(org_id)
    .bind(email_key)
    .bind(contact_id)
    .bind(now.unix_millis())
    .execute(conn)
    .await?;
    Ok(())
}

/// At most one welcome per organisation and address in this time: 7 days.
pub const WELCOME_BUDGET_MS: i64 = 7 * 86_400_000;

impl Store {
    /// Takes up to `limit` due welcomes for sending, held by `owner` until `lease_until`:
    /// claimed and neither sent nor held by another worker (nor waiting for a retry). `only`
    /// narrows it to one contact (the sync sends its own contact's welcome at once). The
    /// sender renews the lease while it works ([`Store::renew_leases`]). In the order the
    /// welcomes were claimed.
    pub async fn take_welcomes(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        only: Option<&str>,
        limit: i64,
    ) -> Result<Vec<TrustMailJob>, StoreError> {
        let lease = Lease::held(owner, lease_until);
        let claim = ClaimSql {
            set: "",
            due: "welcome_sent_at IS NULL AND welcome_claimed_at IS NOT NULL \
                  AND ($5 IS NULL OR contact_id = $5)",
            still: "welcome_sent_at IS NULL",
            order_by: "welcome_claimed_at",
            returning: "contact_id, welcome_claimed_at",
        };
        let mut claimed: Vec<(String, Option<i64>)> = WELCOMES
            .claim(&claim, &lease, now, limit)
            .bind(only)
            .fetch_all(&self.pool)
            .await?;
        claimed.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        let mut taken = Vec::new();
        for (contact_id, _) in claimed {
            if let Some(job) = self.mail_job(&contact_id).await? {
                taken.push(job);
            }
        }
        Ok(taken)
    }

    async fn mail_job(&self, contact_id: &str) -> Result<Option<TrustMailJob>, StoreError> {
        Ok(self.mail_jobs(std::iter::once(contact_id)).await?.pop())
    }

    /// The welcome went out (or was refused for good): it is never sent again. It also counts
    /// as the first re-confirmation request: its link lets the contact confirm.
    pub async fn finish_welcome(&self, contact_id: &str, now: Timestamp) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE contact_trust SET welcome_sent_at = $1, {}, \
               reconfirm_requested_at = COALESCE(reconfirm_requested_at, $1) WHERE contact_id = $2",
            WELCOMES.release()
        )))
        .bind(now.unix_millis())
        .bind(contact_id)
        .execute(&mut *tx)
        .await?;
        refresh_reconfirm_from(&mut tx, contact_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A welcome that failed for now: tried again from `retry_at`. The worker no longer holds
    /// it (the owner is cleared), so releasing its leases at the end of the pass keeps the
    /// retry time.
    pub async fn release_welcome(
        &self,
        contact_id: &str,
        retry_at: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE contact_trust SET welcome_lease_until = $1, welcome_lease_owner = NULL WHERE contact_id = $2",
        )
            .bind(retry_at.unix_millis())
            .bind(contact_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
