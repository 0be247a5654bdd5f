//! Finishing setup: the setup links mailed to the IT contacts, and enabling Single Sign-On.

use super::{back, refused};
use crate::AppState;
use crate::error::{PageError, public_message};
use crate::extract::Id;
use crate::pages::page_actor;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use smartcore_app::AppError;
use smartcore_domain::OrgId;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/orgs/{org}/settings/sso/setup-links",
            post(send_setup_links),
        )
        .route("/orgs/{org}/settings/sso/enable", post(enable))
}

async fn send_setup_links(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(Id(org)): Path<Id<OrgId>>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let sent = match state.app.setup().send_setup_links(&actor, &org).await {
        Ok(sent) => sent,
        Err(AppError::RateLimited { retry_after_secs }) => {
            return Ok(refused(
                &headers,
                &state,
                &org,
                "setup-links",
                "links-error",
                format!(
                    "Setup links have been sent {} times in the last hour, the most for one organisation. You can send them again in {}.",
                    smartcore_app::SETUP_LINK_SENDS,
                    smartcore_app::wait_in_words(retry_after_secs)
                ),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Redirect::to(&format!(
        "/orgs/{org}/settings/sso?done=links_sent&sent={sent}#notice"
    ))
    .into_response())
}

async fn enable(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(Id(org)): Path<Id<OrgId>>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    match state.app.setup().enable_sso(&actor, &org).await {
        Ok(_) => Ok(back(&org, "enabled")),
        Err(e @ AppError::Conflict { .. }) => Ok(refused(
            &headers,
            &state,
            &org,
            "finish",
            "enable-error",
            public_message(&e),
        )),
        Err(e) => Err(e.into()),
    }
}
