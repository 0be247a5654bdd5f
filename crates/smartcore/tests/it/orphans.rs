//! Issue 24, item 4: no orphans on the identity side. A contact removed while its registration
//! is in flight leaves a tombstone; the worker that finishes the registration, or takes it over
//! with the same Idempotency-Key once its lease has run out, learns the identity-side id and
//! queues its removal. The deterministic cases drive one instance with a clock the test moves
//! (a "dead" worker is a claim whose lease is left to run out); the chaos test runs three
//! worker processes on one PostgreSQL database and kills one with SIGKILL every few seconds.

use crate::support::{Backend, TempDir, TestApp, WORKOS_KEY, fresh_database, postgres_available};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use smartcore_app::{Clock, ManualClock, SyncSettings};
use smartcore_domain::{RemovalId, Timestamp};
use smartcore_identity::{IdentityConnector, Registration, WorkOsClient};
use smartcore_storage::SyncJob;
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use workos_fake::{FakeWorkOs, Fault};

const IDENTITY_ORG: &str = "org_01ORPHANS";
/// The lease a claim takes in these tests (the "dead" worker's, left to run out).
const LEASE_MS: i64 = 10_000;

/// One instance (test services run no workers: the test drives the queues), a clock the test
/// moves, and an organisation linked to the fake. Fields drop in order: the service before its
/// database.
struct Setup {
    app: TestApp,
    clock: Arc<ManualClock>,
    fake: FakeWorkOs,
    org: String,
    token: String,
    _database: crate::support::TestDatabase,
}

async fn setup(backend: Backend, auto_remove: bool) -> Option<Setup> {
    let fake = FakeWorkOs::start(WORKOS_KEY)
        .await
        .expect("start the identity-side fake");
    let clock = Arc::new(ManualClock::new(Timestamp::from_unix_millis(
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap(),
    )));
    let (url, database) = fresh_database(backend).await?;
    let mut env = TestApp::workos_env(fake.base_url());
    env.push(("SMARTCORE_IDENTITY_AUTO_REMOVE", auto_remove.to_string()));
    let app = TestApp::start_with_clock(backend, &url, &env, clock.clone()).await;
    let (org, token) = app.org_with_admin("Acme").await;
    app.link_identity(&org, IDENTITY_ORG).await;
    Some(Setup {
        app,
        clock,
        fake,
        org,
        token,
        _database: database,
    })
}

impl Setup {
    /// A worker claims the due registration (one contact) and dies: its lease is left to run.
    async fn claim_and_die(&self, owner: &str) -> SyncJob {
        let mut jobs = self
            .app
            .store()
            .await
            .claim_due_contacts(owner, self.clock.now(), LEASE_MS, 10)
            .await
            .unwrap();
        assert_eq!(jobs.len(), 1, "{jobs:?}");
        jobs.remove(0)
    }

    /// What the worker sent before dying: the registration, answered by the identity side.
    async fn register(&self, job: &SyncJob) -> String {
        let client =
            WorkOsClient::new(self.fake.base_url(), WORKOS_KEY, Duration::from_secs(5)).unwrap();
        client
            .register(&Registration {
                identity_org_id: job.identity_org_id.clone(),
                idempotency_key: job.contact_id.clone(),
                email: job.email.clone(),
            })
            .await
            .expect("registered")
            .identity_contact_id
    }

    async fn remove(&self, contact_id: &str) -> Value {
        let r = self
            .app
            .delete(
                &format!("/api/v1/orgs/{}/it-contacts/{contact_id}", self.org),
                &self.token,
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    async fn drain(&self) {
        self.app
            .app
            .contacts()
            .drain_queues("test-worker", SyncSettings::default())
            .await
            .unwrap();
    }

    /// Moves the clock past the dead worker's lease.
    fn lease_runs_out(&self) {
        self.clock.advance_millis(LEASE_MS + 1);
    }

    async fn drift(&self, staff: &str) -> Vec<Value> {
        let drift: Value = self
            .app
            .get("/api/v1/ops/drift", staff)
            .await
            .json()
            .await
            .unwrap();
        drift["entries"].as_array().unwrap().clone()
    }

    /// The tombstone the removal of a contact left, from its audit event.
    async fn tombstone_of(&self, contact_id: &str) -> Option<RemovalId> {
        let log: Value = self
            .app
            .get(
                &format!("/api/v1/orgs/{}/audit-log?limit=100", self.org),
                &self.token,
            )
            .await
            .json()
            .await
            .unwrap();
        log["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == "it_contact.removed" && e["target"] == contact_id)
            .and_then(|e| e["details"]["registration_in_flight"].as_str())
            .and_then(RemovalId::parse)
    }
}

async fn a_registration_answered_but_never_recorded_is_taken_over_and_removed(backend: Backend) {
    let Some(s) = setup(backend, true).await else {
        return;
    };
    let staff = s.app.user("ops@smartcore.example", true).await;
    let contact = s
        .app
        .add_manual(&s.org, &s.token, "leaver@acme.example")
        .await;
    let contact_id = contact["id"].as_str().unwrap();
    let job = s.claim_and_die("dead-worker#0").await;
    let identity_id = s.register(&job).await;
    // The instance "dies" here: the answer is never recorded, and the contact is removed.
    s.remove(contact_id).await;
    assert!(
        s.tombstone_of(contact_id).await.is_some(),
        "the removal leaves a tombstone"
    );
    let unknown = s.drift(&staff).await;
    assert_eq!(unknown.len(), 1, "what the issue saw: {unknown:?}");
    assert_eq!(unknown[0]["kind"], "unknown_here");

    // While the dead worker's lease runs, nobody takes its registration over.
    s.drain().await;
    assert_eq!(s.fake.contacts(IDENTITY_ORG).len(), 1);
    assert_eq!(s.fake.stats().idempotent_replays, 0);

    s.lease_runs_out();
    s.drain().await;
    let stats = s.fake.stats();
    assert!(
        s.fake.contacts(IDENTITY_ORG).is_empty(),
        "removed: {stats:?}"
    );
    assert_eq!(stats.creates_total, 1, "registered once: {stats:?}");
    assert_eq!(
        stats.idempotent_replays, 1,
        "taken over with the same key: {stats:?}"
    );
    assert_eq!(stats.deletes_total, 1, "{stats:?}");
    assert!(s.drift(&staff).await.is_empty());
    let stats = s.fake.stats();
    let log: Value = s
        .app
        .get(
            &format!("/api/v1/orgs/{}/audit-log?limit=100", s.org),
            &s.token,
        )
        .await
        .json()
        .await
        .unwrap();
    let flagged = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "identity_removal.flagged")
        .expect("flagged");
    assert_eq!(
        flagged["details"]["identity_contact_id"],
        identity_id.as_str()
    );
    assert!(
        log["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "identity_removal.completed")
    );
    // Nothing is left to do.
    s.lease_runs_out();
    s.drain().await;
    assert_eq!(s.fake.stats().requests_total, stats.requests_total);
}

async fn without_automatic_removal_the_taken_over_registration_goes_to_the_operations_team(
    backend: Backend,
) {
    let Some(s) = setup(backend, false).await else {
        return;
    };
    let staff = s.app.user("ops@smartcore.example", true).await;
    let contact = s
        .app
        .add_manual(&s.org, &s.token, "leaver@acme.example")
        .await;
    let job = s.claim_and_die("dead-worker#0").await;
    let identity_id = s.register(&job).await;
    s.remove(contact["id"].as_str().unwrap()).await;
    s.lease_runs_out();
    s.drain().await;
    let queue: Value = s
        .app
        .get("/api/v1/ops/identity-removals?status=pending", &staff)
        .await
        .json()
        .await
        .unwrap();
    let removals = queue["removals"].as_array().unwrap();
    assert_eq!(removals.len(), 1, "{queue}");
    assert_eq!(removals[0]["identity_contact_id"], identity_id.as_str());
    assert_eq!(removals[0]["email"], "leaver@acme.example");
    assert!(
        s.drift(&staff).await.is_empty(),
        "a pending removal is known here"
    );
    let path = format!(
        "/api/v1/ops/identity-removals/{}/complete",
        removals[0]["id"].as_str().unwrap()
    );
    let r = s
        .app
        .request(Method::POST, &path, Some(&staff))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(s.fake.contacts(IDENTITY_ORG).is_empty());
    assert_eq!(s.fake.stats().creates_total, 1);
}

async fn a_live_worker_that_finishes_after_the_removal_turns_the_tombstone_into_the_removal(
    backend: Backend,
) {
    let Some(s) = setup(backend, true).await else {
        return;
    };
    let contact = s
        .app
        .add_manual(&s.org, &s.token, "leaver@acme.example")
        .await;
    let contact_id = contact["id"].as_str().unwrap();
    let job = s.claim_and_die("slow-worker#0").await;
    let identity_id = s.register(&job).await;
    s.remove(contact_id).await;
    let tombstone = s.tombstone_of(contact_id).await.expect("tombstone");
    // The slow worker records its answer: the contact is gone, so its removal is queued,
    // and it is the tombstone itself (one row, not two).
    let store = s.app.store().await;
    let now = s.clock.now();
    assert!(
        !store
            .mark_synced(contact_id, "slow-worker#0", &identity_id, false, now)
            .await
            .unwrap()
    );
    let flagged = store
        .flag_orphaned_registration(&job, &identity_id, true, now)
        .await
        .unwrap();
    assert_eq!(flagged.as_ref(), Some(&tombstone));
    let pending = store.pending_removals().await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].identity_contact_id, identity_id);
    s.drain().await;
    let stats = s.fake.stats();
    assert!(s.fake.contacts(IDENTITY_ORG).is_empty(), "{stats:?}");
    assert_eq!(
        (
            stats.creates_total,
            stats.idempotent_replays,
            stats.deletes_total
        ),
        (1, 0, 1),
        "no take-over needed: {stats:?}"
    );
}

async fn a_registration_that_never_arrived_is_closed_or_removed_without_leaving_anything(
    backend: Backend,
) {
    let Some(s) = setup(backend, true).await else {
        return;
    };
    let staff = s.app.user("ops@smartcore.example", true).await;
    // Killed before sending: the take-over registers it now, and removes it.
    let first = s
        .app
        .add_manual(&s.org, &s.token, "first@acme.example")
        .await;
    s.claim_and_die("dead-worker#0").await;
    s.remove(first["id"].as_str().unwrap()).await;
    s.lease_runs_out();
    s.drain().await;
    let stats = s.fake.stats();
    assert!(s.fake.contacts(IDENTITY_ORG).is_empty(), "{stats:?}");
    assert_eq!(
        (stats.creates_total, stats.deletes_total),
        (1, 1),
        "{stats:?}"
    );

    // The identity side refuses the take-over (here: its list is full): nothing is there,
    // and the tombstone is closed without a removal.
    s.fake.set_fault(Fault::ContactLimit { limit: Some(0) });
    let second = s
        .app
        .add_manual(&s.org, &s.token, "second@acme.example")
        .await;
    let second_id = second["id"].as_str().unwrap();
    s.claim_and_die("dead-worker#1").await;
    s.remove(second_id).await;
    let tombstone = s.tombstone_of(second_id).await.expect("tombstone");
    s.lease_runs_out();
    s.drain().await;
    let record = s.app.store().await.removal(&tombstone).await.unwrap();
    assert_eq!(
        (record.status.as_str(), record.outcome.map(|o| o.as_str())),
        ("cancelled", Some("not_registered"))
    );
    assert_eq!(s.fake.stats().creates_total, 1);
    assert!(
        s.app
            .store()
            .await
            .pending_removals()
            .await
            .unwrap()
            .is_empty()
    );
    assert!(s.drift(&staff).await.is_empty());
}

async fn an_address_added_again_adopts_the_registration_instead_of_losing_it(backend: Backend) {
    let Some(s) = setup(backend, true).await else {
        return;
    };
    let staff = s.app.user("ops@smartcore.example", true).await;
    let first = s
        .app
        .add_manual(&s.org, &s.token, "back@acme.example")
        .await;
    let job = s.claim_and_die("dead-worker#0").await;
    let identity_id = s.register(&job).await;
    s.remove(first["id"].as_str().unwrap()).await;
    s.app
        .add_manual(&s.org, &s.token, "back@acme.example")
        .await;
    s.lease_runs_out();
    s.drain().await;
    s.app
        .wait_for_status(&s.org, &s.token, "back@acme.example", "synced", 5)
        .await;
    let org = smartcore_domain::OrgId::parse(&s.org).unwrap();
    let again = s.app.store().await.contacts(&org).await.unwrap().remove(0);
    assert_eq!(
        again.identity_contact_id.as_deref(),
        Some(identity_id.as_str()),
        "adopted"
    );
    assert_eq!(s.fake.contacts(IDENTITY_ORG).len(), 1);
    assert_eq!(
        s.fake.stats().deletes_total,
        0,
        "the registration the address has again is kept"
    );
    assert!(s.drift(&staff).await.is_empty());
}
on_each_backend!(
    a_registration_answered_but_never_recorded_is_taken_over_and_removed,
    without_automatic_removal_the_taken_over_registration_goes_to_the_operations_team,
    a_live_worker_that_finishes_after_the_removal_turns_the_tombstone_into_the_removal,
    a_registration_that_never_arrived_is_closed_or_removed_without_leaving_anything,
    an_address_added_again_adopts_the_registration_instead_of_losing_it
);

/// A `smartcore worker` process with automatic removal, killed (SIGKILL) when dropped.
struct Worker {
    child: Child,
    _outbox: TempDir,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_worker(database_url: &str, fake_url: &str) -> Worker {
    let outbox = TempDir::new("chaos-outbox");
    let child = Command::new(env!("CARGO_BIN_EXE_smartcore"))
        .arg("worker")
        .env("SMARTCORE_DATABASE_URL", database_url)
        .env("SMARTCORE_IDENTITY", "workos")
        .env("SMARTCORE_WORKOS_BASE_URL", fake_url)
        .env("SMARTCORE_WORKOS_API_KEY", WORKOS_KEY)
        .env("SMARTCORE_IDENTITY_AUTO_REMOVE", "true")
        .env("SMARTCORE_SYNC_LEASE_S", "2")
        .env("SMARTCORE_SYNC_INTERVAL_MS", "50")
        .env("SMARTCORE_SYNC_CONCURRENCY", "4")
        .env("SMARTCORE_OUTBOX_DIR", &outbox.0)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start a worker process");
    Worker {
        child,
        _outbox: outbox,
    }
}

/// A small xorshift, seeded from the clock and printed, so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Our synced contacts of `org` against the fake's contacts of `identity_org`: (contacts not
/// synced yet, ids only here, ids only there).
async fn compare(
    app: &TestApp,
    org: &str,
    fake: &FakeWorkOs,
    identity_org: &str,
) -> (Vec<String>, BTreeSet<String>, BTreeSet<String>) {
    let org = smartcore_domain::OrgId::parse(org).unwrap();
    let contacts = app.store().await.contacts(&org).await.unwrap();
    let unsynced = contacts
        .iter()
        .filter(|c| c.status != smartcore_domain::SyncStatus::Synced)
        .map(|c| format!("{} {:?}", c.email.as_str(), c.status))
        .collect();
    let here: BTreeSet<String> = contacts
        .iter()
        .filter_map(|c| c.identity_contact_id.clone())
        .collect();
    let there: BTreeSet<String> = fake
        .contacts(identity_org)
        .into_iter()
        .map(|c| c.id)
        .collect();
    (
        unsynced,
        here.difference(&there).cloned().collect(),
        there.difference(&here).cloned().collect(),
    )
}

/// Three worker processes on one fresh PostgreSQL database, one killed with SIGKILL every 2.5 s
/// (and started again) while contacts are added, removed and replaced at the limit of 20 in
/// three organisations. The identity side answers each request 150 ms after doing it, so kills
/// land between its answer and our record of it. At the end every contact is Synced, registered
/// once, and the identity side holds exactly our contacts: drift shows nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_killed_by_turns_leave_no_orphans_at_the_identity_side() {
    if !postgres_available().await {
        return;
    }
    let fake = FakeWorkOs::start(WORKOS_KEY)
        .await
        .expect("start the identity-side fake");
    fake.set_fault(Fault::AnswerLatency { ms: 150 });
    let mut env = TestApp::workos_env(fake.base_url());
    env.push(("SMARTCORE_IDENTITY_AUTO_REMOVE", "true".into()));
    let app = TestApp::spawn_with(Backend::Postgres, &env)
        .await
        .expect("database");
    let staff = app.user("ops@smartcore.example", true).await;
    let mut orgs = Vec::new();
    for i in 0..3 {
        let (org, token) = app.org_with_admin(&format!("Chaos {i}")).await;
        let identity_org = format!("{IDENTITY_ORG}_{i}");
        app.link_identity(&org, &identity_org).await;
        orgs.push((org, token, identity_org));
    }
    let mut workers: Vec<Worker> = (0..3)
        .map(|_| spawn_worker(&app.database_url, fake.base_url()))
        .collect();

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("chaos seed {seed}");
    let mut rng = Rng(seed);
    let started = Instant::now();
    let churn = Duration::from_secs(25);
    let mut next_kill = started + Duration::from_millis(2500);
    let (mut added, mut removed, mut removed_pending, mut kills, mut serial) = (0, 0, 0, 0, 0);
    let mut additions: BTreeMap<usize, usize> = BTreeMap::new();
    while started.elapsed() < churn {
        for (n, (org, token, _)) in orgs.iter().enumerate() {
            // At most 90 additions per organisation (the limit is 100 an hour).
            if *additions.get(&n).unwrap_or(&0) >= 90 {
                continue;
            }
            let contacts = app.contacts(org, token).await;
            // At the limit: replace one (a pending one when there is, whose registration is
            // likeliest in flight), as an administrator at the limit does.
            if contacts.len() >= 20 {
                let pending: Vec<&Value> = contacts
                    .iter()
                    .filter(|c| c["status"] == "pending")
                    .collect();
                let victim = if !pending.is_empty() && rng.below(3) > 0 {
                    removed_pending += 1;
                    pending[rng.below(pending.len())]
                } else {
                    &contacts[rng.below(contacts.len())]
                };
                let r = app
                    .delete(
                        &format!(
                            "/api/v1/orgs/{org}/it-contacts/{}",
                            victim["id"].as_str().unwrap()
                        ),
                        token,
                    )
                    .await;
                assert_eq!(r.status(), StatusCode::OK);
                removed += 1;
            }
            serial += 1;
            app.add_manual(org, token, &format!("it{serial:04}@chaos{n}.example"))
                .await;
            *additions.entry(n).or_default() += 1;
            added += 1;
        }
        if Instant::now() >= next_kill {
            let k = kills % workers.len();
            workers[k] = {
                // Killed with -9 (by Drop), then started again.
                let _ = workers[k].child.kill();
                let _ = workers[k].child.wait();
                spawn_worker(&app.database_url, fake.base_url())
            };
            kills += 1;
            next_kill += Duration::from_millis(2500);
        }
        // Real time: the churn runs against worker processes killed by turns.
        tokio::time::sleep(Duration::from_millis(80)).await;
    }
    eprintln!(
        "churn over after {:.1} s: {added} added, {removed} removed ({removed_pending} chosen while pending), {kills} workers killed",
        started.elapsed().as_secs_f64()
    );

    // Settling: the workers (none killed any more) finish what is due, taking over what the
    // killed ones left once their leases run out (2 s).
    let settled_by = Instant::now() + Duration::from_secs(60);
    let mut reported = false;
    loop {
        let mut open = Vec::new();
        for (org, _, identity_org) in &orgs {
            let (unsynced, only_here, only_there) = compare(&app, org, &fake, identity_org).await;
            if !unsynced.is_empty() || !only_here.is_empty() || !only_there.is_empty() {
                open.push(format!(
                    "{identity_org}: not synced {unsynced:?}, only here {only_here:?}, only there {only_there:?}"
                ));
            }
        }
        let pending = app.store().await.pending_removals().await.unwrap();
        if open.is_empty() && pending.is_empty() {
            break;
        }
        if Instant::now() >= settled_by
            || (!reported && Instant::now() >= settled_by - Duration::from_secs(45))
        {
            reported = true;
            eprintln!("not settled yet: {open:?}");
            for (_, _, identity_org) in &orgs {
                for c in fake.contacts(identity_org) {
                    if open.iter().any(|o| o.contains(&c.id)) {
                        eprintln!("there: {} {}", c.id, c.email);
                        debug_rows(&app.database_url, &c.email).await;
                    }
                }
            }
        }
        assert!(
            Instant::now() < settled_by,
            "not settled 60 s after the churn: {open:?}; {} removals pending",
            pending.len()
        );
        // Real time: the worker processes settle on their own, leases running out.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "settled {:.1} s after the churn",
        (started.elapsed() - churn).as_secs_f64()
    );
    drop(workers);

    let drift: Value = app
        .get("/api/v1/ops/drift", &staff)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(drift["checked_orgs"], 3, "{drift}");
    assert!(
        drift["entries"].as_array().unwrap().is_empty(),
        "nothing unknown here, nothing missing there: {drift}"
    );
    let stats = fake.stats();
    for (org, token, _) in &orgs {
        let contacts = app.contacts(org, token).await;
        assert_eq!(contacts.len(), 20, "replaced at the limit: {contacts:?}");
        for c in &contacts {
            let email = c["email"].as_str().unwrap();
            assert_eq!(
                stats.creates_by_email.get(email).copied(),
                Some(1),
                "{email} registered once: {stats:?}"
            );
        }
    }
    assert!(
        stats.creates_by_email.values().all(|n| *n == 1),
        "no address registered twice: {stats:?}"
    );
    let takeovers = orphan_count(&app.database_url).await;
    eprintln!(
        "identity side: {} registered, {} replays, {} deleted; {} removals of registrations that outlived their contact ({} from tombstones); {} tombstones closed with nothing there",
        stats.creates_total,
        stats.idempotent_replays,
        stats.deletes_total,
        takeovers.0,
        takeovers.1,
        takeovers.2
    );
}

/// (removals queued for registrations that finished after their contact was removed, of which
/// from tombstones, tombstones closed without a removal).
async fn orphan_count(database_url: &str) -> (i64, i64, i64) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(database_url).await.unwrap();
    let (all, tombstones, closed): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM audit_events WHERE action = 'identity_removal.flagged'), \
                (SELECT COUNT(*) FROM identity_removals WHERE requested_by <> 'system' \
                   AND id IN (SELECT target FROM audit_events WHERE action = 'identity_removal.flagged')), \
                (SELECT COUNT(*) FROM identity_removals WHERE status = 'cancelled' \
                   AND outcome IN ('not_registered', 'adopted_by_readd', 'superseded'))",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let _ = conn.close().await;
    (all, tombstones, closed)
}

/// What the database holds about `email` (PostgreSQL), printed when the chaos test fails.
async fn debug_rows(database_url: &str, email: &str) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(database_url).await.unwrap();
    for sql in [
        "SELECT concat_ws(' ', id, status, identity_contact_id, outcome, lease_owner, lease_until, next_attempt_at) \
         FROM identity_removals WHERE email = $1",
        "SELECT concat_ws(' ', id, status, identity_contact_id, lease_owner, sync_attempts) \
         FROM it_contacts WHERE email = $1",
        "SELECT concat_ws(' ', actor, action, target, details) FROM audit_events \
         WHERE details LIKE '%' || $1 || '%' ORDER BY id",
    ] {
        let rows: Vec<(String,)> = sqlx::query_as(sql)
            .bind(email)
            .fetch_all(&mut conn)
            .await
            .unwrap();
        for (row,) in rows {
            eprintln!("  {row}");
        }
    }
}
