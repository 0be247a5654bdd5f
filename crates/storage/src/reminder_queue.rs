//! The reminder queue (D6): the sweep queues each (certificate, threshold, contact) reminder at
//! most once; delivery takes the due ones, records how each went and moves a certificate's
//! schedule on once a threshold's reminders are all out.
//!
//! A reminder being sent (`sending`) is held with a lease (`lease_owner`, `lease_until`), like
//! the sync's rows: the sender renews it while it works and releases what it could not finish,
//! so the reminders of a sender killed mid-send are sent by the next delivery once the lease
//! has run out (10 s by default, `SMARTCORE_SYNC_LEASE_S`). The "renewed" notices are claimed
//! and sent within one call ([`Store::claim_reminders`]) and keep their ten-minute claim.

use crate::batch::{self, ROWS_PER_STATEMENT};
use crate::deliveries::{self, Delivery, DeliveryOutcome};
use crate::lease::{ClaimSql, REMINDERS};
use crate::reminders::{Claim, ReminderClaim, ScheduleMove, claim_outcomes, in_key_order};
use crate::{Store, StoreError};
use smartcore_domain::Timestamp;
use smartcore_domain::{Lease, ReminderNotice, ReminderStatus};
use sqlx::AnyConnection;
use sqlx::AssertSqlSafe;
use std::collections::{HashMap, HashSet};

/// A reminder claimed for sending before leases (migration 0017) is taken to be abandoned
/// this long after its claim.
const UNLEASED_CLAIM_MS: i64 = 10 * 60 * 1000;

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
    pub threshold: String,
    pub schedule: ScheduleMove,
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

impl Store {
    /// Queues reminders for delivery (the sweep), in one transaction: each is new (queued now),
    /// done (sent, rejected or cancelled before), or waiting (queued, being sent, or waiting for
    /// its retry). A reminder is queued at most once; delivery takes it from the queue.
    pub async fn queue_reminders(
        &self,
        claims: &[ReminderClaim],
        now: Timestamp,
    ) -> Result<Vec<Claim>, StoreError> {
        let (order, index) = in_key_order(claims);
        let mut queued = vec![None; claims.len()];
        let mut tx = self.begin().await?;
        for chunk in order.chunks(ROWS_PER_STATEMENT) {
            let sql = batch::statement(
                "INSERT INTO certificate_reminders (fingerprint_sha256, threshold, contact_id, org_id, email, status, claimed_at, attempts, next_attempt_at) VALUES ",
                "(?, ?, ?, ?, ?, $2, $1, 0, $1)",
                chunk.len(),
                2,
                " ON CONFLICT (fingerprint_sha256, threshold, contact_id) DO NOTHING \
                 RETURNING fingerprint_sha256, threshold, contact_id",
            );
            let mut q = sqlx::query_as::<_, (String, String, String)>(sql)
                .bind(now.unix_millis())
                .bind(ReminderStatus::Queued.as_str());
            for &i in chunk {
                q = claims[i].bind_row(q);
            }
            for (fingerprint, threshold, contact) in q.fetch_all(&mut *tx).await? {
                if let Some(&i) = index.get(&(&*fingerprint, &*threshold, &*contact)) {
                    queued[i] = Some(0);
                }
            }
        }
        let outcomes = claim_outcomes(&mut tx, claims, queued).await?;
        tx.commit().await?;
        Ok(outcomes)
    }

    /// Takes up to `limit` queued reminders that are due for delivery (and any abandoned by a
    /// sender whose lease ran out), marking them as being sent by `owner` until `lease_until`.
    /// The sender renews the lease while it works ([`Store::renew_leases`]) and gives back what
    /// it could not finish ([`Store::release_leases`]).
    pub async fn take_queued_reminders(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> Result<Vec<QueuedReminder>, StoreError> {
        let lease = Lease::held(owner, lease_until);
        let mut tx = self.begin().await?;
        // Abandoned sends go back to the queue (a write first: on SQLite the transaction then
        // holds the write lock from its start): a lease that ran out, or a claim made before
        // leases (0017) that is older than ten minutes.
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE certificate_reminders SET status = $3, next_attempt_at = $1, {} \
             WHERE status = $4 AND threshold <> $5 \
               AND (lease_until < $1 OR (lease_until IS NULL AND claimed_at < $2))",
            REMINDERS.release()
        )))
        .bind(now.unix_millis())
        .bind(now.unix_millis() - UNLEASED_CLAIM_MS)
        .bind(ReminderStatus::Failed.as_str())
        .bind(ReminderStatus::Sending.as_str())
        .bind(ReminderNotice::Renewed.as_str())
        .execute(&mut *tx)
        .await?;
        // Queued and failed reminders hold no lease (it is cleared whenever one goes back), so
        // the shape's "free" adds nothing here.
        let claim = ClaimSql {
            set: ", status = $5, claimed_at = $3, attempts = attempts + 1",
            due: "status IN ($6, $7) AND next_attempt_at <= $3 AND threshold <> $8",
            still: "status IN ($6, $7)",
            order_by: "next_attempt_at",
            returning: "fingerprint_sha256, threshold, contact_id, org_id, email, attempts",
        };
        let taken: Vec<Taken> = REMINDERS
            .claim(&claim, &lease, now, limit)
            .bind(ReminderStatus::Sending.as_str())
            .bind(ReminderStatus::Queued.as_str())
            .bind(ReminderStatus::Failed.as_str())
            .bind(ReminderNotice::Renewed.as_str())
            .fetch_all(&mut *tx)
            .await?;
        let about = certificates_of(&mut tx, &taken).await?;
        let names = contact_names(&mut tx, &taken).await?;
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
    /// when one was made).
    ///
    /// `completed` names thresholds that may now be complete: each whose reminders are all out
    /// (none queued, being sent or waiting for a retry) moves its certificate's schedule on to
    /// the given moment, never back. When another process is still sending one of them, neither
    /// may see the threshold complete; the next sweep then moves the schedule on.
    pub async fn finish_reminders(
        &self,
        finished: &[FinishedReminder],
        completed: &[CompletedThreshold],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let upsert = format!(
            " ON CONFLICT (fingerprint_sha256, threshold, contact_id) DO UPDATE \
                 SET status = excluded.status, message_id = excluded.message_id, \
                     last_error = COALESCE(excluded.last_error, certificate_reminders.last_error), \
                     next_attempt_at = excluded.next_attempt_at, \
                     sent_at = COALESCE(excluded.sent_at, certificate_reminders.sent_at), {}",
            REMINDERS.release()
        );
        // The reminders: an upsert of rows that exist is a many-row update.
        for chunk in finished.chunks(ROWS_PER_STATEMENT) {
            let sql = batch::statement(
                "INSERT INTO certificate_reminders (fingerprint_sha256, threshold, contact_id, org_id, email, claimed_at, \
                     status, message_id, last_error, next_attempt_at, sent_at) VALUES ",
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                chunk.len(),
                0,
                &upsert,
            );
            let mut q = sqlx::query(sql);
            for f in chunk {
                let (status, message_id, error, retry_at, sent_at) = f.outcome();
                q = q
                    .bind(&f.claim.fingerprint_sha256)
                    .bind(&f.claim.threshold)
                    .bind(&f.claim.contact_id)
                    .bind(&f.claim.org_id)
                    .bind(&f.claim.email)
                    // claimed_at: required by the row shape, kept as it is by the update.
                    .bind(0i64)
                    .bind(status.as_str())
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
        let pending = still_pending(&mut tx, completed).await?;
        let complete: Vec<&CompletedThreshold> = completed
            .iter()
            .filter(|c| {
                !pending.contains(&(c.schedule.fingerprint_sha256.clone(), c.threshold.clone()))
            })
            .collect();
        move_forward(&mut tx, complete.iter().map(|c| &c.schedule)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Moves the schedules of swept certificates on, in one transaction.
    pub async fn move_schedules(&self, moves: &[ScheduleMove]) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        move_forward(&mut tx, moves.iter()).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Moves schedules on, never back: a slower sweep or delivery cannot undo a later move.
async fn move_forward<'a>(
    conn: &mut AnyConnection,
    moves: impl Iterator<Item = &'a ScheduleMove>,
) -> Result<(), StoreError> {
    let moves: Vec<&ScheduleMove> = moves.collect();
    for chunk in moves.chunks(ROWS_PER_STATEMENT) {
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
        for m in chunk {
            q = q
                .bind(&m.org_id)
                .bind(&m.fingerprint_sha256)
                .bind(m.next_due_at.unix_millis());
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// A reminder taken for delivery: fingerprint, threshold, contact, organisation, address and
/// attempt.
type Taken = (String, String, String, String, String, i64);

/// The organisation's name and the certificate's subject and expiry, by (organisation,
/// fingerprint), for the taken reminders' messages.
async fn certificates_of(
    conn: &mut AnyConnection,
    taken: &[Taken],
) -> Result<HashMap<(String, String), (String, String, i64)>, StoreError> {
    let mut about = HashMap::new();
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
        for (org_id, fingerprint, org_name, subject, not_after) in q.fetch_all(&mut *conn).await? {
            about.insert((org_id, fingerprint), (org_name, subject, not_after));
        }
    }
    Ok(about)
}

/// The taken reminders' contacts that still exist, with their names.
async fn contact_names(
    conn: &mut AnyConnection,
    taken: &[Taken],
) -> Result<HashMap<String, Option<String>>, StoreError> {
    let mut names = HashMap::new();
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
        names.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(names)
}

/// Of the `completed` thresholds, (fingerprint, threshold) of those with reminders still
/// queued, being sent or waiting for a retry.
async fn still_pending(
    conn: &mut AnyConnection,
    completed: &[CompletedThreshold],
) -> Result<HashSet<(String, String)>, StoreError> {
    let mut pending = HashSet::new();
    for chunk in completed.chunks(ROWS_PER_STATEMENT) {
        let sql = batch::statement(
            "SELECT DISTINCT fingerprint_sha256, threshold FROM certificate_reminders \
             WHERE status IN ($1, $2, $3) AND (fingerprint_sha256, threshold) IN (VALUES ",
            "(?, ?)",
            chunk.len(),
            3,
            ")",
        );
        let mut q = sqlx::query_as::<_, (String, String)>(sql)
            .bind(ReminderStatus::Queued.as_str())
            .bind(ReminderStatus::Sending.as_str())
            .bind(ReminderStatus::Failed.as_str());
        for c in chunk {
            q = q.bind(&c.schedule.fingerprint_sha256).bind(&c.threshold);
        }
        pending.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(pending)
}

impl FinishedReminder {
    /// The row's status, message id, error, retry time and sending time.
    fn outcome(
        &self,
    ) -> (
        ReminderStatus,
        Option<&str>,
        Option<&str>,
        Option<Timestamp>,
        Option<i64>,
    ) {
        match &self.delivery {
            Some(d) => match &d.outcome {
                DeliveryOutcome::Sent { message_id } => (
                    ReminderStatus::Sent,
                    Some(message_id.as_str()),
                    None,
                    None,
                    Some(d.at.unix_millis()),
                ),
                DeliveryOutcome::Deferred { error } => (
                    ReminderStatus::Failed,
                    None,
                    Some(error.as_str()),
                    self.retry_at,
                    None,
                ),
                DeliveryOutcome::Rejected { error } => (
                    ReminderStatus::Rejected,
                    None,
                    Some(error.as_str()),
                    None,
                    None,
                ),
            },
            None if self.retry_at.is_none() => (ReminderStatus::Cancelled, None, None, None, None),
            None => (ReminderStatus::Failed, None, None, self.retry_at, None),
        }
    }
}
