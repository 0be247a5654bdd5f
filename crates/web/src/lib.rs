//! The web layer: the JSON API under `/api/v1`, its OpenAPI document, the HTML pages and the
//! health checks. Handlers are thin: they extract, call one use case of [`smartcore_app::App`]
//! and render its answer; [`ApiError`] and [`PageError`] map the use cases' errors to HTTP
//! answers in one place each.

mod api;
mod client;
mod edge;
mod error;
mod extract;
mod links;
mod metrics;
mod pages;
mod render;
mod request_id;
mod session;

pub use api::openapi_document;
pub use client::{ClientAddr, parse_trusted_proxies};
pub use error::{ApiError, PageError};
pub use ipnet::IpNet;
pub use links::WebLinks;
pub use metrics::metrics_router;
pub use request_id::MAX_REQUEST_ID_LEN;

use axum::Router;
use smartcore_app::App;
use std::sync::Arc;
use tower_http::csrf::CsrfLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// The `Permissions-Policy` of every answer: every powerful feature off, for us and for
/// anything framed (nothing is: `frame-ancestors 'none'`).
pub const PERMISSIONS_POLICY: &str = "accelerometer=(), autoplay=(), camera=(), display-capture=(), \
     encrypted-media=(), fullscreen=(), geolocation=(), gyroscope=(), hid=(), magnetometer=(), \
     microphone=(), midi=(), payment=(), picture-in-picture=(), publickey-credentials-get=(), \
     screen-wake-lock=(), serial=(), usb=(), xr-spatial-tracking=(), interest-cohort=()";

/// What the web layer needs to know beyond the use cases.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// The address users reach the service at, e.g. `https://sso.example.com`.
    pub public_url: String,
    /// `SMARTCORE_METRICS_TOKEN`: serves `/metrics` on this router to requests bearing it.
    pub metrics_token: Option<secrecy::SecretString>,
    /// `SMARTCORE_TRUSTED_PROXIES`: peers whose `Forwarded` / `X-Forwarded-For` name the client.
    pub trusted_proxies: Vec<IpNet>,
}

impl WebConfig {
    /// Cookies are `Secure` when the service is reached over HTTPS.
    fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    /// `Strict-Transport-Security` is sent only when the service is reached over HTTPS.
    fn strict_transport_security(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

#[derive(Clone)]
pub struct AppState {
    /// Shared, not copied: every layer of the router clones the state per request.
    pub app: Arc<App>,
    pub config: Arc<WebConfig>,
}

/// The whole HTTP surface of the service.
pub fn router(app: App, config: WebConfig) -> Router {
    let https = config.strict_transport_security();
    let metrics = app.operations().metrics().clone();
    let proxies: Arc<[IpNet]> = config.trusted_proxies.clone().into();
    let state = AppState {
        app: Arc::new(app),
        config: Arc::new(config),
    };
    Router::new()
        .merge(api::routes())
        .merge(pages::routes())
        .merge(metrics::routes())
        // Cross-site state changes are refused by Sec-Fetch-Site/Origin (no token to forget).
        .layer(CsrfLayer::new())
        // The ACS is posted by the identity provider's page, cross-site by design.
        .merge(pages::sso_sign_in::cross_site_routes())
        .with_state(state)
        // One stack of layers, boxed once (a `.layer` each would box and clone per layer and
        // per request), outermost first.
        .layer(
            tower::ServiceBuilder::new()
                // The client (the peer, or what a trusted proxy says) for the logs and the
                // limits; a client's unusable request id dropped; the request counted.
                .layer(axum::middleware::from_fn_with_state(
                    edge::Arrival { metrics, proxies },
                    edge::arrive,
                ))
                // `x-request-id`: a client's own when usable, else a fresh UUID; echoed in the
                // answer.
                .layer(SetRequestIdLayer::new(request_id::HEADER, MakeRequestUuid))
                .layer(PropagateRequestIdLayer::new(request_id::HEADER))
                // One span per request, at INFO, so that every log line written while
                // answering it names it. Failures are logged where they become answers
                // (`error`), not here again.
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(request_span)
                        .on_failure(()),
                )
                // Answers nobody else shaped (404, 405, CSRF, rejections) as problem+json under
                // /api and as pages elsewhere; Cache-Control, the security headers and HSTS on
                // everything; the request id at hand for the error answers written inside.
                .layer(axum::middleware::from_fn_with_state(https, edge::finish)),
        )
}

/// The span of one request: method, route template (never the path, which may hold a link's
/// secret), request id and client.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let client = request
        .extensions()
        .get::<ClientAddr>()
        .and_then(|c| c.0)
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", |p| p.as_str());
    tracing::info_span!(
        "request",
        method = %request.method(),
        route = %route,
        request_id = %request_id::of(request).unwrap_or_default(),
        client = %client,
    )
}
