//! The HTML pages: sign-in, the organisation's Authentication settings, its audit log, health
//! checks and the static files. Every form works without JavaScript (POST, then a redirect or
//! the page again with the error next to the field); `app.js` only makes it nicer. Templates
//! escape everything they print, and no page carries inline script or style (the CSP forbids it).

mod account;
mod audit;
pub(crate) mod auth;
mod contact_links;
pub(crate) mod flash;
mod invitation;
mod members;
mod ops;
mod organisation;
mod settings;
mod setup_details;
pub(crate) mod show;
pub(crate) mod sso;
pub(crate) mod sso_sign_in;
mod trust;

use crate::error::PageError;
use crate::{AppState, session};
use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use smartcore_app::{Actor, AppError, OrgSummary};
use smartcore_domain::OrgId;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/static/app.css", get(stylesheet))
        .route("/static/app.js", get(script))
        .merge(auth::routes())
        .merge(account::routes())
        .merge(organisation::routes())
        .merge(settings::routes())
        .merge(members::routes())
        .merge(invitation::routes())
        .merge(sso::routes())
        .merge(sso_sign_in::routes())
        .merge(setup_details::routes())
        .merge(audit::routes())
        .merge(ops::routes())
        .merge(contact_links::routes())
        .merge(trust::routes())
}

async fn ready(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    match state.app.ready().await {
        Ok(()) => "ready".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}")).into_response()
        }
    }
}

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

async fn stylesheet() -> Response {
    static_file(
        "text/css; charset=utf-8",
        include_str!("../../static/app.css"),
    )
}

async fn script() -> Response {
    static_file(
        "text/javascript; charset=utf-8",
        include_str!("../../static/app.js"),
    )
}

/// The signed-in user, or the sign-in page for everyone else.
pub(crate) async fn page_actor(headers: &HeaderMap, state: &AppState) -> Result<Actor, PageError> {
    Ok(session::actor_from_cookies(headers, state)
        .await?
        .ok_or(AppError::Unauthenticated)?)
}

/// The organisation being looked at, and every organisation of the user (for the switcher).
pub(crate) async fn org_context(
    state: &AppState,
    actor: &Actor,
    org: &OrgId,
) -> Result<(OrgSummary, Vec<OrgSummary>), PageError> {
    let orgs = state.app.accounts().organisations_of(actor).await?;
    let current = orgs
        .iter()
        .find(|o| o.id == org.as_str())
        .cloned()
        .ok_or(AppError::NotFound)?;
    Ok((current, orgs))
}

/// A section of an organisation's settings, as the settings navigation shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    General,
    Members,
    Authentication,
    SingleSignOn,
    AuditLog,
}

impl Section {
    /// The section's name, as shown.
    pub(crate) fn title(self) -> &'static str {
        match self {
            Section::General => "General",
            Section::Members => "Members",
            Section::Authentication => "Authentication",
            Section::SingleSignOn => "Single Sign-On",
            Section::AuditLog => "Audit log",
        }
    }

    /// The last part of the section's path under `/orgs/{org}/settings/`.
    pub(crate) fn slug(self) -> &'static str {
        match self {
            Section::General => "general",
            Section::Members => "members",
            Section::Authentication => "authentication",
            Section::SingleSignOn => "sso",
            Section::AuditLog => "audit-log",
        }
    }
}
