//! Certificate-expiry reminders (D6): which certificates are due, and the at-most-once claim
//! of each (certificate, threshold, contact) reminder.

use crate::batch::{self, ROWS_PER_STATEMENT};
use crate::deliveries::{self, Delivery, DeliveryOutcome};
use crate::{Store, StoreError};
use smartcore_domain::Timestamp;
use sqlx::AnyConnection;
use std::collections::{HashMap, HashSet};

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

impl ReminderClaim {
    fn key(&self) -> (&str, &str, &str) {
        (&self.fingerprint_sha256, &self.threshold, &self.contact_id)
    }
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

/// A queued reminder taken for delivery, with what its message says.
#[derive(Debug, Clone)]
pub struct QueuedReminder {
    pub claim: ReminderClaim,
    /// Counts from 1.
    pub attempt: i64,
    pub org_name: String,
    pub subject: String,
    pub not_after: i64,
    /// The contact's name; None also when the contact is gone (see `contact_exists`).
    pub recipient_name: Option<String>,
    /// False when the contact was removed after the reminder was queued: it is not sent.
    pub contact_exists: bool,
}

/// A threshold of a certificate whose last reminders were just delivered, and where its
/// schedule goes once none is left to send.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CompletedThreshold {
    pub org_id: String,
    pub fingerprint_sha256: String,
    pub threshold: String,
    pub next_due_at: Timestamp,
}

/// How a claimed reminder went.
#[derive(Debug, Clone)]
pub struct FinishedReminder {
    pub claim: ReminderClaim,
    /// The delivery attempt; None when the send was not attempted: retried at `retry_at` (the
    /// mail server kept failing), or, without `retry_at`, cancelled (its contact was removed).
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
        // Claimed in key order, so two instances claiming overlapping pages at once take
        // their row locks in the same order (no deadlock on PostgreSQL).
        let mut order: Vec<usize> = (0..claims.len()).collect();
        order.sort_by(|&a, &b| claims[a].key().cmp(&claims[b].key()));
        let index: HashMap<(&str, &str, &str), usize> = claims
            .iter()
            .enumerate()
            .map(|(i, c)| (c.key(), i))
            .collect();
        let mut attempts: Vec<Option<i64>> = vec![None; claims.len()];
        let mut tx = self.pool.begin().await?;
        for chunk in order.chunks(ROWS_PER_STATEMENT) {
            let sql = batch::statement(
                "INSERT INTO certificate_reminders (fingerprint_sha256, threshold, contact_id, org_id, email, status, claimed_at) VALUES ",
                "(?, ?, ?, ?, ?, 'sending', $1)",
                chunk.len(),
                2,
                " ON CONFLICT (fingerprint_sha256, threshold, contact_id) DO UPDATE \
                     SET status = 'sending', claimed_at = excluded.claimed_at, attempts = certificate_reminders.attempts + 1 \
                     WHERE (certificate_reminders.status = 'failed' AND COALESCE(certificate_reminders.next_attempt_at, 0) <= excluded.claimed_at) \
                        OR (certificate_reminders.status = 'sending' AND certificate_reminders.claimed_at < $2) \
                 RETURNING fingerprint_sha256, threshold, contact_id, attempts",
            );
            let mut q = sqlx::query_as::<_, (String, String, String, i64)>(sql)
                .bind(now.unix_millis())
                .bind(stale_before.unix_millis());
            for &i in chunk {
                let c = &claims[i];
                q = q
                    .bind(&c.fingerprint_sha256)
                    .bind(&c.threshold)
                    .bind(&c.contact_id)
                    .bind(&c.org_id)
                    .bind(&c.email);
            }
            for (fingerprint, threshold, contact, attempt) in q.fetch_all(&mut *tx).await? {
                if let Some(&i) = index.get(&(&*fingerprint, &*threshold, &*contact)) {
                    attempts[i] = Some(attempt);
                }
            }
        }
        // The rest were sent or rejected before (done), or are being sent elsewhere or wait
        // for their retry.
        let rest: Vec<&ReminderClaim> = claims
            .iter()
            .zip(&attempts)
            .filter(|(_, a)| a.is_none())
            .map(|(c, _)| c)
            .collect();
        let done = final_among(&mut tx, &rest).await?;
        tx.commit().await?;
        Ok(claims
            .iter()
            .zip(attempts)
            .map(|(c, attempt)| match attempt {
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

    /// Queues reminders for delivery (the sweep), in one transaction: each is new (queued now),
    /// done (sent, rejected or cancelled before), or waiting (queued, being sent, or waiting for
    /// its retry). A reminder is queued at most once; delivery takes it from the queue.
    pub async fn queue_reminders(
        &self,
        claims: &[ReminderClaim],
        now: Timestamp,
    ) -> Result<Vec<Claim>, StoreError> {
        let mut order: Vec<usize> = (0..claims.len()).collect();
        order.sort_by(|&a, &b| claims[a].key().cmp(&claims[b].key()));
        let index: HashMap<(&str, &str, &str), usize> = claims
            .iter()
            .enumerate()
            .map(|(i, c)| (c.key(), i))
            .collect();
        let mut queued = vec![false; claims.len()];
        let mut tx = self.pool.begin().await?;
        for chunk in order.chunks(ROWS_PER_STATEMENT) {
            let sql = batch::statement(
                "INSERT INTO certificate_reminders (fingerprint_sha256, threshold, contact_id, org_id, email, status, claimed_at, attempts, next_attempt_at) VALUES ",
                "(?, ?, ?, ?, ?, 'queued', $1, 0, $1)",
                chunk.len(),
                1,
                " ON CONFLICT (fingerprint_sha256, threshold, contact_id) DO NOTHING \
                 RETURNING fingerprint_sha256, threshold, contact_id",
            );
            let mut q = sqlx::query_as::<_, (String, String, String)>(sql).bind(now.unix_millis());
            for &i in chunk {
                let c = &claims[i];
                q = q
                    .bind(&c.fingerprint_sha256)
                    .bind(&c.threshold)
                    .bind(&c.contact_id)
                    .bind(&c.org_id)
                    .bind(&c.email);
            }
            for (fingerprint, threshold, contact) in q.fetch_all(&mut *tx).await? {
                if let Some(&i) = index.get(&(&*fingerprint, &*threshold, &*contact)) {
                    queued[i] = true;
                }
            }
        }
        let rest: Vec<&ReminderClaim> = claims
            .iter()
            .zip(&queued)
            .filter(|(_, q)| !**q)
            .map(|(c, _)| c)
            .collect();
        let done = final_among(&mut tx, &rest).await?;
        tx.commit().await?;
        Ok(claims
            .iter()
            .zip(queued)
            .map(|(c, queued)| {
                if queued {
                    Claim::Claimed { attempt: 0 }
                } else if done.contains(&(
                    c.fingerprint_sha256.clone(),
                    c.threshold.clone(),
                    c.contact_id.clone(),
                )) {
                    Claim::Done
                } else {
                    Claim::Waiting
                }
            })
            .collect())
    }

    /// Takes up to `limit` queued reminders that are due for delivery (and any abandoned by a
    /// process that stopped mid-send before `stale_before`), marking them as being sent.
    pub async fn take_queued_reminders(
        &self,
        now: Timestamp,
        stale_before: Timestamp,
        limit: i64,
    ) -> Result<Vec<QueuedReminder>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Abandoned sends go back to the queue (a write first: on SQLite the transaction then
        // holds the write lock from its start).
        sqlx::query(
            "UPDATE certificate_reminders SET status = 'failed', next_attempt_at = $1 \
             WHERE status = 'sending' AND claimed_at < $2 AND threshold <> 'renewed'",
        )
        .bind(now.unix_millis())
        .bind(stale_before.unix_millis())
        .execute(&mut *tx)
        .await?;
        let taken: Vec<(String, String, String, String, String, i64)> = sqlx::query_as(
            "UPDATE certificate_reminders SET status = 'sending', claimed_at = $1, attempts = attempts + 1 \
             WHERE (fingerprint_sha256, threshold, contact_id) IN ( \
                 SELECT fingerprint_sha256, threshold, contact_id FROM certificate_reminders \
                 WHERE status IN ('queued', 'failed') AND next_attempt_at <= $1 AND threshold <> 'renewed' \
                 ORDER BY next_attempt_at LIMIT $2) \
               AND status IN ('queued', 'failed') \
             RETURNING fingerprint_sha256, threshold, contact_id, org_id, email, attempts",
        )
        .bind(now.unix_millis())
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut about: HashMap<(String, String), (String, String, i64)> = HashMap::new();
        let mut names: HashMap<String, Option<String>> = HashMap::new();
        let certs: HashSet<(&str, &str)> = taken.iter().map(|t| (&*t.3, &*t.0)).collect();
        let certs: Vec<(&str, &str)> = certs.into_iter().collect();
        for chunk in certs.chunks(ROWS_PER_STATEMENT) {
            let sql = batch::statement(
                "SELECT c.org_id, c.fingerprint_sha256, o.name, c.subject, c.not_after \
                 FROM sso_certificates c JOIN organisations o ON o.id = c.org_id \
                 WHERE (c.org_id, c.fingerprint_sha256) IN (VALUES ",
                "(?, ?)",
                chunk.len(),
                0,
                ")",
            );
            let mut q = sqlx::query_as::<_, (String, String, String, String, i64)>(sql);
            for (org_id, fingerprint) in chunk {
                q = q.bind(*org_id).bind(*fingerprint);
            }
            for (org_id, fingerprint, org_name, subject, not_after) in q.fetch_all(&mut *tx).await?
            {
                about.insert((org_id, fingerprint), (org_name, subject, not_after));
            }
        }
        let contacts: HashSet<&str> = taken.iter().map(|t| &*t.2).collect();
        let contacts: Vec<&str> = contacts.into_iter().collect();
        for chunk in contacts.chunks(ROWS_PER_STATEMENT) {
            let sql = batch::statement(
                "SELECT id, name FROM it_contacts WHERE id IN (",
                "?",
                chunk.len(),
                0,
                ")",
            );
            let mut q = sqlx::query_as::<_, (String, Option<String>)>(sql);
            for id in chunk {
                q = q.bind(*id);
            }
            names.extend(q.fetch_all(&mut *tx).await?);
        }
        tx.commit().await?;
        Ok(taken
            .into_iter()
            .map(
                |(fingerprint_sha256, threshold, contact_id, org_id, email, attempt)| {
                    let (org_name, subject, not_after) = about
                        .get(&(org_id.clone(), fingerprint_sha256.clone()))
                        .cloned()
                        .unwrap_or_default();
                    let name = names.get(&contact_id);
                    QueuedReminder {
                        contact_exists: name.is_some(),
                        recipient_name: name.cloned().flatten(),
                        org_name,
                        subject,
                        not_after,
                        attempt,
                        claim: ReminderClaim {
                            fingerprint_sha256,
                            threshold,
                            contact_id,
                            org_id,
                            email,
                        },
                    }
                },
            )
            .collect())
    }

    /// Records, in one transaction, how claimed reminders went (each with its delivery attempt,
    /// when one was made) and where each swept certificate's schedule now stands.
    ///
    /// `completed` names thresholds that may now be complete: each whose reminders are all out
    /// (none queued, being sent or waiting for a retry) moves its certificate's schedule on to
    /// the given moment, never back. When another process is still sending one of them, neither
    /// may see the threshold complete; the next sweep then moves the schedule on.
    pub async fn finish_reminders(
        &self,
        finished: &[FinishedReminder],
        schedules: &[(String, String, Option<Timestamp>)],
        completed: &[CompletedThreshold],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        // The reminders: an upsert of rows that exist is a many-row update.
        for chunk in finished.chunks(ROWS_PER_STATEMENT) {
            let sql = batch::statement(
                "INSERT INTO certificate_reminders (fingerprint_sha256, threshold, contact_id, org_id, email, claimed_at, \
                     status, message_id, last_error, next_attempt_at, sent_at) VALUES ",
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                chunk.len(),
                0,
                " ON CONFLICT (fingerprint_sha256, threshold, contact_id) DO UPDATE \
                     SET status = excluded.status, message_id = excluded.message_id, \
                         last_error = COALESCE(excluded.last_error, certificate_reminders.last_error), \
                         next_attempt_at = excluded.next_attempt_at, \
                         sent_at = COALESCE(excluded.sent_at, certificate_reminders.sent_at)",
            );
            let mut q = sqlx::query(sql);
            for f in chunk {
                let (status, message_id, error, retry_at, sent_at) = match &f.delivery {
                    Some(d) => match &d.outcome {
                        DeliveryOutcome::Sent { message_id } => (
                            "sent",
                            Some(message_id.as_str()),
                            None,
                            None,
                            Some(d.at.unix_millis()),
                        ),
                        DeliveryOutcome::Deferred { error } => {
                            ("failed", None, Some(error.as_str()), f.retry_at, None)
                        }
                        DeliveryOutcome::Rejected { error } => {
                            ("rejected", None, Some(error.as_str()), None, None)
                        }
                    },
                    None if f.retry_at.is_none() => ("cancelled", None, None, None, None),
                    None => ("failed", None, None, f.retry_at, None),
                };
                q = q
                    .bind(&f.claim.fingerprint_sha256)
                    .bind(&f.claim.threshold)
                    .bind(&f.claim.contact_id)
                    .bind(&f.claim.org_id)
                    .bind(&f.claim.email)
                    // claimed_at: required by the row shape, kept as it is by the update.
                    .bind(0i64)
                    .bind(status)
                    .bind(message_id)
                    .bind(error)
                    .bind(retry_at.map(Timestamp::unix_millis))
                    .bind(sent_at);
            }
            q.execute(&mut *tx).await?;
        }
        let deliveries: Vec<&Delivery> = finished
            .iter()
            .filter_map(|f| f.delivery.as_ref())
            .collect();
        deliveries::record_many(&mut tx, &deliveries).await?;
        let mut pending: HashSet<(String, String)> = HashSet::new();
        for chunk in completed.chunks(ROWS_PER_STATEMENT) {
            let sql = batch::statement(
                "SELECT DISTINCT fingerprint_sha256, threshold FROM certificate_reminders \
                 WHERE status IN ('queued', 'sending', 'failed') AND (fingerprint_sha256, threshold) IN (VALUES ",
                "(?, ?)",
                chunk.len(),
                0,
                ")",
            );
            let mut q = sqlx::query_as::<_, (String, String)>(sql);
            for c in chunk {
                q = q.bind(&c.fingerprint_sha256).bind(&c.threshold);
            }
            pending.extend(q.fetch_all(&mut *tx).await?);
        }
        let complete: Vec<&CompletedThreshold> = completed
            .iter()
            .filter(|c| !pending.contains(&(c.fingerprint_sha256.clone(), c.threshold.clone())))
            .collect();
        for chunk in complete.chunks(ROWS_PER_STATEMENT) {
            let sql = batch::statement(
                "WITH v (org_id, fingerprint_sha256, next_due_at) AS (VALUES ",
                "(?, ?, CAST(? AS BIGINT))",
                chunk.len(),
                0,
                ") UPDATE sso_certificates SET next_due_at = v.next_due_at FROM v \
                 WHERE sso_certificates.org_id = v.org_id AND sso_certificates.fingerprint_sha256 = v.fingerprint_sha256 \
                   AND sso_certificates.next_due_at < v.next_due_at",
            );
            let mut q = sqlx::query(sql);
            for c in chunk {
                q = q
                    .bind(&c.org_id)
                    .bind(&c.fingerprint_sha256)
                    .bind(c.next_due_at.unix_millis());
            }
            q.execute(&mut *tx).await?;
        }
        for chunk in schedules.chunks(ROWS_PER_STATEMENT) {
            let sql = batch::statement(
                "WITH v (org_id, fingerprint_sha256, next_due_at) AS (VALUES ",
                "(?, ?, CAST(? AS BIGINT))",
                chunk.len(),
                0,
                ") UPDATE sso_certificates SET next_due_at = v.next_due_at FROM v \
                 WHERE sso_certificates.org_id = v.org_id AND sso_certificates.fingerprint_sha256 = v.fingerprint_sha256",
            );
            let mut q = sqlx::query(sql);
            for (org_id, fingerprint, next_due_at) in chunk {
                q = q
                    .bind(org_id)
                    .bind(fingerprint)
                    .bind(next_due_at.map(Timestamp::unix_millis));
            }
            q.execute(&mut *tx).await?;
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

/// Which of `claims` were sent, rejected or cancelled before.
async fn final_among(
    conn: &mut AnyConnection,
    claims: &[&ReminderClaim],
) -> Result<HashSet<(String, String, String)>, StoreError> {
    let mut done = HashSet::new();
    for chunk in claims.chunks(ROWS_PER_STATEMENT) {
        let sql = batch::statement(
            "SELECT fingerprint_sha256, threshold, contact_id FROM certificate_reminders \
             WHERE status IN ('sent', 'rejected', 'cancelled') AND (fingerprint_sha256, threshold, contact_id) IN (VALUES ",
            "(?, ?, ?)",
            chunk.len(),
            0,
            ")",
        );
        let mut q = sqlx::query_as::<_, (String, String, String)>(sql);
        for c in chunk {
            q = q
                .bind(&c.fingerprint_sha256)
                .bind(&c.threshold)
                .bind(&c.contact_id);
        }
        done.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(done)
}
