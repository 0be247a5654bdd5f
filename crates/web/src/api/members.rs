//! `/api/v1/orgs/{org}/members`: the member picker's search.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiActor, ApiPath, ApiQuery};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Part of a name or e-mail address, case-insensitive. Empty lists members by name.
    #[serde(default)]
    q: String,
    /// At most 50; 20 when not given.
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct Member {
    id: String,
    name: String,
    email: String,
    role: String,
    is_it_contact: bool,
}

#[derive(Serialize, ToSchema)]
pub struct MemberList {
    members: Vec<Member>,
}

/// Search the organisation's members by name or e-mail.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/members", operation_id = "search_members", tag = "Members",
    params(("org" = String, Path, description = "Organisation id"), SearchParams),
    responses(
        (status = 200, body = MemberList),
    ))]
pub async fn search(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(org): ApiPath<String>,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Json<MemberList>, ApiError> {
    let hits = state
        .app
        .search_members(&actor, &org, &params.q, params.limit)
        .await?;
    Ok(Json(MemberList {
        members: hits
            .into_iter()
            .map(|h| Member {
                id: h.id,
                name: h.name,
                email: h.email,
                role: h.role,
                is_it_contact: h.is_it_contact,
            })
            .collect(),
    }))
}
