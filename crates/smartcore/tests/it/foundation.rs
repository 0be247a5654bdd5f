//! The foundation: migrations, health, sign-in, sessions, tokens.

use crate::support::{Backend, TestApp, problem};
use reqwest::StatusCode;
use smartcore_domain::Role;

async fn a_second_instance_on_the_same_database_neither_reapplies_nor_breaks_migrations(
    app: TestApp,
) {
    let before = app.store().await.applied_migrations().await.unwrap();
    assert!(!before.is_empty());
    let (org, token) = app.org_with_admin("Acme").await;
    // Two more instances start at once on the same database.
    let (second, third) = tokio::join!(
        TestApp::start(app.backend, &app.database_url, &[]),
        TestApp::start(app.backend, &app.database_url, &[]),
    );
    assert_eq!(
        second.store().await.applied_migrations().await.unwrap(),
        before
    );
    assert_eq!(
        third.store().await.applied_migrations().await.unwrap(),
        before
    );
    // Data written through the first instance is served by the second.
    let r = second
        .get(&format!("/api/v1/orgs/{org}/it-contacts"), &token)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

async fn health_and_readiness_answer(app: TestApp) {
    let r = app
        .http
        .get(format!("{}/healthz", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .http
        .get(format!("{}/readyz", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.app.close().await;
    let r = app
        .http
        .get(format!("{}/readyz", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
}

async fn an_administrator_signs_in_and_out_with_a_fresh_session_each_time(app: TestApp) {
    let (org, _) = app.org_with_admin("Acme").await;
    app.member(&org, "Sam Admin", "sam@acme.example", Role::Admin)
        .await;
    let sign_in = || {
        app.http
            .post(format!("{}/sign-in", app.base_url))
            .form(&[
                ("email", "SAM@acme.example"),
                ("password", "a long enough password"),
            ])
            .send()
    };
    let first = sign_in().await.unwrap();
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let cookie = first
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_owned();
    let second = sign_in().await.unwrap();
    let other = second
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(session, other, "every sign-in issues a new session value");

    // The session opens the settings page and the API.
    let page = app
        .http
        .get(format!(
            "{}/orgs/{org}/settings/authentication",
            app.base_url
        ))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let api = app
        .http
        .get(format!("{}/api/v1/orgs/{org}/it-contacts", app.base_url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::OK);

    // Signing out ends it.
    let out = app
        .http
        .post(format!("{}/sign-out", app.base_url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let api = app
        .http
        .get(format!("{}/api/v1/orgs/{org}/it-contacts", app.base_url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    problem(api, 401, "unauthenticated").await;
}

async fn sign_in_is_throttled_after_five_failures(app: TestApp) {
    app.user("victim@acme.example", false).await;
    for _ in 0..5 {
        let r = app
            .http
            .post(format!("{}/sign-in", app.base_url))
            .form(&[
                ("email", "victim@acme.example"),
                ("password", "wrong password!"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("The e-mail address or password is not right.")
        );
    }
    // Even the right password is refused while throttled.
    let r = app
        .http
        .post(format!("{}/sign-in", app.base_url))
        .form(&[
            ("email", "victim@acme.example"),
            ("password", "a long enough password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.text().await.unwrap().contains("Too many attempts"));
}

async fn api_tokens_act_as_their_user_and_bad_ones_are_refused(app: TestApp) {
    let (org, token) = app.org_with_admin("Acme").await;
    let r = app
        .get(&format!("/api/v1/orgs/{org}/it-contacts"), &token)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .get(
            &format!("/api/v1/orgs/{org}/it-contacts"),
            "sct_not-a-token",
        )
        .await;
    problem(r, 401, "unauthenticated").await;
    let r = app
        .request(
            reqwest::Method::GET,
            &format!("/api/v1/orgs/{org}/it-contacts"),
            None,
        )
        .header("authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await
        .unwrap();
    problem(r, 401, "unauthenticated").await;
}

async fn the_openapi_document_describes_every_route(app: TestApp) {
    let r = app
        .http
        .get(format!("{}/api/openapi.json", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let doc: serde_json::Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/orgs/{org}/it-contacts",
        "/api/v1/orgs/{org}/it-contacts/{id}",
        "/api/v1/orgs/{org}/members",
        "/api/v1/orgs/{org}/authentication",
        "/api/v1/orgs/{org}/audit-log",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["paths"]["/api/v1/orgs/{org}/it-contacts"]["post"]["responses"]["409"].is_object());
}
/// Migration 0025: a state, role or source its enum does not know is refused by the database
/// itself (a CHECK on PostgreSQL, a trigger on SQLite), on insert and on update.
async fn the_database_refuses_a_state_its_enum_does_not_know(app: TestApp) {
    let (org, token) = app.org_with_admin("Checked").await;
    let contact = app
        .add_manual(&org, &token, "checked@checked.example")
        .await;
    let contact_id = contact["id"].as_str().unwrap().to_owned();
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.database_url).await.unwrap();
    let refused = |sql: &'static str, value: &'static str, id: String| {
        let pool = pool.clone();
        async move {
            let r = sqlx::query(sql).bind(value).bind(id).execute(&pool).await;
            assert!(r.is_err(), "{sql} with {value:?} was accepted");
        }
    };
    refused(
        "UPDATE it_contacts SET status = $1 WHERE id = $2",
        "done",
        contact_id.clone(),
    )
    .await;
    refused(
        "UPDATE it_contacts SET source = $1 WHERE id = $2",
        "import",
        contact_id.clone(),
    )
    .await;
    refused(
        "UPDATE organisations SET sso_status = $1 WHERE id = $2",
        "on",
        org.clone(),
    )
    .await;
    refused(
        "UPDATE memberships SET role = $1 WHERE org_id = $2",
        "owner",
        org.clone(),
    )
    .await;
    let user_id: (String,) = sqlx::query_as("SELECT user_id FROM memberships WHERE org_id = $1")
        .bind(&org)
        .fetch_one(&pool)
        .await
        .unwrap();
    let other = app
        .app
        .operations()
        .create_org("Checked too")
        .await
        .unwrap();
    let insert = sqlx::query(
        "INSERT INTO memberships (org_id, user_id, role, search_text, sort_name, created_at) \
         VALUES ($1, $2, $3, '', '', 0)",
    )
    .bind(other.id.as_str())
    .bind(&user_id.0)
    .bind("Admin")
    .execute(&pool)
    .await;
    assert!(
        insert.is_err(),
        "a membership with role \"Admin\" was inserted"
    );
    // The values of the enums are still accepted.
    sqlx::query("UPDATE it_contacts SET status = $1 WHERE id = $2")
        .bind(smartcore_domain::SyncStatus::Failed.as_str())
        .bind(&contact_id)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

on_both_databases!(
    the_database_refuses_a_state_its_enum_does_not_know,
    a_second_instance_on_the_same_database_neither_reapplies_nor_breaks_migrations,
    health_and_readiness_answer,
    an_administrator_signs_in_and_out_with_a_fresh_session_each_time,
    sign_in_is_throttled_after_five_failures,
    api_tokens_act_as_their_user_and_bad_ones_are_refused,
    the_openapi_document_describes_every_route
);

#[tokio::test]
async fn an_unusable_database_url_is_reported_clearly() {
    let err = smartcore_storage::Store::connect("postgres://nobody@127.0.0.1:1/none")
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("cannot open the database"),
        "{err}"
    );
    let err = smartcore_storage::Store::connect("mysql://x")
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("unsupported database URL"),
        "{err}"
    );
    let _ = Backend::Sqlite;
}

/// Migration 0026 rebuilds SQLite's `memberships` and its search index on a database that
/// already has members: the schema as 0025 left it, members written and one removed under it,
/// then the service's migrations. Every member is still found, and removing, renaming and
/// adding members afterwards keeps the index whole (FTS5's own integrity check).
#[tokio::test]
async fn migration_0026_keeps_an_existing_organisations_members_searchable() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("migrations");
    std::fs::create_dir(&old).unwrap();
    let source =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../storage/migrations/sqlite");
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.as_str() < "0026" {
            std::fs::copy(&path, old.join(&name)).unwrap();
        }
    }
    let url = format!("sqlite://{}/up.db?mode=rwc", dir.path().display());
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::migrate::Migrator::new(old.as_path())
        .await
        .unwrap()
        .run(&mut conn)
        .await
        .unwrap();
    sqlx::query("INSERT INTO organisations (id, name, created_at) VALUES ('org_up', 'Up', 0)")
        .execute(&mut conn)
        .await
        .unwrap();
    for i in 0..40 {
        let (id, email) = (format!("usr_up{i:02}"), format!("person{i:02}@up.example"));
        sqlx::query(
            "INSERT INTO users (id, email, email_key, name, created_at) VALUES ($1, $2, $2, $3, 0)",
        )
        .bind(&id)
        .bind(&email)
        .bind(format!("Person {i:02}"))
        .execute(&mut conn)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO memberships (org_id, user_id, role, search_text, sort_name, created_at) \
             VALUES ('org_up', $1, $2, $3, $4, 0)",
        )
        .bind(&id)
        .bind(if i == 0 { "admin" } else { "member" })
        .bind(format!("person {i:02} {email}"))
        .bind(format!("person {i:02}"))
        .execute(&mut conn)
        .await
        .unwrap();
    }
    sqlx::query("DELETE FROM memberships WHERE user_id = 'usr_up07'")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    let store = smartcore_storage::Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let org = smartcore_domain::OrgId::parse("org_up").unwrap();
    let found = |q: &'static str| {
        let store = store.clone();
        let org = org.clone();
        async move {
            let answer = store.search_members(&org, q, 50, 1000).await.unwrap();
            let mut emails: Vec<String> = answer.hits.into_iter().map(|h| h.email).collect();
            emails.sort();
            emails
        }
    };
    assert_eq!(found("up.example").await.len(), 39);
    assert_eq!(found("person 1").await.len(), 10);
    assert!(found("person07@").await.is_empty());
    assert_eq!(found("person39@up").await, ["person39@up.example"]);

    // Afterwards: a removal (the highest row id, which the next member added is given again),
    // a rename, an addition.
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    for sql in [
        "DELETE FROM memberships WHERE user_id = 'usr_up39'",
        "UPDATE memberships SET search_text = 'renamed person05@up.example' \
         WHERE user_id = 'usr_up05'",
        "INSERT INTO users (id, email, email_key, name, created_at) \
         VALUES ('usr_new', 'new@up.example', 'new@up.example', 'New', 0)",
        "INSERT INTO memberships (org_id, user_id, role, search_text, sort_name, created_at) \
         VALUES ('org_up', 'usr_new', 'member', 'new new@up.example', 'new', 0)",
        "INSERT INTO member_search (member_search, rank) VALUES ('integrity-check', 1)",
    ] {
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
    assert!(found("person39@up").await.is_empty());
    assert_eq!(found("renamed").await, ["person05@up.example"]);
    assert_eq!(found("new@up").await, ["new@up.example"]);
    assert_eq!(found("up.example").await.len(), 39);
}
