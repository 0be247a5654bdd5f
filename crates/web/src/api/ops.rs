//! `/api/v1/ops/…`: the operations team's queue of identity-side removals, sync failures and
//! drift. Staff only; anyone else gets 404.

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::Id;
use crate::extract::{ApiActor, ApiPath, ApiQuery};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use smartcore_app::ErrorCode;
use smartcore_app::{AppError, DriftKind, Operator};
use smartcore_domain::{RemovalId, RemovalOutcome, RemovalStatus};
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, ToSchema)]
pub struct Removal {
    id: String,
    org_id: String,
    email: String,
    identity_contact_id: String,
    requested_at: String,
    requested_by: String,
    /// `pending` or `completed`.
    status: RemovalStatus,
    /// Completed by the worker without the team (SMARTCORE_IDENTITY_AUTO_REMOVE).
    automatic: bool,
    attempts: i64,
    last_error: Option<String>,
    /// `deleted` (through the connector) or `marked_done` (by hand), once completed.
    outcome: Option<RemovalOutcome>,
}

impl From<smartcore_app::RemovalRequest> for Removal {
    fn from(r: smartcore_app::RemovalRequest) -> Self {
        Removal {
            id: r.id,
            org_id: r.org_id,
            email: r.email,
            identity_contact_id: r.identity_contact_id,
            requested_at: r.requested_at,
            requested_by: r.requested_by,
            status: r.status,
            automatic: r.automatic,
            attempts: r.attempts,
            last_error: r.last_error,
            outcome: r.outcome,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RemovalList {
    removals: Vec<Removal>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only `pending` is supported.
    status: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CompleteParams {
    /// `true` when the team removed the contact on the identity side by hand; otherwise the
    /// connector deletes it.
    #[serde(default)]
    by_hand: bool,
}

#[derive(Serialize, ToSchema)]
pub struct DriftEntry {
    org_id: String,
    org_name: String,
    /// `unknown_here` or `missing_there`.
    kind: DriftKind,
    email: String,
    identity_contact_id: String,
    contact_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DriftReport {
    checked_orgs: usize,
    entries: Vec<DriftEntry>,
}

#[derive(Serialize, ToSchema)]
pub struct SyncFailure {
    contact_id: String,
    org_id: String,
    email: String,
    reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SyncFailureList {
    failures: Vec<SyncFailure>,
}

/// Identity-side removals waiting for the operations team, oldest first.
#[utoipa::path(get, path = "/api/v1/ops/identity-removals", operation_id = "listIdentityRemovals", tag = "Operations",
    params(ListParams),
    responses((status = 200, body = RemovalList)))]
pub async fn removals(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<RemovalList>, ApiError> {
    let removals = state
        .app
        .operations()
        .pending_removals(Operator::Staff(&actor))
        .await?;
    let pending = smartcore_domain::RemovalStatus::Pending.as_str();
    if let Some(status) = params.status.as_deref().filter(|s| *s != pending) {
        return Err(AppError::invalid(
            ErrorCode::InvalidRequest,
            "status",
            format!("Unknown status {status:?}: use pending."),
        )
        .into());
    }
    Ok(Json(RemovalList {
        removals: removals.into_iter().map(Removal::from).collect(),
    }))
}

/// Complete a removal: delete the contact on the identity side, or record it was removed by hand.
#[utoipa::path(post, path = "/api/v1/ops/identity-removals/{id}/complete", operation_id = "completeIdentityRemoval", tag = "Operations",
    params(("id" = String, Path, description = "Removal id"), CompleteParams),
    responses(
        (status = 200, body = Removal),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "removal_not_pending, identity_refused"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "identity_unavailable"),
    ))]
pub async fn complete(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(Id(id)): ApiPath<Id<RemovalId>>,
    ApiQuery(params): ApiQuery<CompleteParams>,
) -> Result<Json<Removal>, ApiError> {
    let done = state
        .app
        .operations()
        .complete_removal(Operator::Staff(&actor), &id, params.by_hand)
        .await?;
    Ok(Json(done.into()))
}

/// Contacts on the identity side unknown here, and contacts synced here missing there.
#[utoipa::path(get, path = "/api/v1/ops/drift", operation_id = "getIdentityDrift", tag = "Operations",
    responses((status = 200, body = DriftReport)))]
pub async fn drift(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<DriftReport>, ApiError> {
    let drift = state
        .app
        .operations()
        .drift(Operator::Staff(&actor))
        .await?;
    Ok(Json(DriftReport {
        checked_orgs: drift.checked_orgs,
        entries: drift
            .entries
            .into_iter()
            .map(|e| DriftEntry {
                org_id: e.org_id,
                org_name: e.org_name,
                kind: e.kind,
                email: e.email,
                identity_contact_id: e.identity_contact_id,
                contact_id: e.contact_id,
            })
            .collect(),
    }))
}

/// Contacts whose registration the identity side refused for good.
#[utoipa::path(get, path = "/api/v1/ops/sync-failures", operation_id = "listSyncFailures", tag = "Operations",
    responses((status = 200, body = SyncFailureList)))]
pub async fn sync_failures(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<SyncFailureList>, ApiError> {
    let failures = state
        .app
        .operations()
        .sync_failures(Operator::Staff(&actor))
        .await?;
    Ok(Json(SyncFailureList {
        failures: failures
            .into_iter()
            .map(|f| SyncFailure {
                contact_id: f.contact_id,
                org_id: f.org_id,
                email: f.email,
                reason: f.reason,
            })
            .collect(),
    }))
}
