//! The HTTP server: our own accept loop over hyper's HTTP/1.1 connections, so that no client
//! holds a connection (and an open file) for free, and so that shutdown is bounded.
//!
//! - A client must send a request's line and headers within the header timeout. hyper's timer
//!   for it also runs from the end of one response to the next request, so it is the idle
//!   timeout of a kept-alive connection as well.
//! - A request's whole body must arrive within the body timeout (a deadline, not a gap between
//!   bytes, so that trickling one byte at a time does not keep it going).
//! - At most `max_connections` are open at once; further clients wait in the listen queue until
//!   one closes. The open-files limit is raised to its hard limit first, and the cap is lowered
//!   to fit what it allows.
//! - Accept errors (the open-files limit reached, …) are logged and retried after a pause; they
//!   never end the loop.
//! - On shutdown the listener closes, every connection finishes the request it is serving and
//!   closes, and whatever is still open after the grace period is dropped.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

/// The server's limits, from configuration.
#[derive(Debug, Clone)]
pub struct Limits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    /// The configuration's defaults.
    fn default() -> Limits {
        let config = crate::config::Config::from_sources(None, |_| None)
            .expect("the default configuration is valid");
        Limits::from_config(&config)
    }
}

impl Limits {
    pub fn from_config(config: &crate::config::Config) -> Limits {
        Limits {
            header_timeout: config.header_timeout,
            body_timeout: config.body_timeout,
            max_connections: config.max_connections,
            shutdown_grace: config.shutdown_grace,
        }
    }
}

/// Open files kept for everything but client connections: the database pool, log files, the
/// outbox, outgoing HTTP and mail.
const RESERVED_FILES: u64 = 256;

/// The pause after an accept error that is not about one connection (such as the open-files
/// limit): long enough not to spin, short enough to pick up again as soon as files free up.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Raises the open-files soft limit to the hard limit; returns the limit now in force (`None`
/// where it cannot be read).
pub fn raise_open_files_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let (before, hard) = rlimit::Resource::NOFILE.get().ok()?;
        match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(now) => {
                tracing::info!(before, now, hard, "open-files limit");
                Some(now)
            }
            Err(e) => {
                tracing::warn!(before, hard, error = %e, "cannot raise the open-files limit");
                Some(before)
            }
        }
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The connection cap that fits the open-files limit: the configured one, or less.
pub fn connection_cap(configured: usize, open_files: Option<u64>) -> usize {
    match open_files {
        Some(limit) => {
            let fits = limit.saturating_sub(RESERVED_FILES).max(1);
            configured.min(usize::try_from(fits).unwrap_or(usize::MAX))
        }
        None => configured,
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then shuts down within the grace.
pub async fn run(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let open_files = raise_open_files_limit();
    let cap = connection_cap(limits.max_connections, open_files);
    if cap < limits.max_connections {
        tracing::warn!(
            configured = limits.max_connections,
            cap,
            open_files,
            "SMARTCORE_MAX_CONNECTIONS lowered to fit the open-files limit"
        );
    }
    tracing::info!(
        address = %listener.local_addr()?,
        max_connections = cap,
        header_timeout_s = limits.header_timeout.as_secs_f64(),
        body_timeout_s = limits.body_timeout.as_secs_f64(),
        "serving"
    );
    let router = router.layer(tower_http::timeout::RequestBodyDeadlineLayer::new(
        limits.body_timeout,
    ));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let permits = Arc::new(Semaphore::new(cap));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        // Finished connections: their results are nothing; only their slots matter.
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            biased;
            () = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if is_connection_error(&e) => {
                tracing::debug!(error = %e, "a connection failed before it was accepted");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot accept a connection; retrying shortly");
                tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        connections.spawn(serve_connection(
            http.clone(),
            stream,
            remote,
            router.clone(),
            stopping.clone(),
            permit,
        ));
    }

    // Stop accepting: new clients are refused from here on.
    drop(listener);
    let _ = stop.send(true);
    let open = connections.len();
    tracing::info!(
        open,
        grace_s = limits.shutdown_grace.as_secs_f64(),
        "stopped accepting; finishing the requests under way"
    );
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            dropped = connections.len(),
            "the shutdown grace is over; dropping the connections still open"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// How long a connection is still read after shutdown began, for requests sent before it.
const REQUESTS_ON_THE_WIRE: Duration = Duration::from_millis(100);

/// Serves one connection until it closes, or until shutdown and the request under way is done.
async fn serve_connection(
    http: http1::Builder,
    stream: TcpStream,
    remote: SocketAddr,
    router: Router,
    mut stopping: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(remote));
        router.clone().oneshot(request)
    });
    let connection = http.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = async {
            // Holding the `Ref` across an await would not be `Send`; only the change matters.
            let _ = stopping.wait_for(|stop| *stop).await.map(|_| ());
        } => {
            // A request already on the wire when shutdown began may not have been read yet:
            // the connection is served a moment longer, so it is answered rather than closed
            // unread. Then it closes at once when idle, otherwise after the response under way.
            match tokio::time::timeout(REQUESTS_ON_THE_WIRE, connection.as_mut()).await {
                Ok(result) => result,
                Err(_) => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            }
        }
    };
    if let Err(e) = result {
        // Timeouts and clients that go away are routine: not worth more than debug.
        tracing::debug!(%remote, error = %e, "connection closed with an error");
    }
}

/// Errors about the one connection being accepted, after which the next accept can go on at once.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset | Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_fits_the_open_files_limit() {
        assert_eq!(connection_cap(10_000, None), 10_000);
        assert_eq!(connection_cap(10_000, Some(1_048_576)), 10_000);
        assert_eq!(connection_cap(10_000, Some(1024)), 768);
        assert_eq!(connection_cap(10_000, Some(100)), 1);
    }
}
