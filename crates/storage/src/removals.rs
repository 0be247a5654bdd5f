//! Identity-side removal requests: the operations team's queue (R7).

use crate::audit::{self, AuditEntry};
use crate::lease::{ClaimSql, REMOVALS};
use crate::{Store, StoreError};
use smartcore_domain::Lease;
use smartcore_domain::audit::{ContactReason, RemovalCompleted};
use smartcore_domain::{AuditActor, AuditDetails};
use smartcore_domain::{OrgId, RemovalId, Timestamp};
use smartcore_domain::{RemovalOutcome, RemovalStatus, SyncStatus};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

#[derive(Debug, Clone)]
pub struct RemovalRecord {
    pub id: String,
    pub org_id: String,
    pub contact_id: String,
    pub email: String,
    pub identity_org_id: Option<String>,
    pub identity_contact_id: String,
    pub status: RemovalStatus,
    pub requested_at: i64,
    pub requested_by: String,
    pub completed_at: Option<i64>,
    pub completed_by: Option<String>,
    /// Set once completed (or cancelled).
    pub outcome: Option<RemovalOutcome>,
    pub automatic: i64,
    pub attempts: i64,
    pub last_error: Option<String>,
}

impl<'r> sqlx::FromRow<'r, AnyRow> for RemovalRecord {
    fn from_row(row: &'r AnyRow) -> Result<Self, sqlx::Error> {
        Ok(RemovalRecord {
            id: row.try_get("id")?,
            org_id: row.try_get("org_id")?,
            contact_id: row.try_get("contact_id")?,
            email: row.try_get("email")?,
            identity_org_id: row.try_get("identity_org_id")?,
            identity_contact_id: row.try_get("identity_contact_id")?,
            status: crate::column::required(row, "status")?,
            requested_at: row.try_get("requested_at")?,
            requested_by: row.try_get("requested_by")?,
            completed_at: row.try_get("completed_at")?,
            completed_by: row.try_get("completed_by")?,
            outcome: crate::column::optional(row, "outcome")?,
            automatic: row.try_get("automatic")?,
            attempts: row.try_get("attempts")?,
            last_error: row.try_get("last_error")?,
        })
    }
}

impl Store {
    /// Pending removals, oldest first.
    pub async fn pending_removals(&self) -> Result<Vec<RemovalRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, org_id, contact_id, email, identity_org_id, identity_contact_id, status, requested_at, \
                    requested_by, completed_at, completed_by, outcome, automatic, attempts, last_error \
             FROM identity_removals WHERE status = $1 ORDER BY requested_at, id",
        )
        .bind(RemovalStatus::Pending.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn removal(&self, id: &RemovalId) -> Result<RemovalRecord, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, org_id, contact_id, email, identity_org_id, identity_contact_id, status, requested_at, \
                    requested_by, completed_at, completed_by, outcome, automatic, attempts, last_error \
             FROM identity_removals WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_one(&self.pool)
        .await?)
    }

    /// Marks a pending removal completed; false when it was not pending any more (completed
    /// by someone else meanwhile, or cancelled by a re-add).
    pub async fn complete_removal(
        &self,
        id: &RemovalId,
        by: &AuditActor,
        outcome: RemovalOutcome,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(AssertSqlSafe(format!(
            "UPDATE identity_removals SET status = $5, completed_at = $1, completed_by = $2, outcome = $3, \
                 next_attempt_at = NULL, {} \
             WHERE id = $4 AND status = $6",
            REMOVALS.release()
        )))
        .bind(now.unix_millis())
        .bind(by.as_str())
        .bind(outcome.as_str())
        .bind(id.as_str())
        .bind(RemovalStatus::Completed.as_str())
        .bind(RemovalStatus::Pending.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let (org_id, email, identity_contact_id): (String, String, String) = sqlx::query_as(
            "SELECT org_id, email, identity_contact_id FROM identity_removals WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_one(&mut *tx)
        .await?;
        // A place is free on the identity side: registrations waiting for it are due at once,
        // and contacts refused there for a full list try again (issue 24).
        wake_waiting(&mut tx, &org_id, now).await?;
        let revived = revive_refused_for_full_list(&mut tx, &org_id, now).await?;
        let org_id = OrgId::parse(&org_id);
        for (contact_id, contact_email) in &revived {
            audit::record(
                &mut tx,
                AuditEntry {
                    org_id: org_id.as_ref(),
                    at: now,
                    actor: AuditActor::System,
                    target: Some(contact_id),
                    details: AuditDetails::ItContactSyncResumed(ContactReason {
                        email: contact_email.clone(),
                        reason: "the identity side's list was full; a removal there has completed"
                            .to_owned(),
                    }),
                },
            )
            .await?;
        }
        audit::record(
            &mut tx,
            AuditEntry {
                org_id: org_id.as_ref(),
                at: now,
                actor: by.clone(),
                target: Some(id.as_str()),
                details: AuditDetails::IdentityRemovalCompleted(RemovalCompleted {
                    email,
                    identity_contact_id,
                    outcome,
                }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records a failed automatic attempt; the worker tries again at `next_attempt_at`.
    pub async fn retry_removal_later(
        &self,
        id: &RemovalId,
        error: &str,
        next_attempt_at: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE identity_removals SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2, \
                 {} WHERE id = $3 AND status IN ($4, $5)",
            REMOVALS.release()
        )))
        .bind(error)
        .bind(next_attempt_at.unix_millis())
        .bind(id.as_str())
        .bind(RemovalStatus::Pending.as_str())
        .bind(RemovalStatus::Tombstone.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Hands an automatic removal that cannot succeed to the operations team.
    pub async fn hand_removal_to_operations(
        &self,
        id: &RemovalId,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE identity_removals SET attempts = attempts + 1, last_error = $1, automatic = 0, \
                 next_attempt_at = NULL, {} WHERE id = $2 AND status = $3",
            REMOVALS.release()
        )))
        .bind(error)
        .bind(id.as_str())
        .bind(RemovalStatus::Pending.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Claims up to `limit` automatic removals that are due, for `lease_ms`, and the due
    /// tombstones (status `tombstone`: a contact removed while its registration was in flight,
    /// whose worker finished nothing within its lease). A row claimed by one worker is
    /// invisible to the others until the lease runs out.
    pub async fn claim_due_removals(
        &self,
        owner: &str,
        now: Timestamp,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<RemovalRecord>, StoreError> {
        let lease = Lease::held(owner, now.plus_millis(lease_ms));
        let claim = ClaimSql {
            set: "",
            due: "((status = $5 AND automatic = 1) OR status = $6) AND next_attempt_at <= $3",
            still: "status IN ($5, $6)",
            order_by: "next_attempt_at",
            returning: "id",
        };
        let mut tx = self.begin().await?;
        let claimed: Vec<(String,)> = REMOVALS
            .claim(&claim, &lease, now, limit)
            .bind(RemovalStatus::Pending.as_str())
            .bind(RemovalStatus::Tombstone.as_str())
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut out = Vec::with_capacity(claimed.len());
        for (id,) in claimed {
            if let Some(id) = RemovalId::parse(&id) {
                out.push(self.removal(&id).await?);
            }
        }
        Ok(out)
    }
}

/// A place is free on the identity side of `org_id`: its contacts refused there for a full
/// list are registered again at once. Returns their (id, address).
async fn revive_refused_for_full_list(
    conn: &mut sqlx::AnyConnection,
    org_id: &str,
    now: Timestamp,
) -> Result<Vec<(String, String)>, StoreError> {
    Ok(sqlx::query_as(
        "UPDATE it_contacts SET status = $3, sync_attempts = 0, next_sync_at = $1, \
             status_detail = 'Registering again: a removal on the identity side has completed.' \
         WHERE org_id = $2 AND status = $4 \
           AND (status_detail LIKE '%it_contact_limit_reached%' \
                OR status_detail LIKE '%maximum number of IT contacts%') \
         RETURNING id, email",
    )
    .bind(now.unix_millis())
    .bind(org_id)
    .bind(SyncStatus::Pending.as_str())
    .bind(SyncStatus::Failed.as_str())
    .fetch_all(conn)
    .await?)
}

/// A place is free on the identity side of `org_id`: the registrations waiting for one are due
/// at once (issue 24).
pub(crate) async fn wake_waiting(
    tx: &mut sqlx::AnyConnection,
    org_id: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE it_contacts SET next_sync_at = $1, waiting_for = NULL \
         WHERE org_id = $2 AND status = $3 AND waiting_for IS NOT NULL",
    )
    .bind(now.unix_millis())
    .bind(org_id)
    .bind(RemovalStatus::Pending.as_str())
    .execute(tx)
    .await?;
    Ok(())
}
