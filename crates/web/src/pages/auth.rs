//! Signing in and out.

use crate::error::PageError;
use crate::render::render;
use crate::{AppState, ClientAddr, session};
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use smartcore_app::AppError;
use smartcore_app::ErrorCode;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/sign-in", get(sign_in_form).post(sign_in))
        .route("/sign-out", post(sign_out))
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage<'a> {
    email: &'a str,
    error: Option<String>,
    /// What went wrong with "Sign in with SSO".
    sso_error: Option<String>,
}

/// The sign-in page. Its forms may lead to the identity provider (`/sso/start` redirects
/// there, and so does the password form for organisations that require SSO), so its CSP lets
/// form submissions end at any HTTPS address (and HTTP ones when this service itself is
/// reached over HTTP, as in development).
pub(crate) fn sign_in_page(
    status: StatusCode,
    email: &str,
    error: Option<String>,
    sso_error: Option<String>,
    state: &AppState,
) -> Response {
    let mut response = render(
        status,
        &SignInPage {
            email,
            error,
            sso_error,
        },
    );
    let targets = if state.config.secure_cookies() {
        "https:"
    } else {
        "https: http:"
    };
    if let Ok(csp) = axum::http::HeaderValue::from_str(&format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self' {targets}"
    )) {
        response
            .headers_mut()
            .insert(axum::http::header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

#[derive(Deserialize)]
struct SignInForm {
    email: String,
    password: String,
}

async fn home(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, PageError> {
    let Some(actor) = session::actor_from_cookies(&headers, &state).await? else {
        return Ok(Redirect::to("/sign-in").into_response());
    };
    let orgs = state.app.accounts().organisations_of(&actor).await?;
    // An organisation the user administers first: members have nothing to manage here.
    let first = orgs
        .iter()
        .find(|o| o.role == smartcore_domain::Role::Admin);
    match first {
        Some(org) => {
            Ok(Redirect::to(&format!("/orgs/{}/settings/authentication", org.id)).into_response())
        }
        None if actor.is_staff => Ok(Redirect::to("/ops").into_response()),
        // Members have nothing to administer: their account page (tokens, organisations).
        None => Ok(Redirect::to("/account").into_response()),
    }
}

async fn sign_in_form(State(state): State<AppState>) -> Response {
    sign_in_page(StatusCode::OK, "", None, None, &state)
}

async fn sign_in(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    jar: CookieJar,
    Form(form): Form<SignInForm>,
) -> Response {
    match state
        .app
        .accounts()
        .sign_in_from(&form.email, &form.password, client)
        .await
    {
        Ok(new) => {
            // A fresh session value at every sign-in; any previous one is dropped.
            if let Some(old) = jar.get(session::COOKIE_NAME) {
                let _ = state.app.accounts().sign_out(old.value()).await;
            }
            let jar = jar.add(session::session_cookie(new.token, &state));
            (jar, Redirect::to("/")).into_response()
        }
        Err(AppError::Invalid {
            code: ErrorCode::SsoRequired,
            ..
        }) => {
            let to = format!(
                "/sso/start?email={}",
                url::form_urlencoded::byte_serialize(form.email.trim().as_bytes())
                    .collect::<String>()
            );
            Redirect::to(&to).into_response()
        }
        Err(e @ (AppError::Invalid { .. } | AppError::RateLimited { .. })) => {
            let status = crate::error::status_of(&e);
            let status = if status == StatusCode::UNPROCESSABLE_ENTITY {
                StatusCode::OK
            } else {
                status
            };
            let error = match &e {
                AppError::RateLimited { retry_after_secs } => format!(
                    "Too many attempts to sign in from here. Try again in {}.",
                    smartcore_app::wait_in_words(*retry_after_secs)
                ),
                other => other.to_string(),
            };
            let mut response = sign_in_page(status, form.email.trim(), Some(error), None, &state);
            crate::error::retry_after(&mut response, &e);
            response
        }
        Err(e) => PageError(e).into_response(),
    }
}

async fn sign_out(State(state): State<AppState>, jar: CookieJar) -> Response {
    if let Some(c) = jar.get(session::COOKIE_NAME)
        && let Err(e) = state.app.accounts().sign_out(c.value()).await
    {
        return PageError(e).into_response();
    }
    let jar = jar.add(session::removal_cookie(&state));
    (jar, Redirect::to("/sign-in")).into_response()
}
