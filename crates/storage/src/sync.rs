//! The identity-side sync queue. A pending contact with `next_sync_at` set *is* the job: the
//! background sync claims due contacts with a lease (a conditional UPDATE, so two workers on
//! one PostgreSQL never claim the same contact, and a worker that dies mid-request loses
//! nothing: its lease runs out and another worker picks the contact up again).

use crate::audit::{self, AuditEntry};
use crate::batch;
use crate::lease;
use crate::{Store, StoreError};
use smartcore_domain::audit::{ContactReason, RemovalFlagged};
use smartcore_domain::{AuditActor, AuditDetails};
use smartcore_domain::{EmailAddress, Lease, OrgId, RemovalId, Timestamp};
use smartcore_domain::{ReminderStatus, RemovalOutcome, RemovalStatus, SyncStatus, SystemActor};
use sqlx::AssertSqlSafe;

/// A contact to register on the identity side.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SyncJob {
    pub contact_id: String,
    pub org_id: String,
    pub email: String,
    pub identity_org_id: Option<String>,
    pub sync_attempts: i64,
    /// 1 when the organisation had an identity-side removal pending at the claim: only then
    /// can its list there be full ([`Store::identity_room`] is asked only then).
    pub removal_pending: i64,
}

/// How full the organisation's list on the identity side is, as far as this side knows, for
/// one contact about to be registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityRoom {
    /// Places taken there: registered contacts, removals not done yet (the contact is still
    /// there), and registrations of the organisation under way ahead of this one.
    pub taken: i64,
    /// The oldest pending removal of the organisation: (removal id, address).
    pub pending_removal: Option<(String, String)>,
}

/// The words "Sync failed" keeps for a registration refused because the identity side's list
/// was full; such a contact is tried again once a removal there completes.
pub const LIMIT_REFUSAL_MARKER: &str = "it_contact_limit_reached";

/// Ids bound per statement: far below both databases' limits on bound parameters.
const ID_CHUNK: usize = 1_000;

impl Store {
    /// How full the identity side's list of `contact_id`'s organisation is (see
    /// [`IdentityRoom`]).
    pub async fn identity_room(
        &self,
        org_id: &str,
        contact_id: &str,
        now: Timestamp,
    ) -> Result<IdentityRoom, StoreError> {
        // One round trip: the places taken, and the oldest pending removal (if any).
        let (taken, removal_id, removal_email): (i64, Option<String>, Option<String>) =
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM it_contacts WHERE org_id = $1 AND status = $4) \
                      + (SELECT COUNT(*) FROM identity_removals WHERE org_id = $1 AND status IN ($5, $6)) \
                      + (SELECT COUNT(*) FROM it_contacts WHERE org_id = $1 AND status = $7 \
                           AND id < $2 AND lease_until IS NOT NULL AND lease_until >= $3), \
                   r.id, r.email \
                 FROM (SELECT 1 AS one) AS x LEFT JOIN (SELECT id, email FROM identity_removals \
                   WHERE org_id = $1 AND status IN ($5, $6) ORDER BY requested_at, id LIMIT 1) r ON 1 = 1",
            )
            .bind(org_id)
            .bind(contact_id)
            .bind(now.unix_millis())
            .bind(SyncStatus::Synced.as_str())
            .bind(RemovalStatus::Pending.as_str())
            .bind(RemovalStatus::Tombstone.as_str())
            .bind(SyncStatus::Pending.as_str())
            .fetch_one(&self.pool)
            .await?;
        let pending_removal = removal_id.zip(removal_email);
        Ok(IdentityRoom {
            taken,
            pending_removal,
        })
    }

    /// The contact waits (still Pending, with `reason` shown) for the identity-side removal
    /// `removal_id` to complete, which makes it due at once; it is looked at again at
    /// `recheck_at` anyway (the removal may be cancelled by a re-add instead).
    pub async fn wait_for_removal(
        &self,
        contact_id: &str,
        owner: &str,
        removal_id: &str,
        reason: &str,
        recheck_at: Timestamp,
    ) -> Result<(), StoreError> {
        // A removal that completed since the room was counted has already woken its waiters,
        // not this one: then it is due again at once rather than at the recheck.
        sqlx::query(
            "UPDATE it_contacts SET status_detail = $1, waiting_for = $3, \
                 next_sync_at = CASE WHEN EXISTS (SELECT 1 FROM identity_removals \
                     WHERE id = $3 AND status IN ($6, $7)) THEN $2 ELSE 0 END, \
                 lease_owner = NULL, lease_until = NULL \
             WHERE id = $4 AND lease_owner = $5 AND status = $8",
        )
        .bind(reason)
        .bind(recheck_at.unix_millis())
        .bind(removal_id)
        .bind(contact_id)
        .bind(owner)
        .bind(RemovalStatus::Pending.as_str())
        .bind(RemovalStatus::Tombstone.as_str())
        .bind(SyncStatus::Pending.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Claims up to `limit` contacts due for registration, for `lease_ms`, and returns those
    /// this claim took (an owner may claim again while it works on what it took before).
    pub async fn claim_due_contacts(
        &self,
        owner: &str,
        now: Timestamp,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<SyncJob>, StoreError> {
        let mut tx = self.begin().await?;
        let lease = Lease::held(owner, now.plus_millis(lease_ms));
        let claim = lease::ClaimSql {
            set: "",
            due: "next_sync_at <= $3",
            still: "next_sync_at IS NOT NULL",
            order_by: "next_sync_at",
            returning: "id",
        };
        let claimed: Vec<(String,)> = lease::CONTACTS
            .claim(&claim, &lease, now, limit)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        // Everything this claim took, in one query per ID_CHUNK ids.
        let mut jobs = Vec::with_capacity(claimed.len());
        for chunk in claimed.chunks(ID_CHUNK) {
            let sql = batch::statement(
                "SELECT c.id AS contact_id, c.org_id, c.email, o.identity_org_id, c.sync_attempts, \
                   CASE WHEN EXISTS (SELECT 1 FROM identity_removals r \
                                     WHERE r.org_id = c.org_id AND r.status IN ($2, $3)) \
                        THEN 1 ELSE 0 END AS removal_pending \
                 FROM it_contacts c JOIN organisations o ON o.id = c.org_id \
                 WHERE c.lease_owner = $1 AND c.id IN (",
                "?",
                chunk.len(),
                3,
                ") ORDER BY c.next_sync_at",
            );
            let mut query = sqlx::query_as(sql)
                .bind(owner)
                .bind(RemovalStatus::Pending.as_str())
                .bind(RemovalStatus::Tombstone.as_str());
            for (id,) in chunk {
                query = query.bind(id.as_str());
            }
            jobs.extend(query.fetch_all(&self.pool).await?);
        }
        Ok(jobs)
    }

    /// Extends to `until` every lease `owner` holds: on contacts being registered, removals
    /// being made, metadata URLs being fetched, reminders and welcomes being sent. The
    /// heartbeat of a live worker; returns how many rows it holds. A worker that stops renewing
    /// (killed, stalled) loses its rows when the lease runs out.
    pub async fn renew_leases(&self, owner: &str, until: Timestamp) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let mut held = 0;
        for (queue, in_work) in lease::PASS_QUEUES {
            let sql = queue.renew_sql(in_work);
            let mut query = sqlx::query(AssertSqlSafe(sql))
                .bind(until.unix_millis())
                .bind(owner);
            if matches!(in_work, lease::InWork::Sending) {
                query = query.bind(ReminderStatus::Sending.as_str());
            }
            held += query.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(held)
    }

    /// Gives up every lease `owner` still holds (a pass that ends without an outcome for some
    /// rows, or a worker shutting down): the rows are free for the next worker at once.
    pub async fn release_leases(&self, owner: &str) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let mut released = 0;
        for (queue, in_work) in lease::PASS_QUEUES {
            let sql = queue.release_all_sql(in_work);
            let mut query = sqlx::query(AssertSqlSafe(sql)).bind(owner);
            if matches!(in_work, lease::InWork::Sending) {
                query = query.bind(ReminderStatus::Sending.as_str());
            }
            released += query.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(released)
    }

    /// The contact is registered: the green Synced badge. False when the contact is gone
    /// (removed while its registration was under way) or no longer held by `owner`. One
    /// registration recorded as the sync records its batches ([`crate::synced::record`]), for
    /// tests and tools that play a worker.
    pub async fn mark_synced(
        &self,
        contact_id: &str,
        owner: &str,
        identity_contact_id: &str,
        adopted: bool,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let registered = crate::synced::Registered {
            contact_id: contact_id.to_owned(),
            identity_contact_id: identity_contact_id.to_owned(),
            adopted,
        };
        let recorded = crate::synced::record(&mut tx, owner, &[registered], now).await?;
        tx.commit().await?;
        Ok(recorded[0].is_synced())
    }

    /// A passing failure: stays pending with the reason shown, tried again at `next_at`.
    pub async fn retry_sync_later(
        &self,
        contact_id: &str,
        owner: &str,
        reason: &str,
        count_attempt: bool,
        next_at: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE it_contacts SET status_detail = $1, next_sync_at = $2, sync_attempts = sync_attempts + $3, \
                 lease_owner = NULL, lease_until = NULL, waiting_for = NULL \
             WHERE id = $4 AND lease_owner = $5 AND status = $6",
        )
        .bind(reason)
        .bind(next_at.unix_millis())
        .bind(i64::from(count_attempt))
        .bind(contact_id)
        .bind(owner)
        .bind(SyncStatus::Pending.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A permanent failure: the contact shows "Sync failed" with the reason.
    pub async fn mark_sync_failed(
        &self,
        contact_id: &str,
        owner: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE it_contacts SET status = $4, status_detail = $1, next_sync_at = NULL, \
                 sync_attempts = sync_attempts + 1, lease_owner = NULL, lease_until = NULL, waiting_for = NULL \
             WHERE id = $2 AND lease_owner = $3 AND status = $5",
        )
        .bind(reason)
        .bind(contact_id)
        .bind(owner)
        .bind(SyncStatus::Failed.as_str())
        .bind(SyncStatus::Pending.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            let (org_id, email): (String, String) =
                sqlx::query_as("SELECT org_id, email FROM it_contacts WHERE id = $1")
                    .bind(contact_id)
                    .fetch_one(&mut *tx)
                    .await?;
            audit::record(
                &mut tx,
                AuditEntry {
                    org_id: OrgId::parse(&org_id).as_ref(),
                    at: now,
                    actor: AuditActor::System,
                    target: Some(contact_id),
                    details: AuditDetails::ItContactSyncFailed(ContactReason {
                        email,
                        reason: reason.to_owned(),
                    }),
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A registration finished after its contact was removed (by the worker that sent it, or
    /// by one that took over its tombstone): unless the address is a contact again (the new
    /// contact will adopt the registration), queue its removal so nothing is left behind on
    /// the identity side. The contact's tombstone, if it left one, becomes that removal, or is
    /// closed when none is needed.
    pub async fn flag_orphaned_registration(
        &self,
        job: &SyncJob,
        identity_contact_id: &str,
        automatic: bool,
        now: Timestamp,
    ) -> Result<Option<RemovalId>, StoreError> {
        let email = EmailAddress::parse(&job.email).map_err(|_| StoreError::NotFound)?;
        let mut tx = self.begin().await?;
        let again: Option<(String,)> =
            sqlx::query_as("SELECT id FROM it_contacts WHERE org_id = $1 AND email_key = $2")
                .bind(&job.org_id)
                .bind(email.key())
                .fetch_optional(&mut *tx)
                .await?;
        // The identity side holds an address once: a removal already pending for it removes
        // this registration too.
        let pending: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM identity_removals WHERE org_id = $1 AND email_key = $2 AND status = $3",
        )
        .bind(&job.org_id)
        .bind(email.key())
        .bind(RemovalStatus::Pending.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if again.is_some() || pending.is_some() {
            let outcome = if again.is_some() {
                RemovalOutcome::AdoptedByReadd
            } else {
                RemovalOutcome::Superseded
            };
            let closed = close_tombstones_of(&mut tx, &job.contact_id, outcome, now).await?;
            tx.commit().await?;
            if closed > 0 {
                tracing::info!(contact = %job.contact_id, outcome = outcome.as_str(), "tombstone closed");
            }
            return Ok(None);
        }
        let Some(id) =
            queue_orphan_removal(&mut tx, job, &email, identity_contact_id, automatic, now).await?
        else {
            return Ok(None);
        };
        audit::record(
            &mut tx,
            AuditEntry {
                org_id: OrgId::parse(&job.org_id).as_ref(),
                at: now,
                actor: AuditActor::System,
                target: Some(id.as_str()),
                details: AuditDetails::IdentityRemovalFlagged(RemovalFlagged {
                    contact_id: job.contact_id.clone(),
                    email: email.to_string(),
                    identity_contact_id: identity_contact_id.to_owned(),
                    reason: "registered after the contact was removed".to_owned(),
                }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// A tombstone whose registration turned out not to exist on the identity side (refused
    /// there, or the organisation no longer linked): closed, and the registrations that waited
    /// for its place are due at once.
    pub async fn close_tombstone(
        &self,
        id: &RemovalId,
        outcome: RemovalOutcome,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let closed: Option<(String,)> = sqlx::query_as(
            "UPDATE identity_removals SET status = $4, outcome = $1, completed_at = $2, \
                 completed_by = 'system', next_attempt_at = NULL, lease_owner = NULL, lease_until = NULL \
             WHERE id = $3 AND status = $5 RETURNING org_id",
        )
        .bind(outcome.as_str())
        .bind(now.unix_millis())
        .bind(id.as_str())
        .bind(RemovalStatus::Cancelled.as_str())
        .bind(RemovalStatus::Tombstone.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((org_id,)) = &closed {
            crate::removals::wake_waiting(&mut tx, org_id, now).await?;
        }
        tx.commit().await?;
        Ok(closed.is_some())
    }

    /// Contacts registered here (synced), for the drift check: (contact id, e-mail,
    /// identity-side id).
    pub async fn synced_contacts(
        &self,
        org_id: &OrgId,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, email, identity_contact_id FROM it_contacts \
             WHERE org_id = $1 AND status = $2 ORDER BY id",
        )
        .bind(org_id.as_str())
        .bind(SyncStatus::Synced.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Organisations linked to the identity side: (id, name, identity org id).
    pub async fn linked_orgs(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, name, identity_org_id FROM organisations WHERE identity_org_id IS NOT NULL ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Contacts whose registration failed for good, across organisations, for the ops pages.
    pub async fn failed_contacts(
        &self,
    ) -> Result<Vec<(String, String, String, Option<String>)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, org_id, email, status_detail FROM it_contacts WHERE status = $1 ORDER BY id",
        )
        .bind(SyncStatus::Failed.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    /// After an organisation is linked, its waiting contacts are due at once.
    pub async fn wake_pending_contacts(
        &self,
        org_id: &OrgId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE it_contacts SET next_sync_at = $1 WHERE org_id = $2 AND status = $3")
            .bind(now.unix_millis())
            .bind(org_id.as_str())
            .bind(SyncStatus::Pending.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Closes the tombstones `contact_id` left (see [`Store::close_tombstone`]).
async fn close_tombstones_of(
    tx: &mut sqlx::AnyConnection,
    contact_id: &str,
    outcome: RemovalOutcome,
    now: Timestamp,
) -> Result<u64, StoreError> {
    let closed: Vec<(String,)> = sqlx::query_as(
        "UPDATE identity_removals SET status = $4, outcome = $1, completed_at = $2, \
             completed_by = 'system', next_attempt_at = NULL, lease_owner = NULL, lease_until = NULL \
         WHERE contact_id = $3 AND status = $5 RETURNING org_id",
    )
    .bind(outcome.as_str())
    .bind(now.unix_millis())
    .bind(contact_id)
    .bind(RemovalStatus::Cancelled.as_str())
    .bind(RemovalStatus::Tombstone.as_str())
    .fetch_all(&mut *tx)
    .await?;
    if let Some((org_id,)) = closed.first() {
        crate::removals::wake_waiting(tx, org_id, now).await?;
    }
    Ok(closed.len() as u64)
}

/// The removal of a registration that finished after its contact was removed: the contact's
/// tombstone becomes it, or a new one is queued. `None` when another worker queued it first.
async fn queue_orphan_removal(
    tx: &mut sqlx::AnyConnection,
    job: &SyncJob,
    email: &EmailAddress,
    identity_contact_id: &str,
    automatic: bool,
    now: Timestamp,
) -> Result<Option<RemovalId>, StoreError> {
    let tombstone: Option<(String,)> = sqlx::query_as(
        "UPDATE identity_removals SET status = $5, identity_contact_id = $1, automatic = $2, \
             next_attempt_at = $3, lease_owner = NULL, lease_until = NULL \
         WHERE contact_id = $4 AND status = $6 RETURNING id",
    )
    .bind(identity_contact_id)
    .bind(i64::from(automatic))
    .bind(automatic.then_some(now.unix_millis()))
    .bind(&job.contact_id)
    .bind(RemovalStatus::Pending.as_str())
    .bind(RemovalStatus::Tombstone.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((id,)) = tombstone {
        return Ok(Some(RemovalId::parse(&id).ok_or(StoreError::NotFound)?));
    }
    let id = RemovalId::generate();
    let inserted = sqlx::query(
        "INSERT INTO identity_removals (id, org_id, contact_id, email, email_key, identity_org_id, \
             identity_contact_id, status, requested_at, requested_by, automatic, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $11, $8, $12, $9, $10) ON CONFLICT DO NOTHING",
    )
    .bind(id.as_str())
    .bind(&job.org_id)
    .bind(&job.contact_id)
    .bind(email.as_str())
    .bind(email.key())
    .bind(&job.identity_org_id)
    .bind(identity_contact_id)
    .bind(now.unix_millis())
    .bind(i64::from(automatic))
    .bind(automatic.then_some(now.unix_millis()))
    .bind(RemovalStatus::Pending.as_str())
    .bind(SystemActor::System.as_str())
    .execute(&mut *tx)
    .await?;
    Ok((inserted.rows_affected() > 0).then_some(id))
}
