//! Mail delivery, recorded per recipient: one row per attempt to deliver one message to one
//! recipient, and a permanent rejection kept on the contact where administrators see it.

use crate::batch::{self, ROWS_PER_STATEMENT};
use crate::{Store, StoreError};
use smartcore_domain::{DeliveryId, DeliveryStatus, MailKind, Timestamp};
use sqlx::AnyConnection;

/// What the mail server did with one message for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Accepted (or written to the outbox), with its Message-ID.
    Sent { message_id: String },
    /// A temporary failure: the message is tried again later, with backoff.
    Deferred { error: String },
    /// Refused for good (a 5xx reply): not retried.
    Rejected { error: String },
}

impl DeliveryOutcome {
    fn message_id_and_error(&self) -> (Option<&str>, Option<&str>) {
        match self {
            DeliveryOutcome::Sent { message_id } => (Some(message_id), None),
            DeliveryOutcome::Deferred { error } | DeliveryOutcome::Rejected { error } => {
                (None, Some(error))
            }
        }
    }

    pub fn status(&self) -> DeliveryStatus {
        match self {
            DeliveryOutcome::Sent { .. } => DeliveryStatus::Sent,
            DeliveryOutcome::Deferred { .. } => DeliveryStatus::Deferred,
            DeliveryOutcome::Rejected { .. } => DeliveryStatus::Rejected,
        }
    }
}

/// One attempt to deliver one message to one recipient.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub org_id: String,
    /// The IT contact it was for, when it was for one.
    pub contact_id: Option<String>,
    pub email: String,
    pub kind: MailKind,
    pub subject: String,
    pub outcome: DeliveryOutcome,
    pub at: Timestamp,
}

/// A recorded delivery attempt, newest first in listings.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRecord {
    pub id: String,
    pub contact_id: Option<String>,
    pub email: String,
    #[sqlx(try_from = "String")]
    pub kind: MailKind,
    pub subject: String,
    #[sqlx(try_from = "String")]
    pub status: DeliveryStatus,
    pub message_id: Option<String>,
    pub error: Option<String>,
    pub attempted_at: i64,
}

/// Records many attempts on `conn` (inside the caller's transaction), many rows per statement.
pub(crate) async fn record_many(
    conn: &mut AnyConnection,
    deliveries: &[&Delivery],
) -> Result<(), StoreError> {
    for chunk in deliveries.chunks(ROWS_PER_STATEMENT) {
        let sql = batch::statement(
            "INSERT INTO mail_deliveries (id, org_id, contact_id, email, kind, subject, status, message_id, error, attempted_at) VALUES ",
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            chunk.len(),
            0,
            "",
        );
        let mut q = sqlx::query(sql);
        for d in chunk {
            let (message_id, error) = d.outcome.message_id_and_error();
            q = q
                .bind(DeliveryId::generate().to_string())
                .bind(&d.org_id)
                .bind(d.contact_id.as_deref())
                .bind(&d.email)
                .bind(d.kind.as_str())
                .bind(&d.subject)
                .bind(d.outcome.status().as_str())
                .bind(message_id)
                .bind(error)
                .bind(d.at.unix_millis());
        }
        q.execute(&mut *conn).await?;
    }
    // Rejections are kept on the contact (rare: one statement each) ...
    for d in deliveries {
        if let (Some(contact_id), DeliveryOutcome::Rejected { error }) = (&d.contact_id, &d.outcome)
        {
            sqlx::query(
                "UPDATE it_contacts SET mail_rejected_at = $1, mail_rejected_reason = $2 WHERE id = $3",
            )
            .bind(d.at.unix_millis())
            .bind(error)
            .bind(contact_id)
            .execute(&mut *conn)
            .await?;
        }
    }
    // ... and ended by an accepted message.
    let accepted: Vec<&str> = deliveries
        .iter()
        .filter(|d| matches!(d.outcome, DeliveryOutcome::Sent { .. }))
        .filter_map(|d| d.contact_id.as_deref())
        .collect();
    for chunk in accepted.chunks(ROWS_PER_STATEMENT) {
        let sql = batch::statement(
            "UPDATE it_contacts SET mail_rejected_at = NULL, mail_rejected_reason = NULL \
             WHERE mail_rejected_at IS NOT NULL AND id IN (",
            "?",
            chunk.len(),
            0,
            ")",
        );
        let mut q = sqlx::query(sql);
        for id in chunk {
            q = q.bind(*id);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The window of [`Store::take_mail_budget`]: a day.
pub const MAIL_BUDGET_WINDOW_MS: i64 = 86_400_000;

impl Store {
    /// Takes one mail from `email_key`'s budget (issue 24): at most `per_day` mails in a
    /// day-long window that starts with the first mail counted. `Ok(None)` when taken;
    /// `Ok(Some(free_at))` when the budget is spent, with the time the window ends. One
    /// statement, so instances sending at once cannot overshoot it.
    pub async fn take_mail_budget(
        &self,
        email_key: &str,
        per_day: i64,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        let window_over = now.unix_millis() - MAIL_BUDGET_WINDOW_MS;
        let taken: Option<(i64,)> = sqlx::query_as(
            "INSERT INTO mail_budgets (email_key, window_start, sent) VALUES ($1, $2, 1) \
             ON CONFLICT (email_key) DO UPDATE SET \
                 sent = CASE WHEN mail_budgets.window_start <= $3 THEN 1 ELSE mail_budgets.sent + 1 END, \
                 window_start = CASE WHEN mail_budgets.window_start <= $3 THEN $2 ELSE mail_budgets.window_start END \
             WHERE mail_budgets.window_start <= $3 OR mail_budgets.sent < $4 \
             RETURNING sent",
        )
        .bind(email_key)
        .bind(now.unix_millis())
        .bind(window_over)
        .bind(per_day)
        .fetch_optional(&self.pool)
        .await?;
        if taken.is_some() {
            return Ok(None);
        }
        let (start,): (i64,) =
            sqlx::query_as("SELECT window_start FROM mail_budgets WHERE email_key = $1")
                .bind(email_key)
                .fetch_one(&self.pool)
                .await?;
        Ok(Some(Timestamp::from_unix_millis(
            start + MAIL_BUDGET_WINDOW_MS,
        )))
    }

    /// Records the attempts of one send-out (several recipients) in one transaction.
    pub async fn record_deliveries(&self, deliveries: &[Delivery]) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        record_many(&mut tx, &deliveries.iter().collect::<Vec<_>>()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// An organisation's delivery attempts, newest first.
    pub async fn deliveries(
        &self,
        org_id: &str,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, contact_id, email, kind, subject, status, message_id, error, attempted_at \
             FROM mail_deliveries WHERE org_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(org_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}
