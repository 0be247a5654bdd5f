//! The API's contract with hostile and careless clients: every error under /api is
//! problem+json with a stable code, the OpenAPI document says what really happens, the
//! security headers are there, and names cannot carry invisible characters.

use crate::support::{Backend, TestApp, problem};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashSet;

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn a_wrong_method_is_answered_405_problem_json_with_allow(app: TestApp) {
    let (org, token) = app.org_with_admin("Acme").await;
    let r = app
        .request(
            Method::PATCH,
            &format!("/api/v1/orgs/{org}/it-contacts"),
            Some(&token),
        )
        .send()
        .await
        .unwrap();
    let allow = header(&r, "allow").to_owned();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    problem(r, 405, "method_not_allowed").await;
}

async fn an_unknown_api_path_is_answered_404_problem_json(app: TestApp) {
    let token = app.user("someone@example.com", false).await;
    for path in ["/api/v1/nothing-here", "/api/v2/orgs", "/api", "/api/"] {
        let r = app.get(path, &token).await;
        problem(r, 404, "not_found").await;
    }
}

async fn a_query_string_that_does_not_fit_is_answered_400_problem_json(app: TestApp) {
    let (org, token) = app.org_with_admin("Acme").await;
    for query in ["limit=many", "limit=1.5", "limit=99999999999999999999999"] {
        let r = app
            .get(&format!("/api/v1/orgs/{org}/members?{query}"), &token)
            .await;
        problem(r, 400, "invalid_request").await;
        let r = app
            .get(&format!("/api/v1/orgs/{org}/audit-log?{query}"), &token)
            .await;
        problem(r, 400, "invalid_request").await;
    }
    let staff = app.user("ops@example.com", true).await;
    let r = app
        .request(
            Method::POST,
            "/api/v1/ops/identity-removals/rmv_x/complete?by_hand=perhaps",
            Some(&staff),
        )
        .send()
        .await
        .unwrap();
    problem(r, 400, "invalid_request").await;
}

async fn a_cross_site_request_is_refused_as_problem_json_and_as_a_page(app: TestApp) {
    let (org, token) = app.org_with_admin("Acme").await;
    let r = app
        .request(
            Method::POST,
            &format!("/api/v1/orgs/{org}/it-contacts"),
            Some(&token),
        )
        .header("sec-fetch-site", "cross-site")
        .json(&json!({ "email": "it@example.com" }))
        .send()
        .await
        .unwrap();
    problem(r, 403, "csrf_refused").await;
    assert!(app.contacts(&org, &token).await.is_empty());
    // A form page answers a readable page instead.
    let r = app
        .http
        .post(format!("{}/sign-in", app.base_url))
        .header("origin", "https://evil.example")
        .form(&[("email", "a@example.com"), ("password", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(header(&r, "content-type").starts_with("text/html"));
    assert!(r.text().await.unwrap().contains("sent from another site"));
}

async fn pages_answer_404_and_405_as_readable_pages(app: TestApp) {
    let r = app
        .http
        .get(format!("{}/no-such-page", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(header(&r, "content-type").starts_with("text/html"));
    assert!(r.text().await.unwrap().contains("Page not found"));
    let r = app
        .http
        .delete(format!("{}/sign-in", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(!header(&r, "allow").is_empty());
    assert!(header(&r, "content-type").starts_with("text/html"));
}

async fn the_bearer_scheme_is_matched_whatever_its_case(app: TestApp) {
    let (org, token) = app.org_with_admin("Acme").await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let r = app
            .http
            .get(format!("{}/api/v1/orgs/{org}/it-contacts", app.base_url))
            .header("authorization", format!("{scheme} {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{scheme}");
    }
    let r = app
        .http
        .get(format!("{}/api/v1/orgs/{org}/it-contacts", app.base_url))
        .header("authorization", format!("Basic {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "www-authenticate"), "Bearer");
    problem(r, 401, "unauthenticated").await;
}

async fn authenticated_answers_are_not_stored_by_caches(app: TestApp) {
    let (org, token) = app.org_with_admin("Acme").await;
    let r = app
        .get(&format!("/api/v1/orgs/{org}/it-contacts"), &token)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "cache-control"), "no-store");
    let r = app.get("/api/v1/nothing", &token).await;
    assert_eq!(header(&r, "cache-control"), "no-store");
    let email = "pages@acme.example";
    let (_, _) = app
        .member(&org, "Page Reader", email, smartcore_domain::Role::Admin)
        .await;
    let cookie = app.sign_in(email).await;
    let r = app
        .http
        .get(format!(
            "{}/orgs/{org}/settings/authentication",
            app.base_url
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "cache-control"), "no-store");
    // Static files stay cacheable; no HSTS over plain HTTP.
    let r = app
        .http
        .get(format!("{}/static/app.css", app.base_url))
        .send()
        .await
        .unwrap();
    assert!(header(&r, "cache-control").starts_with("public"));
    assert!(r.headers().get("strict-transport-security").is_none());
}

async fn names_with_invisible_characters_are_refused(app: TestApp) {
    let (org, token) = app.org_with_admin("Acme").await;
    for name in [
        "Ada\u{202E}ecalevol",
        "Ada\u{200B}",
        "Ada\u{2028}Lovelace",
        "\u{FEFF}Ada",
    ] {
        let r = app
            .add_contact(
                &org,
                &token,
                json!({ "email": "it@example.com", "name": name }),
            )
            .await;
        let body = problem(r, 422, "invalid_name").await;
        assert_eq!(body["field"], "name");
        assert!(body["detail"].as_str().unwrap().contains("U+"), "{body}");
    }
    assert!(app.contacts(&org, &token).await.is_empty());
    for bad in ["Acme\u{202E}", "Glo\u{2029}bex"] {
        let refused = app.app.operations().create_org(bad).await;
        assert!(
            matches!(
                refused,
                Err(smartcore_app::AppError::Invalid { code, .. }) if code == "invalid_name"
            ),
            "{refused:?}"
        );
    }
    assert!(
        app.app
            .accounts()
            .create_user("x@example.com", Some("X\u{200B}Y"), None, false)
            .await
            .is_err()
    );
    // Issue 24: names that show as nothing (Hangul filler, blank Braille pattern).
    for name in [
        "\u{3164}",
        "\u{2800}\u{2800}\u{2800}",
        " \u{3164} \u{FFA0} ",
    ] {
        let r = app
            .add_contact(
                &org,
                &token,
                json!({ "email": "it@example.com", "name": name }),
            )
            .await;
        let body = problem(r, 422, "invalid_name").await;
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("visible characters"),
            "{body}"
        );
    }
    assert!(
        app.app
            .operations()
            .create_org("\u{3164}\u{3164}")
            .await
            .is_err()
    );
    assert!(
        app.app
            .accounts()
            .create_user("y@example.com", Some("\u{2800}"), None, false)
            .await
            .is_err()
    );
    assert!(app.contacts(&org, &token).await.is_empty());
    // Token names follow the same rules (U+202E would reverse the rest of the line).
    app.user("tok@example.com", false).await;
    let cookie = app.sign_in("tok@example.com").await;
    for name in ["CI \u{202E}kcatta", "\u{3164}", "Dep\u{200B}loy"] {
        let r = app
            .http
            .post(format!("{}/api/v1/tokens", app.base_url))
            .header("cookie", &cookie)
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        let body = problem(r, 422, "invalid_token_name").await;
        assert!(
            body["detail"].as_str().unwrap().starts_with("A token name"),
            "{body}"
        );
    }
}

async fn audit_log_paging_parameters_are_checked(app: TestApp) {
    let (org, token) = app.org_with_admin("Acme").await;
    for query in [
        "limit=-1",
        "limit=0",
        "limit=201",
        "before=%ff",
        "before=evt_%22%3B",
        "before=nothing",
        "limit=x",
    ] {
        let r = app
            .get(&format!("/api/v1/orgs/{org}/audit-log?{query}"), &token)
            .await;
        problem(r, 400, "invalid_request").await;
    }
    for query in [
        "limit=1",
        "limit=200",
        "before=evt_0192f3a4b5c67d8e9f0a1b2c3d4e5f60",
    ] {
        let r = app
            .get(&format!("/api/v1/orgs/{org}/audit-log?{query}"), &token)
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{query}");
    }
}

async fn every_answer_denies_the_browsers_powerful_features(app: TestApp) {
    for path in ["/sign-in", "/api/v1/orgs", "/healthz", "/no-such-page"] {
        let r = app
            .http
            .get(format!("{}{path}", app.base_url))
            .send()
            .await
            .unwrap();
        let policy = r.headers()["permissions-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        for feature in [
            "camera=()",
            "microphone=()",
            "geolocation=()",
            "payment=()",
            "usb=()",
        ] {
            assert!(policy.contains(feature), "{path}: {policy}");
        }
    }
}

async fn the_openapi_document_is_complete_and_spectral_finds_nothing(app: TestApp) {
    let r = app
        .http
        .get(format!("{}/api/openapi.json", app.base_url))
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["servers"][0]["url"], "/", "{}", doc["servers"]);
    assert_eq!(doc["info"]["license"]["name"], "Proprietary");
    let declared: HashSet<&str> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert!(
                t["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{t}"
            );
            t["name"].as_str().unwrap()
        })
        .collect();
    let mut used = HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            assert!(
                id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                    && id.chars().all(|c| c.is_ascii_alphanumeric()),
                "{method} {path}: operationId {id} is not camelCase"
            );
            assert!(
                op["description"].as_str().is_some_and(|d| d.len() > 10),
                "{method} {path}: no description"
            );
            for tag in op["tags"].as_array().unwrap() {
                assert!(
                    declared.contains(tag.as_str().unwrap()),
                    "{method} {path}: tag {tag} not declared"
                );
                used.insert(tag.as_str().unwrap());
            }
            if let Some(created) = op["responses"].get("201") {
                assert!(
                    created["headers"]["Location"]["schema"].is_object(),
                    "{method} {path}: 201 without Location"
                );
            }
        }
    }
    assert_eq!(used, declared, "every declared tag is used");
    for id in [
        "listItContacts",
        "createItContact",
        "createApiToken",
        "getSsoPolicy",
        "listOrganisations",
    ] {
        assert!(text.contains(&format!("\"operationId\":\"{id}\"")), "{id}");
    }

    // The 201s really carry it.
    let (org, token) = app.org_with_admin("Acme").await;
    let r = app
        .request(
            Method::POST,
            &format!("/api/v1/orgs/{org}/it-contacts"),
            Some(&token),
        )
        .json(&json!({ "email": "ada@acme.example" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = header(&r, "location").to_owned();
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(location, format!("/api/v1/orgs/{org}/it-contacts/{id}"));
    for (path, body, prefix) in [
        (
            format!("/api/v1/orgs/{org}/domains"),
            json!({ "domain": "acme.example" }),
            format!("/api/v1/orgs/{org}/domains/"),
        ),
        (
            format!("/api/v1/orgs/{org}/invitations"),
            json!({ "email": "sam@acme.example", "role": "admin" }),
            format!("/api/v1/orgs/{org}/invitations/"),
        ),
        (
            "/api/v1/tokens".to_owned(),
            json!({ "name": "CI" }),
            "/api/v1/tokens/".to_owned(),
        ),
    ] {
        // Tokens are created with a browser session only (issue 24).
        let r = if path == "/api/v1/tokens" {
            let actor = app.app.accounts().bearer_actor(&token).await.unwrap();
            let cookie = app
                .sign_in(&app.app.accounts().user(&actor.user_id).await.unwrap().email)
                .await;
            app.request(Method::POST, &path, None)
                .header("cookie", cookie)
                .json(&body)
                .send()
                .await
                .unwrap()
        } else {
            app.request(Method::POST, &path, Some(&token))
                .json(&body)
                .send()
                .await
                .unwrap()
        };
        assert_eq!(r.status(), StatusCode::CREATED, "{path}");
        let location = header(&r, "location").to_owned();
        let id = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(location, format!("{prefix}{id}"), "{path}");
    }

    // Spectral's `oas` ruleset: no error, no warning.
    crate::contract::spectral_lint(&text);
}

async fn the_openapi_document_tells_the_truth(app: TestApp) {
    let r = app
        .http
        .get(format!("{}/api/openapi.json", app.base_url))
        .send()
        .await
        .unwrap();
    let doc: Value = r.json().await.unwrap();
    let mut ids = HashSet::new();
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: no operationId"));
            assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap();
                let placeholder = format!("{{{name}}}");
                if path.contains(&placeholder) {
                    assert_eq!(p["in"], "path", "{method} {path} {name}");
                } else {
                    assert_eq!(p["in"], "query", "{method} {path} {name}");
                    assert_ne!(p["required"], true, "{method} {path} {name}");
                }
            }
            let responses = op["responses"].as_object().unwrap();
            let mut expected = vec!["401", "503"];
            if path != "/api/v1/orgs" {
                expected.push("404");
            }
            if path.starts_with("/api/v1/orgs/") {
                expected.push("403");
            }
            for status in expected {
                let answer = &responses
                    .get(status)
                    .unwrap_or_else(|| panic!("{method} {path}: no {status}"));
                assert_eq!(
                    answer["content"]["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{method} {path} {status}"
                );
            }
            assert!(
                responses["503"]["headers"]["Retry-After"].is_object(),
                "{method} {path}"
            );
            for (status, answer) in responses {
                assert!(
                    answer["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{method} {path} {status}"
                );
            }
        }
    }
    assert_eq!(
        operations, 38,
        "18 operations, the three of API tokens, the list of organisations, the six of members and invitations (issue 12), issue 16's test alerts (2), keep and upcoming reminders, SSO sign-in's attempts, check-response and policy (2) (issue 21), and issue 24's revoke-all and own events"
    );
    let setup_links = &doc["paths"]["/api/v1/orgs/{org}/setup-links"]["post"]["responses"]["429"];
    assert!(
        setup_links["headers"]["Retry-After"].is_object(),
        "{setup_links}"
    );
}
on_both_databases!(
    a_wrong_method_is_answered_405_problem_json_with_allow,
    an_unknown_api_path_is_answered_404_problem_json,
    a_query_string_that_does_not_fit_is_answered_400_problem_json,
    a_cross_site_request_is_refused_as_problem_json_and_as_a_page,
    pages_answer_404_and_405_as_readable_pages,
    the_bearer_scheme_is_matched_whatever_its_case,
    authenticated_answers_are_not_stored_by_caches,
    names_with_invisible_characters_are_refused,
    audit_log_paging_parameters_are_checked,
    every_answer_denies_the_browsers_powerful_features,
    the_openapi_document_is_complete_and_spectral_finds_nothing,
    the_openapi_document_tells_the_truth
);

/// Over HTTPS (as the public URL says), every answer carries HSTS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_is_sent_when_the_public_url_is_https() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    // The same use cases behind a router that believes it is reached over HTTPS (TLS ends in
    // front of the service); the test still speaks plain HTTP to it.
    let router = smartcore_web::router(
        app.app.clone(),
        smartcore_web::WebConfig {
            public_url: "https://sso.example.com".into(),
            ..Default::default()
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    for path in ["/sign-in", "/api/v1/nothing", "/static/app.css"] {
        let r = app.http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(
            header(&r, "strict-transport-security"),
            "max-age=31536000; includeSubDomains",
            "{path}"
        );
    }
}

async fn admin_sql(sql: String) {
    use sqlx::Connection;
    let admin = std::env::var("SMARTCORE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".to_owned());
    let mut conn = sqlx::AnyConnection::connect(&admin).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .unwrap();
    let _ = conn.close().await;
}

/// A real outage: PostgreSQL stops accepting connections to the service's database and ends
/// the ones it has. Requests are answered 503 `unavailable` with Retry-After (API and page),
/// not 500; once the database is back, the service answers again by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_answered_503_and_recovers() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    let (org, token) = app.org_with_admin("Acme").await;
    let email = "outage@acme.example";
    app.member(&org, "Out Age", email, smartcore_domain::Role::Admin)
        .await;
    let cookie = app.sign_in(email).await;
    let path = format!("/api/v1/orgs/{org}/it-contacts");
    assert_eq!(app.get(&path, &token).await.status(), StatusCode::OK);

    // The name is ours (smartcore_test_ + hex), safe to splice.
    let db = app.database_url.rsplit('/').next().unwrap().to_owned();
    admin_sql(format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false")).await;
    admin_sql(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'"
    ))
    .await;

    for _ in 0..3 {
        let r = app.get(&path, &token).await;
        let status = r.status();
        let retry_after = header(&r, "retry-after").to_owned();
        if status != StatusCode::SERVICE_UNAVAILABLE {
            panic!("{status}: {}", r.text().await.unwrap());
        }
        assert_eq!(retry_after, "5");
        problem(r, 503, "unavailable").await;
    }
    let r = app
        .http
        .get(format!(
            "{}/orgs/{org}/settings/authentication",
            app.base_url
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(header(&r, "content-type").starts_with("text/html"));

    admin_sql(format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true")).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let status = app.get(&path, &token).await.status();
        if status == StatusCode::OK {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {status} after the outage"
        );
        // Real time: the pool connects again on its own after the outage.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Lints `document` with Spectral (npm `@stoplight/spectral-cli`, ruleset
/// `extends: ["spectral:oas"]`): any error or warning fails. `SMARTCORE_TEST_SPECTRAL` names a
/// spectral binary (`.ci/run` installs one), else `npx --yes @stoplight/spectral-cli`. Without
/// npx, or without the network to fetch it, prints one line and returns, except under CI=true.
pub(crate) fn spectral_lint(document: &str) {
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let dir = tempfile::tempdir().unwrap();
    let doc_path = dir.path().join("openapi.json");
    let ruleset = dir.path().join(".spectral.yaml");
    std::fs::write(&doc_path, document).unwrap();
    std::fs::write(&ruleset, "extends: [\"spectral:oas\"]\n").unwrap();
    let mut command = match std::env::var_os("SMARTCORE_TEST_SPECTRAL").filter(|p| !p.is_empty()) {
        Some(bin) => std::process::Command::new(bin),
        None => {
            let mut c = std::process::Command::new("npx");
            c.args(["--yes", "@stoplight/spectral-cli@6"]);
            c
        }
    };
    command
        .arg("lint")
        .arg(&doc_path)
        .arg("--ruleset")
        .arg(&ruleset)
        .args(["--fail-severity", "warn", "--format", "text"])
        .current_dir(dir.path());
    let out = match command.output() {
        Ok(out) => out,
        Err(e) => {
            assert!(!ci, "CI=true but Spectral cannot run: {e}");
            eprintln!("skipping the Spectral lint: npx not found ({e})");
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let offline = [
        "ENOTFOUND",
        "EAI_AGAIN",
        "ECONNREFUSED",
        "ETIMEDOUT",
        "network",
    ]
    .iter()
    .any(|w| stderr.contains(w));
    if !out.status.success() && offline && !stdout.contains("problem") {
        assert!(!ci, "CI=true but Spectral could not be fetched: {stderr}");
        eprintln!("skipping the Spectral lint: npx could not fetch it (no network?)");
        return;
    }
    assert!(
        out.status.success(),
        "Spectral found problems:\n{stdout}\n{stderr}"
    );
}
