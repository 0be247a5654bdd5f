//! `/api/v1/orgs/{org}/authentication`: what is in place for Single Sign-On.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::Id;
use crate::extract::{ApiActor, ApiPath};
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use smartcore_domain::{OrgId, SsoStatus};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct Overview {
    domains: Vec<serde_json::Value>,
    it_contacts: ContactCount,
    sso: SsoState,
    checklist: Checklist,
}

#[derive(Serialize, ToSchema)]
pub struct ContactCount {
    count: usize,
    limit: usize,
}

#[derive(Serialize, ToSchema)]
pub struct SsoState {
    /// `not_configured`, `configured` or `enabled`.
    status: SsoStatus,
}

#[derive(Serialize, ToSchema)]
pub struct Checklist {
    domain_verified: bool,
    it_contact_added: bool,
    ready_to_enable_sso: bool,
}

/// The Authentication settings at a glance, with the checklist for enabling SSO.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/authentication", operation_id = "getAuthenticationOverview", tag = "Authentication",
    params(("org" = String, Path, description = "Organisation id")),
    responses((status = 200, body = Overview)))]
pub async fn show(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(Id(org)): ApiPath<Id<OrgId>>,
) -> Result<Json<Overview>, ApiError> {
    let o = state
        .app
        .contacts()
        .authentication_overview(&actor, &org)
        .await?;
    let domains = state.app.setup().domains(&actor, &org).await?;
    Ok(Json(Overview {
        domains: domains
            .into_iter()
            .map(|d| serde_json::json!({ "id": d.id, "domain": d.domain, "status": d.status }))
            .collect(),
        it_contacts: ContactCount {
            count: o.contact_count,
            limit: o.contact_limit,
        },
        checklist: Checklist {
            domain_verified: o.domain_verified,
            it_contact_added: o.it_contact_added,
            ready_to_enable_sso: o.ready_to_enable_sso(),
        },
        sso: SsoState {
            status: o.sso_status,
        },
    }))
}
