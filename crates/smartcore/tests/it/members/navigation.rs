//! Every signed-in page leads to the settings, whose sections are links.

use super::*;

async fn every_signed_in_page_leads_to_settings_and_its_sections_are_links(app: TestApp) {
    let (org, token) = app.org_with_admin("Navigation").await;
    let email = members_page_json(&app, &org, &token, "").await["members"][0]["email"]
        .as_str()
        .unwrap()
        .to_owned();
    let cookie = app.sign_in(&email).await;
    for path in [
        format!("/orgs/{org}/settings/authentication"),
        format!("/orgs/{org}/settings/sso"),
        format!("/orgs/{org}/settings/audit-log"),
        format!("/orgs/{org}/settings/members"),
        format!("/orgs/{org}/settings/general"),
        format!("/orgs/{org}/settings/organisation"),
        format!("/orgs/{org}/settings"),
    ] {
        let html = app.page(&path, &cookie).await;
        assert!(
            html.contains(&format!("<a href=\"/orgs/{org}/settings\">Settings</a>"))
                || html.contains(&format!(
                    "href=\"/orgs/{org}/settings\" aria-current=\"page\">Settings</a>"
                )),
            "{path}: {html}"
        );
    }
    let html = app.page("/account", &cookie).await;
    assert!(html.contains("<a href=\"/settings\">Settings</a>"));
    let r = app
        .http
        .get(format!("{}/settings", app.base_url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["location"],
        format!("/orgs/{org}/settings").as_str()
    );

    let index = app.page(&format!("/orgs/{org}/settings"), &cookie).await;
    for (href, label) in [
        ("organisation", "Organisation"),
        ("general", "General"),
        ("members", "Members"),
        ("authentication", "Authentication"),
        ("sso", "Single Sign-On"),
        ("audit-log", "Audit log"),
    ] {
        assert!(
            index.contains(&format!(
                "<a href=\"/orgs/{org}/settings/{href}\">{label}</a>"
            )),
            "{label}: {index}"
        );
    }
    // The breadcrumb's parts are links.
    let html = app
        .page(&format!("/orgs/{org}/settings/authentication"), &cookie)
        .await;
    assert!(html.contains(&format!("<li><a href=\"/orgs/{org}/settings\">Settings</a></li><li><a href=\"/orgs/{org}/settings/organisation\">Organisation</a></li>")), "{html}");
    let general = app
        .page(&format!("/orgs/{org}/settings/general"), &cookie)
        .await;
    assert!(general.contains("Navigation"));
}
on_both_databases!(every_signed_in_page_leads_to_settings_and_its_sections_are_links);
