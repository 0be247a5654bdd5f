//! Token lifecycle (create, list, expire, revoke; 50 per user), disabled users, and the abuse
//! limits: setup links per organisation, sign-in per (address, client) and per client.

use crate::support::{Backend, TestApp, fresh_database, problem};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use smartcore_app::ManualClock;
use smartcore_domain::{Role, Timestamp};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::support::smartcore_cli as smartcore;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `POST /api/v1/tokens` with the browser session `cookie` (tokens are created only that way).
async fn create_token(app: &TestApp, cookie: &str, body: Value) -> reqwest::Response {
    app.request(Method::POST, "/api/v1/tokens", None)
        .header("cookie", cookie)
        .json(&body)
        .send()
        .await
        .expect("POST /api/v1/tokens")
}

async fn token_list(app: &TestApp, token: &str) -> Vec<Value> {
    let r = app.get("/api/v1/tokens", token).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["limit"], 50);
    body["tokens"].as_array().unwrap().clone()
}

async fn status_with(app: &TestApp, token: &str) -> u16 {
    app.get("/api/v1/tokens", token).await.status().as_u16()
}

/// A clock standing at the real time now, for tests that move it.
fn clock_now() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Timestamp::from_datetime(
        time::OffsetDateTime::now_utc(),
    )))
}

/// Moves `clock` by the token cache's time ([`smartcore_app::TOKEN_CACHE_TTL`], kept on the
/// application's clock), so that an instance on that clock forgets the tokens it remembered.
fn outlast_token_cache(clock: &ManualClock) {
    let ttl = i64::try_from(smartcore_app::TOKEN_CACHE_TTL.as_millis()).expect("a short TTL");
    clock.advance_millis(ttl);
}

/// The web router served as the integrator serves it, with the peer's address
/// (`into_make_service_with_connect_info`), so that requests from 127.0.0.2 and 127.0.0.3 are
/// two clients. Returns its base URL.
async fn serve_with_client_addresses(app: &TestApp) -> String {
    let router = smartcore_web::router(
        app.app.clone(),
        smartcore_web::WebConfig {
            public_url: app.base_url.clone(),
            ..Default::default()
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    url
}

/// An HTTP client whose connections come from `ip` (any 127.x address works on loopback).
fn client_from(ip: &str) -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(ip.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn sign_in_at(http: &Client, base: &str, email: &str, password: &str) -> reqwest::Response {
    http.post(format!("{base}/sign-in"))
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .unwrap()
}

const PASSWORD: &str = "a long enough password";

async fn api_401s_speak_of_tokens_and_tell_a_missing_one_from_a_bad_one(app: TestApp) {
    let missing = problem(
        app.request(Method::GET, "/api/v1/orgs", None)
            .send()
            .await
            .unwrap(),
        401,
        "unauthenticated",
    )
    .await;
    assert_eq!(
        missing["detail"],
        "Send an API token as `Authorization: Bearer <token>` (create one with `smartcore token create` or on the API tokens page)."
    );
    let invalid = "Send a valid API token as `Authorization: Bearer <token>`; this one is unknown, expired or revoked.";
    let unknown = problem(
        app.get("/api/v1/orgs", "sc_not_a_real_token").await,
        401,
        "unauthenticated",
    )
    .await;
    assert_eq!(unknown["detail"], invalid);
    let basic = app
        .http
        .get(format!("{}/api/v1/orgs", app.base_url))
        .header("Authorization", "Basic dXNlcjpwdw==")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.headers()["www-authenticate"], "Bearer");
    let basic = problem(basic, 401, "unauthenticated").await;
    assert_eq!(basic["detail"], invalid);
    let token = app.user("revoked@acme.example", false).await;
    assert_eq!(app.get("/api/v1/orgs", &token).await.status(), 200);
    let id = app
        .get("/api/v1/tokens", &token)
        .await
        .json::<Value>()
        .await
        .unwrap()["tokens"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = smartcore_domain::TokenId::parse(&id).unwrap();
    app.app.accounts().revoke_token_by_id(&id).await.unwrap();
    let revoked = problem(
        app.get("/api/v1/orgs", &token).await,
        401,
        "unauthenticated",
    )
    .await;
    assert_eq!(revoked["detail"], invalid);
}

async fn tokens_are_created_listed_and_revoked_through_the_api(app: TestApp) {
    let first = app.user("ada@acme.example", false).await;
    let ada = app.sign_in("ada@acme.example").await;
    let r = create_token(
        &app,
        &ada,
        json!({ "name": "  CI deploy ", "expires_in_days": 30 }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let secret = created["token"].as_str().unwrap().to_owned();
    assert!(id.starts_with("tok_"), "{created}");
    assert!(secret.starts_with("sct_"), "{created}");
    assert_eq!(created["name"], "CI deploy");
    assert_eq!(created["expired"], false);
    let created_at = time::OffsetDateTime::parse(
        created["created_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let expires_at = time::OffsetDateTime::parse(
        created["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(expires_at - created_at, time::Duration::days(30));

    // The new token works; the listing shows both tokens and never a secret.
    let tokens = token_list(&app, &secret).await;
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[0]["name"], "CLI token");
    assert!(
        tokens[0]["expires_at"].is_null(),
        "the tests' own helper token never expires"
    );
    assert_eq!(tokens[1]["id"], id.as_str());
    assert!(
        tokens[1]["last_used_at"].is_string(),
        "used just now: {}",
        tokens[1]
    );
    let listing = serde_json::to_string(&tokens).unwrap();
    assert!(
        !listing.contains("sct_") && !listing.contains("\"token\""),
        "{listing}"
    );
    // Only its SHA-256 is stored.
    let stored: Vec<(String,)> = sqlx::query_as("SELECT token_hash FROM api_tokens")
        .fetch_all(&pool(&app).await)
        .await
        .unwrap();
    assert!(
        stored
            .iter()
            .all(|(h,)| h.len() == 64 && !h.contains("sct_"))
    );

    // Someone else's token is not found for them, and keeps working.
    let other = app.user("eve@acme.example", false).await;
    problem(
        app.delete(&format!("/api/v1/tokens/{id}"), &other).await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(
        token_list(&app, &other).await.len(),
        1,
        "eve sees her own only"
    );
    assert_eq!(status_with(&app, &secret).await, 200);

    // Revoked: refused at once (it was remembered a moment ago), and gone from the list.
    let r = app.delete(&format!("/api/v1/tokens/{id}"), &first).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    problem(
        app.get("/api/v1/tokens", &secret).await,
        401,
        "unauthenticated",
    )
    .await;
    assert_eq!(token_list(&app, &first).await.len(), 1);
    problem(
        app.delete(&format!("/api/v1/tokens/{id}"), &first).await,
        404,
        "not_found",
    )
    .await;

    // Bad input is problem+json and creates nothing.
    problem(
        create_token(&app, &ada, json!({ "name": "x", "expires_in_days": 0 })).await,
        422,
        "invalid_expiry",
    )
    .await;
    problem(
        create_token(&app, &ada, json!({ "name": "x", "expires_in_days": 3651 })).await,
        422,
        "invalid_expiry",
    )
    .await;
    problem(
        create_token(&app, &ada, json!({ "name": "x", "expires_in_days": -5 })).await,
        422,
        "invalid_expiry",
    )
    .await;
    problem(
        create_token(&app, &ada, json!({ "name": "   " })).await,
        422,
        "invalid_token_name",
    )
    .await;
    problem(
        create_token(&app, &ada, json!({ "name": "x".repeat(101) })).await,
        422,
        "invalid_token_name",
    )
    .await;
    problem(
        create_token(&app, &ada, json!({ "name": "x", "secret": "mine" })).await,
        422,
        "invalid_request",
    )
    .await;
    let r = create_token(
        &app,
        &ada,
        json!({ "name": "ten years", "expires_in_days": 3650 }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(token_list(&app, &first).await.len(), 2);
    let r = app
        .request(Method::POST, "/api/v1/tokens", None)
        .json(&json!({ "name": "x" }))
        .send()
        .await
        .unwrap();
    problem(r, 401, "unauthenticated").await;
}

async fn a_user_holds_at_most_fifty_tokens_even_when_asking_at_once(app: TestApp) {
    let token = app.user("ada@acme.example", false).await;
    let cookie = app.sign_in("ada@acme.example").await;
    for i in 1..45 {
        let r = create_token(&app, &cookie, json!({ "name": format!("token {i}") })).await;
        assert_eq!(r.status(), StatusCode::CREATED, "token {i}");
    }
    // 45 held; ten more at once: exactly five fit.
    let attempts = (0..10).map(|i| {
        let app = &app;
        let cookie = cookie.clone();
        async move {
            create_token(app, &cookie, json!({ "name": format!("burst {i}") }))
                .await
                .status()
                .as_u16()
        }
    });
    let mut statuses = futures_util::future::join_all(attempts).await;
    statuses.sort();
    assert_eq!(statuses, [201, 201, 201, 201, 201, 409, 409, 409, 409, 409]);
    assert_eq!(token_list(&app, &token).await.len(), 50);
    let body = problem(
        create_token(&app, &cookie, json!({ "name": "one more" })).await,
        409,
        "token_limit_reached",
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("50"), "{body}");
    // Revoking one makes room for one.
    let last = token_list(&app, &token).await.pop().unwrap();
    let r = app
        .delete(
            &format!("/api/v1/tokens/{}", last["id"].as_str().unwrap()),
            &token,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        create_token(&app, &cookie, json!({ "name": "room again" }))
            .await
            .status(),
        StatusCode::CREATED
    );
}

async fn a_token_revoked_on_one_instance_is_refused_by_another_within_two_seconds(app: TestApp) {
    let token = app.user("ada@acme.example", false).await;
    let cookie = app.sign_in("ada@acme.example").await;
    let created: Value = create_token(&app, &cookie, json!({ "name": "shared" }))
        .await
        .json()
        .await
        .unwrap();
    let secret = created["token"].as_str().unwrap().to_owned();
    // The second instance on a clock of the test's, so that its token cache's time is moved
    // rather than waited for.
    let clock = clock_now();
    let second =
        TestApp::start_with_clock(app.backend, &app.database_url, &[], clock.clone()).await;
    // Remembered by the second instance.
    assert_eq!(status_with(&second, &secret).await, 200);
    let r = app
        .delete(
            &format!("/api/v1/tokens/{}", created["id"].as_str().unwrap()),
            &token,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        status_with(&app, &secret).await,
        401,
        "at once where it was revoked"
    );
    // TOKEN_CACHE_TTL later on the second instance's clock, it is refused there too.
    outlast_token_cache(&clock);
    assert_eq!(
        status_with(&second, &secret).await,
        401,
        "refused by the other instance within TOKEN_CACHE_TTL of the revocation"
    );
}

async fn the_openapi_document_describes_the_token_operations(app: TestApp) {
    let doc: Value = app
        .http
        .get(format!("{}/api/openapi.json", app.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tokens = &doc["paths"]["/api/v1/tokens"];
    for status in ["201", "401", "409", "422"] {
        assert!(
            tokens["post"]["responses"][status].is_object(),
            "POST /api/v1/tokens {status}"
        );
    }
    assert!(tokens["get"]["responses"]["200"].is_object());
    let one = &doc["paths"]["/api/v1/tokens/{id}"]["delete"]["responses"];
    assert!(one["204"].is_object() && one["404"].is_object());
}

async fn the_cli_creates_lists_and_revokes_tokens(backend: Backend) {
    // On a clock of the test's, so that the token cache's time is moved rather than waited for.
    let clock = clock_now();
    let Some(app) = TestApp::spawn_with_clock(backend, &[], clock.clone()).await else {
        return;
    };
    let db = app.database_url.clone();
    app.user("peter@initech.example", false).await;
    let help = smartcore(&db, &["token", "create", "--help"]);
    let help = text(&help.stdout);
    for words in [
        "--email",
        "--name",
        "--expires-in-days",
        "SMARTCORE_TOKEN_DEFAULT_DAYS (90)",
        "1–3650",
    ] {
        assert!(help.contains(words), "{words} in: {help}");
    }

    let out = smartcore(
        &db,
        &[
            "token",
            "create",
            "--email",
            "peter@initech.example",
            "--name",
            "Nightly export",
            "--expires-in-days",
            "7",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let secret = created["token"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["name"], "Nightly export");
    assert!(created["expires_at"].is_string());
    assert_eq!(status_with(&app, &secret).await, 200);

    // Plain output is the secret alone, on one line.
    let plain = smartcore(
        &db,
        &["token", "create", "--email", "peter@initech.example"],
    );
    assert!(plain.status.success(), "{}", text(&plain.stderr));
    let plain = text(&plain.stdout);
    assert!(
        plain.trim().starts_with("sct_") && plain.trim().lines().count() == 1,
        "{plain}"
    );

    let list = smartcore(
        &db,
        &[
            "token",
            "list",
            "--email",
            "peter@initech.example",
            "--json",
        ],
    );
    assert!(list.status.success(), "{}", text(&list.stderr));
    let list: Value = serde_json::from_slice(&list.stdout).unwrap();
    let names: Vec<&str> = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["CLI token", "Nightly export", "CLI token"]);
    assert!(!serde_json::to_string(&list).unwrap().contains("sct_"));
    let table = smartcore(&db, &["token", "list", "--email", "peter@initech.example"]);
    assert!(text(&table.stdout).contains("Nightly export") && text(&table.stdout).contains(&id));

    let revoke = smartcore(&db, &["token", "revoke", &id]);
    assert!(revoke.status.success(), "{}", text(&revoke.stderr));
    assert!(text(&revoke.stdout).contains(&id));
    // Another process revoked it: this instance refuses it within the cache's two seconds.
    outlast_token_cache(&clock);
    assert_eq!(status_with(&app, &secret).await, 401);

    let again = smartcore(&db, &["token", "revoke", &id]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("There is no API token"),
        "{}",
        text(&again.stderr)
    );
    let bad = smartcore(
        &db,
        &[
            "token",
            "create",
            "--email",
            "peter@initech.example",
            "--expires-in-days",
            "0",
        ],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains("1 to 3650 days"),
        "{}",
        text(&bad.stderr)
    );
}

async fn a_disabled_user_cannot_sign_in_and_their_session_and_tokens_end(app: TestApp) {
    let (org, _) = app.org_with_admin("Acme").await;
    let (_, token) = app
        .member(&org, "Sam Admin", "sam@acme.example", Role::Admin)
        .await;
    let cookie = app.sign_in("sam@acme.example").await;
    assert_eq!(
        app.get(&format!("/api/v1/orgs/{org}/it-contacts"), &token)
            .await
            .status(),
        200
    );
    let page = app
        .http
        .get(format!(
            "{}/orgs/{org}/settings/authentication",
            app.base_url
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);

    // Disabled through the app here (the CLI runs the same use case; see below).
    let done = app
        .app
        .accounts()
        .disable_user("sam@acme.example")
        .await
        .unwrap();
    assert!(done.changed);
    assert_eq!(done.tokens_revoked, 1);
    problem(
        app.get(&format!("/api/v1/orgs/{org}/it-contacts"), &token)
            .await,
        401,
        "unauthenticated",
    )
    .await;
    let page = app
        .http
        .get(format!(
            "{}/orgs/{org}/settings/authentication",
            app.base_url
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        page.status(),
        StatusCode::SEE_OTHER,
        "the session has ended"
    );
    let r = sign_in_at(&app.http, &app.base_url, "sam@acme.example", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("set-cookie").is_none());
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("This account is disabled.")
    );
    // A wrong password says nothing about the account.
    let r = sign_in_at(
        &app.http,
        &app.base_url,
        "sam@acme.example",
        "wrong password!",
    )
    .await;
    assert!(r.text().await.unwrap().contains("not right"));
    assert!(
        app.app
            .accounts()
            .create_token_for("sam@acme.example", "x", None)
            .await
            .is_err()
    );

    // The audit log has the change.
    let actions: Vec<(String, String)> = sqlx::query_as("SELECT action, actor FROM audit_events WHERE action LIKE 'user.%' OR action LIKE 'api_token.%' ORDER BY id")
            .fetch_all(&pool(&app).await).await.unwrap();
    assert!(
        actions.contains(&("user.disabled".to_owned(), "cli".to_owned())),
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|(a, _)| a == "api_token.created"),
        "{actions:?}"
    );

    // The CLI: enable, then disable again.
    let db = app.database_url.clone();
    let enable = smartcore(&db, &["user", "enable", "sam@acme.example"]);
    assert!(enable.status.success(), "{}", text(&enable.stderr));
    app.sign_in("sam@acme.example").await;
    let disable = smartcore(&db, &["user", "disable", "sam@acme.example"]);
    assert!(disable.status.success(), "{}", text(&disable.stderr));
    assert!(
        text(&disable.stdout).contains("sessions ended, 0 API tokens revoked"),
        "{}",
        text(&disable.stdout)
    );
    let r = sign_in_at(&app.http, &app.base_url, "sam@acme.example", PASSWORD).await;
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("This account is disabled.")
    );
    let twice = smartcore(&db, &["user", "disable", "sam@acme.example"]);
    assert!(text(&twice.stdout).contains("disabled already"));
}

async fn the_account_page_creates_shows_once_and_revokes_tokens_without_javascript(app: TestApp) {
    let (org, _) = app.org_with_admin("Acme").await;
    app.member(&org, "Sam Admin", "sam@acme.example", Role::Admin)
        .await;
    let cookie = app.sign_in("sam@acme.example").await;
    let settings = app
        .page(&format!("/orgs/{org}/settings/authentication"), &cookie)
        .await;
    assert!(
        settings.contains("href=\"/account\""),
        "the header links to the account page"
    );
    let page = app.page("/account", &cookie).await;
    assert!(
        page.contains("CLI token") && page.contains("1 of 50"),
        "{page}"
    );

    let post = |path: &str, form: Vec<(&'static str, String)>| {
        app.http
            .post(format!("{}{path}", app.base_url))
            .header("cookie", &cookie)
            .header("origin", &app.base_url)
            .header("sec-fetch-site", "same-origin")
            .form(&form)
            .send()
    };
    // Issue 23: the POST redirects; the secret comes once, through a signed one-time cookie
    // that the next GET of /account reads and clears. A reload creates nothing.
    let r = post(
        "/account/tokens",
        vec![
            ("name", "Deploy <script>".into()),
            ("expires_in_days", "30".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/account#new-token");
    let flash = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let shown = app
        .http
        .get(format!("{}/account", app.base_url))
        .header("cookie", format!("{cookie}; {flash}"))
        .send()
        .await
        .unwrap();
    assert_eq!(shown.headers()["cache-control"], "no-store");
    assert!(
        shown.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("smartcore_flash=;"),
        "cleared"
    );
    let html = shown.text().await.unwrap();
    // Forged or from another session: nothing is shown.
    let forged = flash.replacen("smartcore_flash=", "smartcore_flash=x", 1);
    assert!(
        !app.page("/account", &format!("{cookie}; {forged}"))
            .await
            .contains("sct_")
    );
    let start = html.find("sct_").expect("the secret is shown");
    let secret: String = html[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    assert!(
        html.contains("Deploy &#60;script&#62;") && !html.contains("Deploy <script>"),
        "escaped"
    );
    assert_eq!(status_with(&app, &secret).await, 200);
    let again = app.page("/account", &cookie).await;
    assert!(!again.contains("sct_"), "shown once only");
    assert!(again.contains("2 of 50"));

    let r = post(
        "/account/tokens",
        vec![
            ("name", "Too long".into()),
            ("expires_in_days", "9999".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(r.headers()["location"], "/account#token-error");
    let (_, html) = app.follow(r, &cookie).await;
    assert!(
        html.contains("1 to 3650 days") && html.contains("value=\"Too long\""),
        "error shown, input kept"
    );

    let id = token_list(&app, &secret)
        .await
        .into_iter()
        .find(|t| t["name"] == "Deploy <script>")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = post(&format!("/account/tokens/{id}/revoke"), vec![])
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/account?done=revoked#notice");
    assert_eq!(status_with(&app, &secret).await, 401);
    assert!(
        app.page("/account?done=revoked", &cookie)
            .await
            .contains("Token revoked.")
    );
    // Someone else's token cannot be revoked from here.
    let (_, other) = app
        .member(&org, "Mo Member", "mo@acme.example", Role::Member)
        .await;
    let others = token_list(&app, &other).await;
    let r = post(
        &format!(
            "/account/tokens/{}/revoke",
            others[0]["id"].as_str().unwrap()
        ),
        vec![],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(status_with(&app, &other).await, 200);
    // Signed out: the sign-in page.
    let r = app
        .http
        .get(format!("{}/account", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

async fn only_a_session_creates_tokens_and_they_expire_by_default(app: TestApp) {
    let (org, _) = app.org_with_admin("Acme").await;
    let (_, token) = app
        .member(&org, "Ada Admin", "ada@acme.example", Role::Admin)
        .await;
    // A token cannot make tokens (which would outlive its own revocation).
    let r = app
        .post("/api/v1/tokens", &token, json!({ "name": "child" }))
        .await;
    let body = problem(r, 403, "session_required").await;
    assert!(
        body["detail"].as_str().unwrap().contains("signed in"),
        "{body}"
    );
    assert_eq!(token_list(&app, &token).await.len(), 1, "nothing created");
    // The session can; without an expiry the token gets the default, 90 days.
    let cookie = app.sign_in("ada@acme.example").await;
    let r = create_token(&app, &cookie, json!({ "name": "laptop" })).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let at = |v: &Value| {
        time::OffsetDateTime::parse(
            v.as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    assert_eq!(
        at(&created["expires_at"]) - at(&created["created_at"]),
        time::Duration::days(90)
    );
    // The account page says so, and creates with the default too.
    let page = app.page("/account", &cookie).await;
    assert!(page.contains("empty: 90 days"), "{page}");
    // The documented answer.
    let doc: Value = app
        .http
        .get(format!("{}/api/openapi.json", app.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/api/v1/tokens"]["post"]["responses"]["403"].is_object());

    // The CLI gives the default too.
    let out = smartcore(
        &app.database_url,
        &["token", "create", "--email", "ada@acme.example", "--json"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        at(&created["expires_at"]) - at(&created["created_at"]),
        time::Duration::days(90)
    );

    // Configured otherwise: SMARTCORE_TOKEN_DEFAULT_DAYS.
    let other = TestApp::spawn_with(
        app.backend,
        &[("SMARTCORE_TOKEN_DEFAULT_DAYS", "7".to_owned())],
    )
    .await
    .expect("database");
    other.user("bo@acme.example", false).await;
    let cookie = other.sign_in("bo@acme.example").await;
    let created: Value = create_token(&other, &cookie, json!({ "name": "a week" }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        at(&created["expires_at"]) - at(&created["created_at"]),
        time::Duration::days(7)
    );
}

async fn revoking_all_my_tokens_ends_them_all_and_my_administrators_see_it(app: TestApp) {
    let (org, owner) = app.org_with_admin("Acme").await;
    let (ada_id, cli_token) = app
        .member(&org, "Ada Member", "ada@acme.example", Role::Member)
        .await;
    let (other_org, other_owner) = app.org_with_admin("Elsewhere").await;
    let cookie = app.sign_in("ada@acme.example").await;
    let mut secrets = vec![cli_token.clone()];
    for name in ["deploy", "backup"] {
        let created: Value = create_token(&app, &cookie, json!({ "name": name }))
            .await
            .json()
            .await
            .unwrap();
        secrets.push(created["token"].as_str().unwrap().to_owned());
    }
    for s in &secrets {
        assert_eq!(status_with(&app, s).await, 200);
    }
    // One token revokes them all, itself included: every one refused at once.
    let r = app
        .request(Method::POST, "/api/v1/tokens/revoke-all", Some(&secrets[1]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["revoked"], 3);
    for s in &secrets {
        assert_eq!(status_with(&app, s).await, 401, "revoked at once");
    }

    // Ada sees her account's events, newest first.
    let r = app
        .request(Method::GET, "/api/v1/me/events", None)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let events: Value = r.json().await.unwrap();
    let actions: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "api_token.revoked_all",
            "api_token.created",
            "api_token.created",
            "api_token.created"
        ],
        "{events}"
    );
    assert_eq!(events["events"][0]["details"]["count"], 3);
    assert_eq!(events["events"][1]["details"]["name"], "backup");
    let r = app
        .request(Method::GET, "/api/v1/me/events?limit=2", None)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["events"].as_array().unwrap().len(), 2);
    let next = page["next_before"].as_str().unwrap().to_owned();
    let r = app
        .request(
            Method::GET,
            &format!("/api/v1/me/events?before={next}"),
            None,
        )
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let rest: Value = r.json().await.unwrap();
    assert_eq!(rest["events"].as_array().unwrap().len(), 2);
    let r = app
        .request(Method::GET, "/api/v1/me/events?limit=-1", None)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    problem(r, 400, "invalid_request").await;

    // The organisation's administrators see them in its audit log, naming Ada.
    let log = app
        .get(&format!("/api/v1/orgs/{org}/audit-log"), &owner)
        .await
        .json::<Value>()
        .await
        .unwrap();
    let all = log["events"].as_array().unwrap();
    let revoked_all = all
        .iter()
        .find(|e| e["action"] == "api_token.revoked_all")
        .expect("in the audit log");
    assert_eq!(revoked_all["actor"], ada_id.as_str());
    assert_eq!(revoked_all["actor_email"], "ada@acme.example");
    assert_eq!(
        all.iter()
            .filter(|e| e["action"] == "api_token.created")
            .count(),
        3,
        "{log}"
    );
    // Another organisation's do not.
    let log = app
        .get(&format!("/api/v1/orgs/{other_org}/audit-log"), &other_owner)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !log.contains("ada@acme.example") && !log.contains(&ada_id),
        "{log}"
    );

    // The account page: the button (a plain form) and the activity.
    let created: Value = create_token(&app, &cookie, json!({ "name": "again" }))
        .await
        .json()
        .await
        .unwrap();
    let again = created["token"].as_str().unwrap().to_owned();
    let page = app.page("/account", &cookie).await;
    assert!(page.contains("Revoke all my tokens"), "{page}");
    assert!(
        page.contains("Recent activity") && page.contains("All API tokens revoked (3 tokens)"),
        "{page}"
    );
    assert!(
        page.contains("API token &#34;again&#34; created")
            || page.contains("API token &quot;again&quot; created"),
        "{page}"
    );
    let r = app
        .http
        .post(format!("{}/account/tokens/revoke-all", app.base_url))
        .header("cookie", &cookie)
        .header("origin", &app.base_url)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/account?done=revoked_all");
    assert_eq!(status_with(&app, &again).await, 401);
    let page = app.page("/account?done=revoked_all", &cookie).await;
    assert!(
        page.contains("All your API tokens have been revoked."),
        "{page}"
    );
    assert!(page.contains("All API tokens revoked (1 token)"), "{page}");
}
on_both_databases!(
    api_401s_speak_of_tokens_and_tell_a_missing_one_from_a_bad_one,
    tokens_are_created_listed_and_revoked_through_the_api,
    a_user_holds_at_most_fifty_tokens_even_when_asking_at_once,
    a_token_revoked_on_one_instance_is_refused_by_another_within_two_seconds,
    the_openapi_document_describes_the_token_operations,
    a_disabled_user_cannot_sign_in_and_their_session_and_tokens_end,
    the_account_page_creates_shows_once_and_revokes_tokens_without_javascript,
    only_a_session_creates_tokens_and_they_expire_by_default,
    revoking_all_my_tokens_ends_them_all_and_my_administrators_see_it
);

/// Tests that start their service with a clock they move.
mod timed {
    use super::*;

    async fn an_expired_token_is_refused_at_once_even_when_remembered(backend: Backend) {
        let clock = clock_now();
        let (url, _dir) = fresh_database(backend).await.expect("database");
        let app = TestApp::start_with_clock(backend, &url, &[], clock.clone()).await;
        let token = app.user("ada@acme.example", false).await;
        let cookie = app.sign_in("ada@acme.example").await;
        let created: Value = create_token(
            &app,
            &cookie,
            json!({ "name": "a day", "expires_in_days": 1 }),
        )
        .await
        .json()
        .await
        .unwrap();
        let secret = created["token"].as_str().unwrap().to_owned();
        assert_eq!(status_with(&app, &secret).await, 200);
        clock.advance_millis(86_400_000 - 1);
        assert_eq!(
            status_with(&app, &secret).await,
            200,
            "a millisecond before its expiry"
        );
        clock.advance_millis(1);
        problem(
            app.get("/api/v1/tokens", &secret).await,
            401,
            "unauthenticated",
        )
        .await;
        // Still listed, marked expired, until revoked; the other token is unaffected.
        let tokens = token_list(&app, &token).await;
        assert_eq!(tokens[1]["expired"], true);
        assert_eq!(tokens[0]["expired"], false);
        // last_used_at is written at most once a minute (looked up again once forgotten).
        outlast_token_cache(&clock);
        let used = token_list(&app, &token).await[0]["last_used_at"]
            .as_str()
            .unwrap()
            .to_owned();
        // The clock's 30 s outlast the token cache (TOKEN_CACHE_TTL) too.
        clock.advance_millis(30_000);
        assert_eq!(
            token_list(&app, &token).await[0]["last_used_at"],
            used.as_str(),
            "not rewritten within the minute"
        );
        // The clock's 31 s outlast the token cache (TOKEN_CACHE_TTL) too.
        clock.advance_millis(31_000);
        assert_ne!(
            token_list(&app, &token).await[0]["last_used_at"],
            used.as_str(),
            "rewritten after it"
        );
    }

    async fn setup_links_are_sent_at_most_ten_times_an_hour_per_organisation(backend: Backend) {
        let clock = clock_now();
        let (url, _dir) = fresh_database(backend).await.expect("database");
        let app = TestApp::start_with_clock(backend, &url, &[], clock.clone()).await;
        let (org, token) = app.org_with_admin("Acme").await;
        let (other_org, other_token) = app.org_with_admin("Globex").await;
        app.add_manual(&org, &token, "ada@acme.example").await;
        let send = |org: &str, token: &str| {
            app.request(
                Method::POST,
                &format!("/api/v1/orgs/{org}/setup-links"),
                Some(token),
            )
            .send()
        };
        // Ten at once from two instances: all sent.
        let second = TestApp::start_with_clock(backend, &url, &[], clock.clone()).await;
        let sends = (0..10).map(|i| {
            let (a, s) = (&app, &second);
            let (org, token) = (org.clone(), token.clone());
            async move {
                let on = if i % 2 == 0 { a } else { s };
                on.request(
                    Method::POST,
                    &format!("/api/v1/orgs/{org}/setup-links"),
                    Some(&token),
                )
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
            }
        });
        let statuses = futures_util::future::join_all(sends).await;
        assert_eq!(statuses, [202; 10]);
        clock.advance_millis(60_000);
        // The eleventh: 429 with Retry-After, on either instance.
        let r = send(&org, &token).await.unwrap();
        let retry: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((3500..=3540).contains(&retry), "retry after {retry} s");
        let body = problem(r, 429, "rate_limited").await;
        assert!(
            body["detail"].as_str().unwrap().contains("59 minutes"),
            "{body}"
        );
        assert_eq!(
            second
                .request(
                    Method::POST,
                    &format!("/api/v1/orgs/{org}/setup-links"),
                    Some(&token)
                )
                .send()
                .await
                .unwrap()
                .status(),
            429
        );
        // Another organisation is not affected.
        assert_eq!(send(&other_org, &other_token).await.unwrap().status(), 202);
        // The page says so, readably.
        app.member(&org, "Sam Admin", "sam@acme.example", Role::Admin)
            .await;
        let cookie = app.sign_in("sam@acme.example").await;
        // Issue 23: a redirect to the page, the refusal shown once beside the button.
        let r = app
            .http
            .post(format!(
                "{}/orgs/{org}/settings/sso/setup-links",
                app.base_url
            ))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            r.headers()["location"],
            format!("/orgs/{org}/settings/sso#links-error")
        );
        let flash = r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let html = app
            .page(
                &format!("/orgs/{org}/settings/sso"),
                &format!("{cookie}; {flash}"),
            )
            .await;
        assert!(
            html.contains("Setup links have been sent 10 times in the last hour")
                && html.contains("You can send them again in 59 minutes."),
            "{html}"
        );
        // Ten mails went out (one contact, ten sends), not more.
        let sent: Vec<(i64,)> =
            sqlx::query_as("SELECT COUNT(*) FROM mail_deliveries WHERE kind = 'setup_link'")
                .fetch_all(&pool(&app).await)
                .await
                .unwrap();
        assert_eq!(sent[0].0, 10);
        // An hour after those ten, ten more are possible (and no more).
        clock.advance_millis(3_600_000 - 60_000);
        for _ in 0..10 {
            assert_eq!(send(&org, &token).await.unwrap().status(), 202);
        }
        assert_eq!(send(&org, &token).await.unwrap().status(), 429);
    }

    async fn behind_a_trusted_proxy_each_forwarded_client_is_throttled_on_its_own(
        backend: Backend,
    ) {
        let (url, _dir) = fresh_database(backend).await.expect("database");
        // The tests' connections come from 127.0.0.1: the trusted load balancer.
        let extra = [(
            "SMARTCORE_TRUSTED_PROXIES",
            "127.0.0.1, 10.0.0.0/8".to_owned(),
        )];
        let app = TestApp::start_with_clock(backend, &url, &extra, clock_now()).await;
        app.user("admin@acme.example", false).await;
        let from = |header: &'static str, value: &'static str, password: &'static str| {
            app.http
                .post(format!("{}/sign-in", app.base_url))
                .header(header, value)
                .form(&[("email", "admin@acme.example"), ("password", password)])
                .send()
        };
        for _ in 0..5 {
            assert_eq!(
                from("x-forwarded-for", "203.0.113.5", "guess guess guess")
                    .await
                    .unwrap()
                    .status(),
                StatusCode::OK
            );
        }
        assert_eq!(
            from("x-forwarded-for", "203.0.113.5", PASSWORD)
                .await
                .unwrap()
                .status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        // The same client through a second trusted hop, or claiming another address to the
        // left of what the proxy saw: still the same client.
        assert_eq!(
            from("x-forwarded-for", "203.0.113.5, 10.1.2.3", PASSWORD)
                .await
                .unwrap()
                .status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            from("x-forwarded-for", "198.51.100.77, 203.0.113.5", PASSWORD)
                .await
                .unwrap()
                .status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            from("forwarded", "for=203.0.113.5;proto=https", PASSWORD)
                .await
                .unwrap()
                .status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        // Another client behind the same proxy is not slowed.
        assert_eq!(
            from("x-forwarded-for", "203.0.113.6", PASSWORD)
                .await
                .unwrap()
                .status(),
            StatusCode::SEE_OTHER
        );
        assert_eq!(
            from("forwarded", "for=\"[2001:db8::6]:4711\"", PASSWORD)
                .await
                .unwrap()
                .status(),
            StatusCode::SEE_OTHER
        );
        // Requests without the header are the proxy's own address: a client of its own.
        let r = app
            .http
            .post(format!("{}/sign-in", app.base_url))
            .form(&[("email", "admin@acme.example"), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }

    async fn an_untrusted_peers_forwarding_headers_are_ignored(backend: Backend) {
        let (url, _dir) = fresh_database(backend).await.expect("database");
        // No trusted proxies (the default): 127.0.0.1 is the client, whatever it says.
        let app = TestApp::start_with_clock(backend, &url, &[], clock_now()).await;
        app.user("admin@acme.example", false).await;
        let from = |value: String, password: &'static str| {
            app.http
                .post(format!("{}/sign-in", app.base_url))
                .header("x-forwarded-for", value.clone())
                .header("forwarded", format!("for={value}"))
                .form(&[("email", "admin@acme.example"), ("password", password)])
                .send()
        };
        for i in 0..5 {
            assert_eq!(
                from(format!("203.0.113.{i}"), "guess guess guess")
                    .await
                    .unwrap()
                    .status(),
                StatusCode::OK
            );
        }
        // A fresh made-up address does not make a fresh client.
        assert_eq!(
            from("198.51.100.1".to_owned(), PASSWORD)
                .await
                .unwrap()
                .status(),
            StatusCode::TOO_MANY_REQUESTS
        );
    }

    async fn sign_in_failures_slow_one_client_for_one_address_but_never_lock_the_account(
        backend: Backend,
    ) {
        let clock = clock_now();
        let (url, _dir) = fresh_database(backend).await.expect("database");
        let app = TestApp::start_with_clock(backend, &url, &[], clock.clone()).await;
        app.user("admin@acme.example", false).await;
        let base = serve_with_client_addresses(&app).await;
        let attacker = client_from("127.0.0.2");
        let real_user = client_from("127.0.0.3");

        // Five failures from the attacker for the administrator's address.
        for _ in 0..5 {
            let r = sign_in_at(&attacker, &base, "admin@acme.example", "guess guess guess").await;
            assert_eq!(r.status(), StatusCode::OK);
            assert!(r.text().await.unwrap().contains("not right"));
        }
        // The attacker must now wait, even with the right password ...
        let r = sign_in_at(&attacker, &base, "admin@acme.example", PASSWORD).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()["retry-after"], "30");
        assert!(r.text().await.unwrap().contains("Try again in 30 seconds."));
        // ... but the administrator, from another client, signs in.
        let r = sign_in_at(&real_user, &base, "admin@acme.example", PASSWORD).await;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "the account is not locked for everyone"
        );
        // And the real user's sign-in did not clear the attacker's wait.
        assert_eq!(
            sign_in_at(&attacker, &base, "admin@acme.example", PASSWORD)
                .await
                .status(),
            429
        );

        // The wait grows: after 30 s one more try; failing it means 60 s.
        clock.advance_millis(30_000);
        assert_eq!(
            sign_in_at(&attacker, &base, "admin@acme.example", "guess guess guess")
                .await
                .status(),
            200
        );
        let r = sign_in_at(&attacker, &base, "admin@acme.example", PASSWORD).await;
        assert_eq!(r.headers()["retry-after"], "60");
        clock.advance_millis(60_000);
        // After waiting, the right password signs in from that client too, and clears its count.
        assert_eq!(
            sign_in_at(&attacker, &base, "admin@acme.example", PASSWORD)
                .await
                .status(),
            303
        );
        assert_eq!(
            sign_in_at(&attacker, &base, "admin@acme.example", "guess guess guess")
                .await
                .status(),
            200
        );
    }

    async fn password_spraying_from_one_client_is_refused_after_thirty_failures(backend: Backend) {
        let clock = clock_now();
        let (url, _dir) = fresh_database(backend).await.expect("database");
        let app = TestApp::start_with_clock(backend, &url, &[], clock.clone()).await;
        app.user("admin@acme.example", false).await;
        let base = serve_with_client_addresses(&app).await;
        let sprayer = client_from("127.0.0.4");
        let real_user = client_from("127.0.0.5");
        // One guess for each of 30 addresses (never 5 for one), a second apart.
        for i in 0..30 {
            let r = sign_in_at(
                &sprayer,
                &base,
                &format!("user{i}@acme.example"),
                "Summer2026!",
            )
            .await;
            assert_eq!(r.status(), StatusCode::OK, "guess {i}");
            clock.advance_millis(1_000);
        }
        // The 31st is refused, for any address, until the first guess is 15 minutes old.
        let r = sign_in_at(&sprayer, &base, "admin@acme.example", PASSWORD).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()["retry-after"], (15 * 60 - 30).to_string());
        assert!(r.text().await.unwrap().contains("Try again in 15 minutes."));
        // Another client is not affected.
        assert_eq!(
            sign_in_at(&real_user, &base, "admin@acme.example", PASSWORD)
                .await
                .status(),
            303
        );
        // Once the oldest guess has aged out, one more attempt from the sprayer is allowed.
        clock.advance_millis((15 * 60 - 30) * 1000);
        assert_eq!(
            sign_in_at(&sprayer, &base, "admin@acme.example", PASSWORD)
                .await
                .status(),
            303
        );
    }
    on_each_backend!(
        an_expired_token_is_refused_at_once_even_when_remembered,
        the_cli_creates_lists_and_revokes_tokens,
        setup_links_are_sent_at_most_ten_times_an_hour_per_organisation,
        behind_a_trusted_proxy_each_forwarded_client_is_throttled_on_its_own,
        an_untrusted_peers_forwarding_headers_are_ignored,
        sign_in_failures_slow_one_client_for_one_address_but_never_lock_the_account,
        password_spraying_from_one_client_is_refused_after_thirty_failures
    );
}

async fn pool(app: &TestApp) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(&app.database_url).await.unwrap()
}
