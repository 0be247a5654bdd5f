//! SAML sign-in: `POST /saml/{org}/acs` under concurrent clients, beside the cost of the
//! verification and of its cryptography alone, measured in the same run.
//!
//! Per database (a fresh SQLite file, and PostgreSQL when reachable):
//! - **ACS**: the whole `POST /saml/{org}/acs` over real HTTP on loopback, served by the real
//!   router and server, from `clients` concurrent clients: form decoding, verification (on the
//!   blocking pool), the unit of work marking the request answered and the assertion used, the
//!   person, the attempt and the hand-over ticket. Sign-ins per second and p50/p99/max.
//! - **complete**: the follow-up `GET /sso/complete?ticket=` with the browser's `smartcore_sso`
//!   cookie, which opens the session (same clients).
//! - **verify**: [`smartcore_sso::response::verify`] called directly on each Response, single
//!   thread (p50).
//! - **crypto**: the cryptography alone on the same Responses: SHA-256 of the canonical
//!   Assertion bytes plus one RSA-2048 PKCS#1 v1.5 SHA-256 verification of the canonical
//!   SignedInfo with ring (p50). verify/crypto says what the XML work (parsing, shape checks,
//!   canonicalisation, claims) costs beside the unavoidable cryptography; ACS beside verify says
//!   what the database and HTTP add.
//! - **where the time goes**: `verify_signature_only`, the XML parse, the two
//!   canonicalisations and a certificate parse (p50 each); the ACS with one client over HTTP
//!   and `SsoSignIn::sso_acs` called directly (no HTTP); this process's CPU time per sign-in over the
//!   loaded run (service and clients share the process, so read it beside the cores used).
//!
//! The identity provider is played here: an RSA-2048 key (generated with the `rsa` crate, ring
//! cannot generate RSA keys) and a self-signed certificate (rcgen) configured for the
//! organisation through `Setup::configure_sso`. Every Response answers a real request: the
//! request ID is read from the AuthnRequest of `GET /sso/start?email=` (whose cookie the
//! completion presents), and each Assertion has its own ID and an enveloped signature
//! (exclusive C14N, RSA-SHA256, SHA-256 digest) computed with our canonicaliser and ring.
//! Responses are made before timing, and each is checked to be accepted by `verify` (a
//! benchmark of refusals measures nothing); the ACS must answer every one with a ticket.

mod browser;
mod idp;
mod timing;

use crate::db;
use browser::{Fixture, Prepared, http_client, org_ready_for_sso, post_acs, prepare, set_cookie};
use futures_util::StreamExt;
use idp::{Idp, crypto_only};
use smartcore_sso::Certificate;
use smartcore_sso::response::{self, Expected};
use std::sync::Arc;
use std::time::{Duration, Instant};
use timing::{Breakdown, cpu_time, drive, ms, p50, percentile};

const DOMAIN: &str = "sso-bench.example";
const IDP_ENTITY_ID: &str = "https://idp.sso-bench.example/saml";
const IDP_SSO_URL: &str = "https://idp.sso-bench.example/saml/sso";

/// The Responses for `total` sign-ins, made before any timing (each after its `/sso/start`).
async fn prepare_all(
    http: &reqwest::Client,
    fixture: &Fixture,
    idp: &Arc<Idp>,
    total: usize,
    kind: db::Kind,
) -> anyhow::Result<Vec<Prepared>> {
    let t = Instant::now();
    let prepared: Vec<Prepared> = futures_util::stream::iter(0..total)
        .map(|i| prepare(http, fixture, idp, i))
        .buffered(8)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let size = prepared.first().map_or(0, |p| p.signed.xml.len());
    println!(
        "{}: {total} requests started and Responses signed in {:.1} s ({size} bytes of XML each)",
        kind.label(),
        t.elapsed().as_secs_f64()
    );
    Ok(prepared)
}

/// verify and the cryptography alone, single thread, on every Response; each must pass. Then
/// the parts: parsing, the two canonicalisations, one certificate parse (verify parses the
/// KeyInfo certificate, and the configured one for its key).
fn measure_verify(
    fixture: &Fixture,
    idp: &Idp,
    certificates: &[Certificate],
    prepared: &[Prepared],
) -> anyhow::Result<Breakdown> {
    let sp_entity_id = format!("{}/saml/{}", fixture.app.public_url(), fixture.org_id);
    let acs_url = format!("{sp_entity_id}/acs");
    let expected = Expected {
        idp_entity_id: IDP_ENTITY_ID,
        sp_entity_id: &sp_entity_id,
        acs_url: &acs_url,
        certificates,
        now: time::OffsetDateTime::now_utc(),
    };
    let mut b = Breakdown::default();
    for p in prepared {
        let xml = p.signed.xml.as_bytes();
        let t = Instant::now();
        let report = response::verify(xml, &expected);
        b.verify.push(t.elapsed());
        if let Err(refusal) = &report.outcome {
            anyhow::bail!("a generated Response was refused: {refusal}");
        }
        let t = Instant::now();
        let ok = crypto_only(&idp.public_key, &p.signed);
        b.crypto.push(t.elapsed());
        anyhow::ensure!(ok, "the RSA signature did not verify on its own");
        let t = Instant::now();
        let report = response::verify_signature_only(xml, certificates);
        b.signature_only.push(t.elapsed());
        anyhow::ensure!(report.outcome.is_ok(), "verify_signature_only refused");
        measure_parts(idp, p, &mut b)?;
    }
    anyhow::Ok(b)
}

/// The parts of verify's work on one Response: the XML parse, the two canonicalisations (each
/// checked against what was signed) and one certificate parse.
fn measure_parts(idp: &Idp, p: &Prepared, b: &mut Breakdown) -> anyhow::Result<()> {
    let t = Instant::now();
    let doc = roxmltree::Document::parse(&p.signed.xml)?;
    b.parse.push(t.elapsed());
    let t = Instant::now();
    let assertion = doc
        .root_element()
        .children()
        .find(|n| n.tag_name().name() == "Assertion")
        .ok_or_else(|| anyhow::anyhow!("no Assertion"))?;
    let signature = assertion
        .children()
        .find(|n| n.tag_name().name() == "Signature")
        .ok_or_else(|| anyhow::anyhow!("no Signature"))?;
    let signed_info = signature
        .children()
        .find(|n| n.tag_name().name() == "SignedInfo")
        .ok_or_else(|| anyhow::anyhow!("no SignedInfo"))?;
    let a = response::canonicalize(assertion, &[], Some(signature.id()));
    let si = response::canonicalize(signed_info, &[], None);
    b.c14n.push(t.elapsed());
    anyhow::ensure!(a.as_bytes() == p.signed.canonical_assertion.as_slice());
    anyhow::ensure!(si.as_bytes() == p.signed.canonical_signed_info.as_slice());
    let t = Instant::now();
    let c = Certificate::from_der_base64(&idp.certificate_b64)?;
    b.certificate.push(t.elapsed());
    std::hint::black_box(c);
    Ok(())
}

/// `requests` ACS posts of `forms[offset..]` from `clients` concurrent clients: latencies,
/// wall time and each request's `/sso/complete` location.
async fn post_all(
    http: &reqwest::Client,
    acs: &str,
    forms: &Arc<Vec<String>>,
    offset: usize,
    clients: usize,
    requests: usize,
) -> anyhow::Result<(Vec<Duration>, Duration, Vec<(usize, String)>)> {
    let (http, acs, forms) = (http.clone(), acs.to_owned(), forms.clone());
    drive(clients, requests, move |i| {
        let (http, acs, forms) = (http.clone(), acs.clone(), forms.clone());
        async move { post_acs(&http, &acs, &forms[offset + i]).await }
    })
    .await
}

/// Unloaded: `SsoSignIn::sso_acs` called directly (no HTTP) on each of `prepared`, one at a
/// time; each must sign in.
async fn acs_directly(fixture: &Fixture, prepared: &[Prepared]) -> anyhow::Result<Vec<Duration>> {
    let mut serial_app = Vec::with_capacity(prepared.len());
    for p in prepared {
        let t = Instant::now();
        let outcome = fixture
            .app
            .sso_sign_in()
            .sso_acs(&fixture.org_id, &p.value, None)
            .await?;
        serial_app.push(t.elapsed());
        anyhow::ensure!(
            matches!(outcome, smartcore_app::AcsOutcome::SignIn { .. }),
            "SsoSignIn::sso_acs did not sign in: {outcome:?}"
        );
    }
    Ok(serial_app)
}

/// The follow-up completion of each ticket with its browser's cookie, from `clients`
/// concurrent clients; each must open a session. Latencies and wall time.
async fn complete_all(
    http: reqwest::Client,
    base: String,
    by_index: Vec<(String, String)>,
    clients: usize,
) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let requests = by_index.len();
    let by_index = Arc::new(by_index);
    let (times, wall, _) = drive(clients, requests, move |i| {
        let (http, by_index, base) = (http.clone(), by_index.clone(), base.clone());
        async move {
            let (location, cookie) = &by_index[i];
            let r = http
                .get(format!("{base}{location}"))
                .header("cookie", cookie)
                .send()
                .await?;
            anyhow::ensure!(
                r.status() == 303 && set_cookie(&r, "smartcore_session").is_some(),
                "completion {i} opened no session: {} {:?}",
                r.status(),
                r.headers()
            );
            Ok(())
        }
    })
    .await?;
    Ok((times, wall))
}

/// What one database's run measured.
struct Measured {
    b: Breakdown,
    serial_http: Vec<Duration>,
    serial_app: Vec<Duration>,
    acs_times: Vec<Duration>,
    acs_wall: Duration,
    acs_cpu: Duration,
    complete_times: Vec<Duration>,
    complete_wall: Duration,
}

/// One database's run: the Responses prepared, verify measured alone, the sign-ins one at a
/// time (HTTP, then the use case), the ACS under `clients` concurrent clients, the completions.
async fn measure(
    kind: db::Kind,
    idp: &Arc<Idp>,
    certificates: &[Certificate],
    sign_ins: usize,
    clients: usize,
    serial: usize,
) -> anyhow::Result<Measured> {
    let database = db::fresh(kind).await?;
    let total = sign_ins + 2 * serial;
    let fixture = org_ready_for_sso(&database.url, idp, total).await?;
    let http = http_client(clients)?;
    let prepared = prepare_all(&http, &fixture, idp, total, kind).await?;
    let b = tokio::task::block_in_place(|| measure_verify(&fixture, idp, certificates, &prepared))?;

    // Unloaded: one client over HTTP, then SsoSignIn::sso_acs called directly (no HTTP).
    let acs = format!("{}/saml/{}/acs", fixture.base_url, fixture.org_id);
    let forms: Arc<Vec<String>> = Arc::new(prepared.iter().map(|p| p.form.clone()).collect());
    let (serial_http, _, _) = post_all(&http, &acs, &forms, sign_ins, 1, serial).await?;
    let serial_app = acs_directly(&fixture, &prepared[sign_ins + serial..]).await?;

    // The timed part: the ACS under `clients` concurrent clients.
    let cpu_before = cpu_time();
    let (acs_times, acs_wall, tickets) =
        post_all(&http, &acs, &forms, 0, clients, sign_ins).await?;
    let acs_cpu = cpu_time().saturating_sub(cpu_before);

    // The follow-up completion, same clients.
    let mut by_index: Vec<(String, String)> = vec![Default::default(); sign_ins];
    for (i, location) in tickets {
        by_index[i] = (location, prepared[i].cookie.clone());
    }
    let (complete_times, complete_wall) =
        complete_all(http, fixture.base_url.clone(), by_index, clients).await?;
    fixture.stop.send(()).ok();
    drop(database);
    Ok(Measured {
        b,
        serial_http,
        serial_app,
        acs_times,
        acs_wall,
        acs_cpu,
        complete_times,
        complete_wall,
    })
}

/// The two lines of one database: the loaded figures, and where the time goes.
fn lines_of(kind: db::Kind, sign_ins: usize, m: Measured) -> (String, String) {
    let Measured {
        mut b,
        mut serial_http,
        mut serial_app,
        acs_times,
        acs_wall,
        acs_cpu,
        complete_times,
        complete_wall,
    } = m;
    let verify_p50 = p50(&mut b.verify);
    let crypto_p50 = p50(&mut b.crypto);
    let part = format!(
        "{:<11} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>12.2} {:>12.2} {:>12.2} {:>11.2} {:>10.2}",
        kind.label(),
        ms(verify_p50),
        ms(p50(&mut b.signature_only)),
        ms(crypto_p50),
        ms(p50(&mut b.parse)),
        ms(p50(&mut b.c14n)),
        ms(p50(&mut b.certificate)),
        ms(p50(&mut serial_http)),
        ms(percentile(&serial_http, 99.0)),
        ms(p50(&mut serial_app)),
        ms(acs_cpu) / sign_ins as f64,
        acs_cpu.as_secs_f64() / acs_wall.as_secs_f64(),
    );
    let line = format!(
        "{:<11} {:>8} {:>11.0} {:>8.2} {:>8.2} {:>8.2} {:>10.0} {:>8.2} {:>8.2} {:>10.3} {:>10.3} {:>9.2}x",
        kind.label(),
        sign_ins,
        sign_ins as f64 / acs_wall.as_secs_f64(),
        ms(percentile(&acs_times, 50.0)),
        ms(percentile(&acs_times, 99.0)),
        ms(acs_times.last().copied().unwrap_or_default()),
        sign_ins as f64 / complete_wall.as_secs_f64(),
        ms(percentile(&complete_times, 50.0)),
        ms(percentile(&complete_times, 99.0)),
        ms(verify_p50),
        ms(crypto_p50),
        verify_p50.as_secs_f64() / crypto_p50.as_secs_f64(),
    );
    (line, part)
}

pub async fn run(sign_ins: usize, clients: usize) -> anyhow::Result<()> {
    println!(
        "SAML sign-in: POST /saml/{{org}}/acs from {clients} concurrent clients over loopback HTTP, {sign_ins} sign-ins of existing members per database"
    );
    println!(
        "(RSA-2048 PKCS#1 v1.5 SHA-256 signed Assertion, exc-c14n; every Response answers a request from /sso/start)"
    );
    let started = Instant::now();
    let idp = Arc::new(tokio::task::spawn_blocking(idp::idp).await??);
    println!(
        "identity provider key and certificate generated in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let certificates = Certificate::from_pem(&idp.certificate_pem)?;

    let mut lines = Vec::new();
    let mut parts = Vec::new();
    // Sign-ins measured one at a time, over HTTP and by calling the App directly.
    let serial = sign_ins.min(200);
    for kind in db::kinds().await {
        let measured = measure(kind, &idp, &certificates, sign_ins, clients, serial).await?;
        let (line, part) = lines_of(kind, sign_ins, measured);
        lines.push(line);
        parts.push(part);
    }
    print_tables(&lines, &parts, serial);
    Ok(())
}

/// The two tables, each with its legend, and the targets.
fn print_tables(lines: &[String], parts: &[String], serial: usize) {
    println!();
    println!(
        "{:<11} {:>8} {:>11} {:>8} {:>8} {:>8} {:>10} {:>8} {:>8} {:>10} {:>10} {:>10}",
        "database",
        "requests",
        "sign-ins/s",
        "ACS p50",
        "ACS p99",
        "ACS max",
        "complete/s",
        "cpl p50",
        "cpl p99",
        "verify p50",
        "crypto p50",
        "verify/crypto"
    );
    for line in lines {
        println!("{line}");
    }
    println!(
        "(times in ms; verify = smartcore_sso::response::verify called directly, single thread; crypto = SHA-256 of the canonical Assertion + one ring RSA-2048 verification of the same Response)"
    );
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!();
    println!("where the time goes, single thread, p50 in ms:");
    println!(
        "{:<11} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12} {:>12} {:>12} {:>11} {:>10}",
        "database",
        "verify",
        "sig only",
        "crypto",
        "XML parse",
        "2x c14n",
        "cert parse",
        "ACS 1 client",
        "1 client p99",
        "SsoSignIn::sso_acs",
        "CPU/sign-in",
        "cores used"
    );
    for line in parts {
        println!("{line}");
    }
    println!(
        "(sig only = verify_signature_only; XML parse = roxmltree of the Response; 2x c14n = the Assertion and SignedInfo canonicalised; cert parse = one Certificate::from_der_base64 of the 2048-bit certificate, which verify does for KeyInfo, and x509-parses the configured one again for its key; ACS 1 client = POST /saml/{{org}}/acs with one client, {serial} sign-ins; SsoSignIn::sso_acs = the use case called directly, no HTTP, {serial} sign-ins; CPU/sign-in and cores used = this process's CPU time (service and clients together) over the loaded ACS run, per sign-in and per second of it; {cores} cores on this machine)"
    );
    println!("targets: verify within 3x its cryptography; ACS p99 <= 10 ms on SQLite");
}
