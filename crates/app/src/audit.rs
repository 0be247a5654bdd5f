//! Reading the audit log (D4). Entries are written by storage, inside the transaction of the
//! change they describe.

use crate::{Actor, App, AppError};

#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditEvent {
    pub id: String,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub details: serde_json::Value,
}

pub const MAX_AUDIT_PAGE: i64 = 200;

impl App {
    /// Newest first; pass the last id of a page as `before` to get the next one.
    pub async fn audit_log(
        &self,
        actor: &Actor,
        org: &str,
        before: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Vec<AuditEvent>, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let limit = limit.unwrap_or(50).clamp(1, MAX_AUDIT_PAGE);
        let records = self.store.audit_log(&org_id, before, limit).await?;
        Ok(records
            .into_iter()
            .map(|r| AuditEvent {
                at: smartcore_domain::Timestamp::from_unix_millis(r.at).to_rfc3339(),
                details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
                id: r.id,
                actor: r.actor,
                action: r.action,
                target: r.target,
            })
            .collect())
    }
}
