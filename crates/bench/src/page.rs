//! The Authentication page for an organisation with 20 contacts: total weight (HTML, CSS, JS)
//! and server time of the first and following renders, over loopback.

use crate::{db, fixture};
use smartcore_app::AddContact;
use std::time::Instant;

pub async fn run(renders: usize) -> anyhow::Result<()> {
    let database = db::fresh(db::Kind::Sqlite).await?;
    let app = db::open(&database.url).await?;
    let org = app.operations().create_org("Page Bench").await?;
    let session =
        fixture::admin_with_session(&app, &org, "page-admin@bench.example", "Page Admin").await?;
    for i in 0..20 {
        let name = Some(format!("IT Contact {i} <b>&</b>"));
        let email = format!("it{i}@bench.example");
        app.contacts()
            .add_contact(
                &session.actor,
                &org.org_id(),
                AddContact::Manual { email, name },
            )
            .await?;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    fixture::serve(listener, &app, &base, std::future::pending::<()>());
    let client = reqwest::Client::new();
    let cookie = format!("smartcore_session={}", session.token);
    let page = format!("{base}/orgs/{}/settings/authentication", org.id);
    let mut times = Vec::with_capacity(renders);
    let mut html_bytes = 0;
    for _ in 0..renders.max(1) {
        let started = Instant::now();
        let r = client.get(&page).header("cookie", &cookie).send().await?;
        anyhow::ensure!(r.status().is_success(), "page answered {}", r.status());
        html_bytes = r.bytes().await?.len();
        times.push(started.elapsed().as_micros());
    }
    let first = times[0] as f64 / 1000.0;
    times.sort_unstable();
    let mut assets = 0;
    for asset in ["/static/app.css", "/static/app.js"] {
        assets += client
            .get(format!("{base}{asset}"))
            .send()
            .await?
            .bytes()
            .await?
            .len();
    }
    println!(
        "Authentication page, 20 contacts, SQLite, {} renders over loopback",
        times.len()
    );
    println!(
        "  weight: HTML {html_bytes} B + CSS and JS {assets} B = {} B (limit 100 KB)",
        html_bytes + assets
    );
    println!(
        "  server time: first {first:.2} ms, p50 {:.2} ms, p99 {:.2} ms (limit 50 ms)",
        crate::search::percentile(&times, 50.0),
        crate::search::percentile(&times, 99.0)
    );
    Ok(())
}
