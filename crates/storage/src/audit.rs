//! The audit log (D4): every change, with actor, time and details, newest first.

use crate::{Store, StoreError};
use smartcore_domain::{AuditEventId, OrgId, Timestamp};
use sqlx::AnyConnection;

/// One change to record.
pub struct AuditEntry<'a> {
    pub org_id: Option<&'a OrgId>,
    pub at: Timestamp,
    /// A user id, or `system` for the background workers.
    pub actor: &'a str,
    /// A stable verb such as `it_contact.added`.
    pub action: &'static str,
    pub target: Option<&'a str>,
    pub details: serde_json::Value,
}

/// A recorded change.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRecord {
    pub id: String,
    pub org_id: Option<String>,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub details: String,
    /// The acting user's name and address; none for `system` (or a user since deleted).
    pub actor_name: Option<String>,
    pub actor_email: Option<String>,
}

pub(crate) async fn record(
    conn: &mut AnyConnection,
    entry: AuditEntry<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_events (id, org_id, at, actor, action, target, details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(AuditEventId::generate().to_string())
    .bind(entry.org_id.map(|o| o.to_string()))
    .bind(entry.at.unix_millis())
    .bind(entry.actor)
    .bind(entry.action)
    .bind(entry.target)
    .bind(entry.details.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

impl Store {
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
