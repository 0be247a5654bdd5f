//! Errors at the edge: `application/problem+json` (RFC 9457) for the API, a readable page
//! for browsers. Each use-case error is mapped here, once.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use smartcore_app::AppError;

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
}

pub(crate) fn status_of(e: &AppError) -> StatusCode {
    match e {
        AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
        AppError::Forbidden | AppError::Refused { .. } => StatusCode::FORBIDDEN,
        AppError::NotFound => StatusCode::NOT_FOUND,
        AppError::Invalid {
            code: "invalid_request",
            ..
        } => StatusCode::BAD_REQUEST,
        AppError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        AppError::Conflict { .. } => StatusCode::CONFLICT,
        AppError::RateLimited { .. } | AppError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
        AppError::Unavailable { .. } | AppError::DatabaseUnavailable => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The words shown for an error: internal details are logged, never shown.
pub(crate) fn public_message(e: &AppError) -> String {
    match e {
        AppError::Internal(_) => "Something went wrong on our side. Please try again.".to_owned(),
        other => other.to_string(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = match self {
            ApiError::App(AppError::Unauthenticated) => {
                return ApiError::Unauthenticated {
                    detail: TOKEN_INVALID,
                }
                .into_response();
            }
            ApiError::Unauthenticated { detail } => {
                let mut response = problem_response(Problem::new(
                    StatusCode::UNAUTHORIZED,
                    AppError::Unauthenticated.code(),
                    detail,
                ));
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return response;
            }
            ApiError::App(e) => e,
            ApiError::Body { status, message } => {
                return problem_response(Problem {
                    kind: "/api/problems/invalid_request".to_owned(),
                    title: status.canonical_reason().unwrap_or("Error").to_owned(),
                    status: status.as_u16(),
                    detail: message,
                    code: "invalid_request".to_owned(),
                    field: None,
                    missing: None,
                });
            }
        };
        let status = status_of(&error);
        if let AppError::Internal(detail) = &error {
            tracing::error!(%detail, "internal error answering an API request");
        }
        let (field, missing) = match &error {
            AppError::Invalid { field, .. } => (field.map(str::to_owned), None),
            AppError::Conflict { missing, .. } if !missing.is_empty() => (
                None,
                Some(missing.iter().map(|m| (*m).to_owned()).collect()),
            ),
            _ => (None, None),
        };
        let code = error.code();
        let problem = Problem {
            kind: format!("/api/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: public_message(&error),
            code: code.to_owned(),
            field,
            missing,
        };
        let mut response = problem_response(problem);
        if let Some(secs) = error.retry_after_secs() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl Problem {
    /// A problem without `field` or `missing`, typed `/api/problems/{code}`.
    pub(crate) fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("/api/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_owned(),
            field: None,
            missing: None,
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
        let status = status_of(&self.0);
        if let AppError::Internal(detail) = &self.0 {
            tracing::error!(%detail, "internal error rendering a page");
        }
        let title = match &self.0 {
            AppError::NotFound => "Page not found".to_owned(),
            AppError::Forbidden => "You don't have access to this page".to_owned(),
            _ => status.canonical_reason().unwrap_or("Error").to_owned(),
        };
        let mut response = crate::pages::error_page(status, &title, &public_message(&self.0));
        if let Some(secs) = self.0.retry_after_secs() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
