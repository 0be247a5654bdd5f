//! The Authentication page's issue-16 actions, as plain forms (no JavaScript needed): send a
//! test alert to one contact or to all, and keep a contact that said "not me". Each redirects
//! back to the page with a notice; a refusal (the hourly limit) shows the page with the error.

use crate::AppState;
use crate::error::PageError;
use crate::extract::Id;
use crate::pages::page_actor;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use smartcore_app::AppError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/orgs/{org}/settings/authentication/it-contacts/test-alert",
            post(test_all),
        )
        .route(
            "/orgs/{org}/settings/authentication/it-contacts/{contact}/test-alert",
            post(test_one),
        )
        .route(
            "/orgs/{org}/settings/authentication/it-contacts/{contact}/keep",
            post(keep),
        )
}

async fn send(
    state: &AppState,
    headers: &HeaderMap,
    org: &OrgId,
    contact: Option<&ContactId>,
) -> Result<Response, PageError> {
    let actor = page_actor(headers, state).await?;
    match state
        .app
        .trust()
        .send_test_alerts(&actor, org, contact)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!(
            "/orgs/{org}/settings/authentication?tested=1#notice"
        ))
        .into_response()),
        // The hourly limit: said once at the top of the page, and nothing is left at the POST.
        Err(e @ AppError::RateLimited { .. }) => {
            let path = format!("/orgs/{org}/settings/authentication");
            Ok(crate::pages::flash::redirect(
                headers,
                state,
                &format!("{path}#page-error"),
                crate::pages::flash::Flash {
                    path,
                    place: "top".to_owned(),
                    error: Some(crate::error::public_message(&e)),
                    ..Default::default()
                },
            ))
        }
        Err(e) => Err(e.into()),
    }
}

async fn test_all(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(Id(org)): Path<Id<OrgId>>,
) -> Result<Response, PageError> {
    send(&state, &headers, &org, None).await
}

async fn test_one(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((Id(org), Id(contact))): Path<(Id<OrgId>, Id<ContactId>)>,
) -> Result<Response, PageError> {
    send(&state, &headers, &org, Some(&contact)).await
}

async fn keep(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((Id(org), Id(contact))): Path<(Id<OrgId>, Id<ContactId>)>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    state
        .app
        .trust()
        .keep_contact(&actor, &org, &contact)
        .await?;
    Ok(Redirect::to(&format!(
        "/orgs/{org}/settings/authentication?kept=1#notice"
    ))
    .into_response())
}

/// One watched certificate in the Single Sign-On page's "Upcoming certificate reminders".
pub(crate) struct UpcomingRow {
    /// The certificate's common name.
    pub name: String,
    pub fingerprint: String,
    pub fingerprint_groups: Vec<String>,
    pub not_after: When,
    pub thresholds: Vec<UpcomingThresholdRow>,
}

pub(crate) struct UpcomingThresholdRow {
    pub threshold: String,
    pub describe: String,
    pub at: When,
    pub current: bool,
    pub recipients: Vec<UpcomingRecipientRow>,
}

pub(crate) struct UpcomingRecipientRow {
    pub email: String,
    pub state: RecipientState,
    pub label: &'static str,
    /// Rejected, or failed and retrying: shown as not reaching them.
    pub undelivered: bool,
}

use crate::pages::show::{When, fingerprint_groups, subject_short, when};
use smartcore_domain::{ContactId, OrgId};
use smartcore_domain::{RecipientState, Timestamp};

fn state_label(state: RecipientState) -> &'static str {
    match state {
        RecipientState::Due => "Due now",
        RecipientState::WillReceive => "Will receive",
        RecipientState::Queued | RecipientState::Sending => "Being sent",
        RecipientState::Sent => "Delivered",
        RecipientState::Failed => "Not delivered yet, retrying",
        RecipientState::Rejected => "Rejected by the mail server",
        RecipientState::Cancelled => "Unknown",
    }
}

pub(crate) fn upcoming_rows(u: smartcore_app::Upcoming, now: Timestamp) -> Vec<UpcomingRow> {
    u.certificates
        .into_iter()
        .map(|c| UpcomingRow {
            name: subject_short(&c.subject),
            fingerprint_groups: fingerprint_groups(&c.fingerprint_sha256),
            fingerprint: c.fingerprint_sha256,
            not_after: when(c.not_after, now),
            thresholds: c
                .thresholds
                .into_iter()
                .map(|t| UpcomingThresholdRow {
                    threshold: t.threshold,
                    describe: t.describe,
                    at: when(t.at, now),
                    current: t.current,
                    recipients: t
                        .recipients
                        .into_iter()
                        .map(|r| UpcomingRecipientRow {
                            label: state_label(r.state),
                            email: r.email,
                            undelivered: matches!(
                                r.state,
                                RecipientState::Rejected | RecipientState::Failed
                            ),
                            state: r.state,
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect()
}
