//! The `smartcore` binary's library half: configuration, wiring and the commands, so that
//! integration tests start exactly what an operator starts.

pub mod config;
pub mod demo;
pub mod import;
pub mod server;
pub mod workers;

use anyhow::Context;
use config::{Config, IdentityKind, MailKind};
use secrecy::ExposeSecret;
use smartcore_app::{App, Clock, Services, SyncSettings, SystemClock};
use smartcore_dns::TxtVerifier;
use smartcore_identity::{BuiltinConnector, IdentityConnector, WorkOsClient};
use smartcore_mail::{MailConfig, Mailer};
use smartcore_storage::Store;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Opens the database, applies migrations and builds the use cases.
pub async fn open(config: &Config) -> anyhow::Result<App> {
    open_with_clock(config, Arc::new(SystemClock)).await
}

pub async fn open_with_clock(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
    smartcore_identity::install_crypto_provider();
    let store = Store::connect(config.database_url.expose_secret()).await?;
    store.migrate().await?;
    let identity: Arc<dyn IdentityConnector> = match config.identity {
        IdentityKind::Builtin => Arc::new(BuiltinConnector),
        IdentityKind::WorkOs => Arc::new(
            WorkOsClient::new(
                &config.workos_base_url,
                config
                    .workos_api_key
                    .as_ref()
                    .map_or("", ExposeSecret::expose_secret),
                IDENTITY_REQUEST_TIMEOUT,
            )
            .context("SMARTCORE_WORKOS_BASE_URL / SMARTCORE_WORKOS_API_KEY")?,
        ),
    };
    let mail = match config.mail {
        MailKind::Outbox => MailConfig::Outbox {
            dir: config.outbox_dir.clone(),
        },
        MailKind::Smtp => MailConfig::Smtp {
            url: config
                .smtp_url
                .as_ref()
                .map(|u| u.expose_secret().to_owned())
                .unwrap_or_default(),
        },
    };
    let mut mailer = Mailer::new(&mail, &config.mail_from)
        .context("SMARTCORE_MAIL / SMARTCORE_SMTP_URL / SMARTCORE_MAIL_FROM")?;
    // Message-IDs name the service's own host (issue 23), whatever the sender address.
    if let Some(host) = config::public_host(&config.public_url) {
        mailer = mailer.with_message_id_domain(&host);
    }
    let dns = TxtVerifier::new(config.dns_server).context("SMARTCORE_DNS_SERVER")?;
    let metadata = smartcore_app::MetadataRefresh::new(smartcore_app::MetadataSettings {
        refresh: config.metadata_refresh,
        allow_private: config.metadata_allow_private.clone(),
    })
    .map_err(anyhow::Error::msg)
    .context("SMARTCORE_METADATA_ALLOW_PRIVATE")?;
    Ok(App::new(Services {
        store,
        clock,
        identity,
        auto_remove: config.identity_auto_remove,
        mailer: Arc::new(mailer),
        dns: Arc::new(dns),
        links: Arc::new(smartcore_web::WebLinks::new(&config.public_url)),
        metadata: Arc::new(metadata),
    })
    .with_reconfirm_days(config.reconfirm_days)
    .with_token_default_days(config.token_default_days)
    .with_lease(config.sync_lease))
}

/// How long one request to the identity side may take before it counts as failed (and is
/// retried later).
const IDENTITY_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The sync worker's settings, from configuration.
pub fn sync_settings(config: &Config) -> SyncSettings {
    SyncSettings {
        lease: config.sync_lease,
        batch: 200,
        concurrency: config.sync_concurrency,
    }
}

/// Serves the web UI and API on `listener` and runs the background workers, until `shutdown`
/// resolves; then finishes the requests and passes under way, each within the shutdown grace.
pub async fn serve(
    app: App,
    config: &Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop, stopped) = watch::channel(false);
    let stop = Arc::new(stop);
    let mut workers = tokio::spawn(run_workers(app.clone(), config.clone(), stopped));
    let stop_workers = stop.clone();
    let shutdown = async move {
        shutdown.await;
        // The workers stop alongside the HTTP server, not after it.
        let _ = stop_workers.send(true);
    };
    let served = serve_web(app, config, listener, shutdown).await;
    let _ = stop.send(true);
    // A worker cut off mid-batch is safe: its claims' leases run out and are retried.
    if tokio::time::timeout(config.shutdown_grace, &mut workers)
        .await
        .is_err()
    {
        tracing::warn!("the background workers did not stop within the shutdown grace");
        workers.abort();
    }
    // The last line of a shutdown: nothing runs after it.
    tracing::info!("stopped");
    served
}

/// Serves the web UI and API only, with the limits of [`server`]; on shutdown, waits for the
/// requests under way up to `SMARTCORE_SHUTDOWN_GRACE_S`, then drops them.
pub async fn serve_web(
    app: App,
    config: &Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut limits = server::Limits::from_config(config);
    limits.metrics = Some(app.operations().metrics().clone());
    // One shutdown for both addresses.
    let (stop, stopped) = watch::channel(false);
    let stop = Arc::new(stop);
    let stopped_on = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let metrics = match config.metrics_listen {
        None => None,
        Some(addr) => {
            let metrics_listener = TcpListener::bind(addr).await.with_context(|| {
                format!("cannot listen on {addr} (SMARTCORE_METRICS_LISTEN) for /metrics")
            })?;
            tracing::info!(%addr, "serving /metrics");
            Some(tokio::spawn(server::run(
                metrics_listener,
                smartcore_web::metrics_router(app.clone()),
                limits.clone(),
                stopped_on(stopped.clone()),
            )))
        }
    };
    let router = smartcore_web::router(
        app,
        smartcore_web::WebConfig {
            public_url: config.public_url.clone(),
            metrics_token: config.metrics_token.clone(),
            trusted_proxies: config.trusted_proxies.clone(),
        },
    );
    let stop_on_signal = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_on_signal.send(true);
    });
    let served = server::run(listener, router, limits, stopped_on(stopped))
        .await
        .context("the HTTP server failed");
    let _ = stop.send(true);
    if let Some(metrics) = metrics {
        match metrics.await {
            Ok(Err(e)) => tracing::warn!(error = %e, "the /metrics server failed"),
            Err(e) => tracing::warn!(error = %e, "the /metrics server stopped unexpectedly"),
            Ok(Ok(())) => {}
        }
    }
    served
}

/// Runs every background worker until `stopped` turns true.
pub async fn run_workers(app: App, config: Config, stopped: watch::Receiver<bool>) {
    let alerts = tokio::spawn(workers::run_certificate_alerts(
        app.clone(),
        config.alert_interval,
        stopped.clone(),
    ));
    let metadata = tokio::spawn(workers::run_metadata_refresh(
        app.clone(),
        config.sync_interval,
        stopped.clone(),
    ));
    let welcomes = tokio::spawn(workers::run_welcomes(
        app.clone(),
        config.sync_interval,
        stopped.clone(),
    ));
    workers::run_identity_sync(app, sync_settings(&config), config.sync_interval, stopped).await;
    let _ = alerts.await;
    let _ = metadata.await;
    let _ = welcomes.await;
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
