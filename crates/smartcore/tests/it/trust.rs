//! Alerts the contacts can trust (issue 16): the welcome, "Not me", re-confirmation and test
//! alerts, on both databases, with a controllable clock, the real SMTP test server and (for the
//! welcome) the identity-side fake, so contacts are registered as in production.

use crate::support::{Backend, TestApp, WORKOS_KEY, fresh_database, problem};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use smartcore_app::{Clock, ManualClock};
use smartcore_domain::Timestamp;
use smtp_sink::{ReceivedMessage, SmtpSink};
use std::sync::Arc;
use workos_fake::FakeWorkOs;

const IDENTITY_ORG: &str = "org_01WORKOS";
const DAY_MS: i64 = 86_400_000;

struct Parsed {
    to: Vec<String>,
    subject: String,
    text: String,
    html: String,
}

fn parse(m: &ReceivedMessage) -> Parsed {
    let parsed = mail_parser::MessageParser::default()
        .parse(&m.data)
        .expect("an RFC 5322 message");
    Parsed {
        to: m.rcpt_to.clone(),
        subject: parsed.subject().unwrap_or_default().to_owned(),
        text: parsed.body_text(0).expect("a text part").into_owned(),
        html: parsed.body_html(0).expect("an HTML part").into_owned(),
    }
}

fn mails(sink: &SmtpSink) -> Vec<Parsed> {
    sink.messages().iter().map(parse).collect()
}

fn to<'a>(all: &'a [Parsed], addr: &str, subject_part: &str) -> Vec<&'a Parsed> {
    all.iter()
        .filter(|m| m.to.iter().any(|r| r == addr) && m.subject.contains(subject_part))
        .collect()
}

/// The link in `text` whose path starts with `path`.
fn link(text: &str, path: &str) -> String {
    text.split_whitespace()
        .find(|w| w.contains(path))
        .unwrap_or_else(|| panic!("no {path} link in {text}"))
        .trim_end_matches(['.', ')', '>'])
        .to_owned()
}

/// Drives `app`'s queues ([`TestApp::drain`]), then expects `pred` to hold for the received
/// mail (the sink has a message before it answers the sender).
async fn wait_mail(
    app: &TestApp,
    sink: &SmtpSink,
    what: &str,
    pred: impl Fn(&[Parsed]) -> bool,
) -> Vec<Parsed> {
    app.drain().await;
    let all = mails(sink);
    assert!(
        pred(&all),
        "no {what} once the queues are drained: {:?}",
        all.iter().map(|m| (&m.to, &m.subject)).collect::<Vec<_>>()
    );
    all
}

/// Polls (up to 10 s) until `pred` holds for the received mail: for mail that a request sends
/// from a task of its own (a removed contact's calendar cancellation), which no queue holds.
async fn poll_mail(sink: &SmtpSink, what: &str, pred: impl Fn(&[Parsed]) -> bool) -> Vec<Parsed> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let all = mails(sink);
        if pred(&all) {
            return all;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}: {:?}",
            all.iter().map(|m| (&m.to, &m.subject)).collect::<Vec<_>>()
        );
        // Real time: the task runs on its own.
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

fn contact<'a>(list: &'a [Value], email: &str) -> &'a Value {
    list.iter()
        .find(|c| c["email"] == email)
        .unwrap_or_else(|| panic!("{email} in {list:?}"))
}

struct Setup {
    app: TestApp,
    sink: SmtpSink,
    clock: Arc<ManualClock>,
    org: String,
    token: String,
    _fake: FakeWorkOs,
    _db: crate::support::TestDatabase,
    url: String,
    extra: Vec<(&'static str, String)>,
}

/// A service with the SMTP sink, a manual clock and the identity-side fake, an organisation
/// linked to it with one administrator.
async fn setup(backend: Backend, more: &[(&'static str, String)]) -> Setup {
    let sink = SmtpSink::start().await;
    let fake = FakeWorkOs::start(WORKOS_KEY)
        .await
        .expect("identity-side fake");
    let clock = Arc::new(ManualClock::new(Timestamp::from_datetime(
        time::OffsetDateTime::now_utc(),
    )));
    let (url, db) = fresh_database(backend).await.expect("database");
    let mut extra = TestApp::workos_env(fake.base_url());
    extra.push(("SMARTCORE_MAIL", "smtp".to_owned()));
    extra.push(("SMARTCORE_SMTP_URL", sink.url()));
    extra.extend(more.iter().cloned());
    let app = TestApp::start_with_clock(backend, &url, &extra, clock.clone()).await;
    // Markup in the organisation's name, to be escaped in every message and page.
    let record = app
        .app
        .operations()
        .create_org("Acme <b>Ltd</b>")
        .await
        .expect("create org");
    let admin = format!("admin-{}@acme.example", uuid::Uuid::now_v7().simple());
    let token = app.user(&admin, false).await;
    app.app
        .operations()
        .add_member(&record, &admin, smartcore_domain::Role::Admin)
        .await
        .expect("add admin");
    app.app
        .operations()
        .link_identity(&record, IDENTITY_ORG)
        .await
        .unwrap();
    let org = record.id.clone();
    Setup {
        app,
        sink,
        clock,
        org,
        token,
        _fake: fake,
        _db: db,
        url,
        extra,
    }
}

async fn a_contact_is_welcomed_once_across_instances_and_not_again_on_a_re_add(backend: Backend) {
    let s = setup(backend, &[]).await;
    // A second instance on the same database: both drive the sync and the trust pass, at once.
    let second = TestApp::start_with_clock(backend, &s.url, &s.extra, s.clock.clone()).await;
    let ada = s.app.add_manual(&s.org, &s.token, "ada@acme.example").await;
    tokio::join!(s.app.drain(), second.drain());
    s.app
        .wait_for_status(&s.org, &s.token, "ada@acme.example", "synced", 10)
        .await;
    let all = wait_mail(&s.app, &s.sink, "the welcome", |m| {
        !to(m, "ada@acme.example", "You are now an IT contact").is_empty()
    })
    .await;
    let welcome = to(&all, "ada@acme.example", "You are now an IT contact")[0];
    assert!(
        welcome.subject.contains("Acme <b>Ltd</b>"),
        "{}",
        welcome.subject
    );
    assert!(
        welcome
            .text
            .contains("has added you as an IT contact of Acme <b>Ltd</b>"),
        "{}",
        welcome.text
    );
    assert!(welcome.text.contains("no access"), "{}", welcome.text);
    assert!(welcome.text.contains("Certificate reminders"));
    assert!(
        welcome.html.contains("Acme &lt;b&gt;Ltd&lt;/b&gt;")
            || welcome.html.contains("Acme &#60;b&#62;Ltd&#60;/b&#62;"),
        "{}",
        welcome.html
    );
    assert!(!welcome.html.contains("<b>Ltd</b>"));
    link(&welcome.text, "/contact/confirm/");
    link(&welcome.text, "/contact/not-me/");

    // Removed (the removal waits for the operations team) and added again: Synced at once
    // (D2), and no second welcome, whichever instance looks.
    let r = s
        .app
        .delete(
            &format!(
                "/api/v1/orgs/{}/it-contacts/{}",
                s.org,
                ada["id"].as_str().unwrap()
            ),
            &s.token,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let again = second
        .add_manual(&s.org, &s.token, "ada@acme.example")
        .await;
    assert_eq!(again["status"], "synced");
    tokio::join!(s.app.drain(), second.drain());
    let all = mails(&s.sink);
    assert_eq!(
        to(&all, "ada@acme.example", "You are now an IT contact").len(),
        1
    );
    let list = s.app.contacts(&s.org, &s.token).await;
    assert_eq!(
        contact(&list, "ada@acme.example")["trust"]["welcomed_at"],
        Value::Null
    );
    let deliveries = s.app.store().await.deliveries(&s.org, 100).await.unwrap();
    assert_eq!(
        deliveries
            .iter()
            .filter(|d| d.kind.as_str() == "welcome")
            .count(),
        1
    );
}

async fn not_me_flags_the_contact_and_tells_the_administrators_once(backend: Backend) {
    let s = setup(backend, &[]).await;
    let ada = s.app.add_manual(&s.org, &s.token, "ada@acme.example").await;
    let ada_id = ada["id"].as_str().unwrap().to_owned();
    s.app
        .add_manual(&s.org, &s.token, "grace@acme.example")
        .await;
    let all = wait_mail(&s.app, &s.sink, "two welcomes", |m| {
        to(m, "ada@acme.example", "You are now").len()
            + to(m, "grace@acme.example", "You are now").len()
            == 2
    })
    .await;
    let not_me = link(
        &to(&all, "ada@acme.example", "You are now")[0].text,
        "/contact/not-me/",
    );
    let confirm = link(
        &to(&all, "ada@acme.example", "You are now")[0].text,
        "/contact/confirm/",
    );
    assert!(
        not_me.starts_with(&format!("{}/contact/not-me/", s.app.base_url)),
        "{not_me}"
    );

    // The page changes nothing by itself (mail scanners fetch links).
    let page = s.app.http.get(&not_me).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("<form method=\"post\">"), "{html}");
    assert!(
        html.contains("Acme &lt;b&gt;Ltd&lt;/b&gt;") || html.contains("Acme &#60;b&#62;"),
        "{html}"
    );
    let list = s.app.contacts(&s.org, &s.token).await;
    assert_eq!(
        contact(&list, "ada@acme.example")["trust"]["not_responsible_at"],
        Value::Null
    );

    // Used: flagged, with the time; the administrators told once, however often it is used.
    for _ in 0..3 {
        // Issue 23: the POST redirects to the link, which now says it is done.
        let r = s.app.http.post(&not_me).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert!(
            r.headers()["location"]
                .to_str()
                .unwrap()
                .ends_with("#link-done")
        );
        let r = s.app.http.get(&not_me).send().await.unwrap();
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("We have told the administrators")
        );
    }
    wait_mail(&s.app, &s.sink, "the administrators' notice", |m| {
        m.iter()
            .any(|m| m.subject.contains("says they are not responsible"))
    })
    .await;
    s.app.drain().await;
    let notices: Vec<_> = mails(&s.sink)
        .into_iter()
        .filter(|m| m.subject.contains("says they are not responsible"))
        .collect();
    assert_eq!(notices.len(), 1, "once");
    assert!(
        notices[0].to[0].starts_with("admin-"),
        "{:?}",
        notices[0].to
    );
    assert!(notices[0].text.contains("Nothing has been removed"));
    let list = s.app.contacts(&s.org, &s.token).await;
    let flagged = contact(&list, "ada@acme.example");
    assert!(
        flagged["trust"]["not_responsible_at"]
            .as_str()
            .unwrap()
            .ends_with('Z'),
        "{flagged}"
    );
    assert_eq!(flagged["trust"]["reachable"], false);
    assert_eq!(flagged["status"], "synced", "nobody was removed");
    assert_eq!(
        contact(&list, "grace@acme.example")["trust"]["not_responsible_at"],
        Value::Null
    );
    let cookie = s.app.sign_in(&admin_email(&s).await).await;
    let page = s
        .app
        .page(&format!("/orgs/{}/settings/authentication", s.org), &cookie)
        .await;
    assert!(page.contains("data-not-responsible"), "the badge");
    assert!(page.contains("Keep as contact"));

    // Tampered, or a confirm link used as a not-me link: 404; nothing changes.
    let mut tampered = not_me.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(
        s.app.http.get(&tampered).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.app.http.post(&tampered).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let swapped = confirm.replace("/contact/confirm/", "/contact/not-me/");
    assert_eq!(
        s.app.http.post(&swapped).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let setup_path = not_me.replace("/contact/not-me/", "/setup/");
    assert_eq!(
        s.app.http.get(&setup_path).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    // An administrator keeps them: the flag goes.
    let r = s
        .app
        .post(
            &format!("/api/v1/orgs/{}/it-contacts/{ada_id}/keep", s.org),
            &s.token,
            Value::Null,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["cleared"], true);
    let list = s.app.contacts(&s.org, &s.token).await;
    assert_eq!(
        contact(&list, "ada@acme.example")["trust"]["not_responsible_at"],
        Value::Null
    );

    // Expired after 30 days: 410.
    s.clock.advance_millis(30 * DAY_MS + 1000);
    assert_eq!(
        s.app.http.get(&not_me).send().await.unwrap().status(),
        StatusCode::GONE
    );
    assert_eq!(
        s.app.http.post(&confirm).send().await.unwrap().status(),
        StatusCode::GONE
    );
}

async fn links_of_a_removed_contact_are_gone(backend: Backend) {
    let s = setup(backend, &[]).await;
    let ada = s.app.add_manual(&s.org, &s.token, "ada@acme.example").await;
    s.app
        .add_manual(&s.org, &s.token, "grace@acme.example")
        .await;
    let all = wait_mail(&s.app, &s.sink, "the welcome", |m| {
        !to(m, "ada@acme.example", "You are now").is_empty()
    })
    .await;
    let not_me = link(
        &to(&all, "ada@acme.example", "You are now")[0].text,
        "/contact/not-me/",
    );
    let r = s
        .app
        .delete(
            &format!(
                "/api/v1/orgs/{}/it-contacts/{}",
                s.org,
                ada["id"].as_str().unwrap()
            ),
            &s.token,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        s.app.http.get(&not_me).send().await.unwrap().status(),
        StatusCode::GONE
    );
    assert_eq!(
        s.app.http.post(&not_me).send().await.unwrap().status(),
        StatusCode::GONE
    );
}

async fn re_confirmation_asks_again_and_reports_the_unanswered_once(backend: Backend) {
    let s = setup(backend, &[("SMARTCORE_RECONFIRM_DAYS", "10".to_owned())]).await;
    s.app.add_manual(&s.org, &s.token, "ada@acme.example").await;
    s.app
        .add_manual(&s.org, &s.token, "grace@acme.example")
        .await;
    let all = wait_mail(&s.app, &s.sink, "two welcomes", |m| {
        to(m, "ada@acme.example", "You are now").len()
            + to(m, "grace@acme.example", "You are now").len()
            == 2
    })
    .await;
    // The welcome's sending is recorded once the pass that sent it is done.
    let list = s.app.contacts(&s.org, &s.token).await;
    let state = contact(&list, "ada@acme.example")["trust"]["confirmation"].clone();
    assert_eq!(state, "awaiting");
    // Ada confirms from her welcome (a replay changes nothing).
    let confirm = link(
        &to(&all, "ada@acme.example", "You are now")[0].text,
        "/contact/confirm/",
    );
    assert_eq!(
        s.app.http.get(&confirm).send().await.unwrap().status(),
        StatusCode::OK
    );
    let list = s.app.contacts(&s.org, &s.token).await;
    assert_eq!(
        contact(&list, "ada@acme.example")["trust"]["confirmation"],
        "awaiting",
        "a GET changes nothing"
    );
    let r = s.app.http.post(&confirm).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let list = s.app.contacts(&s.org, &s.token).await;
    let confirmed_at = contact(&list, "ada@acme.example")["trust"]["confirmed_at"].clone();
    assert!(confirmed_at.as_str().is_some());
    assert_eq!(
        contact(&list, "ada@acme.example")["trust"]["confirmation"],
        "confirmed"
    );
    s.clock.advance_millis(1000);
    assert_eq!(
        s.app.http.post(&confirm).send().await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    let list = s.app.contacts(&s.org, &s.token).await;
    assert_eq!(
        contact(&list, "ada@acme.example")["trust"]["confirmed_at"],
        confirmed_at,
        "replayed: idempotent"
    );

    // Ten days on: Ada is asked again; Grace's first request is still open.
    s.clock.advance_millis(10 * DAY_MS + 1000);
    let all = wait_mail(&s.app, &s.sink, "the re-confirmation", |m| {
        !to(m, "ada@acme.example", "Are you still the right person").is_empty()
    })
    .await;
    let again = to(&all, "ada@acme.example", "Are you still the right person")[0];
    link(&again.text, "/contact/not-me/");
    let confirm_again = link(&again.text, "/contact/confirm/");
    assert!(to(&all, "grace@acme.example", "Are you still the right person").is_empty());
    let list = s.app.contacts(&s.org, &s.token).await;
    assert_eq!(
        contact(&list, "ada@acme.example")["trust"]["confirmation"],
        "awaiting"
    );

    // Thirty days after her welcome Grace has not answered: shown, administrators told once.
    s.clock.advance_millis(20 * DAY_MS);
    wait_mail(&s.app, &s.sink, "the unconfirmed notice", |m| {
        m.iter()
            .any(|m| m.subject.contains("grace@acme.example has not confirmed"))
    })
    .await;
    s.app.drain().await;
    let all = mails(&s.sink);
    assert_eq!(
        all.iter()
            .filter(|m| m.subject.contains("has not confirmed"))
            .count(),
        1,
        "once, and not about Ada"
    );
    let list = s.app.contacts(&s.org, &s.token).await;
    assert_eq!(
        contact(&list, "grace@acme.example")["trust"]["confirmation"],
        "overdue"
    );
    assert_eq!(
        contact(&list, "grace@acme.example")["trust"]["reachable"],
        false
    );
    assert_eq!(
        s.app
            .http
            .post(&confirm_again)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::SEE_OTHER
    );
    let cookie = s.app.sign_in(&admin_email(&s).await).await;
    let page = s
        .app
        .page(&format!("/orgs/{}/settings/authentication", s.org), &cookie)
        .await;
    assert!(page.contains("1 of 2 contacts confirmed"), "{page}");
    assert!(page.contains("data-unconfirmed"));
    assert!(
        page.contains("that alerts can reach"),
        "the advice counts reachable contacts"
    );
}

async fn test_alerts_look_real_show_their_outcome_and_are_limited(backend: Backend) {
    let s = setup(backend, &[]).await;
    let ada = s.app.add_manual(&s.org, &s.token, "ada@acme.example").await;
    let grace = s
        .app
        .add_manual(&s.org, &s.token, "grace@acme.example")
        .await;
    let (ada_id, grace_id) = (ada["id"].as_str().unwrap(), grace["id"].as_str().unwrap());
    s.sink.reject_recipient("grace@acme.example");

    let r = s
        .app
        .post(
            &format!("/api/v1/orgs/{}/it-contacts/{ada_id}/test-alert", s.org),
            &s.token,
            Value::Null,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["sent"], 1);
    let all = wait_mail(&s.app, &s.sink, "the test alert", |m| {
        !to(m, "ada@acme.example", "[Test]").is_empty()
    })
    .await;
    let test = to(&all, "ada@acme.example", "[Test]")[0];
    assert!(
        test.subject
            .contains("Action needed: the SSO certificate for Acme <b>Ltd</b>"),
        "{}",
        test.subject
    );
    assert!(
        test.text
            .starts_with("This is a TEST ALERT sent by Test User"),
        "{}",
        test.text
    );
    assert!(test.text.contains("What to do"));
    link(&test.text, "/contact/not-me/");

    // To a contact whose mail is refused: sent, and the refusal shown as for real mail.
    let r = s
        .app
        .post(
            &format!("/api/v1/orgs/{}/it-contacts/{grace_id}/test-alert", s.org),
            &s.token,
            Value::Null,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["rejected"], 1);
    let list = s.app.contacts(&s.org, &s.token).await;
    assert_eq!(
        contact(&list, "ada@acme.example")["trust"]["last_test_alert"]["status"],
        "sent"
    );
    let g = contact(&list, "grace@acme.example");
    assert_eq!(g["trust"]["last_test_alert"]["status"], "rejected");
    assert!(g["mail_rejected"]["reason"].as_str().is_some(), "{g}");
    assert_eq!(g["trust"]["reachable"], false);
    // The administrators are told about the rejection once, however often it happens.
    wait_mail(&s.app, &s.sink, "the rejection notice", |m| {
        m.iter()
            .any(|m| m.subject.contains("grace@acme.example is being rejected"))
    })
    .await;

    // All (2 more: 4), one more (5), then the sixth is refused; an hour later it works.
    let r = s
        .app
        .post(
            &format!("/api/v1/orgs/{}/it-contacts/test-alert", s.org),
            &s.token,
            Value::Null,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = s
        .app
        .post(
            &format!("/api/v1/orgs/{}/it-contacts/{ada_id}/test-alert", s.org),
            &s.token,
            Value::Null,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = s
        .app
        .post(
            &format!("/api/v1/orgs/{}/it-contacts/{ada_id}/test-alert", s.org),
            &s.token,
            Value::Null,
        )
        .await;
    assert!(r.headers().get("retry-after").is_some());
    problem(r, 429, "rate_limited").await;
    let r = s
        .app
        .post(
            &format!("/api/v1/orgs/{}/it-contacts/test-alert", s.org),
            &s.token,
            Value::Null,
        )
        .await;
    problem(r, 429, "rate_limited").await;
    let sent = mails(&s.sink)
        .iter()
        .filter(|m| m.subject.starts_with("[Test]"))
        .count();
    assert_eq!(
        sent, 3,
        "5 test alerts, the 2 to Grace refused by the mail server"
    );
    s.app.drain().await;
    let notices = mails(&s.sink)
        .iter()
        .filter(|m| m.subject.contains("is being rejected"))
        .count();
    assert_eq!(notices, 1, "told once");

    // The page's button, without JavaScript: a form, then a redirect with a notice.
    let cookie = s.app.sign_in(&admin_email(&s).await).await;
    let page = s
        .app
        .page(&format!("/orgs/{}/settings/authentication", s.org), &cookie)
        .await;
    assert!(page.contains("data-test-alert=\"rejected\""), "{page}");
    let form = s
        .app
        .http
        .post(format!(
            "{}/orgs/{}/settings/authentication/it-contacts/{ada_id}/test-alert",
            s.app.base_url, s.org
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    // Issue 23: the refusal is said once on the page the POST redirects to.
    assert_eq!(form.status(), StatusCode::SEE_OTHER);
    assert!(
        form.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with("#page-error")
    );
    let flash = form.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = s
        .app
        .page(
            &format!("/orgs/{}/settings/authentication", s.org),
            &format!("{cookie}; {flash}"),
        )
        .await;
    assert!(
        page.contains("Too many attempts") && page.contains("id=\"page-error\""),
        "{page}"
    );
    let again = s
        .app
        .page(&format!("/orgs/{}/settings/authentication", s.org), &cookie)
        .await;
    assert!(!again.contains("Too many attempts"), "shown once");
    s.clock.advance_millis(3600 * 1000 + 1000);
    let form = s
        .app
        .http
        .post(format!(
            "{}/orgs/{}/settings/authentication/it-contacts/{ada_id}/test-alert",
            s.app.base_url, s.org
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::SEE_OTHER);

    // Only administrators; another organisation's contact is not found.
    let (other, other_token) = s.app.org_with_admin("Other").await;
    let r = s
        .app
        .post(
            &format!("/api/v1/orgs/{other}/it-contacts/{ada_id}/test-alert"),
            &other_token,
            Value::Null,
        )
        .await;
    problem(r, 404, "not_found").await;
    let r = s
        .app
        .request(
            Method::POST,
            &format!("/api/v1/orgs/{}/it-contacts/test-alert", s.org),
            None,
        )
        .send()
        .await
        .unwrap();
    problem(r, 401, "unauthenticated").await;
}

async fn reminders_carry_a_calendar_event_that_updates_and_is_cancelled_on_renewal(
    backend: Backend,
) {
    use icalendar::{Calendar, CalendarComponent, Component, DatePerhapsTime};
    use mail_parser::MimeHeaders;
    let sink = SmtpSink::start().await;
    let start = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp::from_datetime(start)));
    let (url, _db) = fresh_database(backend).await.expect("database");
    let extra = [
        ("SMARTCORE_MAIL", "smtp".to_owned()),
        ("SMARTCORE_SMTP_URL", sink.url()),
    ];
    let app = TestApp::start_with_clock(backend, &url, &extra, clock.clone()).await;
    // Line breaks are refused in organisation names upstream (the unit tests of the calendar
    // check them anyway); RFC 5545's special characters are not.
    let record = app
        .app
        .operations()
        .create_org("Acme; Ltd, \\ <b>X</b>")
        .await
        .unwrap();
    let admin = "admin@acme.example";
    let token = app.user(admin, false).await;
    app.app
        .operations()
        .add_member(&record, admin, smartcore_domain::Role::Admin)
        .await
        .unwrap();
    let org = record.id.clone();
    app.add_manual(&org, &token, "ada@acme.example").await;
    app.wait_for_status(&org, &token, "ada@acme.example", "synced", 10)
        .await;
    welcomes_out(&app, &sink, 1).await;
    let not_after = start + time::Duration::days(40);
    let pem = crate::support::certificate(
        "idp.acme.example",
        start - time::Duration::days(1),
        not_after,
    );
    let r = app.request(Method::PUT, &format!("/api/v1/orgs/{org}/sso"), Some(&token))
            .json(&serde_json::json!({ "idp_entity_id": "https://idp.example", "idp_sso_url": "https://idp.example/sso", "idp_certificate_pem": pem }))
            .send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let fingerprint = r.json::<Value>().await.unwrap()["certificates"][0]["fingerprint_sha256"]
        .as_str()
        .unwrap()
        .to_owned();

    // The calendar of the last message to Ada: (METHOD, UID, SEQUENCE, start, summary, description).
    let last_calendar = || {
        let messages = sink.messages();
        let m = messages.last().expect("a message");
        let parsed = mail_parser::MessageParser::default()
            .parse(&m.data)
            .unwrap();
        let part = parsed
            .attachments()
            .find(|a| a.is_content_type("text", "calendar"))
            .expect("a text/calendar attachment");
        let ics = part.text_contents().unwrap().to_owned();
        let calendar: Calendar = ics.parse().expect("RFC 5545");
        let CalendarComponent::Event(e) = &calendar.components[0] else {
            panic!("an event: {ics}")
        };
        (
            calendar.property_value("METHOD").unwrap().to_owned(),
            e.get_uid().unwrap().to_owned(),
            e.get_sequence().unwrap(),
            e.get_start(),
            e.get_summary().unwrap().to_owned(),
            e.get_description().unwrap().to_owned(),
            ics,
        )
    };
    let report = app.app.trust().run_certificate_sweep().await.unwrap();
    assert_eq!(report.sent, 1, "{report:?}");
    let (method, uid, first_seq, starts, summary, description, ics) = last_calendar();
    assert_eq!(method, "PUBLISH");
    // A timed event at notAfter itself, in UTC, with alarms 7 days and 1 day before.
    let expected = chrono::DateTime::from_timestamp(not_after.unix_timestamp(), 0).unwrap();
    assert_eq!(
        starts,
        Some(DatePerhapsTime::DateTime(icalendar::CalendarDateTime::Utc(
            expected
        ))),
        "{ics}"
    );
    assert!(
        ics.contains("TRIGGER:-P7D") && ics.contains("TRIGGER:-P1D"),
        "{ics}"
    );
    assert_eq!(ics.matches("BEGIN:VALARM").count(), 2, "{ics}");
    let raw = sink.messages().last().unwrap().data.clone();
    let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
    assert_eq!(
        parsed.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-generated")
    );
    assert!(
        parsed.message_id().unwrap().ends_with("@127.0.0.1"),
        "the public URL's host: {:?}",
        parsed.message_id()
    );
    assert!(
        summary.contains("Acme; Ltd, \\ <b>X</b>"),
        "parsed back unescaped: {summary}"
    );
    assert!(
        ics.contains("Acme\\; Ltd\\, \\\\ <b>X</b>"),
        "escaped per RFC 5545: {ics}"
    );
    assert!(description.contains(&fingerprint), "{description}");
    assert!(description.contains("What to do"));

    // The next reminder updates the same event.
    clock.set(Timestamp::from_datetime(
        not_after - time::Duration::days(30) + time::Duration::hours(1),
    ));
    assert_eq!(
        app.app.trust().run_certificate_sweep().await.unwrap().sent,
        1
    );
    let (method, uid_again, seq, ..) = last_calendar();
    assert_eq!(
        (method.as_str(), uid_again.as_str()),
        ("PUBLISH", uid.as_str())
    );
    assert!(seq > first_seq);

    // A later certificate: the renewed notice cancels the event.
    let renewed = crate::support::certificate(
        "idp2.acme.example",
        start,
        not_after + time::Duration::days(365),
    );
    let r = app.request(Method::PUT, &format!("/api/v1/orgs/{org}/sso"), Some(&token))
            .json(&serde_json::json!({ "idp_entity_id": "https://idp.example", "idp_sso_url": "https://idp.example/sso", "idp_certificate_pem": renewed }))
            .send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (method, uid_cancel, cancel_seq, _, _, _, ics) = last_calendar();
    assert_eq!(
        (method.as_str(), uid_cancel.as_str()),
        ("CANCEL", uid.as_str())
    );
    assert!(cancel_seq > seq);
    assert!(ics.contains("STATUS:CANCELLED"));
    let renewed_mail = parse(sink.messages().last().unwrap());
    assert!(
        renewed_mail.subject.starts_with("Renewed"),
        "{}",
        renewed_mail.subject
    );
}

async fn removing_a_contact_cancels_the_calendar_event_it_received(backend: Backend) {
    use icalendar::{Calendar, CalendarComponent, Component};
    use mail_parser::MimeHeaders;
    let sink = SmtpSink::start().await;
    let start = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp::from_datetime(start)));
    let (url, _db) = fresh_database(backend).await.expect("database");
    let extra = [
        ("SMARTCORE_MAIL", "smtp".to_owned()),
        ("SMARTCORE_SMTP_URL", sink.url()),
    ];
    let app = TestApp::start_with_clock(backend, &url, &extra, clock.clone()).await;
    let (org, token) = app.org_with_admin("Acme").await;
    for email in ["ada@acme.example", "bob@acme.example"] {
        app.add_manual(&org, &token, email).await;
        app.wait_for_status(&org, &token, email, "synced", 10).await;
    }
    welcomes_out(&app, &sink, 2).await;
    let pem = crate::support::certificate(
        "idp.acme.example",
        start - time::Duration::days(1),
        start + time::Duration::days(40),
    );
    let r = app.request(Method::PUT, &format!("/api/v1/orgs/{org}/sso"), Some(&token))
            .json(&serde_json::json!({ "idp_entity_id": "https://idp.example", "idp_sso_url": "https://idp.example/sso", "idp_certificate_pem": pem }))
            .send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.app.trust().run_certificate_sweep().await.unwrap().sent,
        2
    );
    // (METHOD, UID, SEQUENCE, STATUS) of the calendar in the last message to `who`.
    let calendar_to = |who: &str| {
        let messages = sink.messages();
        let m = messages
            .iter()
            .rev()
            .find(|m| m.rcpt_to.iter().any(|r| r == who))
            .expect("a message");
        let parsed = mail_parser::MessageParser::default()
            .parse(&m.data)
            .unwrap();
        let part = parsed
            .attachments()
            .find(|a| a.is_content_type("text", "calendar"))
            .expect("a calendar");
        let calendar: Calendar = part.text_contents().unwrap().parse().expect("RFC 5545");
        let CalendarComponent::Event(e) = &calendar.components[0] else {
            panic!("an event")
        };
        (
            calendar.property_value("METHOD").unwrap().to_owned(),
            e.get_uid().unwrap().to_owned(),
            e.get_sequence().unwrap(),
            e.property_value("STATUS").unwrap().to_owned(),
            parsed.subject().unwrap().to_owned(),
        )
    };
    let (method, uid, seq, status, _) = calendar_to("bob@acme.example");
    assert_eq!((method.as_str(), status.as_str()), ("PUBLISH", "CONFIRMED"));
    // A contact added later received no event: its removal sends nothing.
    app.add_manual(&org, &token, "carol@acme.example").await;
    app.wait_for_status(&org, &token, "carol@acme.example", "synced", 10)
        .await;
    welcomes_out(&app, &sink, 1).await;

    let contacts = app.contacts(&org, &token).await;
    for who in ["bob@acme.example", "carol@acme.example"] {
        let id = contact(&contacts, who)["id"].as_str().unwrap().to_owned();
        let r = app
            .delete(&format!("/api/v1/orgs/{org}/it-contacts/{id}"), &token)
            .await;
        assert!(r.status().is_success(), "{}", r.status());
    }
    poll_mail(&sink, "the cancellation", |m| {
        to(m, "bob@acme.example", "no longer an IT contact").len() == 1
    })
    .await;
    let (method, cancel_uid, cancel_seq, status, subject) = calendar_to("bob@acme.example");
    assert_eq!((method.as_str(), status.as_str()), ("CANCEL", "CANCELLED"));
    assert_eq!(cancel_uid, uid, "the same event");
    assert!(cancel_seq > seq);
    assert_eq!(subject, "You are no longer an IT contact for Acme");
    // Real time: each removal's cancellations run in a task of their own.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let all = mails(&sink);
    assert!(
        to(&all, "carol@acme.example", "no longer").is_empty(),
        "carol had no event"
    );
    assert!(to(&all, "ada@acme.example", "no longer").is_empty());
    let log: Value = app
        .get(&format!("/api/v1/orgs/{org}/mail-deliveries"), &token)
        .await
        .json()
        .await
        .unwrap();
    let cancelled: Vec<&Value> = log["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "calendar_cancelled")
        .collect();
    assert_eq!(cancelled.len(), 1, "{cancelled:?}");
    assert_eq!(cancelled[0]["status"], "sent");
}

async fn the_preview_of_a_day_is_what_that_days_sweep_sends(backend: Backend) {
    let sink = SmtpSink::start().await;
    let start = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp::from_datetime(start)));
    let (url, _db) = fresh_database(backend).await.expect("database");
    let extra = [
        ("SMARTCORE_MAIL", "smtp".to_owned()),
        ("SMARTCORE_SMTP_URL", sink.url()),
    ];
    let app = TestApp::start_with_clock(backend, &url, &extra, clock.clone()).await;
    // Two organisations, one certificate each: one inside its 60-day window from the start,
    // one that enters it on day 15.
    let mut orgs = Vec::new();
    for (name, days) in [("Acme", 40), ("Globex", 75)] {
        let (org, token) = app.org_with_admin(name).await;
        for who in ["ada", "grace"] {
            let email = format!("{who}@{}.example", name.to_lowercase());
            app.add_manual(&org, &token, &email).await;
            app.wait_for_status(&org, &token, &email, "synced", 10)
                .await;
        }
        let pem = crate::support::certificate(
            &format!("idp.{name}.example"),
            start - time::Duration::days(1),
            start + time::Duration::days(days),
        );
        let r = app.request(Method::PUT, &format!("/api/v1/orgs/{org}/sso"), Some(&token))
                .json(&serde_json::json!({ "idp_entity_id": "https://idp.example", "idp_sso_url": "https://idp.example/sso", "idp_certificate_pem": pem }))
                .send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        orgs.push((org, token, name.to_lowercase()));
    }
    // Day 0: the coming thresholds name today's recipients, with their dates.
    let r = app
        .get(
            &format!("/api/v1/orgs/{}/reminders/upcoming", orgs[0].0),
            &orgs[0].1,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let preview: Value = r.json().await.unwrap();
    let thresholds = preview["certificates"][0]["thresholds"].as_array().unwrap();
    assert_eq!(thresholds[0]["threshold"], "d60");
    assert_eq!(thresholds[0]["current"], true);
    assert_eq!(thresholds[1]["threshold"], "d30");
    assert_eq!(thresholds[1]["recipients"].as_array().unwrap().len(), 2);
    assert_eq!(thresholds[1]["recipients"][0]["state"], "will_receive");
    let expected_d30 = Timestamp::from_datetime(start + time::Duration::days(10)).to_rfc3339();
    assert_eq!(thresholds[1]["at"], expected_d30.as_str());

    let store = app.store().await.clone();
    let sent = |org: String| {
        let store = store.clone();
        async move {
            let mut v: Vec<(String, String, String)> = store
                .reminder_states(&org)
                .await
                .unwrap()
                .into_iter()
                .filter(|r| r.status.as_str() == "sent")
                .map(|r| (r.fingerprint_sha256, r.threshold, r.email))
                .collect();
            v.sort();
            v
        }
    };
    let mut total = 0;
    for day in 0..90i64 {
        clock.set(Timestamp::from_datetime(
            start + time::Duration::days(day) + time::Duration::hours(1),
        ));
        // Additions and removals along the way.
        let (org, token, domain) = &orgs[(day as usize) % 2];
        if day % 9 == 4 {
            let email = format!("late{day}@{domain}.example");
            app.add_manual(org, token, &email).await;
            app.wait_for_status(org, token, &email, "synced", 10).await;
        }
        if day % 13 == 7 {
            let list = app.contacts(org, token).await;
            if list.len() > 1 {
                let r = app
                    .delete(
                        &format!(
                            "/api/v1/orgs/{org}/it-contacts/{}",
                            list[0]["id"].as_str().unwrap()
                        ),
                        token,
                    )
                    .await;
                assert_eq!(r.status(), StatusCode::OK);
            }
        }
        let mut previewed = Vec::new();
        let mut before = Vec::new();
        for (org, token, _) in &orgs {
            let r = app
                .get(&format!("/api/v1/orgs/{org}/reminders/upcoming"), token)
                .await;
            let preview: Value = r.json().await.unwrap();
            for c in preview["certificates"].as_array().unwrap() {
                for t in c["thresholds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|t| t["current"] == true)
                {
                    for r in t["recipients"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|r| r["state"] == "due")
                    {
                        previewed.push((
                            c["fingerprint_sha256"].as_str().unwrap().to_owned(),
                            t["threshold"].as_str().unwrap().to_owned(),
                            r["email"].as_str().unwrap().to_owned(),
                        ));
                    }
                }
            }
            before.extend(sent(org.clone()).await);
        }
        let report = app.app.trust().run_certificate_sweep().await.unwrap();
        let mut after = Vec::new();
        for (org, _, _) in &orgs {
            after.extend(sent(org.clone()).await);
        }
        let mut new: Vec<_> = after.into_iter().filter(|s| !before.contains(s)).collect();
        new.sort();
        previewed.sort();
        assert_eq!(new, previewed, "day {day}: {report:?}");
        assert_eq!(report.sent, new.len(), "day {day}");
        total += new.len();
    }
    assert!(total >= 20, "the schedule was exercised: {total} reminders");
}

async fn a_welcome_left_by_a_killed_sender_goes_out_once_its_lease_has_run_out(backend: Backend) {
    // The test alone sends (test services run no workers), with a clock it controls, so a
    // lease runs out when the clock says so (the default lease: 10 s).
    let sink = SmtpSink::start().await;
    let t0 = Timestamp::from_datetime(time::OffsetDateTime::now_utc());
    let clock = Arc::new(ManualClock::new(t0));
    let (url, _db) = fresh_database(backend).await.expect("database");
    let extra = [
        ("SMARTCORE_MAIL", "smtp".to_owned()),
        ("SMARTCORE_SMTP_URL", sink.url()),
    ];
    let app = TestApp::start_with_clock(backend, &url, &extra, clock.clone()).await;
    let (org, token) = app.org_with_admin("Acme").await;
    for email in ["ada@acme.example", "grace@acme.example", "lin@acme.example"] {
        app.add_manual(&org, &token, email).await;
    }
    // Registered by hand (the sync would send the welcome itself): each welcome is now due.
    let store = app.store().await;
    let registered = |email: &'static str| {
        let app = app.app.clone();
        async move {
            let now = app.now();
            for job in store
                .claim_due_contacts("sync#1", now, 10_000, 10)
                .await
                .unwrap()
            {
                if job.email == email {
                    assert!(
                        store
                            .mark_synced(
                                &job.contact_id,
                                "sync#1",
                                &format!("idc_{email}"),
                                false,
                                now
                            )
                            .await
                            .unwrap()
                    );
                }
            }
            store.release_leases("sync#1").await.unwrap();
        }
    };
    registered("ada@acme.example").await;
    registered("grace@acme.example").await;

    // Two senders take one welcome each; the first is then killed (it never renews), the
    // second lives and renews its lease.
    let lease = |t: Timestamp| t.plus_millis(10_000);
    let dead = store
        .take_welcomes("dead#1", t0, lease(t0), None, 1)
        .await
        .unwrap();
    let live = store
        .take_welcomes("live#1", t0, lease(t0), None, 1)
        .await
        .unwrap();
    assert_eq!((dead.len(), live.len()), (1, 1));
    let (dead_to, live_to) = (dead[0].email.clone(), live[0].email.clone());
    assert_ne!(dead_to, live_to);
    assert_eq!(
        app.app.trust().send_welcomes(None).await.unwrap(),
        0,
        "both are held"
    );
    clock.set(t0.plus_millis(8_000));
    assert_eq!(
        store
            .renew_leases("live#1", lease(clock.now()))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        app.app.trust().send_welcomes(None).await.unwrap(),
        0,
        "both are still held"
    );

    // The dead sender's lease has run out: the next pass sends its welcome, once; the live
    // sender's, renewed, is taken by nobody else.
    clock.set(t0.plus_millis(11_000));
    assert_eq!(app.app.trust().send_welcomes(None).await.unwrap(), 1);
    let now = clock.now();
    assert!(
        store
            .take_welcomes("other#1", now, lease(now), None, 10)
            .await
            .unwrap()
            .is_empty(),
        "the renewed lease holds"
    );
    assert_eq!(
        app.app.trust().send_welcomes(None).await.unwrap(),
        0,
        "not twice"
    );
    let welcomes = |sink: &SmtpSink| -> Vec<String> {
        let mut to: Vec<String> = mails(sink)
            .into_iter()
            .filter(|m| m.subject.starts_with("You are now an IT contact"))
            .flat_map(|m| m.to)
            .collect();
        to.sort();
        to
    };
    assert_eq!(welcomes(&sink), [dead_to]);

    // The live sender gives up what it still holds: it goes out at once.
    clock.set(t0.plus_millis(12_000));
    assert_eq!(store.release_leases("live#1").await.unwrap(), 1);
    assert_eq!(app.app.trust().send_welcomes(None).await.unwrap(), 1);
    assert_eq!(app.app.trust().send_welcomes(None).await.unwrap(), 0);
    assert_eq!(
        welcomes(&sink),
        ["ada@acme.example", "grace@acme.example"],
        "one welcome each"
    );

    // A deferred welcome waits for its retry (five minutes): releasing the pass's leases
    // does not make it due at once.
    registered("lin@acme.example").await;
    sink.fail_next(1);
    assert_eq!(app.app.trust().send_welcomes(None).await.unwrap(), 1);
    assert_eq!(sink.deferred_count(), 1);
    clock.set(t0.plus_millis(12_000 + 60_000));
    assert_eq!(
        app.app.trust().send_welcomes(None).await.unwrap(),
        0,
        "waiting for its retry"
    );
    clock.set(t0.plus_millis(12_000 + 5 * 60_000 + 1_000));
    assert_eq!(app.app.trust().send_welcomes(None).await.unwrap(), 1);
    assert_eq!(
        welcomes(&sink),
        ["ada@acme.example", "grace@acme.example", "lin@acme.example"]
    );
    let log: Value = app
        .get(&format!("/api/v1/orgs/{org}/mail-deliveries"), &token)
        .await
        .json()
        .await
        .unwrap();
    let statuses: Vec<&str> = log["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "welcome")
        .map(|d| d["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "sent").count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == "deferred").count(),
        1,
        "{statuses:?}"
    );
}
on_each_backend!(
    a_contact_is_welcomed_once_across_instances_and_not_again_on_a_re_add,
    not_me_flags_the_contact_and_tells_the_administrators_once,
    links_of_a_removed_contact_are_gone,
    re_confirmation_asks_again_and_reports_the_unanswered_once,
    test_alerts_look_real_show_their_outcome_and_are_limited,
    reminders_carry_a_calendar_event_that_updates_and_is_cancelled_on_renewal,
    removing_a_contact_cancels_the_calendar_event_it_received,
    the_preview_of_a_day_is_what_that_days_sweep_sends,
    a_welcome_left_by_a_killed_sender_goes_out_once_its_lease_has_run_out
);

/// For other tests that count messages: drives `app`'s queues until `n` welcome notices have arrived (issue
/// 16: every contact gets one when it is first Synced), then forgets everything received.
pub(crate) async fn welcomes_out(app: &TestApp, sink: &SmtpSink, n: usize) {
    wait_mail(app, sink, "the welcome notices", |m| {
        m.iter()
            .filter(|m| m.subject.starts_with("You are now an IT contact"))
            .count()
            >= n
    })
    .await;
    sink.clear();
}

/// For tests that make the next mail fail: drives `app`'s queues until the administrators'
/// "has not confirmed" notice for each of `contacts` has arrived (sent by the trust pass once
/// a welcome's request is 30 days old), so it cannot take the failure meant for another mail.
pub(crate) async fn unconfirmed_notices_out(app: &TestApp, sink: &SmtpSink, contacts: &[&str]) {
    wait_mail(app, sink, "the unconfirmed notices", |m| {
        contacts.iter().all(|c| {
            m.iter()
                .any(|m| m.subject.contains(&format!("{c} has not confirmed")))
        })
    })
    .await;
}

/// The e-mail address of the organisation's administrator (created by `org_with_admin`).
async fn admin_email(s: &Setup) -> String {
    s.app.store().await.org_admins(&s.org).await.unwrap()[0]
        .email
        .clone()
}
