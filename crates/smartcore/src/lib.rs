//! The `smartcore` binary's library half: configuration, wiring and the commands, so that
//! integration tests start exactly what an operator starts.

pub mod config;
pub mod demo;
pub mod import;

use anyhow::Context;
use config::{Config, IdentityKind};
use smartcore_app::{App, Clock, RemovalMode, Store, SystemClock};
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Opens the database, applies migrations and builds the use cases.
pub async fn open(config: &Config) -> anyhow::Result<App> {
    open_with_clock(config, Arc::new(SystemClock)).await
}

pub async fn open_with_clock(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
    let store = Store::connect(&config.database_url).await?;
    store.migrate().await?;
    Ok(App::new(store, clock, removal_mode(config)))
}

/// How a registered contact's removal reaches the identity side, by configuration.
fn removal_mode(config: &Config) -> RemovalMode {
    match config.identity {
        IdentityKind::Builtin => RemovalMode::CompletedNow,
        IdentityKind::WorkOs => RemovalMode::Queue {
            automatic: config.identity_auto_remove,
        },
    }
}

/// Serves the web UI and API on `listener` until `shutdown` resolves, then finishes the
/// requests under way.
pub async fn serve(
    app: App,
    config: &Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let router = smartcore_web::router(
        app,
        smartcore_web::WebConfig {
            public_url: config.public_url.clone(),
        },
    );
    tracing::info!(address = %listener.local_addr()?, "serving");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .context("the HTTP server failed")
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
