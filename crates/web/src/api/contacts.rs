//! `/api/v1/orgs/{org}/it-contacts`: list, add, remove.

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::Id;
use crate::extract::{ApiActor, ApiJson, ApiPath};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use serde::{Deserialize, Serialize};
use smartcore_app::AddContact;
use smartcore_domain::{ContactId, ContactSource, IdentityRemoval, ItContact, OrgId, SyncStatus};
use utoipa::ToSchema;

/// An IT contact.
#[derive(Serialize, ToSchema)]
pub struct Contact {
    #[schema(example = "itc_0192f3a4b5c67d8e9f0a1b2c3d4e5f60")]
    id: String,
    email: String,
    name: Option<String>,
    /// `member` (picked from the organisation's members) or `manual` (typed in).
    source: ContactSource,
    member_id: Option<String>,
    /// For a member contact: whether that person is still a member.
    still_member: Option<bool>,
    /// `pending` until registered on the identity side, then `synced`; `failed` with a reason.
    status: SyncStatus,
    status_detail: Option<String>,
    synced_at: Option<String>,
    created_at: String,
    created_by: String,
    /// Set when the mail server refused the last message to this contact for good: alerts do
    /// not reach it until the address is corrected.
    mail_rejected: Option<MailRejected>,
    /// Welcome, "not me", re-confirmation and test alerts (issue 16).
    trust: crate::api::trust::Trust,
}

/// A permanent refusal of mail to a contact.
#[derive(Serialize, ToSchema)]
pub struct MailRejected {
    at: String,
    /// The mail server's answer, e.g. `550 5.1.1 no such mailbox`.
    reason: String,
}

impl From<ItContact> for Contact {
    fn from(c: ItContact) -> Self {
        Contact {
            id: c.id.to_string(),
            email: c.email.to_string(),
            name: c.name.map(|n| n.to_string()),
            source: c.source,
            still_member: c.member_id.as_ref().map(|_| c.still_member),
            member_id: c.member_id.map(|m| m.to_string()),
            status: c.status,
            status_detail: c.status_detail,
            synced_at: c.synced_at.map(|t| t.to_rfc3339()),
            created_at: c.created_at.to_rfc3339(),
            created_by: c.created_by.to_string(),
            mail_rejected: c.mail_rejected.map(|r| MailRejected {
                at: r.at.to_rfc3339(),
                reason: r.reason,
            }),
            trust: crate::api::trust::Trust::not_asked(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ContactList {
    /// Oldest first.
    contacts: Vec<Contact>,
    #[schema(example = 20)]
    limit: usize,
    #[schema(example = 2)]
    recommended_minimum: usize,
}

/// Either `member_id`, or `email` with an optional `name`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContact {
    member_id: Option<String>,
    email: Option<String>,
    name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RemovalAnswer {
    /// `not_needed`: it was never registered, the pending registration is cancelled;
    /// `flagged`: the operations team completes the removal on the identity side;
    /// `completed`: the identity side has removed it already.
    identity_removal: IdentityRemoval,
}

/// List the organisation's IT contacts, oldest first.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/it-contacts", operation_id = "listItContacts", tag = "IT contacts",
    params(("org" = String, Path, description = "Organisation id")),
    responses(
        (status = 200, body = ContactList),
    ))]
pub async fn list(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(Id(org)): ApiPath<Id<OrgId>>,
) -> Result<Json<ContactList>, ApiError> {
    let view = state.app.contacts().list_contacts(&actor, &org).await?;
    let trust = state.app.trust().trust_of_listed(&view).await?;
    Ok(Json(ContactList {
        contacts: view
            .contacts
            .into_iter()
            .map(|c| {
                let t = trust.of(c.id.as_str()).map(crate::api::trust::Trust::from);
                let mut contact = Contact::from(c);
                if let Some(t) = t {
                    contact.trust = t;
                }
                contact
            })
            .collect(),
        limit: view.limit,
        recommended_minimum: view.recommended_minimum,
    }))
}

/// Add an IT contact: pick a member, or enter an address (and optionally a name).
#[utoipa::path(post, path = "/api/v1/orgs/{org}/it-contacts", operation_id = "createItContact", tag = "IT contacts",
    params(("org" = String, Path, description = "Organisation id")),
    request_body = NewContact,
    responses(
        (status = 201, body = Contact),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "invalid_request"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "already_a_contact, contact_limit_reached"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "invalid_email, invalid_name, member_not_found, invalid_request"),
    ))]
pub async fn add(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(Id(org)): ApiPath<Id<OrgId>>,
    ApiJson(body): ApiJson<NewContact>,
) -> Result<(StatusCode, [(header::HeaderName, String); 1], Json<Contact>), ApiError> {
    let request = match body {
        NewContact {
            member_id: Some(member_id),
            email: None,
            name: None,
        } => AddContact::Member { member_id },
        NewContact {
            member_id: None,
            email: Some(email),
            name,
        } => AddContact::Manual { email, name },
        NewContact {
            member_id: Some(_), ..
        } => {
            return Err(ApiError::unprocessable(
                "Give either member_id, or email with an optional name, not both.",
            ));
        }
        NewContact {
            member_id: None,
            email: None,
            ..
        } => {
            return Err(ApiError::unprocessable(
                "Give either member_id, or email with an optional name.",
            ));
        }
    };
    let contact: Contact = state
        .app
        .contacts()
        .add_contact(&actor, &org, request)
        .await?
        .into();
    let location = format!("/api/v1/orgs/{org}/it-contacts/{}", contact.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(contact),
    ))
}

/// Remove an IT contact. The answer says what happens on the identity side.
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/it-contacts/{id}", operation_id = "deleteItContact", tag = "IT contacts",
    params(("org" = String, Path, description = "Organisation id"), ("id" = String, Path, description = "Contact id")),
    responses(
        (status = 200, body = RemovalAnswer),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "last_contact_required"),
    ))]
pub async fn remove(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((Id(org), Id(id))): ApiPath<(Id<OrgId>, Id<ContactId>)>,
) -> Result<Json<RemovalAnswer>, ApiError> {
    let removal = state
        .app
        .contacts()
        .remove_contact(&actor, &org, &id)
        .await?;
    Ok(Json(RemovalAnswer {
        identity_removal: removal.identity_removal,
    }))
}
