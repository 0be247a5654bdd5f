//! `/contact/not-me/{token}` and `/contact/confirm/{token}`: the pages behind the links in
//! messages to IT contacts (issue 16). No sign-in. The GET only shows what the link does and a
//! button; the POST does it (mail scanners fetch links, so a GET changes nothing). Tampered:
//! 404; expired or the contact removed: 410; used again: the same "done" page.

use crate::AppState;
use crate::error::PageError;
use crate::render::{error_page, render};
use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use smartcore_app::{ContactLinkPage, ContactLinkRefused, ContactLinkView, LinkPurpose};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/contact/not-me/{token}", get(show_not_me).post(use_not_me))
        .route(
            "/contact/confirm/{token}",
            get(show_confirm).post(use_confirm),
        )
}

#[derive(Template)]
#[template(path = "contact_link.html")]
struct LinkPage {
    heading: &'static str,
    not_me: bool,
    view: ContactLinkView,
    done_at: Option<crate::pages::show::When>,
}

fn answer(
    purpose: LinkPurpose,
    found: ContactLinkPage,
    now: smartcore_domain::Timestamp,
) -> Response {
    match found {
        ContactLinkPage::Open(view) => {
            let not_me = purpose == LinkPurpose::NotMe;
            render(
                StatusCode::OK,
                &LinkPage {
                    heading: if not_me {
                        "Not responsible for sign-on?"
                    } else {
                        "Are you the right person?"
                    },
                    not_me,
                    done_at: view.done_at.map(|t| crate::pages::show::when(t, now)),
                    view,
                },
            )
        }
        ContactLinkPage::Refused(ContactLinkRefused::Expired) => error_page(
            StatusCode::GONE,
            "This link has expired",
            "Links in messages to IT contacts work for 30 days. Ask an administrator of the organisation, or use the link in a later message.",
        ),
        ContactLinkPage::Refused(ContactLinkRefused::Removed) => error_page(
            StatusCode::GONE,
            "This link is no longer valid",
            "You are no longer an IT contact of this organisation, so there is nothing more to do.",
        ),
        ContactLinkPage::Refused(ContactLinkRefused::Invalid) => error_page(
            StatusCode::NOT_FOUND,
            "This link is not valid",
            "Check that the whole link was copied from the e-mail.",
        ),
    }
}

async fn show(state: &AppState, purpose: LinkPurpose, token: &str) -> Result<Response, PageError> {
    Ok(answer(
        purpose,
        state.app.trust().open_contact_link(purpose, token).await?,
        state.app.now(),
    ))
}

/// Does what the link says, then redirects (303) to the same link, which now shows that it is
/// done: a reload repeats nothing. A refused link is answered with its page at once.
async fn act(state: &AppState, purpose: LinkPurpose, token: &str) -> Result<Response, PageError> {
    match state.app.trust().use_contact_link(purpose, token).await? {
        ContactLinkPage::Open(_) => {
            let path = match purpose {
                LinkPurpose::NotMe => "not-me",
                LinkPurpose::Confirm => "confirm",
            };
            Ok(Redirect::to(&format!("/contact/{path}/{token}#link-done")).into_response())
        }
        refused => Ok(answer(purpose, refused, state.app.now())),
    }
}

async fn show_not_me(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    show(&state, LinkPurpose::NotMe, &token).await
}

async fn use_not_me(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    act(&state, LinkPurpose::NotMe, &token).await
}

async fn show_confirm(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    show(&state, LinkPurpose::Confirm, &token).await
}

async fn use_confirm(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    act(&state, LinkPurpose::Confirm, &token).await
}
