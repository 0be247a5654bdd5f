//! `TestApp`: the real service on port 0 with a fresh database per test, and typed helpers
//! that read like the API's users.
//!
//! Every test runs on both databases through `on_both_databases!` (or `on_each_backend!`). PostgreSQL comes from
//! `SMARTCORE_TEST_POSTGRES_URL` (default `postgres://root@127.0.0.1:5432/postgres`); each
//! test gets its own database. Without a reachable server, PostgreSQL tests skip with one line
//! on a developer's machine, and fail under CI (`CI=true`).
//!
//! Test services run no background workers unless a test asks ([`WITH_WORKERS`]): a test
//! drives the queues when it wants their work done ([`TestApp::drain`], the certificate
//! sweep), on a clock it moves where time matters
//! ([`TestApp::start_with_clock`]), and waits for nothing by sleeping.

use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use smartcore::config::Config;
use smartcore_app::App;
use tokio::sync::oneshot;

// Shared with the browser tests, which use only part of it.
#[allow(unused_imports)]
pub use smartcore_testdb::{
    Backend, TempDir, TestDatabase, fresh_database, in_ci, postgres_admin_url, postgres_available,
};

/// Runs each named test body (an `async fn name(app: TestApp)` of the module) on SQLite and
/// on PostgreSQL, each with a fresh service and database. The bodies are plain functions, so
/// rustfmt formats them.
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let backend = $crate::support::Backend::Sqlite;
                    if let Some(app) = $crate::support::TestApp::spawn(backend).await {
                        super::$name(app).await
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let backend = $crate::support::Backend::Postgres;
                    if let Some(app) = $crate::support::TestApp::spawn(backend).await {
                        super::$name(app).await
                    }
                }
            )*
        }
    };
}

/// Runs each named test body (an `async fn name(backend: Backend)` of the module, for tests
/// that start their services with particular configuration) on SQLite and on PostgreSQL.
macro_rules! on_each_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::support::postgres_available().await {
                        super::$name($crate::support::Backend::Postgres).await
                    }
                }
            )*
        }
    };
}

pub struct TestApp {
    pub backend: Backend,
    pub database_url: String,
    pub base_url: String,
    pub app: App,
    pub http: Client,
    /// The database opened on its own (see [`TestApp::store`]).
    store: tokio::sync::OnceCell<smartcore_storage::Store>,
    _dir: Option<TestDatabase>,
    /// Whether the background workers run (see [`WITH_WORKERS`]).
    workers: bool,
    /// The outbox folder; removed by the serve task once the service has stopped (a worker
    /// finishing its pass may still write a mail after the test is done with the app).
    outbox: std::path::PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    /// The serve task; waited for on drop, so nothing it writes outlives the test.
    served: Option<tokio::task::JoinHandle<()>>,
}

/// The API key the identity-side fake expects in tests.
pub const WORKOS_KEY: &str = "sk_test_smartcore";

/// Not a configuration key: tells [`TestApp::start`] to run the background workers beside the
/// web (polling every 50 ms). Test services run none unless asked: tests drive the queues
/// ([`TestApp::drain`]); only the tests whose subject is a running worker ask for them.
pub const WITH_WORKERS: &str = "TEST_WITH_WORKERS";

/// Runs the `smartcore` command line on `database_url`, as an operator runs it.
pub fn smartcore_cli(database_url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_smartcore"))
        .args(args)
        .env("SMARTCORE_DATABASE_URL", database_url)
        .env_remove("SMARTCORE_CONFIG")
        .output()
        .expect("run smartcore")
}

pub fn test_config(database_url: &str, extra: &[(&str, String)]) -> Config {
    let mut vars: Vec<(String, String)> = vec![
        ("SMARTCORE_DATABASE_URL".into(), database_url.to_owned()),
        ("SMARTCORE_LISTEN".into(), "127.0.0.1:0".into()),
        // For the services that run their workers (see [`WITH_WORKERS`]).
        ("SMARTCORE_SYNC_INTERVAL_MS".into(), "50".into()),
    ];
    vars.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    Config::from_sources(None, |k| {
        vars.iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    })
    .expect("test configuration")
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, &[]).await
    }

    /// Starts the service with extra configuration (`SMARTCORE_…` variables).
    pub async fn spawn_with(backend: Backend, extra: &[(&str, String)]) -> Option<TestApp> {
        let (database_url, dir) = fresh_database(backend).await?;
        let mut app = Self::start(backend, &database_url, extra).await;
        app._dir = Some(dir);
        Some(app)
    }

    /// Starts the service with extra configuration and a clock the test controls.
    pub async fn spawn_with_clock(
        backend: Backend,
        extra: &[(&str, String)],
        clock: std::sync::Arc<dyn smartcore_app::Clock>,
    ) -> Option<TestApp> {
        let (database_url, dir) = fresh_database(backend).await?;
        let mut app = Self::start_with_clock(backend, &database_url, extra, clock).await;
        app._dir = Some(dir);
        Some(app)
    }

    /// Starts (another) instance of the service on an existing database.
    pub async fn start(backend: Backend, database_url: &str, extra: &[(&str, String)]) -> TestApp {
        Self::start_with_clock(
            backend,
            database_url,
            extra,
            std::sync::Arc::new(smartcore_app::SystemClock),
        )
        .await
    }

    /// Like [`TestApp::start`], with a clock the test controls.
    pub async fn start_with_clock(
        backend: Backend,
        database_url: &str,
        extra: &[(&str, String)],
        clock: std::sync::Arc<dyn smartcore_app::Clock>,
    ) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let outbox = TempDir::new("outbox");
        let workers = extra.iter().any(|(k, _)| *k == WITH_WORKERS);
        let mut extra = extra.to_vec();
        // A second instance behind the same public address (SSO replay across instances)
        // passes the first one's.
        if !extra.iter().any(|(k, _)| *k == "SMARTCORE_PUBLIC_URL") {
            extra.push(("SMARTCORE_PUBLIC_URL", base_url.clone()));
        }
        extra.push(("SMARTCORE_OUTBOX_DIR", outbox.0.display().to_string()));
        let config = test_config(database_url, &extra);
        let app = smartcore::open_with_clock(&config, clock)
            .await
            .expect("open the service");
        let (tx, rx) = oneshot::channel::<()>();
        let served = app.clone();
        let serve_config = config.clone();
        let outbox_path = outbox.0.clone();
        let served_task = tokio::spawn(async move {
            let _outbox = outbox;
            let stopped = async {
                let _ = rx.await;
            };
            let result = if workers {
                smartcore::serve(served, &serve_config, listener, stopped).await
            } else {
                smartcore::serve_web(served, &serve_config, listener, stopped).await
            };
            result.expect("serve");
        });
        TestApp {
            backend,
            database_url: database_url.to_owned(),
            base_url,
            app,
            http: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            store: tokio::sync::OnceCell::new(),
            _dir: None,
            workers,
            outbox: outbox_path,
            served: Some(served_task),
            shutdown: Some(tx),
        }
    }

    /// The service's database, opened on its own from its URL (the use cases hand out no
    /// store) on first use, for what a test needs of the database itself: seeding a state no
    /// use case reaches, or reading one back.
    #[allow(dead_code)]
    pub async fn store(&self) -> &smartcore_storage::Store {
        self.store
            .get_or_init(|| async {
                smartcore_storage::Store::connect(&self.database_url)
                    .await
                    .expect("open the test database")
            })
            .await
    }

    /// Where this instance's outbox writes (`SMARTCORE_MAIL=outbox`, the default); the
    /// browser tests read links from it.
    #[allow(dead_code)]
    pub fn outbox_dir(&self) -> &std::path::Path {
        &self.outbox
    }

    /// The base URL of an identity-side fake, to pass as configuration.
    pub fn workos_env(fake_url: &str) -> Vec<(&'static str, String)> {
        vec![
            ("SMARTCORE_IDENTITY", "workos".into()),
            ("SMARTCORE_WORKOS_BASE_URL", fake_url.to_owned()),
            ("SMARTCORE_WORKOS_API_KEY", WORKOS_KEY.into()),
            ("SMARTCORE_SYNC_LEASE_S", "2".into()),
        ]
    }

    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let mut rb = self
            .http
            .request(method, format!("{}{}", self.base_url, path));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        rb
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path, Some(token))
            .send()
            .await
            .expect("GET")
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.request(Method::POST, path, Some(token))
            .json(&body)
            .send()
            .await
            .expect("POST")
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.request(Method::DELETE, path, Some(token))
            .send()
            .await
            .expect("DELETE")
    }

    /// Creates a user (with a password) and an API token for them.
    pub async fn user(&self, email: &str, staff: bool) -> String {
        self.app
            .accounts()
            .accounts()
            .create_user(
                email,
                Some("Test User"),
                Some("a long enough password"),
                staff,
            )
            .await
            .expect("create user");
        self.app
            .accounts()
            .accounts()
            .create_api_token(email)
            .await
            .expect("create token")
    }

    /// Links the organisation to its organisation on the identity side, as the operations team
    /// does (`smartcore org link-identity`).
    #[allow(dead_code)]
    pub async fn link_identity(&self, org: &str, identity_org: &str) {
        let record = self.app.operations().find_org(org).await.expect("find org");
        self.app
            .operations()
            .link_identity(&record, identity_org)
            .await
            .expect("link identity");
    }

    /// A new organisation with one administrator; returns (org id, the admin's token).
    pub async fn org_with_admin(&self, name: &str) -> (String, String) {
        let org = self
            .app
            .operations()
            .operations()
            .create_org(name)
            .await
            .expect("create org");
        let email = format!(
            "admin-{}@{}.example",
            uuid::Uuid::now_v7().simple(),
            name.to_lowercase().replace(' ', "-")
        );
        let token = self.user(&email, false).await;
        self.app
            .operations()
            .operations()
            .add_member(&org, &email, smartcore_domain::Role::Admin)
            .await
            .expect("add admin");
        (org.id, token)
    }

    /// Signs in through the sign-in form (password "a long enough password"); returns the
    /// session cookie (`name=value`) for page requests.
    pub async fn sign_in(&self, email: &str) -> String {
        let r = self
            .http
            .post(format!("{}/sign-in", self.base_url))
            .form(&[("email", email), ("password", "a long enough password")])
            .send()
            .await
            .expect("sign in");
        assert_eq!(
            r.status(),
            reqwest::StatusCode::SEE_OTHER,
            "sign-in of {email}"
        );
        let cookie = r.headers().get("set-cookie").expect("session cookie");
        let cookie = cookie.to_str().expect("ASCII cookie");
        cookie.split(';').next().unwrap_or_default().to_owned()
    }

    /// A page's HTML, as the signed-in browser with `cookie` sees it.
    pub async fn page(&self, path: &str, cookie: &str) -> String {
        let r = self
            .http
            .get(format!("{}{}", self.base_url, path))
            .header("cookie", cookie)
            .send()
            .await
            .expect("GET page");
        assert_eq!(r.status(), reqwest::StatusCode::OK, "{path}");
        r.text().await.expect("page text")
    }

    /// Follows a form's 303 with the session `cookie` and the one-time flash cookie it set
    /// (issue 23): the status and HTML of the page the form's outcome is shown on.
    pub async fn follow(&self, r: Response, cookie: &str) -> (reqwest::StatusCode, String) {
        assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER, "a redirect");
        let location = r.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
        let cookies = match r.headers().get("set-cookie") {
            Some(c) => format!(
                "{cookie}; {}",
                c.to_str().unwrap().split(';').next().unwrap_or_default()
            ),
            None => cookie.to_owned(),
        };
        let page = self
            .http
            .get(format!("{}{}", self.base_url, location))
            .header("cookie", cookies)
            .send()
            .await
            .expect("GET the page redirected to");
        (page.status(), page.text().await.expect("page text"))
    }

    /// Adds a member (who can also sign in) to an organisation; returns (user id, token).
    pub async fn member(
        &self,
        org_id: &str,
        name: &str,
        email: &str,
        role: smartcore_domain::Role,
    ) -> (String, String) {
        let user = self
            .app
            .accounts()
            .accounts()
            .create_user(email, Some(name), Some("a long enough password"), false)
            .await
            .expect("create member");
        let org = self
            .app
            .operations()
            .operations()
            .find_org(org_id)
            .await
            .unwrap();
        self.app
            .operations()
            .operations()
            .add_member(&org, email, role)
            .await
            .expect("add member");
        let token = self
            .app
            .accounts()
            .accounts()
            .create_api_token(email)
            .await
            .unwrap();
        (user.id, token)
    }

    pub async fn add_contact(&self, org: &str, token: &str, body: Value) -> Response {
        self.post(&format!("/api/v1/orgs/{org}/it-contacts"), token, body)
            .await
    }

    pub async fn add_manual(&self, org: &str, token: &str, email: &str) -> Value {
        let r = self
            .add_contact(org, token, json!({ "email": email }))
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "adding {email}");
        r.json().await.unwrap()
    }

    pub async fn contacts(&self, org: &str, token: &str) -> Vec<Value> {
        let r = self
            .get(&format!("/api/v1/orgs/{org}/it-contacts"), token)
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        body["contacts"].as_array().unwrap().clone()
    }
}

impl TestApp {
    /// Drives every queue the background workers work, to empty, once: identity-side removals
    /// and registrations, domain re-checks, the trust pass (welcomes, re-confirmations and
    /// their notices) and due metadata refreshes, until a round finds nothing to do. What is
    /// due later (a retry, a re-check) stays for a later call, after the clock has moved.
    /// The certificate sweep is not in it: the alert worker runs it at start and hourly, and
    /// the tests of reminders run it themselves (`trust().run_certificate_sweep()`).
    pub async fn drain(&self) {
        let settings = smartcore_app::SyncSettings::default();
        let worker = "test-drain";
        for _ in 0..100 {
            let contacts = self.app.contacts();
            let removed = contacts.remove_once(worker, settings).await;
            let synced = contacts.sync_once(worker, settings).await;
            let rechecked = self.app.setup().recheck_domains(50).await;
            let trusted = self.app.trust().trust_once().await;
            let refreshed = self.app.setup().refresh_due_metadata(worker, 64).await;
            let done = removed.expect("removal pass")
                + synced.expect("sync pass")
                + rechecked.expect("domain re-check pass")
                + trusted.expect("trust pass")
                + refreshed.expect("metadata refresh pass").claimed;
            if done == 0 {
                return;
            }
        }
        panic!("the queues did not drain in 100 rounds");
    }

    /// The contact with `email` once it has `status`: without workers, after driving the
    /// queues ([`TestApp::drain`]), at once; with workers ([`WITH_WORKERS`]), polled for up
    /// to `secs` seconds ([`TestApp::poll_for_status`]).
    pub async fn wait_for_status(
        &self,
        org: &str,
        token: &str,
        email: &str,
        status: &str,
        secs: u64,
    ) -> Value {
        if self.workers {
            return self.poll_for_status(org, token, email, status, secs).await;
        }
        self.drain().await;
        match self.contact(org, token, email).await {
            Some(c) if c["status"] == status => c,
            other => panic!("{email} is not {status} once the queues are drained: {other:?}"),
        }
    }

    /// Polls (up to `secs` seconds) until the contact with `email` has `status`, driving
    /// nothing: for work that running workers do (this service's, or `smartcore worker`
    /// processes of the test).
    pub async fn poll_for_status(
        &self,
        org: &str,
        token: &str,
        email: &str,
        status: &str,
        secs: u64,
    ) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            match self.contact(org, token, email).await {
                Some(c) if c["status"] == status => return c,
                other if std::time::Instant::now() > deadline => {
                    panic!("{email} did not become {status} within {secs} s: {other:?}")
                }
                // Real time: the workers run on their own.
                _ => tokio::time::sleep(std::time::Duration::from_millis(25)).await,
            }
        }
    }

    /// The listed contact with `email`, if any.
    async fn contact(&self, org: &str, token: &str, email: &str) -> Option<Value> {
        self.contacts(org, token).await.into_iter().find(|c| {
            c["email"]
                .as_str()
                .is_some_and(|e| e.eq_ignore_ascii_case(email))
        })
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // Waits (up to 15 s) for the service and its workers to stop, so that a mail a worker
        // was sending is written before the outbox folder goes. Only on a multi-threaded
        // runtime, where a blocking wait is allowed; elsewhere the task is left to end.
        if let (Some(served), Ok(runtime)) =
            (self.served.take(), tokio::runtime::Handle::try_current())
            && runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
        {
            tokio::task::block_in_place(|| {
                runtime.block_on(async {
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(15), served).await;
                })
            });
        }
    }
}

/// Reads a problem+json answer, checking its content type and status; returns the body.
pub async fn problem(r: Response, status: u16, code: &str) -> Value {
    assert_eq!(r.status().as_u16(), status, "status for code {code}");
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert_eq!(ct, "application/problem+json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    body
}

/// A self-signed certificate valid from `from` to `until`, as PEM (for SSO tests).
pub fn certificate(cn: &str, from: time::OffsetDateTime, until: time::OffsetDateTime) -> String {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.not_before = from;
    params.not_after = until;
    let key = rcgen::KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().pem()
}
