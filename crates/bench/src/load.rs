//! list-contacts under concurrent load from wrk on loopback, beside two floors served by this
//! process in the same run: a bare axum handler answering the same bytes, and a bare handler
//! running exactly the statements the endpoint runs (the one storage call that reads the
//! administrator's role, the list and its trust records), without the router, middleware,
//! authentication or the answer's shaping. As the endpoint grows, so does its floor.

use crate::db;
use axum::Router;
use axum::routing::get;
use smartcore_app::{AddContact, App};
use smartcore_domain::OrgId;
use std::process::Command;
use tokio::sync::oneshot;

/// An organisation with members, an administrator with a token, and ten contacts, served on
/// a loopback port by the real router and server (`smartcore::server`, default limits).
pub struct Fixture {
    pub app: App,
    /// The database itself, opened on its own for what no use case does (the floors' reads
    /// and writes, a search's plan).
    pub store: smartcore_storage::Store,
    pub base_url: String,
    pub org_id: String,
    pub token: String,
    /// The administrator the token belongs to.
    pub admin: smartcore_domain::UserId,
    stop: oneshot::Sender<()>,
}

impl Fixture {
    pub async fn build(url: &str, members: u64) -> anyhow::Result<Fixture> {
        let app = db::open(url).await?;
        let store = smartcore_storage::Store::connect(url).await?;
        let org = app.operations().create_org("Bench").await?;
        let rows = (0..members).map(|i| {
            Ok(smartcore_app::MemberRow {
                line: i + 1,
                name: format!("Member {i:06}"),
                email: format!("member{i}@import.example"),
                role: Some("member".into()),
            })
        });
        app.operations().import_members(&org, rows, |_| {}).await?;
        app.accounts()
            .create_user(
                "bench-admin@bench.example",
                Some("Bench Admin"),
                None,
                false,
            )
            .await?;
        app.operations()
            .add_member(
                &org,
                "bench-admin@bench.example",
                smartcore_domain::Role::Admin,
            )
            .await?;
        let token = app
            .accounts()
            .create_api_token("bench-admin@bench.example")
            .await?;
        let actor = app.accounts().bearer_actor(&token).await?;
        for i in 0..10 {
            app.contacts()
                .add_contact(
                    &actor,
                    &org.id,
                    AddContact::Manual {
                        email: format!("it{i}@bench.example"),
                        name: Some(format!("IT {i}")),
                    },
                )
                .await?;
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let router = smartcore_web::router(
            app.clone(),
            smartcore_web::WebConfig {
                public_url: base_url.clone(),
                ..Default::default()
            },
        );
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let stopped = async {
                let _ = stopped.await;
            };
            let _ = smartcore::server::run(listener, router, Default::default(), stopped).await;
        });
        Ok(Fixture {
            app,
            store,
            base_url,
            org_id: org.id,
            token,
            admin: actor.user_id,
            stop,
        })
    }

    pub fn stop(self) {
        let _ = self.stop.send(());
    }
}

struct WrkResult {
    requests_per_sec: f64,
    p99_ms: f64,
}

fn wrk(
    url: &str,
    token: Option<&str>,
    connections: u32,
    seconds: u32,
) -> anyhow::Result<WrkResult> {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t2",
        &format!("-c{connections}"),
        &format!("-d{seconds}s"),
        "--latency",
    ]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    let out = cmd
        .arg(url)
        .output()
        .map_err(|e| anyhow::anyhow!("wrk is needed (apt-get install wrk): {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(!text.contains("Non-2xx"), "wrk saw errors:\n{text}");
    let requests_per_sec = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no Requests/sec in wrk output:\n{text}"))?;
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|v| v.trim().to_owned())
        .ok_or_else(|| anyhow::anyhow!("no 99% line in wrk output:\n{text}"))?;
    Ok(WrkResult {
        requests_per_sec,
        p99_ms: parse_duration_ms(&p99),
    })
}

fn parse_duration_ms(s: &str) -> f64 {
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let n: f64 = num.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => f64::NAN,
    }
}

pub async fn run(connections: u32, seconds: u32) -> anyhow::Result<()> {
    println!(
        "list-contacts under load: wrk -t2 -c{connections} -d{seconds}s on loopback, 10 contacts, 1,000 members"
    );
    println!(
        "{:<11} {:<36} {:>10} {:>9} {:>10}",
        "database", "endpoint", "req/s", "p99 ms", "of floor"
    );
    for kind in db::kinds().await {
        let database = db::fresh(kind).await?;
        let fixture = Fixture::build(&database.url, 1_000).await?;
        let list_path = format!("/api/v1/orgs/{}/it-contacts", fixture.org_id);
        let body = reqwest::Client::new()
            .get(format!("{}{list_path}", fixture.base_url))
            .bearer_auth(&fixture.token)
            .send()
            .await?
            .bytes()
            .await?;

        // The two floors, served side by side in this process.
        let org_id = OrgId::parse(&fixture.org_id).expect("generated id");
        let store = fixture.store.clone();
        let admin = fixture.admin.clone();
        let floors = Router::new()
            .route(
                "/bytes",
                get(move || {
                    let body = body.clone();
                    async move { ([("content-type", "application/json")], body) }
                }),
            )
            .route(
                "/query",
                get(move || {
                    let (store, org_id, admin) = (store.clone(), org_id.clone(), admin.clone());
                    async move {
                        let listing = store
                            .contacts_seen_by(&org_id, Some(&admin))
                            .await
                            .map_err(|e| e.to_string())?;
                        let emails: Vec<String> = listing
                            .contacts
                            .iter()
                            .map(|c| c.email.to_string())
                            .collect();
                        Ok::<_, String>(axum::Json(emails))
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let floor_url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move {
            let forever = std::future::pending::<()>();
            let _ = smartcore::server::run(listener, floors, Default::default(), forever).await;
        });

        let bytes = tokio::task::block_in_place(|| {
            wrk(&format!("{floor_url}/bytes"), None, connections, seconds)
        })?;
        let query = tokio::task::block_in_place(|| {
            wrk(&format!("{floor_url}/query"), None, connections, seconds)
        })?;
        let real = tokio::task::block_in_place(|| {
            wrk(
                &format!("{}{list_path}", fixture.base_url),
                Some(&fixture.token),
                connections,
                seconds,
            )
        })?;
        let label = kind.label();
        println!(
            "{label:<11} {:<36} {:>10.0} {:>9.2} {:>10}",
            "floor: bare handler, same bytes", bytes.requests_per_sec, bytes.p99_ms, "-"
        );
        println!(
            "{label:<11} {:<36} {:>10.0} {:>9.2} {:>10}",
            "floor: bare handler, same statement", query.requests_per_sec, query.p99_ms, "-"
        );
        println!(
            "{label:<11} {:<36} {:>10.0} {:>9.2} {:>9.2}x",
            "GET /api/v1/orgs/{org}/it-contacts",
            real.requests_per_sec,
            real.p99_ms,
            real.requests_per_sec / query.requests_per_sec
        );
        fixture.stop();
    }
    Ok(())
}

/// The organisations each client cycles through: an organisation adds at most 100 contacts an
/// hour (issue 24), so a client spreads its additions over several.
const ORGS_PER_CLIENT: usize = 8;

/// Request latencies in milliseconds, and the requests refused by a limit (429).
#[derive(Default)]
struct Timings {
    ms: Vec<f64>,
    limited: u64,
    errors: u64,
}

impl Timings {
    fn merge(&mut self, other: Timings) {
        self.ms.extend(other.ms);
        self.limited += other.limited;
        self.errors += other.errors;
    }

    fn p99(&mut self) -> f64 {
        if self.ms.is_empty() {
            return f64::NAN;
        }
        self.ms.sort_by(f64::total_cmp);
        self.ms[((self.ms.len() as f64) * 0.99) as usize % self.ms.len()]
    }
}

/// The longest a session of the benchmark's database stayed "idle in transaction", sampled
/// every 5 ms from `pg_stat_activity` while `done` is false: (longest ms, samples, samples that
/// saw one).
async fn sample_idle_in_transaction(
    url: String,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<(f64, u64, u64)> {
    use sqlx::Connection;
    let mut conn = sqlx::AnyConnection::connect(&url).await?;
    let (mut longest, mut samples, mut seen) = (0f64, 0u64, 0u64);
    while !done.load(std::sync::atomic::Ordering::Relaxed) {
        let (ms, n): (f64, i64) = sqlx::query_as(
            "SELECT COALESCE(MAX(EXTRACT(EPOCH FROM (clock_timestamp() - state_change)) * 1000), 0)::float8, \
                    COUNT(*) \
             FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'",
        )
        .fetch_one(&mut conn)
        .await?;
        samples += 1;
        if n > 0 {
            seen += 1;
        }
        longest = longest.max(ms);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let _ = conn.close().await;
    Ok((longest, samples, seen))
}

/// `clients` tasks each sending `request(client, n)` one after another for `seconds` (a
/// request yields the status and milliseconds of each HTTP request it made); returns the
/// requests answered, their timings and the seconds taken.
async fn drive<F, Fut>(clients: usize, seconds: u32, request: F) -> (usize, Timings, f64)
where
    F: Fn(usize, usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Result<Vec<(reqwest::StatusCode, f64)>, reqwest::Error>>
        + Send,
{
    let started = std::time::Instant::now();
    let until = started + std::time::Duration::from_secs(u64::from(seconds));
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..clients {
        let request = request.clone();
        tasks.spawn(async move {
            let mut timings = Timings::default();
            let mut n = 0;
            while std::time::Instant::now() < until {
                match request(client, n).await {
                    Ok(done) => {
                        for (status, ms) in done {
                            if status.is_success() {
                                timings.ms.push(ms);
                            } else if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                                timings.limited += 1;
                            } else {
                                timings.errors += 1;
                            }
                        }
                    }
                    Err(_) => timings.errors += 1,
                }
                n += 1;
            }
            timings
        });
    }
    let mut all = Timings::default();
    while let Some(t) = tasks.join_next().await {
        all.merge(t.expect("a client task"));
    }
    (all.ms.len(), all, started.elapsed().as_secs_f64())
}

/// Issue 24, item 8: adding and removing contacts from `clients` concurrent clients on
/// PostgreSQL, beside the bare-query floor (one locked write of the organisation's row per
/// request, through a bare handler), with the longest "idle in transaction" seen.
pub async fn run_add_remove(clients: usize, seconds: u32) -> anyhow::Result<()> {
    if !db::kinds().await.contains(&db::Kind::Postgres) {
        anyhow::bail!("add-remove runs on PostgreSQL: set SMARTCORE_TEST_POSTGRES_URL");
    }
    println!(
        "add/remove under load: {clients} clients on loopback for {seconds} s each, PostgreSQL; \
         each client adds a contact and removes it, over {ORGS_PER_CLIENT} organisations of its own"
    );
    let database = db::fresh(db::Kind::Postgres).await?;
    let fixture = Fixture::build(&database.url, 0).await?;
    let admin = "bench-admin@bench.example";
    let mut orgs = Vec::with_capacity(clients * ORGS_PER_CLIENT);
    for i in 0..clients * ORGS_PER_CLIENT {
        let org = fixture
            .app
            .operations()
            .create_org(&format!("Bench {i}"))
            .await?;
        fixture
            .app
            .operations()
            .add_member(&org, admin, smartcore_domain::Role::Admin)
            .await?;
        orgs.push(org.id);
    }
    let orgs = std::sync::Arc::new(orgs);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;

    // The floor: a bare handler running one write of an organisation's row (its lock and a
    // commit), as each add and remove does at least once.
    let store = fixture.store.clone();
    let floor = Router::new().route(
        "/write/{org}",
        axum::routing::post(
            move |axum::extract::Path(org): axum::extract::Path<String>| {
                let store = store.clone();
                async move {
                    store
                        .bench_touch_org(&org)
                        .await
                        .map_err(|e| e.to_string())
                        .map(|()| "ok")
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let floor_url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let forever = std::future::pending::<()>();
        let _ = smartcore::server::run(listener, floor, Default::default(), forever).await;
    });

    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = tokio::spawn(sample_idle_in_transaction(
        database.url.clone(),
        done.clone(),
    ));
    let (floor_n, mut floor_t, floor_s) = {
        let (http, orgs, floor_url) = (http.clone(), orgs.clone(), floor_url.clone());
        drive(clients, seconds, move |client, n| {
            let (http, orgs, floor_url) = (http.clone(), orgs.clone(), floor_url.clone());
            async move {
                let org = &orgs[client * ORGS_PER_CLIENT + n % ORGS_PER_CLIENT];
                let t = std::time::Instant::now();
                let status = http
                    .post(format!("{floor_url}/write/{org}"))
                    .send()
                    .await?
                    .status();
                Ok(vec![(status, t.elapsed().as_secs_f64() * 1e3)])
            }
        })
        .await
    };
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let floor_idle = sampler.await??;

    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = tokio::spawn(sample_idle_in_transaction(
        database.url.clone(),
        done.clone(),
    ));
    let (real_n, mut real_t, real_s) = {
        let (http, orgs) = (http.clone(), orgs.clone());
        let (base, token) = (fixture.base_url.clone(), fixture.token.clone());
        drive(clients, seconds, move |client, n| {
            let (http, orgs, base, token) =
                (http.clone(), orgs.clone(), base.clone(), token.clone());
            async move {
                let org = &orgs[client * ORGS_PER_CLIENT + n % ORGS_PER_CLIENT];
                let email = format!("it-{client}-{n}@bench.example");
                let t = std::time::Instant::now();
                let added = http
                    .post(format!("{base}/api/v1/orgs/{org}/it-contacts"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({ "email": email }))
                    .send()
                    .await?;
                let status = added.status();
                let body: serde_json::Value = added.json().await.unwrap_or_default();
                let mut done = vec![(status, t.elapsed().as_secs_f64() * 1e3)];
                if status.is_success() {
                    let id = body["id"].as_str().unwrap_or_default().to_owned();
                    let t = std::time::Instant::now();
                    let status = http
                        .delete(format!("{base}/api/v1/orgs/{org}/it-contacts/{id}"))
                        .bearer_auth(&token)
                        .send()
                        .await?
                        .status();
                    done.push((status, t.elapsed().as_secs_f64() * 1e3));
                }
                Ok(done)
            }
        })
        .await
    };
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let real_idle = sampler.await??;
    let requests = real_n;
    println!(
        "{:<44} {:>10} {:>9} {:>10}   idle in transaction (pg_stat_activity every 5 ms)",
        "", "req/s", "p99 ms", "requests"
    );
    for (label, n, t, s, idle) in [
        (
            "floor: bare handler, one locked row write",
            floor_n,
            &mut floor_t,
            floor_s,
            floor_idle,
        ),
        (
            "POST it-contacts, DELETE it-contacts/{id}",
            requests,
            &mut real_t,
            real_s,
            real_idle,
        ),
    ] {
        println!(
            "{label:<44} {:>10.0} {:>9.2} {:>10}   longest {:.1} ms; seen in {} of {} samples",
            n as f64 / s,
            t.p99(),
            n,
            idle.0,
            idle.2,
            idle.1
        );
    }
    println!(
        "  {:.2}x the floor's req/s; {} refused by a limit, {} errors",
        (requests as f64 / real_s) / (floor_n as f64 / floor_s),
        real_t.limited,
        real_t.errors + floor_t.errors
    );
    fixture.stop();
    Ok(())
}
