//! Issue 16 in the browser: the contact badges ("Says they are not responsible", confirmation,
//! the last test alert), the test-alert buttons and the Single Sign-On page's "Upcoming
//! certificate reminders", with JavaScript (Chromium, axe-core clean) and without (plain forms).

use crate::axe::{axe_source, serious_violations};
use crate::{ADMIN_EMAIL, Scene};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

/// Two synced contacts, one of which said "not me", and a watched certificate.
async fn prepare(scene: &Scene) -> String {
    let a = scene
        .app
        .add_manual(&scene.org, &scene.admin_token, "it@partner.example")
        .await;
    scene
        .app
        .add_manual(&scene.org, &scene.admin_token, "helpdesk@partner.example")
        .await;
    for email in ["it@partner.example", "helpdesk@partner.example"] {
        scene
            .app
            .wait_for_status(&scene.org, &scene.admin_token, email, "synced", 10)
            .await;
    }
    let org = smartcore_domain::OrgId::parse(&scene.org).unwrap();
    let id = a["id"].as_str().unwrap().to_owned();
    assert!(
        scene
            .app
            .store()
            .await
            .flag_not_responsible(&org, &id, scene.app.app.now())
            .await
            .unwrap()
    );
    let now = time::OffsetDateTime::now_utc();
    let pem = crate::support::certificate(
        "idp.acme.example",
        now - time::Duration::days(1),
        now + time::Duration::days(45),
    );
    let r = scene
        .app
        .request(reqwest::Method::PUT, &format!("/api/v1/orgs/{}/sso", scene.org), Some(&scene.admin_token))
        .json(&json!({ "idp_entity_id": "https://idp.acme.example", "idp_sso_url": "https://idp.acme.example/sso", "idp_certificate_pem": pem }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    id
}

/// The "Not me" link in the welcome to `email`, read from the outbox (written once the queues
/// are drained).
fn not_me_link(scene: &Scene, email: &str) -> String {
    for entry in std::fs::read_dir(scene.app.outbox_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let bytes = std::fs::read(entry.path()).unwrap_or_default();
        let Some(m) = mail_parser::MessageParser::default().parse(&bytes) else {
            continue;
        };
        let to_them = m.to().and_then(|a| a.first()).and_then(|a| a.address()) == Some(email);
        if to_them && m.subject().is_some_and(|s| s.starts_with("You are now")) {
            let text = m.body_text(0).unwrap().into_owned();
            return text
                .split_whitespace()
                .find(|w| w.contains("/contact/not-me/"))
                .unwrap()
                .to_owned();
        }
    }
    panic!("no welcome to {email} in the outbox");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn badges_preview_and_test_alerts_work_with_javascript_and_are_accessible() {
    let Some(axe) = axe_source() else {
        return;
    };
    let Some((scene, b)) = Scene::with_browser(&[]).await else {
        return;
    };
    prepare(&scene).await;
    let mut found = Vec::new();
    b.sign_in(ADMIN_EMAIL).await;
    b.goto(&scene.page()).await;
    assert!(b.exists("[data-not-responsible]").await, "the not-me badge");
    assert!(b.exists(".keep-form button").await);
    assert!(
        b.text("#contacts-confirmed")
            .await
            .contains("0 of 2 contacts confirmed")
    );
    found.extend(
        serious_violations(&b, &axe)
            .await
            .into_iter()
            .map(|v| format!("authentication: {v}")),
    );

    b.find("#test-all-button").await.click().await.unwrap();
    b.eventually(
        "the test alerts' outcome",
        Duration::from_secs(5),
        "return document.querySelectorAll('[data-test-alert=\"sent\"]').length === 2",
    )
    .await;
    assert!(b.text("#notice").await.contains("Test alert sent"));
    b.screenshot("test-alerts").await;
    found.extend(
        serious_violations(&b, &axe)
            .await
            .into_iter()
            .map(|v| format!("after test alerts: {v}")),
    );

    // The page behind the "Not me" link of a welcome (no sign-in needed), before and after.
    let link = not_me_link(&scene, "helpdesk@partner.example");
    b.goto(link.trim_start_matches(&scene.app.base_url)).await;
    assert!(b.exists("#link-action").await);
    found.extend(
        serious_violations(&b, &axe)
            .await
            .into_iter()
            .map(|v| format!("not-me page: {v}")),
    );
    b.find("#link-action").await.click().await.unwrap();
    b.eventually(
        "the flag recorded",
        Duration::from_secs(5),
        "return document.querySelector('#link-done') !== null",
    )
    .await;
    found.extend(
        serious_violations(&b, &axe)
            .await
            .into_iter()
            .map(|v| format!("not-me done: {v}")),
    );

    b.goto(&format!("/orgs/{}/settings/sso", scene.org)).await;
    assert!(
        b.exists("#upcoming table.upcoming").await,
        "the preview section"
    );
    assert!(
        b.text("#upcoming")
            .await
            .contains("helpdesk@partner.example")
    );
    b.screenshot("upcoming-reminders").await;
    found.extend(
        serious_violations(&b, &axe)
            .await
            .into_iter()
            .map(|v| format!("upcoming: {v}")),
    );
    assert!(
        found.is_empty(),
        "serious or critical accessibility violations:\n{}",
        found.join("\n")
    );
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn badges_preview_and_test_alerts_work_without_javascript() {
    let Some(scene) = Scene::new(&[]).await else {
        return;
    };
    let flagged = prepare(&scene).await;
    let cookie = scene.app.sign_in(ADMIN_EMAIL).await;
    let html = scene.app.page(&scene.page(), &cookie).await;
    assert!(html.contains("data-not-responsible"));
    assert!(html.contains("0 of 2 contacts confirmed"));
    let post = |path: String| {
        let (http, base, cookie) = (
            scene.app.http.clone(),
            scene.app.base_url.clone(),
            cookie.clone(),
        );
        async move {
            http.post(format!("{base}{path}"))
                .header("cookie", cookie)
                .header("sec-fetch-site", "same-origin")
                .send()
                .await
                .unwrap()
        }
    };
    let r = post(format!("{}/it-contacts/{flagged}/test-alert", scene.page())).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .contains("tested=1")
    );
    let html = scene
        .app
        .page(&format!("{}?tested=1", scene.page()), &cookie)
        .await;
    assert!(html.contains("Test alert sent"));
    assert_eq!(html.matches("data-test-alert=\"sent\"").count(), 1);
    let r = post(format!("{}/it-contacts/{flagged}/keep", scene.page())).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = scene.app.page(&scene.page(), &cookie).await;
    assert!(
        !html.contains("data-not-responsible"),
        "kept: the badge is gone"
    );
    let html = scene
        .app
        .page(&format!("/orgs/{}/settings/sso", scene.org), &cookie)
        .await;
    assert!(html.contains("Upcoming certificate reminders"));
    assert!(html.contains("data-threshold=\"d60\""), "{html}");
    assert!(
        html.contains("Due now") || html.contains("Delivered"),
        "{html}"
    );
}
