//! Storage: everything the service remembers, in SQLite (the embedded default) or PostgreSQL
//! (for several instances), from one code base through sqlx's `Any` driver.
//!
//! The schema uses only types both databases decode the same way (TEXT ids, BIGINT Unix
//! milliseconds, INTEGER 0/1 flags). The few real differences between the two databases live in
//! [`Dialect`] and in the two migration folders; everything else is written once.
//!
//! State that must survive a crash lives here, and rows are the queues: a contact waiting for
//! the identity side is a row with `next_sync_at` set, not a message held in memory.

mod audit;
mod auth;
mod batch;
mod contacts;
mod deliveries;
mod domains;
mod error;
mod orgs;
mod people;
mod reminder_queue;
mod reminders;
mod removals;
mod secrets;
mod sync;

pub use audit::{AuditEntry, AuditRecord};
pub use auth::{ApiTokenRecord, NewApiToken, SessionRecord, SignInFailures, TokenOwner};
pub use contacts::{AddedContact, ContactRecord, NewContact, RemovalMode, RemovedContact};
pub use deliveries::{Delivery, DeliveryOutcome, DeliveryRecord};
pub use domains::{
    CertificateRecord, DomainRecord, NewCertificate, SsoConfigRecord, SsoConfigUpdate,
};
pub use error::StoreError;
pub use orgs::OrgRecord;
pub use people::{ImportRow, ImportStats, MemberHit, MembershipRecord, UserRecord};
pub use reminder_queue::{CompletedThreshold, FinishedReminder, QueuedReminder, ScheduleMove};
pub use reminders::{Claim, DueCertificate, ReminderClaim, ReminderRecipient, SweepPosition};
pub use removals::{RemovalOutcome, RemovalRecord};
pub use sync::SyncJob;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, ConnectOptions, Connection, Executor};
use std::str::FromStr;
use std::time::Duration;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Dialect::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Dialect::Postgres)
        } else {
            None
        }
    }
}

/// Two SQLite connections per core, at least 4 and at most 16.
fn sqlite_connections() -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as u32;
    (2 * cores).clamp(4, 16)
}

/// A handle on the database: cheap to clone, shared by every request and worker.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
}

impl Store {
    /// Opens the database at `url`, creating an SQLite file (and its folder) on first use.
    /// SQLite runs in WAL mode with a busy timeout, so readers never wait for the writer.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::of_url(url).ok_or_else(|| {
            StoreError::Config(format!(
                "unsupported database URL {url:?}: use sqlite://PATH or postgres://USER@HOST/DB"
            ))
        })?;
        let url = match dialect {
            Dialect::Sqlite => prepare_sqlite_url(url)?,
            Dialect::Postgres => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)
            .map_err(|e| StoreError::Config(format!("invalid database URL: {e}")))?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
        // One direct attempt first, so an unreachable server is reported at once rather than
        // after the pool's acquire timeout.
        let probe = sqlx::AnyConnection::connect_with(&options)
            .await
            .map_err(|e| StoreError::Config(format!("cannot open the database: {e}")))?;
        let _ = probe.close().await;
        let pool = AnyPoolOptions::new()
            .max_connections(match dialect {
                // Each SQLite connection is a thread that is woken for every statement; two
                // per core measured best on two cores (list-contacts under 64 connections:
                // p99 5.8 ms with 4, 7–9.6 ms with 8, 9.4 ms with 2). Writes take turns anyway.
                Dialect::Sqlite => sqlite_connections(),
                // Each is a server process; 8 measured better than 16 or 4 on two cores.
                Dialect::Postgres => 8,
            })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Config(format!("cannot open the database: {e}")))?;
        Ok(Store { pool, dialect })
    }

    /// Creates or upgrades the schema. Safe to run from several instances at once (PostgreSQL
    /// takes an advisory lock) and again on every start (applied versions are skipped).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.dialect {
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))
    }

    /// The versions of the migrations applied so far, oldest first.
    pub async fn applied_migrations(&self) -> Result<Vec<i64>, StoreError> {
        let versions: Vec<(i64,)> = sqlx::query_as(
            "SELECT version FROM _sqlx_migrations WHERE success = TRUE ORDER BY version",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(versions.into_iter().map(|(v,)| v).collect())
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// `sqlite://path/to/file.db` → creates `path/to` and asks SQLite to create the file.
fn prepare_sqlite_url(url: &str) -> Result<String, StoreError> {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" {
        return Ok(url.to_owned());
    }
    if let Some(parent) = std::path::Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            StoreError::Config(format!(
                "cannot create the database folder {}: {e}",
                parent.display()
            ))
        })?;
    }
    let query = if query.contains("mode=") {
        query.to_owned()
    } else if query.is_empty() {
        "mode=rwc".to_owned()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok(format!("sqlite://{path}?{query}"))
}
