//! Invitations from the members page: sending one, sending it again, and revoking it (after
//! a confirmation page).

use super::list::{InviteForm, members_page, members_with_error};
use super::{ConfirmPage, query_value};
use crate::AppState;
use crate::error::{PageError, public_message, retry_after, status_of};
use crate::extract::Id;
use crate::pages::{org_context, page_actor};
use crate::render::render;
use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use smartcore_app::{AppError, MailStatus};
use smartcore_domain::{InvitationId, OrgId, Role};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/orgs/{org}/settings/members/invitations", post(invite))
        .route(
            "/orgs/{org}/settings/members/invitations/{id}/resend",
            post(resend),
        )
        .route(
            "/orgs/{org}/settings/members/invitations/{id}/revoke",
            get(confirm_revoke).post(revoke),
        )
}

#[derive(Deserialize, Default)]
struct InviteBody {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

async fn invite(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(Id(org)): Path<Id<OrgId>>,
    Form(form): Form<InviteBody>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let role = if form.role.is_empty() {
        Role::Member.as_str()
    } else {
        form.role.as_str()
    };
    match state
        .app
        .members()
        .invite(&actor, &org, &form.email, role)
        .await
    {
        Ok(sent) => {
            let done = if sent.mail == MailStatus::Sent {
                "invited"
            } else {
                "invited_unsent"
            };
            Ok(Redirect::to(&format!(
                "/orgs/{org}/settings/members?done={done}&email={}#notice",
                query_value(&sent.invitation.email)
            ))
            .into_response())
        }
        Err(
            e @ (AppError::Invalid { .. }
            | AppError::Conflict { .. }
            | AppError::RateLimited { .. }),
        ) => {
            let (mut status, page) = members_page(
                &state,
                &actor,
                &org,
                "",
                None,
                InviteForm {
                    email: form.email.trim().to_owned(),
                    admin: matches!(role.parse(), Ok(Role::Admin)),
                    error: Some(public_message(&e)),
                },
            )
            .await?;
            if matches!(e, AppError::RateLimited { .. } | AppError::Conflict { .. }) {
                status = status_of(&e);
            }
            let mut response = render(status, &page);
            retry_after(&mut response, &e);
            Ok(response)
        }
        Err(e) => Err(e.into()),
    }
}

async fn resend(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((Id(org), Id(id))): Path<(Id<OrgId>, Id<InvitationId>)>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    match state
        .app
        .members()
        .resend_invitation(&actor, &org, &id)
        .await
    {
        Ok(sent) => Ok(Redirect::to(&format!(
            "/orgs/{org}/settings/members?done={}&email={}#notice",
            if sent.mail == MailStatus::Sent {
                "resent"
            } else {
                "invited_unsent"
            },
            query_value(&sent.invitation.email)
        ))
        .into_response()),
        Err(e @ (AppError::RateLimited { .. } | AppError::Throttled { .. })) => {
            members_with_error(&state, &actor, &org, e).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn confirm_revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((Id(org), Id(id))): Path<(Id<OrgId>, Id<InvitationId>)>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let invitation = state
        .app
        .members()
        .pending_invitation(&actor, &org, &id)
        .await?;
    let (current, orgs) = org_context(&state, &actor, &org).await?;
    Ok(render(
        StatusCode::OK,
        &ConfirmPage {
            title: "Revoke invitation".to_owned(),
            question: format!(
                "Revoke the invitation to {}? Its link will stop working.",
                invitation.email
            ),
            note: None,
            action: format!(
                "/orgs/{}/settings/members/invitations/{}/revoke",
                current.id, invitation.id
            ),
            role: None,
            button: "Revoke".to_owned(),
            danger: true,
            error: None,
            org: current,
            orgs,
        },
    ))
}

async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((Id(org), Id(id))): Path<(Id<OrgId>, Id<InvitationId>)>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let revoked = state
        .app
        .members()
        .revoke_invitation(&actor, &org, &id)
        .await?;
    Ok(Redirect::to(&format!(
        "/orgs/{org}/settings/members?done=revoked&email={}#notice",
        query_value(&revoked.email)
    ))
    .into_response())
}
