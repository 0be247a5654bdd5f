//! The browser session cookie: an opaque random value, `HttpOnly`, `SameSite=Lax`, `Secure`
//! behind HTTPS. A new value is issued at every sign-in (no fixation), and removed at sign-out.

use crate::AppState;
use axum::http::HeaderMap;
use axum_extra::extract::cookie::{Cookie, SameSite};
use smartcore_app::{Actor, AppError, SESSION_LIFETIME};

pub const COOKIE_NAME: &str = "smartcore_session";

/// The session value the browser sent, if any.
pub fn token_from(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| Cookie::parse(c.trim().to_owned()).ok())
        .find(|c| c.name() == COOKIE_NAME)
        .map(|c| c.value().to_owned())
}

pub async fn actor_from_cookies(
    headers: &HeaderMap,
    state: &AppState,
) -> Result<Option<Actor>, AppError> {
    match token_from(headers) {
        Some(token) => state.app.accounts().session_actor(&token).await,
        None => Ok(None),
    }
}

pub fn session_cookie(token: String, state: &AppState) -> Cookie<'static> {
    Cookie::build((COOKIE_NAME, token))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.secure_cookies())
        .max_age(cookie::time::Duration::seconds(
            SESSION_LIFETIME.whole_seconds(),
        ))
        .build()
}

pub fn removal_cookie(state: &AppState) -> Cookie<'static> {
    let mut c = session_cookie(String::new(), state);
    c.make_removal();
    c
}
