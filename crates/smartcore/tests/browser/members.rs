//! Members and invitations in headless Chromium (issue 12): an administrator clicks Settings →
//! Organisation → Members and invites a colleague as administrator; the colleague opens the
//! mailed link, sets a password, clicks Settings → Organisation → Authentication and adds an
//! IT contact. axe-core on every new page; and every new form without JavaScript.

use crate::axe::{axe_source, serious_violations};
use crate::driver::Browser;
use crate::{ADMIN_EMAIL, Scene};
use reqwest::StatusCode;
use smtp_sink::SmtpSink;
use std::time::Duration;

const COLLEAGUE: &str = "colleague@acme.example";

/// The newest invitation link mailed to `email`.
fn link_to(sink: &SmtpSink, email: &str) -> String {
    let messages = sink.messages();
    let message = messages
        .iter()
        .rev()
        .find(|m| m.rcpt_to.iter().any(|r| r == email))
        .unwrap_or_else(|| panic!("no mail to {email}"));
    let parsed = mail_parser::MessageParser::default()
        .parse(&message.data)
        .expect("an RFC 5322 message");
    let text = parsed.body_text(0).expect("a text part").into_owned();
    let start = text.find("/invitations/").expect("an invitation link");
    let begin = text[..start].rfind("http").expect("an absolute link");
    text[begin..].split_whitespace().next().unwrap().to_owned()
}

async fn click_link(b: &Browser, css: &str, then_path: &str) {
    b.find(css).await.click().await.unwrap();
    b.wait_for_path(then_path).await;
}

async fn axe_here(b: &Browser, axe: &str, label: &str, found: &mut Vec<String>) {
    found.extend(
        serious_violations(b, axe)
            .await
            .into_iter()
            .map(|v| format!("{label}: {v}")),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_invites_a_colleague_who_adds_an_it_contact() {
    let sink = SmtpSink::start().await;
    let extra = [
        ("SMARTCORE_MAIL", "smtp".to_owned()),
        ("SMARTCORE_SMTP_URL", sink.url()),
    ];
    let Some((scene, b)) = Scene::with_browser(&extra).await else {
        return;
    };
    let axe = axe_source();
    let mut found = Vec::new();
    let org = scene.org.clone();
    let settings = format!("/orgs/{org}/settings");

    // From the first page after signing in: Settings → Organisation → Members.
    b.sign_in(ADMIN_EMAIL).await;
    click_link(&b, "nav.product a", &settings).await;
    if let Some(axe) = &axe {
        axe_here(&b, axe, "settings", &mut found).await;
    }
    click_link(&b, "#organisation a", &format!("{settings}/organisation")).await;
    if let Some(axe) = &axe {
        axe_here(&b, axe, "organisation", &mut found).await;
    }
    click_link(
        &b,
        ".sections a[href$='/members']",
        &format!("{settings}/members"),
    )
    .await;
    let members = b.text("#members").await;
    assert!(
        members.contains("Grace Hopper") && members.contains("Administrator"),
        "{members}"
    );
    b.screenshot("members").await;

    // Invite a colleague as administrator.
    b.find("#invite-email")
        .await
        .send_keys(COLLEAGUE)
        .await
        .unwrap();
    b.find("input[name=role][value=admin]")
        .await
        .click()
        .await
        .unwrap();
    b.find("#send-invitation").await.click().await.unwrap();
    b.eventually(
        "the invitation sent",
        Duration::from_secs(10),
        "return !!document.querySelector('#notice') && !!document.querySelector('#invitations')",
    )
    .await;
    assert!(b.text("#notice").await.contains(COLLEAGUE));
    let pending = b.text("#invitations").await;
    assert!(
        pending.contains(COLLEAGUE) && pending.contains("Administrator"),
        "{pending}"
    );
    if let Some(axe) = &axe {
        axe_here(&b, axe, "members", &mut found).await;
    }
    // The confirmation pages (role change, removal, revoke), checked and left with Cancel.
    for css in [
        "#members a[href*='/role?role=admin']",
        "#members a[href$='/remove']",
        "#invitations a[href$='/revoke']",
    ] {
        b.find(css).await.click().await.unwrap();
        b.eventually(
            "a confirmation page",
            Duration::from_secs(5),
            "return !!document.querySelector('#confirm-title')",
        )
        .await;
        if let Some(axe) = &axe {
            axe_here(&b, axe, css, &mut found).await;
        }
        click_link(&b, "form.actions a.button", &format!("{settings}/members")).await;
    }
    b.find("form[action='/sign-out'] button")
        .await
        .click()
        .await
        .unwrap();
    b.wait_for_path("/sign-in").await;

    // The colleague opens the mailed link and sets their name and a password.
    let link = link_to(&sink, COLLEAGUE);
    let path = link.trim_start_matches(&scene.app.base_url).to_owned();
    b.goto(&path).await;
    assert!(b.text("h1").await.contains("Join Acme"));
    assert!(b.text("main").await.contains("Ada Admin has invited"));
    if let Some(axe) = &axe {
        axe_here(&b, axe, "invitation", &mut found).await;
    }
    b.screenshot("invitation").await;
    b.find("#name")
        .await
        .send_keys("Colin Colleague")
        .await
        .unwrap();
    b.find("#password")
        .await
        .send_keys("a long enough password")
        .await
        .unwrap();
    b.find("#accept").await.click().await.unwrap();
    b.wait_for_path(&settings).await;

    // Settings → Organisation → Authentication, and an IT contact added.
    click_link(&b, "#organisation a", &format!("{settings}/organisation")).await;
    click_link(
        &b,
        ".sections a[href$='/authentication']",
        &format!("{settings}/authentication"),
    )
    .await;
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
    b.find("#manual-add-button").await.click().await.unwrap();
    b.eventually(
        "the IT contact in the list",
        Duration::from_secs(10),
        "return !!document.querySelector('#contact-list') && document.querySelector('#contact-list').innerText.includes('helpdesk@it-partner.example')",
    )
    .await;
    // The audit log says who did it: the colleague, an administrator since joining.
    let log = scene
        .app
        .get(&format!("/api/v1/orgs/{org}/audit-log"), &scene.admin_token)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        log.contains("invitation.accepted") && log.contains("it_contact.added"),
        "{log}"
    );
    b.close().await;
    assert!(
        found.is_empty(),
        "axe-core found serious violations:\n{}",
        found.join("\n")
    );
}

async fn session(scene: &Scene, email: &str) -> String {
    let r = scene
        .app
        .http
        .post(format!("{}/sign-in", scene.app.base_url))
        .form(&[("email", email), ("password", crate::driver::PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

async fn post(
    scene: &Scene,
    cookie: Option<&str>,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut rb = scene
        .app
        .http
        .post(format!("{}{}", scene.app.base_url, path))
        .header("sec-fetch-site", "same-origin")
        .form(form);
    if let Some(c) = cookie {
        rb = rb.header("cookie", c);
    }
    rb.send().await.unwrap()
}

async fn get(scene: &Scene, cookie: &str, path: &str) -> (StatusCode, String) {
    let r = scene
        .app
        .http
        .get(format!("{}{}", scene.app.base_url, path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_members_forms_work_without_javascript() {
    let sink = SmtpSink::start().await;
    let extra = [
        ("SMARTCORE_MAIL", "smtp".to_owned()),
        ("SMARTCORE_SMTP_URL", sink.url()),
    ];
    let Some(scene) = Scene::new(&extra).await else {
        return;
    };
    let cookie = session(&scene, ADMIN_EMAIL).await;
    let base = format!("/orgs/{}/settings/members", scene.org);

    // Invite: POST, then a redirect with the notice; an error comes back next to the field.
    let r = post(
        &scene,
        Some(&cookie),
        &format!("{base}/invitations"),
        &[("email", "bad address"), ("role", "admin")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("id=\"invite-email-error\"") && html.contains("value=\"bad address\""),
        "{html}"
    );
    let r = post(
        &scene,
        Some(&cookie),
        &format!("{base}/invitations"),
        &[("email", COLLEAGUE), ("role", "admin")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&r).starts_with(&format!("{base}?done=invited")),
        "{}",
        location(&r)
    );
    let r = post(
        &scene,
        Some(&cookie),
        &format!("{base}/invitations"),
        &[("email", COLLEAGUE), ("role", "member")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("invited already"));
    let (_, html) = get(&scene, &cookie, &location_of_invite(&base)).await;
    assert!(
        html.contains("Invitation sent to colleague@acme.example"),
        "{html}"
    );
    let id = html
        .split("data-invitation-id=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();

    // Resend, then revoke after its confirmation page.
    let first_link = link_to(&sink, COLLEAGUE);
    let r = post(
        &scene,
        Some(&cookie),
        &format!("{base}/invitations/{id}/resend"),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_ne!(link_to(&sink, COLLEAGUE), first_link);
    let (status, html) = get(&scene, &cookie, &format!("{base}/invitations/{id}/revoke")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<form method=\"post\""));
    let r = post(
        &scene,
        Some(&cookie),
        &format!("{base}/invitations/{id}/revoke"),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let gone = scene
        .app
        .http
        .get(link_to(&sink, COLLEAGUE))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::GONE);

    // Search and pages are links and GET forms.
    let (_, html) = get(&scene, &cookie, &format!("{base}?q=grace")).await;
    assert!(html.contains("Grace Hopper") && !html.contains("Alan Turing"));

    // Role change and removal: a confirmation page, then a POST.
    let grace = scene
        .app
        .app
        .accounts()
        .user_by_email("grace@acme.example")
        .await
        .unwrap()
        .id;
    let (status, html) = get(&scene, &cookie, &format!("{base}/{grace}/role?role=admin")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Make Grace Hopper (grace@acme.example) an administrator of Acme?"),
        "{html}"
    );
    let r = post(
        &scene,
        Some(&cookie),
        &format!("{base}/{grace}/role"),
        &[("role", "admin")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, _) = get(&scene, &cookie, &format!("{base}/{grace}/remove")).await;
    assert_eq!(status, StatusCode::OK);
    let r = post(
        &scene,
        Some(&cookie),
        &format!("{base}/{grace}/remove"),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = get(&scene, &cookie, &base).await;
    assert!(!html.contains("grace@acme.example"));
    // The last administrator: the confirmation page again, with the reason.
    let ada = scene
        .app
        .app
        .accounts()
        .user_by_email(ADMIN_EMAIL)
        .await
        .unwrap()
        .id;
    let r = post(
        &scene,
        Some(&cookie),
        &format!("{base}/{ada}/role"),
        &[("role", "member")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("at least one administrator")
    );

    // Accepting without JavaScript: a plain POST, then the settings, signed in.
    let r = post(
        &scene,
        Some(&cookie),
        &format!("{base}/invitations"),
        &[("email", "new@acme.example"), ("role", "member")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let link = link_to(&sink, "new@acme.example");
    let path = link.trim_start_matches(&scene.app.base_url).to_owned();
    let r = post(
        &scene,
        None,
        &path,
        &[
            ("name", "New Person"),
            ("password", "a long enough password"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("/orgs/{}/settings", scene.org));
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("HttpOnly")
    );
}

fn location_of_invite(base: &str) -> String {
    format!("{base}?done=invited&email=colleague%40acme.example#notice")
}
