//! Mail budgets (issue 24): one welcome per organisation and address per 7 days whatever the
//! add/remove churn, at most 100 contact additions an hour per organisation, at most 3 resends
//! a day per invitation; each counted in /metrics.

use crate::support::{Backend, TestApp, fresh_database, problem};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use smartcore_app::{ManualClock, SyncSettings};
use smartcore_domain::Timestamp;
use std::sync::Arc;

const METRICS_TOKEN: &str = "metrics-token-0123456789abcdef";
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

async fn start(backend: Backend) -> (TestApp, Arc<ManualClock>, crate::support::TestDatabase) {
    let clock = Arc::new(ManualClock::new(Timestamp::from_datetime(
        time::OffsetDateTime::now_utc(),
    )));
    let (url, db) = fresh_database(backend).await.expect("database");
    let extra = [("SMARTCORE_METRICS_TOKEN", METRICS_TOKEN.to_owned())];
    let app = TestApp::start_with_clock(backend, &url, &extra, clock.clone()).await;
    (app, clock, db)
}

async fn limit_refusals(app: &TestApp, limit: &str) -> f64 {
    let text = app
        .request(Method::GET, "/metrics", Some(METRICS_TOKEN))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = format!("smartcore_limit_refusals_total{{limit=\"{limit}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .and_then(|v| v.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

async fn welcomes_to(app: &TestApp, org: &str, token: &str, email: &str) -> usize {
    let log: Value = app
        .get(&format!("/api/v1/orgs/{org}/mail-deliveries"), token)
        .await
        .json()
        .await
        .unwrap();
    log["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "welcome" && d["email"] == email)
        .count()
}

/// Registers what is due at the identity side and sends the welcomes that are due.
async fn drive(app: &TestApp) {
    app.app
        .contacts()
        .drain_queues("test", SyncSettings::default())
        .await
        .expect("sync");
    app.app.trust().send_welcomes(None).await.expect("welcomes");
}

async fn add_synced(app: &TestApp, org: &str, token: &str, email: &str) -> String {
    let c = app.add_manual(org, token, email).await;
    drive(app).await;
    app.wait_for_status(org, token, email, "synced", 10).await;
    c["id"].as_str().unwrap().to_owned()
}

async fn remove(app: &TestApp, org: &str, token: &str, id: &str) {
    let r = app
        .delete(&format!("/api/v1/orgs/{org}/it-contacts/{id}"), token)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

async fn an_address_is_welcomed_once_a_week_whatever_the_churn(backend: Backend) {
    let (app, clock, _db) = start(backend).await;
    let (org, token) = app.org_with_admin("Churn Ltd").await;
    for _ in 0..4 {
        let id = add_synced(&app, &org, &token, "it@churn.example").await;
        remove(&app, &org, &token, &id).await;
    }
    let id = add_synced(&app, &org, &token, "it@churn.example").await;
    assert_eq!(welcomes_to(&app, &org, &token, "it@churn.example").await, 1);
    assert_eq!(limit_refusals(&app, "welcome_per_address").await, 4.0);
    // Another address is welcomed as usual.
    add_synced(&app, &org, &token, "other@churn.example").await;
    assert_eq!(
        welcomes_to(&app, &org, &token, "other@churn.example").await,
        1
    );

    // A week later the address may be welcomed again.
    remove(&app, &org, &token, &id).await;
    clock.advance_millis(7 * DAY_MS + 1);
    add_synced(&app, &org, &token, "it@churn.example").await;
    assert_eq!(welcomes_to(&app, &org, &token, "it@churn.example").await, 2);
}

async fn a_contact_removed_before_its_welcome_went_out_keeps_the_address_welcome(backend: Backend) {
    let (app, _clock, _db) = start(backend).await;
    let (org, token) = app.org_with_admin("Mistake Ltd").await;
    // Synced, its welcome claimed but not sent yet, and removed at once.
    app.add_manual(&org, &token, "it@mistake.example").await;
    app.app
        .contacts()
        .drain_queues("test", SyncSettings::default())
        .await
        .unwrap();
    let id = app.contacts(&org, &token).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    remove(&app, &org, &token, &id).await;
    drive(&app).await;
    assert_eq!(
        welcomes_to(&app, &org, &token, "it@mistake.example").await,
        0
    );
    // Added again the same day: welcomed once, nothing refused.
    add_synced(&app, &org, &token, "it@mistake.example").await;
    assert_eq!(
        welcomes_to(&app, &org, &token, "it@mistake.example").await,
        1
    );
    assert_eq!(limit_refusals(&app, "welcome_per_address").await, 0.0);
}

async fn an_organisation_adds_at_most_100_contacts_an_hour(backend: Backend) {
    let (app, clock, _db) = start(backend).await;
    let (org, token) = app.org_with_admin("Busy Ltd").await;
    let (other, other_token) = app.org_with_admin("Quiet Ltd").await;
    let mut ids = Vec::new();
    for i in 0..100 {
        let c = app
            .add_manual(&org, &token, &format!("c{i:03}@busy.example"))
            .await;
        ids.push(c["id"].as_str().unwrap().to_owned());
        if ids.len() == 15 {
            // Stay under the list's 20 with removals; removals do not give additions back.
            for id in ids.drain(..) {
                assert_eq!(
                    app.delete(&format!("/api/v1/orgs/{org}/it-contacts/{id}"), &token)
                        .await
                        .status(),
                    StatusCode::OK
                );
            }
        }
    }
    let r = app
        .add_contact(&org, &token, json!({ "email": "one-more@busy.example" }))
        .await;
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3500..=3600).contains(&retry_after), "{retry_after}");
    let body = problem(r, 429, "contact_additions_limited").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("100 IT contacts in the last hour"),
        "{body}"
    );
    assert!(
        !app.contacts(&org, &token)
            .await
            .iter()
            .any(|c| c["email"] == "one-more@busy.example"),
        "nothing added"
    );
    assert_eq!(limit_refusals(&app, "contact_additions").await, 1.0);
    // The page says so in words, beside the form, and keeps the input.
    app.member(
        &org,
        "Pat Admin",
        "pat@busy.example",
        smartcore_domain::Role::Admin,
    )
    .await;
    let cookie = app.sign_in("pat@busy.example").await;
    let r = app
        .http
        .post(format!(
            "{}/orgs/{org}/settings/authentication/it-contacts",
            app.base_url
        ))
        .header("cookie", &cookie)
        .header("origin", &app.base_url)
        .header("sec-fetch-site", "same-origin")
        .form(&[("way", "manual"), ("email", "from-page@busy.example")])
        .send()
        .await
        .unwrap();
    // Issue 23: the refusal comes back through a redirect (nothing is left at the POST).
    let (_, html) = app.follow(r, &cookie).await;
    assert!(
        html.contains("added 100 IT contacts in the last hour, the most allowed. Try again in"),
        "{html}"
    );
    assert!(
        html.contains("value=\"from-page@busy.example\""),
        "input kept"
    );
    // Other organisations are not affected.
    app.add_manual(&other, &other_token, "it@quiet.example")
        .await;
    // An hour after the first addition there is room again.
    clock.advance_millis(HOUR_MS);
    app.add_manual(&org, &token, "one-more@busy.example").await;
}

async fn an_invitation_is_resent_at_most_three_times_a_day(backend: Backend) {
    let (app, clock, _db) = start(backend).await;
    let (org, token) = app.org_with_admin("Invites Ltd").await;
    let r = app
        .post(
            &format!("/api/v1/orgs/{org}/invitations"),
            &token,
            json!({ "email": "new@invites.example", "role": "member" }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resend = || {
        app.request(
            Method::POST,
            &format!("/api/v1/orgs/{org}/invitations/{id}/resend"),
            Some(&token),
        )
        .send()
    };
    for _ in 0..3 {
        assert_eq!(resend().await.unwrap().status(), StatusCode::OK);
        clock.advance_millis(60_000);
    }
    let r = resend().await.unwrap();
    assert!(r.headers().contains_key("retry-after"));
    let body = problem(r, 429, "invitation_resends_limited").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("new@invites.example"),
        "{body}"
    );
    assert_eq!(limit_refusals(&app, "invitation_resends").await, 1.0);
    // Another invitation of the same organisation is not affected.
    let r = app
        .post(
            &format!("/api/v1/orgs/{org}/invitations"),
            &token,
            json!({ "email": "second@invites.example", "role": "member" }),
        )
        .await;
    let second = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .request(
            Method::POST,
            &format!("/api/v1/orgs/{org}/invitations/{second}/resend"),
            Some(&token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // A day after the first resend, once more.
    clock.advance_millis(DAY_MS - 3 * 60_000);
    assert_eq!(resend().await.unwrap().status(), StatusCode::OK);
    let doc: Value = app
        .http
        .get(format!("{}/api/openapi.json", app.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/api/v1/orgs/{org}/it-contacts"]["post"]["responses"]["429"].is_object());
}
on_each_backend!(
    an_address_is_welcomed_once_a_week_whatever_the_churn,
    a_contact_removed_before_its_welcome_went_out_keeps_the_address_welcome,
    an_organisation_adds_at_most_100_contacts_an_hour,
    an_invitation_is_resent_at_most_three_times_a_day
);

/// `email`'s deliveries in `org`, oldest first: (kind, status, error).
async fn deliveries_to(
    app: &TestApp,
    org: &str,
    token: &str,
    email: &str,
) -> Vec<(String, String, String)> {
    let log: Value = app
        .get(&format!("/api/v1/orgs/{org}/mail-deliveries"), token)
        .await
        .json()
        .await
        .unwrap();
    let mut out: Vec<(String, String, String)> = log["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["email"] == email)
        .map(|d| {
            let text = |k: &str| d[k].as_str().unwrap_or_default().to_owned();
            (text("kind"), text("status"), text("error"))
        })
        .collect();
    out.reverse();
    out
}

/// Drives the queues ([`TestApp::drain`]), then expects `email` to have a delivery of `kind`
/// with `status` in `org`; returns its error text.
async fn wait_for_delivery(
    app: &TestApp,
    org: &str,
    token: &str,
    email: &str,
    kind: &str,
    status: &str,
) -> String {
    app.drain().await;
    let found = deliveries_to(app, org, token, email).await;
    match found.iter().find(|(k, s, _)| k == kind && s == status) {
        Some((_, _, error)) => error.clone(),
        None => panic!("no {status} {kind} to {email}: {found:?}"),
    }
}

/// Issue 24: a budget per recipient across every kind of mail (reminders exempt).
mod per_recipient {
    use super::*;

    async fn an_address_gets_at_most_20_mails_a_day_whatever_the_kind_and_organisation(
        backend: Backend,
    ) {
        const BUSY: &str = "busy@partner.example";
        let (app, clock, _db) = start(backend).await;
        let token = app.user("admin@budget.example", false).await;
        let mut orgs = Vec::new();
        for i in 0..21 {
            let org = app
                .app
                .operations()
                .create_org(&format!("Budget {i}"))
                .await
                .unwrap();
            app.app
                .operations()
                .add_member(&org, "admin@budget.example", smartcore_domain::Role::Admin)
                .await
                .unwrap();
            orgs.push(org.id);
        }
        // The partner's address is an IT contact of 20 organisations: 20 welcomes, one a kind.
        for org in &orgs[..20] {
            app.add_manual(org, &token, BUSY).await;
            wait_for_delivery(&app, org, &token, BUSY, "welcome", "sent").await;
        }
        // The 21st mail of the day, of any kind, waits: an invitation…
        let r = app
            .post(
                &format!("/api/v1/orgs/{}/invitations", orgs[0]),
                &token,
                json!({ "email": BUSY, "role": "member" }),
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "the invitation itself is made"
        );
        let error = wait_for_delivery(&app, &orgs[0], &token, BUSY, "invitation", "deferred").await;
        assert!(error.contains("20 mails from us within a day"), "{error}");
        // … and the welcome of a 21st organisation, shown to its administrators as deferred
        // while the contact is Synced.
        app.add_manual(&orgs[20], &token, BUSY).await;
        app.wait_for_status(&orgs[20], &token, BUSY, "synced", 10)
            .await;
        let error = wait_for_delivery(&app, &orgs[20], &token, BUSY, "welcome", "deferred").await;
        assert!(
            error.contains(BUSY) && error.contains("deferred until"),
            "{error}"
        );
        assert!(limit_refusals(&app, "mail_per_recipient").await >= 2.0);
        // Another address of the same organisation is not held back.
        app.add_manual(&orgs[20], &token, "other@partner.example")
            .await;
        wait_for_delivery(
            &app,
            &orgs[20],
            &token,
            "other@partner.example",
            "welcome",
            "sent",
        )
        .await;

        // A day later the deferred welcome goes out on its own.
        clock.advance_millis(DAY_MS + 1);
        wait_for_delivery(&app, &orgs[20], &token, BUSY, "welcome", "sent").await;
    }
    on_each_backend!(an_address_gets_at_most_20_mails_a_day_whatever_the_kind_and_organisation);
}
