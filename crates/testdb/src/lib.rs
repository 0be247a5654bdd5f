//! The test-database fixture shared by the storage conformance suite and the service's
//! integration and browser tests: a fresh SQLite file or PostgreSQL database per test,
//! removed when its guard drops, also when the test fails.
//!
//! PostgreSQL comes from `SMARTCORE_TEST_POSTGRES_URL` (default
//! `postgres://root@127.0.0.1:5432/postgres`). Without a reachable server, PostgreSQL tests skip
//! with one line on a developer's machine and fail under CI (`CI=true`).

use std::sync::atomic::{AtomicU32, Ordering};

/// The two databases every suite runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A temporary folder removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "smartcore-{label}-{}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst),
            uuid::Uuid::now_v7().simple()
        ));
        std::fs::create_dir_all(&path).expect("create a temporary folder");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// A fresh, empty database URL for `backend`, or `None` (with one line on stderr) when
/// PostgreSQL is not reachable outside CI. The guard removes the database when dropped, also
/// when the test fails.
pub async fn fresh_database(backend: Backend) -> Option<(String, TestDatabase)> {
    match backend {
        Backend::Sqlite => {
            let dir = TempDir::new("db");
            let url = format!("sqlite://{}/smartcore.db", dir.0.display());
            Some((url, TestDatabase::Sqlite { _folder: dir }))
        }
        Backend::Postgres => {
            let admin = postgres_admin_url();
            let name = format!("smartcore_test_{}", uuid::Uuid::now_v7().simple());
            match create_pg_database(&admin, &name).await {
                Ok(url) => Some((url, TestDatabase::Postgres { admin, name })),
                Err(e) if in_ci() => panic!("PostgreSQL at {admin} is required in CI: {e}"),
                Err(e) => {
                    eprintln!("skipped: PostgreSQL at {admin} is not reachable ({e})");
                    None
                }
            }
        }
    }
}

/// A test's own database: its folder (SQLite) or its database on the server (PostgreSQL),
/// removed on drop.
pub enum TestDatabase {
    Sqlite { _folder: TempDir },
    Postgres { admin: String, name: String },
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let TestDatabase::Postgres { admin, name } = self else {
            return;
        };
        // Drop cannot wait for a future on the test's runtime: a thread of its own does it.
        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        let admin = admin.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                use sqlx::Connection;
                let mut conn = sqlx::AnyConnection::connect(&admin).await?;
                // The name was generated from a UUID: letters, digits and underscores only.
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await?;
                conn.close().await
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop the test database {name}: {e}");
        }
    }
}

/// The PostgreSQL server the suite creates its databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("SMARTCORE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".to_owned())
}

/// True when the PostgreSQL suite can run; otherwise skips with one line (fails under CI).
pub async fn postgres_available() -> bool {
    fresh_database(Backend::Postgres).await.is_some()
}

async fn create_pg_database(admin_url: &str, name: &str) -> Result<String, String> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(admin_url)
        .await
        .map_err(|e| e.to_string())?;
    // The name is generated above from a UUID: letters, digits and underscores only.
    let sql = format!("CREATE DATABASE {name}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    let _ = conn.close().await;
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(admin_url);
    Ok(format!("{base}/{name}"))
}
