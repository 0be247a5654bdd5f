//! `/metrics` for the operations team, and the middleware that counts every HTTP request.
//!
//! Where it is served (decided here, documented in the README):
//! - with `SMARTCORE_METRICS_TOKEN` set, on the service's own address, to requests bearing
//!   `Authorization: Bearer <token>` (anything else: 401);
//! - with `SMARTCORE_METRICS_LISTEN` set, on that address alone ([`metrics_router`]), without a
//!   token: the address is meant to be reachable only by the scraper;
//! - with neither, not at all (404): counts of an organisation's contacts are not public.

use crate::AppState;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use smartcore_app::{App, METRICS_CONTENT_TYPE, PROMETHEUS_TEXT_CONTENT_TYPE, to_prometheus_text};

/// The route template a request is counted under: requests that matched no route count under
/// `unmatched`, whatever their path (called by [`crate::edge::arrive`], which counts every
/// request and its latency by method, route template and status).
pub(crate) fn route_of(request: &Request) -> String {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned())
}

/// `/metrics` on the service's own address, behind the token.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(guarded))
}

async fn guarded(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = state
        .config
        .metrics_token
        .as_ref()
        .map(ExposeSecret::expose_secret)
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    // Digests compared, so the comparison's time says nothing about the token.
    let matches =
        presented.is_some_and(|t| Sha256::digest(t.as_bytes()) == Sha256::digest(token.as_bytes()));
    if !matches {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\"")],
            "/metrics needs Authorization: Bearer with the SMARTCORE_METRICS_TOKEN value\n",
        )
            .into_response();
    }
    scrape(&state.app, &headers).await
}

/// Whether the scraper asked for OpenMetrics: `Accept` names `application/openmetrics-text`
/// with a quality above 0 and at least that of `text/plain` (Prometheus itself sends
/// `application/openmetrics-text;version=1.0.0;q=0.5,…,text/plain;version=0.0.4;q=0.3,*/*;q=0.2`).
/// Anything else, no `Accept` and `*/*` included, gets the text format 0.0.4.
pub(crate) fn wants_openmetrics(headers: &HeaderMap) -> bool {
    let (mut openmetrics, mut plain) = (0.0f32, 0.0f32);
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for range in value.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .and_then(|(_, v)| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "application/openmetrics-text" => openmetrics = openmetrics.max(q),
                "text/plain" => plain = plain.max(q),
                _ => {}
            }
        }
    }
    openmetrics > 0.0 && openmetrics >= plain
}

async fn scrape(app: &App, headers: &HeaderMap) -> Response {
    match app.operations().metrics_text().await {
        Ok(text) if wants_openmetrics(headers) => {
            ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], text).into_response()
        }
        Ok(text) => (
            [(header::CONTENT_TYPE, PROMETHEUS_TEXT_CONTENT_TYPE)],
            to_prometheus_text(&text),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "metrics not available");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("metrics not available: {e}\n"),
            )
                .into_response()
        }
    }
}

/// The router of the separate metrics address (`SMARTCORE_METRICS_LISTEN`): `/metrics` only,
/// without a token.
pub fn metrics_router(app: App) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(app): State<App>, headers: HeaderMap| async move {
                scrape(&app, &headers).await
            }),
        )
        .with_state(app)
}
