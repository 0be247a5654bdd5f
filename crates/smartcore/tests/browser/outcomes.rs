//! Issue 23: after every form, its outcome is where the eye is: the notice or error is in the
//! viewport and has the focus, on a page reached by a redirect (never the POST answer, apart
//! from a form given back with a field error), at 375 and 1280 pixels. A reload after creating
//! an API token neither shows its secret again nor creates a second one.

use crate::driver::Browser;
use crate::screens::{link_in_outbox, viewport};
use crate::{ADMIN_EMAIL, Scene};
use serde_json::json;
use std::time::Duration;

/// Waits for `css` on a loaded page, then checks that it has the focus and is in the viewport.
async fn outcome_in_view(b: &Browser, what: &str, css: &str) {
    let sel = serde_json::to_string(css).unwrap();
    b.eventually(
        what,
        Duration::from_secs(10),
        &format!("return document.readyState === 'complete' && !!document.querySelector({sel})"),
    )
    .await;
    // The focus script runs on DOMContentLoaded (deferred); give it a moment.
    b.eventually(
        &format!("{what}: the focus on {css}"),
        Duration::from_secs(3),
        &format!("return document.activeElement === document.querySelector({sel})"),
    )
    .await;
    let r = b
        .js(&format!(
            "const r = document.querySelector({sel}).getBoundingClientRect();
             return [r.top, r.bottom, window.innerHeight, r.left, r.right, window.innerWidth];"
        ))
        .await;
    let n = |i: usize| r[i].as_f64().unwrap();
    assert!(
        n(0) >= -1.0 && n(0) < n(2) && n(3) >= 0.0 && n(4) <= n(5) + 1.0,
        "{what}: {css} is not in the viewport: {r}"
    );
    let role = b
        .js(&format!(
            "const e = document.querySelector({sel});
             return e.getAttribute('role') || (e.querySelector('[role]') || e).getAttribute('role');"
        ))
        .await;
    assert!(
        role == json!("status") || role == json!("alert"),
        "{what}: {css} is announced (role status or alert), not {role}"
    );
}

async fn path(b: &Browser) -> String {
    b.client.current_url().await.unwrap().path().to_owned()
}

/// Clicks, after taking the ids off this page's messages, so that a message found next is on
/// the page that answers.
async fn click(b: &Browser, css: &str) {
    b.js("document.querySelectorAll('[data-focus-on-load]').forEach(e => e.removeAttribute('id')); return true")
        .await;
    b.find(css).await.click().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_outcome_is_in_view_and_focused_at_both_widths() {
    for width in [375, 1280] {
        let Some((scene, b)) = Scene::with_browser(&[]).await else {
            return;
        };
        viewport(&b, width).await;
        let org = scene.org.clone();
        let sso = format!("/orgs/{org}/settings/sso");
        let auth = scene.page();
        b.sign_in(ADMIN_EMAIL).await;

        // Enabling with a prerequisite missing: the refusal beside the button, in view.
        b.goto(&sso).await;
        click(&b, "form[action$=\"/enable\"] button").await;
        outcome_in_view(&b, "the enable refusal", "#enable-error").await;
        assert_eq!(path(&b).await, sso, "not left at the POST URL");
        b.screenshot(&format!("outcome-enable-refused-{width}"))
            .await;

        // Adding a domain: the notice in the Domains section, in view.
        b.find("#domain")
            .await
            .send_keys("acme.example")
            .await
            .unwrap();
        click(
            &b,
            "form[action$=\"/domains#domain-error\"] button[type=submit]",
        )
        .await;
        outcome_in_view(&b, "the domain added", "#notice").await;
        assert_eq!(path(&b).await, sso);

        // Verifying it (no TXT record published): said in view, and a reload asks nothing.
        click(&b, "form[action$=\"/verify\"] button").await;
        b.eventually(
            "the verification answered",
            Duration::from_secs(15),
            "return document.readyState === 'complete' && (!!document.querySelector('#verify-error') || !!document.querySelector('#notice'))",
        )
        .await;
        let css = if b.exists("#verify-error").await {
            "#verify-error"
        } else {
            "#notice"
        };
        outcome_in_view(&b, "the verification", css).await;
        assert_eq!(path(&b).await, sso);

        // A refused metadata document: given back with the error, which is in view.
        b.find("#metadata_xml")
            .await
            .send_keys("<not-metadata/>")
            .await
            .unwrap();
        click(
            &b,
            "form[action$=\"/configuration#config-error\"] button[type=submit]",
        )
        .await;
        outcome_in_view(&b, "the refused metadata", "#config-error").await;

        // A domain that is not one: given back through a redirect, the error in view.
        b.find("#domain")
            .await
            .send_keys("acme..example")
            .await
            .unwrap();
        click(
            &b,
            "form[action$=\"/domains#domain-error\"] button[type=submit]",
        )
        .await;
        outcome_in_view(&b, "the refused domain", "#domain-error").await;
        assert_eq!(path(&b).await, sso);

        // An address that is not one: the dialog again, the field at fault focused, its error
        // (which describes it) in view.
        b.goto(&auth).await;
        click(&b, "#add-contact-button").await;
        click(&b, "#choose-way input[value=manual]").await;
        b.find("#email")
            .await
            .send_keys("not an address")
            .await
            .unwrap();
        click(&b, "#manual-add-button").await;
        b.eventually(
            "the address refused",
            Duration::from_secs(10),
            "return document.readyState === 'complete' && !!document.querySelector('#email-error') && document.activeElement === document.getElementById('email')",
        )
        .await;
        let r = b
            .js("const r = document.getElementById('email-error').getBoundingClientRect(); return r.top >= 0 && r.bottom <= window.innerHeight")
            .await;
        assert_eq!(r, json!(true), "the address's error is in view");
        assert_eq!(path(&b).await, auth);

        // Adding a contact by hand.
        b.goto(&auth).await;
        click(&b, "#add-contact-button").await;
        click(&b, "#choose-way input[value=manual]").await;
        b.find("#email")
            .await
            .send_keys("helpdesk@partner.example")
            .await
            .unwrap();
        click(&b, "#manual-add-button").await;
        outcome_in_view(&b, "the contact added", "#notice").await;
        assert_eq!(path(&b).await, auth);

        // Test alerts: the notice, then the hourly limit at the top of the page.
        for i in 0..6 {
            click(&b, "#test-all-button").await;
            let css = if i < 5 { "#notice" } else { "#page-error" };
            outcome_in_view(&b, &format!("test alert {}", i + 1), css).await;
            assert_eq!(path(&b).await, auth);
        }
        b.screenshot(&format!("outcome-test-alert-limit-{width}"))
            .await;

        // Removing it through the dialog.
        click(&b, "#contact-list .remove-form button").await;
        click(&b, "#remove-confirm").await;
        outcome_in_view(&b, "the contact removed", "#notice").await;

        // Inviting someone.
        b.goto(&format!("/orgs/{org}/settings/members")).await;
        b.find("#invite-email")
            .await
            .send_keys("new.person@acme.example")
            .await
            .unwrap();
        click(&b, "#send-invitation").await;
        outcome_in_view(&b, "the invitation sent", "#notice").await;

        // A token: its secret once, in view; a reload shows it no more and creates nothing.
        b.goto("/account").await;
        let before = b
            .js("return document.querySelectorAll('form[action$=\"/revoke\"]').length")
            .await;
        b.find("#token-name")
            .await
            .send_keys("Deploy")
            .await
            .unwrap();
        click(&b, "form[action=\"/account/tokens#token-error\"] button").await;
        outcome_in_view(&b, "the new token", "#new-token").await;
        assert_eq!(path(&b).await, "/account");
        assert!(b.exists("#new-token-value").await);
        b.client.refresh().await.unwrap();
        b.eventually(
            "the reloaded account page",
            Duration::from_secs(5),
            "return document.readyState === 'complete' && !!document.querySelector('#tokens')",
        )
        .await;
        assert!(
            !b.exists("#new-token-value").await,
            "the secret is shown once"
        );
        let after = b
            .js("return document.querySelectorAll('form[action$=\"/revoke\"]').length")
            .await;
        assert_eq!(
            after.as_u64().unwrap(),
            before.as_u64().unwrap() + 1,
            "one token, not two"
        );

        // An IT contact's confirmation link.
        b.goto(&auth).await;
        click(&b, "#add-contact-button").await;
        click(&b, "#choose-way input[value=manual]").await;
        b.find("#email")
            .await
            .send_keys("it@partner.example")
            .await
            .unwrap();
        click(&b, "#manual-add-button").await;
        outcome_in_view(&b, "the second contact added", "#notice").await;
        scene.app.drain().await;
        let confirm = link_in_outbox(&scene, "it@partner.example", "/contact/confirm/");
        b.goto(&confirm).await;
        click(&b, "#link-action").await;
        outcome_in_view(&b, "the confirmation", "#link-done").await;
        assert_eq!(path(&b).await, confirm, "redirected back to the link");
        b.close().await;
    }
}
