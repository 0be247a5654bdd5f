//! Issue 23: every page an administrator, a member, the operations team and an IT contact can
//! reach, at 1280×800 and 375×800: no horizontal scrolling, no visible text overflowing its
//! box, axe-core clean. A screenshot and the HTML of each page at both widths go to
//! `artifacts/screenshots/` (`SMARTCORE_SCREENS_DIR` names a subfolder, e.g. `before`), where
//! `vnu.rs` checks the HTML with the Nu HTML Checker.

use crate::axe::{axe_source, serious_violations};
use crate::driver::{Browser, PASSWORD, workspace_root};
use crate::{ADMIN_EMAIL, MEMBER_EMAIL, Scene};
use reqwest::StatusCode;
use serde_json::json;
use std::path::PathBuf;

pub const WIDTHS: [u32; 2] = [1280, 375];
pub const OPS_EMAIL: &str = "ops@smartcore.example";
/// A long address, to see that addresses wrap where they should.
pub const LONG_EMAIL: &str = "service-desk.sign-on.escalations@it-partner-with-a-long-name.example";

/// Where this run's screenshots and HTML go.
pub fn screens_dir() -> PathBuf {
    let mut dir = workspace_root().join("artifacts/screenshots");
    if let Some(sub) = std::env::var_os("SMARTCORE_SCREENS_DIR") {
        dir = dir.join(sub);
    }
    std::fs::create_dir_all(&dir).expect("create the screenshots folder");
    dir
}

/// Sets the viewport (not the window) to `width`×`height`.
pub async fn viewport_of(b: &Browser, width: u32, height: u32) {
    b.client
        .set_window_size(width, height)
        .await
        .expect("resize");
    let inner = b.js("return [window.innerWidth, window.innerHeight]").await;
    let (iw, ih) = (
        inner[0].as_u64().unwrap_or(0) as u32,
        inner[1].as_u64().unwrap_or(0) as u32,
    );
    if iw != width || ih != height {
        b.client
            .set_window_size(
                width + (width - iw.min(width)),
                height + (height - ih.min(height)),
            )
            .await
            .expect("resize");
    }
}

/// Sets the viewport to `width`×800.
pub async fn viewport(b: &Browser, width: u32) {
    viewport_of(b, width, 800).await;
}

/// What is wrong with the layout of the current page: sideways scrolling, and visible text
/// that overflows its box.
pub async fn layout_problems(b: &Browser) -> Vec<String> {
    let v = b
        .js(r#"
const out = [];
const root = document.documentElement;
if (root.scrollWidth > root.clientWidth) out.push('the page scrolls sideways: ' + root.scrollWidth + ' > ' + root.clientWidth);
const describe = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : '');
for (const el of document.querySelectorAll('body *')) {
  if (!el.getClientRects().length) continue;
  if (el.closest('.visually-hidden, dialog:not([open])')) continue;
  const cs = getComputedStyle(el);
  if (cs.overflowX !== 'visible' || cs.visibility === 'hidden') continue;
  const text = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  if (!text || el.clientWidth === 0) continue;
  if (el.scrollWidth > el.clientWidth + 1) out.push('text overflows ' + describe(el) + ' (' + el.scrollWidth + ' > ' + el.clientWidth + '): ' + el.textContent.trim().slice(0, 60));
}
return out;"#)
        .await;
    serde_json::from_value(v).unwrap_or_default()
}

/// The HTML files this process saved, for the Nu HTML Checker.
static SAVED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Takes the screenshot and the HTML of the current page as `NAME-WIDTH.png` and `.html`.
pub async fn save(b: &Browser, name: &str, width: u32) {
    let dir = screens_dir();
    // The whole page: a viewport as tall as the page for the screenshot, then 800 again.
    let height = b
        .js("return document.documentElement.scrollHeight")
        .await
        .as_u64()
        .unwrap_or(800)
        .clamp(800, 8000) as u32;
    viewport_of(b, width, height).await;
    let png = b.client.screenshot().await.expect("screenshot");
    viewport_of(b, width, 800).await;
    std::fs::write(dir.join(format!("{name}-{width}.png")), png).expect("write screenshot");
    let html = b
        .js("return '<!doctype html>\\n' + document.documentElement.outerHTML")
        .await;
    // The HTML as the server sent it is what the checker judges: fetch it again.
    let source = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(location.href, { credentials: 'same-origin' })
               .then(r => r.ok || r.status >= 400 ? r.text() : '').then(done, () => done(''));",
            vec![],
        )
        .await
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| html.as_str().unwrap_or_default().to_owned());
    let path = dir.join(format!("{name}-{width}.html"));
    std::fs::write(&path, source).expect("write html");
    SAVED.lock().unwrap_or_else(|e| e.into_inner()).push(path);
}

/// The HTML bodies of the mails in the outbox, saved as `mail-N.html`.
fn save_mail_bodies(scene: &Scene) -> Vec<PathBuf> {
    let dir = screens_dir();
    let mut saved = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(scene.app.outbox_dir())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for (i, path) in entries.iter().enumerate() {
        let bytes = std::fs::read(path).unwrap_or_default();
        let Some(m) = mail_parser::MessageParser::default().parse(&bytes) else {
            continue;
        };
        if let Some(html) = m.body_html(0) {
            let out = dir.join(format!("mail-{i}.html"));
            std::fs::write(&out, html.as_bytes()).expect("write a mail body");
            saved.push(out);
        }
    }
    saved
}

/// Opens `path` at both widths: screenshots, HTML, layout and axe-core problems, labelled.
async fn visit(b: &Browser, axe: &Option<String>, name: &str, path: &str, found: &mut Vec<String>) {
    for width in WIDTHS {
        viewport(b, width).await;
        b.goto(path).await;
        save(b, name, width).await;
        for p in layout_problems(b).await {
            found.push(format!("{name} at {width}: {p}"));
        }
        if let Some(axe) = axe
            && width == 375
        {
            for v in serious_violations(b, axe).await {
                found.push(format!("{name}: {v}"));
            }
        }
    }
}

/// The link in the newest mail to `email` whose path starts with `prefix` (the mail is in the
/// outbox once the request or the drained queue that sent it is done).
pub fn link_in_outbox(scene: &Scene, email: &str, prefix: &str) -> String {
    let mut found: Vec<(std::time::SystemTime, String)> = Vec::new();
    for entry in std::fs::read_dir(scene.app.outbox_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let bytes = std::fs::read(entry.path()).unwrap_or_default();
        let Some(m) = mail_parser::MessageParser::default().parse(&bytes) else {
            continue;
        };
        if m.to().and_then(|a| a.first()).and_then(|a| a.address()) != Some(email) {
            continue;
        }
        let text = m.body_text(0).unwrap_or_default().into_owned();
        if let Some(w) = text.split_whitespace().find(|w| w.contains(prefix)) {
            let at = entry
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            found.push((at, w.trim_end_matches(['.', ',', ')', '>']).to_owned()));
        }
    }
    let Some((_, link)) = found.into_iter().max() else {
        panic!("no mail to {email} with a {prefix} link");
    };
    let i = link.find(prefix).expect("the prefix");
    link[i..].to_owned()
}

/// A lived-in organisation: contacts (one with a long address), a pending domain, the identity
/// provider configured, an invitation, and the audit events all that wrote.
pub async fn lived_in(scene: &Scene) {
    let app = &scene.app;
    let grace = app
        .app
        .accounts()
        .user_by_email("grace@acme.example")
        .await
        .unwrap()
        .id;
    let r = app
        .add_contact(
            &scene.org,
            &scene.admin_token,
            json!({ "member_id": grace }),
        )
        .await;
    assert_eq!(r.status(), 201);
    app.add_manual(&scene.org, &scene.admin_token, LONG_EMAIL)
        .await;
    app.add_manual(
        &scene.org,
        &scene.admin_token,
        "helpdesk@it-partner.example",
    )
    .await;
    for email in [
        LONG_EMAIL,
        "helpdesk@it-partner.example",
        "grace@acme.example",
    ] {
        app.wait_for_status(&scene.org, &scene.admin_token, email, "synced", 10)
            .await;
    }
    let r = app
        .post(
            &format!("/api/v1/orgs/{}/domains", scene.org),
            &scene.admin_token,
            json!({ "domain": "acme.example" }),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    let now = time::OffsetDateTime::now_utc();
    let pem = crate::support::certificate(
        "idp.acme.example",
        now - time::Duration::days(1),
        now + time::Duration::days(45),
    );
    let r = app
        .request(
            reqwest::Method::PUT,
            &format!("/api/v1/orgs/{}/sso", scene.org),
            Some(&scene.admin_token),
        )
        .json(&json!({ "idp_entity_id": "https://idp.acme.example/saml2/entity-with-a-long-identifier", "idp_sso_url": "https://idp.acme.example/sso", "idp_certificate_pem": pem }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .post(
            &format!("/api/v1/orgs/{}/invitations", scene.org),
            &scene.admin_token,
            json!({ "email": "new.colleague@acme.example", "role": "member" }),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    let r = app
        .post(
            &format!("/api/v1/orgs/{}/setup-links", scene.org),
            &scene.admin_token,
            json!({}),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    app.app
        .accounts()
        .create_user(OPS_EMAIL, Some("Ops"), Some(PASSWORD), true)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_reads_at_1280_and_375_pixels() {
    let axe = axe_source();
    let Some((scene, b)) = Scene::with_browser(&[]).await else {
        return;
    };
    lived_in(&scene).await;
    let org = &scene.org;
    let mut found = Vec::new();
    let contacts = scene.app.contacts(org, &scene.admin_token).await;
    let contact = contacts[0]["id"].as_str().unwrap().to_owned();
    let mary = scene
        .app
        .app
        .accounts()
        .user_by_email(MEMBER_EMAIL)
        .await
        .unwrap()
        .id;

    visit(&b, &axe, "sign-in", "/sign-in", &mut found).await;
    // The IT contact's pages: the setup link and the links of the welcome.
    let setup = link_in_outbox(&scene, LONG_EMAIL, "/setup/");
    visit(&b, &axe, "setup-link", &setup, &mut found).await;
    let confirm = link_in_outbox(&scene, LONG_EMAIL, "/contact/confirm/");
    visit(&b, &axe, "contact-confirm", &confirm, &mut found).await;
    let not_me = link_in_outbox(&scene, LONG_EMAIL, "/contact/not-me/");
    visit(&b, &axe, "contact-not-me", &not_me, &mut found).await;
    let invitation = link_in_outbox(&scene, "new.colleague@acme.example", "/invitations/");
    visit(&b, &axe, "invitation", &invitation, &mut found).await;

    b.sign_in(ADMIN_EMAIL).await;
    let s = format!("/orgs/{org}/settings");
    for (name, path) in [
        ("admin-settings", s.clone()),
        ("admin-organisation", format!("{s}/organisation")),
        ("admin-general", format!("{s}/general")),
        ("members", format!("{s}/members")),
        ("member-role", format!("{s}/members/{mary}/role?role=admin")),
        ("member-remove", format!("{s}/members/{mary}/remove")),
        ("authentication", format!("{s}/authentication")),
        ("add-contact", format!("{s}/authentication?add=1")),
        ("add-contact-search", format!("{s}/authentication?q=a")),
        (
            "remove-contact",
            format!("{s}/authentication/it-contacts/{contact}/remove"),
        ),
        ("single-sign-on", format!("{s}/sso")),
        ("audit-log", format!("{s}/audit-log")),
        ("admin-account", "/account".to_owned()),
    ] {
        visit(&b, &axe, name, &path, &mut found).await;
    }
    b.goto("/account").await;
    b.find("form[action=\"/sign-out\"] button")
        .await
        .click()
        .await
        .unwrap();
    b.wait_for_path("/").await;

    b.sign_in(MEMBER_EMAIL).await;
    for (name, path) in [
        ("member-account", "/account".to_owned()),
        ("member-settings", s.clone()),
        ("member-organisation", format!("{s}/organisation")),
        ("member-general", format!("{s}/general")),
    ] {
        visit(&b, &axe, name, &path, &mut found).await;
    }
    b.find("form[action=\"/sign-out\"] button")
        .await
        .click()
        .await
        .unwrap();
    b.wait_for_path("/").await;

    b.sign_in(OPS_EMAIL).await;
    visit(&b, &axe, "ops", "/ops", &mut found).await;
    visit(&b, &axe, "ops-drift", "/ops?drift=1", &mut found).await;

    // The Nu HTML Checker over every page saved and every mail body: zero errors.
    let mut files = SAVED.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mails = save_mail_bodies(&scene);
    assert!(!mails.is_empty(), "the outbox has mails with an HTML body");
    files.extend(mails);
    if let Some(jar) = crate::vnu::vnu_jar() {
        for e in crate::vnu::errors(&jar, &files) {
            found.push(format!("Nu HTML Checker: {e}"));
        }
    }

    if std::env::var_os("SMARTCORE_SCREENS_REPORT_ONLY").is_some() {
        eprintln!("{} problems:\n{}", found.len(), found.join("\n"));
    } else {
        assert!(found.is_empty(), "{}", found.join("\n"));
    }
    b.close().await;
}
