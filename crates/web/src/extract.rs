//! Request extractors: who is asking, and JSON bodies whose rejections are problem+json.

use crate::error::ApiError;
use crate::{AppState, session};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use smartcore_app::{Actor, AppError};

/// The user an API request acts as: a bearer token, or the browser's session.
pub struct ApiActor(pub Actor);

impl FromRequestParts<AppState> for ApiActor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or(AppError::Unauthenticated)?;
            return Ok(ApiActor(state.app.bearer_actor(token).await?));
        }
        match session::actor_from_cookies(&parts.headers, state).await? {
            Some(actor) => Ok(ApiActor(actor)),
            None => Err(AppError::Unauthenticated.into()),
        }
    }
}

/// A JSON body. Malformed JSON, wrong types, unknown fields, a missing content type, a body
/// over the limit and non-UTF-8 bytes are all answered as problem+json, and change nothing.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let (status, message) = match &rejection {
            JsonRejection::JsonDataError(e) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "The request body does not have the expected fields: {}",
                    e.body_text()
                ),
            ),
            JsonRejection::JsonSyntaxError(_) => (
                StatusCode::BAD_REQUEST,
                "The request body is not valid JSON (UTF-8).".to_owned(),
            ),
            JsonRejection::MissingJsonContentType(_) => (
                StatusCode::BAD_REQUEST,
                "Send the request body as JSON with Content-Type: application/json.".to_owned(),
            ),
            // 400 rather than 413, so that every unreadable body is answered alike (issue 3).
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => (
                StatusCode::BAD_REQUEST,
                "The request body is larger than 64 KiB.".to_owned(),
            ),
            other => (StatusCode::BAD_REQUEST, other.body_text()),
        };
        ApiError::Body { status, message }
    }
}
