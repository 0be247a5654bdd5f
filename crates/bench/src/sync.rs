//! Identity-side sync throughput: 10,000 pending contacts (500 organisations of 20) registered
//! against the WorkOS fake answering after 20 ms, with the fake's own ceiling set by its
//! concurrency limit, so the sync's throughput can be compared with what the server allows,
//! and with a floor measured in the same run: the same WorkOS client registering the same
//! number of contacts at the same concurrency against a fresh fake, without any database.

use crate::{db, fixture};
use smartcore_app::{Actor, AddContact, App, SyncSettings};
use std::time::{Duration, Instant};
use workos_fake::{FakeConfig, FakeWorkOs};

const KEY: &str = "sk_bench";

pub async fn run(contacts: u64, latency_ms: u64, concurrency: usize) -> anyhow::Result<()> {
    println!(
        "identity sync: {contacts} contacts, fake answering after {latency_ms} ms with at most {concurrency} requests in flight"
    );
    let floor = connector_floor(contacts, latency_ms, concurrency).await?;
    println!(
        "floor: the WorkOS client alone, {contacts} registrations, no database: {floor:.2} s ({:.0}/s)",
        contacts as f64 / floor
    );
    println!(
        "{:<11} {:>9} {:>9} {:>12} {:>14} {:>10} {:>13} {:>10}",
        "database",
        "contacts",
        "seconds",
        "contacts/s",
        "server limit/s",
        "of limit",
        "requests/each",
        "of floor"
    );
    for kind in db::kinds().await {
        let database = db::fresh(kind).await?;
        let mut config = FakeConfig::new(KEY);
        config.latency = Duration::from_millis(latency_ms);
        config.max_concurrency = Some(concurrency);
        let fake = FakeWorkOs::start_with(config).await?;
        let app = db::open_with(
            &database.url,
            &[
                ("SMARTCORE_IDENTITY", "workos"),
                ("SMARTCORE_WORKOS_BASE_URL", fake.base_url()),
                ("SMARTCORE_WORKOS_API_KEY", KEY),
            ],
        )
        .await?;
        let (_, actor) = fixture::admin_with_token(&app, None, fixture::ADMIN).await?;
        add_contacts(&app, &actor, contacts).await?;
        let settings = SyncSettings {
            lease: Duration::from_secs(60),
            batch: 1000,
            concurrency,
        };
        let started = Instant::now();
        app.contacts().drain_queues("bench", settings).await?;
        let secs = started.elapsed().as_secs_f64();
        let stats = fake.stats();
        anyhow::ensure!(
            stats.creates_total == contacts,
            "expected {contacts} registrations: {stats:?}"
        );
        let limit = stats.throughput_limit_per_sec.unwrap_or(f64::NAN);
        let rate = contacts as f64 / secs;
        println!(
            "{:<11} {:>9} {:>9.2} {:>12.0} {:>14.0} {:>9.2}x {:>13.2} {:>9.2}x",
            kind.label(),
            contacts,
            secs,
            rate,
            limit,
            rate / limit,
            stats.requests_total as f64 / contacts as f64,
            floor / secs
        );
    }
    Ok(())
}

/// `contacts` pending contacts, 20 an organisation, each organisation linked to the identity
/// side and administered by `actor`.
async fn add_contacts(app: &App, actor: &Actor, contacts: u64) -> anyhow::Result<()> {
    let orgs = contacts.div_ceil(20);
    let mut added = 0;
    for o in 0..orgs {
        let org = app
            .operations()
            .create_org(&format!("Bench {o:04}"))
            .await?;
        fixture::make_admin(app, &org, fixture::ADMIN).await?;
        app.operations()
            .link_identity(&org, &format!("org_bench_{o}"))
            .await?;
        for i in 0..20 {
            if added == contacts {
                break;
            }
            app.contacts()
                .add_contact(
                    actor,
                    &org.org_id(),
                    AddContact::Manual {
                        email: format!("it{i}@org{o}.bench.example"),
                        name: None,
                    },
                )
                .await?;
            added += 1;
        }
    }
    Ok(())
}

/// Seconds the service's WorkOS client takes to register `contacts` contacts, `concurrency` at a
/// time, against a fresh fake with the same latency and limit: the sync without its database.
async fn connector_floor(
    contacts: u64,
    latency_ms: u64,
    concurrency: usize,
) -> anyhow::Result<f64> {
    use futures_util::StreamExt;
    use smartcore_identity::{IdentityConnector, Registration, WorkOsClient};
    let mut config = FakeConfig::new(KEY);
    config.latency = Duration::from_millis(latency_ms);
    config.max_concurrency = Some(concurrency);
    let fake = FakeWorkOs::start_with(config).await?;
    let client = WorkOsClient::new(fake.base_url(), KEY, Duration::from_secs(30))?;
    let started = Instant::now();
    futures_util::stream::iter(0..contacts)
        .for_each_concurrent(concurrency, |i| {
            let client = &client;
            async move {
                let registration = Registration {
                    identity_org_id: Some(format!("org_floor_{}", i / 20)),
                    idempotency_key: format!("floor-{i}"),
                    email: format!("it{}@org{}.floor.example", i % 20, i / 20),
                };
                if let Err(e) = client.register(&registration).await {
                    eprintln!("floor registration failed: {e}");
                }
            }
        })
        .await;
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        fake.stats().creates_total == contacts,
        "floor: {:?}",
        fake.stats()
    );
    Ok(secs)
}
