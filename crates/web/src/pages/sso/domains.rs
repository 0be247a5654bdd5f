//! The domains section: adding a domain (its TXT record shown) and checking it now.

use super::{back, given_back, refused};
use crate::AppState;
use crate::error::{PageError, public_message};
use crate::extract::Id;
use crate::pages::page_actor;
use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use serde::Deserialize;
use smartcore_app::AppError;
use smartcore_domain::DomainStatus;
use smartcore_domain::{DomainId, OrgId};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/orgs/{org}/settings/sso/domains", post(add_domain))
        .route(
            "/orgs/{org}/settings/sso/domains/{domain}/verify",
            post(verify_domain),
        )
}

#[derive(Deserialize)]
struct DomainForm {
    domain: String,
}

async fn add_domain(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(Id(org)): Path<Id<OrgId>>,
    Form(form): Form<DomainForm>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    match state
        .app
        .setup()
        .add_domain(&actor, &org, &form.domain)
        .await
    {
        Ok(_) => Ok(back(&org, "domain_added")),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => Ok(given_back(
            &headers,
            &state,
            &org,
            "domain",
            ("domain", &form.domain),
            public_message(&e),
        )),
        Err(e) => Err(e.into()),
    }
}

async fn verify_domain(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((Id(org), Id(domain))): Path<(Id<OrgId>, Id<DomainId>)>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    match state.app.setup().verify_domain(&actor, &org, &domain).await {
        Ok(checked) if checked.status == DomainStatus::Verified => Ok(back(&org, "verified")),
        Ok(_) => Ok(back(&org, "not_yet")),
        // Not found yet, a different value, or verified by another organisation: say so.
        Err(e @ AppError::Conflict { .. }) => Ok(refused(
            &headers,
            &state,
            &org,
            "domains",
            "verify-error",
            public_message(&e),
        )),
        Err(e) => Err(e.into()),
    }
}
