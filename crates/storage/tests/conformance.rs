//! Storage conformance: the storage functions called directly (no use cases, no HTTP), each
//! test body run on SQLite and on PostgreSQL with the same assertions, so that a statement
//! one database reads differently fails here first. The integration suite covers the same
//! behaviour through the service; this suite names the storage function that broke.

use smartcore_domain::audit::ContactSynced;
use smartcore_domain::{
    AuditAction, AuditActor, AuditDetails, ContactId, ContactName, ContactSource, EmailAddress,
    ItContact, OrgId, PersonName, RemovalOutcome, RemovalStatus, Role, SyncStatus, Timestamp,
    UserId,
};
use smartcore_storage::quota::{self, Counter};
use smartcore_storage::{AuditEntry, RemovalMode, Store, StoreError, audit, contacts, memberships};
use smartcore_testdb::{Backend, TestDatabase, fresh_database};

/// Runs each named body (`async fn name(store: Store)`) on a fresh, migrated database of
/// each kind.
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some((store, _db)) = super::open(smartcore_testdb::Backend::Sqlite).await {
                        super::$name(store).await
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some((store, _db)) = super::open(smartcore_testdb::Backend::Postgres).await {
                        super::$name(store).await
                    }
                }
            )*
        }
    };
}

async fn open(backend: Backend) -> Option<(Store, TestDatabase)> {
    let (url, db) = fresh_database(backend).await?;
    let store = Store::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    Some((store, db))
}

const T0: i64 = 1_780_000_000_000;

fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(T0 + ms)
}

fn email(s: &str) -> EmailAddress {
    EmailAddress::parse(s).expect("an address")
}

async fn org(store: &Store, name: &str) -> OrgId {
    store.create_org(name, at(0)).await.unwrap().org_id()
}

async fn admin(store: &Store, org_id: &OrgId, address: &str) -> UserId {
    let name = PersonName::parse("Pat Admin").unwrap();
    let user = store
        .create_user(&email(address), &name, None, false, at(0))
        .await
        .unwrap();
    store
        .put_membership(org_id, &user, Role::Admin, at(0))
        .await
        .unwrap();
    UserId::parse(&user.id).unwrap()
}

/// A contact as the use case builds it: pending, made at `now` by `by`.
fn contact(org_id: &OrgId, by: &UserId, address: &str, now: Timestamp) -> ItContact {
    ItContact {
        id: ContactId::generate(),
        org_id: org_id.clone(),
        email: email(address),
        name: ContactName::parse_optional("IT Desk").unwrap(),
        source: ContactSource::Manual,
        member_id: None,
        still_member: false,
        status: SyncStatus::Pending,
        status_detail: None,
        synced_at: None,
        identity_contact_id: None,
        created_at: now,
        created_by: by.clone(),
        mail_rejected: None,
    }
}

/// Inserts `c` due for the sync now, in a unit of work of its own.
async fn insert(store: &Store, c: &ItContact) -> Result<(), StoreError> {
    let mut tx = store.write().await?;
    contacts::insert(&mut tx, c, Some(c.created_at)).await?;
    tx.commit().await
}

async fn organisations_are_found_by_id_and_by_name(store: Store) {
    let a = org(&store, "Acme Ltd").await;
    let b = org(&store, "Beta Ltd").await;
    assert_eq!(store.org(&a).await.unwrap().name, "Acme Ltd");
    assert_eq!(store.org_by_name("Beta Ltd").await.unwrap().org_id(), b);
    assert_eq!(store.all_orgs().await.unwrap().len(), 2);
    assert!(matches!(
        store.org_by_name("Gamma Ltd").await,
        Err(StoreError::NotFound)
    ));
}

async fn a_user_is_found_by_address_whatever_its_case_and_once(store: Store) {
    let name = PersonName::parse("Ada Lovelace").unwrap();
    let user = store
        .create_user(&email("Ada@Example.org"), &name, None, false, at(0))
        .await
        .unwrap();
    let found = store
        .find_user_by_email(&email("ada@example.ORG"))
        .await
        .unwrap()
        .expect("found");
    assert_eq!(found.id, user.id);
    assert!(matches!(
        store
            .create_user(&email("ADA@example.org"), &name, None, false, at(1))
            .await,
        Err(StoreError::Duplicate)
    ));
}

async fn memberships_count_administrators_and_change_roles(store: Store) {
    let o = org(&store, "Acme Ltd").await;
    let first = admin(&store, &o, "first@acme.example").await;
    let second = admin(&store, &o, "second@acme.example").await;
    let mut conn = store.read_connection().await.unwrap();
    assert_eq!(memberships::count_admins(&mut conn, &o).await.unwrap(), 2);
    drop(conn);
    let mut tx = store.write().await.unwrap();
    memberships::set_role(&mut tx, &o, &second, Role::Member)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut conn = store.read_connection().await.unwrap();
    assert_eq!(memberships::count_admins(&mut conn, &o).await.unwrap(), 1);
    assert_eq!(store.role_in(&o, &first).await.unwrap(), Some(Role::Admin));
    assert_eq!(
        store.role_in(&o, &second).await.unwrap(),
        Some(Role::Member)
    );
}

async fn a_unit_of_work_dropped_without_commit_leaves_nothing(store: Store) {
    let o = org(&store, "Acme Ltd").await;
    let entry = |target| AuditEntry {
        org_id: Some(&o),
        at: at(5),
        actor: AuditActor::System,
        target: Some(target),
        details: synced("ada@acme.example"),
    };
    let mut tx = store.write().await.unwrap();
    audit::record(&mut tx, entry("dropped")).await.unwrap();
    drop(tx);
    let mut tx = store.write().await.unwrap();
    audit::record(&mut tx, entry("committed")).await.unwrap();
    tx.commit().await.unwrap();
    let log = store.audit_log(&o, None, 10).await.unwrap();
    let targets: Vec<_> = log.iter().filter_map(|e| e.target.as_deref()).collect();
    assert_eq!(targets, ["committed"]);
}

async fn the_audit_log_is_newest_first_and_pages_by_id(store: Store) {
    let o = org(&store, "Acme Ltd").await;
    for i in 0..5 {
        let target = format!("t{i}");
        store
            .record_audit(AuditEntry {
                org_id: Some(&o),
                at: at(i),
                actor: AuditActor::System,
                target: Some(&target),
                details: synced(&format!("{i}@acme.example")),
            })
            .await
            .unwrap();
    }
    let first = store.audit_log(&o, None, 3).await.unwrap();
    let targets: Vec<_> = first.iter().filter_map(|e| e.target.clone()).collect();
    assert_eq!(targets, ["t4", "t3", "t2"]);
    let next = store.audit_log(&o, Some(&first[2].id), 3).await.unwrap();
    let targets: Vec<_> = next.iter().filter_map(|e| e.target.clone()).collect();
    assert_eq!(targets, ["t1", "t0"]);
}

fn synced(email: &str) -> AuditDetails {
    AuditDetails::ItContactSynced(ContactSynced {
        adopted: false,
        email: email.to_owned(),
        identity_contact_id: "idc_1".to_owned(),
    })
}

async fn an_event_reads_back_with_its_actor_action_and_details_text(store: Store) {
    let o = org(&store, "Acme Ltd").await;
    let user = UserId::parse("usr_0192ab").unwrap();
    for actor in [
        AuditActor::User(user),
        AuditActor::Cli,
        AuditActor::Contact(email("ada@acme.example")),
    ] {
        store
            .record_audit(AuditEntry {
                org_id: Some(&o),
                at: at(1),
                actor,
                target: None,
                details: synced("ada@acme.example"),
            })
            .await
            .unwrap();
    }
    let log = store.audit_log(&o, None, 10).await.unwrap();
    let actors: Vec<&str> = log.iter().map(|e| e.actor.as_str()).collect();
    assert_eq!(actors, ["ada@acme.example", "cli", "usr_0192ab"]);
    assert!(log.iter().all(|e| e.action == AuditAction::ItContactSynced));
    assert_eq!(
        log[0].details,
        r#"{"adopted":false,"email":"ada@acme.example","identity_contact_id":"idc_1"}"#
    );
}

async fn a_counter_reads_the_uses_inside_its_window_and_forgets_older_ones(store: Store) {
    let counter = Counter::SetupLinks { org_id: "org_x" };
    let other = Counter::SetupLinks { org_id: "org_y" };
    let mut tx = store.write().await.unwrap();
    quota::record(&mut tx, counter, at(0), 2).await.unwrap();
    quota::record(&mut tx, counter, at(10), 1).await.unwrap();
    quota::record(&mut tx, other, at(10), 1).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.write().await.unwrap();
    assert_eq!(
        quota::uses_since(&mut tx, counter, at(-1))
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        quota::uses_since(&mut tx, counter, at(0)).await.unwrap(),
        [at(10)]
    );
    tx.commit().await.unwrap();
    // The uses at or before the window's start were forgotten by that read.
    let mut tx = store.write().await.unwrap();
    assert_eq!(
        quota::uses_since(&mut tx, counter, at(-1))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        quota::uses_since(&mut tx, other, at(-1))
            .await
            .unwrap()
            .len(),
        1
    );
    tx.commit().await.unwrap();
}

async fn a_contact_is_inserted_once_per_address_and_listed_oldest_first(store: Store) {
    let o = org(&store, "Acme Ltd").await;
    let by = admin(&store, &o, "pat@acme.example").await;
    let first = contact(&o, &by, "it@acme.example", at(1));
    insert(&store, &first).await.unwrap();
    assert!(matches!(
        insert(&store, &contact(&o, &by, "IT@ACME.example", at(2))).await,
        Err(StoreError::Duplicate)
    ));
    for i in 1..20 {
        insert(
            &store,
            &contact(&o, &by, &format!("c{i}@acme.example"), at(2 + i)),
        )
        .await
        .unwrap();
    }
    let mut tx = store.write().await.unwrap();
    let lock = contacts::lock_list(&mut tx, &o).await.unwrap();
    assert!(!lock.sso_enabled);
    let list = contacts::list(&mut tx, &o).await.unwrap();
    assert_eq!(list.len(), 20);
    assert!(list.contains(&email("It@Acme.Example")));
    tx.commit().await.unwrap();
    let listed = store.contacts(&o).await.unwrap();
    assert_eq!(listed.len(), 20);
    assert_eq!(listed[0], first, "oldest first, as inserted");
    // Another organisation's list is its own.
    let other = org(&store, "Beta Ltd").await;
    let other_admin = admin(&store, &other, "pat@beta.example").await;
    insert(
        &store,
        &contact(&other, &other_admin, "it@acme.example", at(31)),
    )
    .await
    .unwrap();
    assert!(matches!(
        contacts::lock_list(&mut store.write().await.unwrap(), &OrgId::generate()).await,
        Err(StoreError::NotFound)
    ));
}

async fn additions_are_counted_inside_their_window(store: Store) {
    let o = org(&store, "Acme Ltd").await;
    let mut tx = store.write().await.unwrap();
    for i in 0..3 {
        contacts::record_addition(&mut tx, &o, at(i * 10), None)
            .await
            .unwrap();
    }
    let counted = contacts::additions_since(&mut tx, &o, at(5)).await.unwrap();
    assert_eq!(
        (counted.recent, counted.oldest, counted.stale),
        (2, Some(at(10)), 1)
    );
    contacts::record_addition(&mut tx, &o, at(30), Some(at(5)))
        .await
        .unwrap();
    let counted = contacts::additions_since(&mut tx, &o, at(-1))
        .await
        .unwrap();
    assert_eq!(
        (counted.recent, counted.stale),
        (3, 0),
        "the one at 0 was forgotten"
    );
    tx.commit().await.unwrap();
}

async fn a_removal_is_pending_for_its_address_until_a_re_add_cancels_it(store: Store) {
    let o = org(&store, "Acme Ltd").await;
    let by = admin(&store, &o, "pat@acme.example").await;
    let mut synced = contact(&o, &by, "it@acme.example", at(1));
    synced.status = SyncStatus::Synced;
    synced.synced_at = Some(at(1));
    synced.identity_contact_id = Some("idc_1".into());
    let mut tx = store.write().await.unwrap();
    contacts::insert(&mut tx, &synced, None).await.unwrap();
    let row = contacts::delete(&mut tx, &o, &synced.id).await.unwrap();
    assert_eq!(row.status, SyncStatus::Synced);
    assert_eq!(row.identity_contact_id.as_deref(), Some("idc_1"));
    assert!(!row.registration_in_flight(false));
    let removal = contacts::insert_removal(
        &mut tx,
        &synced,
        None,
        &by,
        RemovalMode::Queue { automatic: false },
        at(2),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store.removal(&removal).await.unwrap().status,
        RemovalStatus::Pending
    );

    let mut tx = store.write().await.unwrap();
    let pending = contacts::pending_removal_for(&mut tx, &o, &email("IT@acme.example"))
        .await
        .unwrap()
        .expect("pending");
    assert_eq!(pending.id, removal);
    assert_eq!(pending.identity_contact_id, "idc_1");
    contacts::cancel_removal_for_readd(&mut tx, &removal, &by, at(3))
        .await
        .unwrap();
    assert!(
        contacts::pending_removal_for(&mut tx, &o, &email("it@acme.example"))
            .await
            .unwrap()
            .is_none()
    );
    tx.commit().await.unwrap();
    let record = store.removal(&removal).await.unwrap();
    assert_eq!(record.status, RemovalStatus::Cancelled);
    assert_eq!(
        record.outcome.map(|o| o.as_str()),
        Some(RemovalOutcome::CancelledByReadd.as_str())
    );
    assert!(store.pending_removals().await.unwrap().is_empty());
}

async fn a_deleted_row_says_whether_a_worker_held_it(store: Store) {
    let o = org(&store, "Acme Ltd").await;
    let by = admin(&store, &o, "pat@acme.example").await;
    let c = contact(&o, &by, "it@acme.example", at(1));
    insert(&store, &c).await.unwrap();
    let jobs = store
        .claim_due_contacts("conformance", at(2), 10_000, 10)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    let mut tx = store.write().await.unwrap();
    let row = contacts::delete(&mut tx, &o, &c.id).await.unwrap();
    assert_eq!(row.status, SyncStatus::Pending);
    let lease = row.lease.clone().expect("the sync's lease");
    let (owner, until) = (lease.owner(), lease.until());
    assert!(owner.starts_with("conformance"), "{owner}");
    assert_eq!(until, at(2 + 10_000));
    assert!(row.registration_in_flight(false));
    let tombstone = contacts::insert_tombstone(&mut tx, &c, &by, false, row.lease.as_ref(), at(3))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store.removal(&tombstone).await.unwrap().status,
        RemovalStatus::Tombstone
    );
    assert!(matches!(
        contacts::delete(&mut store.write().await.unwrap(), &o, &c.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(store.contacts(&o).await.unwrap().is_empty());
}

/// The sync records its registrations in batches (`synced::record`): each contact the worker
/// still holds becomes Synced with its identity-side id, its welcome claimed unless the
/// address was welcomed to the organisation within the week; a contact it no longer holds is
/// left alone.
async fn registrations_are_recorded_in_a_batch_with_one_welcome_a_week_per_address(store: Store) {
    use smartcore_storage::synced::{self, Recorded, Registered};
    let o = org(&store, "Acme Ltd").await;
    let by = admin(&store, &o, "pat@acme.example").await;
    let other = org(&store, "Beta Ltd").await;
    let other_admin = admin(&store, &other, "pat@beta.example").await;
    let registered = |c: &ItContact| Registered {
        contact_id: c.id.to_string(),
        identity_contact_id: format!("idc_{}", c.id),
        adopted: false,
    };
    // Welcomed once already: added, registered and removed again.
    let earlier = contact(&o, &by, "again@acme.example", at(1));
    insert(&store, &earlier).await.unwrap();
    assert_eq!(
        store
            .claim_due_contacts("w#0", at(2), 10_000, 100)
            .await
            .unwrap()
            .len(),
        1
    );
    let mut tx = store.write().await.unwrap();
    let first = synced::record(&mut tx, "w#0", &[registered(&earlier)], at(3))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(first, [Recorded::SyncedWelcomeDue]);
    let mut tx = store.write().await.unwrap();
    contacts::delete(&mut tx, &o, &earlier.id).await.unwrap();
    tx.commit().await.unwrap();

    let again = contact(&o, &by, "AGAIN@acme.example", at(10));
    let fresh = contact(&o, &by, "fresh@acme.example", at(11));
    let elsewhere = contact(&other, &other_admin, "again@acme.example", at(12));
    let not_held = contact(&o, &by, "late@acme.example", at(13));
    for c in [&again, &fresh, &elsewhere, &not_held] {
        insert(&store, c).await.unwrap();
    }
    assert_eq!(
        store
            .claim_due_contacts("w#1", at(20), 10_000, 100)
            .await
            .unwrap()
            .len(),
        4
    );
    // Another worker's lease on one of them: w#1 no longer holds it.
    store.release_leases("w#1").await.unwrap();
    assert_eq!(
        store
            .claim_due_contacts("w#2", at(21), 10_000, 1)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .claim_due_contacts("w#1", at(21), 10_000, 100)
            .await
            .unwrap()
            .len(),
        3
    );
    let batch: Vec<Registered> = [&again, &fresh, &elsewhere, &not_held]
        .into_iter()
        .map(registered)
        .collect();
    let mut tx = store.write().await.unwrap();
    let recorded = synced::record(&mut tx, "w#1", &batch, at(30))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(recorded.len(), 4);
    assert_eq!(
        recorded.iter().filter(|r| **r == Recorded::NotHeld).count(),
        1,
        "the contact w#2 holds is left alone: {recorded:?}"
    );
    let synced_now: Vec<ContactId> = store
        .contacts(&o)
        .await
        .unwrap()
        .into_iter()
        .chain(store.contacts(&other).await.unwrap())
        .filter(|c| c.status == SyncStatus::Synced)
        .inspect(|c| assert_eq!(c.identity_contact_id, Some(format!("idc_{}", c.id))))
        .map(|c| c.id)
        .collect();
    assert_eq!(synced_now.len(), 3);
    for (c, r) in [&again, &fresh, &elsewhere, &not_held]
        .into_iter()
        .zip(&recorded)
    {
        let expected = if !synced_now.contains(&c.id) {
            Recorded::NotHeld
        } else if c.id == again.id {
            // The same address in the same organisation, welcomed at 3: not again this week.
            Recorded::SyncedWelcomedRecently
        } else {
            Recorded::SyncedWelcomeDue
        };
        assert_eq!(*r, expected, "{}", c.email);
    }
}

on_both_databases!(
    organisations_are_found_by_id_and_by_name,
    a_user_is_found_by_address_whatever_its_case_and_once,
    memberships_count_administrators_and_change_roles,
    a_unit_of_work_dropped_without_commit_leaves_nothing,
    the_audit_log_is_newest_first_and_pages_by_id,
    an_event_reads_back_with_its_actor_action_and_details_text,
    a_counter_reads_the_uses_inside_its_window_and_forgets_older_ones,
    a_contact_is_inserted_once_per_address_and_listed_oldest_first,
    additions_are_counted_inside_their_window,
    a_removal_is_pending_for_its_address_until_a_re_add_cancels_it,
    a_deleted_row_says_whether_a_worker_held_it,
    registrations_are_recorded_in_a_batch_with_one_welcome_a_week_per_address,
);
