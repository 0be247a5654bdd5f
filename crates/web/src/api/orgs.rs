//! `/api/v1/orgs`: the organisations the caller belongs to.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::ApiActor;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use smartcore_domain::Role;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct Org {
    /// Use it in `/api/v1/orgs/{org}/…`.
    #[schema(example = "org_0190f3b4c5d67e8f9a0b1c2d3e4f5a6b")]
    id: String,
    name: String,
    /// The caller's role there: `admin` or `member`.
    role: Role,
}

#[derive(Serialize, ToSchema)]
pub struct OrgList {
    /// By name.
    orgs: Vec<Org>,
}

/// The organisations the caller is a member of, by name, with the caller's role in each.
///
/// Staff users (the operations team) get their own memberships too, not every organisation:
/// the list answers "where can I act as a member or administrator", the same as the
/// organisation switcher; staff tools that span organisations live under `/api/v1/ops`.
#[utoipa::path(get, path = "/api/v1/orgs", operation_id = "listOrganisations", tag = "Organisations",
    responses((status = 200, body = OrgList)))]
pub async fn list(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<OrgList>, ApiError> {
    let orgs = state.app.accounts().organisations_of(&actor).await?;
    Ok(Json(OrgList {
        orgs: orgs
            .into_iter()
            .map(|o| Org {
                id: o.id,
                name: o.name,
                role: o.role,
            })
            .collect(),
    }))
}
