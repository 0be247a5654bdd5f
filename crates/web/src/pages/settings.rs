//! Settings → Organisation → Authentication.

use crate::error::PageError;
use crate::pages::render;
use crate::{AppState, session};
use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use smartcore_app::{AppError, ContactListView, OrgSummary};

pub fn routes() -> Router<AppState> {
    Router::new().route("/orgs/{org}/settings/authentication", get(authentication))
}

#[derive(Template)]
#[template(path = "authentication.html")]
struct AuthenticationPage {
    org: OrgSummary,
    orgs: Vec<OrgSummary>,
    contacts: ContactListView,
}

async fn authentication(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
) -> Result<Response, PageError> {
    let actor = session::actor_from_cookies(&headers, &state)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let contacts = state.app.list_contacts(&actor, &org).await?;
    let orgs = state.app.organisations_of(&actor).await?;
    let current = orgs
        .iter()
        .find(|o| o.id == org)
        .cloned()
        .ok_or(AppError::NotFound)?;
    Ok(render(
        StatusCode::OK,
        &AuthenticationPage {
            org: current,
            orgs,
            contacts,
        },
    ))
}
