//! The request id: every request has one, in `x-request-id` both ways.
//!
//! A client's own `x-request-id` is kept when it is 1 to 128 visible ASCII characters (and sent
//! once); any other is replaced by a fresh UUID v4, as is a missing one (tower-http's
//! `SetRequestIdLayer`). The answer echoes it (`PropagateRequestIdLayer`), the request's log
//! span carries it, problem+json bodies carry it as `request_id` and error pages show it as a
//! reference to quote to support.

use axum::extract::Request;
use axum::http::HeaderName;
use std::sync::Arc;
use tower_http::request_id::RequestId;

/// The header, in and out.
pub(crate) const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest incoming id kept.
pub const MAX_REQUEST_ID_LEN: usize = 128;

tokio::task_local! {
    /// The id of the request being answered, for the error answers written inside it.
    static CURRENT: Arc<str>;
}

/// Whether a client's id is kept: one header of 1 to [`MAX_REQUEST_ID_LEN`] visible ASCII
/// characters (no spaces or control characters: it is written into logs and pages).
fn acceptable(request: &Request) -> bool {
    let mut values = request.headers().get_all(&HEADER).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => {
            let bytes = value.as_bytes();
            !bytes.is_empty()
                && bytes.len() <= MAX_REQUEST_ID_LEN
                && bytes.iter().all(u8::is_ascii_graphic)
        }
        _ => false,
    }
}

/// Drops a client's `x-request-id` that is not kept, so that a fresh one is made.
pub(crate) fn screen(request: &mut Request) {
    if request.headers().contains_key(&HEADER) && !acceptable(request) {
        request.headers_mut().remove(&HEADER);
    }
}

/// The request's id, once `SetRequestIdLayer` has given it one.
pub(crate) fn of(request: &Request) -> Option<&str> {
    request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
}

/// Runs `answer` with the request's id at hand for [`current`].
pub(crate) async fn within<F: Future>(id: Option<Arc<str>>, answer: F) -> F::Output {
    match id {
        Some(id) => CURRENT.scope(id, answer).await,
        None => answer.await,
    }
}

/// The id of the request being answered, when called while answering one.
pub(crate) fn current() -> Option<String> {
    CURRENT.try_with(|id| id.to_string()).ok()
}
