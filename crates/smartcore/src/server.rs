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
use std::net::{IpAddr, SocketAddr};
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
    /// Connections one client may hold at once (its address; IPv6 by its /64); `None`: a
    /// tenth of the connection cap.
    pub max_connections_per_client: Option<usize>,
    /// Peers not held to the per-client share: the trusted proxies, which carry many clients.
    pub shared_peers: Vec<smartcore_web::IpNet>,
    pub shutdown_grace: Duration,
    /// Where connections closed for the per-client share are counted
    /// (`smartcore_limit_refusals_total{limit="connections_per_client"}`).
    pub metrics: Option<smartcore_app::Metrics>,
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
            max_connections_per_client: config.max_connections_per_client,
            shared_peers: config.trusted_proxies.clone(),
            shutdown_grace: config.shutdown_grace,
            metrics: None,
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

/// The key a client's connections are counted under: its IPv4 address, or the /64 of its IPv6
/// address (one host usually has a whole /64, so counting addresses would not hold it).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// Open connections per client, so that one client cannot take the whole connection cap.
#[derive(Clone)]
struct PerClient {
    share: usize,
    exempt: Arc<[smartcore_web::IpNet]>,
    open: Arc<std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>>,
}

/// One client's place, given back when its connection ends.
struct ClientSlot {
    key: Option<IpAddr>,
    per_client: PerClient,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let Some(key) = self.key else { return };
        let mut open = self
            .per_client
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&key);
            }
        }
    }
}

impl PerClient {
    /// A place for a connection from `ip`, or `None` when the client holds its share already.
    fn take(&self, ip: IpAddr) -> Option<ClientSlot> {
        let ip = ip.to_canonical();
        if self.exempt.iter().any(|n| n.contains(&ip)) {
            return Some(ClientSlot {
                key: None,
                per_client: self.clone(),
            });
        }
        let key = client_key(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(key).or_insert(0);
        if *n >= self.share {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            key: Some(key),
            per_client: self.clone(),
        })
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then shuts down within the grace.
pub async fn run(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let cap = fitted_cap(&limits);
    tracing::info!(
        address = %listener.local_addr()?,
        max_connections = cap,
        header_timeout_s = limits.header_timeout.as_secs_f64(),
        body_timeout_s = limits.body_timeout.as_secs_f64(),
        "serving"
    );
    let (stop, stopping) = watch::channel(false);
    let accepting = Accepting::new(router, &limits, cap, stopping);
    let mut connections = JoinSet::new();
    accepting
        .accept_until(&listener, &mut connections, shutdown)
        .await;
    // Stop accepting: new clients are refused from here on.
    drop(listener);
    let _ = stop.send(true);
    finish(connections, limits.shutdown_grace).await;
    Ok(())
}

/// The connection cap, lowered (with a warning) to fit the open-files limit once raised.
fn fitted_cap(limits: &Limits) -> usize {
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
    cap
}

/// What the accept loop hands every connection it takes: the HTTP settings, the router, the
/// places under the cap and the client's share, and the shutdown signal.
struct Accepting {
    http: http1::Builder,
    router: Router,
    permits: Arc<Semaphore>,
    per_client: PerClient,
    metrics: Option<smartcore_app::Metrics>,
    stopping: watch::Receiver<bool>,
}

impl Accepting {
    fn new(router: Router, limits: &Limits, cap: usize, stopping: watch::Receiver<bool>) -> Self {
        let router = router.layer(tower_http::timeout::RequestBodyDeadlineLayer::new(
            limits.body_timeout,
        ));
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .keep_alive(true);
        Accepting {
            http,
            router,
            permits: Arc::new(Semaphore::new(cap)),
            per_client: PerClient {
                share: limits
                    .max_connections_per_client
                    .unwrap_or(cap / 10)
                    .clamp(1, cap),
                exempt: limits.shared_peers.clone().into(),
                open: Arc::default(),
            },
            metrics: limits.metrics.clone(),
            stopping,
        }
    }

    /// Accepts connections into `connections`, each once a place under the cap is free, until
    /// `shutdown` resolves.
    async fn accept_until(
        &self,
        listener: &TcpListener,
        connections: &mut JoinSet<()>,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            // Finished connections: their results are nothing; only their slots matter.
            while connections.try_join_next().is_some() {}
            let permit = tokio::select! {
                biased;
                () = &mut shutdown => break,
                permit = self.permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
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
            self.take(connections, stream, remote, permit);
        }
    }

    /// Serves the accepted connection, unless its client holds its share of the cap already.
    fn take(
        &self,
        connections: &mut JoinSet<()>,
        stream: TcpStream,
        remote: SocketAddr,
        permit: OwnedSemaphorePermit,
    ) {
        let Some(slot) = self.per_client.take(remote.ip()) else {
            // This client holds its share of the cap already: closed at once, so that one
            // client (or one IPv6 /64) cannot keep everyone else waiting in the listen queue.
            tracing::debug!(%remote, share = self.per_client.share, "connection refused: the client holds its share");
            if let Some(metrics) = &self.metrics {
                metrics.connection_refused_by_share();
            }
            drop(stream);
            return;
        };
        connections.spawn(serve_connection(
            self.http.clone(),
            stream,
            remote,
            self.router.clone(),
            self.stopping.clone(),
            (permit, slot),
        ));
    }
}

/// Lets the open connections finish the requests under way, up to `grace`, then drops them.
async fn finish(mut connections: JoinSet<()>, grace: Duration) {
    let open = connections.len();
    tracing::info!(
        open,
        grace_s = grace.as_secs_f64(),
        "stopped accepting; finishing the requests under way"
    );
    let drained = tokio::time::timeout(grace, async {
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
    _held: (OwnedSemaphorePermit, ClientSlot),
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

    #[test]
    fn a_client_holds_at_most_its_share_and_ipv6_counts_by_64() {
        let per_client = PerClient {
            share: 2,
            exempt: vec!["10.0.0.0/8".parse().unwrap()].into(),
            open: Arc::default(),
        };
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let a = per_client.take(ip("192.0.2.1")).unwrap();
        let _b = per_client.take(ip("::ffff:192.0.2.1")).unwrap();
        assert!(per_client.take(ip("192.0.2.1")).is_none());
        assert!(per_client.take(ip("192.0.2.2")).is_some());
        drop(a);
        assert!(
            per_client.take(ip("192.0.2.1")).is_some(),
            "a place is given back"
        );
        let _c = per_client.take(ip("2001:db8:1:2::1")).unwrap();
        let _d = per_client.take(ip("2001:db8:1:2:ffff::9")).unwrap();
        assert!(
            per_client.take(ip("2001:db8:1:2::77")).is_none(),
            "the same /64"
        );
        assert!(
            per_client.take(ip("2001:db8:1:3::1")).is_some(),
            "another /64"
        );
        let proxies: Vec<_> = (0..5)
            .map(|_| per_client.take(ip("10.1.2.3")).unwrap())
            .collect();
        assert_eq!(
            proxies.len(),
            5,
            "trusted proxies are not held to the share"
        );
    }
}
