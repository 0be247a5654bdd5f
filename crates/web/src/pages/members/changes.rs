//! Changing a member's role and removing a member, each confirmed on a page of its own; a
//! refusal (the last administrator) is shown on that page.

use super::{ConfirmPage, query_value};
use crate::AppState;
use crate::error::PageError;
use crate::extract::Id;
use crate::pages::{org_context, page_actor};
use crate::render::render;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use smartcore_app::{AppError, ErrorCode, MemberView, OrgSummary};
use smartcore_domain::Role;
use smartcore_domain::{OrgId, UserId};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/orgs/{org}/settings/members/{id}/role",
            get(confirm_role).post(set_role),
        )
        .route(
            "/orgs/{org}/settings/members/{id}/remove",
            get(confirm_remove).post(remove),
        )
}

#[derive(Deserialize, Default)]
struct RoleBody {
    #[serde(default)]
    role: String,
}

fn role_page(
    org: OrgSummary,
    orgs: Vec<OrgSummary>,
    member: &MemberView,
    role: Role,
    error: Option<String>,
) -> ConfirmPage {
    let (title, question, note) = match role {
        Role::Admin => (
            "Make administrator",
            format!(
                "Make {} ({}) an administrator of {}?",
                member.name, member.email, org.name
            ),
            "Administrators manage members, IT contacts, domains and Single Sign-On.",
        ),
        Role::Member => (
            "Make member",
            format!(
                "Make {} ({}) a member of {} without administrator permissions?",
                member.name, member.email, org.name
            ),
            "They lose access to these settings at once.",
        ),
    };
    ConfirmPage {
        title: title.to_owned(),
        question,
        note: Some(note.to_owned()),
        action: format!("/orgs/{}/settings/members/{}/role", org.id, member.id),
        role: Some(role.as_str()),
        button: title.to_owned(),
        danger: role == Role::Member,
        error,
        org,
        orgs,
    }
}

async fn confirm_role(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((Id(org), Id(id))): Path<(Id<OrgId>, Id<UserId>)>,
    Query(query): Query<RoleBody>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let member = state.app.members().member_of_org(&actor, &org, &id).await?;
    let role: Role = query.role.parse().map_err(|_| {
        PageError(AppError::invalid(
            ErrorCode::InvalidRole,
            "role",
            "The role must be administrator or member.",
        ))
    })?;
    let (current, orgs) = org_context(&state, &actor, &org).await?;
    Ok(render(
        StatusCode::OK,
        &role_page(current, orgs, &member, role, None),
    ))
}

async fn set_role(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((Id(org), Id(id))): Path<(Id<OrgId>, Id<UserId>)>,
    Form(form): Form<RoleBody>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    match state
        .app
        .members()
        .set_member_role(&actor, &org, &id, &form.role)
        .await
    {
        Ok(m) => Ok(Redirect::to(&format!(
            "/orgs/{org}/settings/members?done=role&email={}#notice",
            query_value(&m.email)
        ))
        .into_response()),
        Err(e @ AppError::Conflict { .. }) => {
            let member = state.app.members().member_of_org(&actor, &org, &id).await?;
            let (current, orgs) = org_context(&state, &actor, &org).await?;
            // The use case read the role before it refused the change.
            let role = form.role.parse().unwrap_or(Role::Member);
            Ok(render(
                StatusCode::CONFLICT,
                &role_page(current, orgs, &member, role, Some(e.to_string())),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

fn remove_page(
    org: OrgSummary,
    orgs: Vec<OrgSummary>,
    member: &MemberView,
    error: Option<String>,
) -> ConfirmPage {
    ConfirmPage {
        title: "Remove member".to_owned(),
        question: format!(
            "Remove {} ({}) from {}? They lose access at once.",
            member.name, member.email, org.name
        ),
        note: member.is_it_contact.then(|| {
            "They are an IT contact: they stay one (IT contacts are about communication) and show as no longer a member.".to_owned()
        }),
        action: format!("/orgs/{}/settings/members/{}/remove", org.id, member.id),
        role: None,
        button: "Remove".to_owned(),
        danger: true,
        error,
        org,
        orgs,
    }
}

async fn confirm_remove(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((Id(org), Id(id))): Path<(Id<OrgId>, Id<UserId>)>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let member = state.app.members().member_of_org(&actor, &org, &id).await?;
    let (current, orgs) = org_context(&state, &actor, &org).await?;
    Ok(render(
        StatusCode::OK,
        &remove_page(current, orgs, &member, None),
    ))
}

async fn remove(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((Id(org), Id(id))): Path<(Id<OrgId>, Id<UserId>)>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    match state.app.members().remove_member(&actor, &org, &id).await {
        Ok(m) => {
            // Removing oneself: nothing here is theirs any more.
            if m.user_id == actor.user_id.as_str() {
                return Ok(Redirect::to("/").into_response());
            }
            Ok(Redirect::to(&format!(
                "/orgs/{org}/settings/members?done=removed&email={}#notice",
                query_value(&m.email)
            ))
            .into_response())
        }
        Err(e @ AppError::Conflict { .. }) => {
            let member = state.app.members().member_of_org(&actor, &org, &id).await?;
            let (current, orgs) = org_context(&state, &actor, &org).await?;
            Ok(render(
                StatusCode::CONFLICT,
                &remove_page(current, orgs, &member, Some(e.to_string())),
            ))
        }
        Err(e) => Err(e.into()),
    }
}
