//! The same pages without a browser: every form works with plain POSTs and redirects, the
//! headers and markup keep to the CSP, and the page's weight and render time are measured.

use crate::{ADMIN_EMAIL, Scene};
use reqwest::StatusCode;
use serde_json::json;
use smartcore_domain::Role;
use std::time::{Duration, Instant};

const PASSWORD: &str = crate::driver::PASSWORD;

/// Signs in with the form; returns the `Cookie` header value of the new session.
async fn session(scene: &Scene, email: &str) -> String {
    let r = scene
        .app
        .http
        .post(format!("{}/sign-in", scene.app.base_url))
        .form(&[("email", email), ("password", PASSWORD)])
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

async fn post(scene: &Scene, cookie: &str, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    scene
        .app
        .http
        .post(format!("{}{}", scene.app.base_url, path))
        .header("cookie", cookie)
        .header("sec-fetch-site", "same-origin")
        .form(form)
        .send()
        .await
        .unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_form_works_without_javascript() {
    let Some(scene) = Scene::new(&[]).await else {
        return;
    };
    let cookie = session(&scene, ADMIN_EMAIL).await;
    let page = scene.page();

    // "Add contact" without JavaScript: the dialog rendered open, the picker a search form.
    let (status, html) = get(&scene, &cookie, &format!("{page}?add=1")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<dialog id=\"add-contact\"") && html.contains(" open data-server-open"));
    let (_, html) = get(&scene, &cookie, &format!("{page}?q=grace")).await;
    assert!(html.contains("1 member found."), "{html}");
    assert!(html.contains("aria-label=\"Add Grace Hopper\""));
    let grace = scene
        .app
        .app
        .accounts()
        .user_by_email("grace@acme.example")
        .await
        .unwrap()
        .id;
    assert!(html.contains(&format!("name=\"member_id\" value=\"{grace}\"")));

    let r = post(
        &scene,
        &cookie,
        &format!("{page}/it-contacts"),
        &[("way", "member"), ("member_id", &grace), ("q", "grace")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("{page}?added=1#notice"));
    let (_, html) = get(&scene, &cookie, &format!("{page}?q=grace")).await;
    assert!(
        html.contains("Already an IT contact"),
        "members already contacts are shown as such"
    );

    // Errors come back next to the field, with the input kept.
    let r = post(
        &scene,
        &cookie,
        &format!("{page}/it-contacts"),
        &[("way", "manual"), ("email", "a@b@c"), ("name", "Kept Name")],
    )
    .await;
    // Issue 23: back to the page (303), the dialog open with the error and the input kept.
    assert!(location(&r).ends_with("#email"), "{}", location(&r));
    let (_, html) = scene.app.follow(r, &cookie).await;
    assert!(html.contains("id=\"email-error\"") && html.contains(" open data-server-open"));
    assert!(html.contains("value=\"a@b@c\"") && html.contains("value=\"Kept Name\""));
    let (_, again) = get(&scene, &cookie, &page).await;
    assert!(!again.contains("id=\"email-error\""), "shown once");
    let r = post(
        &scene,
        &cookie,
        &format!("{page}/it-contacts"),
        &[
            ("way", "manual"),
            ("email", "x@partner.example"),
            ("name", &"n".repeat(101)),
        ],
    )
    .await;
    assert!(
        scene
            .app
            .follow(r, &cookie)
            .await
            .1
            .contains("id=\"name-error\"")
    );
    let r = post(
        &scene,
        &cookie,
        &format!("{page}/it-contacts"),
        &[("way", "member"), ("member_id", &grace), ("q", "grace")],
    )
    .await;
    assert!(location(&r).contains("q=grace"), "the search again");
    let (_, html) = scene.app.follow(r, &cookie).await;
    assert!(html.contains("id=\"member-error\"") && html.contains("is already an IT contact"));
    assert!(
        html.contains("Already an IT contact"),
        "with the search's results"
    );

    // Removing: a confirmation page, then a POST.
    let id = scene.app.contacts(&scene.org, &scene.admin_token).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, html) = get(&scene, &cookie, &format!("{page}/it-contacts/{id}/remove")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Remove IT contact") && html.contains("Grace Hopper"));
    let r = post(
        &scene,
        &cookie,
        &format!("{page}/it-contacts/{id}/remove"),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&r).starts_with(&format!("{page}?removed=")),
        "{}",
        location(&r)
    );
    assert!(
        scene
            .app
            .contacts(&scene.org, &scene.admin_token)
            .await
            .is_empty()
    );

    // A cross-site form post is refused.
    let r = scene
        .app
        .http
        .post(format!("{}{page}/it-contacts", scene.app.base_url))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "cross-site")
        .form(&[("way", "manual"), ("email", "evil@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        scene
            .app
            .contacts(&scene.org, &scene.admin_token)
            .await
            .is_empty()
    );

    // The audit log, newest first, a page at a time.
    for i in 0..55 {
        scene
            .app
            .add_manual(
                &scene.org,
                &scene.admin_token,
                &format!("bulk{i}@partner.example"),
            )
            .await;
        if i < 54 {
            let c = scene.app.contacts(&scene.org, &scene.admin_token).await;
            let last = c.last().unwrap()["id"].as_str().unwrap().to_owned();
            scene
                .app
                .delete(
                    &format!("/api/v1/orgs/{}/it-contacts/{last}", scene.org),
                    &scene.admin_token,
                )
                .await;
        }
    }
    let (status, html) = get(
        &scene,
        &cookie,
        &format!("/orgs/{}/settings/audit-log", scene.org),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(html.matches("<tr data-action=").count(), 50);
    let older = html
        .split("audit-log?before=")
        .nth(1)
        .expect("a link to older events");
    let before = &older[..older.find('"').unwrap()];
    let (_, html2) = get(
        &scene,
        &cookie,
        &format!("/orgs/{}/settings/audit-log?before={before}", scene.org),
    )
    .await;
    assert!(html2.matches("<tr data-action=").count() > 0);
    assert!(html2.contains("Newest events"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_of_several_organisations_can_switch_between_them() {
    let Some(scene) = Scene::new(&[]).await else {
        return;
    };
    let other = scene
        .app
        .app
        .operations()
        .create_org("Globex & <Co>")
        .await
        .unwrap();
    scene
        .app
        .app
        .operations()
        .add_member(&other, ADMIN_EMAIL, Role::Admin)
        .await
        .unwrap();
    let cookie = session(&scene, ADMIN_EMAIL).await;
    let (_, html) = get(&scene, &cookie, &scene.page()).await;
    assert!(html.contains("aria-label=\"Switch organisation\""));
    assert!(html.contains(&format!(
        "href=\"/orgs/{}/settings/authentication\"",
        other.id
    )));
    assert!(
        html.contains("Globex &#38; &#60;Co&#62;") && !html.contains("<Co>"),
        "names are escaped"
    );
    let (status, html) = get(
        &scene,
        &cookie,
        &format!("/orgs/{}/settings/authentication", other.id),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("aria-current=\"page\">Globex &#38; &#60;Co&#62;</a>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_keep_to_the_content_security_policy() {
    let Some(scene) = Scene::new(&[]).await else {
        return;
    };
    scene
        .app
        .add_manual(&scene.org, &scene.admin_token, "it@partner.example")
        .await;
    let cookie = session(&scene, ADMIN_EMAIL).await;
    for path in [
        scene.page(),
        format!("{}?add=1", scene.page()),
        format!("/orgs/{}/settings/audit-log", scene.org),
        "/sign-in".to_owned(),
    ] {
        let r = scene
            .app
            .http
            .get(format!("{}{}", scene.app.base_url, path))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        let html = r.text().await.unwrap();
        assert!(!html.contains(" style="), "no inline style on {path}");
        let handler = html.split(" on").skip(1).find(|rest| {
            let word: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            !word.is_empty() && rest[word.len()..].starts_with('=')
        });
        assert!(handler.is_none(), "no inline event handlers on {path}");
        assert_eq!(html.matches("<script").count(), 1, "{path}");
        assert!(html.contains("<script src=\"/static/app.js\" defer></script>"));
    }
}

/// Page weight (HTML + CSS + JS) and server render time of the Authentication page for an
/// organisation with 20 contacts, printed; the bars are 100 KB and 50 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_page_weight_and_render_time_with_twenty_contacts() {
    let Some(scene) = Scene::new(&[]).await else {
        return;
    };
    for i in 0..20 {
        let body = json!({ "email": format!("it{i}@partner.example"), "name": format!("IT contact number {i}") });
        let r = scene
            .app
            .add_contact(&scene.org, &scene.admin_token, body)
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let cookie = session(&scene, ADMIN_EMAIL).await;
    let mut times = Vec::new();
    let mut html_bytes = 0;
    for _ in 0..21 {
        let started = Instant::now();
        let (status, html) = get(&scene, &cookie, &scene.page()).await;
        times.push(started.elapsed());
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("20 of 20"));
        html_bytes = html.len();
    }
    let first = times[0];
    times.sort();
    let median = times[times.len() / 2];
    let css = get(&scene, &cookie, "/static/app.css").await.1.len();
    let js = get(&scene, &cookie, "/static/app.js").await.1.len();
    let total = html_bytes + css + js;
    println!(
        "authentication page, 20 contacts: HTML {html_bytes} B + CSS {css} B + JS {js} B = {total} B ({:.1} KB); \
         first render {:.1} ms, median {:.1} ms (request round trip on 127.0.0.1, {} build)",
        total as f64 / 1024.0,
        first.as_secs_f64() * 1000.0,
        median.as_secs_f64() * 1000.0,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    );
    assert!(total < 100 * 1024, "page weight {total} B is over 100 KB");
    assert!(
        median < Duration::from_millis(50),
        "median render {median:?} is over 50 ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operations_pages_are_for_staff_only() {
    let Some(scene) = Scene::new(&[]).await else {
        return;
    };
    scene
        .app
        .app
        .accounts()
        .create_user("ops@smartcore.example", Some("Ops"), Some(PASSWORD), true)
        .await
        .unwrap();
    let staff = session(&scene, "ops@smartcore.example").await;
    let (status, html) = get(&scene, &staff, "/ops").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Identity-side removals waiting for us") && html.contains("Sync failures")
    );
    let (status, html) = get(&scene, &staff, "/ops?drift=1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("checked."), "{html}");
    let admin = session(&scene, ADMIN_EMAIL).await;
    let (status, _) = get(&scene, &admin, "/ops").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the ops pages do not exist for others"
    );
}
