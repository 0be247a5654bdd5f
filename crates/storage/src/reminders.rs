//! Certificate-expiry reminders (D6): which certificates are due, and the at-most-once claim
//! of each (certificate, threshold, contact) reminder.

use crate::{Store, StoreError};
use smartcore_domain::Timestamp;

/// A certificate whose next reminder threshold has begun.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueCertificate {
    pub org_id: String,
    pub org_name: String,
    pub fingerprint_sha256: String,
    pub subject: String,
    pub not_after: i64,
}

/// A registered (synced) IT contact to remind.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReminderRecipient {
    pub contact_id: String,
    pub email: String,
    pub name: Option<String>,
}

impl Store {
    /// Certificates of configured or enabled organisations whose next threshold has begun.
    pub async fn due_certificates(
        &self,
        now: Timestamp,
        limit: i64,
    ) -> Result<Vec<DueCertificate>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT c.org_id, o.name AS org_name, c.fingerprint_sha256, c.subject, c.not_after \
             FROM sso_certificates c JOIN organisations o ON o.id = c.org_id \
             WHERE c.next_due_at <= $1 AND c.replaced_at IS NULL AND o.sso_status <> 'not_configured' \
             ORDER BY c.next_due_at LIMIT $2",
        )
        .bind(now.unix_millis())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// When the certificate's next reminder threshold begins (None: no more reminders).
    pub async fn set_certificate_next_due(
        &self,
        org_id: &str,
        fingerprint: &str,
        next_due_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE sso_certificates SET next_due_at = $1 WHERE org_id = $2 AND fingerprint_sha256 = $3")
            .bind(next_due_at.map(Timestamp::unix_millis))
            .bind(org_id)
            .bind(fingerprint)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The organisation's registered IT contacts: they receive the alerts (R6, R9).
    pub async fn reminder_recipients(
        &self,
        org_id: &str,
    ) -> Result<Vec<ReminderRecipient>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id AS contact_id, email, name FROM it_contacts WHERE org_id = $1 AND status = 'synced' ORDER BY id",
        )
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Claims one reminder for sending. True when this caller may send it: it was never
    /// claimed, its last send failed, or a claim older than `stale_before` was abandoned (a
    /// process that died mid-send). False when it was sent or is being sent elsewhere.
    pub async fn claim_reminder(
        &self,
        cert: &DueCertificate,
        threshold: &str,
        recipient: &ReminderRecipient,
        now: Timestamp,
        stale_before: Timestamp,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO certificate_reminders (fingerprint_sha256, threshold, contact_id, org_id, email, status, claimed_at) \
             VALUES ($1, $2, $3, $4, $5, 'sending', $6) \
             ON CONFLICT (fingerprint_sha256, threshold, contact_id) DO UPDATE \
                 SET status = 'sending', claimed_at = excluded.claimed_at, attempts = certificate_reminders.attempts + 1 \
                 WHERE certificate_reminders.status = 'failed' \
                    OR (certificate_reminders.status = 'sending' AND certificate_reminders.claimed_at < $7)",
        )
        .bind(&cert.fingerprint_sha256)
        .bind(threshold)
        .bind(&recipient.contact_id)
        .bind(&cert.org_id)
        .bind(&recipient.email)
        .bind(now.unix_millis())
        .bind(stale_before.unix_millis())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records the outcome of a claimed reminder.
    pub async fn finish_reminder(
        &self,
        fingerprint: &str,
        threshold: &str,
        contact_id: &str,
        outcome: Result<&str, &str>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (status, message_id, error) = match outcome {
            Ok(id) => ("sent", Some(id), None),
            Err(e) => ("failed", None, Some(e)),
        };
        sqlx::query(
            "UPDATE certificate_reminders SET status = $1, message_id = $2, last_error = $3, \
                 sent_at = CASE WHEN $1 = 'sent' THEN $4 ELSE sent_at END \
             WHERE fingerprint_sha256 = $5 AND threshold = $6 AND contact_id = $7",
        )
        .bind(status)
        .bind(message_id)
        .bind(error)
        .bind(now.unix_millis())
        .bind(fingerprint)
        .bind(threshold)
        .bind(contact_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Certificates of `org_id` replaced at `replaced_at` that had reminders sent: their IT
    /// contacts get one "renewed" notice (D6).
    pub async fn reminded_certificates_replaced_at(
        &self,
        org_id: &str,
        replaced_at: Timestamp,
    ) -> Result<Vec<DueCertificate>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT c.org_id, o.name AS org_name, c.fingerprint_sha256, c.subject, c.not_after \
             FROM sso_certificates c JOIN organisations o ON o.id = c.org_id \
             WHERE c.org_id = $1 AND c.replaced_at = $2 \
               AND EXISTS (SELECT 1 FROM certificate_reminders r \
                           WHERE r.fingerprint_sha256 = c.fingerprint_sha256 AND r.status = 'sent')",
        )
        .bind(org_id)
        .bind(replaced_at.unix_millis())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Reminders recorded for a certificate: (threshold, e-mail, status), for tests and the UI.
    pub async fn reminders_of(
        &self,
        fingerprint: &str,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT threshold, email, status FROM certificate_reminders WHERE fingerprint_sha256 = $1 \
             ORDER BY claimed_at, email",
        )
        .bind(fingerprint)
        .fetch_all(&self.pool)
        .await?)
    }
}
