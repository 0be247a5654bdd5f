//! Identity-provider metadata: a refresh round over 10,000 organisations' metadata URLs against
//! a local HTTP server (wall time, requests per URL), once with every document unchanged and once
//! with every one rotated to a new certificate; then the hostile-document figures: the worst
//! 1 MiB documents found, alone and four at once beside another organisation's list-contacts.

use crate::{db, fixture};
use smartcore_app::{Actor, App, ManualClock, SsoInput};
use smartcore_domain::Timestamp;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn certificate(cn: &str, days: i64) -> String {
    let now = time::OffsetDateTime::now_utc();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(days);
    let key = rcgen::KeyPair::generate().expect("key");
    params.self_signed(&key).expect("certificate").pem()
}

fn metadata(pem: &str) -> String {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    format!(
        r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.bench.example/saml">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{body}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.bench.example/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#
    )
}

/// The identity providers' server: `/m/{i}` answers the current document; counts requests.
struct Idp {
    docs: [String; 2],
    rotated: AtomicBool,
    requests: AtomicUsize,
}

async fn serve_idp(idp: Arc<Idp>) -> anyhow::Result<String> {
    let router = axum::Router::new().route(
        "/m/{i}",
        axum::routing::get(move || {
            let idp = idp.clone();
            async move {
                idp.requests.fetch_add(1, Ordering::Relaxed);
                let doc = idp.docs[usize::from(idp.rotated.load(Ordering::Relaxed))].clone();
                ([("content-type", "application/samlmetadata+xml")], doc)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(base)
}

/// `orgs` organisations administered by `actor`, each configured from its own metadata URL on
/// the server at `base` (the first fetch of each), 16 at a time.
async fn configure_all(app: &App, actor: &Actor, base: &str, orgs: usize) -> anyhow::Result<()> {
    let mut ids = Vec::with_capacity(orgs);
    for o in 0..orgs {
        let org = app
            .operations()
            .create_org(&format!("Bench {o:05}"))
            .await?;
        fixture::make_admin(app, &org, fixture::ADMIN).await?;
        ids.push(org.org_id());
    }
    use futures_util::StreamExt;
    let configured: Vec<anyhow::Result<()>> = futures_util::stream::iter(ids.iter().enumerate())
        .map(|(i, id)| async move {
            app.setup()
                .configure_sso(
                    actor,
                    id,
                    SsoInput::Url {
                        url: format!("{base}/m/{i}"),
                    },
                )
                .await?;
            Ok(())
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for c in configured {
        c?;
    }
    Ok(())
}

/// One refresh round: every due organisation refreshed, 500 claimed at a time, until none is
/// due; the seconds taken and the documents found unchanged and changed.
async fn refresh_round(app: &App, orgs: usize) -> anyhow::Result<(f64, usize, usize)> {
    let started = Instant::now();
    let (mut unchanged, mut changed, mut failed) = (0, 0, 0);
    loop {
        let report = app.setup().refresh_due_metadata("bench", 500).await?;
        if report.claimed == 0 {
            break;
        }
        unchanged += report.unchanged;
        changed += report.changed;
        failed += report.failed;
    }
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(failed == 0, "{failed} refreshes failed");
    anyhow::ensure!(
        unchanged + changed == orgs,
        "{unchanged} + {changed} of {orgs}"
    );
    Ok((secs, unchanged, changed))
}

pub async fn run(orgs: usize) -> anyhow::Result<()> {
    let idp = Arc::new(Idp {
        docs: [
            metadata(&certificate("old.bench.example", 300)),
            metadata(&certificate("new.bench.example", 700)),
        ],
        rotated: AtomicBool::new(false),
        requests: AtomicUsize::new(0),
    });
    let base = serve_idp(idp.clone()).await?;
    println!(
        "metadata refresh: {orgs} organisations, each with its own metadata URL on a local server"
    );
    println!(
        "{:<11} {:<10} {:>9} {:>10} {:>10} {:>10} {:>14}",
        "database", "round", "seconds", "URLs/s", "unchanged", "changed", "requests/URL"
    );
    for kind in db::kinds().await {
        let database = db::fresh(kind).await?;
        let outbox = db::temp_dir("outbox");
        let config = smartcore::config::Config::from_sources(None, |k| match k {
            "SMARTCORE_DATABASE_URL" => Some(database.url.clone()),
            "SMARTCORE_OUTBOX_DIR" => Some(outbox.0.display().to_string()),
            "SMARTCORE_METADATA_ALLOW_PRIVATE" => Some("127.0.0.1".into()),
            _ => None,
        })?;
        let start = Timestamp::from_datetime(time::OffsetDateTime::now_utc());
        let clock = Arc::new(ManualClock::new(start));
        let app = smartcore::open_with_clock(&config, clock.clone()).await?;
        let (_, actor) = fixture::admin_with_token(&app, None, fixture::ADMIN).await?;
        idp.rotated.store(false, Ordering::Relaxed);
        // Set-up: every organisation configured from its URL (the first fetch of each).
        let setup = Instant::now();
        configure_all(&app, &actor, &base, orgs).await?;
        let setup_secs = setup.elapsed().as_secs_f64();
        for (round, rotate, days) in [("unchanged", false, 1.2), ("rotated", true, 2.4)] {
            idp.rotated.store(rotate, Ordering::Relaxed);
            clock.set(start.plus_millis((days * 86_400_000.0) as i64));
            idp.requests.store(0, Ordering::Relaxed);
            let (secs, unchanged, changed) = refresh_round(&app, orgs).await?;
            println!(
                "{:<11} {:<10} {:>9.2} {:>10.0} {:>10} {:>10} {:>14.2}",
                kind.label(),
                round,
                secs,
                orgs as f64 / secs,
                unchanged,
                changed,
                idp.requests.load(Ordering::Relaxed) as f64 / orgs as f64
            );
        }
        println!(
            "{:<11} (set-up: {orgs} first fetches through configure_sso in {setup_secs:.1} s)",
            ""
        );
        app.close().await;
    }
    hostile().await
}

/// The worst 1 MiB documents found: one element with 80,000 attributes, and 300,000 nested
/// elements.
fn hostile_documents() -> (String, String) {
    let attributes = format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" {}/>"#,
        (0..80_000)
            .map(|i| format!("a{i}=\"x\""))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let nesting = format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">{}</md:EntityDescriptor>"#,
        "<x>".repeat(300_000)
    );
    (attributes, nesting)
}

/// The bystander's line: list-contacts alone (median, slowest), and beside four hostile
/// documents at once (slowest, and the delay beyond the median).
fn print_bystander(
    median: Duration,
    slowest_alone: Option<Duration>,
    worst_beside: Duration,
    worst_delay: Duration,
) {
    println!(
        "  list-contacts alone: median {:.2} ms, max {:.2} ms; beside four hostile documents at once: slowest {:.2} ms, delay {:.2} ms (target 20 ms)",
        median.as_secs_f64() * 1000.0,
        slowest_alone.unwrap_or_default().as_secs_f64() * 1000.0,
        worst_beside.as_secs_f64() * 1000.0,
        worst_delay.as_secs_f64() * 1000.0
    );
}

/// The worst 1 MiB documents found (one element with 80,000 attributes; 300,000 nested
/// elements), through the HTTP API: each alone, then four at once beside another
/// organisation's list-contacts.
async fn hostile() -> anyhow::Result<()> {
    let database = db::fresh(db::Kind::Sqlite).await?;
    let fixture = crate::fixture::Fixture::build(&database.url, 100).await?;
    let app = &fixture.app;
    let hostile_org = app.operations().create_org("Hostile").await?;
    fixture::make_admin(app, &hostile_org, fixture::ADMIN).await?;
    let (attributes, nesting) = hostile_documents();
    let client = reqwest::Client::new();
    let put = |xml: &String| {
        client
            .put(format!(
                "{}/api/v1/orgs/{}/sso",
                fixture.base_url, hostile_org.id
            ))
            .bearer_auth(&fixture.token)
            .json(&serde_json::json!({ "metadata_xml": xml }))
            .send()
    };
    let list = || {
        client
            .get(format!(
                "{}/api/v1/orgs/{}/it-contacts",
                fixture.base_url, fixture.org_id
            ))
            .bearer_auth(&fixture.token)
            .send()
    };
    println!("hostile metadata (release build figures are the ones that count):");
    for (name, xml) in [
        ("80,000 attributes", &attributes),
        ("300,000 nested", &nesting),
    ] {
        let mut worst = Duration::ZERO;
        for _ in 0..5 {
            let t = Instant::now();
            let r = put(xml).await?;
            anyhow::ensure!(r.status() == 422, "{name}: {}", r.status());
            worst = worst.max(t.elapsed());
        }
        println!(
            "  {name} ({} KiB): refused in at worst {:.1} ms over HTTP (target 100 ms)",
            xml.len() / 1024,
            worst.as_secs_f64() * 1000.0
        );
    }
    // list-contacts alone, then beside four hostile documents at once.
    let mut alone = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        list().await?.error_for_status()?;
        alone.push(t.elapsed());
    }
    alone.sort();
    let (mut worst_delay, mut worst_beside) = (Duration::ZERO, Duration::ZERO);
    let median = alone[alone.len() / 2];
    for _ in 0..5 {
        let hostile =
            futures_util::future::join_all([&attributes, &nesting, &attributes, &nesting].map(put));
        let bystander = async {
            let mut slowest = Duration::ZERO;
            for _ in 0..20 {
                let t = Instant::now();
                list().await?.error_for_status()?;
                slowest = slowest.max(t.elapsed());
            }
            anyhow::Ok(slowest)
        };
        let (answers, slowest) = tokio::join!(hostile, bystander);
        for a in answers {
            anyhow::ensure!(a?.status() == 422, "a hostile document was not refused");
        }
        let slowest = slowest?;
        worst_beside = worst_beside.max(slowest);
        worst_delay = worst_delay.max(slowest.saturating_sub(median));
    }
    print_bystander(median, alone.last().copied(), worst_beside, worst_delay);
    fixture.stop();
    Ok(())
}
