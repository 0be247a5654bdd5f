//! The fake itself: its WorkOS contract, its limits and its control routes, in-process and as
//! the `workos-fake` binary driven over HTTP from this (separate) process.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use workos_fake::{FakeConfig, FakeWorkOs, Fault, Faults, Stats};

const KEY: &str = "sk_test_fake_suite";

fn http() -> reqwest::Client {
    // Needed when reqwest is unified with `rustls-no-provider` (see Cargo.toml).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

#[tokio::test]
async fn contract_shapes_match_workos() {
    let fake = FakeWorkOs::start(KEY).await.expect("start");
    let url = format!("{}/organizations/org_1/it_contacts", fake.base_url());
    let http = http();

    let created = http
        .post(&url)
        .bearer_auth(KEY)
        .json(&json!({"email": "a@example.com"}))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);
    let contact: Value = created.json().await.expect("json");
    assert_eq!(contact["object"], "it_contact");
    for field in ["id", "email", "created_at", "updated_at"] {
        assert!(contact[field].is_string(), "{field} in {contact}");
    }

    let unauthorised = http
        .get(&url)
        .bearer_auth("nope")
        .send()
        .await
        .expect("401");
    assert_eq!(unauthorised.status(), 401);
    let body: Value = unauthorised.json().await.expect("json");
    assert_eq!(body["code"], "unauthorized");

    let too_many = http
        .get(format!("{url}?limit=101"))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("422");
    assert_eq!(too_many.status(), 422);

    let missing = http
        .delete(format!("{url}/it_contact_00000000000000000099"))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("404");
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.expect("json");
    assert_eq!(body["code"], "entity_not_found");

    let invalid = http
        .post(&url)
        .bearer_auth(KEY)
        .json(&json!({"email": "not an address"}))
        .send()
        .await
        .expect("422");
    assert_eq!(invalid.status(), 422);
    let body: Value = invalid.json().await.expect("json");
    assert_eq!(body["code"], "invalid_request_parameters");
    assert_eq!(body["errors"][0]["field"], "email");
}

#[tokio::test]
async fn list_pages_in_both_orders_with_cursors() {
    let fake = FakeWorkOs::start(KEY).await.expect("start");
    for i in 0..5 {
        fake.insert_contact("org_1", &format!("c{i}@example.com"))
            .expect("insert");
    }
    let url = format!("{}/organizations/org_1/it_contacts", fake.base_url());
    let page = |query: String| {
        let url = url.clone();
        async move {
            http()
                .get(format!("{url}?{query}"))
                .bearer_auth(KEY)
                .send()
                .await
                .expect("list")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    let emails = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|c| c["email"].as_str().expect("email").to_owned())
            .collect()
    };

    let first = page("limit=3".into()).await;
    assert_eq!(
        emails(&first),
        ["c4@example.com", "c3@example.com", "c2@example.com"]
    );
    assert!(first["list_metadata"]["before"].is_null());
    let after = first["list_metadata"]["after"]
        .as_str()
        .expect("after")
        .to_owned();
    let second = page(format!("limit=3&after={after}")).await;
    assert_eq!(emails(&second), ["c1@example.com", "c0@example.com"]);
    assert!(second["list_metadata"]["after"].is_null());

    let ascending = page("limit=2&order=asc".into()).await;
    assert_eq!(emails(&ascending), ["c0@example.com", "c1@example.com"]);
}

#[tokio::test]
async fn latency_and_max_concurrency_set_the_servers_own_limit() {
    let mut config = FakeConfig::new(KEY);
    config.latency = Duration::from_millis(50);
    config.max_concurrency = Some(2);
    let fake = FakeWorkOs::start_with(config).await.expect("start");
    let url = format!("{}/organizations/org_1/it_contacts", fake.base_url());
    let http = http();

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (http, url) = (http.clone(), url.clone());
        tasks.spawn(async move {
            http.get(url)
                .bearer_auth(KEY)
                .send()
                .await
                .expect("list")
                .status()
        });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.expect("task"), 200);
    }
    let elapsed = started.elapsed();

    let stats = fake.stats();
    assert_eq!(stats.max_in_flight, 2);
    assert_eq!(stats.throughput_limit_per_sec, Some(40.0));
    // 20 requests, 2 at a time, 50 ms each: at least 10 rounds.
    assert!(elapsed >= Duration::from_millis(500), "{elapsed:?}");
}

#[tokio::test]
async fn faults_count_down_and_clear() {
    let fake = FakeWorkOs::start(KEY).await.expect("start");
    fake.set_fault(Fault::Fail5xx {
        count: 2,
        status: 502,
    });
    let url = format!("{}/organizations/org_1/it_contacts", fake.base_url());
    let http = http();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(
            http.get(&url)
                .bearer_auth(KEY)
                .send()
                .await
                .expect("send")
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [502, 502, 200]);

    fake.set_fault(Fault::Latency { ms: 10 });
    fake.clear_faults();
    assert_eq!(fake.faults(), Faults::default());
    fake.reset_stats();
    assert_eq!(fake.stats().requests_total, 0);
}

/// The binary, as an integration test in another OS process would use it.
struct Binary {
    child: Child,
    base_url: String,
}

impl Binary {
    fn start(args: &[&str]) -> Binary {
        let mut child = Command::new(env!("CARGO_BIN_EXE_workos-fake"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn workos-fake");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("base URL line");
        Binary {
            child,
            base_url: line.trim().to_owned(),
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn the_binary_is_controlled_over_http() {
    let fake = Binary::start(&["--api-key", KEY, "--latency-ms", "5"]);
    assert!(
        fake.base_url.starts_with("http://127.0.0.1:"),
        "{}",
        fake.base_url
    );
    let http = http();
    let base = &fake.base_url;

    let faults: Faults = http
        .get(format!("{base}/_fake/faults"))
        .send()
        .await
        .expect("faults")
        .json()
        .await
        .expect("json");
    assert_eq!(faults.latency_ms, 5, "--latency-ms is in force");

    // A contact created by hand on the identity side.
    let by_hand = http
        .post(format!("{base}/_fake/orgs/org_1/contacts"))
        .json(&json!({"email": "Hand@Example.com"}))
        .send()
        .await
        .expect("by hand");
    assert_eq!(by_hand.status(), 201);

    // Two faults at once, then an API request meets the first.
    let set = http
        .post(format!("{base}/_fake/faults"))
        .json(&json!([
            {"kind": "rate_limit", "count": 1, "retry_after_secs": 9},
            {"kind": "reject_email", "email": "no@example.com", "message": "Refused."}
        ]))
        .send()
        .await
        .expect("set faults");
    assert_eq!(set.status(), 200);
    let url = format!("{base}/organizations/org_1/it_contacts");
    let limited = http
        .post(&url)
        .bearer_auth(KEY)
        .json(&json!({"email": "x@example.com"}))
        .send()
        .await
        .expect("429");
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "9");
    let duplicate = http
        .post(&url)
        .bearer_auth(KEY)
        .json(&json!({"email": "hand@example.com"}))
        .send()
        .await
        .expect("409");
    assert_eq!(duplicate.status(), 409);
    let rejected = http
        .post(&url)
        .bearer_auth(KEY)
        .json(&json!({"email": "no@example.com"}))
        .send()
        .await
        .expect("422");
    assert_eq!(rejected.status(), 422);
    assert_eq!(
        rejected.json::<Value>().await.expect("json")["message"],
        "Refused."
    );

    let stats: Stats = http
        .get(format!("{base}/_fake/stats"))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(stats.requests_total, 3);
    assert_eq!(stats.injected_429, 1);
    assert_eq!(
        stats.creates_total, 0,
        "the by-hand contact is not an API create"
    );
    assert_eq!(stats.contacts_now, 1);

    let contacts: Vec<Value> = http
        .get(format!("{base}/_fake/orgs/org_1/contacts"))
        .send()
        .await
        .expect("contacts")
        .json()
        .await
        .expect("json");
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0]["email"], "Hand@Example.com");

    let cleared: Faults = http
        .delete(format!("{base}/_fake/faults"))
        .send()
        .await
        .expect("clear")
        .json()
        .await
        .expect("json");
    assert_eq!(cleared, Faults::default());
    assert_eq!(
        http.post(format!("{base}/_fake/reset"))
            .send()
            .await
            .expect("reset")
            .status(),
        204
    );
    let stats: Stats = http
        .get(format!("{base}/_fake/stats"))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(stats.contacts_now, 0);
}
