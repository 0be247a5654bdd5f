//! Identity-side sync throughput: 10,000 pending contacts (500 organisations of 20) registered
//! against the WorkOS fake answering after 20 ms, with the fake's own ceiling set by its
//! concurrency limit, so the sync's throughput can be compared with what the server allows.

use crate::db;
use smartcore_app::{AddContact, SyncSettings};
use std::time::{Duration, Instant};
use workos_fake::{FakeConfig, FakeWorkOs};

const KEY: &str = "sk_bench";

pub async fn run(contacts: u64, latency_ms: u64, concurrency: usize) -> anyhow::Result<()> {
    println!(
        "identity sync: {contacts} contacts, fake answering after {latency_ms} ms with at most {concurrency} requests in flight"
    );
    println!(
        "{:<11} {:>9} {:>9} {:>12} {:>14} {:>10} {:>13}",
        "database",
        "contacts",
        "seconds",
        "contacts/s",
        "server limit/s",
        "of limit",
        "requests/each"
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
        app.create_user(
            "bench-admin@bench.example",
            Some("Bench Admin"),
            None,
            false,
        )
        .await?;
        let actor = {
            let token = app.create_api_token("bench-admin@bench.example").await?;
            app.bearer_actor(&token).await?
        };
        let orgs = contacts.div_ceil(20);
        let mut added = 0;
        for o in 0..orgs {
            let org = app.create_org(&format!("Bench {o:04}")).await?;
            app.add_member(
                &org,
                "bench-admin@bench.example",
                smartcore_domain::Role::Admin,
            )
            .await?;
            app.link_identity(&org, &format!("org_bench_{o}")).await?;
            for i in 0..20 {
                if added == contacts {
                    break;
                }
                app.add_contact(
                    &actor,
                    &org.id,
                    AddContact::Manual {
                        email: format!("it{i}@org{o}.bench.example"),
                        name: None,
                    },
                )
                .await?;
                added += 1;
            }
        }
        let settings = SyncSettings {
            lease: Duration::from_secs(60),
            batch: 1000,
            concurrency,
        };
        let started = Instant::now();
        app.drain_queues("bench", settings).await?;
        let secs = started.elapsed().as_secs_f64();
        let stats = fake.stats();
        anyhow::ensure!(
            stats.creates_total == contacts,
            "expected {contacts} registrations: {stats:?}"
        );
        let limit = stats.throughput_limit_per_sec.unwrap_or(f64::NAN);
        let rate = contacts as f64 / secs;
        println!(
            "{:<11} {:>9} {:>9.2} {:>12.0} {:>14.0} {:>9.2}x {:>13.2}",
            kind.label(),
            contacts,
            secs,
            rate,
            limit,
            rate / limit,
            stats.requests_total as f64 / contacts as f64
        );
    }
    Ok(())
}
