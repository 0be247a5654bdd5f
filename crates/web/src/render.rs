//! Rendering HTML: a template into an answer, and the readable error page. Depends on no page
//! module, so that pages, [`crate::error`] and [`crate::edge`] can all use it.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// Renders a template, or a plain 500 if rendering fails (it only can on a template bug).
pub(crate) fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side.",
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
    /// The request's id, to quote to support.
    reference: Option<String>,
}

/// A readable error page with `status`; it shows the request's id as a reference to quote.
pub(crate) fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    render(
        status,
        &ErrorPage {
            title,
            message,
            reference: crate::request_id::current(),
        },
    )
}
