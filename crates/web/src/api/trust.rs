//! Issue 16: test alerts (`POST …/it-contacts/{id}/test-alert`, `POST …/it-contacts/test-alert`)
//! and keeping a contact that said "not me" (`POST …/it-contacts/{id}/keep`). The trust state of
//! each contact is the `trust` field of [`crate::api::contacts`]' CONTACT.

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::Id;
use crate::extract::{ApiActor, ApiPath};
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use smartcore_app::{Confirmation, ContactTrust, TestAlertReport};
use smartcore_domain::{ContactId, DeliveryStatus, OrgId, RecipientState};
use utoipa::ToSchema;

/// What an administrator may trust about a contact (issue 16).
#[derive(Serialize, ToSchema)]
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
    confirmation: Confirmation,
    /// Synced, mail not rejected, not overdue, not "not me".
    reachable: bool,
    last_test_alert: Option<TestAlert>,
}

/// The last test alert to a contact.
#[derive(Serialize, ToSchema)]
pub struct TestAlert {
    at: String,
    /// `sent`, `deferred` or `rejected`.
    status: DeliveryStatus,
    error: Option<String>,
}

impl Trust {
    pub(crate) fn not_asked() -> Self {
        Trust {
            welcomed_at: None,
            not_responsible_at: None,
            confirmed_at: None,
            confirmation_requested_at: None,
            confirmation: Confirmation::NotAsked,
            reachable: false,
            last_test_alert: None,
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
            confirmation: t.confirmation,
            reachable: t.reachable,
            last_test_alert: t.last_test_alert.as_ref().map(|a| TestAlert {
                at: a.at.to_rfc3339(),
                status: a.status,
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
#[utoipa::path(post, path = "/api/v1/orgs/{org}/it-contacts/{id}/test-alert", operation_id = "sendItContactTestAlert", tag = "IT contacts",
    params(("org" = String, Path, description = "Organisation id"), ("id" = String, Path, description = "Contact id")),
    responses(
        (status = 200, body = TestAlertsSent),
    ))]
pub async fn send_one(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((Id(org), Id(id))): ApiPath<(Id<OrgId>, Id<ContactId>)>,
) -> Result<Json<TestAlertsSent>, ApiError> {
    let report = state
        .app
        .trust()
        .send_test_alerts(&actor, &org, Some(&id))
        .await?;
    Ok(Json(report.into()))
}

/// Send every IT contact a test alert (one per contact; the limit of 5 per organisation per
/// hour counts each).
#[utoipa::path(post, path = "/api/v1/orgs/{org}/it-contacts/test-alert", operation_id = "sendTestAlertsToAllItContacts", tag = "IT contacts",
    params(("org" = String, Path, description = "Organisation id")),
    responses(
        (status = 200, body = TestAlertsSent),
    ))]
pub async fn send_all(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(Id(org)): ApiPath<Id<OrgId>>,
) -> Result<Json<TestAlertsSent>, ApiError> {
    let report = state
        .app
        .trust()
        .send_test_alerts(&actor, &org, None)
        .await?;
    Ok(Json(report.into()))
}

#[derive(Serialize, ToSchema)]
pub struct Kept {
    /// False when the contact had not said "not me" (nothing changed).
    cleared: bool,
}

/// Keep a contact that said "not me": the flag is cleared, the contact stays.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/it-contacts/{id}/keep", operation_id = "keepItContact", tag = "IT contacts",
    params(("org" = String, Path, description = "Organisation id"), ("id" = String, Path, description = "Contact id")),
    responses(
        (status = 200, body = Kept),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "not_found"),
    ))]
pub async fn keep(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((Id(org), Id(id))): ApiPath<(Id<OrgId>, Id<ContactId>)>,
) -> Result<Json<Kept>, ApiError> {
    let cleared = state.app.trust().keep_contact(&actor, &org, &id).await?;
    Ok(Json(Kept { cleared }))
}

/// The organisation's upcoming certificate reminders.
#[derive(Serialize, ToSchema)]
pub struct UpcomingReminders {
    /// Watched certificates, soonest to expire first.
    certificates: Vec<UpcomingCertificate>,
}

#[derive(Serialize, ToSchema)]
pub struct UpcomingCertificate {
    fingerprint_sha256: String,
    subject: String,
    not_after: String,
    /// The current threshold (if one has begun) and the coming ones, in time order.
    thresholds: Vec<UpcomingThreshold>,
}

#[derive(Serialize, ToSchema)]
pub struct UpcomingThreshold {
    /// `d60`, `d30`, `d14`, `d7`, `d3`, `d1`, `d0` (expiry), `w1`, `w2`, … (weekly after).
    #[schema(example = "d30")]
    threshold: String,
    #[schema(example = "expires in 30 days")]
    description: String,
    /// When the threshold begins.
    at: String,
    /// True for the threshold that has begun; false for coming ones.
    current: bool,
    recipients: Vec<UpcomingRecipient>,
}

#[derive(Serialize, ToSchema)]
pub struct UpcomingRecipient {
    contact_id: String,
    email: String,
    /// `due` (the next sweep sends it), `will_receive` (a coming threshold, to the contacts
    /// registered now), or a recorded reminder's state: `queued`, `sending`, `sent`, `failed`
    /// (retried), `rejected`.
    state: RecipientState,
    sent_at: Option<String>,
}

impl From<smartcore_app::Upcoming> for UpcomingReminders {
    fn from(u: smartcore_app::Upcoming) -> Self {
        UpcomingReminders {
            certificates: u
                .certificates
                .into_iter()
                .map(|c| UpcomingCertificate {
                    fingerprint_sha256: c.fingerprint_sha256,
                    subject: c.subject,
                    not_after: c.not_after.to_rfc3339(),
                    thresholds: c
                        .thresholds
                        .into_iter()
                        .map(|t| UpcomingThreshold {
                            threshold: t.threshold,
                            description: t.describe,
                            at: t.at.to_rfc3339(),
                            current: t.current,
                            recipients: t
                                .recipients
                                .into_iter()
                                .map(|r| UpcomingRecipient {
                                    contact_id: r.contact_id,
                                    email: r.email,
                                    state: r.state,
                                    sent_at: r.sent_at.map(|t| t.to_rfc3339()),
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// Who will be mailed, when: per watched certificate, the current threshold (what went out,
/// with its delivery state, and what the next sweep sends) and each coming threshold with its
/// date and the contacts it would go to now. Decided by the sweep's own code.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/reminders/upcoming", operation_id = "listUpcomingReminders", tag = "SSO",
    params(("org" = String, Path, description = "Organisation id")),
    responses(
        (status = 200, body = UpcomingReminders),
    ))]
pub async fn upcoming(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(Id(org)): ApiPath<Id<OrgId>>,
) -> Result<Json<UpcomingReminders>, ApiError> {
    Ok(Json(
        state
            .app
            .trust()
            .upcoming_reminders(&actor, &org)
            .await?
            .into(),
    ))
}
