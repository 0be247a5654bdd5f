//! Errors at the edge: `application/problem+json` (RFC 9457) for the API, a readable page
//! for browsers. Each use-case error is mapped here, once: its [`ErrorCode`] gives the status,
//! and what the caller is not told (an internal failure's cause, the database's trouble) is
//! logged here, once, inside the request's span (which carries the request id).

use crate::render::error_page;
use crate::request_id;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use smartcore_app::{AppError, ErrorCode};

/// An API error, answered as problem+json with a stable `code`.
#[derive(Debug)]
pub enum ApiError {
    /// A use case said no.
    App(AppError),
    /// The request body could not be read as the operation's input (`invalid_request`):
    /// 400 when it is not JSON at all, 422 when it is JSON of the wrong shape.
    Body { status: StatusCode, message: String },
    /// 401 `unauthenticated`, in the words of API tokens rather than of the sign-in page.
    Unauthenticated { detail: &'static str },
}

/// No `Authorization` header and no browser session.
pub const TOKEN_MISSING: &str = "Send an API token as `Authorization: Bearer <token>` (create one with `smartcore token create` or on the API tokens page).";
/// An `Authorization` header that is not a bearer token, or a token that does not work.
pub const TOKEN_INVALID: &str = "Send a valid API token as `Authorization: Bearer <token>`; this one is unknown, expired or revoked.";

impl ApiError {
    pub fn unprocessable(message: impl Into<String>) -> Self {
        ApiError::Body {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: message.into(),
        }
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError::App(e)
    }
}

/// The body of an error answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Machine-readable and stable, e.g. `contact_limit_reached`.
    pub code: String,
    /// The request field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For `prerequisites_missing`: what is still needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<Vec<String>>,
    /// The request's id, as in its `x-request-id` header: quote it to support, who find the
    /// request's log lines by it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// The HTTP status of a code.
pub(crate) fn status_of_code(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The HTTP status of a use case's error: its code's.
pub(crate) fn status_of(e: &AppError) -> StatusCode {
    status_of_code(e.code())
}

/// The words shown for an error: internal details are logged, never shown.
pub(crate) fn public_message(e: &AppError) -> String {
    match e {
        AppError::Internal(_) => "Something went wrong on our side. Please try again.".to_owned(),
        other => other.to_string(),
    }
}

/// Logs, once, what the answer does not say: an internal failure with its causes (error), the
/// database's trouble (warning). Called where the error becomes an answer.
fn log_unsaid(e: &AppError, answering: &'static str) {
    match e {
        AppError::Internal(_) => {
            tracing::error!(error = %e.chain(), answering, "internal error");
        }
        AppError::DatabaseUnavailable(_) => {
            tracing::warn!(error = %e.chain(), answering, "the database is unavailable");
        }
        _ => {}
    }
}

/// `Retry-After` for the errors that say when to try again.
pub(crate) fn retry_after(response: &mut Response, e: &AppError) {
    if let Some(secs) = e.retry_after_secs() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
}

fn unauthenticated(detail: &str) -> Response {
    let mut response = problem_response(Problem::new(ErrorCode::Unauthenticated, detail));
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = match self {
            ApiError::App(AppError::Unauthenticated) => return unauthenticated(TOKEN_INVALID),
            ApiError::Unauthenticated { detail } => return unauthenticated(detail),
            ApiError::Body { status, message } => {
                return problem_response(Problem::with_status(
                    status,
                    ErrorCode::InvalidRequest.as_str(),
                    message,
                ));
            }
            ApiError::App(e) => e,
        };
        log_unsaid(&error, "an API request");
        let mut problem = Problem::new(error.code(), public_message(&error));
        match &error {
            AppError::Invalid { field, .. } => problem.field = field.map(str::to_owned),
            AppError::Conflict { missing, .. } if !missing.is_empty() => {
                problem.missing = Some(missing.iter().map(|m| (*m).to_owned()).collect());
            }
            _ => {}
        }
        let mut response = problem_response(problem);
        retry_after(&mut response, &error);
        response
    }
}

impl Problem {
    /// A problem without `field` or `missing`, typed `/api/problems/{code}`, with the code's
    /// status and the id of the request being answered.
    pub(crate) fn new(code: ErrorCode, detail: impl Into<String>) -> Problem {
        Problem::with_status(status_of_code(code), code.as_str(), detail)
    }

    /// A problem with a status of its own: an answer that someone else shaped (see
    /// [`crate::edge`]), or a body of the wrong shape (422 `invalid_request`).
    pub(crate) fn with_status(
        status: StatusCode,
        code: &str,
        detail: impl Into<String>,
    ) -> Problem {
        Problem {
            kind: format!("/api/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_owned(),
            field: None,
            missing: None,
            request_id: request_id::current(),
        }
    }
}

pub(crate) fn problem_response(problem: Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, Json(problem)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

/// An error while rendering a page: a readable page with the same status.
#[derive(Debug)]
pub struct PageError(pub AppError);

impl From<AppError> for PageError {
    fn from(e: AppError) -> Self {
        PageError(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if matches!(self.0, AppError::Unauthenticated) {
            return axum::response::Redirect::to("/sign-in").into_response();
        }
        log_unsaid(&self.0, "a page");
        let status = status_of(&self.0);
        let title = match &self.0 {
            AppError::NotFound => "Page not found".to_owned(),
            AppError::Forbidden => "You don't have access to this page".to_owned(),
            _ => status.canonical_reason().unwrap_or("Error").to_owned(),
        };
        let mut response = error_page(status, &title, &public_message(&self.0));
        retry_after(&mut response, &self.0);
        response
    }
}
