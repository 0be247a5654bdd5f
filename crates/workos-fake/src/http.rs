//! The fake's HTTP routes: the WorkOS IT Contacts API (behind bearer auth and the fault
//! middleware) and the `/_fake` control routes (neither authenticated nor faulted).

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{MatchedPath, Path, Query, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{Notify, Semaphore};

use crate::{
    model::{Fault, Faults, ItContact, Stats},
    store::{CreateError, Order, State as Store, seq_of},
};

/// Shared by the routes and the in-process handle.
pub(crate) struct Shared {
    pub api_key: String,
    pub store: Mutex<Store>,
    /// The concurrency gate, replaced when the limit changes.
    gate: Mutex<Option<(usize, Arc<Semaphore>)>>,
    in_flight: AtomicUsize,
}

impl Shared {
    pub fn new(api_key: String) -> Self {
        Shared {
            api_key,
            store: Mutex::new(Store::default()),
            gate: Mutex::new(None),
            in_flight: AtomicUsize::new(0),
        }
    }

    /// The store; a panic while it was held (a bug in a test) does not wedge the fake.
    pub fn lock(&self) -> MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn set_fault(&self, fault: Fault) -> Faults {
        let mut store = self.lock();
        store.faults.apply(fault);
        store.faults.clone()
    }

    pub fn stats(&self) -> Stats {
        let store = self.lock();
        let mut stats = store.stats.clone();
        stats.contacts_now = store.contacts_now();
        stats.throughput_limit_per_sec =
            match (store.faults.max_concurrency, store.faults.latency_ms) {
                (Some(limit), ms) if ms > 0 => Some(limit as f64 * 1000.0 / ms as f64),
                _ => None,
            };
        stats
    }

    fn semaphore(&self, limit: Option<usize>) -> Option<Arc<Semaphore>> {
        let limit = limit?;
        let mut gate = self.gate.lock().unwrap_or_else(|p| p.into_inner());
        match gate.as_ref() {
            Some((current, semaphore)) if *current == limit => Some(semaphore.clone()),
            _ => {
                let semaphore = Arc::new(Semaphore::new(limit));
                *gate = Some((limit, semaphore.clone()));
                Some(semaphore)
            }
        }
    }
}

/// Put in each request's extensions by the accept loop: notifying it closes the connection.
#[derive(Clone)]
pub(crate) struct ConnectionCloser(pub Arc<Notify>);

type App = Arc<Shared>;

pub(crate) fn router(shared: App) -> Router {
    let api = Router::new()
        .route(
            "/organizations/{org}/it_contacts",
            post(create_contact).get(list_contacts),
        )
        .route(
            "/organizations/{org}/it_contacts/{id}",
            delete(delete_contact),
        )
        .fallback(|| async { workos_error(StatusCode::NOT_FOUND, "not_found", "Not Found") })
        .layer(middleware::from_fn_with_state(shared.clone(), api_gate));
    let control = Router::new()
        .route("/_fake/health", get(|| async { "ok" }))
        .route(
            "/_fake/faults",
            get(get_faults).post(post_faults).delete(clear_faults),
        )
        .route("/_fake/stats", get(get_stats).delete(reset_stats))
        .route("/_fake/reset", post(reset_all))
        .route(
            "/_fake/orgs/{org}/contacts",
            get(by_hand_list).post(by_hand_create),
        )
        .route("/_fake/orgs/{org}/contacts/{id}", delete(by_hand_delete));
    control.merge(api).with_state(shared)
}

/// A WorkOS-style error body: `{"code", "message"}`.
fn workos_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "code": code, "message": message }))).into_response()
}

fn create_error(error: &CreateError) -> Response {
    let message = error.to_string();
    match error {
        CreateError::AlreadyExists => {
            workos_error(StatusCode::CONFLICT, "it_contact_already_exists", &message)
        }
        CreateError::LimitReached => workos_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "it_contact_limit_reached",
            &message,
        ),
        CreateError::InvalidEmail | CreateError::Rejected(_) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "code": "invalid_request_parameters",
                "message": message,
                "errors": [{ "field": "email", "code": "invalid" }],
            })),
        )
            .into_response(),
    }
}

/// Counts, authenticates and applies the faults in force to every API request.
async fn api_gate(State(app): State<App>, request: Request, next: Next) -> Response {
    let route = format!(
        "{} {}",
        request.method(),
        request
            .extensions()
            .get::<MatchedPath>()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "(unknown route)".to_owned())
    );
    let (latency, limit) = {
        let mut store = app.lock();
        store.stats.requests_total += 1;
        *store.stats.requests.entry(route).or_default() += 1;
        (store.faults.latency_ms, store.faults.max_concurrency)
    };

    // Wait for a turn, then hold it for the whole answer (latency included).
    let _permit = match app.semaphore(limit) {
        Some(semaphore) => semaphore.acquire_owned().await.ok(),
        None => None,
    };
    // A guard, because a dropped connection drops this future before it returns.
    let in_flight = InFlight::enter(&app);
    let response = gated(&app, request, next, latency, in_flight.0).await;
    drop(in_flight);
    let mut store = app.lock();
    *store
        .stats
        .responses
        .entry(response.status().as_u16().to_string())
        .or_default() += 1;
    response
}

struct InFlight<'a>(usize, &'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(app: &'a Shared) -> Self {
        InFlight(
            app.in_flight.fetch_add(1, Ordering::SeqCst) + 1,
            &app.in_flight,
        )
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.1.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Has the accept loop drop the connection; the answer is never sent.
async fn close_connection(closer: Option<ConnectionCloser>) -> Response {
    if let Some(closer) = closer {
        closer.0.notify_one();
        std::future::pending::<()>().await;
    }
    workos_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "connection drop unavailable",
    )
}

/// What the fake does with a request: the next injected fault, if any, counted in its stats.
enum Verdict {
    Unauthorised,
    Drop,
    LoseAnswer,
    Fail(u16),
    RateLimit(u64),
    Serve,
}

/// Takes the next injected fault for an authorised request (and notes the requests in flight).
fn judge(app: &App, authorised: bool, in_flight: usize) -> Verdict {
    let mut store = app.lock();
    store.stats.max_in_flight = store.stats.max_in_flight.max(in_flight as u64);
    let faults = &mut store.faults;
    let verdict = if !authorised {
        Verdict::Unauthorised
    } else if faults.drop_next > 0 {
        faults.drop_next -= 1;
        Verdict::Drop
    } else if faults.lose_answer_next > 0 {
        faults.lose_answer_next -= 1;
        Verdict::LoseAnswer
    } else if faults.fail_next > 0 {
        faults.fail_next -= 1;
        Verdict::Fail(faults.fail_status)
    } else if faults.rate_limit_next > 0 {
        faults.rate_limit_next -= 1;
        Verdict::RateLimit(faults.retry_after_secs)
    } else {
        Verdict::Serve
    };
    match verdict {
        Verdict::Unauthorised => store.stats.unauthorized += 1,
        Verdict::Drop | Verdict::LoseAnswer => store.stats.dropped_connections += 1,
        Verdict::Fail(_) => store.stats.injected_5xx += 1,
        Verdict::RateLimit(_) => store.stats.injected_429 += 1,
        Verdict::Serve => {}
    }
    verdict
}

async fn gated(
    app: &App,
    request: Request,
    next: Next,
    latency: u64,
    in_flight: usize,
) -> Response {
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let authorised = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|key| key == app.api_key);
    let verdict = judge(app, authorised, in_flight);
    match verdict {
        Verdict::Unauthorised => {
            workos_error(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized")
        }
        Verdict::Drop => {
            close_connection(request.extensions().get::<ConnectionCloser>().cloned()).await
        }
        Verdict::LoseAnswer => {
            let closer = request.extensions().get::<ConnectionCloser>().cloned();
            let _lost = next.run(request).await;
            close_connection(closer).await
        }
        Verdict::Fail(status) => workos_error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "server_error",
            "Injected server error",
        ),
        Verdict::RateLimit(seconds) => {
            let mut response = workos_error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_exceeded",
                "Too many requests",
            );
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Verdict::Serve => {
            let response = next.run(request).await;
            let after = app.lock().faults.answer_latency_ms;
            if after > 0 {
                tokio::time::sleep(Duration::from_millis(after)).await;
            }
            response
        }
    }
}

#[derive(Deserialize)]
struct EmailBody {
    #[serde(default)]
    email: Option<String>,
}

async fn create_contact(
    State(app): State<App>,
    Path(org): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let email = serde_json::from_slice::<EmailBody>(&body)
        .ok()
        .and_then(|b| b.email)
        .unwrap_or_default();
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .filter(|k| !k.is_empty());
    let mut store = app.lock();
    if let Some(original) = key.as_ref().and_then(|k| store.idempotency.get(k)).cloned() {
        store.stats.idempotent_replays += 1;
        let mut response = (StatusCode::CREATED, Json(original)).into_response();
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
        return response;
    }
    match store.create(&org, &email) {
        Ok(contact) => {
            store.stats.creates_total += 1;
            *store
                .stats
                .creates_by_email
                .entry(contact.email.to_lowercase())
                .or_default() += 1;
            if let Some(key) = key {
                store.idempotency.insert(key, contact.clone());
            }
            (StatusCode::CREATED, Json(contact)).into_response()
        }
        Err(error) => create_error(&error),
    }
}

async fn list_contacts(
    State(app): State<App>,
    Path(org): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let invalid = |message: &str| {
        workos_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request_parameters",
            message,
        )
    };
    let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => 10,
        Some(Ok(limit)) if (1..=100).contains(&limit) => limit,
        Some(_) => return invalid("limit must be between 1 and 100"),
    };
    let order = match query.get("order").map(String::as_str) {
        None | Some("desc") | Some("normal") => Order::Desc,
        Some("asc") => Order::Asc,
        Some(_) => return invalid("order must be asc or desc"),
    };
    let cursor = |name: &str| match query.get(name).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(id) => seq_of(id).map(Some).ok_or(()),
    };
    let (Ok(before), Ok(after)) = (cursor("before"), cursor("after")) else {
        return invalid("before and after must be IT contact ids");
    };
    let page = app.lock().page(&org, limit, order, before, after);
    Json(json!({
        "object": "list",
        "data": page.data,
        "list_metadata": { "before": page.before, "after": page.after },
    }))
    .into_response()
}

async fn delete_contact(
    State(app): State<App>,
    Path((org, id)): Path<(String, String)>,
) -> Response {
    let mut store = app.lock();
    if store.delete(&org, &id) {
        store.stats.deletes_total += 1;
        StatusCode::NO_CONTENT.into_response()
    } else {
        workos_error(
            StatusCode::NOT_FOUND,
            "entity_not_found",
            &format!("Could not find an IT contact with id '{id}'."),
        )
    }
}

// ---- control routes ----

async fn get_faults(State(app): State<App>) -> Json<Faults> {
    Json(app.lock().faults.clone())
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(Fault),
    Many(Vec<Fault>),
}

async fn post_faults(State(app): State<App>, body: Bytes) -> Response {
    let faults = match serde_json::from_slice::<OneOrMany>(&body) {
        Ok(OneOrMany::One(fault)) => vec![fault],
        Ok(OneOrMany::Many(faults)) => faults,
        Err(e) => {
            return workos_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_fault",
                &e.to_string(),
            );
        }
    };
    let mut current = app.lock().faults.clone();
    for fault in faults {
        current = app.set_fault(fault);
    }
    Json(current).into_response()
}

async fn clear_faults(State(app): State<App>) -> Json<Faults> {
    Json(app.set_fault(Fault::Clear))
}

async fn get_stats(State(app): State<App>) -> Json<Stats> {
    Json(app.stats())
}

async fn reset_stats(State(app): State<App>) -> StatusCode {
    app.lock().stats = Stats::default();
    StatusCode::NO_CONTENT
}

async fn reset_all(State(app): State<App>) -> StatusCode {
    *app.lock() = Store::default();
    StatusCode::NO_CONTENT
}

async fn by_hand_list(State(app): State<App>, Path(org): Path<String>) -> Json<Vec<ItContact>> {
    Json(app.lock().contacts(&org))
}

async fn by_hand_create(State(app): State<App>, Path(org): Path<String>, body: Bytes) -> Response {
    let email = serde_json::from_slice::<EmailBody>(&body)
        .ok()
        .and_then(|b| b.email)
        .unwrap_or_default();
    match app.lock().create(&org, &email) {
        Ok(contact) => (StatusCode::CREATED, Json(contact)).into_response(),
        Err(error) => create_error(&error),
    }
}

async fn by_hand_delete(
    State(app): State<App>,
    Path((org, id)): Path<(String, String)>,
) -> StatusCode {
    if app.lock().delete(&org, &id) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}
