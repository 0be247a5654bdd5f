//! `/api/v1/orgs/{org}/audit-log`: every change, newest first.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::Id;
use crate::extract::{ApiActor, ApiPath, ApiQuery};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use smartcore_domain::OrgId;
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// The `id` of the last event of the previous page.
    before: Option<String>,
    /// 1 to 200; 50 when not given.
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct Event {
    id: String,
    at: String,
    /// The user who made the change, or `system`.
    actor: String,
    /// The acting user's name; absent for `system`.
    actor_name: Option<String>,
    /// The acting user's e-mail address; absent for `system`.
    actor_email: Option<String>,
    /// e.g. `it_contact.added`, `it_contact.synced`, `identity_removal.completed`.
    action: String,
    target: Option<String>,
    #[schema(value_type = Object)]
    details: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct EventPage {
    events: Vec<Event>,
    /// Pass as `before` for the next page; absent on the last page.
    next_before: Option<String>,
}

impl EventPage {
    pub(crate) fn of(events: Vec<smartcore_app::AuditEvent>, limit: i64) -> EventPage {
        let next_before = (events.len() as i64 == limit)
            .then(|| events.last().map(|e| e.id.clone()))
            .flatten();
        EventPage {
            events: events
                .into_iter()
                .map(|e| Event {
                    id: e.id,
                    at: e.at,
                    actor: e.actor.to_string(),
                    actor_name: e.actor_name,
                    actor_email: e.actor_email,
                    action: e.action.as_str().to_owned(),
                    target: e.target,
                    details: e.details,
                })
                .collect(),
            next_before,
        }
    }
}

/// The organisation's audit log, newest first.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/audit-log", operation_id = "listAuditEvents", tag = "Audit log",
    params(("org" = String, Path, description = "Organisation id"), PageParams),
    responses((status = 200, body = EventPage)))]
pub async fn list(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(Id(org)): ApiPath<Id<OrgId>>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<EventPage>, ApiError> {
    // Out of range (0, negative, over 200) is the use case's 400 `invalid_request`.
    let events = state
        .app
        .history()
        .audit_log(&actor, &org, params.before.as_deref(), params.limit)
        .await?;
    Ok(Json(EventPage::of(events, params.limit.unwrap_or(50))))
}

/// Your own account's events, newest first: API tokens created and revoked (one by one or
/// all at once), the account disabled or enabled. The administrators of your organisations
/// see the same events in their audit logs.
#[utoipa::path(get, path = "/api/v1/me/events", operation_id = "listMyAccountEvents", tag = "API tokens",
    params(PageParams),
    responses((status = 200, body = EventPage)))]
pub async fn mine(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<EventPage>, ApiError> {
    let events = state
        .app
        .accounts()
        .account_events(&actor, params.before.as_deref(), params.limit)
        .await?;
    Ok(Json(EventPage::of(events, params.limit.unwrap_or(50))))
}

#[derive(Serialize, ToSchema)]
pub struct MailDelivery {
    id: String,
    attempted_at: String,
    /// The IT contact it was for.
    contact_id: Option<String>,
    email: String,
    /// `certificate_reminder`, `certificate_renewed` or `setup_link`.
    #[schema(example = "certificate_reminder")]
    kind: String,
    subject: String,
    /// `sent`, `deferred` (a temporary failure, retried with backoff) or `rejected` (for good).
    #[schema(example = "sent")]
    status: String,
    message_id: Option<String>,
    /// The mail server's answer when it did not accept the message.
    error: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MailDeliveryList {
    /// Newest first, at most 100.
    deliveries: Vec<MailDelivery>,
}

/// The organisation's most recent mail delivery attempts, one per message and recipient.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/mail-deliveries", operation_id = "listMailDeliveries", tag = "Audit log",
    params(("org" = String, Path, description = "Organisation id")),
    responses((status = 200, body = MailDeliveryList)))]
pub async fn mail_deliveries(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(Id(org)): ApiPath<Id<OrgId>>,
) -> Result<Json<MailDeliveryList>, ApiError> {
    let deliveries = state.app.history().mail_deliveries(&actor, &org).await?;
    Ok(Json(MailDeliveryList {
        deliveries: deliveries
            .into_iter()
            .map(|d| MailDelivery {
                id: d.id,
                attempted_at: d.attempted_at,
                contact_id: d.contact_id,
                email: d.email,
                kind: d.kind.as_str().to_owned(),
                subject: d.subject,
                status: d.status.as_str().to_owned(),
                message_id: d.message_id,
                error: d.error,
            })
            .collect(),
    }))
}
