//! What each IT contact has been told and has said (issue 16): the welcome, "not me / no longer
//! responsible", re-confirmation, and the test-alert rate limit. One `contact_trust` row per
//! contact, removed with the contact (foreign key, `ON DELETE CASCADE`).
//!
//! Every step that must happen once across instances is a conditional write whose
//! `rows_affected` says who won: the welcome row is inserted in the transaction that marks the
//! contact Synced (`crate::synced`) and taken for sending with a lease that its sender
//! renews while it works (`welcome_lease_owner`, see [`Store::renew_leases`]), so a sender
//! killed mid-send leaves the welcome to the next worker within one lease; a re-confirmation
//! request is a compare-and-set of `reconfirm_requested_at`; an administrator notice sets its
//! `..._notified_at` only where it was not set for the current flag.

mod welcome;

pub use welcome::{WELCOME_BUDGET_MS, return_unsent_welcome};

use crate::batch::{self, placeholders};
use crate::{Store, StoreError};
use smartcore_domain::{DeliveryStatus, ReminderNotice, ReminderStatus, SsoStatus, SyncStatus};
use smartcore_domain::{OrgId, Timestamp};
use sqlx::{AnyConnection, Row};

/// The trust state of one contact (absent fields: never happened).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct TrustRecord {
    pub contact_id: String,
    pub welcome_sent_at: Option<i64>,
    pub not_responsible_at: Option<i64>,
    pub confirmed_at: Option<i64>,
    pub reconfirm_requested_at: Option<i64>,
    pub unconfirmed_notified_at: Option<i64>,
    pub test_alert_at: Option<i64>,
    pub test_alert_status: Option<DeliveryStatus>,
    pub test_alert_error: Option<String>,
}

impl<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> for TrustRecord {
    fn from_row(row: &'r sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
        Ok(TrustRecord {
            contact_id: row.try_get("contact_id")?,
            welcome_sent_at: row.try_get("welcome_sent_at")?,
            not_responsible_at: row.try_get("not_responsible_at")?,
            confirmed_at: row.try_get("confirmed_at")?,
            reconfirm_requested_at: row.try_get("reconfirm_requested_at")?,
            unconfirmed_notified_at: row.try_get("unconfirmed_notified_at")?,
            test_alert_at: row.try_get("test_alert_at")?,
            test_alert_status: crate::column::optional(row, "test_alert_status")?,
            test_alert_error: row.try_get("test_alert_error")?,
        })
    }
}

/// A contact to write to (welcome or re-confirmation request).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TrustMailJob {
    pub contact_id: String,
    pub org_id: String,
    pub org_name: String,
    pub email: String,
    pub name: Option<String>,
    /// Who added the contact (user name, or the address when it has none).
    pub added_by: String,
    /// The `reconfirm_requested_at` value the job was taken against (compare-and-set).
    pub previous_request: Option<i64>,
}

/// An administrator of an organisation, to be told about a contact.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AdminRecipient {
    pub email: String,
    pub name: String,
}

/// A contact whose re-confirmation went unanswered, not yet reported to the administrators.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UnconfirmedContact {
    pub contact_id: String,
    pub org_id: String,
    pub org_name: String,
    pub email: String,
    pub requested_at: i64,
}

/// A reminder recorded for one of an organisation's certificates, for the preview.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReminderState {
    pub fingerprint_sha256: String,
    pub threshold: String,
    pub contact_id: String,
    pub email: String,
    /// Queued, sending, sent, failed (retried) or rejected.
    #[sqlx(try_from = "String")]
    pub status: ReminderStatus,
    pub sent_at: Option<i64>,
}

impl Store {
    /// The trust state of an organisation's contacts (only those that have any).
    pub async fn contact_trust(&self, org_id: &OrgId) -> Result<Vec<TrustRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT contact_id, welcome_sent_at, not_responsible_at, confirmed_at, \
               reconfirm_requested_at, unconfirmed_notified_at, \
               test_alert_at, test_alert_status, test_alert_error \
             FROM contact_trust WHERE org_id = $1",
        )
        .bind(org_id.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    /// The contact says they are not (or no longer) responsible. Returns true the first time
    /// (the time is kept; repeating changes nothing).
    pub async fn flag_not_responsible(
        &self,
        org_id: &OrgId,
        contact_id: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        ensure_row(&mut tx, org_id, contact_id).await?;
        let done = sqlx::query(
            "UPDATE contact_trust SET not_responsible_at = $1, not_responsible_notified_at = NULL \
             WHERE contact_id = $2 AND not_responsible_at IS NULL",
        )
        .bind(now.unix_millis())
        .bind(contact_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Takes the one administrator notice of a "not me" flag: true for exactly one caller.
    pub async fn take_not_responsible_notice(
        &self,
        contact_id: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE contact_trust SET not_responsible_notified_at = $1 \
             WHERE contact_id = $2 AND not_responsible_at IS NOT NULL AND not_responsible_notified_at IS NULL",
        )
        .bind(now.unix_millis())
        .bind(contact_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// An administrator keeps the contact: the "not me" flag is cleared.
    pub async fn clear_not_responsible(
        &self,
        org_id: &OrgId,
        contact_id: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE contact_trust SET not_responsible_at = NULL, not_responsible_notified_at = NULL \
             WHERE contact_id = $1 AND org_id = $2 AND not_responsible_at IS NOT NULL",
        )
        .bind(contact_id)
        .bind(org_id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// "Yes, I am still the right person": the confirmation time (repeating keeps the first of
    /// an open request). Returns the confirmation time now recorded.
    pub async fn confirm_contact(
        &self,
        org_id: &OrgId,
        contact_id: &str,
        now: Timestamp,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin().await?;
        ensure_row(&mut tx, org_id, contact_id).await?;
        // Confirmed already since the last request: keep that time (a replay changes nothing).
        sqlx::query(
            "UPDATE contact_trust SET confirmed_at = $1, unconfirmed_notified_at = NULL \
             WHERE contact_id = $2 AND (confirmed_at IS NULL \
                OR (reconfirm_requested_at IS NOT NULL AND confirmed_at < reconfirm_requested_at))",
        )
        .bind(now.unix_millis())
        .bind(contact_id)
        .execute(&mut *tx)
        .await?;
        let at: i64 = sqlx::query("SELECT confirmed_at FROM contact_trust WHERE contact_id = $1")
            .bind(contact_id)
            .fetch_one(&mut *tx)
            .await?
            .get(0);
        refresh_reconfirm_from(&mut tx, contact_id).await?;
        tx.commit().await?;
        Ok(at)
    }

    /// Synced contacts due for "are you still the right person?": their last confirmation (or,
    /// never confirmed, their registration) is older than `period_ms`, and no request is open.
    /// Read through the index on `it_contacts.reconfirm_from` (migration 0023): the cost grows
    /// with the contacts due, not with all of them. They are taken in one transaction by
    /// clearing `reconfirm_from` where it is still due (so one worker takes each) and recording
    /// the request.
    pub async fn take_reconfirmations(
        &self,
        now: Timestamp,
        period_ms: i64,
        limit: i64,
    ) -> Result<Vec<TrustMailJob>, StoreError> {
        let before = now.unix_millis() - period_ms;
        // The conditions besides the index are what reconfirm_from stands for, checked again
        // on the rows the index gives (a guard that costs nothing per contact not due).
        let candidates: Vec<(String,)> = sqlx::query_as(
            "SELECT c.id FROM it_contacts c LEFT JOIN contact_trust t ON t.contact_id = c.id \
             WHERE c.reconfirm_from IS NOT NULL AND c.reconfirm_from <= $1 AND c.status = $3 \
               AND NOT (t.reconfirm_requested_at IS NOT NULL \
                        AND (t.confirmed_at IS NULL OR t.confirmed_at < t.reconfirm_requested_at)) \
             ORDER BY c.reconfirm_from LIMIT $2",
        )
        .bind(before)
        .bind(limit)
        .bind(SyncStatus::Synced.as_str())
        .fetch_all(&self.pool)
        .await?;
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let mut taken: Vec<(String, String)> = Vec::with_capacity(candidates.len());
        let mut tx = self.begin().await?;
        for chunk in candidates.chunks(ID_CHUNK) {
            let ids = placeholders(2, chunk.len());
            let sql = format!(
                "UPDATE it_contacts SET reconfirm_from = NULL \
                 WHERE id IN ({ids}) AND reconfirm_from IS NOT NULL AND reconfirm_from <= $1 \
                 RETURNING id, org_id"
            );
            let mut claim = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(before);
            for (id,) in chunk {
                claim = claim.bind(id);
            }
            let claimed: Vec<(String, String)> = claim.fetch_all(&mut *tx).await?;
            if claimed.is_empty() {
                continue;
            }
            let sql = batch::statement(
                "INSERT INTO contact_trust (contact_id, org_id, reconfirm_requested_at) VALUES ",
                "(?, ?, $1)",
                claimed.len(),
                1,
                " ON CONFLICT (contact_id) DO UPDATE SET reconfirm_requested_at = excluded.reconfirm_requested_at",
            );
            let mut request = sqlx::query(sql).bind(now.unix_millis());
            for (id, org_id) in &claimed {
                request = request.bind(id).bind(org_id);
            }
            request.execute(&mut *tx).await?;
            taken.extend(claimed);
        }
        tx.commit().await?;
        // PostgreSQL keeps an index entry for each row just claimed until vacuum, and the next
        // read of the range visits each one's dead row version before marking it dead: 6 ms
        // for 10,000, paid by the pass that finds nothing due. Reading the range once more now,
        // in the pass that made them, marks them (an index scan does so for versions no
        // snapshot can see any more); it stops at the first contact still due. On SQLite,
        // which updates in place, it is one cheap look at the index.
        sqlx::query(
            "SELECT id FROM it_contacts WHERE reconfirm_from IS NOT NULL \
             AND reconfirm_from <= $1 ORDER BY reconfirm_from LIMIT 1",
        )
        .bind(before)
        .fetch_optional(&self.pool)
        .await?;
        let mut jobs = Vec::with_capacity(taken.len());
        for chunk in taken.chunks(ID_CHUNK) {
            jobs.extend(
                self.mail_jobs(chunk.iter().map(|(id, _)| id.as_str()))
                    .await?,
            );
        }
        Ok(jobs)
    }

    /// The mail jobs of `contact_ids` (those that still exist), in one query.
    async fn mail_jobs<'a>(
        &self,
        contact_ids: impl ExactSizeIterator<Item = &'a str>,
    ) -> Result<Vec<TrustMailJob>, StoreError> {
        let sql = format!(
            "SELECT c.id AS contact_id, c.org_id, o.name AS org_name, c.email, c.name, \
               COALESCE(u.name, u.email, 'an administrator') AS added_by, \
               t.reconfirm_requested_at AS previous_request \
             FROM it_contacts c JOIN organisations o ON o.id = c.org_id \
             LEFT JOIN users u ON u.id = c.created_by \
             LEFT JOIN contact_trust t ON t.contact_id = c.id \
             WHERE c.id IN ({}) ORDER BY c.id",
            placeholders(1, contact_ids.len())
        );
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for id in contact_ids {
            query = query.bind(id);
        }
        Ok(query.fetch_all(&self.pool).await?)
    }

    /// Contacts whose last request is older than `overdue_ms` without an answer, and whose
    /// administrators were not told yet; each is marked told here (so once, across instances).
    pub async fn take_unconfirmed(
        &self,
        now: Timestamp,
        overdue_ms: i64,
        limit: i64,
    ) -> Result<Vec<UnconfirmedContact>, StoreError> {
        let candidates: Vec<UnconfirmedContact> = sqlx::query_as(
            "SELECT c.id AS contact_id, c.org_id, o.name AS org_name, c.email, \
               t.reconfirm_requested_at AS requested_at \
             FROM contact_trust t JOIN it_contacts c ON c.id = t.contact_id \
             JOIN organisations o ON o.id = c.org_id \
             WHERE t.reconfirm_requested_at IS NOT NULL AND t.reconfirm_requested_at <= $1 \
               AND (t.confirmed_at IS NULL OR t.confirmed_at < t.reconfirm_requested_at) \
               AND (t.unconfirmed_notified_at IS NULL OR t.unconfirmed_notified_at < t.reconfirm_requested_at) \
             ORDER BY t.reconfirm_requested_at LIMIT $2",
        )
        .bind(now.unix_millis() - overdue_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut taken = Vec::new();
        for c in candidates {
            let done = sqlx::query(
                "UPDATE contact_trust SET unconfirmed_notified_at = $1 WHERE contact_id = $2 \
                 AND (unconfirmed_notified_at IS NULL OR unconfirmed_notified_at < reconfirm_requested_at)",
            )
            .bind(now.unix_millis())
            .bind(&c.contact_id)
            .execute(&self.pool)
            .await?;
            if done.rows_affected() == 1 {
                taken.push(c);
            }
        }
        Ok(taken)
    }

    /// The organisation's watched certificates (current configuration, reminders on), as the
    /// sweep reads them, with their `next_due_at`, soonest to expire first.
    pub async fn watched_certificates(
        &self,
        org_id: &str,
    ) -> Result<Vec<crate::DueCertificate>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT c.org_id, o.name AS org_name, c.fingerprint_sha256, c.subject, c.not_after, c.next_due_at \
             FROM sso_certificates c JOIN organisations o ON o.id = c.org_id \
             WHERE c.org_id = $1 AND c.replaced_at IS NULL AND o.sso_status <> $2 \
             ORDER BY c.not_after, c.fingerprint_sha256",
        )
        .bind(org_id)
        .bind(SsoStatus::NotConfigured.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    /// The reminders recorded for an organisation's certificates (not the renewed notices).
    pub async fn reminder_states(&self, org_id: &str) -> Result<Vec<ReminderState>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT fingerprint_sha256, threshold, contact_id, email, status, sent_at \
             FROM certificate_reminders WHERE org_id = $1 AND threshold <> $2",
        )
        .bind(org_id)
        .bind(ReminderNotice::Renewed.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Keeps the last test alert's outcome on the contact.
    pub async fn record_test_alert(
        &self,
        org_id: &OrgId,
        contact_id: &str,
        at: Timestamp,
        status: DeliveryStatus,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        ensure_row(&mut tx, org_id, contact_id).await?;
        sqlx::query(
            "UPDATE contact_trust SET test_alert_at = $1, test_alert_status = $2, test_alert_error = $3 \
             WHERE contact_id = $4",
        )
        .bind(at.unix_millis())
        .bind(status.as_str())
        .bind(error)
        .bind(contact_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Contacts whose mail is being rejected and whose administrators were not told yet; each
    /// is marked told here (so once per run of rejections, across instances: an accepted
    /// message ends the run, and this pass then forgets that it told).
    pub async fn take_rejected(&self, limit: i64) -> Result<Vec<UnconfirmedContact>, StoreError> {
        sqlx::query(
            "UPDATE contact_trust SET rejection_notified_at = NULL WHERE rejection_notified_at IS NOT NULL \
             AND contact_id IN (SELECT id FROM it_contacts WHERE mail_rejected_at IS NULL)",
        )
        .execute(&self.pool)
        .await?;
        let candidates: Vec<UnconfirmedContact> = sqlx::query_as(
            "SELECT c.id AS contact_id, c.org_id, o.name AS org_name, c.email, \
               c.mail_rejected_at AS requested_at \
             FROM it_contacts c JOIN organisations o ON o.id = c.org_id \
             LEFT JOIN contact_trust t ON t.contact_id = c.id \
             WHERE c.mail_rejected_at IS NOT NULL \
               AND t.rejection_notified_at IS NULL \
             ORDER BY c.mail_rejected_at LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut taken = Vec::new();
        for c in candidates {
            let Some(org) = OrgId::parse(&c.org_id) else {
                continue;
            };
            let mut tx = self.begin().await?;
            ensure_row(&mut tx, &org, &c.contact_id).await?;
            let done = sqlx::query(
                "UPDATE contact_trust SET rejection_notified_at = $1 WHERE contact_id = $2 \
                 AND rejection_notified_at IS NULL",
            )
            .bind(c.requested_at)
            .bind(&c.contact_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            if done.rows_affected() == 1 {
                taken.push(c);
            }
        }
        Ok(taken)
    }

    /// The organisation's administrators, to be told about its contacts.
    pub async fn org_admins(&self, org_id: &str) -> Result<Vec<AdminRecipient>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT u.email, u.name FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.org_id = $1 AND m.role = 'admin' ORDER BY u.email_key",
        )
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// The contact's row, created when missing (a contact Synced by a re-add has none yet).
/// Ids bound per statement where a pass works on many contacts at once: well under both
/// databases' parameter limits (two parameters an id at most).
const ID_CHUNK: usize = 1_000;

/// Sets a Synced contact's `reconfirm_from` (migration 0023) from its trust record: NULL while a
/// request is open, else the last confirmation or the registration. Called in the transaction
/// that changed a confirmation or a request.
async fn refresh_reconfirm_from(
    conn: &mut AnyConnection,
    contact_id: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE it_contacts SET reconfirm_from = \
           CASE WHEN EXISTS (SELECT 1 FROM contact_trust t WHERE t.contact_id = it_contacts.id \
                               AND t.reconfirm_requested_at IS NOT NULL \
                               AND (t.confirmed_at IS NULL OR t.confirmed_at < t.reconfirm_requested_at)) \
                THEN NULL \
                ELSE COALESCE((SELECT t.confirmed_at FROM contact_trust t WHERE t.contact_id = it_contacts.id), \
                              it_contacts.synced_at, it_contacts.created_at) \
           END \
         WHERE id = $1 AND status = $2",
    )
    .bind(contact_id)
    .bind(SyncStatus::Synced.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

async fn ensure_row(
    conn: &mut AnyConnection,
    org_id: &OrgId,
    contact_id: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        // Only for a contact that still exists: one removed meanwhile has nothing to record
        // (its trust row went with it), rather than a foreign-key failure.
        "INSERT INTO contact_trust (contact_id, org_id) \
         SELECT $1, $2 WHERE EXISTS (SELECT 1 FROM it_contacts WHERE id = $1) \
         ON CONFLICT (contact_id) DO NOTHING",
    )
    .bind(contact_id)
    .bind(org_id.as_str())
    .execute(conn)
    .await?;
    Ok(())
}
