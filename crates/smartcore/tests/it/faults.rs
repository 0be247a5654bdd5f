//! Faults injected for real into the running binary: the disk holding an SQLite database
//! filled up during writes and then freed; a read-only database; a PostgreSQL database that
//! turns read-only. What the service acknowledged must be there afterwards, what it refused
//! must not, and `/readyz` must say when writes cannot be taken.
//!
//! The disk is a small tmpfs mounted for the test, which needs root. Without it the SQLite
//! tests print one line and skip, except under `CI=true`, where they fail.

use crate::support::{self, Backend, TempDir, TestApp};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A tmpfs of `size_mib`, unmounted and removed on drop.
struct Tmpfs {
    dir: TempDir,
}

impl Tmpfs {
    fn mount(size_mib: u32) -> Option<Tmpfs> {
        let dir = TempDir::new("tmpfs");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(&dir.0)
            .stderr(Stdio::piped())
            .output();
        match status {
            Ok(o) if o.status.success() => Some(Tmpfs { dir }),
            other => {
                let why = match other {
                    Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_owned(),
                    Err(e) => e.to_string(),
                };
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("CI=true but a tmpfs cannot be mounted for the disk-full test: {why}");
                }
                eprintln!("skipping: cannot mount a tmpfs (needs root): {why}");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        &self.dir.0
    }

    fn remount(&self, read_only: bool) {
        let mode = if read_only {
            "remount,ro"
        } else {
            "remount,rw"
        };
        let o = Command::new("mount")
            .args(["-o", mode])
            .arg(self.path())
            .output()
            .expect("run mount");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

fn smartcore(database_url: &str, args: &[&str]) -> Value {
    let o = support::smartcore_cli(database_url, args);
    assert!(
        o.status.success(),
        "smartcore {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap_or(Value::Null)
}

/// An organisation with one administrator, made with the CLI; answers (org id, API token).
fn org_with_token(database_url: &str) -> (String, String) {
    // Only serve, migrate and demo create a database.
    smartcore(database_url, &["migrate"]);
    let org = smartcore(
        database_url,
        &["org", "create", "--name", "Faults Ltd", "--json"],
    );
    smartcore(
        database_url,
        &[
            "user",
            "create",
            "--email",
            "admin@faults.example",
            "--name",
            "Ada Admin",
            "--json",
        ],
    );
    smartcore(
        database_url,
        &[
            "member",
            "add",
            "--org",
            "Faults Ltd",
            "--email",
            "admin@faults.example",
            "--role",
            "admin",
            "--json",
        ],
    );
    let token = smartcore(
        database_url,
        &[
            "token",
            "create",
            "--email",
            "admin@faults.example",
            "--json",
        ],
    );
    (
        org["id"].as_str().unwrap().to_owned(),
        token["token"].as_str().unwrap().to_owned(),
    )
}

/// The `smartcore serve` process, killed on drop.
struct Service {
    child: Child,
    base_url: String,
}

impl Service {
    async fn start(database_url: &str, outbox: &Path) -> Service {
        smartcore_identity::install_crypto_provider();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base_url = format!("http://127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_smartcore"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("SMARTCORE_DATABASE_URL", database_url)
            .env("SMARTCORE_PUBLIC_URL", &base_url)
            .env("SMARTCORE_OUTBOX_DIR", outbox)
            .env("SMARTCORE_SYNC_INTERVAL_MS", "200")
            .env("RUST_LOG", "warn")
            .env_remove("SMARTCORE_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start smartcore serve");
        let service = Service { child, base_url };
        let http = Client::new();
        let started = Instant::now();
        while http
            .get(format!("{}/healthz", service.base_url))
            .send()
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the service did not start"
            );
            // Real time: the service is a process of its own.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        service
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the client was told about each change it asked for.
#[derive(Default)]
struct Ledger {
    /// Acknowledged adds not acknowledged as removed since: (contact id, address).
    present: Vec<(String, String)>,
    /// Acknowledged removals.
    removed: Vec<String>,
    /// Adds answered with an error: these addresses must not be contacts.
    refused_adds: Vec<String>,
    /// Removals answered with an error: these contacts must still be there.
    refused_removals: BTreeSet<String>,
    next: u32,
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Acknowledged,
    Refused,
}

impl Ledger {
    /// One change: a removal of the oldest contact once ten are present, an add otherwise.
    async fn change(&mut self, http: &Client, base_url: &str, org: &str, token: &str) -> Outcome {
        if self.present.len() >= 10 {
            let (id, _) = self.present[0].clone();
            let r = http
                .delete(format!("{base_url}/api/v1/orgs/{org}/it-contacts/{id}"))
                .bearer_auth(token)
                .send()
                .await
                .expect("the service answers");
            let status = r.status();
            if status == StatusCode::OK {
                self.present.remove(0);
                self.refused_removals.remove(&id);
                self.removed.push(id);
                Outcome::Acknowledged
            } else {
                assert_unavailable(r, "remove").await;
                self.refused_removals.insert(id);
                Outcome::Refused
            }
        } else {
            self.next += 1;
            let email = format!("contact{}@faults.example", self.next);
            let r = http
                .post(format!("{base_url}/api/v1/orgs/{org}/it-contacts"))
                .bearer_auth(token)
                .json(&json!({ "email": email }))
                .send()
                .await
                .expect("the service answers");
            let status = r.status();
            if status == StatusCode::CREATED {
                let body: Value = r.json().await.unwrap();
                self.present
                    .push((body["id"].as_str().unwrap().to_owned(), email));
                Outcome::Acknowledged
            } else {
                assert_unavailable(r, "add").await;
                self.refused_adds.push(email);
                Outcome::Refused
            }
        }
    }

    /// `n` changes, every one of which must be acknowledged (`why` says why it must).
    async fn all_taken(
        &mut self,
        n: usize,
        http: &Client,
        base_url: &str,
        org: &str,
        token: &str,
        why: &str,
    ) {
        for _ in 0..n {
            assert_eq!(
                self.change(http, base_url, org, token).await,
                Outcome::Acknowledged,
                "{why}"
            );
        }
    }

    /// Checks the service's contacts and audit log against what the client was told.
    async fn verify(&self, http: &Client, base_url: &str, org: &str, token: &str) {
        let list: Value = http
            .get(format!("{base_url}/api/v1/orgs/{org}/it-contacts"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let listed: BTreeSet<String> = list["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect();
        let listed_emails: BTreeSet<String> = list["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["email"].as_str().unwrap().to_owned())
            .collect();
        let expected: BTreeSet<String> = self.present.iter().map(|(id, _)| id.clone()).collect();
        assert_eq!(
            listed, expected,
            "the contacts are exactly what was acknowledged"
        );
        for email in &self.refused_adds {
            assert!(
                !listed_emails.contains(email),
                "a refused add of {email} took effect"
            );
        }

        let mut added = BTreeSet::new();
        let mut removed = BTreeSet::new();
        let mut before: Option<String> = None;
        loop {
            let mut url = format!("{base_url}/api/v1/orgs/{org}/audit-log?limit=100");
            if let Some(b) = &before {
                url.push_str(&format!("&before={b}"));
            }
            let page: Value = http
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            for e in page["events"].as_array().unwrap() {
                let target = e["target"].as_str().unwrap_or_default().to_owned();
                match e["action"].as_str().unwrap() {
                    "it_contact.added" => {
                        added.insert(target);
                    }
                    "it_contact.removed" => {
                        removed.insert(target);
                    }
                    _ => {}
                }
            }
            match page["next_before"].as_str() {
                Some(b) => before = Some(b.to_owned()),
                None => break,
            }
        }
        let acknowledged_adds: BTreeSet<String> = self
            .present
            .iter()
            .map(|(id, _)| id.clone())
            .chain(self.removed.iter().cloned())
            .collect();
        assert_eq!(
            added, acknowledged_adds,
            "one audit event per acknowledged add, no others"
        );
        let acknowledged_removals: BTreeSet<String> = self.removed.iter().cloned().collect();
        assert_eq!(
            removed, acknowledged_removals,
            "one audit event per acknowledged removal, no others"
        );
    }
}

/// A change the database could not take is answered 503 `unavailable`, with `Retry-After`.
async fn assert_unavailable(r: reqwest::Response, what: &str) {
    let status = r.status();
    let retry_after = r.headers().contains_key("retry-after");
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {body}");
    assert_eq!(body["code"], "unavailable", "{what}: {body}");
    assert!(retry_after, "{what}: Retry-After");
}

async fn ready(http: &Client, base_url: &str) -> StatusCode {
    http.get(format!("{base_url}/readyz"))
        .send()
        .await
        .unwrap()
        .status()
}

/// Fills the file system holding `dir` with one file, to the last byte it takes, and then
/// gives `room` bytes back: the disk fills up during the writes that follow.
fn fill(dir: &Path, room: u64) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while file.write_all(&chunk).is_ok() {}
    let small = [0u8; 512];
    while file.write_all(&small).is_ok() {}
    let _ = file.flush();
    let len = file.metadata().unwrap().len();
    file.set_len(len.saturating_sub(room)).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_disk_full_loses_nothing_acknowledged_and_writes_resume_once_space_is_back() {
    smartcore_identity::install_crypto_provider();
    let Some(disk) = Tmpfs::mount(24) else { return };
    let outbox = TempDir::new("faults-outbox");
    let db = format!("sqlite://{}/smartcore.db", disk.path().display());
    let (org, token) = org_with_token(&db);
    let mut service = Service::start(&db, &outbox.0).await;
    let http = Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut ledger = Ledger::default();

    ledger
        .all_taken(
            30,
            &http,
            &service.base_url,
            &org,
            &token,
            "with space, every change is taken",
        )
        .await;
    assert_eq!(ready(&http, &service.base_url).await, StatusCode::OK);

    // The disk fills up: changes go on every 50 ms until the service has refused a few. Some
    // may still be taken in the room left; each one taken must be there in the end.
    let filler = fill(disk.path(), 256 * 1024);
    assert_eq!(
        ready(&http, &service.base_url).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "/readyz says the database cannot take writes"
    );
    let mut refused = 0;
    let mut attempts = 0;
    let mut taken_while_filling = 0;
    while refused < 10 {
        attempts += 1;
        assert!(
            attempts <= 400,
            "400 changes on a full disk and fewer than 10 refused"
        );
        match ledger.change(&http, &service.base_url, &org, &token).await {
            Outcome::Refused => refused += 1,
            Outcome::Acknowledged => taken_while_filling += 1,
        }
        // Real time: changes go on at a pace while the disk fills.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        ready(&http, &service.base_url).await,
        StatusCode::SERVICE_UNAVAILABLE
    );

    // Space comes back: writes are served again within 5 s, without a restart.
    std::fs::remove_file(&filler).unwrap();
    let freed = Instant::now();
    while ledger.change(&http, &service.base_url, &org, &token).await != Outcome::Acknowledged {
        assert!(
            freed.elapsed() < Duration::from_secs(5),
            "writes still refused 5 s after space came back"
        );
        // Real time: the subject is recovery within 5 s.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let recovered = freed.elapsed();
    eprintln!(
        "disk full: {attempts} changes tried, {taken_while_filling} taken as the disk filled, {refused} refused; writes served again {recovered:?} after space came back"
    );
    ledger
        .all_taken(
            20,
            &http,
            &service.base_url,
            &org,
            &token,
            "once space is back, every change is taken",
        )
        .await;
    assert_eq!(ready(&http, &service.base_url).await, StatusCode::OK);
    ledger.verify(&http, &service.base_url, &org, &token).await;

    // After kill -9 and a restart, the database holds exactly what was acknowledged.
    drop(service);
    service = Service::start(&db, &outbox.0).await;
    ledger.verify(&http, &service.base_url, &org, &token).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_read_only_stops_start_up_with_its_cause() {
    smartcore_identity::install_crypto_provider();
    let Some(disk) = Tmpfs::mount(16) else { return };
    let outbox = TempDir::new("faults-outbox");
    let db = format!("sqlite://{}/smartcore.db", disk.path().display());
    let (org, token) = org_with_token(&db);

    // Read-only at start-up: `serve` says so at once rather than retrying or answering as if
    // it could write. SQLite opens such a database without complaint when its -wal and -shm
    // files are there (left by a process killed with -9) and fails to open it when they are
    // not (removed by a clean close): both shapes end here.
    let service = Service::start(&db, &outbox.0).await;
    drop(service);
    let files = |dir: &Path| std::fs::read_dir(dir).unwrap().count();
    assert_eq!(
        files(disk.path()),
        3,
        "kill -9 left the -wal and -shm files"
    );
    let refused_start = || {
        let started = Instant::now();
        let o = Command::new(env!("CARGO_BIN_EXE_smartcore"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("SMARTCORE_DATABASE_URL", &db)
            .env("SMARTCORE_OUTBOX_DIR", &outbox.0)
            .env_remove("SMARTCORE_CONFIG")
            .output()
            .expect("run smartcore serve");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{stderr}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
        assert!(stderr.contains("cannot open the database"), "{stderr}");
        assert!(stderr.contains("folder is writable"), "{stderr}");
    };
    disk.remount(true);
    refused_start();
    disk.remount(false);
    {
        // A clean close by the last connection checkpoints and removes the -wal and -shm files.
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&db).await.unwrap();
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
    assert_eq!(
        files(disk.path()),
        1,
        "a clean close removed the -wal and -shm files"
    );
    disk.remount(true);
    refused_start();

    // Writable again: the same command starts and takes writes. (A disk cannot be made
    // read-only under a running SQLite, which keeps its files open for writing; the
    // PostgreSQL test below turns a running database read-only.)
    disk.remount(false);
    let service = Service::start(&db, &outbox.0).await;
    let http = Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    assert_eq!(ready(&http, &service.base_url).await, StatusCode::OK);
    let mut ledger = Ledger::default();
    ledger
        .all_taken(
            5,
            &http,
            &service.base_url,
            &org,
            &token,
            "writable again, every change is taken",
        )
        .await;
    ledger.verify(&http, &service.base_url, &org, &token).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_read_only_is_not_ready_and_refuses_writes_until_writable() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    let (org, token) = app.org_with_admin("Read Only Ltd").await;
    assert_eq!(ready(&app.http, &app.base_url).await, StatusCode::OK);
    let database = app.database_url.rsplit('/').next().unwrap().to_owned();
    let set_read_only = |on: bool| {
        let database = database.clone();
        async move {
            use sqlx::Connection;
            let mut admin = sqlx::AnyConnection::connect(&support::postgres_admin_url())
                .await
                .unwrap();
            // The name was generated by the test support: letters, digits and underscores.
            let sql = format!(
                "ALTER DATABASE {database} SET default_transaction_read_only = {}",
                if on { "on" } else { "off" }
            );
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut admin)
                .await
                .unwrap();
            // The setting applies to new sessions: end the service's current ones.
            sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()")
                .bind(&database)
                .execute(&mut admin)
                .await
                .unwrap();
            let _ = admin.close().await;
        }
    };
    set_read_only(true).await;
    let mut ledger = Ledger::default();
    let started = Instant::now();
    while ready(&app.http, &app.base_url).await != StatusCode::SERVICE_UNAVAILABLE {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "/readyz still 200 on a read-only database"
        );
        // Real time: the pool's sessions are ended and opened again on their own.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        ledger.change(&app.http, &app.base_url, &org, &token).await,
        Outcome::Refused
    );

    set_read_only(false).await;
    let writable = Instant::now();
    while ledger.change(&app.http, &app.base_url, &org, &token).await != Outcome::Acknowledged {
        assert!(
            writable.elapsed() < Duration::from_secs(5),
            "writes still refused 5 s after the database became writable"
        );
        // Real time: the subject is recovery within 5 s.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ready(&app.http, &app.base_url).await, StatusCode::OK);
    ledger.verify(&app.http, &app.base_url, &org, &token).await;
}
