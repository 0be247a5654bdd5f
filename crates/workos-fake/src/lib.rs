//! A local stand-in for the WorkOS IT Contacts API, for tests and benchmarks.
//!
//! It speaks the contract our `WorkOsClient` uses (create with `Idempotency-Key`, list newest
//! first with `list_metadata` cursors, delete; bearer key; WorkOS-style `{"code", "message"}`
//! errors; 409 `it_contact_already_exists` for a duplicate address, case-insensitive; at most
//! 20 contacts per organisation) and keeps everything in memory. Organisations are created on
//! first use. Faults are switched on by a [`Fault`]: in-process through [`FakeWorkOs`], or over
//! HTTP from another process:
//!
//! | route | does |
//! | --- | --- |
//! | `GET /_fake/health` | `ok` |
//! | `GET /_fake/faults` | the [`Faults`] in force |
//! | `POST /_fake/faults` | applies one [`Fault`] or an array of them (`{"kind": "rate_limit", "count": 2, "retry_after_secs": 3}`); answers the [`Faults`] |
//! | `DELETE /_fake/faults` | switches every fault off |
//! | `GET /_fake/stats` | the [`Stats`] |
//! | `DELETE /_fake/stats` | zeroes the counters |
//! | `POST /_fake/reset` | forgets everything: contacts, idempotency keys, faults, counters |
//! | `GET /_fake/orgs/{org}/contacts` | the organisation's contacts, newest first |
//! | `POST /_fake/orgs/{org}/contacts` | `{"email"}`: a contact created by hand on the identity side (not counted as an API create) |
//! | `DELETE /_fake/orgs/{org}/contacts/{id}` | a contact deleted by hand |
//!
//! Control routes need no key and are never faulted or counted.

mod http;
mod model;
mod store;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use hyper_util::rt::TokioIo;
use tokio::{net::TcpListener, sync::Notify, task::JoinSet};
use tower::ServiceExt;

pub use model::{Fault, Faults, ItContact, MAX_CONTACTS_PER_ORG, Stats};
pub use store::CreateError;

use http::{ConnectionCloser, Shared};

/// How to start a fake.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// Where to listen; port 0 picks a free one.
    pub listen: SocketAddr,
    pub api_key: String,
    /// Delay of every API answer from the start.
    pub latency: Duration,
    /// Most API requests served at once from the start.
    pub max_concurrency: Option<usize>,
}

impl FakeConfig {
    /// 127.0.0.1, a free port, no latency, no limit.
    pub fn new(api_key: &str) -> Self {
        FakeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_key: api_key.to_owned(),
            latency: Duration::ZERO,
            max_concurrency: None,
        }
    }
}

/// A running fake: its address, its state and its faults. Dropping it stops the server.
pub struct FakeWorkOs {
    addr: SocketAddr,
    base_url: String,
    shared: Arc<Shared>,
    shutdown: Arc<Notify>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl FakeWorkOs {
    /// Starts a fake on 127.0.0.1, on a free port, accepting `api_key`.
    pub async fn start(api_key: &str) -> std::io::Result<FakeWorkOs> {
        Self::start_with(FakeConfig::new(api_key)).await
    }

    pub async fn start_with(config: FakeConfig) -> std::io::Result<FakeWorkOs> {
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config.api_key));
        if !config.latency.is_zero() {
            let ms = u64::try_from(config.latency.as_millis()).unwrap_or(u64::MAX);
            shared.set_fault(Fault::Latency { ms });
        }
        if config.max_concurrency.is_some() {
            shared.set_fault(Fault::MaxConcurrency {
                limit: config.max_concurrency,
            });
        }
        let shutdown = Arc::new(Notify::new());
        let server = tokio::spawn(serve(
            listener,
            http::router(shared.clone()),
            shutdown.clone(),
        ));
        Ok(FakeWorkOs {
            addr,
            base_url: format!("http://{addr}"),
            shared,
            shutdown,
            server: Some(server),
        })
    }

    /// `http://127.0.0.1:PORT`, to give to the client as its base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Switches a fault on (or off, with [`Fault::Clear`]); returns the faults now in force.
    pub fn set_fault(&self, fault: Fault) -> Faults {
        self.shared.set_fault(fault)
    }

    pub fn faults(&self) -> Faults {
        self.shared.lock().faults.clone()
    }

    pub fn clear_faults(&self) {
        self.shared.set_fault(Fault::Clear);
    }

    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    pub fn reset_stats(&self) {
        self.shared.lock().stats = Stats::default();
    }

    /// The organisation's contacts, newest first.
    pub fn contacts(&self, org: &str) -> Vec<ItContact> {
        self.shared.lock().contacts(org)
    }

    /// A contact created "by hand" on the identity side (as an operator would in the WorkOS
    /// dashboard): same rules as the API, but no idempotency key and not counted in the stats.
    pub fn insert_contact(&self, org: &str, email: &str) -> Result<ItContact, CreateError> {
        self.shared.lock().create(org, email)
    }

    /// A contact deleted by hand; false when there was none.
    pub fn delete_contact(&self, org: &str, id: &str) -> bool {
        self.shared.lock().delete(org, id)
    }

    /// Stops accepting, closes every connection and waits for the server task.
    pub async fn shutdown(mut self) {
        self.shutdown.notify_one();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for FakeWorkOs {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// The accept loop. Each connection gets a [`ConnectionCloser`] in its requests' extensions:
/// notifying it drops the connection without an answer (the "drop connection" fault), which
/// axum's own `serve` cannot do.
async fn serve(listener: TcpListener, router: axum::Router, shutdown: Arc<Notify>) {
    let mut connections = JoinSet::new();
    loop {
        let stream = tokio::select! {
            _ = shutdown.notified() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        while connections.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        connections.spawn(async move {
            let closer = ConnectionCloser(Arc::new(Notify::new()));
            let drop_signal = closer.0.clone();
            let service = hyper::service::service_fn(
                move |mut request: hyper::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(closer.clone());
                    router.clone().oneshot(request)
                },
            );
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = drop_signal.notified() => {}
            }
        });
    }
    connections.abort_all();
}
