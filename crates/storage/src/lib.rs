//! Storage: everything the service remembers, in SQLite (the embedded default) or PostgreSQL
//! (for several instances), from one code base through sqlx's `Any` driver.
//!
//! The schema uses only types both databases decode the same way (TEXT ids, BIGINT Unix
//! milliseconds, INTEGER 0/1 flags). The few real differences between the two databases live in
//! [`Dialect`] and in the two migration folders; everything else is written once.
//!
//! State that must survive a crash lives here, and rows are the queues: a contact waiting for
//! the identity side is a row with `next_sync_at` set, not a message held in memory.

pub mod audit;
mod auth;
pub mod batch;
mod column;
pub mod contacts;
mod deliveries;
mod domains;
mod error;
mod gauges;
mod import;
pub mod invitations;
mod lease;
mod member_search;
pub mod memberships;
mod metadata_sources;
pub mod orgs;
mod people;
pub mod quota;
mod reminder_queue;
mod reminders;
mod removals;
mod secrets;
pub mod sso_sign_in;
mod sync;
pub mod synced;
pub mod trust;
mod tx;
pub mod users;

pub use audit::{AuditEntry, AuditRecord};
pub use auth::{ApiTokenRecord, NewApiToken, SessionRecord, SignInFailures, TokenOwner};
pub use contacts::{ContactListing, ContactRecord, RemovalMode};
pub use deliveries::{Delivery, DeliveryOutcome, DeliveryRecord, MAIL_BUDGET_WINDOW_MS};
pub use domains::{
    CertificateRecord, DomainRecord, NewCertificate, SsoConfigRecord, SsoConfigUpdate,
};
pub use error::StoreError;
pub use gauges::WorkCounts;
pub use import::{IMPORT_CHUNK, ImportRow, ImportStats, MemberImport, PG_TRIGRAM_MERGE_ROWS};
pub use invitations::{InvitationRecord, NewInvitation};
pub use member_search::{MatchGroup, SearchAnswer, SearchPlan, WORD_SEPARATORS, match_group};
pub use metadata_sources::{MetadataSourceRecord, MetadataUrlUpdate};
pub use orgs::OrgRecord;
pub use people::{ChangedMember, MemberCursor, MemberHit, MembershipRecord, UserRecord};
pub use reminder_queue::{CompletedThreshold, FinishedReminder, QueuedReminder};
pub use reminders::{
    Claim, DueCertificate, ReminderClaim, ReminderRecipient, ScheduleMove, SweepPosition,
};
pub use removals::RemovalRecord;
pub use smartcore_domain::RemovalOutcome;
pub use sso_sign_in::{
    AttemptRecord, CertificateUse, DomainOwner, HandoverRecord, NewHandover, NewRequest,
    PolicyRecord, RequestRecord,
};
pub use sync::{IdentityRoom, LIMIT_REFUSAL_MARKER, SyncJob};
pub use trust::{AdminRecipient, ReminderState, TrustMailJob, TrustRecord, UnconfirmedContact};
pub use tx::WriteTx;

/// A database connection, as the use cases pass it to storage functions (a [`WriteTx`]
/// derefs to one; [`Store::read_connection`] lends one for reads).
pub type Connection = sqlx::AnyConnection;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, ConnectOptions, Connection as _, Executor};
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
    /// SQLite: write transactions take turns on this within the process (see `tx`).
    write_gate: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// PostgreSQL: the URL, for connections of their own (an import's `COPY`).
    pg_url: Option<std::sync::Arc<str>>,
    /// The SQLite database file, for the free-space check of [`Store::check_writable`].
    sqlite_file: Option<std::sync::Arc<std::path::Path>>,
    /// What member search may use (PostgreSQL: looked up once; see `member_search`).
    search_indexes: std::sync::Arc<tokio::sync::OnceCell<member_search::SearchIndexes>>,
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
        let (url, sqlite_file) = match dialect {
            Dialect::Sqlite => prepare_sqlite_url(url)?,
            Dialect::Postgres => (url.to_owned(), None),
        };
        let options = AnyConnectOptions::from_str(&url)
            .map_err(|e| StoreError::Config(format!("invalid database URL: {e}")))?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
        // One direct attempt first, so an unreachable server is reported at once rather than
        // after the pool's acquire timeout.
        // The probe is set up as every pooled connection is, so a database that cannot be
        // opened for writing (a read-only folder, a file that is not a database) is reported
        // now, with its cause, rather than retried by the pool.
        let cannot_open = |e: sqlx::Error| {
            let hint = match &sqlite_file {
                Some(file) => format!(
                    " (SQLite needs to write {} and create its -wal and -shm files beside it: \
                     check that the file is an SQLite database and that its folder is writable)",
                    file.display()
                ),
                None => String::new(),
            };
            StoreError::Config(format!("cannot open the database: {e}{hint}"))
        };
        let mut probe = sqlx::AnyConnection::connect_with(&options)
            .await
            .map_err(cannot_open)?;
        if dialect == Dialect::Sqlite {
            configure_sqlite(&mut probe).await.map_err(cannot_open)?;
            match sqlite_write_header(&mut probe).await {
                Ok(()) => {}
                Err(e) if sqlite_code(&e) == Some(SQLITE_READONLY) => return Err(cannot_open(e)),
                // A full disk may get space again: the service starts, and `/readyz` tells.
                Err(e) => tracing::warn!(error = %e, "the database cannot take a write now"),
            }
        }
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
                    match dialect {
                        Dialect::Sqlite => configure_sqlite(conn).await?,
                        // No parallel workers: the service's statements are short and many
                        // run at once, and starting workers cost more than they saved. The
                        // member search's walk of a million members ("er 1") took 25.7 ms
                        // p50 with two workers and 15.8 ms without, on two cores.
                        //
                        // No synchronised scans: a sequential scan of a large table starts
                        // where the last one stopped, so a scan under a LIMIT (the search's
                        // count of "er 1" at a million members) took 1 ms most times and
                        // 150-170 ms every tenth or so, when its start had drifted past the
                        // matches; from the table's start it takes 27 ms every time.
                        Dialect::Postgres => {
                            conn.execute(
                                "SET max_parallel_workers_per_gather = 0; \
                                 SET synchronize_seqscans = off",
                            )
                            .await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Config(format!("cannot open the database: {e}")))?;
        Ok(Store {
            pool,
            dialect,
            write_gate: Default::default(),
            pg_url: (dialect == Dialect::Postgres).then(|| url.as_str().into()),
            sqlite_file: sqlite_file.map(Into::into),
            search_indexes: Default::default(),
        })
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

    /// Checks that the database takes a write now (for `/readyz`): a one-row write committed
    /// through the same path as every other write, within [`WRITE_CHECK_TIMEOUT`]. On SQLite
    /// the disk holding the database must also have [`MIN_FREE_BYTES`] free: a nearly full
    /// disk may still take this small write and then refuse the next real one.
    pub async fn check_writable(&self, now_millis: i64) -> Result<(), NotWritable> {
        if let Some(file) = &self.sqlite_file {
            let free = free_bytes(file).map_err(|e| {
                NotWritable(format!(
                    "cannot read the free space of the disk holding the database: {e}"
                ))
            })?;
            if free < MIN_FREE_BYTES {
                return Err(NotWritable(format!(
                    "the disk holding the database has {} KiB free (at least {} KiB are needed)",
                    free / 1024,
                    MIN_FREE_BYTES / 1024
                )));
            }
        }
        let write = async {
            let mut tx = self.begin().await?;
            sqlx::query("UPDATE readiness_probe SET checked_at = $1 WHERE id = 1")
                .bind(now_millis)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        };
        match tokio::time::timeout(WRITE_CHECK_TIMEOUT, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(NotWritable(format!("the database refused a write: {e}"))),
            Err(_) => Err(NotWritable(format!(
                "the database did not take a write within {} s",
                WRITE_CHECK_TIMEOUT.as_secs()
            ))),
        }
    }

    /// Writes a consistent copy of an SQLite database to `file` while others keep reading and
    /// writing (`VACUUM INTO`: one read transaction, a compact copy). `file` must not exist.
    /// PostgreSQL has its own tools for this; the error says so.
    pub async fn backup_to(&self, file: &std::path::Path) -> Result<(), StoreError> {
        if self.dialect == Dialect::Postgres {
            return Err(StoreError::Config(
                "backup copies SQLite databases; for PostgreSQL use pg_dump \
                 (e.g. pg_dump --format=custom --file=smartcore.dump \"$SMARTCORE_DATABASE_URL\")"
                    .into(),
            ));
        }
        if file.exists() {
            return Err(StoreError::Config(format!(
                "{} exists already; give a new file name",
                file.display()
            )));
        }
        let path = file
            .to_str()
            .ok_or_else(|| StoreError::Config(format!("{} is not a UTF-8 path", file.display())))?;
        sqlx::query("VACUUM INTO $1")
            .bind(path)
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::Config(format!("cannot write the backup to {path}: {e}")))?;
        Ok(())
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// WAL, so readers never wait for the writer; a busy timeout, so writers queue for the lock.
async fn configure_sqlite(conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
    conn.execute("PRAGMA journal_mode = WAL").await?;
    conn.execute("PRAGMA busy_timeout = 10000").await?;
    conn.execute("PRAGMA foreign_keys = ON").await?;
    conn.execute("PRAGMA synchronous = NORMAL").await?;
    Ok(())
}

/// SQLite's primary result code for a database opened read-only.
const SQLITE_READONLY: i64 = 8;

/// The primary SQLite result code of `e`, if it is one.
fn sqlite_code(e: &sqlx::Error) -> Option<i64> {
    let code = e.as_database_error()?.code()?;
    code.parse::<i64>().ok().map(|c| c & 0xff)
}

/// Writes the database header's `user_version` with the value it has: the smallest write
/// there is, to learn at start-up whether SQLite opened the database read-only (it then opens
/// without complaint, and only refuses the first write).
async fn sqlite_write_header(conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
    use sqlx::Row;
    let version: i64 = sqlx::query("PRAGMA user_version")
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    // An integer read just now: nothing else reaches this statement.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "PRAGMA user_version = {version}"
    )))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Why the database cannot take a write now, in words for an operator.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct NotWritable(pub String);

/// How long `/readyz` waits for its write before it says the database cannot take one.
pub const WRITE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The free space below which an SQLite database counts as unable to take writes.
pub const MIN_FREE_BYTES: u64 = 4 * 1024 * 1024;

/// The bytes an unprivileged process may still write on the file system holding `file`.
fn free_bytes(file: &std::path::Path) -> std::io::Result<u64> {
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let stat = rustix::fs::statvfs(dir)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// The file a `sqlite:` URL names, or `None` for an in-memory database or another dialect.
pub fn sqlite_file_of_url(url: &str) -> Option<std::path::PathBuf> {
    if !url.starts_with("sqlite:") {
        return None;
    }
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let path = rest.split_once('?').map_or(rest, |(p, _)| p);
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

/// `sqlite://path/to/file.db` → creates `path/to` and asks SQLite to create the file.
/// Answers the URL to open and the database file's path (none for an in-memory database).
fn prepare_sqlite_url(url: &str) -> Result<(String, Option<std::path::PathBuf>), StoreError> {
    let Some(file) = sqlite_file_of_url(url) else {
        return Ok((url.to_owned(), None));
    };
    let path = file.to_string_lossy().into_owned();
    let query = url.split_once('?').map_or("", |(_, q)| q);
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
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
    let url = format!("sqlite://{path}?{query}");
    Ok((url, Some(file)))
}

#[cfg(test)]
mod check_constraints {
    //! Migration 0025's lists are the enums' texts: a value the enum can write is never
    //! refused, and the database refuses every other.
    use smartcore_domain::{
        ContactSource, DeliveryStatus, DomainStatus, InvitationStatus, MailKind, ReminderStatus,
        RemovalOutcome, RemovalStatus, Role, SsoAttemptResult, SsoRequestPurpose, SsoStatus,
        SyncStatus,
    };

    fn list<T: Copy>(all: &[T], text: fn(T) -> &'static str) -> String {
        let quoted: Vec<String> = all.iter().map(|v| format!("'{}'", text(*v))).collect();
        quoted.join(", ")
    }

    #[test]
    fn the_checks_of_both_databases_list_exactly_the_enums_texts() {
        let columns = [
            ("memberships.role", list(Role::ALL, Role::as_str)),
            ("invitations.role", list(Role::ALL, Role::as_str)),
            (
                "invitations.status",
                list(InvitationStatus::ALL, InvitationStatus::as_str),
            ),
            (
                "it_contacts.source",
                list(ContactSource::ALL, ContactSource::as_str),
            ),
            (
                "it_contacts.status",
                list(SyncStatus::ALL, SyncStatus::as_str),
            ),
            (
                "identity_removals.status",
                list(RemovalStatus::ALL, RemovalStatus::as_str),
            ),
            (
                "identity_removals.outcome",
                list(RemovalOutcome::ALL, RemovalOutcome::as_str),
            ),
            (
                "domains.status",
                list(DomainStatus::ALL, DomainStatus::as_str),
            ),
            (
                "organisations.sso_status",
                list(SsoStatus::ALL, SsoStatus::as_str),
            ),
            (
                "certificate_reminders.status",
                list(ReminderStatus::ALL, ReminderStatus::as_str),
            ),
            (
                "mail_deliveries.kind",
                list(MailKind::ALL, MailKind::as_str),
            ),
            (
                "mail_deliveries.status",
                list(DeliveryStatus::ALL, DeliveryStatus::as_str),
            ),
            (
                "contact_trust.test_alert_status",
                list(DeliveryStatus::ALL, DeliveryStatus::as_str),
            ),
        ];
        let postgres = include_str!("../migrations/postgres/0025_checks.sql");
        let sqlite = include_str!("../migrations/sqlite/0025_checks.sql");
        for (column, values) in &columns {
            let (table, col) = column.split_once('.').unwrap();
            let pg = postgres
                .lines()
                .find(|l| {
                    l.starts_with(&format!(
                        "ALTER TABLE {table} ADD CONSTRAINT {table}_{col}_check "
                    ))
                })
                .unwrap_or_else(|| panic!("no PostgreSQL check on {column}"));
            assert!(pg.contains(&format!("{col} IN ({values})")), "{pg}");
            let triggers = sqlite
                .lines()
                .filter(|l| l.contains(&format!("NEW.{col} NOT IN ({values})")))
                .count();
            let guards = sqlite.matches(&format!("'check failed: {column}'")).count();
            assert_eq!(
                (triggers >= 2, guards),
                (true, 2),
                "SQLite triggers on {column}"
            );
        }
        assert_eq!(postgres.matches("ADD CONSTRAINT").count(), columns.len());
        assert_eq!(sqlite.matches("CREATE TRIGGER").count(), 2 * columns.len());
    }

    /// The sign-in tables were created with their checks (migration 0018, both databases).
    #[test]
    fn the_sign_in_checks_list_exactly_the_enums_texts() {
        for sql in [
            include_str!("../migrations/postgres/0018_sso_sign_in.sql"),
            include_str!("../migrations/sqlite/0018_sso_sign_in.sql"),
        ] {
            let purposes = list(SsoRequestPurpose::ALL, SsoRequestPurpose::as_str);
            assert!(sql.contains(&format!("CHECK (purpose IN ({purposes}))")));
            let results = list(SsoAttemptResult::ALL, SsoAttemptResult::as_str);
            assert!(sql.contains(&format!("CHECK (result IN ({results}))")));
        }
    }
}
