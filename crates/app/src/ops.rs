//! The operations team's side (R7, "The identity side"): the queue of identity-side removals,
//! completing them, sync failures and drift between us and the identity side. Staff only; the
//! `smartcore ops` commands act as the operator of the installation.

use crate::ErrorCode;
use crate::Operations;
use crate::{Actor, AppError};
use smartcore_domain::{AuditActor, OrgId, RemovalId, Timestamp};
use smartcore_identity::{ConnectorError, ConnectorKind};
use smartcore_storage::{RemovalOutcome, RemovalRecord, StoreError};
use std::collections::HashSet;

/// Who is working the queue.
#[derive(Debug, Clone, Copy)]
pub enum Operator<'a> {
    /// A staff user, through the ops pages or API.
    Staff(&'a Actor),
    /// Whoever runs `smartcore ops …` on the installation.
    Cli,
}

impl Operator<'_> {
    /// Who the audit log and the removal record say completed it.
    fn audit_actor(&self) -> AuditActor {
        match self {
            Operator::Staff(a) => a.audit_actor(),
            Operator::Cli => AuditActor::Cli,
        }
    }
}

/// A removal waiting for (or done by) the operations team.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RemovalRequest {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub identity_contact_id: String,
    pub requested_at: String,
    pub requested_by: String,
    pub status: smartcore_domain::RemovalStatus,
    /// True when the worker completes it without the operations team.
    pub automatic: bool,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub outcome: Option<smartcore_domain::RemovalOutcome>,
}

impl From<RemovalRecord> for RemovalRequest {
    fn from(r: RemovalRecord) -> Self {
        RemovalRequest {
            id: r.id,
            org_id: r.org_id,
            email: r.email,
            identity_contact_id: r.identity_contact_id,
            requested_at: Timestamp::from_unix_millis(r.requested_at).to_rfc3339(),
            requested_by: r.requested_by,
            status: r.status,
            automatic: r.automatic != 0,
            attempts: r.attempts,
            last_error: r.last_error,
            outcome: r.outcome,
        }
    }
}

smartcore_domain::column_text! {
    /// Which way our records and the identity side differ.
    pub enum DriftKind {
        /// On the identity side, but no contact or pending removal here.
        UnknownHere => "unknown_here",
        /// Synced here, absent on the identity side.
        MissingThere => "missing_there",
    }
}

/// One difference between our records and the identity side.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DriftEntry {
    pub org_id: String,
    pub org_name: String,
    pub kind: DriftKind,
    pub email: String,
    pub identity_contact_id: String,
    pub contact_id: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Drift {
    pub checked_orgs: usize,
    pub entries: Vec<DriftEntry>,
}

/// A contact whose registration failed for good.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SyncFailure {
    pub contact_id: String,
    pub org_id: String,
    pub email: String,
    pub reason: Option<String>,
}

impl Operations<'_> {
    /// `smartcore migrate`: the versions of the migrations applied (opening the service
    /// applies any missing one).
    pub async fn applied_migrations(
        &self,
    ) -> Result<Vec<i64>, impl std::error::Error + Send + Sync + 'static> {
        self.store.applied_migrations().await
    }

    /// `smartcore backup`: a consistent copy of a running SQLite database in `file`, which opens
    /// as one; refused for PostgreSQL, pointing to `pg_dump`.
    pub async fn backup_to(
        &self,
        file: &std::path::Path,
    ) -> Result<(), impl std::error::Error + Send + Sync + 'static> {
        self.store.backup_to(file).await
    }

    fn check_operator(&self, who: Operator<'_>) -> Result<(), AppError> {
        match who {
            Operator::Staff(actor) => self.require_staff(actor),
            Operator::Cli => Ok(()),
        }
    }

    /// Pending identity-side removals, oldest first.
    pub async fn pending_removals(
        &self,
        who: Operator<'_>,
    ) -> Result<Vec<RemovalRequest>, AppError> {
        self.check_operator(who)?;
        Ok(self
            .store
            .pending_removals()
            .await?
            .into_iter()
            .map(RemovalRequest::from)
            .collect())
    }

    /// Completes a removal: deletes the contact on the identity side where the connector can,
    /// or, with `by_hand`, records that the team removed it there themselves.
    pub async fn complete_removal(
        &self,
        who: Operator<'_>,
        id: &RemovalId,
        by_hand: bool,
    ) -> Result<RemovalRequest, AppError> {
        self.check_operator(who)?;
        let removal = match self.store.removal(id).await {
            Err(StoreError::NotFound) => return Err(AppError::NotFound),
            other => other?,
        };
        if removal.status != smartcore_domain::RemovalStatus::Pending {
            return Err(AppError::conflict(
                ErrorCode::RemovalNotPending,
                format!(
                    "This removal is {} already; there is nothing left to do.",
                    removal.status
                ),
            ));
        }
        let outcome = if by_hand
            || self.identity.kind() == ConnectorKind::Builtin
            || !self.identity.can_delete()
        {
            if by_hand {
                RemovalOutcome::MarkedDone
            } else {
                RemovalOutcome::Deleted
            }
        } else {
            match self
                .identity
                .remove(
                    removal.identity_org_id.as_deref(),
                    &removal.identity_contact_id,
                )
                .await
            {
                Ok(()) => RemovalOutcome::Deleted,
                Err(ConnectorError::Retryable { reason, .. }) => {
                    return Err(AppError::Unavailable {
                        message: format!(
                            "The identity side did not answer ({reason}). Try again shortly."
                        ),
                    });
                }
                Err(e) => {
                    return Err(AppError::conflict(
                        ErrorCode::IdentityRefused,
                        format!(
                            "The identity side refused the deletion: {}. If the contact is gone there already, mark the removal done by hand.",
                            e.reason()
                        ),
                    ));
                }
            }
        };
        let by = who.audit_actor();
        if !self
            .store
            .complete_removal(id, &by, outcome, self.now())
            .await?
        {
            return Err(AppError::conflict(
                ErrorCode::RemovalNotPending,
                "This removal was completed meanwhile.",
            ));
        }
        tracing::info!(removal = %id, outcome = outcome.as_str(), by = %by, "identity-side removal completed");
        Ok(self.store.removal(id).await?.into())
    }

    /// Contacts whose registration failed for good, across organisations.
    pub async fn sync_failures(&self, who: Operator<'_>) -> Result<Vec<SyncFailure>, AppError> {
        self.check_operator(who)?;
        Ok(self
            .store
            .failed_contacts()
            .await?
            .into_iter()
            .map(|(contact_id, org_id, email, reason)| SyncFailure {
                contact_id,
                org_id,
                email,
                reason,
            })
            .collect())
    }

    /// Differences between the contacts synced here and those on the identity side, for every
    /// linked organisation. The builtin connector is its own identity side: no drift there.
    pub async fn drift(&self, who: Operator<'_>) -> Result<Drift, AppError> {
        self.check_operator(who)?;
        if self.identity.kind() == ConnectorKind::Builtin {
            return Ok(Drift {
                checked_orgs: 0,
                entries: Vec::new(),
            });
        }
        let pending: HashSet<String> = self
            .store
            .pending_removals()
            .await?
            .into_iter()
            .map(|r| r.identity_contact_id)
            .collect();
        let mut entries = Vec::new();
        let orgs = self.store.linked_orgs().await?;
        for (org_id, org_name, identity_org_id) in &orgs {
            let remote = self
                .identity
                .list(Some(identity_org_id))
                .await
                .map_err(|e| AppError::Unavailable {
                    message: format!(
                        "Could not list the identity side for {org_name}: {}",
                        e.reason()
                    ),
                })?;
            let typed = OrgId::parse(org_id).ok_or(AppError::NotFound)?;
            let local = self.store.synced_contacts(&typed).await?;
            let local_ids: HashSet<&str> = local
                .iter()
                .map(|(_, _, identity)| identity.as_str())
                .collect();
            let remote_ids: HashSet<&str> = remote.iter().map(|r| r.id.as_str()).collect();
            for r in &remote {
                if !local_ids.contains(r.id.as_str()) && !pending.contains(&r.id) {
                    entries.push(DriftEntry {
                        org_id: org_id.clone(),
                        org_name: org_name.clone(),
                        kind: DriftKind::UnknownHere,
                        email: r.email.clone(),
                        identity_contact_id: r.id.clone(),
                        contact_id: None,
                    });
                }
            }
            for (contact_id, email, identity_id) in &local {
                if !remote_ids.contains(identity_id.as_str()) {
                    entries.push(DriftEntry {
                        org_id: org_id.clone(),
                        org_name: org_name.clone(),
                        kind: DriftKind::MissingThere,
                        email: email.clone(),
                        identity_contact_id: identity_id.clone(),
                        contact_id: Some(contact_id.clone()),
                    });
                }
            }
        }
        Ok(Drift {
            checked_orgs: orgs.len(),
            entries,
        })
    }
}
