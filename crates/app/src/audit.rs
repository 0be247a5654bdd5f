//! Reading the audit log (D4). Entries are written by storage, inside the transaction of the
//! change they describe.

use crate::ErrorCode;
use crate::History;
use crate::{Actor, AppError};
use smartcore_domain::{AuditAction, AuditActor};

#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditEvent {
    pub id: String,
    pub at: String,
    pub actor: AuditActor,
    /// The acting user's name and address; none for `system`.
    pub actor_name: Option<String>,
    pub actor_email: Option<String>,
    pub action: AuditAction,
    pub target: Option<String>,
    /// The details as stored (see [`smartcore_domain::AuditDetails`]), shown as they are.
    pub details: serde_json::Value,
}

impl AuditEvent {
    /// `Name <email>` for a user, else the actor as recorded (`system`).
    pub fn actor_label(&self) -> String {
        match (&self.actor_name, &self.actor_email) {
            (Some(name), Some(email)) => format!("{name} <{email}>"),
            (None, Some(email)) => format!("<{email}>"),
            (Some(name), None) => name.clone(),
            (None, None) => self.actor.to_string(),
        }
    }
}

pub const MAX_AUDIT_PAGE: i64 = 200;

impl From<smartcore_storage::AuditRecord> for AuditEvent {
    fn from(r: smartcore_storage::AuditRecord) -> Self {
        AuditEvent {
            at: smartcore_domain::Timestamp::from_unix_millis(r.at).to_rfc3339(),
            details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
            id: r.id,
            actor: r.actor,
            actor_name: r.actor_name,
            actor_email: r.actor_email,
            action: r.action,
            target: r.target,
        }
    }
}

/// A page size asked for: 1 to [`MAX_AUDIT_PAGE`], 50 when not given; anything else is
/// 400 `invalid_request`.
pub(crate) fn check_limit(limit: Option<i64>) -> Result<i64, AppError> {
    match limit {
        None => Ok(50),
        Some(n) if (1..=MAX_AUDIT_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(AppError::invalid(
            ErrorCode::InvalidRequest,
            "limit",
            format!("limit is a whole number from 1 to {MAX_AUDIT_PAGE}."),
        )),
    }
}

/// A `before` cursor: an event id (`evt_…`), else 400 `invalid_request`.
pub(crate) fn check_before(before: Option<&str>) -> Result<Option<&str>, AppError> {
    match before.map(str::trim).filter(|b| !b.is_empty()) {
        None => Ok(None),
        Some(b) if smartcore_domain::AuditEventId::parse(b).is_some() => Ok(Some(b)),
        Some(_) => Err(AppError::invalid(
            ErrorCode::InvalidRequest,
            "before",
            "before is the id of an event (evt_…), the last of the previous page.",
        )),
    }
}

impl History<'_> {
    /// Newest first; pass the last id of a page as `before` to get the next one.
    pub async fn audit_log(
        &self,
        actor: &Actor,
        org: &smartcore_domain::OrgId,
        before: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Vec<AuditEvent>, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let before = check_before(before)?;
        let limit = check_limit(limit)?;
        let records = self.store.audit_log(&org_id, before, limit).await?;
        Ok(records.into_iter().map(AuditEvent::from).collect())
    }
}

/// One attempt to deliver one message to one recipient.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MailDelivery {
    pub id: String,
    pub attempted_at: String,
    pub contact_id: Option<String>,
    pub email: String,
    pub kind: smartcore_domain::MailKind,
    pub subject: String,
    pub status: smartcore_domain::DeliveryStatus,
    pub message_id: Option<String>,
    pub error: Option<String>,
}

/// The most delivery attempts one listing returns.
pub const MAIL_DELIVERIES_SHOWN: i64 = 100;

impl History<'_> {
    /// The organisation's most recent mail delivery attempts, newest first (administrators).
    pub async fn mail_deliveries(
        &self,
        actor: &Actor,
        org: &smartcore_domain::OrgId,
    ) -> Result<Vec<MailDelivery>, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let records = self
            .store
            .deliveries(org_id.as_str(), MAIL_DELIVERIES_SHOWN)
            .await?;
        Ok(records
            .into_iter()
            .map(|r| MailDelivery {
                attempted_at: smartcore_domain::Timestamp::from_unix_millis(r.attempted_at)
                    .to_rfc3339(),
                id: r.id,
                contact_id: r.contact_id,
                email: r.email,
                kind: r.kind,
                subject: r.subject,
                status: r.status,
                message_id: r.message_id,
                error: r.error,
            })
            .collect())
    }
}
