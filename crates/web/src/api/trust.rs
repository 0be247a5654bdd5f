//! Issue 16: test alerts (`POST …/it-contacts/{id}/test-alert`, `POST …/it-contacts/test-alert`)
//! and keeping a contact that said "not me" (`POST …/it-contacts/{id}/keep`). The trust state of
//! each contact is the `trust` field of [`crate::api::contacts`]' CONTACT.

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiActor, ApiPath};
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use smartcore_app::{ContactTrust, TestAlertReport};
use utoipa::ToSchema;

/// What an administrator may trust about a contact (issue 16).
#[derive(Serialize, ToSchema, Default)]
pub struct Trust {
    /// When the welcome notice went out.
    welcomed_at: Option<String>,
    /// Set when the contact used the "Not me / no longer responsible" link, until an
    /// administrator keeps or removes them.
    not_responsible_at: Option<String>,
    /// The last "yes, I am the right person".
    confirmed_at: Option<String>,
    /// The last "are you still the right person?" (the welcome counts as the first).
    confirmation_requested_at: Option<String>,
    /// `not_asked`, `awaiting`, `confirmed` or `overdue` (asked 30 days ago or more, no answer).
    #[schema(example = "confirmed")]
    confirmation: String,
    /// Synced, mail not rejected, not overdue, not "not me".
    reachable: bool,
    last_test_alert: Option<TestAlert>,
}

/// The last test alert to a contact.
#[derive(Serialize, ToSchema)]
pub struct TestAlert {
    at: String,
    /// `sent`, `deferred` or `rejected`.
    #[schema(example = "sent")]
    status: String,
    error: Option<String>,
}

impl Trust {
    pub(crate) fn not_asked() -> Self {
        Trust {
            confirmation: "not_asked".to_owned(),
            ..Trust::default()
        }
    }
}

impl From<&ContactTrust> for Trust {
    fn from(t: &ContactTrust) -> Self {
        Trust {
            welcomed_at: t.welcomed_at.map(|t| t.to_rfc3339()),
            not_responsible_at: t.not_responsible_at.map(|t| t.to_rfc3339()),
            confirmed_at: t.confirmed_at.map(|t| t.to_rfc3339()),
            confirmation_requested_at: t.confirmation_requested_at.map(|t| t.to_rfc3339()),
            confirmation: t.confirmation.as_str().to_owned(),
            reachable: t.reachable,
            last_test_alert: t.last_test_alert.as_ref().map(|a| TestAlert {
                at: a.at.to_rfc3339(),
                status: a.status.clone(),
                error: a.error.clone(),
            }),
        }
    }
}

/// How the test alerts went.
#[derive(Serialize, ToSchema)]
pub struct TestAlertsSent {
    /// Accepted by the mail server.
    sent: usize,
    /// Failed for now (the mail server did not answer); not retried.
    deferred: usize,
    /// Refused for good: shown on the contact as for real mail.
    rejected: usize,
}

impl From<TestAlertReport> for TestAlertsSent {
    fn from(r: TestAlertReport) -> Self {
        TestAlertsSent {
            sent: r.sent,
            deferred: r.deferred,
            rejected: r.rejected,
        }
    }
}

/// Send one IT contact a test alert: a message like a real certificate reminder, marked as a
/// test. At most 5 test alerts per organisation per hour.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/it-contacts/{id}/test-alert", operation_id = "send_test_alert", tag = "IT contacts",
    params(("org" = String, Path, description = "Organisation id"), ("id" = String, Path, description = "Contact id")),
    responses(
        (status = 200, body = TestAlertsSent),
    ))]
pub async fn send_one(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((org, id)): ApiPath<(String, String)>,
) -> Result<Json<TestAlertsSent>, ApiError> {
    let report = state.app.send_test_alerts(&actor, &org, Some(&id)).await?;
    Ok(Json(report.into()))
}

/// Send every IT contact a test alert (one per contact; the limit of 5 per organisation per
/// hour counts each).
#[utoipa::path(post, path = "/api/v1/orgs/{org}/it-contacts/test-alert", operation_id = "send_test_alerts", tag = "IT contacts",
    params(("org" = String, Path, description = "Organisation id")),
    responses(
        (status = 200, body = TestAlertsSent),
    ))]
pub async fn send_all(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(org): ApiPath<String>,
) -> Result<Json<TestAlertsSent>, ApiError> {
    let report = state.app.send_test_alerts(&actor, &org, None).await?;
    Ok(Json(report.into()))
}

#[derive(Serialize, ToSchema)]
pub struct Kept {
    /// False when the contact had not said "not me" (nothing changed).
    cleared: bool,
}

/// Keep a contact that said "not me": the flag is cleared, the contact stays.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/it-contacts/{id}/keep", operation_id = "keep_it_contact", tag = "IT contacts",
    params(("org" = String, Path, description = "Organisation id"), ("id" = String, Path, description = "Contact id")),
    responses(
        (status = 200, body = Kept),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "not_found"),
    ))]
pub async fn keep(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((org, id)): ApiPath<(String, String)>,
) -> Result<Json<Kept>, ApiError> {
    let cleared = state.app.keep_contact(&actor, &org, &id).await?;
    Ok(Json(Kept { cleared }))
}
