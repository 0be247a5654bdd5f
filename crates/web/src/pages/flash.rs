//! One-time messages across a redirect (issue 23): a form posts, its handler puts the outcome
//! in a short-lived cookie and redirects (303) to the page that shows it; that page's GET reads
//! the cookie and clears it, so a reload neither shows a secret again nor repeats the action.
//!
//! The cookie is `HttpOnly`, lives two minutes, is bound to the page it is for, and is signed
//! (HMAC-SHA-256) with the browser's session value: nobody without the session can make a page
//! say something, and it is useless in another session.

use crate::AppState;
use crate::session;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, SameSite};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

const COOKIE_NAME: &str = "smartcore_flash";
const LIFETIME_SECS: i64 = 120;

/// What the next page shows once.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Flash {
    /// The path of the page it is for (without query or fragment).
    pub path: String,
    /// Where on that page, e.g. `finish` for the "Finish setup" section; the page decides.
    pub place: String,
    /// A notice (`role="status"`) ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    /// ... or an error (`role="alert"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A secret shown once (a new API token), with when it stops working, if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_expires: Option<String>,
    /// What was typed in a form given back with an error, to show it again.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub fields: std::collections::BTreeMap<String, String>,
}

impl Flash {
    /// A typed value, or "".
    pub fn field(&self, name: &str) -> String {
        self.fields.get(name).cloned().unwrap_or_default()
    }
}

/// At most this much of a typed value travels back (a cookie holds about 4 KB).
const FIELD_LIMIT: usize = 1000;

/// A typed value to show again, cut to [`FIELD_LIMIT`] bytes at a character boundary.
pub(crate) fn kept(value: &str) -> String {
    let v = value.trim();
    let mut end = v.len().min(FIELD_LIMIT);
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    v[..end].to_owned()
}

fn mac(key: &str, payload: &str) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    m.update(b"smartcore-flash\0");
    m.update(payload.as_bytes());
    m.finalize().into_bytes().to_vec()
}

fn cookie_of(value: String, state: &AppState) -> Cookie<'static> {
    Cookie::build((COOKIE_NAME, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.secure_cookies())
        .max_age(cookie::time::Duration::seconds(LIFETIME_SECS))
        .build()
}

/// A 303 to `location` (its path must be `flash.path`; the fragment names the message) that
/// carries `flash` to the next GET. Without a session it is a plain redirect.
pub(crate) fn redirect(
    request: &HeaderMap,
    state: &AppState,
    location: &str,
    flash: Flash,
) -> Response {
    let mut response = Redirect::to(location).into_response();
    let Some(key) = session::token_from(request) else {
        return response;
    };
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&flash).unwrap_or_default());
    let value = format!("{payload}.{}", URL_SAFE_NO_PAD.encode(mac(&key, &payload)));
    if let Ok(v) = HeaderValue::from_str(&cookie_of(value, state).to_string()) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The flash for the page at `path`, if this request carries a genuine one.
pub(crate) fn take(request: &HeaderMap, path: &str) -> Option<Flash> {
    let key = session::token_from(request)?;
    let value = request
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| Cookie::parse(c.trim().to_owned()).ok())
        .find(|c| c.name() == COOKIE_NAME)
        .map(|c| c.value().to_owned())?;
    let (payload, signature) = value.split_once('.')?;
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    let mut m = Hmac::<Sha256>::new_from_slice(key.as_bytes()).ok()?;
    m.update(b"smartcore-flash\0");
    m.update(payload.as_bytes());
    m.verify_slice(&signature).ok()?;
    let flash: Flash = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    (flash.path == path).then_some(flash)
}

/// Clears the flash cookie on `response` (the page that showed it) and keeps a page with a
/// secret out of caches.
pub(crate) fn shown(mut response: Response, state: &AppState, flash: &Option<Flash>) -> Response {
    let Some(flash) = flash else {
        return response;
    };
    let mut removal = cookie_of(String::new(), state);
    removal.make_removal();
    if let Ok(v) = HeaderValue::from_str(&removal.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    if flash.secret.is_some() {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
