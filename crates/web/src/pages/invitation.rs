//! The invitation link's page: who invites the visitor to which organisation, and joining it
//! (a new account, a first password for an imported one, or signing in); or why the link no
//! longer works.

use crate::error::{PageError, public_message, retry_after, status_of};
use crate::render::render;
use crate::{AppState, ClientAddr, session};
use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use smartcore_app::{AcceptRefused, Accepted, AppError, InvitationLink, InvitationPreview};
use smartcore_domain::Role;

pub fn routes() -> Router<AppState> {
    Router::new().route("/invitations/{token}", get(open_link).post(accept))
}

#[derive(Template)]
#[template(path = "invitation.html")]
struct InvitationPage {
    title: String,
    token: String,
    preview: Option<InvitationPreview>,
    admin: bool,
    name: String,
    error: Option<String>,
    message: String,
}

fn refused_page(refused: AcceptRefused) -> Response {
    let (status, title, message) = match refused {
        AcceptRefused::Unknown => (
            StatusCode::NOT_FOUND,
            "Invitation not found",
            "This invitation link is not one we sent. Check that it was copied in full.",
        ),
        AcceptRefused::Replaced => (
            StatusCode::GONE,
            "This link has been replaced",
            "The invitation was sent again with a new link: use the newest e-mail.",
        ),
        AcceptRefused::Expired => (
            StatusCode::GONE,
            "This invitation has expired",
            "Invitation links work for 7 days. Ask an administrator of the organisation to send it again.",
        ),
        AcceptRefused::Revoked => (
            StatusCode::GONE,
            "This invitation has been revoked",
            "An administrator of the organisation revoked it. Ask them if you should have access.",
        ),
        AcceptRefused::Used => (
            StatusCode::GONE,
            "This invitation has been used",
            "Invitation links work once, and this one has been used already. Sign in if it was you.",
        ),
        AcceptRefused::InviterNotAdmin => (
            StatusCode::GONE,
            "This invitation is no longer valid",
            "The administrator who sent it is no longer an administrator of the organisation. Ask a current administrator to invite you again.",
        ),
        AcceptRefused::AccountExists | AcceptRefused::NoAccount => (
            StatusCode::CONFLICT,
            "Please open the link again",
            "The account for this address changed while you were joining. Open the invitation link again.",
        ),
    };
    render(
        status,
        &InvitationPage {
            title: title.to_owned(),
            token: String::new(),
            preview: None,
            admin: false,
            name: String::new(),
            error: None,
            message: message.to_owned(),
        },
    )
}

async fn open_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    match state.app.members().open_invitation(&token).await? {
        InvitationLink::Open(preview) => Ok(render(
            StatusCode::OK,
            &InvitationPage {
                title: format!("Join {}", preview.org_name),
                admin: preview.role == Role::Admin,
                token,
                preview: Some(preview),
                name: String::new(),
                error: None,
                message: String::new(),
            },
        )),
        InvitationLink::Refused(refused) => Ok(refused_page(refused)),
    }
}

#[derive(Deserialize, Default)]
struct AcceptBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

async fn accept(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    jar: CookieJar,
    Path(token): Path<String>,
    Form(form): Form<AcceptBody>,
) -> Result<Response, PageError> {
    let preview = match state.app.members().open_invitation(&token).await? {
        InvitationLink::Open(p) => p,
        InvitationLink::Refused(refused) => return Ok(refused_page(refused)),
    };
    let result = if preview.account_exists {
        state
            .app
            .members()
            .accept_as_existing(&token, &form.password, client)
            .await
    } else {
        state
            .app
            .members()
            .accept_as_new(
                &token,
                preview.needs_name.then_some(form.name.as_str()),
                &form.password,
            )
            .await
    };
    match result {
        Ok(Accepted::Joined {
            session: new,
            org_id,
        }) => {
            if let Some(old) = jar.get(session::COOKIE_NAME) {
                let _ = state.app.accounts().sign_out(old.value()).await;
            }
            let jar = jar.add(session::session_cookie(new.token, &state));
            Ok((jar, Redirect::to(&format!("/orgs/{org_id}/settings"))).into_response())
        }
        Ok(Accepted::Refused(refused)) => Ok(refused_page(refused)),
        Err(e @ (AppError::Invalid { .. } | AppError::RateLimited { .. })) => {
            let status = status_of(&e);
            let mut response = render(
                status,
                &InvitationPage {
                    title: format!("Join {}", preview.org_name),
                    admin: preview.role == Role::Admin,
                    token,
                    preview: Some(preview),
                    name: form.name.trim().to_owned(),
                    error: Some(public_message(&e)),
                    message: String::new(),
                },
            );
            retry_after(&mut response, &e);
            Ok(response)
        }
        Err(e) => Err(e.into()),
    }
}
