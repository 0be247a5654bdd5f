//! The background workers: the identity-side sync, automatic removals, the re-check of domains
//! waiting for their TXT record, and the refresh of identity-provider metadata from URLs. They run inside `serve`, or alone in `smartcore worker` for extra
//! instances; any number may run against one database, since every row they take is claimed with a
//! lease that follows the work (`SMARTCORE_SYNC_LEASE_S`): renewed while the worker is alive, and
//! free for another within one lease once it is killed. The same holds for the welcomes sent here,
//! the certificate-expiry reminders and the domain re-checks (claimed by postponing their next
//! check by one lease).

use smartcore_app::{App, AppError, SyncSettings};
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;
use tracing::Instrument;

/// A name for this worker, unique per process, recorded as the lease owner.
pub fn worker_name() -> String {
    format!(
        "worker-{}-{}",
        std::process::id(),
        uuid::Uuid::now_v7().simple()
    )
}

/// Runs one background pass inside a span of its own (`pass{pass=… worker=…}`, at INFO, so that
/// every line the pass logs names it); a failure is logged here, once, with its causes, and
/// counts as a pass that found nothing to do.
async fn pass<T: Default>(
    name: &'static str,
    worker: &str,
    work: impl Future<Output = Result<T, AppError>>,
) -> T {
    let span = tracing::info_span!("pass", pass = name, worker);
    async {
        work.await.unwrap_or_else(|e| {
            tracing::error!(error = %e.chain(), "{name} pass failed");
            T::default()
        })
    }
    .instrument(span)
    .await
}

/// Waits `interval`, or less when `shutdown` changes.
async fn pause(interval: Duration, shutdown: &mut watch::Receiver<bool>) {
    tokio::select! {
        _ = tokio::time::sleep(interval) => {}
        _ = shutdown.changed() => {}
    }
}

/// The identity-sync rounds between two re-confirmation passes (issue 16): with the default
/// interval of 1 s, about every 30 s when idle.
const TRUST_EVERY: u64 = 30;

/// Works the sync and removal queues until `shutdown` turns true: a pass right away while
/// there is work, a pause of `interval` when there is none. A pass under way finishes first.
pub async fn run_identity_sync(
    app: App,
    settings: SyncSettings,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let worker = worker_name();
    let mut round: u64 = 0;
    tracing::info!(%worker, "identity sync started");
    loop {
        if *shutdown.borrow() {
            break;
        }
        // Removals first: a registration waiting for a place on the identity side (issue 24)
        // then goes ahead in the same round.
        let removed = pass(
            "identity removal",
            &worker,
            app.contacts().remove_once(&worker, settings),
        )
        .await;
        let handled = pass(
            "identity sync",
            &worker,
            app.contacts().sync_once(&worker, settings),
        )
        .await;
        let rechecked = pass("domain re-check", &worker, app.setup().recheck_domains(50)).await;
        // Issue 16: re-confirmation requests and their overdue notices every TRUST_EVERY
        // rounds (each reads only the contacts due, through an index). Welcomes have a worker
        // of their own ([`run_welcomes`]), so mail never holds the identity side's pace.
        round = round.wrapping_add(1);
        if round % TRUST_EVERY == 1 {
            pass("IT contact trust", &worker, app.trust().trust_once()).await;
        }
        if handled + removed + rechecked == 0 {
            pause(interval, &mut shutdown).await;
        }
    }
    tracing::info!(%worker, "identity sync stopped");
}

/// Sends the IT contacts' welcomes (issue 16) until `shutdown` turns true: at once when the
/// sync claims one (it wakes this worker), and every `interval` anyway (welcomes claimed by
/// another instance, retries of deferred ones, leases run out). A message that fails waits for
/// its retry time, so this never loops busily.
pub async fn run_welcomes(app: App, interval: Duration, mut shutdown: watch::Receiver<bool>) {
    let worker = "welcome";
    let trust = app.trust();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let sent = pass("welcome", worker, trust.send_welcomes(None)).await;
        if sent == 0 {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = trust.welcome_claimed() => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// Sweeps certificates for expiry reminders every `interval` until `shutdown` turns true.
pub async fn run_certificate_alerts(
    app: App,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let worker = worker_name();
    loop {
        let sweep = async {
            let report = app.trust().run_certificate_sweep().await?;
            if report.sent + report.failed + report.rejected > 0 {
                tracing::info!(
                    sent = report.sent,
                    failed = report.failed,
                    rejected = report.rejected,
                    mail_unavailable = report.mail_unavailable,
                    "certificate reminders swept"
                );
            }
            Ok(())
        };
        pass("certificate sweep", &worker, sweep).await;
        // SSO sign-in leftovers: expired requests, hand-overs and replay records, and
        // attempts older than 30 days.
        pass("SSO sign-in purge", &worker, app.sso_sign_in().purge_sso()).await;
        pause(interval, &mut shutdown).await;
        if *shutdown.borrow() {
            break;
        }
    }
}

/// Refreshes identity-provider metadata from URLs until `shutdown` turns true: due URLs are
/// claimed with a lease (each due time fetched once across instances), then a pause of
/// `interval` when none was due. A pass under way finishes first (a fetch takes at most 10 s).
pub async fn run_metadata_refresh(
    app: App,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let worker = worker_name();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let refresh = async {
            let report = app.setup().refresh_due_metadata(&worker, 64).await?;
            if report.changed + report.failed > 0 {
                tracing::info!(
                    unchanged = report.unchanged,
                    changed = report.changed,
                    failed = report.failed,
                    notices = report.notices,
                    "identity provider metadata refreshed"
                );
            }
            Ok(report.claimed)
        };
        let claimed = pass("metadata refresh", &worker, refresh).await;
        if claimed == 0 {
            pause(interval, &mut shutdown).await;
        }
    }
}
