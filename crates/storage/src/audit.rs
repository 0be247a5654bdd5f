//! The audit log (D4): every change, with actor, time and details, newest first.

use crate::{Store, StoreError};
use smartcore_domain::{
    AuditAction, AuditActor, AuditDetails, AuditEventId, OrgId, Timestamp, UserId,
};
use sqlx::AnyConnection;

/// One change to record: its details say the action (see [`AuditDetails::action`]).
pub struct AuditEntry<'a> {
    pub org_id: Option<&'a OrgId>,
    pub at: Timestamp,
    pub actor: AuditActor,
    pub target: Option<&'a str>,
    pub details: AuditDetails,
}

impl AuditEntry<'_> {
    /// The details as stored: their JSON text.
    fn details_text(&self) -> Result<String, StoreError> {
        serde_json::to_string(&self.details)
            .map_err(|e| StoreError::Config(format!("audit details not written: {e}")))
    }
}

/// A recorded change.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRecord {
    pub id: String,
    pub org_id: Option<String>,
    pub at: i64,
    #[sqlx(try_from = "String")]
    pub actor: AuditActor,
    #[sqlx(try_from = "String")]
    pub action: AuditAction,
    pub target: Option<String>,
    /// The details' JSON text, as stored.
    pub details: String,
    /// The acting user's name and address; none for `system` (or a user since deleted).
    pub actor_name: Option<String>,
    pub actor_email: Option<String>,
}

/// Records one change in the caller's unit of work.
pub async fn record(conn: &mut AnyConnection, entry: AuditEntry<'_>) -> Result<(), StoreError> {
    record_many(conn, std::slice::from_ref(&entry)).await
}

/// [`record`] for many events at once: one statement per 100
/// events (the sync records its registrations in batches).
pub async fn record_many(
    conn: &mut AnyConnection,
    entries: &[AuditEntry<'_>],
) -> Result<(), StoreError> {
    for chunk in entries.chunks(crate::batch::ROWS_PER_STATEMENT) {
        let sql = crate::batch::statement(
            "INSERT INTO audit_events (id, org_id, at, actor, action, target, details) VALUES ",
            "(?, ?, ?, ?, ?, ?, ?)",
            chunk.len(),
            0,
            "",
        );
        let mut query = sqlx::query(sql);
        for entry in chunk {
            query = query
                .bind(AuditEventId::generate().to_string())
                .bind(entry.org_id.map(|o| o.to_string()))
                .bind(entry.at.unix_millis())
                .bind(entry.actor.as_str())
                .bind(entry.details.action().as_str())
                .bind(entry.target)
                .bind(entry.details_text()?);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Records a change to a user's own account (their API tokens, their being disabled or
/// enabled): once for the user (`subject_user_id`, read by [`Store::account_events`]), and once
/// in the audit log of every organisation they are a member of, for its administrators.
pub(crate) async fn record_for_user(
    conn: &mut AnyConnection,
    entry: AuditEntry<'_>,
    user_id: &str,
) -> Result<(), StoreError> {
    let orgs: Vec<(String,)> =
        sqlx::query_as("SELECT org_id FROM memberships WHERE user_id = $1 ORDER BY org_id")
            .bind(user_id)
            .fetch_all(&mut *conn)
            .await?;
    let details = entry.details_text()?;
    let copies = std::iter::once(None).chain(orgs.iter().map(|(o,)| Some(o.as_str())));
    for org_id in copies {
        sqlx::query(
            "INSERT INTO audit_events (id, org_id, at, actor, action, target, details, subject_user_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(AuditEventId::generate().to_string())
        .bind(org_id)
        .bind(entry.at.unix_millis())
        .bind(entry.actor.as_str())
        .bind(entry.details.action().as_str())
        .bind(entry.target)
        .bind(&details)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

impl Store {
    /// A user's own account events (their tokens created and revoked, their account disabled or
    /// enabled: written with `subject_user_id` and no organisation), newest first; `before` is the
    /// id of the last event of the previous page.
    pub async fn account_events(
        &self,
        user_id: &UserId,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT a.id, a.org_id, a.at, a.actor, a.action, a.target, a.details, \
             u.name AS actor_name, u.email AS actor_email \
             FROM audit_events a LEFT JOIN users u ON u.id = a.actor \
             WHERE a.subject_user_id = $1 AND a.org_id IS NULL AND a.id < $2 \
             ORDER BY a.id DESC LIMIT $3",
        )
        .bind(user_id.as_str())
        .bind(before.unwrap_or("evt_~"))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Records one change on its own (changes that are part of a larger write record theirs
    /// inside that write's transaction).
    pub async fn record_audit(&self, entry: AuditEntry<'_>) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        record(&mut conn, entry).await
    }

    /// An organisation's audit log, newest first; `before` is the id of the last event of the
    /// previous page.
    pub async fn audit_log(
        &self,
        org_id: &OrgId,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query_as(
            "SELECT a.id, a.org_id, a.at, a.actor, a.action, a.target, a.details, \
             u.name AS actor_name, u.email AS actor_email \
             FROM audit_events a LEFT JOIN users u ON u.id = a.actor \
             WHERE a.org_id = $1 AND a.id < $2 ORDER BY a.id DESC LIMIT $3",
        )
        .bind(org_id.as_str())
        .bind(before.unwrap_or("evt_~"))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }
}
