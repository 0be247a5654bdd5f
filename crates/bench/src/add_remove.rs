//! Issue 24, item 8: adding and removing contacts from concurrent clients on PostgreSQL,
//! beside the bare-query floor (one locked write of the organisation's row per request,
//! through a bare handler), with the longest "idle in transaction" seen.

use crate::db;
use crate::fixture;
use crate::fixture::Fixture;
use axum::Router;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// What one side of the run measured: requests answered, their timings, the seconds taken and
/// the "idle in transaction" samples (longest ms, samples, samples that saw one).
type Measured = (usize, Timings, f64, (f64, u64, u64));

/// Runs `measure` while sampling "idle in transaction" on the benchmark's database.
async fn sampled<Fut>(url: &str, measure: Fut) -> anyhow::Result<Measured>
where
    Fut: std::future::Future<Output = (usize, Timings, f64)>,
{
    let done = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn(sample_idle_in_transaction(url.to_owned(), done.clone()));
    let (n, t, s) = measure.await;
    done.store(true, Ordering::Relaxed);
    let idle = sampler.await??;
    Ok((n, t, s, idle))
}

/// The floor: a bare handler running one write of an organisation's row (its lock and a
/// commit), as each add and remove does at least once. Its base URL.
async fn serve_floor(store: smartcore_storage::Store) -> anyhow::Result<String> {
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
    fixture::serve_router(listener, floor, std::future::pending::<()>());
    Ok(floor_url)
}

/// `clients` clients posting to the floor, each over its own organisations.
async fn drive_floor(
    http: &reqwest::Client,
    orgs: &Arc<Vec<String>>,
    floor_url: &str,
    clients: usize,
    seconds: u32,
) -> (usize, Timings, f64) {
    let (http, orgs, floor_url) = (http.clone(), orgs.clone(), floor_url.to_owned());
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
}

/// `clients` clients each adding a contact and removing it again through the API, each over
/// its own organisations.
async fn drive_api(
    http: &reqwest::Client,
    orgs: &Arc<Vec<String>>,
    fixture: &Fixture,
    clients: usize,
    seconds: u32,
) -> (usize, Timings, f64) {
    let (http, orgs) = (http.clone(), orgs.clone());
    let (base, token) = (fixture.base_url.clone(), fixture.token.clone());
    drive(clients, seconds, move |client, n| {
        let (http, orgs, base, token) = (http.clone(), orgs.clone(), base.clone(), token.clone());
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
}

/// The table: the floor and the API side by side, then the ratio and the refusals.
fn print(floor: Measured, real: Measured) {
    let (floor_n, mut floor_t, floor_s, floor_idle) = floor;
    let (requests, mut real_t, real_s, real_idle) = real;
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
}

/// Adding and removing contacts from `clients` concurrent clients on PostgreSQL for `seconds`,
/// beside the floor.
pub async fn run(clients: usize, seconds: u32) -> anyhow::Result<()> {
    if !db::kinds().await.contains(&db::Kind::Postgres) {
        anyhow::bail!("add-remove runs on PostgreSQL: set SMARTCORE_TEST_POSTGRES_URL");
    }
    println!(
        "add/remove under load: {clients} clients on loopback for {seconds} s each, PostgreSQL; \
         each client adds a contact and removes it, over {ORGS_PER_CLIENT} organisations of its own"
    );
    let database = db::fresh(db::Kind::Postgres).await?;
    let fixture = Fixture::build(&database.url, 0).await?;
    let mut orgs = Vec::with_capacity(clients * ORGS_PER_CLIENT);
    for i in 0..clients * ORGS_PER_CLIENT {
        let org = fixture
            .app
            .operations()
            .create_org(&format!("Bench {i}"))
            .await?;
        fixture::make_admin(&fixture.app, &org, fixture::ADMIN).await?;
        orgs.push(org.id);
    }
    let orgs = Arc::new(orgs);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let floor_url = serve_floor(fixture.store.clone()).await?;
    let floor = sampled(
        &database.url,
        drive_floor(&http, &orgs, &floor_url, clients, seconds),
    )
    .await?;
    let real = sampled(
        &database.url,
        drive_api(&http, &orgs, &fixture, clients, seconds),
    )
    .await?;
    print(floor, real);
    fixture.stop();
    Ok(())
}
