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
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use smartcore_app::{App, METRICS_CONTENT_TYPE, Metrics};
use std::time::Instant;

/// Counts the request and its latency by method, route template and status. Requests that
/// matched no route count under the route `unmatched`, whatever their path.
pub(crate) async fn count_requests(
    State(metrics): State<Metrics>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    metrics.http_request(
        method.as_str(),
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// `/metrics` on the service's own address, behind the token.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(guarded))
}

async fn guarded(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = state.config.metrics_token.as_deref() else {
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
    scrape(&state.app).await
}

async fn scrape(app: &App) -> Response {
    match app.metrics_text().await {
        Ok(text) => ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], text).into_response(),
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
            get(|State(app): State<App>| async move { scrape(&app).await }),
        )
        .with_state(app)
}
