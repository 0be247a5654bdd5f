//! list-contacts under concurrent load from wrk on loopback, beside two floors served by this
//! process in the same run: a bare axum handler answering the same bytes, and a bare handler
//! running exactly the statements the endpoint runs (the one storage call that reads the
//! administrator's role, the list and its trust records), without the router, middleware,
//! authentication or the answer's shaping. As the endpoint grows, so does its floor. The floor
//! and the endpoint run twice each, in the order floor, endpoint, endpoint, floor, and the ratio
//! is of their means.

use crate::db;
use crate::fixture::{self, Fixture};
use axum::Router;
use axum::routing::get;
use smartcore_domain::OrgId;
use std::process::Command;

struct WrkResult {
    requests_per_sec: f64,
    p99_ms: f64,
}

impl WrkResult {
    /// The mean of two runs of the same thing.
    fn mean(a: &WrkResult, b: &WrkResult) -> WrkResult {
        WrkResult {
            requests_per_sec: (a.requests_per_sec + b.requests_per_sec) / 2.0,
            p99_ms: (a.p99_ms + b.p99_ms) / 2.0,
        }
    }
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

/// The two floors on a loopback port of their own: `/bytes` answers `body` from a bare
/// handler, `/query` runs the endpoint's one storage call from a bare handler. Their base URL.
async fn serve_floors(fixture: &Fixture, body: axum::body::Bytes) -> anyhow::Result<String> {
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
    fixture::serve_router(listener, floors, std::future::pending::<()>());
    Ok(floor_url)
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
        let floor_url = serve_floors(&fixture, body).await?;

        let bytes = tokio::task::block_in_place(|| {
            wrk(&format!("{floor_url}/bytes"), None, connections, seconds)
        })?;
        // Floor, endpoint, endpoint, floor: whatever drifts during the run (the machine's
        // other work, the first run's warmer caches) weighs on both sides alike. One floor
        // run followed by one endpoint run read from 0.64x to 0.77x on the same build.
        let floor = || {
            tokio::task::block_in_place(|| {
                wrk(&format!("{floor_url}/query"), None, connections, seconds)
            })
        };
        let endpoint = || {
            tokio::task::block_in_place(|| {
                wrk(
                    &format!("{}{list_path}", fixture.base_url),
                    Some(&fixture.token),
                    connections,
                    seconds,
                )
            })
        };
        let floor_first = floor()?;
        let endpoint_first = endpoint()?;
        let endpoint_second = endpoint()?;
        let floor_second = floor()?;
        let query = WrkResult::mean(&floor_first, &floor_second);
        let real = WrkResult::mean(&endpoint_first, &endpoint_second);
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
        println!(
            "{label:<11}   (runs in order: floor {:.0}, endpoint {:.0}, endpoint {:.0}, floor {:.0} req/s)",
            floor_first.requests_per_sec,
            endpoint_first.requests_per_sec,
            endpoint_second.requests_per_sec,
            floor_second.requests_per_sec
        );
        fixture.stop();
    }
    Ok(())
}
