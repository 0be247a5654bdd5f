//! axe-core over every page and dialog an administrator meets: sign-in, the Authentication
//! page with its dialogs, the audit log, the Single Sign-On page and the account page.

use crate::axe::{axe_source, serious_violations};
use crate::driver::keys::{ENTER, ESCAPE};
use crate::{ADMIN_EMAIL, Scene};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axe_core_finds_no_serious_accessibility_violations() {
    let Some(axe) = axe_source() else {
        return;
    };
    let Some((scene, b)) = Scene::with_browser(&[]).await else {
        return;
    };
    let mut found = Vec::new();
    b.goto("/sign-in").await;
    b.screenshot("sign-in").await;
    found.extend(
        serious_violations(&b, &axe)
            .await
            .into_iter()
            .map(|v| format!("sign-in: {v}")),
    );

    let member_id = scene
        .app
        .app
        .accounts()
        .user_by_email("grace@acme.example")
        .await
        .unwrap()
        .id;
    let r = scene
        .app
        .add_contact(
            &scene.org,
            &scene.admin_token,
            json!({ "member_id": member_id }),
        )
        .await;
    assert_eq!(r.status(), 201);
    scene
        .app
        .add_manual(
            &scene.org,
            &scene.admin_token,
            "helpdesk@it-partner.example",
        )
        .await;
    b.sign_in(ADMIN_EMAIL).await;
    b.goto(&scene.page()).await;
    found.extend(
        serious_violations(&b, &axe)
            .await
            .into_iter()
            .map(|v| format!("page: {v}")),
    );

    b.find("#add-contact-button").await.click().await.unwrap();
    b.find("#member-q").await.send_keys("a").await.unwrap();
    b.eventually(
        "search results",
        Duration::from_secs(5),
        "return document.querySelectorAll('#member-results li').length > 1",
    )
    .await;
    assert!(
        b.text("#member-results")
            .await
            .contains("Already an IT contact"),
        "members already contacts are shown as such"
    );
    found.extend(
        serious_violations(&b, &axe)
            .await
            .into_iter()
            .map(|v| format!("add dialog: {v}")),
    );
    b.keys(ESCAPE).await;

    b.find("#contact-list .remove-form button")
        .await
        .click()
        .await
        .unwrap();
    found.extend(
        serious_violations(&b, &axe)
            .await
            .into_iter()
            .map(|v| format!("remove dialog: {v}")),
    );
    b.keys(ESCAPE).await;

    b.goto(&format!("{}?q=zzz-nobody", scene.page())).await;
    found.extend(
        serious_violations(&b, &axe)
            .await
            .into_iter()
            .map(|v| format!("no results: {v}")),
    );

    b.goto(&format!("/orgs/{}/settings/audit-log", scene.org))
        .await;
    b.screenshot("audit-log").await;
    assert!(
        b.exists("table.audit tbody tr").await,
        "the audit log lists the additions"
    );
    found.extend(
        serious_violations(&b, &axe)
            .await
            .into_iter()
            .map(|v| format!("audit log: {v}")),
    );

    // The Single Sign-On page, with a domain waiting for its TXT record and an error shown.
    b.goto(&format!("/orgs/{}/settings/sso", scene.org)).await;
    b.find("#domain")
        .await
        .send_keys("acme.example")
        .await
        .unwrap();
    b.find("#domain").await.send_keys(ENTER).await.unwrap();
    b.eventually(
        "the domain listed",
        Duration::from_secs(5),
        "return document.querySelector('#domain-list li[data-domain=\"acme.example\"]') !== null",
    )
    .await;
    b.find("form[action$=\"/enable\"] button")
        .await
        .click()
        .await
        .unwrap();
    b.eventually(
        "what is missing",
        Duration::from_secs(5),
        "return document.querySelector('#enable-error') !== null",
    )
    .await;
    b.screenshot("single-sign-on").await;
    found.extend(
        serious_violations(&b, &axe)
            .await
            .into_iter()
            .map(|v| format!("single sign-on: {v}")),
    );

    // Your account, with a token just created (its secret shown once).
    b.goto("/account").await;
    b.find("#token-name")
        .await
        .send_keys("CI deploy")
        .await
        .unwrap();
    b.find("form[action=\"/account/tokens#token-error\"] button")
        .await
        .click()
        .await
        .unwrap();
    b.eventually(
        "the new token shown",
        Duration::from_secs(5),
        "return document.querySelector('#new-token-value') !== null",
    )
    .await;
    b.screenshot("account").await;
    found.extend(
        serious_violations(&b, &axe)
            .await
            .into_iter()
            .map(|v| format!("account: {v}")),
    );

    assert!(
        found.is_empty(),
        "serious or critical accessibility violations:\n{}",
        found.join("\n")
    );
    b.close().await;
}
