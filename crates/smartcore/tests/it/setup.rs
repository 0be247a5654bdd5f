//! Domains verified through a real DNS exchange, the SAML configuration, and enabling SSO (R8).

use crate::support::{Backend, TestApp, certificate, fresh_database, problem};
use dns_fake::DnsFake;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use smartcore_app::ManualClock;
use smartcore_domain::{OrgId, Timestamp};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

fn pem_body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

fn metadata(certs: &[String]) -> String {
    let keys: String = certs
        .iter()
        .map(|c| {
            format!(
                r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
                pem_body(c)
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.acme.example/saml">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    {keys}
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.acme.example/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#
    )
}

async fn with_dns(backend: Backend) -> (TestApp, DnsFake, String, String) {
    let dns = DnsFake::start().await;
    let app = TestApp::spawn_with(backend, &[("SMARTCORE_DNS_SERVER", dns.addr().to_string())])
        .await
        .expect("database");
    let (org, token) = app.org_with_admin("Acme").await;
    (app, dns, org, token)
}

async fn a_domain_is_verified_by_its_txt_record(backend: Backend) {
    let (app, dns, org, token) = with_dns(backend).await;
    let r = app
        .post(
            &format!("/api/v1/orgs/{org}/domains"),
            &token,
            json!({ "domain": " Acme.Example. " }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let domain: Value = r.json().await.unwrap();
    assert!(domain["id"].as_str().unwrap().starts_with("dom_"));
    assert_eq!(domain["domain"], "acme.example");
    assert_eq!(domain["status"], "pending");
    assert_eq!(domain["dns_record"]["type"], "TXT");
    assert_eq!(
        domain["dns_record"]["name"],
        "_smartcore-challenge.acme.example"
    );
    let value = domain["dns_record"]["value"].as_str().unwrap().to_owned();
    assert!(value.starts_with("smartcore-verification="));
    let verify = format!(
        "/api/v1/orgs/{org}/domains/{}/verify",
        domain["id"].as_str().unwrap()
    );

    // Not published yet.
    let body = problem(
        app.request(Method::POST, &verify, Some(&token))
            .send()
            .await
            .unwrap(),
        409,
        "txt_record_not_found",
    )
    .await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("_smartcore-challenge.acme.example")
    );
    // Published with the wrong value: refused, and the answer says what was found.
    dns.set_txt(
        "_smartcore-challenge.acme.example",
        vec!["smartcore-verification=wrong".into()],
    );
    let body = problem(
        app.request(Method::POST, &verify, Some(&token))
            .send()
            .await
            .unwrap(),
        409,
        "txt_record_not_found",
    )
    .await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("smartcore-verification=wrong"),
        "{body}"
    );
    // Published right: verified at once (no stale negative answer from a cache).
    dns.set_txt(
        "_smartcore-challenge.acme.example",
        vec!["v=spf1 -all".into(), value.clone()],
    );
    let r = app
        .request(Method::POST, &verify, Some(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let verified: Value = r.json().await.unwrap();
    assert_eq!(verified["status"], "verified");
    assert!(verified["verified_at"].as_str().is_some());

    // One organisation per verified domain.
    let (other, other_token) = app.org_with_admin("Globex").await;
    let d: Value = app
        .post(
            &format!("/api/v1/orgs/{other}/domains"),
            &other_token,
            json!({ "domain": "acme.example" }),
        )
        .await
        .json()
        .await
        .unwrap();
    dns.set_txt(
        "_smartcore-challenge.acme.example",
        vec![value, d["dns_record"]["value"].as_str().unwrap().to_owned()],
    );
    let r = app
        .request(
            Method::POST,
            &format!(
                "/api/v1/orgs/{other}/domains/{}/verify",
                d["id"].as_str().unwrap()
            ),
            Some(&other_token),
        )
        .send()
        .await
        .unwrap();
    problem(r, 409, "domain_taken").await;

    let overview: Value = app
        .get(&format!("/api/v1/orgs/{org}/authentication"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(overview["checklist"]["domain_verified"], true);
    assert_eq!(overview["domains"][0]["status"], "verified");
}

async fn bad_domains_are_refused_clearly(backend: Backend) {
    let (app, _dns, org, token) = with_dns(backend).await;
    for bad in [
        "",
        "localhost",
        "*.acme.example",
        "10.0.0.1",
        "acme..example",
        "-acme.example",
        "a b.example",
    ] {
        let r = app
            .post(
                &format!("/api/v1/orgs/{org}/domains"),
                &token,
                json!({ "domain": bad }),
            )
            .await;
        let body = problem(r, 422, "invalid_domain").await;
        assert_eq!(body["field"], "domain");
    }
    let r = app
        .post(
            &format!("/api/v1/orgs/{org}/domains"),
            &token,
            json!({ "domain": "bücher.example" }),
        )
        .await;
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["domain"], "xn--bcher-kva.example");
    let r = app
        .post(
            &format!("/api/v1/orgs/{org}/domains"),
            &token,
            json!({ "domain": "BÜCHER.example" }),
        )
        .await;
    problem(r, 409, "domain_exists").await;
}

async fn sso_configuration_from_fields_or_metadata_keeps_every_certificate(backend: Backend) {
    let (app, _dns, org, token) = with_dns(backend).await;
    let now = OffsetDateTime::now_utc();
    let old = certificate(
        "old.idp.acme.example",
        now - Duration::days(300),
        now + Duration::days(20),
    );
    let new = certificate(
        "new.idp.acme.example",
        now - Duration::days(1),
        now + Duration::days(700),
    );
    let put = |body: Value| {
        app.request(
            Method::PUT,
            &format!("/api/v1/orgs/{org}/sso"),
            Some(&token),
        )
        .json(&body)
        .send()
    };

    let r = put(json!({ "idp_entity_id": "https://idp.acme.example/saml", "idp_sso_url": "https://idp.acme.example/sso", "idp_certificate_pem": old })).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let sso: Value = r.json().await.unwrap();
    assert_eq!(sso["status"], "configured");
    assert_eq!(sso["certificates"].as_array().unwrap().len(), 1);
    assert_eq!(sso["certificates"][0]["subject"], "CN=old.idp.acme.example");
    assert_eq!(
        sso["certificates"][0]["fingerprint_sha256"]
            .as_str()
            .unwrap()
            .len(),
        95
    );

    let r = put(json!({ "metadata_xml": metadata(&[old.clone(), new.clone()]) }))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let sso: Value = r.json().await.unwrap();
    let subjects: Vec<&str> = sso["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["subject"].as_str().unwrap())
        .collect();
    assert_eq!(
        subjects,
        ["CN=old.idp.acme.example", "CN=new.idp.acme.example"],
        "soonest to expire first"
    );
    assert_eq!(sso["idp_sso_url"], "https://idp.acme.example/sso");

    let log: Value = app
        .get(&format!("/api/v1/orgs/{org}/audit-log"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        log["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "sso.configured")
    );
}

async fn hostile_or_broken_configurations_are_refused(backend: Backend) {
    let (app, _dns, org, token) = with_dns(backend).await;
    let put = |body: Value| {
        app.request(
            Method::PUT,
            &format!("/api/v1/orgs/{org}/sso"),
            Some(&token),
        )
        .json(&body)
        .send()
    };
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&x;"/>"#;
    let bomb = r#"<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><l>&c;</l>"#;
    for xml in [xxe, bomb, "<not-metadata/>", "not xml at all"] {
        problem(
            put(json!({ "metadata_xml": xml })).await.unwrap(),
            422,
            "invalid_metadata",
        )
        .await;
    }
    let r = put(json!({ "idp_entity_id": "https://idp.acme.example", "idp_sso_url": "https://idp.acme.example/sso", "idp_certificate_pem": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----" })).await.unwrap();
    problem(r, 422, "invalid_certificate").await;
    let r = put(json!({ "metadata_xml": "x", "idp_entity_id": "y" }))
        .await
        .unwrap();
    problem(r, 422, "invalid_request").await;
    let sso: Value = app
        .get(&format!("/api/v1/orgs/{org}/sso"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sso["status"], "not_configured");
    assert!(sso["certificates"].as_array().unwrap().is_empty());
}

async fn sso_is_enabled_only_with_a_verified_domain_a_contact_and_a_configuration(
    backend: Backend,
) {
    let (app, dns, org, token) = with_dns(backend).await;
    let enable = || {
        app.request(
            Method::POST,
            &format!("/api/v1/orgs/{org}/sso/enable"),
            Some(&token),
        )
        .send()
    };
    let body = problem(enable().await.unwrap(), 409, "prerequisites_missing").await;
    assert_eq!(
        body["missing"],
        json!(["verified_domain", "it_contact", "sso_configuration"])
    );

    app.add_manual(&org, &token, "it@acme.example").await;
    let body = problem(enable().await.unwrap(), 409, "prerequisites_missing").await;
    assert_eq!(
        body["missing"],
        json!(["verified_domain", "sso_configuration"])
    );

    let d: Value = app
        .post(
            &format!("/api/v1/orgs/{org}/domains"),
            &token,
            json!({ "domain": "acme.example" }),
        )
        .await
        .json()
        .await
        .unwrap();
    dns.set_txt(
        "_smartcore-challenge.acme.example",
        vec![d["dns_record"]["value"].as_str().unwrap().to_owned()],
    );
    let r = app
        .request(
            Method::POST,
            &format!(
                "/api/v1/orgs/{org}/domains/{}/verify",
                d["id"].as_str().unwrap()
            ),
            Some(&token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = problem(enable().await.unwrap(), 409, "prerequisites_missing").await;
    assert_eq!(body["missing"], json!(["sso_configuration"]));

    let now = OffsetDateTime::now_utc();
    let pem = certificate(
        "idp.acme.example",
        now - Duration::days(1),
        now + Duration::days(365),
    );
    let r = app.request(Method::PUT, &format!("/api/v1/orgs/{org}/sso"), Some(&token))
            .json(&json!({ "idp_entity_id": "https://idp.acme.example", "idp_sso_url": "https://idp.acme.example/sso", "idp_certificate_pem": pem }))
            .send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let overview: Value = app
        .get(&format!("/api/v1/orgs/{org}/authentication"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(overview["checklist"]["ready_to_enable_sso"], true);

    let r = enable().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let sso: Value = r.json().await.unwrap();
    assert_eq!(sso["status"], "enabled");
    // D1 now applies: the last contact stays.
    let contacts = app.contacts(&org, &token).await;
    let r = app
        .delete(
            &format!(
                "/api/v1/orgs/{org}/it-contacts/{}",
                contacts[0]["id"].as_str().unwrap()
            ),
            &token,
        )
        .await;
    problem(r, 409, "last_contact_required").await;
}

async fn the_single_sign_on_page_takes_metadata_as_an_uploaded_file(backend: Backend) {
    let (app, _dns, org, _token) = with_dns(backend).await;
    app.member(
        &org,
        "Sam Admin",
        "sam@acme.example",
        smartcore_domain::Role::Admin,
    )
    .await;
    let cookie = app.sign_in("sam@acme.example").await;
    let page = format!("/orgs/{org}/settings/sso");
    let html = app.page(&page, &cookie).await;
    assert!(
        html.contains(r#"enctype="multipart/form-data""#) && html.contains(r#"type="file""#),
        "{html}"
    );
    let upload = |file: String, pasted: &'static str| {
        let form = reqwest::multipart::Form::new()
            .part(
                "metadata_file",
                reqwest::multipart::Part::bytes(file.into_bytes())
                    .file_name("FederationMetadata.xml")
                    .mime_str("application/xml")
                    .unwrap(),
            )
            .text("metadata_xml", pasted)
            .text("idp_entity_id", "")
            .text("idp_sso_url", "")
            .text("idp_certificate_pem", "");
        app.http
            .post(format!("{}{page}/configuration", app.base_url))
            .header("cookie", cookie.clone())
            .multipart(form)
            .send()
    };
    let now = OffsetDateTime::now_utc();
    let cert = certificate(
        "uploaded.acme.example",
        now - Duration::days(1),
        now + Duration::days(400),
    );

    // A broken file: the error on the page, nothing stored.
    let r = upload("<not-metadata/>".into(), "").await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains(r#"id="config-error""#), "{html}");

    // The file wins over pasted text, and its certificate is shown.
    let r = upload(metadata(&[cert]), "pasted text that is not metadata")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = app.page(&page, &cookie).await;
    assert!(
        html.contains("uploaded.acme.example") && html.contains("https://idp.acme.example/saml"),
        "{html}"
    );
}

async fn the_single_sign_on_page_takes_an_administrator_through_setup(backend: Backend) {
    let (app, dns, org, token) = with_dns(backend).await;
    app.member(
        &org,
        "Sam Admin",
        "sam@acme.example",
        smartcore_domain::Role::Admin,
    )
    .await;
    let cookie = app.sign_in("sam@acme.example").await;
    let page = format!("/orgs/{org}/settings/sso");
    let post = |path: String, form: Vec<(&'static str, String)>| {
        let (http, url, cookie) = (
            app.http.clone(),
            format!("{}{path}", app.base_url),
            cookie.clone(),
        );
        async move {
            http.post(url)
                .header("cookie", cookie)
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    };
    let html = app.page(&page, &cookie).await;
    assert!(
        html.contains("Not set up") && html.contains("No domains yet."),
        "{html}"
    );

    // A bad domain: the error next to the field, what was typed kept, nothing added.
    let r = post(
        format!("{page}/domains"),
        vec![("domain", "acme..example".into())],
    )
    .await;
    assert_eq!(r.headers()["location"], format!("{page}#domain-error"));
    let (_, html) = app.follow(r, &cookie).await;
    assert!(
        html.contains(r#"id="domain-error""#) && html.contains(r#"value="acme..example""#),
        "{html}"
    );
    assert!(html.contains("No domains yet."));

    // Added: the TXT record to publish is shown; Verify says plainly it is not there yet.
    let r = post(
        format!("{page}/domains"),
        vec![("domain", "Acme.Example".into())],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = app.page(&page, &cookie).await;
    assert!(html.contains("_smartcore-challenge.acme.example"), "{html}");
    let domains: Value = app
        .get(&format!("/api/v1/orgs/{org}/domains"), &token)
        .await
        .json()
        .await
        .unwrap();
    let domain = &domains["domains"][0];
    let (id, value) = (
        domain["id"].as_str().unwrap(),
        domain["dns_record"]["value"].as_str().unwrap(),
    );
    assert!(html.contains(value));
    let r = post(format!("{page}/domains/{id}/verify"), vec![]).await;
    // Issue 23: a redirect to the page, the refusal shown once beside the domains.
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], format!("{page}#verify-error"));
    let flash = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = app.page(&page, &format!("{cookie}; {flash}")).await;
    assert!(html.contains(r#"id="verify-error""#), "{html}");
    assert!(
        !app.page(&page, &cookie)
            .await
            .contains(r#"id="verify-error""#),
        "once"
    );
    dns.set_txt("_smartcore-challenge.acme.example", vec![value.to_owned()]);
    let r = post(format!("{page}/domains/{id}/verify"), vec![]).await;
    assert_eq!(
        r.headers()["location"],
        format!("{page}?done=verified#notice")
    );
    assert!(
        app.page(&page, &cookie)
            .await
            .contains(r#"data-status="verified""#)
    );

    // Enabling too early says what is missing.
    let r = post(format!("{page}/enable"), vec![]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], format!("{page}#enable-error"));
    let flash = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = app.page(&page, &format!("{cookie}; {flash}")).await;
    assert!(
        html.contains("at least one IT contact") && html.contains("SAML configuration"),
        "{html}"
    );

    // A certificate that is not one: refused, the other fields kept.
    let r = post(
        format!("{page}/configuration"),
        vec![
            ("idp_entity_id", "https://idp.acme.example".into()),
            ("idp_sso_url", "https://idp.acme.example/sso".into()),
            ("idp_certificate_pem", "not a certificate".into()),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains(r#"id="config-error""#)
            && html.contains(r#"value="https://idp.acme.example/sso""#),
        "{html}"
    );

    // Metadata with two signing certificates: both listed with their expiry.
    let now = OffsetDateTime::now_utc();
    let soon = certificate(
        "old.acme.example",
        now - Duration::days(300),
        now + Duration::days(20),
    );
    let later = certificate(
        "new.acme.example",
        now - Duration::days(1),
        now + Duration::days(400),
    );
    let r = post(
        format!("{page}/configuration"),
        vec![("metadata_xml", metadata(&[soon, later]))],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = app.page(&page, &cookie).await;
    assert!(
        html.contains("old.acme.example") && html.contains("new.acme.example"),
        "{html}"
    );
    assert_eq!(
        html.matches("(soon)").count(),
        1,
        "the one expiring within 60 days is marked"
    );

    // With an IT contact: setup links go out, and SSO can be enabled.
    app.add_manual(&org, &token, "it@acme.example").await;
    let r = post(format!("{page}/setup-links"), vec![]).await;
    assert_eq!(
        r.headers()["location"],
        format!("{page}?done=links_sent&sent=1#notice")
    );
    let r = post(format!("{page}/enable"), vec![]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = app.page(&format!("{page}?done=enabled"), &cookie).await;
    assert!(
        html.contains("Single Sign-On is enabled.") && html.contains(r#"data-status="enabled""#),
        "{html}"
    );
    assert!(
        html.contains("Single Sign-On is on since <time datetime="),
        "{html}"
    );

    // A member may not use any of it.
    app.member(
        &org,
        "Mo Member",
        "mo@acme.example",
        smartcore_domain::Role::Member,
    )
    .await;
    let member = app.sign_in("mo@acme.example").await;
    let r = app
        .http
        .post(format!("{}{page}/domains", app.base_url))
        .header("cookie", member)
        .form(&[("domain", "globex.example")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

async fn a_due_domain_is_looked_up_once_by_two_instances_and_again_after_a_killed_ones_lease(
    backend: Backend,
) {
    // Two instances on one database (test services run no workers), on a clock the test
    // controls (the default lease: 10 s).
    let dns = DnsFake::start().await;
    let t0 = Timestamp::from_datetime(OffsetDateTime::now_utc());
    let clock = Arc::new(ManualClock::new(t0));
    let (url, _db) = fresh_database(backend).await.expect("database");
    let extra = [("SMARTCORE_DNS_SERVER", dns.addr().to_string())];
    let a = TestApp::start_with_clock(backend, &url, &extra, clock.clone()).await;
    let b = TestApp::start_with_clock(backend, &url, &extra, clock.clone()).await;
    let (org, token) = a.org_with_admin("Acme").await;
    for i in 0..8 {
        let r = a
            .post(
                &format!("/api/v1/orgs/{org}/domains"),
                &token,
                json!({ "domain": format!("d{i}.acme.example") }),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let org_id = OrgId::parse(&org).unwrap();
    let checks = || async {
        a.store()
            .await
            .domains(&org_id)
            .await
            .unwrap()
            .iter()
            .map(|d| d.checks)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        a.app.setup().recheck_domains(10).await.unwrap(),
        0,
        "not due yet"
    );

    // Due (a minute after they were added): both instances re-check at once, two workers
    // each; every domain is looked up once.
    clock.set(t0.plus_millis(61_000));
    let queries = dns.query_count();
    let rechecks: Vec<_> = [&a, &b, &a, &b]
        .iter()
        .map(|t| {
            let app = t.app.clone();
            tokio::spawn(async move { app.setup().recheck_domains(10).await.unwrap() })
        })
        .collect();
    let mut handled = 0;
    for r in rechecks {
        handled += r.await.unwrap();
    }
    assert_eq!(handled, 8);
    assert_eq!(dns.query_count() - queries, 8, "one look-up each");
    assert_eq!(checks().await, [1; 8]);

    // Due again after their backoff; a worker claims them and is killed before its look-ups.
    let due = t0.plus_millis(61_000 + 120_000 + 1_000);
    clock.set(due);
    assert_eq!(
        a.store()
            .await
            .claim_due_domains(due, due.plus_millis(10_000), 10)
            .await
            .unwrap()
            .len(),
        8
    );
    let queries = dns.query_count();
    clock.set(due.plus_millis(9_000));
    let (setup_a, setup_b) = (a.app.setup(), b.app.setup());
    let (x, y) = tokio::join!(setup_a.recheck_domains(10), setup_b.recheck_domains(10));
    assert_eq!(x.unwrap() + y.unwrap(), 0, "held by the killed worker");
    // Its lease has run out: the domains are looked up again, once each.
    clock.set(due.plus_millis(11_000));
    let (x, y) = tokio::join!(setup_a.recheck_domains(10), setup_b.recheck_domains(10));
    assert_eq!(x.unwrap() + y.unwrap(), 8);
    assert_eq!(dns.query_count() - queries, 8, "one look-up each");
    assert_eq!(checks().await, [2; 8]);
}
on_each_backend!(
    a_domain_is_verified_by_its_txt_record,
    bad_domains_are_refused_clearly,
    sso_configuration_from_fields_or_metadata_keeps_every_certificate,
    hostile_or_broken_configurations_are_refused,
    sso_is_enabled_only_with_a_verified_domain_a_contact_and_a_configuration,
    the_single_sign_on_page_takes_metadata_as_an_uploaded_file,
    the_single_sign_on_page_takes_an_administrator_through_setup,
    a_due_domain_is_looked_up_once_by_two_instances_and_again_after_a_killed_ones_lease
);
