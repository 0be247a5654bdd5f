//! `/api/v1/orgs/{org}/invitations`: invite an address with a role, list the pending
//! invitations, resend and revoke. Administrators only. The link itself is only ever in the
//! mail; the API never shows it.

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::Id;
use crate::extract::{ApiActor, ApiJson, ApiPath};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use serde::{Deserialize, Serialize};
use smartcore_app::{InvitationView, MailStatus, SentInvitation};
use smartcore_domain::{InvitationId, InvitationStatus, OrgId, Role};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct Invitation {
    #[schema(example = "inv_0192f3a4b5c67d8e9f0a1b2c3d4e5f60")]
    id: String,
    email: String,
    /// `admin` or `member`.
    role: Role,
    /// The inviting user's id, or `cli`.
    invited_by: String,
    invited_by_name: Option<String>,
    created_at: String,
    /// When the current link was sent.
    sent_at: String,
    expires_at: String,
    /// `pending`, `expired` (resend it), `accepted` or `revoked`.
    status: InvitationStatus,
}

impl From<InvitationView> for Invitation {
    fn from(i: InvitationView) -> Self {
        Invitation {
            id: i.id,
            email: i.email,
            role: i.role,
            invited_by: i.invited_by,
            invited_by_name: i.invited_by_name,
            created_at: i.created_at.to_rfc3339(),
            sent_at: i.sent_at.to_rfc3339(),
            expires_at: i.expires_at.to_rfc3339(),
            status: i.status,
        }
    }
}

/// An invitation just created or resent, with what happened to its mail.
#[derive(Serialize, ToSchema)]
pub struct SentInvitationBody {
    #[serde(flatten)]
    invitation: Invitation,
    /// `sent`, `deferred` (the mail server did not take it now: resend later) or `rejected`.
    mail: MailStatus,
}

impl From<SentInvitation> for SentInvitationBody {
    fn from(s: SentInvitation) -> Self {
        SentInvitationBody {
            invitation: s.invitation.into(),
            mail: s.mail,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct InvitationList {
    /// Oldest first.
    invitations: Vec<Invitation>,
    /// The most pending invitations one organisation can have.
    #[schema(example = 100)]
    limit: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    #[schema(example = "grace@example.com")]
    email: String,
    /// `admin` or `member` (anything else is refused with 422 `invalid_role`).
    #[schema(value_type = Role)]
    role: String,
}

/// Invite an address to join the organisation with a role. The invitee is mailed a
/// single-use link, valid 7 days, naming the organisation and who invited them.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/invitations", operation_id = "createInvitation", tag = "Invitations",
    params(("org" = String, Path, description = "Organisation id")),
    request_body = NewInvitation,
    responses(
        (status = 201, body = SentInvitationBody),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "already_a_member, already_invited, invitation_limit_reached (100 pending)"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "invalid_email, invalid_role, invalid_request"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(Id(org)): ApiPath<Id<OrgId>>,
    ApiJson(body): ApiJson<NewInvitation>,
) -> Result<
    (
        StatusCode,
        [(header::HeaderName, String); 1],
        Json<SentInvitationBody>,
    ),
    ApiError,
> {
    let sent: SentInvitationBody = state
        .app
        .members()
        .invite(&actor, &org, &body.email, &body.role)
        .await?
        .into();
    let location = format!("/api/v1/orgs/{org}/invitations/{}", sent.invitation.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(sent),
    ))
}

/// The organisation's pending invitations, oldest first.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/invitations", operation_id = "listInvitations", tag = "Invitations",
    params(("org" = String, Path, description = "Organisation id")),
    responses(
        (status = 200, body = InvitationList),
    ))]
pub async fn list(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(Id(org)): ApiPath<Id<OrgId>>,
) -> Result<Json<InvitationList>, ApiError> {
    let invitations = state.app.members().invitations(&actor, &org).await?;
    Ok(Json(InvitationList {
        invitations: invitations.into_iter().map(Invitation::from).collect(),
        limit: smartcore_app::MAX_PENDING_INVITATIONS,
    }))
}

/// Revoke a pending invitation: its link answers 410 from now on.
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/invitations/{id}", operation_id = "revokeInvitation", tag = "Invitations",
    params(("org" = String, Path, description = "Organisation id"), ("id" = String, Path, description = "Invitation id (inv_…)")),
    responses(
        (status = 200, body = Invitation),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((Id(org), Id(id))): ApiPath<(Id<OrgId>, Id<InvitationId>)>,
) -> Result<Json<Invitation>, ApiError> {
    let revoked = state
        .app
        .members()
        .revoke_invitation(&actor, &org, &id)
        .await?;
    Ok(Json(revoked.into()))
}

/// Send a pending (or expired) invitation again: a new link, valid 7 days from now; the
/// earlier link stops working (410).
#[utoipa::path(post, path = "/api/v1/orgs/{org}/invitations/{id}/resend", operation_id = "resendInvitation", tag = "Invitations",
    params(("org" = String, Path, description = "Organisation id"), ("id" = String, Path, description = "Invitation id (inv_…)")),
    responses(
        (status = 200, body = SentInvitationBody),
    ))]
pub async fn resend(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((Id(org), Id(id))): ApiPath<(Id<OrgId>, Id<InvitationId>)>,
) -> Result<Json<SentInvitationBody>, ApiError> {
    let sent = state
        .app
        .members()
        .resend_invitation(&actor, &org, &id)
        .await?;
    Ok(Json(sent.into()))
}
