//! `/metrics`: where it is served, who may read it, and that its numbers follow the work.

use crate::support::{Backend, TestApp};
use reqwest::{Method, StatusCode};

const TOKEN: &str = "metrics-token-0123456789abcdef";

/// The Python of the venv with `prometheus_client` (PyPI; `tests/metrics/requirements.txt`):
/// `SMARTCORE_TEST_METRICS_PYTHON`, else `<target>/metrics-venv/bin/python` where `<target>`
/// is `CARGO_TARGET_DIR` (relative to the workspace) or the target folder this test was built
/// in. `None` (one line printed) without it, except under `CI=true`, where it fails.
fn metrics_python() -> Option<std::path::PathBuf> {
    use std::path::{Path, PathBuf};
    let python = match std::env::var_os("SMARTCORE_TEST_METRICS_PYTHON").filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => {
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
            let target = match std::env::var_os("CARGO_TARGET_DIR").filter(|p| !p.is_empty()) {
                Some(dir) => workspace.join(dir),
                None => Path::new(env!("CARGO_TARGET_TMPDIR"))
                    .parent()
                    .map_or_else(|| workspace.join("target"), Path::to_path_buf),
            };
            target.join("metrics-venv/bin/python")
        }
    };
    if python.is_file() {
        return Some(python);
    }
    let why = format!(
        "no Python with prometheus_client at {} (see crates/smartcore/tests/metrics/requirements.txt)",
        python.display()
    );
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but {why}"
    );
    eprintln!("skipping: {why}");
    None
}

/// Parses `text` with prometheus_client's parser for `format` ("text" 0.0.4 or "openmetrics")
/// and returns each family as "name type samples", one a line; panics with the parser's words.
fn parse_with_prometheus_client(python: &std::path::Path, format: &str, text: &str) -> String {
    use std::io::Write;
    let script = r#"
import sys
if sys.argv[1] == "openmetrics":
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
else:
    from prometheus_client.parser import text_string_to_metric_families
text = sys.stdin.read()
for f in text_string_to_metric_families(text):
    if not f.documentation:
        sys.exit("no HELP for " + f.name)
    print(f.name, f.type, len(f.samples))
"#;
    let mut child = std::process::Command::new(python)
        .args(["-c", script, format])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client ({format}) refused it: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

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
    let r = app
        .request(Method::GET, "/metrics", Some(TOKEN))
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    r.text().await.unwrap()
}

async fn metrics_need_the_token_and_follow_the_work(backend: Backend) {
    let extra = [("SMARTCORE_METRICS_TOKEN", TOKEN.to_owned())];
    let app = TestApp::spawn_with(backend, &extra)
        .await
        .expect("database");
    assert_eq!(scrape(&app, None).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        scrape(&app, Some("metrics-token-wrong-wrong-wrong"))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

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
        assert!(
            before.contains(&format!("# TYPE {name} {kind}\n")),
            "{name} {kind} missing:\n{before}"
        );
    }
    assert_eq!(
        sample(&before, "smartcore_it_contacts{status=\"synced\"}"),
        Some(0.0),
        "{before}"
    );
    assert!(before.trim_end().ends_with("# EOF"), "{before}");

    let (org, token) = app.org_with_admin("Acme").await;
    app.add_manual(&org, &token, "ada@acme.example").await;
    app.add_manual(&org, &token, "grace@acme.example").await;
    app.wait_for_status(&org, &token, "ada@acme.example", "synced", 10)
        .await;
    app.wait_for_status(&org, &token, "grace@acme.example", "synced", 10)
        .await;
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
    assert_eq!(
        app.request(Method::GET, "/api/v1/no-such-thing", Some(&token))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    // Each contact also gets its welcome from the trust pass: once the queues are drained
    // those 2 and the 2 setup links are recorded, and every recorded mail is one counted
    // delivery.
    app.drain().await;
    let delivered = {
        let log: serde_json::Value = app
            .get(&format!("/api/v1/orgs/{org}/mail-deliveries"), &token)
            .await
            .json()
            .await
            .unwrap();
        log["deliveries"].as_array().unwrap().len()
    };
    assert_eq!(delivered, 4, "2 welcomes and 2 setup links");

    let after = metrics_text(&app).await;
    let added = "smartcore_http_requests_total{method=\"POST\",route=\"/api/v1/orgs/{org}/it-contacts\",status=\"201\"}";
    assert_eq!(sample(&after, added), Some(2.0), "{after}");
    let unmatched =
        "smartcore_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}";
    assert_eq!(sample(&after, unmatched), Some(1.0), "{after}");
    let latency = "smartcore_http_request_duration_seconds_count{method=\"POST\",route=\"/api/v1/orgs/{org}/it-contacts\"}";
    assert_eq!(sample(&after, latency), Some(2.0), "{after}");
    assert_eq!(
        sample(&after, "smartcore_it_contacts{status=\"synced\"}"),
        Some(2.0),
        "{after}"
    );
    assert_eq!(
        sample(&after, "smartcore_it_contacts{status=\"pending\"}"),
        Some(0.0),
        "{after}"
    );
    assert_eq!(
        sample(
            &after,
            "smartcore_identity_sync_attempts_total{outcome=\"synced\"}"
        ),
        Some(2.0),
        "{after}"
    );
    assert_eq!(
        sample(&after, "smartcore_mail_deliveries_total{outcome=\"sent\"}"),
        Some(4.0),
        "{after}"
    );
    assert_eq!(
        sample(&after, "smartcore_mail_delivery_duration_seconds_count"),
        Some(4.0),
        "{after}"
    );
    // Paths are never labels: the organisation's id appears nowhere.
    assert!(!after.contains(&org), "{after}");
}

async fn metrics_are_off_by_default_and_can_have_their_own_address(backend: Backend) {
    let app = TestApp::spawn(backend).await.expect("database");
    assert_eq!(scrape(&app, None).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        scrape(&app, Some(TOKEN)).await.status(),
        StatusCode::NOT_FOUND
    );
    drop(app);

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let extra = [("SMARTCORE_METRICS_LISTEN", format!("127.0.0.1:{port}"))];
    let app = TestApp::spawn_with(backend, &extra)
        .await
        .expect("database");
    assert_eq!(
        scrape(&app, None).await.status(),
        StatusCode::NOT_FOUND,
        "not on the service's address"
    );
    let url = format!("http://127.0.0.1:{port}/metrics");
    let mut text = None;
    for _ in 0..50 {
        if let Ok(r) = reqwest::get(&url).await {
            assert_eq!(r.status(), StatusCode::OK);
            text = Some(r.text().await.unwrap());
            break;
        }
        // Real time: the serve task binds the /metrics address on its own.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let text = text.expect("/metrics on its own address");
    assert!(
        text.contains("# TYPE smartcore_it_contacts gauge"),
        "{text}"
    );
}

async fn made_up_methods_are_refused_and_add_no_series(backend: Backend) {
    let extra = [("SMARTCORE_METRICS_TOKEN", TOKEN.to_owned())];
    let app = TestApp::spawn_with(backend, &extra)
        .await
        .expect("database");

    // One of each, as a client sees it: problem+json under /api, a page elsewhere; the
    // path's methods in Allow; the made-up method not repeated back.
    let method = Method::from_bytes(b"BREW").unwrap();
    let r = app
        .request(method.clone(), "/api/v1/orgs", None)
        .send()
        .await
        .unwrap();
    let allow = r.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("GET") && !allow.contains("BREW"), "{allow}");
    let body = crate::support::problem(r, 405, "method_not_allowed").await;
    assert!(!body.to_string().contains("BREW"), "{body}");
    let r = app.request(method, "/sign-in", None).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(r.headers()["cache-control"], "no-store");
    let r = app
        .request(Method::TRACE, "/api/v1/orgs", None)
        .send()
        .await
        .unwrap();
    crate::support::problem(r, 405, "method_not_allowed").await;
    // A method the service knows is still named.
    let r = app
        .request(Method::PUT, "/api/v1/orgs", None)
        .send()
        .await
        .unwrap();
    let body = crate::support::problem(r, 405, "method_not_allowed").await;
    assert!(body["detail"].as_str().unwrap().contains("PUT"), "{body}");

    // The same against `smartcore serve` in a process of its own, whose memory is its own.
    let service = Served::start(&app.database_url).await;
    let scrape_child = || async {
        let r = app
            .http
            .get(format!("{}/metrics", service.base_url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.text().await.unwrap()
    };
    // Warm up (buffers, connection tasks), then measure.
    made_up_methods(&service.base_url, 10_000, 8, 1).await;
    // Series of HTTP metrics, but for the scrapes' own (the first scrape is counted after it
    // is answered).
    let series = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("smartcore_http_") && !l.contains("route=\"/metrics\""))
            .count()
    };
    let series_before = series(&scrape_child().await);
    let rss_before = service.resident_bytes();
    let started = std::time::Instant::now();
    made_up_methods(&service.base_url, 100_000, 8, 2).await;
    let took = started.elapsed();
    let rss_after = service.resident_bytes();
    let text = scrape_child().await;
    let series_after = series(&text);
    eprintln!(
        "100,000 made-up methods in {took:?}; http series {series_before} -> {series_after}; RSS {:?} -> {:?} KiB",
        rss_before.map(|b| b / 1024),
        rss_after.map(|b| b / 1024)
    );
    assert_eq!(series_after, series_before, "{text}");
    // Every made-up method is counted as `other`, under the route it was sent to.
    let refused: f64 = ["/api/v1/orgs", "/sign-in"]
            .iter()
            .filter_map(|route| {
                sample(&text, &format!("smartcore_http_requests_total{{method=\"other\",route=\"{route}\",status=\"405\"}}"))
            })
            .sum();
    assert_eq!(refused, 110_000.0, "{text}");
    assert!(
        !text.contains("method=\"M"),
        "a made-up method became a label:\n{text}"
    );
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        assert!(
            after < before + 4 * 1024 * 1024,
            "RSS grew from {} KiB to {} KiB",
            before / 1024,
            after / 1024
        );
    }
}

async fn metrics_speak_text_0_0_4_and_openmetrics_as_asked(backend: Backend) {
    let extra = [("SMARTCORE_METRICS_TOKEN", TOKEN.to_owned())];
    let app = TestApp::spawn_with(backend, &extra)
        .await
        .expect("database");
    let (org, token) = app.org_with_admin("Acme").await;
    app.add_manual(&org, &token, "ada@acme.example").await;
    let get = |accept: Option<&'static str>| {
        let mut r = app.request(Method::GET, "/metrics", Some(TOKEN));
        if let Some(a) = accept {
            r = r.header("accept", a);
        }
        async move {
            let r = r.send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let ctype = r.headers()["content-type"].to_str().unwrap().to_owned();
            (ctype, r.text().await.unwrap())
        }
    };
    // Text 0.0.4: without Accept, for text/plain and for */*.
    let (ctype, plain) = get(None).await;
    assert_eq!(ctype, "text/plain; version=0.0.4; charset=utf-8");
    for accept in ["text/plain", "text/plain;version=0.0.4", "*/*"] {
        assert_eq!(get(Some(accept)).await.0, ctype, "{accept}");
    }
    assert!(!plain.contains("# EOF"), "{plain}");
    assert!(
        plain.contains("# TYPE smartcore_http_requests_total counter\n"),
        "{plain}"
    );
    assert!(
        plain.contains("# HELP smartcore_http_requests_total "),
        "{plain}"
    );
    // OpenMetrics when asked, Prometheus's own Accept included.
    let prometheus = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    let (ctype, openmetrics) = get(Some(prometheus)).await;
    assert_eq!(
        ctype,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(openmetrics.ends_with("# EOF\n"), "{openmetrics}");
    assert_eq!(get(Some("application/openmetrics-text")).await.0, ctype);
    assert_eq!(
        get(Some("text/plain;q=0.9, application/openmetrics-text;q=0.5"))
            .await
            .0,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    // HELP on every family, in both.
    for text in [&plain, &openmetrics] {
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let name = line.split(' ').nth(2).unwrap();
            assert!(
                text.contains(&format!("# HELP {name} ")),
                "no HELP for {name}"
            );
        }
    }

    // A third-party parser of each format reads the same families, counters as counters.
    let Some(python) = metrics_python() else {
        return;
    };
    let families_text = parse_with_prometheus_client(&python, "text", &plain);
    let families_openmetrics = parse_with_prometheus_client(&python, "openmetrics", &openmetrics);
    for expected in [
        "smartcore_http_requests counter",
        "smartcore_http_request_duration_seconds histogram",
        "smartcore_identity_sync_attempts counter",
        "smartcore_mail_deliveries counter",
        "smartcore_it_contacts gauge",
        "smartcore_identity_removals_waiting gauge",
        "smartcore_certificate_reminders_waiting gauge",
    ] {
        assert!(
            families_text
                .lines()
                .any(|l| l.starts_with(&format!("{expected} "))),
            "{expected} in text 0.0.4:\n{families_text}"
        );
        assert!(
            families_openmetrics
                .lines()
                .any(|l| l.starts_with(&format!("{expected} "))),
            "{expected} in OpenMetrics:\n{families_openmetrics}"
        );
    }
    assert_eq!(
        families_text.lines().count(),
        families_openmetrics.lines().count(),
        "{families_text}\n{families_openmetrics}"
    );
}
on_each_backend!(
    metrics_need_the_token_and_follow_the_work,
    metrics_are_off_by_default_and_can_have_their_own_address,
    made_up_methods_are_refused_and_add_no_series,
    metrics_speak_text_0_0_4_and_openmetrics_as_asked
);

/// `smartcore serve` in a process of its own (with the metrics token), killed on drop.
struct Served {
    child: std::process::Child,
    base_url: String,
    _outbox: crate::support::TempDir,
}

impl Served {
    async fn start(database_url: &str) -> Served {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base_url = format!("http://127.0.0.1:{port}");
        let outbox = crate::support::TempDir::new("outbox");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_smartcore"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("SMARTCORE_DATABASE_URL", database_url)
            .env("SMARTCORE_PUBLIC_URL", &base_url)
            .env("SMARTCORE_OUTBOX_DIR", &outbox.0)
            .env("SMARTCORE_METRICS_TOKEN", TOKEN)
            .env("RUST_LOG", "warn")
            .env_remove("SMARTCORE_CONFIG")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start smartcore serve");
        let served = Served {
            child,
            base_url,
            _outbox: outbox,
        };
        let started = std::time::Instant::now();
        while reqwest::get(format!("{}/healthz", served.base_url))
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
        served
    }

    /// The service process's resident set, in bytes.
    fn resident_bytes(&self) -> Option<u64> {
        let statm = std::fs::read_to_string(format!("/proc/{}/statm", self.child.id())).ok()?;
        let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
        Some(pages * 4096)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `count` requests with made-up methods over `connections` kept-alive connections,
/// pipelined in batches; checks that every one is answered 405.
async fn made_up_methods(base_url: &str, count: usize, connections: usize, seed: u64) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base_url.trim_start_matches("http://").to_owned();
    let per = count / connections;
    let mut tasks = Vec::new();
    for c in 0..connections {
        let addr = addr.clone();
        tasks.push(tokio::spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
            let mut state = seed ^ (c as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mut answered = 0;
            let mut tail = Vec::new();
            let batch = 500;
            let mut sent = 0;
            while sent < per {
                let n = batch.min(per - sent);
                let mut out = Vec::with_capacity(n * 64);
                for _ in 0..n {
                    // xorshift: a different made-up method each time.
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let path = if state & 1 == 0 {
                        "/api/v1/orgs"
                    } else {
                        "/sign-in"
                    };
                    out.extend_from_slice(
                        format!("M{state:016X} {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
                    );
                }
                stream.write_all(&out).await.unwrap();
                sent += n;
                let want = answered + n;
                let mut buf = vec![0u8; 64 * 1024];
                while answered < want {
                    let read = stream.read(&mut buf).await.unwrap();
                    assert!(read > 0, "the connection closed after {answered} answers");
                    tail.extend_from_slice(&buf[..read]);
                    let needle = b"HTTP/1.1 ";
                    let mut start = 0;
                    while let Some(at) = tail[start..]
                        .windows(needle.len())
                        .position(|w| w == needle)
                    {
                        let status = &tail[start + at + needle.len()..];
                        if status.len() < 3 {
                            break;
                        }
                        assert_eq!(&status[..3], b"405", "{}", String::from_utf8_lossy(&tail));
                        answered += 1;
                        start += at + needle.len() + 3;
                    }
                    tail.drain(..start);
                }
            }
            answered
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, per * connections);
}
