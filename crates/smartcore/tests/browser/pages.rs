//! The Authentication page in Chromium: adding both ways, sync badges, errors, the limit,
//! removal with its dialog, keyboard-only use, escaping and access.

use crate::driver::Browser;
use crate::driver::keys::{ENTER, ESCAPE, SHIFT_TAB, TAB};
use crate::{ADMIN_EMAIL, MEMBER_EMAIL, Scene};
use serde_json::{Value, json};
use std::time::Duration;

const SYNC_WAIT: Duration = Duration::from_secs(10);

/// The badge texts of the list, in order.
async fn badges(b: &Browser) -> Vec<String> {
    let v = b
        .js("return [...document.querySelectorAll('#contact-list .badge')].map(e => e.textContent.trim())")
        .await;
    serde_json::from_value(v).expect("badge texts")
}

async fn add_dialog_is_modal(b: &Browser) -> bool {
    b.js("const d = document.getElementById('add-contact'); return !!d && d.open && d.matches(':modal')")
        .await
        == Value::Bool(true)
}

/// Presses Tab until the element matching `css` has the focus (keyboard only).
async fn tab_to(b: &Browser, css: &str) {
    let check = format!(
        "return document.activeElement === document.querySelector({})",
        serde_json::to_string(css).unwrap()
    );
    for _ in 0..60 {
        if b.js(&check).await == Value::Bool(true) {
            return;
        }
        b.keys(TAB).await;
    }
    panic!("Tab never reached {css}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_adds_a_member_and_an_external_contact_and_sees_them_synced() {
    // The contacts stay Pending until the test drives the sync (test services run no
    // workers), so the Pending state can be seen first.
    let Some((scene, b)) = Scene::with_browser(&[]).await else {
        return;
    };
    b.sign_in(ADMIN_EMAIL).await;
    // Signing in lands on Settings → Organisation → Authentication.
    b.wait_for_path(&scene.page()).await;
    assert_eq!(b.text("h1").await, "Authentication");
    assert!(b.text(".crumbs").await.contains("Settings"));
    assert_eq!(b.text("#contact-count").await, "0 of 20");
    assert!(b.text("#advice").await.contains("at least two"));
    let section = b.text("#contacts-section").await;
    assert!(
        section.contains("does not grant any access or permissions"),
        "{section}"
    );
    b.screenshot("authentication-empty").await;

    // Add contact → Organisation member: results as you type.
    b.find("#add-contact-button").await.click().await.unwrap();
    assert!(
        add_dialog_is_modal(&b).await,
        "the Add contact dialog opens without a reload"
    );
    assert!(b.text("#add-contact").await.contains("Organisation member"));
    assert!(b.text("#add-contact").await.contains("Enter manually"));
    b.find("#member-q").await.send_keys("grac").await.unwrap();
    b.eventually(
        "search results as you type",
        Duration::from_secs(5),
        "return !!document.querySelector('#member-results button[aria-label=\"Add Grace Hopper\"]')",
    )
    .await;
    assert!(b.text("#member-status").await.contains("1 member found"));
    b.screenshot("add-contact-member-search").await;
    b.find("#member-results button[aria-label=\"Add Grace Hopper\"]")
        .await
        .click()
        .await
        .unwrap();
    b.eventually(
        "the contact in the list",
        Duration::from_secs(5),
        "return !!document.querySelector('#notice') && document.body.innerText.includes('Grace Hopper')",
    )
    .await;
    let first = badges(&b).await;
    let row = b.text("#contact-list li").await;
    assert!(
        row.contains("grace@acme.example") && row.contains("Member"),
        "{row}"
    );
    assert_eq!(b.text("#contact-count").await, "1 of 20");
    assert!(b.exists("#advice").await, "one contact: still the advice");

    // Enter manually: someone who isn't a member.
    b.find("#add-contact-button").await.click().await.unwrap();
    // "Choose how to add them": Enter manually.
    b.find("#choose-way input[value=manual]")
        .await
        .click()
        .await
        .unwrap();
    b.find("#email")
        .await
        .send_keys("helpdesk@it-partner.example")
        .await
        .unwrap();
    b.find("#name")
        .await
        .send_keys("IT Partner Ltd")
        .await
        .unwrap();
    b.find("#manual-add-button").await.click().await.unwrap();
    b.eventually(
        "the external contact in the list",
        Duration::from_secs(5),
        "return document.querySelectorAll('#contact-list li').length === 2",
    )
    .await;
    let second = badges(&b).await;
    let rows = b.text("#contact-list").await;
    assert!(
        rows.contains("IT Partner Ltd")
            && rows.contains("helpdesk@it-partner.example")
            && rows.contains("External"),
        "{rows}"
    );
    assert!(
        !b.exists("#advice").await,
        "two contacts: no advice any more"
    );
    b.screenshot("authentication-contacts-pending").await;

    // Pending first, then the green Synced badge, without reloading the page.
    let seen: Vec<&String> = first.iter().chain(second.iter()).collect();
    assert!(
        seen.iter().any(|s| *s == "Pending"),
        "a new contact shows Pending before it is registered: {seen:?}"
    );
    b.js("window.__samePage = true; return true").await;
    scene.app.drain().await;
    b.eventually(
        "the green Synced badges",
        SYNC_WAIT,
        "return [...document.querySelectorAll('#contact-list .badge')].every(e => e.textContent.trim() === 'Synced')",
    )
    .await;
    assert_eq!(
        b.js("return window.__samePage === true").await,
        Value::Bool(true)
    );
    let green = b
        .js("return getComputedStyle(document.querySelector('.badge-synced')).backgroundColor")
        .await;
    assert_eq!(
        green,
        json!("rgb(15, 107, 53)"),
        "the Synced badge is green"
    );
    b.screenshot("authentication-contacts-synced").await;

    // The checklist counts the contact.
    assert!(
        b.text("#checklist + .checklist")
            .await
            .contains("At least one IT contact Done")
    );
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_shown_next_to_the_field_with_the_input_kept_and_names_are_escaped() {
    let Some((scene, b)) = Scene::with_browser(&[]).await else {
        return;
    };
    b.sign_in(ADMIN_EMAIL).await;
    b.goto(&scene.page()).await;

    // An address that is not one.
    b.find("#add-contact-button").await.click().await.unwrap();
    // "Choose how to add them": Enter manually.
    b.find("#choose-way input[value=manual]")
        .await
        .click()
        .await
        .unwrap();
    b.find("#email")
        .await
        .send_keys("not an address")
        .await
        .unwrap();
    b.find("#name").await.send_keys("Someone").await.unwrap();
    b.find("#manual-add-button").await.click().await.unwrap();
    let error = b.text("#email-error").await;
    assert!(
        !error.is_empty(),
        "an invalid address is explained next to the field"
    );
    assert!(
        add_dialog_is_modal(&b).await,
        "the dialog is open again after the error"
    );
    assert_eq!(
        b.find("#email")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("not an address")
    );
    assert_eq!(
        b.find("#name")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("Someone")
    );
    assert_eq!(
        b.find("#email")
            .await
            .attr("aria-invalid")
            .await
            .unwrap()
            .as_deref(),
        Some("true")
    );
    assert_eq!(
        b.focused().await,
        "email",
        "the field at fault has the focus"
    );
    b.screenshot("add-contact-invalid-address").await;

    // The same address twice, whatever its case.
    scene
        .app
        .add_manual(&scene.org, &scene.admin_token, "dup@partner.example")
        .await;
    b.goto(&scene.page()).await;
    b.find("#add-contact-button").await.click().await.unwrap();
    // "Choose how to add them": Enter manually.
    b.find("#choose-way input[value=manual]")
        .await
        .click()
        .await
        .unwrap();
    b.find("#email")
        .await
        .send_keys("DUP@Partner.example")
        .await
        .unwrap();
    b.find("#manual-add-button").await.click().await.unwrap();
    let error = b.text("#email-error").await;
    assert!(error.contains("already an IT contact"), "{error}");
    assert_eq!(
        b.find("#email")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("DUP@Partner.example")
    );
    b.screenshot("add-contact-duplicate").await;

    // A name with markup is shown as text, never run.
    b.keys(ESCAPE).await;
    b.find("#add-contact-button").await.click().await.unwrap();
    let evil = "<script>window.__pwned = 1</script><b>bold</b>";
    b.find("#email").await.clear().await.unwrap();
    b.find("#email")
        .await
        .send_keys("xss@partner.example")
        .await
        .unwrap();
    b.find("#name").await.send_keys(evil).await.unwrap();
    b.find("#manual-add-button").await.click().await.unwrap();
    b.eventually(
        "the contact with a strange name",
        Duration::from_secs(5),
        "return document.querySelectorAll('#contact-list li').length === 2",
    )
    .await;
    let names = b.text("#contact-list").await;
    assert!(names.contains(evil), "the name is shown literally: {names}");
    assert_eq!(
        b.js("return typeof window.__pwned").await,
        json!("undefined")
    );
    assert_eq!(
        b.js("return document.querySelectorAll('script').length")
            .await,
        json!(1)
    );
    assert_eq!(
        b.js("return document.querySelectorAll('#contact-list b').length")
            .await,
        json!(0)
    );
    let label = b
        .js("return document.querySelectorAll('#contact-list .remove-form button')[1].getAttribute('aria-label')")
        .await;
    assert_eq!(label, json!(format!("Remove {evil}")));
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_twenty_contacts_add_contact_is_disabled_with_the_reason() {
    let Some((scene, b)) = Scene::with_browser(&[]).await else {
        return;
    };
    for i in 0..20 {
        scene
            .app
            .add_manual(
                &scene.org,
                &scene.admin_token,
                &format!("it{i}@partner.example"),
            )
            .await;
    }
    b.sign_in(ADMIN_EMAIL).await;
    b.goto(&scene.page()).await;
    assert_eq!(b.text("#contact-count").await, "20 of 20");
    let button = b.find("#add-contact-button").await;
    assert!(
        !button.is_enabled().await.unwrap(),
        "the button is disabled"
    );
    let reason_id = button
        .attr("aria-describedby")
        .await
        .unwrap()
        .expect("a described reason");
    let reason = b.text(&format!("#{reason_id}")).await;
    assert!(
        reason.contains("20 IT contacts, the most allowed"),
        "{reason}"
    );
    b.js("document.getElementById('limit-reason').scrollIntoView(); return true")
        .await;
    b.screenshot("authentication-limit-reached").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_dialogs_work_with_the_keyboard_alone_and_return_the_focus() {
    let Some((scene, b)) = Scene::with_browser(&[]).await else {
        return;
    };
    scene
        .app
        .add_manual(&scene.org, &scene.admin_token, "first@partner.example")
        .await;
    scene
        .app
        .add_manual(&scene.org, &scene.admin_token, "second@partner.example")
        .await;
    b.sign_in(ADMIN_EMAIL).await;
    b.goto(&scene.page()).await;

    // Add contact: Enter opens, the search field has the focus, Escape closes, focus returns.
    tab_to(&b, "#add-contact-button").await;
    b.keys(ENTER).await;
    assert!(add_dialog_is_modal(&b).await);
    assert_eq!(b.focused().await, "member-q");
    b.keys("alan").await;
    b.eventually(
        "search results",
        Duration::from_secs(5),
        "return !!document.querySelector('#member-results button')",
    )
    .await;
    b.keys(TAB).await; // Search
    b.keys(TAB).await; // Add Alan Turing
    assert_eq!(b.focused().await, "BUTTON:Add Alan Turing");
    b.keys(ESCAPE).await;
    assert_eq!(
        b.js("return document.getElementById('add-contact').open")
            .await,
        json!(false)
    );
    assert_eq!(
        b.focused().await,
        "add-contact-button",
        "focus returns to Add contact"
    );

    // The delete icon: a confirmation dialog; Cancel (and Escape) keep the contact.
    let delete = "#contact-list li:nth-child(2) .remove-form button";
    tab_to(&b, delete).await;
    assert_eq!(b.focused().await, "BUTTON:Remove second@partner.example");
    b.keys(ENTER).await;
    assert_eq!(
        b.js("return document.getElementById('remove-contact').matches(':modal')")
            .await,
        json!(true)
    );
    assert!(
        b.text("#remove-contact-text")
            .await
            .contains("second@partner.example")
    );
    assert_eq!(
        b.focused().await,
        "remove-cancel",
        "the safe choice has the focus"
    );
    b.screenshot("remove-contact-dialog").await;
    b.keys(ENTER).await; // Cancel
    assert_eq!(
        b.js("return document.getElementById('remove-contact').open")
            .await,
        json!(false)
    );
    assert_eq!(
        b.focused().await,
        "BUTTON:Remove second@partner.example",
        "focus returns to the delete icon"
    );
    b.keys(ENTER).await;
    b.keys(ESCAPE).await;
    assert_eq!(b.focused().await, "BUTTON:Remove second@partner.example");
    assert_eq!(
        b.text("#contact-count").await,
        "2 of 20",
        "cancelling removes nothing"
    );

    // Confirm: Shift+Tab to Remove, Enter.
    b.keys(ENTER).await;
    b.keys(SHIFT_TAB).await;
    assert_eq!(b.focused().await, "remove-confirm");
    b.keys(ENTER).await;
    b.eventually(
        "the removal notice",
        Duration::from_secs(5),
        "return !!document.querySelector('#notice')",
    )
    .await;
    assert_eq!(b.text("#contact-count").await, "1 of 20");
    assert!(
        !b.text("#contact-list")
            .await
            .contains("second@partner.example")
    );
    let notice = b.text("#notice").await;
    assert!(notice.starts_with("IT contact removed."), "{notice}");
    b.screenshot("authentication-after-removal").await;

    // Without JavaScript the delete icon leads to a confirmation page that says the same.
    let first_id = scene.app.contacts(&scene.org, &scene.admin_token).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    b.goto(&format!("{}/it-contacts/{first_id}/remove", scene.page()))
        .await;
    assert_eq!(b.text("h1").await, "Remove IT contact");
    assert!(b.text("main").await.contains("first@partner.example"));
    b.screenshot("remove-contact-confirmation-page").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_removing_a_synced_contact_the_page_says_nothing_more_is_needed() {
    let Some((scene, b)) = Scene::with_browser(&[]).await else {
        return;
    };
    scene
        .app
        .add_manual(&scene.org, &scene.admin_token, "synced@partner.example")
        .await;
    scene.app.drain().await;
    b.sign_in(ADMIN_EMAIL).await;
    b.goto(&scene.page()).await;
    b.eventually(
        "the Synced badge",
        SYNC_WAIT,
        "return [...document.querySelectorAll('#contact-list .badge')].every(e => e.textContent.trim() === 'Synced')",
    )
    .await;
    b.find("#contact-list .remove-form button")
        .await
        .click()
        .await
        .unwrap();
    b.find("#remove-confirm").await.click().await.unwrap();
    b.eventually(
        "the removal notice",
        Duration::from_secs(5),
        "return !!document.querySelector('#notice')",
    )
    .await;
    let notice = b.text("#notice").await;
    // The builtin connector completes the removal itself; a connector the operations team
    // completes for (flagged) gets the article's words.
    assert!(
        notice.contains("removed on the identity side")
            && notice.contains("Nothing more is needed"),
        "{notice}"
    );
    b.goto(&format!("{}?removed=flagged", scene.page())).await;
    let flagged = b.text("#notice").await;
    assert!(
        flagged.contains("completed for you by the Smart Core Connect team")
            && flagged.contains("you don't need to do anything else"),
        "{flagged}"
    );
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_who_is_not_an_administrator_cannot_reach_the_page() {
    let Some((scene, b)) = Scene::with_browser(&[]).await else {
        return;
    };
    b.sign_in(MEMBER_EMAIL).await;
    // A member has nothing to administer: signing in leads to the account page.
    b.wait_for_path("/account").await;
    assert_eq!(b.text("h1").await, "Your account");
    b.goto(&scene.page()).await;
    assert_eq!(b.text("h1").await, "You don't have access to this page");
    assert!(b.text("main").await.contains("administrator permissions"));
    assert!(!b.exists("#contacts-section").await);
    b.goto(&format!("/orgs/{}/settings/audit-log", scene.org))
        .await;
    assert_eq!(b.text("h1").await, "You don't have access to this page");
    b.screenshot("member-forbidden").await;
    b.close().await;
}
