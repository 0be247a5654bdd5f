//! `/api/v1/orgs/{org}/members`: the members list (by name, in pages of up to 50 with a keyset
//! cursor) and the member picker's ranked search (one page, with a count), role changes and
//! removals. Administrators only.

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::Id;
use crate::extract::{ApiActor, ApiJson, ApiPath, ApiQuery};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use smartcore_app::MemberView;
use smartcore_domain::{OrgId, Role, UserId};
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Part of a name or e-mail address, case-insensitive, every character literal. Given, the
    /// answer is a search's one page of best matches: the member whose address is `q`, then
    /// members with a word of their name or address starting with `q` (a word starts at the
    /// beginning or after a space, `.`, `-`, `_`, `'`, `+` or `@`; not for a one-character
    /// `q`), then the other members containing it; each group by name. `total` counts the
    /// matches up to 1,000 and `more` says there are more than that; there is no next page
    /// (type more to narrow). Empty: every member by name, in pages.
    #[serde(default)]
    q: String,
    /// At most 50; 20 when not given.
    limit: Option<i64>,
    /// The `next` of the previous page, without `q`; leave out for the first page. With a
    /// non-empty `q` it is refused (400 `invalid_request`).
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Member {
    #[schema(example = "usr_0192f3a4b5c67d8e9f0a1b2c3d4e5f60")]
    id: String,
    name: String,
    email: String,
    /// `admin` or `member`.
    role: Role,
    is_it_contact: bool,
    /// When they joined the organisation (RFC 3339).
    joined_at: String,
}

impl From<MemberView> for Member {
    fn from(m: MemberView) -> Self {
        Member {
            id: m.id,
            name: m.name,
            email: m.email,
            role: m.role,
            is_it_contact: m.is_it_contact,
            joined_at: m.joined_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MemberList {
    /// Without `q`: by name. With `q`: best matches first (exact address, word starts, the
    /// rest; each by name).
    members: Vec<Member>,
    /// Pass as `cursor` for the next page; null on the last page, and always for a search.
    next: Option<String>,
    /// A search only: how many members match, counted up to 1,000.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 53, maximum = 1000)]
    total: Option<i64>,
    /// A search only: true when more than `total` (1,000) members match.
    #[serde(skip_serializing_if = "Option::is_none")]
    more: Option<bool>,
}

/// Search the organisation's members by name or e-mail (one ranked page, counted), or page
/// through all of them by name.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/members", operation_id = "listMembers", tag = "Members",
    params(("org" = String, Path, description = "Organisation id"), SearchParams),
    responses(
        (status = 200, body = MemberList),
    ))]
pub async fn search(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(Id(org)): ApiPath<Id<OrgId>>,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Json<MemberList>, ApiError> {
    let page = state
        .app
        .members()
        .list_members(
            &actor,
            &org,
            &params.q,
            params.cursor.as_deref(),
            params.limit,
        )
        .await?;
    Ok(Json(MemberList {
        members: page.members.into_iter().map(Member::from).collect(),
        next: page.next,
        total: page.matches.map(|m| m.total),
        more: page.matches.map(|m| m.more),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    /// `admin` or `member` (anything else is refused with 422 `invalid_role`).
    #[schema(value_type = Role)]
    role: String,
}

/// Change a member's role. The last administrator cannot be demoted. The member's next
/// request (page or API token, on any instance) is answered with the new role.
#[utoipa::path(patch, path = "/api/v1/orgs/{org}/members/{id}", operation_id = "updateMemberRole", tag = "Members",
    params(("org" = String, Path, description = "Organisation id"), ("id" = String, Path, description = "The member's user id (usr_…)")),
    request_body = RoleChange,
    responses(
        (status = 200, body = Member),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "last_admin_required"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "invalid_role, invalid_request"),
    ))]
pub async fn set_role(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((Id(org), Id(id))): ApiPath<(Id<OrgId>, Id<UserId>)>,
    ApiJson(body): ApiJson<RoleChange>,
) -> Result<Json<Member>, ApiError> {
    let member = state
        .app
        .members()
        .set_member_role(&actor, &org, &id, &body.role)
        .await?;
    Ok(Json(member.into()))
}

#[derive(Serialize, ToSchema)]
pub struct RemovedMember {
    id: String,
    email: String,
    /// The role they had.
    role: Role,
}

/// Remove a member from the organisation. The last administrator cannot be removed. An IT
/// contact picked from this member stays and shows as no longer a member (D3).
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/members/{id}", operation_id = "deleteMember", tag = "Members",
    params(("org" = String, Path, description = "Organisation id"), ("id" = String, Path, description = "The member's user id (usr_…)")),
    responses(
        (status = 200, body = RemovedMember),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "last_admin_required"),
    ))]
pub async fn remove(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((Id(org), Id(id))): ApiPath<(Id<OrgId>, Id<UserId>)>,
) -> Result<Json<RemovedMember>, ApiError> {
    let removed = state.app.members().remove_member(&actor, &org, &id).await?;
    Ok(Json(RemovedMember {
        id: removed.user_id,
        email: removed.email,
        role: removed.role,
    }))
}
