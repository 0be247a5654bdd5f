//! Members and invitations (issue 12), through the HTTP API and the pages, on both databases:
//! the members list in pages, role changes and removals (never of the last administrator),
//! loss of access at once on every instance, invitations (single-use, 7 days, stored as a
//! hash, raced acceptances, limits), the CLI, and the authorisation matrix.

use crate::support::{Backend, TestApp, fresh_database, problem};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use smartcore_app::ManualClock;
use smartcore_domain::{Role, Timestamp};
use smtp_sink::SmtpSink;
use std::sync::Arc;

/// A service sending mail to an SMTP sink, on a clock the test moves.
struct Env {
    app: TestApp,
    sink: SmtpSink,
    clock: Arc<ManualClock>,
    _db: crate::support::TestDatabase,
}

async fn env(backend: Backend) -> Option<Env> {
    let sink = SmtpSink::start().await;
    let clock = Arc::new(ManualClock::new(Timestamp::from_datetime(
        time::OffsetDateTime::now_utc(),
    )));
    let (url, db) = fresh_database(backend).await?;
    let extra = [
        ("SMARTCORE_MAIL", "smtp".to_owned()),
        ("SMARTCORE_SMTP_URL", sink.url()),
    ];
    let app = TestApp::start_with_clock(backend, &url, &extra, clock.clone()).await;
    Some(Env {
        app,
        sink,
        clock,
        _db: db,
    })
}

/// The newest invitation link mailed to `email`.
fn link_to(sink: &SmtpSink, email: &str) -> String {
    let messages = sink.messages();
    // The newest invitation: other mail to the same address (an IT contact's welcome, sent by
    // the trust pass) may arrive after it.
    let text = messages
        .iter()
        .rev()
        .filter(|m| m.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(email)))
        .map(|m| {
            let parsed = mail_parser::MessageParser::default()
                .parse(&m.data)
                .expect("an RFC 5322 message");
            parsed.body_text(0).expect("a text part").into_owned()
        })
        .find(|text| text.contains("/invitations/"))
        .unwrap_or_else(|| panic!("no invitation mailed to {email}"));
    let start = text.find("/invitations/").expect("an invitation link");
    let begin = text[..start].rfind("http").expect("an absolute link");
    text[begin..].split_whitespace().next().unwrap().to_owned()
}

fn mail_text(sink: &SmtpSink, email: &str) -> (String, String) {
    let messages = sink.messages();
    let message = messages
        .iter()
        .rev()
        .find(|m| m.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(email)))
        .unwrap();
    let parsed = mail_parser::MessageParser::default()
        .parse(&message.data)
        .unwrap();
    (
        parsed.subject().unwrap_or_default().to_owned(),
        parsed.body_text(0).unwrap().into_owned(),
    )
}

async fn invite(app: &TestApp, org: &str, token: &str, email: &str, role: &str) -> Response {
    app.post(
        &format!("/api/v1/orgs/{org}/invitations"),
        token,
        json!({ "email": email, "role": role }),
    )
    .await
}

async fn patch_role(app: &TestApp, org: &str, token: &str, id: &str, role: &str) -> Response {
    app.request(
        Method::PATCH,
        &format!("/api/v1/orgs/{org}/members/{id}"),
        Some(token),
    )
    .json(&json!({ "role": role }))
    .send()
    .await
    .unwrap()
}

async fn accept_new(app: &TestApp, link: &str, name: &str, password: &str) -> Response {
    app.http
        .post(link)
        .form(&[("name", name), ("password", password)])
        .send()
        .await
        .unwrap()
}

async fn members_page_json(app: &TestApp, org: &str, token: &str, query: &str) -> Value {
    let r = app
        .get(&format!("/api/v1/orgs/{org}/members?{query}"), token)
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{query}");
    r.json().await.unwrap()
}

async fn audit_actions(app: &TestApp, org: &str, token: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/api/v1/orgs/{org}/audit-log"), token)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["events"].as_array().unwrap().clone()
}

mod access;
mod cli;
mod invitations;
mod membership;
mod navigation;
