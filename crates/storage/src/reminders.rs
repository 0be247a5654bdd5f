//! Certificate-expiry reminders (D6): which certificates are due, who is reminded, and the
//! at-most-once claim of each (certificate, threshold, contact) reminder sent at once (the
//! "renewed" notice). The queue the sweep fills is in `reminder_queue`.

use crate::batch::{self, ROWS_PER_STATEMENT};
use crate::{Store, StoreError};
use smartcore_domain::Timestamp;
use smartcore_domain::{ReminderNotice, ReminderStatus, SsoStatus, SyncStatus};
use sqlx::AnyConnection;
use std::collections::{HashMap, HashSet};

/// Where a certificate's reminder schedule moves on to: when its next threshold begins.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScheduleMove {
    pub org_id: String,
    pub fingerprint_sha256: String,
    pub next_due_at: Timestamp,
}

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

/// (fingerprint, threshold, contact): what identifies a reminder.
pub(crate) type ClaimKey<'a> = (&'a str, &'a str, &'a str);

impl ReminderClaim {
    pub(crate) fn key(&self) -> ClaimKey<'_> {
        (&self.fingerprint_sha256, &self.threshold, &self.contact_id)
    }

    /// Binds this claim's row of an insert into `certificate_reminders`: fingerprint,
    /// threshold, contact, organisation and address, in that order.
    pub(crate) fn bind_row<'q, O>(
        &'q self,
        q: sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments>,
    ) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments> {
        q.bind(&self.fingerprint_sha256)
            .bind(&self.threshold)
            .bind(&self.contact_id)
            .bind(&self.org_id)
            .bind(&self.email)
    }
}

/// What a claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This caller took it: to send now (`attempt` counts from 1), or, when queueing, queued it
    /// now (`attempt` 0: delivery counts the sends).
    Claimed { attempt: i64 },
    /// Sent, rejected for good or cancelled earlier: nothing more to do.
    Done,
    /// Queued, being sent elsewhere, or waiting for its retry after a failed send.
    Waiting,
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

    /// This certificate's schedule moved on to `next_due_at`.
    pub fn schedule(&self, next_due_at: Timestamp) -> ScheduleMove {
        ScheduleMove {
            org_id: self.org_id.clone(),
            fingerprint_sha256: self.fingerprint_sha256.clone(),
            next_due_at,
        }
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
                     WHERE c.next_due_at <= $1 AND c.replaced_at IS NULL AND o.sso_status <> $3 ",
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
                    .bind(SsoStatus::NotConfigured.as_str())
                    .fetch_all(&self.pool)
                    .await?
            }
            Some(p) => {
                sqlx::query_as(due!(
                    "AND c.next_due_at >= $4 \
                     AND (c.next_due_at, c.org_id, c.fingerprint_sha256) > ($4, $5, $6)"
                ))
                .bind(now.unix_millis())
                .bind(limit)
                .bind(SsoStatus::NotConfigured.as_str())
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
            "SELECT id AS contact_id, email, name FROM it_contacts WHERE org_id = $1 AND status = $2 ORDER BY id",
        )
        .bind(org_id)
        .bind(SyncStatus::Synced.as_str())
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
        let (order, index) = in_key_order(claims);
        let mut attempts: Vec<Option<i64>> = vec![None; claims.len()];
        let mut tx = self.begin().await?;
        for chunk in order.chunks(ROWS_PER_STATEMENT) {
            let sql = batch::statement(
                "INSERT INTO certificate_reminders (fingerprint_sha256, threshold, contact_id, org_id, email, status, claimed_at) VALUES ",
                "(?, ?, ?, ?, ?, $3, $1)",
                chunk.len(),
                4,
                " ON CONFLICT (fingerprint_sha256, threshold, contact_id) DO UPDATE \
                     SET status = $3, claimed_at = excluded.claimed_at, attempts = certificate_reminders.attempts + 1 \
                     WHERE (certificate_reminders.status = $4 AND COALESCE(certificate_reminders.next_attempt_at, 0) <= excluded.claimed_at) \
                        OR (certificate_reminders.status = $3 AND certificate_reminders.claimed_at < $2) \
                 RETURNING fingerprint_sha256, threshold, contact_id, attempts",
            );
            let mut q = sqlx::query_as::<_, (String, String, String, i64)>(sql)
                .bind(now.unix_millis())
                .bind(stale_before.unix_millis())
                .bind(ReminderStatus::Sending.as_str())
                .bind(ReminderStatus::Failed.as_str());
            for &i in chunk {
                q = claims[i].bind_row(q);
            }
            for (fingerprint, threshold, contact, attempt) in q.fetch_all(&mut *tx).await? {
                if let Some(&i) = index.get(&(&*fingerprint, &*threshold, &*contact)) {
                    attempts[i] = Some(attempt);
                }
            }
        }
        let outcomes = claim_outcomes(&mut tx, claims, attempts).await?;
        tx.commit().await?;
        Ok(outcomes)
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
                           WHERE r.fingerprint_sha256 = c.fingerprint_sha256 AND r.status = $3)",
        )
        .bind(org_id)
        .bind(replaced_at.unix_millis())
        .bind(ReminderStatus::Sent.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Current (not replaced) certificates of `org_id` about which a reminder, and so a calendar
    /// event, was sent to `contact_id`: when the contact is removed, each event is cancelled.
    pub async fn reminded_certificates_of_contact(
        &self,
        org_id: &str,
        contact_id: &str,
    ) -> Result<Vec<DueCertificate>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT c.org_id, o.name AS org_name, c.fingerprint_sha256, c.subject, c.not_after, c.next_due_at \
             FROM sso_certificates c JOIN organisations o ON o.id = c.org_id \
             WHERE c.org_id = $1 AND c.replaced_at IS NULL \
               AND EXISTS (SELECT 1 FROM certificate_reminders r \
                           WHERE r.fingerprint_sha256 = c.fingerprint_sha256 AND r.org_id = $1 \
                             AND r.contact_id = $2 AND r.status = $3 AND r.threshold <> $4) \
             ORDER BY c.fingerprint_sha256",
        )
        .bind(org_id)
        .bind(contact_id)
        .bind(ReminderStatus::Sent.as_str())
        .bind(ReminderNotice::Renewed.as_str())
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

/// The claims' positions in key order (claimed in that order, two instances claiming
/// overlapping pages at once take their row locks in the same order: no deadlock on
/// PostgreSQL), and each claim's position by key.
pub(crate) fn in_key_order(claims: &[ReminderClaim]) -> (Vec<usize>, HashMap<ClaimKey<'_>, usize>) {
    let mut order: Vec<usize> = (0..claims.len()).collect();
    order.sort_by(|&a, &b| claims[a].key().cmp(&claims[b].key()));
    let index = claims
        .iter()
        .enumerate()
        .map(|(i, c)| (c.key(), i))
        .collect();
    (order, index)
}

/// What became of each claim: `claimed[i]` holds the attempt of those this caller took; of the
/// others, those sent, rejected or cancelled before are done, the rest are being sent
/// elsewhere or wait for their retry.
pub(crate) async fn claim_outcomes(
    conn: &mut AnyConnection,
    claims: &[ReminderClaim],
    claimed: Vec<Option<i64>>,
) -> Result<Vec<Claim>, StoreError> {
    let rest: Vec<&ReminderClaim> = claims
        .iter()
        .zip(&claimed)
        .filter(|(_, a)| a.is_none())
        .map(|(c, _)| c)
        .collect();
    let mut done = HashSet::new();
    for chunk in rest.chunks(ROWS_PER_STATEMENT) {
        let sql = batch::statement(
            "SELECT fingerprint_sha256, threshold, contact_id FROM certificate_reminders \
             WHERE status IN ($1, $2, $3) AND (fingerprint_sha256, threshold, contact_id) IN (VALUES ",
            "(?, ?, ?)",
            chunk.len(),
            3,
            ")",
        );
        let mut q = sqlx::query_as::<_, (String, String, String)>(sql)
            .bind(ReminderStatus::Sent.as_str())
            .bind(ReminderStatus::Rejected.as_str())
            .bind(ReminderStatus::Cancelled.as_str());
        for c in chunk {
            q = q
                .bind(&c.fingerprint_sha256)
                .bind(&c.threshold)
                .bind(&c.contact_id);
        }
        done.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(claims
        .iter()
        .zip(claimed)
        .map(|(c, claimed)| match claimed {
            Some(attempt) => Claim::Claimed { attempt },
            None if done.contains(&(
                c.fingerprint_sha256.clone(),
                c.threshold.clone(),
                c.contact_id.clone(),
            )) =>
            {
                Claim::Done
            }
            None => Claim::Waiting,
        })
        .collect())
}
