//! Issue 22: every request has an id (`x-request-id` in, echoed out), carried by problem+json
//! answers, shown on error pages as a reference, and named by every log line of the request.

use crate::support::{TempDir, TestApp, problem};
use serde_json::json;

/// The `x-request-id` of an answer.
fn echoed(r: &reqwest::Response) -> String {
    r.headers()
        .get("x-request-id")
        .expect("an x-request-id in the answer")
        .to_str()
        .unwrap()
        .to_owned()
}

/// A generated id: a UUID (v4).
fn is_generated(id: &str) -> bool {
    uuid::Uuid::parse_str(id).is_ok_and(|u| u.get_version_num() == 4)
}

async fn a_request_id_sent_is_echoed_and_carried_by_the_problem(app: TestApp) {
    let (org, token) = app.org_with_admin("Acme").await;
    // An answer that no handler shaped (the router's 404)…
    let r = app
        .http
        .get(format!("{}/api/v1/nothing-here", app.base_url))
        .header("x-request-id", "support-case-42")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed(&r), "support-case-42");
    let body = problem(r, 404, "not_found").await;
    assert_eq!(body["request_id"], "support-case-42", "{body}");
    // …and a use case's refusal.
    let r = app
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/orgs/{org}/it-contacts"),
            Some(&token),
        )
        .header("x-request-id", "Ticket:7/b")
        .json(&json!({ "email": "not an address" }))
        .send()
        .await
        .unwrap();
    assert_eq!(echoed(&r), "Ticket:7/b");
    let body = problem(r, 422, "invalid_email").await;
    assert_eq!(body["request_id"], "Ticket:7/b", "{body}");
    // A successful answer echoes it too.
    let r = app
        .request(
            reqwest::Method::GET,
            &format!("/api/v1/orgs/{org}/it-contacts"),
            Some(&token),
        )
        .header("x-request-id", "ok-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(echoed(&r), "ok-1");
}

async fn without_a_usable_request_id_one_is_made(app: TestApp) {
    let (org, _) = app.org_with_admin("Acme").await;
    let r = app
        .http
        .get(format!("{}/api/v1/orgs/{org}/it-contacts", app.base_url))
        .send()
        .await
        .unwrap();
    let id = echoed(&r);
    assert!(is_generated(&id), "{id}");
    let body = problem(r, 401, "unauthenticated").await;
    assert_eq!(body["request_id"], id.as_str(), "{body}");
    // Too long, with a space, or sent twice: replaced, never repeated back.
    let too_long = "x".repeat(smartcore_web::MAX_REQUEST_ID_LEN + 1);
    let longest = "y".repeat(smartcore_web::MAX_REQUEST_ID_LEN);
    for sent in [
        vec![too_long.as_str()],
        vec!["two words"],
        vec!["a", "b"],
        vec![""],
    ] {
        let mut request = app
            .http
            .get(format!("{}/api/v1/nothing-here", app.base_url));
        for value in &sent {
            request = request.header("x-request-id", *value);
        }
        let r = request.send().await.unwrap();
        let id = echoed(&r);
        assert!(is_generated(&id), "{sent:?}: {id}");
        let body = problem(r, 404, "not_found").await;
        assert_eq!(body["request_id"], id.as_str(), "{body}");
    }
    let r = app
        .http
        .get(format!("{}/healthz", app.base_url))
        .header("x-request-id", &longest)
        .send()
        .await
        .unwrap();
    assert_eq!(echoed(&r), longest, "the longest id kept");
    // Two requests, two ids.
    let a = app
        .http
        .get(format!("{}/healthz", app.base_url))
        .send()
        .await
        .unwrap();
    let b = app
        .http
        .get(format!("{}/healthz", app.base_url))
        .send()
        .await
        .unwrap();
    assert_ne!(echoed(&a), echoed(&b));
}

async fn error_pages_show_the_reference_to_quote(app: TestApp) {
    // The router's 404 page, with the client's id…
    let r = app
        .http
        .get(format!("{}/no-such-page", app.base_url))
        .header("x-request-id", "page-ref-7")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(echoed(&r), "page-ref-7");
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Reference: <code>page-ref-7</code>"),
        "{html}"
    );
    // …and a use case's refusal rendered as a page, with a generated one.
    let (org, _) = app.org_with_admin("Acme").await;
    app.member(
        &org,
        "Sam Admin",
        "sam@acme.example",
        smartcore_domain::Role::Admin,
    )
    .await;
    let cookie = app.sign_in("sam@acme.example").await;
    let r = app
        .http
        .get(format!(
            "{}/orgs/org_nonexistent/settings/authentication",
            app.base_url
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let id = echoed(&r);
    assert!(is_generated(&id), "{id}");
    let html = r.text().await.unwrap();
    assert!(html.contains("Page not found"), "{html}");
    assert!(
        html.contains(&format!("Reference: <code>{id}</code>")),
        "{html}"
    );
}

async fn every_log_line_of_a_request_names_its_id(app: TestApp) {
    let (org, token) = app.org_with_admin("Acme").await;
    let logs = TempDir::new("request-id-logs");
    let served = Served::start(&app.database_url, &logs);
    served.ready().await;
    let r = app
        .http
        .post(format!("{}/api/v1/orgs/{org}/it-contacts", served.base_url))
        .bearer_auth(&token)
        .header("x-request-id", "log-line-test-1")
        .json(&json!({ "email": "it@acme.example" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    drop(served);
    let text = std::fs::read_to_string(logs.0.join("stderr")).unwrap();
    let added: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("IT contact added"))
        .collect();
    assert_eq!(added.len(), 1, "{text}");
    assert!(added[0].contains("request_id=log-line-test-1"), "{text}");
    assert!(
        added[0].contains("route=/api/v1/orgs/{org}/it-contacts"),
        "the route template, not the path: {text}"
    );
    assert!(added[0].contains("method=POST"), "{text}");
}

async fn an_internal_failure_is_logged_once_with_its_causes_and_the_request_id(app: TestApp) {
    // A corrupt key for setup links: checking any link fails inside, not because of it.
    let pool = sqlx::AnyPool::connect(&app.database_url).await.unwrap();
    sqlx::query("INSERT INTO service_secrets (name, value) VALUES ($1, $2)")
        .bind("setup_link_key")
        .bind("not-hex!")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let logs = TempDir::new("request-id-logs");
    let served = Served::start(&app.database_url, &logs);
    served.ready().await;
    let r = app
        .http
        .get(format!("{}/setup/aaaa.bbbb", served.base_url))
        .header("x-request-id", "failure-9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    let html = r.text().await.unwrap();
    assert!(html.contains("Reference: <code>failure-9</code>"), "{html}");
    assert!(
        !html.contains("hex") && !html.contains("setup link key"),
        "the cause is not shown: {html}"
    );
    drop(served);
    let text = std::fs::read_to_string(logs.0.join("stderr")).unwrap();
    let errors: Vec<&str> = text.lines().filter(|l| l.contains(" ERROR ")).collect();
    assert_eq!(errors.len(), 1, "one line for one failure: {text}");
    assert!(errors[0].contains("request_id=failure-9"), "{text}");
    assert!(
        errors[0].contains("internal error: corrupt setup link key: Invalid character"),
        "{text}"
    );
}
on_both_databases!(
    a_request_id_sent_is_echoed_and_carried_by_the_problem,
    without_a_usable_request_id_one_is_made,
    error_pages_show_the_reference_to_quote,
    every_log_line_of_a_request_names_its_id,
    an_internal_failure_is_logged_once_with_its_causes_and_the_request_id
);

/// The background passes (a module of their own: each test starts its own services).
mod passes {
    use super::Served;
    use crate::support::{Backend, TempDir, TestApp};

    async fn a_background_pass_logs_inside_its_span(backend: Backend) {
        // The test's own service runs no workers: the served process's sync does the work.
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let (org, token) = app.org_with_admin("Acme").await;
        app.add_manual(&org, &token, "it@acme.example").await;
        let logs = TempDir::new("request-id-logs");
        let served = Served::start(&app.database_url, &logs);
        served.ready().await;
        app.poll_for_status(&org, &token, "it@acme.example", "synced", 30)
            .await;
        drop(served);
        let text = std::fs::read_to_string(logs.0.join("stderr")).unwrap();
        let synced: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("IT contact synced"))
            .collect();
        assert_eq!(synced.len(), 1, "{text}");
        assert!(
            synced[0].contains("pass{pass=\"identity sync\" worker=\"worker-"),
            "{text}"
        );
    }
    on_each_backend!(a_background_pass_logs_inside_its_span);
}

/// `smartcore serve` in a process of its own, its log (INFO, plain text) in `logs/stderr`;
/// killed on drop.
struct Served {
    child: std::process::Child,
    base_url: String,
}

impl Served {
    fn start(database_url: &str, logs: &TempDir) -> Served {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base_url = format!("http://127.0.0.1:{port}");
        let stderr = std::fs::File::create(logs.0.join("stderr")).unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_smartcore"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("SMARTCORE_DATABASE_URL", database_url)
            .env("SMARTCORE_PUBLIC_URL", &base_url)
            .env("SMARTCORE_OUTBOX_DIR", logs.0.join("outbox"))
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("SMARTCORE_LOG_FORMAT")
            .env_remove("SMARTCORE_CONFIG")
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start smartcore serve");
        Served { child, base_url }
    }

    /// Waits until the service answers.
    async fn ready(&self) {
        let started = std::time::Instant::now();
        while reqwest::get(format!("{}/healthz", self.base_url))
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "the service did not start"
            );
            // Real time: the service is a process of its own.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
