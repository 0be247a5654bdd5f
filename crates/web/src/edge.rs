//! The first and the last word on every request, whoever answers it.
//!
//! [`arrive`] comes first: it resolves the client, screens a client's request id and counts the
//! request and its latency. [`finish`] comes last, around the handler:
//! Handlers answer errors through [`crate::ApiError`] and [`crate::PageError`]; some answers
//! are written by others: the router (404 for an unknown path, 405 for a wrong method), axum's
//! extractors, tower-http's CSRF check (an empty 403). Under `/api` each of those becomes
//! problem+json with a stable `code`; elsewhere, a readable HTML page. Every answer then gets
//! `Cache-Control: no-store` (except the static files, which are public), and
//! `Strict-Transport-Security` when the service is reached over HTTPS.

use crate::error::{Problem, problem_response};
use crate::render::error_page;
use crate::{PERMISSIONS_POLICY, client, request_id};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;
use smartcore_app::ErrorCode;
use smartcore_app::Metrics;
use std::sync::Arc;
use std::time::Instant;
use tower_http::csrf::ProtectionError;

/// The `Content-Security-Policy` of every answer that did not choose its own.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// `Strict-Transport-Security` sent when the public URL is `https://…`: one year.
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

/// The largest error body read back to be carried into the problem's `detail`.
const MAX_REWRITTEN_BODY: usize = 4 * 1024;

/// Whether `path` belongs to the JSON API.
pub(crate) fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// What [`arrive`] needs: where to count, and which proxies to believe.
#[derive(Clone)]
pub(crate) struct Arrival {
    pub metrics: Metrics,
    pub proxies: Arc<[IpNet]>,
}

/// The first middleware: the client resolved once (before anything logs or counts it), a
/// client's unusable `x-request-id` dropped (so that a fresh one is made), and the request
/// counted with its latency by method, route template and status.
pub(crate) async fn arrive(
    State(arrival): State<Arrival>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = crate::metrics::route_of(&request);
    client::resolve(&arrival.proxies, &mut request);
    request_id::screen(&mut request);
    let response = next.run(request).await;
    arrival.metrics.http_request(
        method.as_str(),
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// The headers every answer carries unless its handler chose its own.
fn security_headers() -> [(HeaderName, HeaderValue); 4] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ),
        // Issue 24: no page of ours needs the browser's powerful features; none may use them.
        (
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static(PERMISSIONS_POLICY),
        ),
    ]
}

/// The last middleware, around the handler, with the request id at hand for the error answers
/// written inside (problem+json, pages); its state says whether to send HSTS.
pub(crate) async fn finish(State(https): State<bool>, request: Request, next: Next) -> Response {
    let id = request_id::of(&request).map(Arc::<str>::from);
    request_id::within(id, answer(https, request, next)).await
}

async fn answer(https: bool, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let mut response = next.run(request).await;
    let status = response.status();
    if is_api(&path) {
        if (status.is_client_error() || status.is_server_error()) && !is_problem(&response) {
            response = as_problem(response, &method).await;
        }
    } else if status.is_client_error() && !is_html(&response) {
        response = as_page(response);
    }
    let headers = response.headers_mut();
    if !path.starts_with("/static/") {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    for (name, value) in security_headers() {
        if !headers.contains_key(&name) {
            headers.insert(name, value);
        }
    }
    response
}

fn content_type(response: &Response) -> &str {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn is_problem(response: &Response) -> bool {
    content_type(response).starts_with("application/problem+json")
}

fn is_html(response: &Response) -> bool {
    content_type(response).starts_with("text/html")
}

fn is_csrf_refusal(response: &Response) -> bool {
    response.extensions().get::<ProtectionError>().is_some()
}

/// The headers of the original answer worth keeping (`Allow`, `Retry-After`, cookies…), without
/// those that described its body.
fn kept_headers(headers: &HeaderMap) -> HeaderMap {
    let mut kept = headers.clone();
    kept.remove(header::CONTENT_TYPE);
    kept.remove(header::CONTENT_LENGTH);
    kept
}

async fn as_problem(response: Response, method: &Method) -> Response {
    let status = response.status();
    let csrf = is_csrf_refusal(&response);
    let (parts, body) = response.into_parts();
    let text = if content_type_of(&parts.headers).starts_with("text/plain") {
        axum::body::to_bytes(body, MAX_REWRITTEN_BODY)
            .await
            .ok()
            .and_then(|b| String::from_utf8(b.to_vec()).ok())
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
    } else {
        None
    };
    let (code, detail) = match status {
        StatusCode::FORBIDDEN if csrf => (
            ErrorCode::CsrfRefused.as_str().to_owned(),
            "A browser request from another site cannot change anything here (checked with \
             Sec-Fetch-Site and Origin). API clients send no such headers."
                .to_owned(),
        ),
        StatusCode::NOT_FOUND => (
            ErrorCode::NotFound.as_str().to_owned(),
            "There is no API operation at this path.".to_owned(),
        ),
        // A made-up method is not repeated back (issue 24): it is the client's text.
        StatusCode::METHOD_NOT_ALLOWED
            if smartcore_app::COUNTED_METHODS.contains(&method.as_str()) =>
        {
            (
                ErrorCode::MethodNotAllowed.as_str().to_owned(),
                format!("This path does not accept {method}; the Allow header lists what it does."),
            )
        }
        StatusCode::METHOD_NOT_ALLOWED => (
            ErrorCode::MethodNotAllowed.as_str().to_owned(),
            "This path does not accept that method; the Allow header lists what it does."
                .to_owned(),
        ),
        StatusCode::BAD_REQUEST
        | StatusCode::UNPROCESSABLE_ENTITY
        | StatusCode::PAYLOAD_TOO_LARGE
        | StatusCode::UNSUPPORTED_MEDIA_TYPE
        | StatusCode::URI_TOO_LONG
        | StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => (
            ErrorCode::InvalidRequest.as_str().to_owned(),
            text.unwrap_or_else(|| "The request cannot be read.".to_owned()),
        ),
        StatusCode::SERVICE_UNAVAILABLE => (
            ErrorCode::Unavailable.as_str().to_owned(),
            "The service is briefly unavailable. Please try again in a few seconds.".to_owned(),
        ),
        s if s.is_server_error() => (
            ErrorCode::InternalError.as_str().to_owned(),
            "Something went wrong on our side. Please try again.".to_owned(),
        ),
        s => (
            s.canonical_reason()
                .unwrap_or("error")
                .to_lowercase()
                .replace([' ', '-'], "_"),
            text.unwrap_or_else(|| s.canonical_reason().unwrap_or("Error").to_owned()),
        ),
    };
    let mut answer = problem_response(Problem::with_status(status, &code, detail));
    let headers = kept_headers(&parts.headers);
    answer.headers_mut().extend(headers);
    answer
}

fn content_type_of(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn as_page(response: Response) -> Response {
    let status = response.status();
    let (title, message) = match status {
        StatusCode::FORBIDDEN if is_csrf_refusal(&response) => (
            "This form was sent from another site",
            "For your safety, changes can only be made from this service's own pages. Go back, \
             reload the page and try again.",
        ),
        StatusCode::NOT_FOUND => (
            "Page not found",
            "There is no page at this address. Check the address, or go back.",
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "This page cannot do that",
            "This address does not accept that kind of request. Go back and try again.",
        ),
        _ => (
            "Something in the request was not as expected",
            "Go back, reload the page and try again.",
        ),
    };
    let headers = kept_headers(response.headers());
    let mut page = error_page(status, title, message);
    page.headers_mut().extend(headers);
    page
}
