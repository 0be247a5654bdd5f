//! Identity-provider metadata from a URL (issue 11): fetched at once by `PUT /sso`, then kept
//! current by the refresh worker. The identity provider is a real HTTP server run by the test
//! (axum on 127.0.0.1), with documents and faults chosen by the test; time is a clock the test
//! moves; mail goes over SMTP to a sink; contacts sync with the identity-side fake.
//!
//! The service runs with `SMARTCORE_METADATA_ALLOW_PRIVATE=127.0.0.1`: the test server's one
//! address is allowed (and so plain http://, see the README), every other private address is
//! still refused — which is what the redirect-to-a-private-address case needs.

use crate::support::{Backend, TestApp, WORKOS_KEY, certificate, fresh_database, problem};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode as AxumStatus, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use smartcore_app::ManualClock;
use smartcore_domain::Timestamp;
use smtp_sink::SmtpSink;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};
use workos_fake::{FakeWorkOs, Fault};

const DAY_MS: i64 = 86_400_000;

fn pem_body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

fn metadata(certs: &[&str]) -> String {
    let keys: String = certs
        .iter()
        .map(|c| {
            format!(
                r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
                pem_body(c)
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.acme.example/saml">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    {keys}
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.acme.example/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#
    )
}

/// The identity provider's web server, as the test wants it to behave.
#[derive(Default)]
struct IdpState {
    /// The documents served at `/m/{name}`; with `flip`, each request takes the next one.
    docs: Mutex<Vec<String>>,
    flip: AtomicBool,
    served: AtomicUsize,
    /// When not 0, `/m/{name}` answers this status.
    status: AtomicU16,
    hits: Mutex<HashMap<String, usize>>,
    /// Bytes of the 100 MB body actually sent before the client stopped reading.
    huge_bytes_sent: AtomicUsize,
    port: AtomicU16,
}

#[derive(Clone)]
struct Idp(Arc<IdpState>);

impl Idp {
    async fn start(doc: String) -> (Idp, String) {
        let idp = Idp(Arc::new(IdpState::default()));
        idp.set_docs(vec![doc]);
        let router = axum::Router::new()
            .route("/m/{name}", get(document))
            .route("/redirect/{n}", get(redirect))
            .route("/to-private", get(to_private))
            .route("/slow", get(slow))
            .route("/huge", get(huge))
            .route("/huge-declared", get(huge_declared))
            .route("/dtd", get(dtd))
            .route(
                "/not-metadata",
                get(|| async { "<html><body>Sign in</body></html>" }),
            )
            .with_state(idp.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        idp.0.port.store(addr.port(), Ordering::SeqCst);
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        (idp, format!("http://{addr}"))
    }

    fn set_docs(&self, docs: Vec<String>) {
        *self.0.docs.lock().unwrap() = docs;
    }

    fn hits(&self, path: &str) -> usize {
        self.0.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    fn hit(&self, path: String) {
        *self.0.hits.lock().unwrap().entry(path).or_default() += 1;
    }
}

async fn document(State(idp): State<Idp>, Path(name): Path<String>) -> Response {
    idp.hit(format!("/m/{name}"));
    let status = idp.0.status.load(Ordering::SeqCst);
    if status != 0 {
        return (AxumStatus::from_u16(status).unwrap(), "failing").into_response();
    }
    let docs = idp.0.docs.lock().unwrap().clone();
    let n = idp.0.served.fetch_add(1, Ordering::SeqCst);
    let doc = if idp.0.flip.load(Ordering::SeqCst) {
        docs[n % docs.len()].clone()
    } else {
        docs[0].clone()
    };
    (
        [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
        doc,
    )
        .into_response()
}

async fn redirect(Path(n): Path<u32>) -> Redirect {
    if n == 0 {
        Redirect::temporary("/m/redirected")
    } else {
        Redirect::temporary(&format!("/redirect/{}", n - 1))
    }
}

async fn to_private(State(idp): State<Idp>) -> Redirect {
    let port = idp.0.port.load(Ordering::SeqCst);
    Redirect::temporary(&format!("http://127.0.0.2:{port}/m/private"))
}

/// A valid document, one byte every 100 ms (it would take minutes).
async fn slow(State(idp): State<Idp>) -> Response {
    let doc = idp.0.docs.lock().unwrap()[0].clone().into_bytes();
    let stream = futures_util::stream::unfold(0usize, move |i| {
        let doc = doc.clone();
        async move {
            if i >= doc.len() {
                return None;
            }
            // The identity provider's slowness, in real time: the subject is the 10-s cut-off.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            Some((Ok::<_, std::io::Error>(Bytes::from(vec![doc[i]])), i + 1))
        }
    });
    Body::from_stream(stream).into_response()
}

const HUNDRED_MB: usize = 100 * 1024 * 1024;

fn hundred_mb(idp: Idp) -> Body {
    let stream = futures_util::stream::unfold(0usize, move |sent| {
        let idp = idp.clone();
        async move {
            if sent >= HUNDRED_MB {
                return None;
            }
            idp.0.huge_bytes_sent.fetch_add(65_536, Ordering::SeqCst);
            Some((
                Ok::<_, std::io::Error>(Bytes::from(vec![b'<'; 65_536])),
                sent + 65_536,
            ))
        }
    });
    Body::from_stream(stream)
}

async fn huge(State(idp): State<Idp>) -> Response {
    hundred_mb(idp).into_response()
}

async fn huge_declared(State(idp): State<Idp>) -> Response {
    let mut response = hundred_mb(idp).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(HUNDRED_MB));
    response
}

/// Entity expansion ("billion laughs").
async fn dtd() -> &'static str {
    r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&lol3;"/>"#
}

fn rfc3339(text: &str) -> Option<Timestamp> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(Timestamp::from_datetime)
}

/// Drives `app`'s queues ([`TestApp::drain`]), then expects `count()` at `n`.
async fn settles_at(app: &TestApp, n: usize, count: impl Fn() -> usize) {
    app.drain().await;
    assert_eq!(count(), n);
}

fn at(t: OffsetDateTime) -> Timestamp {
    Timestamp::from_datetime(t)
}

/// The service with the identity-side fake (one contact registers, one is refused for good,
/// so only one is "synced"), SMTP to `sink`, and the test's clock.
struct Setup {
    app: TestApp,
    org: String,
    token: String,
    clock: Arc<ManualClock>,
    _fake: FakeWorkOs,
    _db: crate::support::TestDatabase,
}

fn env(fake: &FakeWorkOs, sink: &SmtpSink) -> Vec<(&'static str, String)> {
    let mut env = TestApp::workos_env(fake.base_url());
    env.push(("SMARTCORE_MAIL", "smtp".into()));
    env.push(("SMARTCORE_SMTP_URL", sink.url()));
    env.push(("SMARTCORE_METADATA_ALLOW_PRIVATE", "127.0.0.1".into()));
    env
}

async fn setup(backend: Backend, sink: &SmtpSink, now: OffsetDateTime) -> Setup {
    let fake = FakeWorkOs::start(WORKOS_KEY)
        .await
        .expect("identity-side fake");
    fake.set_fault(Fault::RejectEmail {
        email: "bob@acme.example".into(),
        message: Some("not allowed".into()),
    });
    let clock = Arc::new(ManualClock::new(at(now)));
    let (url, db) = fresh_database(backend).await.expect("database");
    let app = TestApp::start_with_clock(backend, &url, &env(&fake, sink), clock.clone()).await;
    let (org, token) = app.org_with_admin("Acme").await;
    app.link_identity(&org, "org_01WORKOS").await;
    app.add_manual(&org, &token, "ada@acme.example").await;
    app.add_manual(&org, &token, "bob@acme.example").await;
    app.wait_for_status(&org, &token, "ada@acme.example", "synced", 10)
        .await;
    app.wait_for_status(&org, &token, "bob@acme.example", "failed", 10)
        .await;
    Setup {
        app,
        org,
        token,
        clock,
        _fake: fake,
        _db: db,
    }
}

async fn put_url(app: &TestApp, org: &str, token: &str, url: &str) -> reqwest::Response {
    app.request(Method::PUT, &format!("/api/v1/orgs/{org}/sso"), Some(token))
        .json(&json!({ "metadata_url": url }))
        .send()
        .await
        .unwrap()
}

async fn sso(app: &TestApp, org: &str, token: &str) -> Value {
    let r = app.get(&format!("/api/v1/orgs/{org}/sso"), token).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// Runs a refresh pass; `org`'s URL was then attempted at the clock's current time.
async fn refreshed(s: &Setup) -> Value {
    let now = smartcore_app::Clock::now(s.clock.as_ref()).to_rfc3339();
    s.app
        .app
        .setup()
        .refresh_due_metadata("test-pass", 10)
        .await
        .unwrap();
    let v = sso(&s.app, &s.org, &s.token).await;
    if v["metadata_url"]["last_attempt_at"] != now.as_str() {
        panic!("the metadata URL was not refreshed at {now}");
    }
    v
}

fn renewed_to(sink: &SmtpSink) -> Vec<Vec<String>> {
    sink.messages()
        .into_iter()
        .filter(|m| m.data_text().contains("Renewed: the SSO certificate"))
        .map(|m| m.rcpt_to.clone())
        .collect()
}

async fn audit_actions(app: &TestApp, org: &str, token: &str) -> Vec<(String, String)> {
    let r = app
        .get(&format!("/api/v1/orgs/{org}/audit-log"), token)
        .await;
    let v: Value = r.json().await.unwrap();
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_owned(),
                e["actor"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn first_fetch_then_a_rotation_is_noticed_at_the_next_refresh(backend: Backend) {
    let sink = SmtpSink::start().await;
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let old = certificate(
        "idp.acme.example",
        now - Duration::days(300),
        now + Duration::days(30),
    );
    let new = certificate(
        "idp2.acme.example",
        now - Duration::days(1),
        now + Duration::days(400),
    );
    let (idp, base) = Idp::start(metadata(&[&old])).await;
    let s = setup(backend, &sink, now).await;

    // First fetch: the configuration and its certificate, and the URL's state.
    let r = put_url(&s.app, &s.org, &s.token, &format!("{base}/m/acme")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "configured");
    assert_eq!(v["idp_entity_id"], "https://idp.acme.example/saml");
    assert_eq!(v["certificates"].as_array().unwrap().len(), 1);
    let old_fp = v["certificates"][0]["fingerprint_sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(v["metadata_url"]["url"], format!("{base}/m/acme"));
    assert_eq!(v["metadata_url"]["status"], "ok");
    assert_eq!(
        v["metadata_url"]["last_good_fetch_at"],
        at(now).to_rfc3339()
    );
    let next = rfc3339(v["metadata_url"]["next_fetch_at"].as_str().unwrap()).unwrap();
    let wait = next.unix_millis() - at(now).unix_millis();
    assert!(
        (DAY_MS * 9 / 10..=DAY_MS * 11 / 10).contains(&wait),
        "a day, give or take 10 %: {wait}"
    );
    assert_eq!(idp.hits("/m/acme"), 1);

    // The old certificate is inside its 30-day window: a reminder goes to the synced contact.
    let report = s.app.app.trust().run_certificate_sweep().await.unwrap();
    assert_eq!(report.sent, 1, "{report:?}");

    // Unchanged at the next refresh: the good fetch is recorded, nothing else happens.
    s.clock
        .set(at(now + Duration::days(1) + Duration::hours(3)));
    let v = refreshed(&s).await;
    assert_eq!(
        v["metadata_url"]["last_good_fetch_at"],
        at(now + Duration::days(1) + Duration::hours(3)).to_rfc3339()
    );
    assert_eq!(v["metadata_url"]["last_changed_at"], at(now).to_rfc3339());
    assert_eq!(idp.hits("/m/acme"), 2, "once per due time");

    // The identity provider rotates its key: the next refresh stores it and ends the old
    // reminder schedule with one "renewed" notice, to the synced contact only.
    idp.set_docs(vec![metadata(&[&new])]);
    s.clock
        .set(at(now + Duration::days(2) + Duration::hours(6)));
    let v = refreshed(&s).await;
    assert_eq!(v["certificates"].as_array().unwrap().len(), 1);
    let new_fp = v["certificates"][0]["fingerprint_sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_fp, old_fp);
    assert_eq!(
        v["metadata_url"]["last_changed_at"],
        at(now + Duration::days(2) + Duration::hours(6)).to_rfc3339()
    );
    settles_at(&s.app, 1, || renewed_to(&sink).len()).await;
    let renewed = renewed_to(&sink);
    assert_eq!(
        renewed,
        vec![vec!["ada@acme.example".to_owned()]],
        "once, to the synced contact"
    );
    let actions = audit_actions(&s.app, &s.org, &s.token).await;
    assert!(
        actions.contains(&("sso.metadata_changed".to_owned(), "system".to_owned())),
        "{actions:?}"
    );
    assert_eq!(
        actions
            .iter()
            .filter(|(a, _)| a == "sso.configured")
            .count(),
        1,
        "{actions:?}"
    );

    // The next refreshes find it unchanged: no second notice, no reminders for the old one.
    s.clock
        .set(at(now + Duration::days(3) + Duration::hours(12)));
    refreshed(&s).await;
    assert_eq!(renewed_to(&sink).len(), 1);
    assert_eq!(
        s.app
            .app
            .trust()
            .run_certificate_sweep()
            .await
            .unwrap()
            .sent,
        0
    );
    assert_eq!(idp.hits("/m/acme"), 4);

    // Pasted metadata ends the refresh from the URL.
    let r = s
        .app
        .request(
            Method::PUT,
            &format!("/api/v1/orgs/{}/sso", s.org),
            Some(&s.token),
        )
        .json(&json!({ "metadata_xml": metadata(&[&new]) }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(sso(&s.app, &s.org, &s.token).await["metadata_url"].is_null());
    s.clock.set(at(now + Duration::days(6)));
    assert_eq!(
        s.app
            .app
            .setup()
            .refresh_due_metadata("test-pass", 10)
            .await
            .unwrap()
            .claimed,
        0
    );
    s.app.drain().await;
    assert_eq!(idp.hits("/m/acme"), 4);
}

async fn every_bad_answer_is_refused_with_its_own_code_and_the_last_good_configuration_kept(
    backend: Backend,
) {
    let sink = SmtpSink::start().await;
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let pem = certificate(
        "idp.acme.example",
        now - Duration::days(1),
        now + Duration::days(300),
    );
    let (idp, base) = Idp::start(metadata(&[&pem])).await;
    let s = setup(backend, &sink, now).await;
    let (app, org, token) = (&s.app, s.org.as_str(), s.token.as_str());
    let r = put_url(app, org, token, &format!("{base}/m/good")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let good = sso(app, org, token).await;

    // Exactly three redirects are followed; a fourth is refused.
    let r = put_url(app, org, token, &format!("{base}/redirect/2")).await;
    assert_eq!(r.status(), StatusCode::OK, "three redirects");
    let r = put_url(app, org, token, &format!("{base}/redirect/3")).await;
    let body = problem(r, 422, "metadata_too_many_redirects").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("more than 3 times"),
        "{body}"
    );

    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cases: Vec<(String, &str, &str)> = vec![
        // A redirect to another private address (only 127.0.0.1 is allowed here).
        (
            format!("{base}/to-private"),
            "metadata_private_address",
            "127.0.0.2",
        ),
        (
            format!("http://10.0.0.1:{dead}/metadata"),
            "metadata_private_address",
            "not a public internet address",
        ),
        (
            "http://169.254.169.254/latest/meta-data".to_owned(),
            "metadata_private_address",
            "169.254.169.254",
        ),
        // Issue 24: 6to4 (2002::/16, here reaching 10.0.0.1) and Teredo (2001::/32).
        (
            format!("http://[2002:a00:1::1]:{dead}/metadata"),
            "metadata_private_address",
            "not a public internet address",
        ),
        (
            format!("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]:{dead}/metadata"),
            "metadata_private_address",
            "not a public internet address",
        ),
        (
            format!("{base}/huge"),
            "metadata_too_large",
            "more than 1 MiB",
        ),
        (
            format!("{base}/huge-declared"),
            "metadata_too_large",
            "more than 1 MiB",
        ),
        (format!("{base}/dtd"), "invalid_metadata", "DTD"),
        (
            format!("{base}/not-metadata"),
            "invalid_metadata",
            "SAML metadata",
        ),
        (
            format!("{base}/nothing-here"),
            "metadata_http_status",
            "404",
        ),
        (
            format!("http://127.0.0.1:{dead}/metadata"),
            "metadata_unreachable",
            "could not be reached",
        ),
        (
            "ftp://idp.acme.example/metadata".to_owned(),
            "invalid_metadata_url",
            "https://",
        ),
        (
            "https://admin:pw@idp.acme.example/m".to_owned(),
            "invalid_metadata_url",
            "password",
        ),
    ];
    for (url, code, words) in &cases {
        let r = put_url(app, org, token, url).await;
        let body = problem(r, 422, code).await;
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains(words), "{url}: {detail}");
        assert_eq!(body["field"], "metadata_url", "{body}");
    }
    // The 100 MB body was not read to its end: the cap holds while streaming.
    let sent = idp.0.huge_bytes_sent.load(Ordering::SeqCst);
    assert!(sent < 16 * 1024 * 1024, "{sent} bytes sent of 100 MB");

    // Byte by byte: cut off at 10 seconds, and nothing else waits meanwhile.
    let started = std::time::Instant::now();
    let slow_url = format!("{base}/slow");
    let slow = put_url(app, org, token, &slow_url);
    let others = async {
        let mut worst = std::time::Duration::ZERO;
        for _ in 0..20 {
            let t = std::time::Instant::now();
            let r = app
                .get(&format!("/api/v1/orgs/{org}/it-contacts"), token)
                .await;
            assert_eq!(r.status(), StatusCode::OK);
            worst = worst.max(t.elapsed());
            // Real time: requests spread over the slow fetch's 10 s.
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        worst
    };
    let (r, worst) = tokio::join!(slow, others);
    let took = started.elapsed();
    let body = problem(r, 422, "metadata_timeout").await;
    assert!(
        body["detail"].as_str().unwrap().contains("10 seconds"),
        "{body}"
    );
    assert!(took < std::time::Duration::from_secs(12), "{took:?}");
    assert!(
        worst < std::time::Duration::from_millis(500),
        "list-contacts took {worst:?} beside the slow fetch"
    );
    println!(
        "slow metadata URL refused after {took:?}; list-contacts meanwhile at worst {worst:?}"
    );

    // Through all of that, the last good configuration stayed.
    let after = sso(app, org, token).await;
    assert_eq!(after["certificates"], good["certificates"]);
    assert_eq!(after["idp_entity_id"], good["idp_entity_id"]);
    assert_eq!(after["metadata_url"]["url"], format!("{base}/redirect/2"));
    assert_eq!(after["metadata_url"]["status"], "ok");
    drop(idp);
}

async fn a_failing_url_keeps_the_configuration_retries_with_backoff_and_tells_the_contacts_once_per_episode(
    backend: Backend,
) {
    let sink = SmtpSink::start().await;
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let pem = certificate(
        "idp.acme.example",
        now - Duration::days(1),
        now + Duration::days(300),
    );
    let (idp, base) = Idp::start(metadata(&[&pem])).await;
    let s = setup(backend, &sink, now).await;
    let r = put_url(&s.app, &s.org, &s.token, &format!("{base}/m/acme")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let good = sso(&s.app, &s.org, &s.token).await;
    let notices = || {
        sink.messages()
            .into_iter()
            .filter(|m| m.data_text().contains("cannot be fetched"))
            .map(|m| m.rcpt_to.clone())
            .collect::<Vec<_>>()
    };

    // The identity provider's server starts failing.
    idp.0.status.store(503, Ordering::SeqCst);
    let first_failure = now + Duration::days(1) + Duration::hours(3);
    s.clock.set(at(first_failure));
    let v = refreshed(&s).await;
    let m = &v["metadata_url"];
    assert_eq!(m["status"], "failing");
    assert_eq!(m["failing_since"], at(first_failure).to_rfc3339());
    assert_eq!(m["failures"], 1);
    assert_eq!(m["last_error_code"], "metadata_http_status");
    assert!(m["last_error"].as_str().unwrap().contains("503"), "{m}");
    assert_eq!(m["last_good_fetch_at"], at(now).to_rfc3339());
    assert_eq!(
        v["certificates"], good["certificates"],
        "the last good configuration stays"
    );
    // Retried after 5 minutes, then 10 (backoff), the episode's start unchanged.
    let next = rfc3339(m["next_fetch_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        next.unix_millis() - at(first_failure).unix_millis(),
        5 * 60_000
    );
    s.clock.set(at(first_failure + Duration::minutes(5)));
    let v = refreshed(&s).await;
    assert_eq!(v["metadata_url"]["failures"], 2);
    assert_eq!(
        v["metadata_url"]["failing_since"],
        at(first_failure).to_rfc3339()
    );
    let next = rfc3339(v["metadata_url"]["next_fetch_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        next.unix_millis() - at(first_failure + Duration::minutes(5)).unix_millis(),
        10 * 60_000
    );

    // The page shows the failure and since when.
    s.app
        .member(
            &s.org,
            "Sam Admin",
            "sam@acme.example",
            smartcore_domain::Role::Admin,
        )
        .await;
    let cookie = s.app.sign_in("sam@acme.example").await;
    let html = s
        .app
        .page(&format!("/orgs/{}/settings/sso", s.org), &cookie)
        .await;
    assert!(html.contains("id=\"metadata-failing\""), "{html}");
    assert!(
        html.contains("Fetching the metadata has failed since"),
        "{html}"
    );
    assert!(html.contains("503"));
    assert!(notices().is_empty(), "not before three days");

    // Three days of failures in a row: one notice to the synced contact, in the deliveries.
    s.clock
        .set(at(first_failure + Duration::days(3) + Duration::minutes(1)));
    refreshed(&s).await;
    settles_at(&s.app, 1, || notices().len()).await;
    assert_eq!(notices(), vec![vec!["ada@acme.example".to_owned()]]);
    let text = sink
        .messages()
        .into_iter()
        .find(|m| m.data_text().contains("cannot be fetched"))
        .unwrap()
        .data_text();
    assert!(text.contains(&format!("{base}/m/acme")), "{text}");
    assert!(text.contains("What to do"), "{text}");
    let r = s
        .app
        .get(&format!("/api/v1/orgs/{}/mail-deliveries", s.org), &s.token)
        .await;
    let log: Value = r.json().await.unwrap();
    let kinds: Vec<&Value> = log["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "metadata_failing")
        .collect();
    assert_eq!(kinds.len(), 1, "{log}");
    assert_eq!(kinds[0]["status"], "sent");
    // Still failing later: not again in this episode.
    s.clock.set(at(first_failure + Duration::days(4)));
    refreshed(&s).await;
    settles_at(&s.app, 1, || notices().len()).await;

    // It recovers: the episode ends.
    idp.0.status.store(0, Ordering::SeqCst);
    s.clock.set(at(first_failure + Duration::days(5)));
    let v = refreshed(&s).await;
    assert_eq!(v["metadata_url"]["status"], "ok");
    assert!(v["metadata_url"]["failing_since"].is_null());
    assert_eq!(v["metadata_url"]["failures"], 0);
    // A new episode gets its own notice, once.
    idp.0.status.store(500, Ordering::SeqCst);
    let second = first_failure + Duration::days(7);
    s.clock.set(at(second));
    refreshed(&s).await;
    s.clock
        .set(at(second + Duration::days(3) + Duration::hours(1)));
    refreshed(&s).await;
    settles_at(&s.app, 2, || notices().len()).await;
    s.clock
        .set(at(second + Duration::days(3) + Duration::hours(8)));
    refreshed(&s).await;
    settles_at(&s.app, 2, || notices().len()).await;
}

async fn flipping_documents_are_contained_to_one_fetch_per_due_time(backend: Backend) {
    let sink = SmtpSink::start().await;
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let a = certificate(
        "a.acme.example",
        now - Duration::days(1),
        now + Duration::days(300),
    );
    let b = certificate(
        "b.acme.example",
        now - Duration::days(1),
        now + Duration::days(301),
    );
    let (idp, base) = Idp::start(metadata(&[&a])).await;
    idp.set_docs(vec![metadata(&[&a]), metadata(&[&b])]);
    idp.0.flip.store(true, Ordering::SeqCst);
    let s = setup(backend, &sink, now).await;
    let r = put_url(&s.app, &s.org, &s.token, &format!("{base}/m/flip")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let mut seen = Vec::new();
    let mut due = rfc3339(
        sso(&s.app, &s.org, &s.token).await["metadata_url"]["next_fetch_at"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    for _ in 1..=4 {
        let t = due.to_datetime() + Duration::minutes(1);
        s.clock.set(at(t));
        let v = refreshed(&s).await;
        due = rfc3339(v["metadata_url"]["next_fetch_at"].as_str().unwrap()).unwrap();
        assert_eq!(v["certificates"].as_array().unwrap().len(), 1);
        seen.push(v["certificates"][0]["subject"].as_str().unwrap().to_owned());
        let next = rfc3339(v["metadata_url"]["next_fetch_at"].as_str().unwrap()).unwrap();
        assert!(
            next.unix_millis() - at(t).unix_millis() >= DAY_MS * 9 / 10,
            "the schedule does not speed up"
        );
    }
    assert_eq!(
        idp.hits("/m/flip"),
        5,
        "one fetch per due time, however often it changes"
    );
    assert_eq!(
        seen,
        [
            "CN=b.acme.example",
            "CN=a.acme.example",
            "CN=b.acme.example",
            "CN=a.acme.example"
        ]
    );
    let actions = audit_actions(&s.app, &s.org, &s.token).await;
    assert_eq!(
        actions
            .iter()
            .filter(|(a, _)| a == "sso.metadata_changed")
            .count(),
        4
    );
}

async fn two_instances_refresh_each_due_url_once(backend: Backend) {
    let sink = SmtpSink::start().await;
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let pem = certificate(
        "idp.acme.example",
        now - Duration::days(1),
        now + Duration::days(300),
    );
    let (idp, base) = Idp::start(metadata(&[&pem])).await;
    let fake = FakeWorkOs::start(WORKOS_KEY)
        .await
        .expect("identity-side fake");
    let clock = Arc::new(ManualClock::new(at(now)));
    let (url, _db) = fresh_database(backend).await.expect("database");
    let one = TestApp::start_with_clock(backend, &url, &env(&fake, &sink), clock.clone()).await;
    let two = TestApp::start_with_clock(backend, &url, &env(&fake, &sink), clock.clone()).await;
    const ORGS: usize = 24;
    let mut orgs = Vec::new();
    for i in 0..ORGS {
        let (org, token) = one.org_with_admin(&format!("Org {i}")).await;
        let r = put_url(&one, &org, &token, &format!("{base}/m/org{i}")).await;
        assert_eq!(r.status(), StatusCode::OK);
        orgs.push((org, token));
    }
    clock.set(at(now + Duration::days(1) + Duration::hours(3)));
    let expected = at(now + Duration::days(1) + Duration::hours(3)).to_rfc3339();
    // Both instances refresh at the same time, pass after pass, until nothing is due.
    let (setup_one, setup_two) = (one.app.setup(), two.app.setup());
    loop {
        let (a, b) = tokio::join!(
            setup_one.refresh_due_metadata("direct-one", 5),
            setup_two.refresh_due_metadata("direct-two", 5)
        );
        if a.unwrap().claimed + b.unwrap().claimed == 0 {
            break;
        }
    }
    for (org, token) in &orgs {
        let attempted = sso(&one, org, token).await["metadata_url"]["last_attempt_at"].clone();
        if attempted != expected.as_str() {
            panic!("{org} was not refreshed at {expected}: {attempted}");
        }
    }
    for i in 0..ORGS {
        assert_eq!(
            idp.hits(&format!("/m/org{i}")),
            2,
            "org {i}: the first fetch and one refresh"
        );
    }
}
on_each_backend!(first_fetch_then_a_rotation_is_noticed_at_the_next_refresh, every_bad_answer_is_refused_with_its_own_code_and_the_last_good_configuration_kept, a_failing_url_keeps_the_configuration_retries_with_backoff_and_tells_the_contacts_once_per_episode, flipping_documents_are_contained_to_one_fetch_per_due_time, two_instances_refresh_each_due_url_once);
