//! Setup links (D7): signed, expiring, read-only, revoked with their contact.

use crate::support::{Backend, TestApp, fresh_database};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use smartcore_app::ManualClock;
use smartcore_domain::Timestamp;
use smtp_sink::SmtpSink;
use std::sync::Arc;

fn link_in(message: &[u8]) -> String {
    let parsed = mail_parser::MessageParser::default()
        .parse(message)
        .expect("an RFC 5322 message");
    let text = parsed.body_text(0).expect("a text part").into_owned();
    let start = text.find("http://").expect("a link");
    text[start..]
        .split_whitespace()
        .next()
        .unwrap()
        .trim_end_matches(['.', ')', '>'])
        .to_owned()
}

async fn setup_links_open_read_only_details_until_they_expire_or_are_revoked(backend: Backend) {
    let sink = SmtpSink::start().await;
    let clock = Arc::new(ManualClock::new(Timestamp::from_datetime(
        time::OffsetDateTime::now_utc(),
    )));
    let (url, _dir) = fresh_database(backend).await.expect("database");
    let extra = [
        ("SMARTCORE_MAIL", "smtp".to_owned()),
        ("SMARTCORE_SMTP_URL", sink.url()),
    ];
    let app = TestApp::start_with_clock(backend, &url, &extra, clock.clone()).await;
    let (org, token) = app.org_with_admin("Acme").await;
    let ada = app.add_manual(&org, &token, "ada@acme.example").await;
    app.add_manual(&org, &token, "grace@acme.example").await;
    crate::trust::welcomes_out(&app, &sink, 2).await;

    let r = app
        .request(
            Method::POST,
            &format!("/api/v1/orgs/{org}/setup-links"),
            Some(&token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["sent_to"], 2);
    let messages = sink.messages();
    assert_eq!(messages.len(), 2);
    let to_ada = messages
        .iter()
        .find(|m| m.rcpt_to.iter().any(|r| r == "ada@acme.example"))
        .unwrap();
    let to_grace = messages
        .iter()
        .find(|m| m.rcpt_to.iter().any(|r| r == "grace@acme.example"))
        .unwrap();
    let ada_link = link_in(&to_ada.data);
    let grace_link = link_in(&to_grace.data);
    assert!(
        ada_link.starts_with(&format!("{}/setup/", app.base_url)),
        "{ada_link}"
    );
    assert_ne!(ada_link, grace_link);

    // The page: the service-provider values and the status, and nothing to change.
    let page = app.http.get(&ada_link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!("{}/saml/{org}/acs", app.base_url)),
        "{html}"
    );
    assert!(html.contains("EntityDescriptor"));
    assert!(html.contains("read-only"));
    assert!(!html.contains("<form"), "a setup page changes nothing");

    // Tampered: refused.
    let mut tampered = ada_link.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(
        app.http.get(&tampered).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.http
            .get(format!("{}/setup/not-a-token", app.base_url))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );

    // Revoked with its contact; the other contact's link still works.
    let r = app
        .delete(
            &format!(
                "/api/v1/orgs/{org}/it-contacts/{}",
                ada["id"].as_str().unwrap()
            ),
            &token,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.http.get(&ada_link).send().await.unwrap().status(),
        StatusCode::GONE
    );
    assert_eq!(
        app.http.get(&grace_link).send().await.unwrap().status(),
        StatusCode::OK
    );

    // Expired after 72 hours.
    clock.advance_millis(72 * 3600 * 1000 + 1000);
    let expired = app.http.get(&grace_link).send().await.unwrap();
    assert_eq!(expired.status(), StatusCode::GONE);
    assert!(expired.text().await.unwrap().contains("expired"));
}
on_each_backend!(setup_links_open_read_only_details_until_they_expire_or_are_revoked);

/// Our service-provider metadata at its own URL.
mod service_provider {
    use crate::support::TestApp;

    async fn service_provider_metadata_is_public_at_a_url_linked_from_the_page(app: TestApp) {
        let (org, _token) = app.org_with_admin("Metadata Ltd").await;
        let r = app
            .http
            .get(format!("{}/saml/{org}/metadata", app.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["content-type"],
            "application/samlmetadata+xml; charset=utf-8"
        );
        let xml = r.text().await.unwrap();
        let entity_id = format!("{}/saml/{org}", app.base_url);
        assert!(xml.contains(&format!(r#"entityID="{entity_id}""#)), "{xml}");
        assert!(
            xml.contains(&format!(r#"Location="{entity_id}/acs""#)),
            "{xml}"
        );
        let r = app
            .http
            .get(format!(
                "{}/saml/org_00000000000000000000000000000000/metadata",
                app.base_url
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);

        app.member(
            &org,
            "Sam Admin",
            "sam@acme.example",
            smartcore_domain::Role::Admin,
        )
        .await;
        let cookie = app.sign_in("sam@acme.example").await;
        let html = app
            .page(&format!("/orgs/{org}/settings/sso"), &cookie)
            .await;
        assert!(
            html.contains(&format!(r#"href="/saml/{org}/metadata""#)),
            "{html}"
        );
    }
    on_both_databases!(service_provider_metadata_is_public_at_a_url_linked_from_the_page);
}
