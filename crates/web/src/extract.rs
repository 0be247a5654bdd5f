//! Request extractors: who is asking, and JSON bodies whose rejections are problem+json.

use crate::error::{ApiError, TOKEN_INVALID, TOKEN_MISSING};
use crate::{AppState, session};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use smartcore_app::{Actor, AppError};

/// The user an API request acts as: a bearer token, or the browser's session.
pub struct ApiActor(pub Actor);

impl FromRequestParts<AppState> for ApiActor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let invalid = ApiError::Unauthenticated {
            detail: TOKEN_INVALID,
        };
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value.to_str().ok().and_then(bearer_token).ok_or(invalid)?;
            return match state.app.accounts().bearer_actor(token).await {
                Ok(actor) => Ok(ApiActor(actor)),
                Err(AppError::Unauthenticated) => Err(ApiError::Unauthenticated {
                    detail: TOKEN_INVALID,
                }),
                Err(e) => Err(e.into()),
            };
        }
        match session::actor_from_cookies(&parts.headers, state).await? {
            Some(actor) => Ok(ApiActor(actor)),
            None => Err(ApiError::Unauthenticated {
                detail: TOKEN_MISSING,
            }),
        }
    }
}

/// The token of an `Authorization: Bearer TOKEN` value. The scheme is matched without regard
/// to case (RFC 9110 §11.1: `bearer`, `BEARER`), then one or more spaces, then the token.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once([' ', '\t'])?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
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
                "The request body is too large: at most 64 KiB, or 2 MiB with SAML metadata \
                 (whose document may be at most 1 MiB)."
                    .to_owned(),
            ),
            other => (StatusCode::BAD_REQUEST, other.body_text()),
        };
        ApiError::Body { status, message }
    }
}

/// A query string read into `T`; one that does not fit (a word where a number belongs, bad
/// percent-encoding) is answered 400 `invalid_request` as problem+json.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::Body {
            status: StatusCode::BAD_REQUEST,
            message: format!(
                "The query string does not fit this operation: {}",
                rejection.body_text()
            ),
        }
    }
}

/// One of our ids in a path segment (`Path<Id<OrgId>>`, `ApiPath<(Id<OrgId>, Id<ContactId>)>`),
/// parsed once, here: a segment that is not a well-formed id becomes the id no row has
/// ([`OrgId::parse_or_unmatched`](smartcore_domain::OrgId::parse_or_unmatched)), so the use case
/// runs the same checks in the same order and answers it exactly as an unknown one.
pub struct Id<T>(pub T);

/// The ids a path may name.
pub trait PathId: Sized {
    fn from_segment(segment: &str) -> Self;
}

macro_rules! path_ids {
    ($($id:ident),+) => {$(
        impl PathId for smartcore_domain::$id {
            fn from_segment(segment: &str) -> Self {
                Self::parse_or_unmatched(segment)
            }
        }
    )+};
}
path_ids!(
    OrgId,
    ContactId,
    UserId,
    InvitationId,
    DomainId,
    RemovalId,
    TokenId
);

impl<'de, T: PathId> serde::Deserialize<'de> for Id<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let segment = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(Id(T::from_segment(&segment)))
    }
}

/// Path parameters read into `T`; a segment that cannot be read (percent-encoding that is not
/// UTF-8) is answered 400 `invalid_request` as problem+json.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        match rejection {
            // A route declared without the parameters its handler reads: our bug.
            PathRejection::MissingPathParams(e) => ApiError::App(AppError::internal(e.body_text())),
            other => ApiError::Body {
                status: StatusCode::BAD_REQUEST,
                message: format!("The path cannot be read: {}", other.body_text()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn the_scheme_is_case_insensitive() {
        for value in [
            "Bearer abc",
            "bearer abc",
            "BEARER abc",
            "bEaReR   abc ",
            "Bearer\tabc",
        ] {
            assert_eq!(bearer_token(value), Some("abc"), "{value:?}");
        }
        for value in ["Basic abc", "Bearer", "Bearer   ", "Bearerabc", "", "abc"] {
            assert_eq!(bearer_token(value), None, "{value:?}");
        }
    }
}
