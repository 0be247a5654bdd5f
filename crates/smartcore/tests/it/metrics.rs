//! `/metrics`: where it is served, who may read it, and that its numbers follow the work.

use crate::support::{Backend, TestApp};
use reqwest::{Method, StatusCode};

const TOKEN: &str = "metrics-token-0123456789abcdef";

/// The value of the sample `series` (name with its labels, as printed), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split(' ').next()?.parse().ok())
}

async fn scrape(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    app.request(Method::GET, "/metrics", token)
        .send()
        .await
        .unwrap()
}

async fn metrics_text(app: &TestApp) -> String {
    let r = scrape(app, Some(TOKEN)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    r.text().await.unwrap()
}

each_backend! {
    async fn metrics_need_the_token_and_follow_the_work(backend: Backend) {
        let extra = [("SMARTCORE_METRICS_TOKEN", TOKEN.to_owned())];
        let app = TestApp::spawn_with(backend, &extra).await.expect("database");
        assert_eq!(scrape(&app, None).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(scrape(&app, Some("metrics-token-wrong-wrong-wrong")).await.status(), StatusCode::UNAUTHORIZED);

        let before = metrics_text(&app).await;
        for (name, kind) in [
            ("smartcore_http_requests", "counter"),
            ("smartcore_http_request_duration_seconds", "histogram"),
            ("smartcore_identity_sync_attempts", "counter"),
            ("smartcore_identity_removal_attempts", "counter"),
            ("smartcore_certificate_reminders", "counter"),
            ("smartcore_mail_deliveries", "counter"),
            ("smartcore_mail_delivery_duration_seconds", "histogram"),
            ("smartcore_metadata_refreshes", "counter"),
            ("smartcore_it_contacts", "gauge"),
            ("smartcore_identity_removals_waiting", "gauge"),
            ("smartcore_certificate_reminders_waiting", "gauge"),
        ] {
            assert!(before.contains(&format!("# TYPE {name} {kind}\n")), "{name} {kind} missing:\n{before}");
        }
        assert_eq!(sample(&before, "smartcore_it_contacts{status=\"synced\"}"), Some(0.0), "{before}");
        assert!(before.trim_end().ends_with("# EOF"), "{before}");

        let (org, token) = app.org_with_admin("Acme").await;
        app.add_manual(&org, &token, "ada@acme.example").await;
        app.add_manual(&org, &token, "grace@acme.example").await;
        app.wait_for_status(&org, &token, "ada@acme.example", "synced", 10).await;
        app.wait_for_status(&org, &token, "grace@acme.example", "synced", 10).await;
        let r = app.request(Method::POST, &format!("/api/v1/orgs/{org}/setup-links"), Some(&token)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        assert_eq!(app.request(Method::GET, "/api/v1/no-such-thing", Some(&token)).send().await.unwrap().status(), StatusCode::NOT_FOUND);
        // Each contact also gets its welcome from the worker: wait for those 2 and the 2 setup
        // links to be recorded, then every recorded mail is one counted delivery.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        let delivered = loop {
            let log: serde_json::Value = app.get(&format!("/api/v1/orgs/{org}/mail-deliveries"), &token).await.json().await.unwrap();
            let n = log["deliveries"].as_array().unwrap().len();
            if n >= 4 || std::time::Instant::now() > deadline {
                break n;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        assert_eq!(delivered, 4, "2 welcomes and 2 setup links");

        let after = metrics_text(&app).await;
        let added = "smartcore_http_requests_total{method=\"POST\",route=\"/api/v1/orgs/{org}/it-contacts\",status=\"201\"}";
        assert_eq!(sample(&after, added), Some(2.0), "{after}");
        let unmatched = "smartcore_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}";
        assert_eq!(sample(&after, unmatched), Some(1.0), "{after}");
        let latency = "smartcore_http_request_duration_seconds_count{method=\"POST\",route=\"/api/v1/orgs/{org}/it-contacts\"}";
        assert_eq!(sample(&after, latency), Some(2.0), "{after}");
        assert_eq!(sample(&after, "smartcore_it_contacts{status=\"synced\"}"), Some(2.0), "{after}");
        assert_eq!(sample(&after, "smartcore_it_contacts{status=\"pending\"}"), Some(0.0), "{after}");
        assert_eq!(sample(&after, "smartcore_identity_sync_attempts_total{outcome=\"synced\"}"), Some(2.0), "{after}");
        assert_eq!(sample(&after, "smartcore_mail_deliveries_total{outcome=\"sent\"}"), Some(4.0), "{after}");
        assert_eq!(sample(&after, "smartcore_mail_delivery_duration_seconds_count"), Some(4.0), "{after}");
        // Paths are never labels: the organisation's id appears nowhere.
        assert!(!after.contains(&org), "{after}");
    }

    async fn metrics_are_off_by_default_and_can_have_their_own_address(backend: Backend) {
        let app = TestApp::spawn(backend).await.expect("database");
        assert_eq!(scrape(&app, None).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(scrape(&app, Some(TOKEN)).await.status(), StatusCode::NOT_FOUND);
        drop(app);

        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let extra = [("SMARTCORE_METRICS_LISTEN", format!("127.0.0.1:{port}"))];
        let app = TestApp::spawn_with(backend, &extra).await.expect("database");
        assert_eq!(scrape(&app, None).await.status(), StatusCode::NOT_FOUND, "not on the service's address");
        let url = format!("http://127.0.0.1:{port}/metrics");
        let mut text = None;
        for _ in 0..50 {
            if let Ok(r) = reqwest::get(&url).await {
                assert_eq!(r.status(), StatusCode::OK);
                text = Some(r.text().await.unwrap());
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let text = text.expect("/metrics on its own address");
        assert!(text.contains("# TYPE smartcore_it_contacts gauge"), "{text}");
    }
}
