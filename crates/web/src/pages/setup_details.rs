//! `/setup/{token}`: the read-only SSO setup details behind an IT contact's setup link (D7).

use crate::AppState;
use crate::error::PageError;
use crate::extract::Id;
use crate::render::{error_page, render};
use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use smartcore_app::{LinkRefused, SetupDetails, SetupLink};
use smartcore_domain::OrgId;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/setup/{token}", get(show))
        .route("/saml/{org}/metadata", get(service_provider_metadata))
}

/// `GET /saml/{org}/metadata`: our service-provider metadata, public.
async fn service_provider_metadata(
    State(state): State<AppState>,
    Path(Id(org)): Path<Id<OrgId>>,
) -> Result<Response, PageError> {
    let xml = state.app.setup().service_provider_metadata(&org).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/samlmetadata+xml; charset=utf-8",
        )],
        xml,
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "setup_details.html")]
struct SetupPage {
    details: SetupDetails,
    expires_at: crate::pages::show::When,
}

async fn show(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    Ok(match state.app.setup().open_setup_link(&token).await? {
        SetupLink::Open(details) => {
            let expires_at = crate::pages::show::when(details.expires_at, state.app.now());
            render(
                StatusCode::OK,
                &SetupPage {
                    details,
                    expires_at,
                },
            )
        }
        SetupLink::Refused(LinkRefused::Expired) => error_page(
            StatusCode::GONE,
            "This setup link has expired",
            "Setup links work for 72 hours. Ask an administrator of your organisation to send a new one.",
        ),
        SetupLink::Refused(LinkRefused::Revoked) => error_page(
            StatusCode::GONE,
            "This setup link is no longer valid",
            "You are no longer an IT contact of this organisation, so the link was withdrawn.",
        ),
        SetupLink::Refused(LinkRefused::Invalid) => error_page(
            StatusCode::NOT_FOUND,
            "This setup link is not valid",
            "Check that the whole link was copied from the e-mail, or ask an administrator for a new one.",
        ),
    })
}
