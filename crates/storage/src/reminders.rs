//! Certificate-expiry reminders (D6): which certificates are due, and the at-most-once claim
//! of each (certificate, threshold, contact) reminder.

use crate::deliveries::{self, Delivery, DeliveryOutcome};
use crate::{Store, StoreError};
use smartcore_domain::Timestamp;

/// One (certificate, threshold, contact) reminder to claim.
#[derive(Debug, Clone)]
pub struct ReminderClaim {
    pub fingerprint_sha256: String,
    /// The threshold's key (`d60` … `d1`, `d0`, `w1` …) or `renewed`.
    pub threshold: String,
    pub contact_id: String,
    pub org_id: String,
    pub email: String,
}

/// What a claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This caller sends it now; `attempt` counts from 1.
    Claimed { attempt: i64 },
    /// Sent, or rejected for good, earlier: nothing more to do.
    Done,
    /// Being sent elsewhere, or waiting for its retry after a failed send.
    Waiting,
}

/// How a claimed reminder went.
#[derive(Debug, Clone)]
pub struct FinishedReminder {
    pub claim: ReminderClaim,
    /// The delivery attempt; None when the send was not attempted (the sweep stopped because
    /// the mail server kept failing), which leaves the reminder to be retried at `retry_at`.
    pub delivery: Option<Delivery>,
    /// When a failed or unattempted reminder may be claimed again.
    pub retry_at: Option<Timestamp>,
}

/// A certificate whose next reminder threshold has begun.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueCertificate {
    pub org_id: String,
    pub org_name: String,
    pub fingerprint_sha256: String,
    pub subject: String,
    pub not_after: i64,
    pub next_due_at: Option<i64>,
}

/// Where a sweep stands in the due certificates: the last one it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepPosition {
    next_due_at: i64,
    org_id: String,
    fingerprint_sha256: String,
}

impl DueCertificate {
    /// The sweep's position after this certificate.
    pub fn position(&self) -> SweepPosition {
        SweepPosition {
            next_due_at: self.next_due_at.unwrap_or_default(),
            org_id: self.org_id.clone(),
            fingerprint_sha256: self.fingerprint_sha256.clone(),
        }
    }

    /// This certificate's schedule moved to `next_due_at` (None: no more reminders).
    pub fn schedule(&self, next_due_at: Option<Timestamp>) -> (String, String, Option<Timestamp>) {
        (
            self.org_id.clone(),
            self.fingerprint_sha256.clone(),
            next_due_at,
        )
    }
}

/// A registered (synced) IT contact to remind.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReminderRecipient {
    pub contact_id: String,
    pub email: String,
    pub name: Option<String>,
}

impl Store {
    /// Certificates of configured or enabled organisations whose next threshold has begun, in
    /// the order of `next_due_at`, a page of `limit` after `after`. Paging by position (not by
    /// offset) steps over certificates a sweep leaves due (a retry waiting for its backoff).
    pub async fn due_certificates(
        &self,
        now: Timestamp,
        after: Option<&SweepPosition>,
        limit: i64,
    ) -> Result<Vec<DueCertificate>, StoreError> {
        macro_rules! due {
            ($after:literal) => {
                concat!(
                    "SELECT c.org_id, o.name AS org_name, c.fingerprint_sha256, c.subject, c.not_after, c.next_due_at \
                     FROM sso_certificates c JOIN organisations o ON o.id = c.org_id \
                     WHERE c.next_due_at <= $1 AND c.replaced_at IS NULL AND o.sso_status <> 'not_configured' ",
                    $after,
                    " ORDER BY c.next_due_at, c.org_id, c.fingerprint_sha256 LIMIT $2"
                )
            };
        }
        Ok(match after {
            None => {
                sqlx::query_as(due!(""))
                    .bind(now.unix_millis())
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
            Some(p) => {
                sqlx::query_as(due!(
                    "AND c.next_due_at >= $3 \
                     AND (c.next_due_at, c.org_id, c.fingerprint_sha256) > ($3, $4, $5)"
                ))
                .bind(now.unix_millis())
                .bind(limit)
                .bind(p.next_due_at)
                .bind(&p.org_id)
                .bind(&p.fingerprint_sha256)
                .fetch_all(&self.pool)
                .await?
            }
        })
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

    /// Claims reminders for sending, in one transaction, and says of each whether this caller
    /// may send it now: it was never claimed, its last send failed and its backoff has passed,
    /// or a claim older than `stale_before` was abandoned (a process that died mid-send).
    pub async fn claim_reminders(
        &self,
        claims: &[ReminderClaim],
        now: Timestamp,
        stale_before: Timestamp,
    ) -> Result<Vec<Claim>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut outcomes = Vec::with_capacity(claims.len());
        for c in claims {
            let attempt: Option<(i64,)> = sqlx::query_as(
                "INSERT INTO certificate_reminders (fingerprint_sha256, threshold, contact_id, org_id, email, status, claimed_at) \
                 VALUES ($1, $2, $3, $4, $5, 'sending', $6) \
                 ON CONFLICT (fingerprint_sha256, threshold, contact_id) DO UPDATE \
                     SET status = 'sending', claimed_at = excluded.claimed_at, attempts = certificate_reminders.attempts + 1 \
                     WHERE (certificate_reminders.status = 'failed' AND COALESCE(certificate_reminders.next_attempt_at, 0) <= excluded.claimed_at) \
                        OR (certificate_reminders.status = 'sending' AND certificate_reminders.claimed_at < $7) \
                 RETURNING attempts",
            )
            .bind(&c.fingerprint_sha256)
            .bind(&c.threshold)
            .bind(&c.contact_id)
            .bind(&c.org_id)
            .bind(&c.email)
            .bind(now.unix_millis())
            .bind(stale_before.unix_millis())
            .fetch_optional(&mut *tx)
            .await?;
            let outcome = match attempt {
                Some((attempt,)) => Claim::Claimed { attempt },
                None => {
                    let (status,): (String,) = sqlx::query_as(
                        "SELECT status FROM certificate_reminders \
                         WHERE fingerprint_sha256 = $1 AND threshold = $2 AND contact_id = $3",
                    )
                    .bind(&c.fingerprint_sha256)
                    .bind(&c.threshold)
                    .bind(&c.contact_id)
                    .fetch_one(&mut *tx)
                    .await?;
                    if status == "sent" || status == "rejected" {
                        Claim::Done
                    } else {
                        Claim::Waiting
                    }
                }
            };
            outcomes.push(outcome);
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    /// Records, in one transaction, how claimed reminders went (each with its delivery attempt,
    /// when one was made) and where each swept certificate's schedule now stands.
    pub async fn finish_reminders(
        &self,
        finished: &[FinishedReminder],
        schedules: &[(String, String, Option<Timestamp>)],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for f in finished {
            let (status, message_id, error, retry_at) = match &f.delivery {
                Some(d) => match &d.outcome {
                    DeliveryOutcome::Sent { message_id } => {
                        ("sent", Some(message_id.as_str()), None, None)
                    }
                    DeliveryOutcome::Deferred { error } => {
                        ("failed", None, Some(error.as_str()), f.retry_at)
                    }
                    DeliveryOutcome::Rejected { error } => {
                        ("rejected", None, Some(error.as_str()), None)
                    }
                },
                None => ("failed", None, None, f.retry_at),
            };
            sqlx::query(
                "UPDATE certificate_reminders SET status = $1, message_id = $2, last_error = COALESCE($3, last_error), \
                     next_attempt_at = $4, sent_at = CASE WHEN $1 = 'sent' THEN $5 ELSE sent_at END \
                 WHERE fingerprint_sha256 = $6 AND threshold = $7 AND contact_id = $8",
            )
            .bind(status)
            .bind(message_id)
            .bind(error)
            .bind(retry_at.map(Timestamp::unix_millis))
            .bind(f.delivery.as_ref().map(|d| d.at.unix_millis()))
            .bind(&f.claim.fingerprint_sha256)
            .bind(&f.claim.threshold)
            .bind(&f.claim.contact_id)
            .execute(&mut *tx)
            .await?;
            if let Some(d) = &f.delivery {
                deliveries::record(&mut tx, d).await?;
            }
        }
        for (org_id, fingerprint, next_due_at) in schedules {
            sqlx::query(
                "UPDATE sso_certificates SET next_due_at = $1 WHERE org_id = $2 AND fingerprint_sha256 = $3",
            )
            .bind(next_due_at.map(Timestamp::unix_millis))
            .bind(org_id)
            .bind(fingerprint)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
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
            "SELECT c.org_id, o.name AS org_name, c.fingerprint_sha256, c.subject, c.not_after, c.next_due_at \
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
