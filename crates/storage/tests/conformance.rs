//! Storage conformance: the storage functions called directly (no use cases, no HTTP), each
//! test body run on SQLite and on PostgreSQL with the same assertions, so that a statement
//! one database reads differently fails here first. The integration suite covers the same
//! behaviour through the service; this suite names the storage function that broke.

use smartcore_domain::{
    ContactName, ContactRuleViolation, ContactSource, EmailAddress, IdentityRemoval, OrgId,
    PersonName, Role, SyncStatus, Timestamp, UserId,
};
use smartcore_storage::quota::{self, Counter};
use smartcore_storage::{
    AuditEntry, NewContact, RemovalMode, Store, StoreError, audit, memberships,
};
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

async fn add(
    store: &Store,
    org_id: &OrgId,
    by: &UserId,
    address: &str,
    now: Timestamp,
) -> Result<smartcore_storage::AddedContact, StoreError> {
    let address = email(address);
    let name = ContactName::parse_optional("IT Desk").unwrap().expect("a name");
    store
        .add_contact(
            NewContact {
                org_id,
                email: &address,
                name: Some(&name),
                source: ContactSource::Manual,
                member_id: None,
                added_by: by,
                additions_per_hour: 100,
            },
            now,
        )
        .await
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
        actor: "system",
        action: "it_contact.synced",
        target: Some(target),
        details: serde_json::json!({}),
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
                actor: "system",
                action: "it_contact.synced",
                target: Some(&target),
                details: serde_json::json!({ "i": i }),
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

async fn an_address_is_a_contact_once_and_the_list_holds_twenty(store: Store) {
    let o = org(&store, "Acme Ltd").await;
    let by = admin(&store, &o, "pat@acme.example").await;
    let added = add(&store, &o, &by, "it@acme.example", at(1))
        .await
        .unwrap();
    assert_eq!(added.contact.status, SyncStatus::Pending);
    assert!(added.cancelled_removal.is_none());
    assert!(matches!(
        add(&store, &o, &by, "IT@ACME.example", at(2)).await,
        Err(StoreError::Rule(
            ContactRuleViolation::AlreadyAContact { .. }
        ))
    ));
    for i in 1..20 {
        add(&store, &o, &by, &format!("c{i}@acme.example"), at(2 + i))
            .await
            .unwrap();
    }
    assert!(matches!(
        add(&store, &o, &by, "c21@acme.example", at(30)).await,
        Err(StoreError::Rule(ContactRuleViolation::LimitReached))
    ));
    let listed = store.contacts(&o).await.unwrap();
    assert_eq!(listed.len(), 20);
    assert_eq!(listed[0].email.as_str(), "it@acme.example", "oldest first");
    // Another organisation's list is its own.
    let other = org(&store, "Beta Ltd").await;
    let other_admin = admin(&store, &other, "pat@beta.example").await;
    add(&store, &other, &other_admin, "it@acme.example", at(31))
        .await
        .unwrap();
}

async fn a_synced_contact_removed_and_added_again_cancels_its_removal(store: Store) {
    let o = org(&store, "Acme Ltd").await;
    let by = admin(&store, &o, "pat@acme.example").await;
    let added = add(&store, &o, &by, "it@acme.example", at(1))
        .await
        .unwrap();
    // The sync registers it.
    let jobs = store
        .claim_due_contacts("conformance", at(2), 10_000, 10)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].contact_id, added.contact.id.as_str());
    let welcomed = store
        .mark_synced_welcoming(
            jobs[0].contact_id.as_str(),
            "conformance",
            "idc_1",
            false,
            at(3),
        )
        .await
        .unwrap();
    assert_eq!(welcomed, Some(true), "its welcome is due once");
    // Removed: a removal request for the operations team.
    let removed = store
        .remove_contact(
            &o,
            &added.contact.id,
            &by,
            RemovalMode::Queue { automatic: false },
            at(4),
        )
        .await
        .unwrap();
    assert_eq!(removed.identity_removal, IdentityRemoval::Flagged);
    let removal_id = removed.removal_id.expect("a removal request");
    assert_eq!(store.removal(&removal_id).await.unwrap().status, "pending");
    // Added again while that removal is pending (D2): Synced at once with the same
    // identity-side id, and the removal cancelled.
    let again = add(&store, &o, &by, "it@acme.example", at(5))
        .await
        .unwrap();
    assert_eq!(again.contact.status, SyncStatus::Synced);
    assert_eq!(again.contact.identity_contact_id.as_deref(), Some("idc_1"));
    assert_eq!(again.cancelled_removal.as_ref(), Some(&removal_id));
    assert_eq!(
        store.removal(&removal_id).await.unwrap().status,
        "cancelled"
    );
    assert!(store.pending_removals().await.unwrap().is_empty());
}

async fn a_contact_never_registered_leaves_nothing_to_remove(store: Store) {
    let o = org(&store, "Acme Ltd").await;
    let by = admin(&store, &o, "pat@acme.example").await;
    let added = add(&store, &o, &by, "it@acme.example", at(1))
        .await
        .unwrap();
    let removed = store
        .remove_contact(
            &o,
            &added.contact.id,
            &by,
            RemovalMode::Queue { automatic: false },
            at(2),
        )
        .await
        .unwrap();
    assert_eq!(removed.identity_removal, IdentityRemoval::NotNeeded);
    assert!(removed.removal_id.is_none());
    assert!(store.contacts(&o).await.unwrap().is_empty());
    assert!(matches!(
        store
            .remove_contact(
                &o,
                &added.contact.id,
                &by,
                RemovalMode::Queue { automatic: false },
                at(3),
            )
            .await,
        Err(StoreError::NotFound)
    ));
}

on_both_databases!(
    organisations_are_found_by_id_and_by_name,
    a_user_is_found_by_address_whatever_its_case_and_once,
    memberships_count_administrators_and_change_roles,
    a_unit_of_work_dropped_without_commit_leaves_nothing,
    the_audit_log_is_newest_first_and_pages_by_id,
    a_counter_reads_the_uses_inside_its_window_and_forgets_older_ones,
    an_address_is_a_contact_once_and_the_list_holds_twenty,
    a_synced_contact_removed_and_added_again_cancels_its_removal,
    a_contact_never_registered_leaves_nothing_to_remove,
);
