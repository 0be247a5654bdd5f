//! R1, R2, R10: who may reach each endpoint of the IT contacts API, table-driven.

use crate::support::{TestApp, problem};
use reqwest::Method;
use serde_json::json;
use smartcore_domain::Role;

async fn only_administrators_of_the_organisation_manage_it(app: TestApp) {
    let (org, admin) = app.org_with_admin("Acme").await;
    let (_, member) = app
        .member(&org, "Mo Member", "mo@acme.example", Role::Member)
        .await;
    // A member who is also an IT contact: being a contact grants nothing (R2, R10).
    let (contact_member_id, contact_member) = app
        .member(&org, "Cy Contact", "cy@acme.example", Role::Member)
        .await;
    let r = app
        .add_contact(&org, &admin, json!({ "member_id": contact_member_id }))
        .await;
    assert_eq!(r.status(), 201);
    let (_, other_admin) = app.org_with_admin("Globex").await;
    let staff = app.user("ops@smartcore.example", true).await;
    // A manual contact whose address belongs to a user with no membership here.
    let outsider_contact = app.user("external-it@partner.example", false).await;
    app.add_manual(&org, &admin, "external-it@partner.example")
        .await;
    let victim = app.add_manual(&org, &admin, "victim@acme.example").await;
    let victim_id = victim["id"].as_str().unwrap().to_owned();

    let endpoints: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, format!("/api/v1/orgs/{org}/it-contacts"), None),
        (
            Method::POST,
            format!("/api/v1/orgs/{org}/it-contacts"),
            Some(json!({ "email": "new@acme.example" })),
        ),
        (
            Method::DELETE,
            format!("/api/v1/orgs/{org}/it-contacts/{victim_id}"),
            None,
        ),
        (Method::GET, format!("/api/v1/orgs/{org}/members?q=a"), None),
        (
            Method::GET,
            format!("/api/v1/orgs/{org}/authentication"),
            None,
        ),
        (Method::GET, format!("/api/v1/orgs/{org}/audit-log"), None),
        (
            Method::GET,
            format!("/api/v1/orgs/{org}/mail-deliveries"),
            None,
        ),
    ];
    let callers: Vec<(&str, Option<&str>, u16, &str)> = vec![
        ("a member", Some(&member), 403, "forbidden"),
        (
            "a member who is an IT contact",
            Some(&contact_member),
            403,
            "forbidden",
        ),
        (
            "an IT contact who is not a member",
            Some(&outsider_contact),
            404,
            "not_found",
        ),
        (
            "an administrator of another organisation",
            Some(&other_admin),
            404,
            "not_found",
        ),
        (
            "a staff user of another organisation",
            Some(&staff),
            404,
            "not_found",
        ),
        ("nobody", None, 401, "unauthenticated"),
    ];
    for (method, path, body) in &endpoints {
        for (who, token, status, code) in &callers {
            let mut rb = app.request(method.clone(), path, *token);
            if let Some(b) = body {
                rb = rb.json(b);
            }
            let r = rb.send().await.unwrap();
            assert_eq!(r.status().as_u16(), *status, "{who} → {method} {path}");
            problem(r, *status, code).await;
        }
    }
    // Nothing changed on the way.
    assert_eq!(app.contacts(&org, &admin).await.len(), 3);

    // The administrator reaches every endpoint (the delete last, as it removes the victim).
    for (method, path, body) in &endpoints {
        let mut rb = app.request(method.clone(), path, Some(&admin));
        if let Some(b) = body {
            rb = rb.json(b);
        }
        let r = rb.send().await.unwrap();
        assert!(
            r.status().is_success(),
            "admin → {method} {path}: {}",
            r.status()
        );
    }
    // An unknown organisation is not found, even for an administrator of another one.
    for path in [
        "/api/v1/orgs/org_doesnotexist/it-contacts",
        "/api/v1/orgs/not-an-id/it-contacts",
    ] {
        problem(app.get(path, &admin).await, 404, "not_found").await;
    }
}

async fn a_remembered_token_answers_only_for_itself_and_an_unknown_one_is_not_remembered(
    app: TestApp,
) {
    use sha2::Digest;
    let org = app.app.operations().create_org("Acme").await.unwrap();
    let email = "admin@acme.example";
    let first = app.user(email, false).await;
    app.app
        .operations()
        .add_member(&org, email, Role::Admin)
        .await
        .unwrap();
    let path = format!("/api/v1/orgs/{}/it-contacts", org.id);
    let status = |token: String| {
        let rb = app.request(Method::GET, &path, Some(&token));
        async move { rb.send().await.unwrap().status().as_u16() }
    };

    // A value nobody has issued yet is refused, twice.
    let later = "sct_issued-only-after-it-was-first-presented";
    assert_eq!(status(later.into()).await, 401);
    assert_eq!(status(later.into()).await, 401);
    // Issued now (as `smartcore token create` stores it: only its SHA-256), it works at once.
    let owner = app.app.accounts().user_by_email(email).await.unwrap();
    app.store()
        .await
        .create_api_token(
            &hex::encode(sha2::Sha256::digest(later)),
            &owner.user_id(),
            smartcore_domain::Timestamp::from_unix_millis(0),
        )
        .await
        .unwrap();
    assert_eq!(status(later.into()).await, 200);

    // The remembered tokens answer for themselves only.
    assert_eq!(status(first.clone()).await, 200);
    assert_eq!(status(format!("{first}x")).await, 401);
    assert_eq!(status(first[..first.len() - 1].to_owned()).await, 401);
}
/// Ids are parsed where they arrive (issue 22); one that is not well-formed is answered as an
/// unknown one, after the same checks: a member is still refused, a bad role still named.
async fn a_malformed_id_is_answered_as_an_unknown_one_after_the_same_checks(app: TestApp) {
    let (org, admin) = app.org_with_admin("Acme").await;
    let (_, member) = app
        .member(&org, "Mo Member", "mo@acme.example", Role::Member)
        .await;
    for id in ["not-an-id", "itc_nobody"] {
        let path = format!("/api/v1/orgs/{org}/it-contacts/{id}");
        problem(app.delete(&path, &member).await, 403, "forbidden").await;
        problem(app.delete(&path, &admin).await, 404, "not_found").await;
    }
    for id in ["not-an-id", "usr_nobody"] {
        let r = app
            .request(
                Method::PATCH,
                &format!("/api/v1/orgs/{org}/members/{id}"),
                Some(&admin),
            )
            .json(&json!({ "role": "owner" }))
            .send()
            .await
            .unwrap();
        problem(r, 422, "invalid_role").await;
    }
    problem(
        app.delete("/api/v1/orgs/not-an-id/it-contacts/not-an-id", &admin)
            .await,
        404,
        "not_found",
    )
    .await;
}

on_both_databases!(
    only_administrators_of_the_organisation_manage_it,
    a_remembered_token_answers_only_for_itself_and_an_unknown_one_is_not_remembered,
    a_malformed_id_is_answered_as_an_unknown_one_after_the_same_checks
);
