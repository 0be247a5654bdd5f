//! Fresh databases for a benchmark run: SQLite always, PostgreSQL when its server answers.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Sqlite => "SQLite",
            Kind::Postgres => "PostgreSQL",
        }
    }
}

pub struct FreshDb {
    pub url: String,
    _dir: Option<TempDir>,
    /// The PostgreSQL database this run created, dropped with the handle.
    pg_name: Option<String>,
}

impl Drop for FreshDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Its own thread and runtime: a drop may happen inside the benchmark's runtime.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::AnyConnection::connect(&pg_admin_url()).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await?;
                anyhow::Ok(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop a benchmark database; drop it by hand ({dropped:?})");
        }
    }
}

pub struct TempDir(pub std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn temp_dir(label: &str) -> TempDir {
    let p = std::env::temp_dir().join(format!(
        "smartcore-bench-{label}-{}",
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&p).expect("temporary folder");
    TempDir(p)
}

fn pg_admin_url() -> String {
    std::env::var("SMARTCORE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".to_owned())
}

/// The kinds of database this run can use; says so when PostgreSQL is skipped.
pub async fn kinds() -> Vec<Kind> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    match sqlx::AnyConnection::connect(&pg_admin_url()).await {
        Ok(c) => {
            let _ = c.close().await;
            vec![Kind::Sqlite, Kind::Postgres]
        }
        Err(e) => {
            println!("PostgreSQL skipped: {} not reachable ({e})", pg_admin_url());
            vec![Kind::Sqlite]
        }
    }
}

pub async fn fresh(kind: Kind) -> anyhow::Result<FreshDb> {
    match kind {
        Kind::Sqlite => {
            let dir = temp_dir("db");
            Ok(FreshDb {
                url: format!("sqlite://{}/bench.db", dir.0.display()),
                _dir: Some(dir),
                pg_name: None,
            })
        }
        Kind::Postgres => {
            use sqlx::Connection;
            let admin = pg_admin_url();
            let mut conn = sqlx::AnyConnection::connect(&admin).await?;
            let name = format!("smartcore_bench_{}", uuid::Uuid::now_v7().simple());
            // Generated from a UUID: letters, digits and underscores only.
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await?;
            let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
            Ok(FreshDb {
                url: format!("{base}/{name}"),
                _dir: None,
                pg_name: Some(name),
            })
        }
    }
}

/// Opens the service on `url` with default configuration.
pub async fn open(url: &str) -> anyhow::Result<smartcore_app::App> {
    open_with(url, &[]).await
}

/// Opens the service on `url` with extra configuration (`SMARTCORE_…` variables).
pub async fn open_with(url: &str, extra: &[(&str, &str)]) -> anyhow::Result<smartcore_app::App> {
    let outbox = std::env::temp_dir().join("smartcore-bench-outbox");
    let config = smartcore::config::Config::from_sources(None, |k| {
        if let Some((_, v)) = extra.iter().find(|(n, _)| *n == k) {
            return Some((*v).to_owned());
        }
        match k {
            "SMARTCORE_DATABASE_URL" => Some(url.to_owned()),
            "SMARTCORE_OUTBOX_DIR" => Some(outbox.display().to_string()),
            _ => None,
        }
    })?;
    smartcore::open(&config).await
}

/// Rows per multi-row insert of the benchmarks' fixtures.
pub const CHUNK: usize = 500;

/// `head` and [`CHUNK`] copies of `row`, each `?` in it a numbered placeholder: a multi-row
/// insert in which only placeholders vary.
pub fn chunk_insert(head: &str, row: &str) -> String {
    smartcore_storage::batch::statement(head, row, CHUNK, 0, "").0
}
