//! The identity-side sync against a local server that speaks the WorkOS IT Contacts contract
//! (R6, R7, D2, "The identity side"). Our real HTTP client talks to it over TCP.

use crate::support::{Backend, TempDir, TestApp, WITH_WORKERS, WORKOS_KEY, problem};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use smartcore_app::ManualClock;
use smartcore_domain::Timestamp;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use workos_fake::{FakeWorkOs, Fault};

const IDENTITY_ORG: &str = "org_01WORKOS";

/// A service on `backend` using the fake as its identity side, with an organisation linked to
/// it; returns (app, org id, admin token).
async fn linked(
    backend: Backend,
    fake: &FakeWorkOs,
    extra: &[(&'static str, String)],
) -> (TestApp, String, String) {
    let mut env = TestApp::workos_env(fake.base_url());
    env.extend(extra.iter().cloned());
    let app = TestApp::spawn_with(backend, &env).await.expect("database");
    let (org, token) = app.org_with_admin("Acme").await;
    app.link_identity(&org, IDENTITY_ORG).await;
    (app, org, token)
}

/// Like [`linked`], on a clock the test moves (for retries); returns the clock too.
async fn linked_with_clock(
    backend: Backend,
    fake: &FakeWorkOs,
    extra: &[(&'static str, String)],
) -> (TestApp, Arc<ManualClock>, String, String) {
    let clock = Arc::new(ManualClock::new(Timestamp::from_datetime(
        time::OffsetDateTime::now_utc(),
    )));
    let mut env = TestApp::workos_env(fake.base_url());
    env.extend(extra.iter().cloned());
    let app = TestApp::spawn_with_clock(backend, &env, clock.clone())
        .await
        .expect("database");
    let (org, token) = app.org_with_admin("Acme").await;
    app.link_identity(&org, IDENTITY_ORG).await;
    (app, clock, org, token)
}

/// Moves the clock past the next retry (a backoff is at most 5 minutes) and drives the
/// queues, `times` times.
async fn retry(app: &TestApp, clock: &ManualClock, times: usize) {
    for _ in 0..times {
        clock.advance_millis(6 * 60 * 1000);
        app.drain().await;
    }
}

async fn fake() -> FakeWorkOs {
    FakeWorkOs::start(WORKOS_KEY)
        .await
        .expect("start the identity-side fake")
}

fn creates_of(fake: &FakeWorkOs, email: &str) -> u64 {
    fake.stats()
        .creates_by_email
        .get(&email.to_lowercase())
        .copied()
        .unwrap_or(0)
}

fn posts(fake: &FakeWorkOs) -> u64 {
    fake.stats()
        .requests
        .iter()
        .filter(|(k, _)| k.starts_with("POST "))
        .map(|(_, v)| *v)
        .sum()
}

fn deletes(fake: &FakeWorkOs) -> u64 {
    fake.stats()
        .requests
        .iter()
        .filter(|(k, _)| k.starts_with("DELETE "))
        .map(|(_, v)| *v)
        .sum()
}

async fn added_contacts_become_synced_with_one_request_each(backend: Backend) {
    let fake = fake().await;
    let (app, org, token) = linked(backend, &fake, &[]).await;
    for email in [
        "ada@acme.example",
        "Grace@Acme.example",
        "it@partner.example",
    ] {
        let c = app.add_manual(&org, &token, email).await;
        assert_eq!(c["status"], "pending");
        assert_eq!(c["synced_at"], Value::Null);
    }
    for email in [
        "ada@acme.example",
        "grace@acme.example",
        "it@partner.example",
    ] {
        let c = app.wait_for_status(&org, &token, email, "synced", 10).await;
        assert!(c["synced_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(c["status_detail"], Value::Null);
        assert_eq!(creates_of(&fake, email), 1);
    }
    assert_eq!(posts(&fake), 3, "one request per contact");
    assert_eq!(fake.contacts(IDENTITY_ORG).len(), 3);
    let log: Value = app
        .get(&format!("/api/v1/orgs/{org}/audit-log?limit=100"), &token)
        .await
        .json()
        .await
        .unwrap();
    let synced = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "it_contact.synced")
        .count();
    assert_eq!(synced, 3);
}

async fn the_builtin_connector_syncs_at_once_and_removes_by_itself(backend: Backend) {
    let app = TestApp::spawn(backend).await.expect("database");
    let (org, token) = app.org_with_admin("Acme").await;
    let c = app.add_manual(&org, &token, "it@acme.example").await;
    app.wait_for_status(&org, &token, "it@acme.example", "synced", 10)
        .await;
    let r = app
        .delete(
            &format!(
                "/api/v1/orgs/{org}/it-contacts/{}",
                c["id"].as_str().unwrap()
            ),
            &token,
        )
        .await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["identity_removal"], "completed");
    assert!(
        app.store()
            .await
            .pending_removals()
            .await
            .unwrap()
            .is_empty()
    );
}

async fn contacts_of_an_unlinked_organisation_wait_and_sync_once_linked(backend: Backend) {
    let fake = fake().await;
    let app = TestApp::spawn_with(backend, &TestApp::workos_env(fake.base_url()))
        .await
        .expect("database");
    let (org, token) = app.org_with_admin("Acme").await;
    app.add_manual(&org, &token, "it@acme.example").await;
    let c = app
        .wait_for_status(&org, &token, "it@acme.example", "pending", 5)
        .await;
    assert!(
        c["status_detail"]
            .as_str()
            .unwrap_or_default()
            .contains("linked"),
        "{c}"
    );
    assert_eq!(
        fake.stats().requests_total,
        0,
        "nothing is sent before the link"
    );
    app.link_identity(&org, IDENTITY_ORG).await;
    app.wait_for_status(&org, &token, "it@acme.example", "synced", 10)
        .await;
    assert_eq!(creates_of(&fake, "it@acme.example"), 1);
}

async fn an_outage_keeps_contacts_pending_and_loses_nothing(backend: Backend) {
    let fake = fake().await;
    fake.set_fault(Fault::Fail5xx {
        count: 2,
        status: 503,
    });
    fake.set_fault(Fault::DropConnection { count: 1 });
    let (app, clock, org, token) = linked_with_clock(backend, &fake, &[]).await;
    app.add_manual(&org, &token, "it@acme.example").await;
    // While the identity side fails, the contact stays pending with the reason shown.
    app.drain().await;
    let c = app.contacts(&org, &token).await.remove(0);
    let detail = c["status_detail"]
        .as_str()
        .expect("no retry reason shown")
        .to_owned();
    assert_eq!(c["status"], "pending");
    assert!(detail.contains("retrying automatically"), "{detail}");
    // Two 503s and a dropped connection: the fourth attempt at the latest goes through (a
    // round more or less changes nothing once it has).
    retry(&app, &clock, 5).await;
    app.wait_for_status(&org, &token, "it@acme.example", "synced", 20)
        .await;
    let stats = fake.stats();
    assert_eq!(stats.creates_total, 1);
    assert!(
        stats.injected_5xx + stats.dropped_connections >= 2,
        "{stats:?}"
    );
}

async fn rate_limiting_honours_retry_after(backend: Backend) {
    let fake = fake().await;
    fake.set_fault(Fault::RateLimit {
        count: 1,
        retry_after_secs: 2,
    });
    // The service's own workers, polling every 50 ms: the subject is that the running sync
    // waits for Retry-After (2 s, in real time) before it tries again.
    let (app, org, token) = linked(backend, &fake, &[(WITH_WORKERS, "1".into())]).await;
    let added = Instant::now();
    app.add_manual(&org, &token, "it@acme.example").await;
    app.wait_for_status(&org, &token, "it@acme.example", "synced", 10)
        .await;
    assert!(
        added.elapsed() >= Duration::from_secs(2),
        "retried before Retry-After: {:?}",
        added.elapsed()
    );
    assert_eq!(fake.stats().injected_429, 1);
    assert_eq!(creates_of(&fake, "it@acme.example"), 1);
}

async fn a_refusal_shows_sync_failed_with_its_reason(backend: Backend) {
    let fake = fake().await;
    fake.set_fault(Fault::RejectEmail {
        email: "blocked@acme.example".into(),
        message: Some("Domain not allowed".into()),
    });
    let (app, org, token) = linked(backend, &fake, &[]).await;
    app.add_manual(&org, &token, "blocked@acme.example").await;
    let c = app
        .wait_for_status(&org, &token, "blocked@acme.example", "failed", 10)
        .await;
    assert!(
        c["status_detail"]
            .as_str()
            .unwrap()
            .contains("Domain not allowed"),
        "{c}"
    );
    let staff = app.user("ops@smartcore.example", true).await;
    let failures: Value = app
        .get("/api/v1/ops/sync-failures", &staff)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(failures["failures"][0]["email"], "blocked@acme.example");
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
            .any(|e| e["action"] == "it_contact.sync_failed")
    );
}

async fn removing_a_synced_contact_flags_it_and_the_ops_action_deletes_it_once(backend: Backend) {
    let fake = fake().await;
    let (app, org, token) = linked(backend, &fake, &[]).await;
    let c = app.add_manual(&org, &token, "leaver@acme.example").await;
    app.wait_for_status(&org, &token, "leaver@acme.example", "synced", 10)
        .await;
    let r = app
        .delete(
            &format!(
                "/api/v1/orgs/{org}/it-contacts/{}",
                c["id"].as_str().unwrap()
            ),
            &token,
        )
        .await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["identity_removal"], "flagged");
    assert_eq!(
        fake.contacts(IDENTITY_ORG).len(),
        1,
        "the team completes it, not the admin"
    );

    let staff = app.user("ops@smartcore.example", true).await;
    problem(
        app.get("/api/v1/ops/identity-removals?status=pending", &token)
            .await,
        404,
        "not_found",
    )
    .await;
    let queue: Value = app
        .get("/api/v1/ops/identity-removals?status=pending", &staff)
        .await
        .json()
        .await
        .unwrap();
    let removal = &queue["removals"][0];
    assert_eq!(removal["email"], "leaver@acme.example");
    assert_eq!(removal["org_id"], org.as_str());
    assert_eq!(
        removal["identity_contact_id"],
        fake.contacts(IDENTITY_ORG)[0].id.as_str()
    );
    let id = removal["id"].as_str().unwrap();
    assert!(id.starts_with("rmv_"));

    let path = format!("/api/v1/ops/identity-removals/{id}/complete");
    let r = app
        .request(Method::POST, &path, Some(&staff))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let done: Value = r.json().await.unwrap();
    assert_eq!(done["status"], "completed");
    assert_eq!(done["outcome"], "deleted");
    assert!(fake.contacts(IDENTITY_ORG).is_empty());
    assert_eq!(deletes(&fake), 1);
    let again = app
        .request(Method::POST, &path, Some(&staff))
        .send()
        .await
        .unwrap();
    problem(again, 409, "removal_not_pending").await;
    assert_eq!(deletes(&fake), 1, "the delete is sent once");
    let queue: Value = app
        .get("/api/v1/ops/identity-removals", &staff)
        .await
        .json()
        .await
        .unwrap();
    assert!(queue["removals"].as_array().unwrap().is_empty());
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
            .any(|e| e["action"] == "identity_removal.completed")
    );
}

async fn a_removal_done_by_hand_is_marked_without_calling_the_identity_side(backend: Backend) {
    let fake = fake().await;
    let (app, org, token) = linked(backend, &fake, &[]).await;
    let c = app.add_manual(&org, &token, "leaver@acme.example").await;
    app.wait_for_status(&org, &token, "leaver@acme.example", "synced", 10)
        .await;
    app.delete(
        &format!(
            "/api/v1/orgs/{org}/it-contacts/{}",
            c["id"].as_str().unwrap()
        ),
        &token,
    )
    .await;
    let id = app.store().await.pending_removals().await.unwrap()[0]
        .id
        .clone();
    let output = Command::new(env!("CARGO_BIN_EXE_smartcore"))
        .args(["ops", "complete-removal", &id, "--by-hand"])
        .env("SMARTCORE_DATABASE_URL", &app.database_url)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("marked_done"));
    assert_eq!(deletes(&fake), 0);
    assert!(
        app.store()
            .await
            .pending_removals()
            .await
            .unwrap()
            .is_empty()
    );
}

async fn automatic_removal_completes_without_the_operations_team(backend: Backend) {
    let fake = fake().await;
    let (app, clock, org, token) = linked_with_clock(
        backend,
        &fake,
        &[("SMARTCORE_IDENTITY_AUTO_REMOVE", "true".into())],
    )
    .await;
    let c = app.add_manual(&org, &token, "leaver@acme.example").await;
    app.wait_for_status(&org, &token, "leaver@acme.example", "synced", 10)
        .await;
    fake.set_fault(Fault::Fail5xx {
        count: 1,
        status: 502,
    });
    let r = app
        .delete(
            &format!(
                "/api/v1/orgs/{org}/it-contacts/{}",
                c["id"].as_str().unwrap()
            ),
            &token,
        )
        .await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["identity_removal"], "flagged");
    // The first attempt meets the 502; its retry goes through.
    app.drain().await;
    retry(&app, &clock, 2).await;
    assert!(
        fake.contacts(IDENTITY_ORG).is_empty()
            && app
                .store()
                .await
                .pending_removals()
                .await
                .unwrap()
                .is_empty(),
        "automatic removal did not complete"
    );
    assert_eq!(fake.stats().deletes_total, 1);
}

async fn removing_an_unsynced_contact_sends_nothing(backend: Backend) {
    let fake = fake().await;
    fake.set_fault(Fault::Latency { ms: 5_000 });
    let app = TestApp::spawn_with(backend, &TestApp::workos_env(fake.base_url()))
        .await
        .expect("database");
    let (org, token) = app.org_with_admin("Acme").await;
    let c = app.add_manual(&org, &token, "brief@acme.example").await;
    let r = app
        .delete(
            &format!(
                "/api/v1/orgs/{org}/it-contacts/{}",
                c["id"].as_str().unwrap()
            ),
            &token,
        )
        .await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["identity_removal"], "not_needed");
    app.drain().await;
    assert_eq!(fake.stats().requests_total, 0);
    assert!(
        app.store()
            .await
            .pending_removals()
            .await
            .unwrap()
            .is_empty()
    );
}

async fn re_adding_while_the_removal_is_pending_cancels_it_and_is_synced_at_once(backend: Backend) {
    let fake = fake().await;
    let (app, org, token) = linked(backend, &fake, &[]).await;
    let c = app.add_manual(&org, &token, "back@acme.example").await;
    app.wait_for_status(&org, &token, "back@acme.example", "synced", 10)
        .await;
    app.delete(
        &format!(
            "/api/v1/orgs/{org}/it-contacts/{}",
            c["id"].as_str().unwrap()
        ),
        &token,
    )
    .await;
    assert_eq!(app.store().await.pending_removals().await.unwrap().len(), 1);
    let again = app.add_manual(&org, &token, "Back@acme.example").await;
    assert_eq!(again["status"], "synced", "{again}");
    assert!(
        app.store()
            .await
            .pending_removals()
            .await
            .unwrap()
            .is_empty()
    );
    app.drain().await;
    assert_eq!(posts(&fake), 1, "nothing registered twice");
    assert_eq!(deletes(&fake), 0);
    assert_eq!(fake.contacts(IDENTITY_ORG).len(), 1);
}

async fn an_address_registered_by_hand_is_adopted(backend: Backend) {
    let fake = fake().await;
    let existing = fake
        .insert_contact(IDENTITY_ORG, "IT-Desk@Acme.example")
        .unwrap();
    let (app, org, token) = linked(backend, &fake, &[]).await;
    app.add_manual(&org, &token, "it-desk@acme.example").await;
    app.wait_for_status(&org, &token, "it-desk@acme.example", "synced", 10)
        .await;
    assert_eq!(fake.stats().creates_total, 0);
    assert_eq!(fake.contacts(IDENTITY_ORG).len(), 1);
    let staff = app.user("ops@smartcore.example", true).await;
    let drift: Value = app
        .get("/api/v1/ops/drift", &staff)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        drift["entries"].as_array().unwrap().is_empty(),
        "adopted, so no drift: {drift}"
    );
    assert_eq!(fake.contacts(IDENTITY_ORG)[0].id, existing.id);
}

async fn drift_shows_both_directions(backend: Backend) {
    let fake = fake().await;
    let (app, org, token) = linked(backend, &fake, &[]).await;
    app.add_manual(&org, &token, "gone@acme.example").await;
    app.wait_for_status(&org, &token, "gone@acme.example", "synced", 10)
        .await;
    let remote = fake.contacts(IDENTITY_ORG)[0].id.clone();
    assert!(fake.delete_contact(IDENTITY_ORG, &remote));
    fake.insert_contact(IDENTITY_ORG, "stranger@elsewhere.example")
        .unwrap();
    let staff = app.user("ops@smartcore.example", true).await;
    let drift: Value = app
        .get("/api/v1/ops/drift", &staff)
        .await
        .json()
        .await
        .unwrap();
    let entries = drift["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{drift}");
    assert!(
        entries
            .iter()
            .any(|e| e["kind"] == "missing_there" && e["email"] == "gone@acme.example")
    );
    assert!(
        entries
            .iter()
            .any(|e| e["kind"] == "unknown_here" && e["email"] == "stranger@elsewhere.example")
    );
}

async fn a_worker_killed_mid_request_and_restarted_registers_each_contact_once(backend: Backend) {
    let fake = fake().await;
    fake.set_fault(Fault::Latency { ms: 800 });
    let env = TestApp::workos_env(fake.base_url());
    let (app, org, token) = {
        let app = TestApp::spawn_with(backend, &env).await.expect("database");
        let (org, token) = app.org_with_admin("Acme").await;
        app.link_identity(&org, IDENTITY_ORG).await;
        (app, org, token)
    };
    for i in 0..5 {
        app.add_manual(&org, &token, &format!("it{i}@acme.example"))
            .await;
    }
    let mut worker = spawn_worker(&app.database_url, fake.base_url());
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.stats().requests_total == 0 {
        assert!(Instant::now() < deadline, "the worker sent nothing");
        // Real time: the worker is a process of its own.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    worker.kill().unwrap();
    let _ = worker.wait();
    let mut restarted = spawn_worker(&app.database_url, fake.base_url());
    for i in 0..5 {
        app.poll_for_status(&org, &token, &format!("it{i}@acme.example"), "synced", 20)
            .await;
    }
    restarted.kill().unwrap();
    let _ = restarted.wait();
    let stats = fake.stats();
    assert_eq!(stats.creates_total, 5, "{stats:?}");
    assert!(
        stats.creates_by_email.values().all(|n| *n == 1),
        "{stats:?}"
    );
    assert_eq!(fake.contacts(IDENTITY_ORG).len(), 5);
}

async fn a_live_worker_keeps_its_contacts_however_long_the_identity_side_takes(backend: Backend) {
    // Each registration takes 3 s, three times the lease; 4 at a time, so the last of the 10
    // waits 9 s. Without the heartbeat the second worker would take them over after 1 s and
    // register them again.
    let fake = fake().await;
    fake.set_fault(Fault::Latency { ms: 3000 });
    let env = TestApp::workos_env(fake.base_url());
    let app = TestApp::spawn_with(backend, &env).await.expect("database");
    let (org, token) = app.org_with_admin("Acme").await;
    app.link_identity(&org, IDENTITY_ORG).await;
    for i in 0..10 {
        app.add_manual(&org, &token, &format!("it{i}@acme.example"))
            .await;
    }
    let mut first = spawn_worker_with_lease(&app.database_url, fake.base_url(), Some("1"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.stats().requests_total == 0 {
        assert!(Instant::now() < deadline, "the worker sent nothing");
        // Real time: the worker is a process of its own.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut second = spawn_worker_with_lease(&app.database_url, fake.base_url(), Some("1"));
    for i in 0..10 {
        app.poll_for_status(&org, &token, &format!("it{i}@acme.example"), "synced", 30)
            .await;
    }
    for w in [&mut first, &mut second] {
        w.kill().unwrap();
        let _ = w.wait();
    }
    let stats = fake.stats();
    assert_eq!(posts(&fake), 10, "one request per contact: {stats:?}");
    assert!(
        stats.creates_by_email.values().all(|n| *n == 1),
        "{stats:?}"
    );
}

/// Waits until the contacts a worker holds under a lease now have all had it renewed: every
/// held row's `lease_until` later than the latest one seen when called.
async fn wait_for_lease_renewal(database_url: &str, within: Duration) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(database_url).await.unwrap();
    const LEASES: &str = "SELECT COUNT(*), MIN(lease_until), MAX(lease_until) FROM it_contacts \
                          WHERE lease_owner IS NOT NULL AND lease_until IS NOT NULL";
    let leases = || async {
        sqlx::query_as::<_, (i64, Option<i64>, Option<i64>)>(LEASES)
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let (_, _, first) = leases().await;
    let first = first.expect("a contact held under a lease");
    let deadline = Instant::now() + within;
    loop {
        let (held, renewed, _) = leases().await;
        assert!(held > 0, "no contact is held under a lease any more");
        if renewed.is_some_and(|r| r > first) {
            break;
        }
        assert!(Instant::now() < deadline, "the leases were not renewed");
        // Real time: the worker is a process of its own; its heartbeat renews on its own.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pool.close().await;
}

async fn a_killed_workers_contacts_are_taken_over_within_15_seconds(backend: Backend) {
    // The default lease (10 s): a worker killed with -9 mid-request stops renewing it, and
    // a worker started at once takes its contacts over when it runs out.
    let fake = fake().await;
    fake.set_fault(Fault::Latency { ms: 8000 });
    let env = TestApp::workos_env(fake.base_url());
    let app = TestApp::spawn_with(backend, &env).await.expect("database");
    let (org, token) = app.org_with_admin("Acme").await;
    app.link_identity(&org, IDENTITY_ORG).await;
    for i in 0..5 {
        app.add_manual(&org, &token, &format!("it{i}@acme.example"))
            .await;
    }
    let mut worker = spawn_worker_with_lease(&app.database_url, fake.base_url(), None);
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.stats().requests_total < 5 {
        assert!(
            Instant::now() < deadline,
            "the worker did not send all five requests"
        );
        // Real time: the worker is a process of its own.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Killed after it renewed its leases at least once (every third of 10 s): waited for in
    // the database, where the renewal moves every held lease past the latest one seen now.
    // Real time: the subject is a lease running out in a process of its own.
    wait_for_lease_renewal(&app.database_url, Duration::from_secs(10)).await;
    worker.kill().unwrap();
    let _ = worker.wait();
    fake.set_fault(Fault::Latency { ms: 0 });
    let restarted_at = Instant::now();
    let mut restarted = spawn_worker_with_lease(&app.database_url, fake.base_url(), None);
    for i in 0..5 {
        app.poll_for_status(&org, &token, &format!("it{i}@acme.example"), "synced", 15)
            .await;
    }
    let took = restarted_at.elapsed();
    restarted.kill().unwrap();
    let _ = restarted.wait();
    eprintln!(
        "restart to every contact Synced: {:.1} s",
        took.as_secs_f64()
    );
    assert!(took <= Duration::from_secs(15), "took {took:?}");
    let stats = fake.stats();
    assert!(
        stats.creates_by_email.values().all(|n| *n == 1),
        "{stats:?}"
    );
    assert_eq!(fake.contacts(IDENTITY_ORG).len(), 5);
}

async fn two_worker_processes_register_each_contact_exactly_once(backend: Backend) {
    let fake = fake().await;
    fake.set_fault(Fault::Latency { ms: 20 });
    let env = TestApp::workos_env(fake.base_url());
    let app = TestApp::spawn_with(backend, &env).await.expect("database");
    let mut orgs = Vec::new();
    for name in ["Acme", "Globex"] {
        let (org, token) = app.org_with_admin(name).await;
        app.link_identity(&org, &format!("{IDENTITY_ORG}_{name}"))
            .await;
        for i in 0..20 {
            app.add_manual(
                &org,
                &token,
                &format!("it{i}@{}.example", name.to_lowercase()),
            )
            .await;
        }
        orgs.push((org, token, name));
    }
    let mut workers = [
        spawn_worker(&app.database_url, fake.base_url()),
        spawn_worker(&app.database_url, fake.base_url()),
    ];
    for (org, token, name) in &orgs {
        for i in 0..20 {
            app.poll_for_status(
                org,
                token,
                &format!("it{i}@{}.example", name.to_lowercase()),
                "synced",
                30,
            )
            .await;
        }
    }
    for w in &mut workers {
        w.kill().unwrap();
        let _ = w.wait();
    }
    let stats = fake.stats();
    assert_eq!(stats.creates_total, 40, "{stats:?}");
    assert_eq!(posts(&fake), 40, "no request was sent twice: {stats:?}");
    assert!(stats.creates_by_email.values().all(|n| *n == 1));
}
on_each_backend!(
    added_contacts_become_synced_with_one_request_each,
    the_builtin_connector_syncs_at_once_and_removes_by_itself,
    contacts_of_an_unlinked_organisation_wait_and_sync_once_linked,
    an_outage_keeps_contacts_pending_and_loses_nothing,
    rate_limiting_honours_retry_after,
    a_refusal_shows_sync_failed_with_its_reason,
    removing_a_synced_contact_flags_it_and_the_ops_action_deletes_it_once,
    a_removal_done_by_hand_is_marked_without_calling_the_identity_side,
    automatic_removal_completes_without_the_operations_team,
    removing_an_unsynced_contact_sends_nothing,
    re_adding_while_the_removal_is_pending_cancels_it_and_is_synced_at_once,
    an_address_registered_by_hand_is_adopted,
    drift_shows_both_directions,
    a_worker_killed_mid_request_and_restarted_registers_each_contact_once,
    a_live_worker_keeps_its_contacts_however_long_the_identity_side_takes,
    a_killed_workers_contacts_are_taken_over_within_15_seconds,
    two_worker_processes_register_each_contact_exactly_once
);

/// `smartcore worker` as its own OS process, on the database at `database_url`.
/// A `smartcore worker` process, killed (SIGKILL) when the test ends, also when it fails,
/// with its own outbox folder (the welcome mails go there), removed after the process.
struct Worker {
    child: Child,
    _outbox: TempDir,
}

impl Worker {
    /// Kills the process with SIGKILL, as a crash would.
    fn kill(&mut self) -> std::io::Result<()> {
        self.child.kill()
    }

    fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.child.wait()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_worker(database_url: &str, fake_url: &str) -> Worker {
    spawn_worker_with_lease(database_url, fake_url, Some("2"))
}

/// `smartcore worker` with `SMARTCORE_SYNC_LEASE_S` set to `lease_s` (None: the default).
fn spawn_worker_with_lease(database_url: &str, fake_url: &str, lease_s: Option<&str>) -> Worker {
    let outbox = TempDir::new("worker-outbox");
    let mut command = Command::new(env!("CARGO_BIN_EXE_smartcore"));
    if let Some(lease_s) = lease_s {
        command.env("SMARTCORE_SYNC_LEASE_S", lease_s);
    }
    let child = command
        .arg("worker")
        .env("SMARTCORE_DATABASE_URL", database_url)
        .env("SMARTCORE_IDENTITY", "workos")
        .env("SMARTCORE_WORKOS_BASE_URL", fake_url)
        .env("SMARTCORE_WORKOS_API_KEY", WORKOS_KEY)
        .env("SMARTCORE_SYNC_INTERVAL_MS", "50")
        .env("SMARTCORE_SYNC_CONCURRENCY", "4")
        .env("SMARTCORE_OUTBOX_DIR", &outbox.0)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start a worker process");
    Worker {
        child,
        _outbox: outbox,
    }
}

/// Issue 24: replacing an IT contact when the identity side's list is full (20).
mod full_list {
    use super::*;

    /// 20 contacts, all Synced on the identity side; returns their ids, oldest first.
    async fn twenty_synced(app: &TestApp, org: &str, token: &str) -> Vec<String> {
        let mut ids = Vec::new();
        for i in 0..20 {
            let c = app
                .add_manual(org, token, &format!("it{i:02}@acme.example"))
                .await;
            ids.push(c["id"].as_str().unwrap().to_owned());
        }
        for i in 0..20 {
            app.wait_for_status(org, token, &format!("it{i:02}@acme.example"), "synced", 20)
                .await;
        }
        ids
    }

    async fn contact(app: &TestApp, org: &str, token: &str, email: &str) -> Value {
        app.contacts(org, token)
            .await
            .into_iter()
            .find(|c| c["email"] == email)
            .unwrap_or_else(|| panic!("{email} is not listed"))
    }

    /// Drives the queues, then expects `email` Pending and waiting for a removal; returns
    /// the contact.
    async fn waiting(app: &TestApp, org: &str, token: &str, email: &str) -> Value {
        app.drain().await;
        let c = contact(app, org, token, email).await;
        assert_ne!(c["status"], "failed", "{c}");
        assert!(
            c["status_detail"]
                .as_str()
                .is_some_and(|d| d.contains("Waiting for the removal of")),
            "{email} does not wait: {c}"
        );
        assert_eq!(c["status"], "pending");
        c
    }

    async fn complete_removal(app: &TestApp, staff: &str) {
        let queue: Value = app
            .get("/api/v1/ops/identity-removals?status=pending", staff)
            .await
            .json()
            .await
            .unwrap();
        let id = queue["removals"][0]["id"]
            .as_str()
            .expect("a pending removal")
            .to_owned();
        let r = app
            .request(
                Method::POST,
                &format!("/api/v1/ops/identity-removals/{id}/complete"),
                Some(staff),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }

    async fn a_new_contact_waits_for_the_removal_and_registers_the_moment_it_completes(
        backend: Backend,
    ) {
        let fake = fake().await;
        let (app, org, token) = linked(backend, &fake, &[]).await;
        let ids = twenty_synced(&app, &org, &token).await;
        let r = app
            .delete(
                &format!("/api/v1/orgs/{org}/it-contacts/{}", ids[0]),
                &token,
            )
            .await;
        assert_eq!(
            r.json::<Value>().await.unwrap()["identity_removal"],
            "flagged"
        );
        app.add_manual(&org, &token, "new@acme.example").await;

        // Pending, saying why; nothing is sent that the identity side would refuse.
        let c = waiting(&app, &org, &token, "new@acme.example").await;
        assert!(
            c["status_detail"]
                .as_str()
                .unwrap()
                .contains("it00@acme.example"),
            "{c}"
        );
        app.drain().await;
        assert_eq!(
            contact(&app, &org, &token, "new@acme.example").await["status"],
            "pending"
        );
        assert_eq!(
            posts(&fake),
            20,
            "no registration tried while the list is full there"
        );
        assert_eq!(fake.contacts(IDENTITY_ORG).len(), 20);

        // The operations team completes the removal: the new contact goes ahead at once.
        let staff = app.user("ops@smartcore.example", true).await;
        let completed = Instant::now();
        complete_removal(&app, &staff).await;
        let c = app
            .wait_for_status(&org, &token, "new@acme.example", "synced", 10)
            .await;
        eprintln!(
            "registered {:?} after the removal completed",
            completed.elapsed()
        );
        assert_eq!(c["status_detail"], Value::Null);
        assert_eq!(creates_of(&fake, "new@acme.example"), 1);
        assert_eq!(posts(&fake), 21);
        let there: Vec<String> = fake
            .contacts(IDENTITY_ORG)
            .into_iter()
            .map(|c| c.email)
            .collect();
        assert_eq!(there.len(), 20);
        assert!(
            there.contains(&"new@acme.example".to_owned())
                && !there.contains(&"it00@acme.example".to_owned())
        );
    }

    async fn with_automatic_removal_the_removal_goes_first(backend: Backend) {
        let fake = fake().await;
        let (app, org, token) = linked(
            backend,
            &fake,
            &[("SMARTCORE_IDENTITY_AUTO_REMOVE", "true".into())],
        )
        .await;
        let ids = twenty_synced(&app, &org, &token).await;
        app.delete(
            &format!("/api/v1/orgs/{org}/it-contacts/{}", ids[0]),
            &token,
        )
        .await;
        app.add_manual(&org, &token, "new@acme.example").await;
        app.wait_for_status(&org, &token, "new@acme.example", "synced", 10)
            .await;
        assert_eq!(fake.stats().deletes_total, 1);
        assert_eq!(posts(&fake), 21, "one registration each, none refused");
        assert_eq!(fake.contacts(IDENTITY_ORG).len(), 20);
        let log: Value = app
            .get(&format!("/api/v1/orgs/{org}/audit-log?limit=200"), &token)
            .await
            .json()
            .await
            .unwrap();
        assert!(!log.to_string().contains("sync_failed"), "{log}");
    }

    async fn a_full_list_refusal_while_a_removal_is_pending_is_temporary_and_an_old_failure_recovers(
        backend: Backend,
    ) {
        let fake = fake().await;
        let (app, org, token) = linked(backend, &fake, &[]).await;
        let staff = app.user("ops@smartcore.example", true).await;
        // The identity side holds fewer than we think (its limit lowered to 2 here): our
        // count sees room, its answer is 422 it_contact_limit_reached.
        fake.set_fault(Fault::ContactLimit { limit: Some(2) });
        let a = app.add_manual(&org, &token, "a@acme.example").await;
        app.add_manual(&org, &token, "b@acme.example").await;
        app.wait_for_status(&org, &token, "a@acme.example", "synced", 10)
            .await;
        app.wait_for_status(&org, &token, "b@acme.example", "synced", 10)
            .await;
        app.delete(
            &format!(
                "/api/v1/orgs/{org}/it-contacts/{}",
                a["id"].as_str().unwrap()
            ),
            &token,
        )
        .await;
        app.add_manual(&org, &token, "c@acme.example").await;
        waiting(&app, &org, &token, "c@acme.example").await;
        assert!(posts(&fake) >= 3, "c was tried and refused as full");
        assert_eq!(creates_of(&fake, "c@acme.example"), 0);
        complete_removal(&app, &staff).await;
        app.wait_for_status(&org, &token, "c@acme.example", "synced", 10)
            .await;

        // A contact that failed for good this way before this version (its words as the
        // older version stored them) tries again when a removal completes.
        let b = contact(&app, &org, &token, "b@acme.example").await;
        app.delete(
            &format!(
                "/api/v1/orgs/{org}/it-contacts/{}",
                b["id"].as_str().unwrap()
            ),
            &token,
        )
        .await;
        // b is still there until its removal completes: the list there is full again.
        app.add_manual(&org, &token, "d@acme.example").await;
        waiting(&app, &org, &token, "d@acme.example").await;
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&app.database_url).await.unwrap();
        sqlx::query(
                "UPDATE it_contacts SET status = 'failed', next_sync_at = NULL, waiting_for = NULL, \
                 status_detail = 'The identity side refused this contact: The organization has reached its maximum number of IT contacts.' \
                 WHERE email_key = 'd@acme.example'",
            )
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!(
            contact(&app, &org, &token, "d@acme.example").await["status"],
            "failed"
        );
        complete_removal(&app, &staff).await;
        app.wait_for_status(&org, &token, "d@acme.example", "synced", 10)
            .await;
        let log: Value = app
            .get(&format!("/api/v1/orgs/{org}/audit-log?limit=200"), &token)
            .await
            .json()
            .await
            .unwrap();
        assert!(
            log["events"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == "it_contact.sync_resumed"
                    && e["details"]["email"] == "d@acme.example"),
            "{log}"
        );
    }
    on_each_backend!(
        a_new_contact_waits_for_the_removal_and_registers_the_moment_it_completes,
        with_automatic_removal_the_removal_goes_first,
        a_full_list_refusal_while_a_removal_is_pending_is_temporary_and_an_old_failure_recovers
    );
}
