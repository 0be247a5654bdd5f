//! Settings (the index every signed-in page links to), Settings → Organisation and General.
//! Any member of the organisation may see them; what an administrator can change is linked.

use crate::AppState;
use crate::error::PageError;
use crate::extract::Id;
use crate::pages::{org_context, page_actor};
use crate::render::render;
use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get};
use smartcore_app::{AppError, OrgSummary};
use smartcore_domain::OrgId;
use smartcore_domain::Role;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/settings", get(settings_home))
        // Settings: its sections are links (Organisation: General, Members, Authentication,
        // Single Sign-On, Audit log; and the user's own account).
        .route(
            "/orgs/{org}/settings",
            org_page(|org, orgs, admin| IndexPage { org, orgs, admin }),
        )
        .route(
            "/orgs/{org}/settings/organisation",
            org_page(|org, orgs, admin| OrganisationPage { org, orgs, admin }),
        )
        .route(
            "/orgs/{org}/settings/general",
            org_page(|org, orgs, admin| GeneralPage { org, orgs, admin }),
        )
}

/// `/settings`: the Settings index of the first organisation the user administers (else of
/// their first); the operations team without an organisation go to their queue.
async fn settings_home(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let orgs = state.app.accounts().organisations_of(&actor).await?;
    let first = orgs.iter().find(|o| o.role == Role::Admin).or(orgs.first());
    match first {
        Some(org) => Ok(Redirect::to(&format!("/orgs/{}/settings", org.id)).into_response()),
        None if actor.is_staff => Ok(Redirect::to("/ops").into_response()),
        None => Err(PageError(AppError::NotFound)),
    }
}

#[derive(Template)]
#[template(path = "settings_index.html")]
struct IndexPage {
    org: OrgSummary,
    orgs: Vec<OrgSummary>,
    admin: bool,
}

#[derive(Template)]
#[template(path = "settings_organisation.html")]
struct OrganisationPage {
    org: OrgSummary,
    orgs: Vec<OrgSummary>,
    admin: bool,
}

#[derive(Template)]
#[template(path = "settings_general.html")]
struct GeneralPage {
    org: OrgSummary,
    orgs: Vec<OrgSummary>,
    admin: bool,
}

/// The handler of a page that shows the organisation (with the others, for the switcher) and
/// whether the user administers it. Any member may see it.
fn org_page<P: Template + 'static>(
    page: fn(OrgSummary, Vec<OrgSummary>, bool) -> P,
) -> MethodRouter<AppState> {
    get(
        move |State(state): State<AppState>, headers: HeaderMap, Path(Id(org)): Path<Id<OrgId>>| async move {
            let actor = page_actor(&headers, &state).await?;
            let (org, orgs) = org_context(&state, &actor, &org).await?;
            let admin = org.role == Role::Admin;
            Ok::<_, PageError>(render(StatusCode::OK, &page(org, orgs, admin)))
        },
    )
}
