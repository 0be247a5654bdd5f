//! Our real `WorkOsClient` against the `workos-fake` server over TCP: every answer the sync
//! worker must tell apart, from success to each kind of failure.

use std::time::Duration;

use smartcore_identity::{
    ConnectorError, ConnectorKind, IdentityConnector, Registration, WorkOsClient,
    install_crypto_provider,
};
use workos_fake::{FakeWorkOs, Fault};

const KEY: &str = "sk_test_identity";
const ORG: &str = "org_01TEST";

async fn fake() -> FakeWorkOs {
    FakeWorkOs::start(KEY).await.expect("start the fake")
}

fn client(fake: &FakeWorkOs) -> WorkOsClient {
    client_with(fake, KEY, Duration::from_secs(5))
}

fn client_with(fake: &FakeWorkOs, key: &str, timeout: Duration) -> WorkOsClient {
    install_crypto_provider();
    WorkOsClient::new(fake.base_url(), key, timeout).expect("client")
}

fn registration(key: &str, email: &str) -> Registration {
    Registration {
        identity_org_id: Some(ORG.to_owned()),
        idempotency_key: key.to_owned(),
        email: email.to_owned(),
    }
}

fn creates_of(fake: &FakeWorkOs, email: &str) -> u64 {
    fake.stats()
        .creates_by_email
        .get(email)
        .copied()
        .unwrap_or(0)
}

#[tokio::test]
async fn register_returns_the_identity_side_id() {
    let fake = fake().await;
    let client = client(&fake);
    assert_eq!(client.kind(), ConnectorKind::WorkOs);
    assert!(client.requires_identity_org() && client.can_delete());

    let registered = client
        .register(&registration("itc_1", "alice@example.com"))
        .await
        .expect("register");

    assert!(!registered.adopted);
    let contacts = fake.contacts(ORG);
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0].id, registered.identity_contact_id);
    assert_eq!(contacts[0].email, "alice@example.com");
    assert_eq!(fake.stats().creates_total, 1);
}

#[tokio::test]
async fn same_idempotency_key_twice_creates_one_contact() {
    let fake = fake().await;
    let client = client(&fake);
    let first = client
        .register(&registration("itc_1", "bob@example.com"))
        .await
        .expect("first");
    let second = client
        .register(&registration("itc_1", "bob@example.com"))
        .await
        .expect("second");

    assert_eq!(first, second, "the replay answers the original contact");
    assert_eq!(fake.contacts(ORG).len(), 1);
    assert_eq!(creates_of(&fake, "bob@example.com"), 1);
    assert_eq!(fake.stats().idempotent_replays, 1);
}

#[tokio::test]
async fn an_address_created_by_hand_with_another_case_is_adopted() {
    let fake = fake().await;
    let by_hand = fake
        .insert_contact(ORG, "Carol@Example.COM")
        .expect("by-hand contact");
    // Other contacts around it, so adoption has to pick the right one.
    fake.insert_contact(ORG, "someone@example.com")
        .expect("other");
    let client = client(&fake);

    let registered = client
        .register(&registration("itc_carol", "carol@example.com"))
        .await
        .expect("adopted");

    assert!(registered.adopted);
    assert_eq!(registered.identity_contact_id, by_hand.id);
    assert_eq!(fake.contacts(ORG).len(), 2, "no duplicate was created");
    assert_eq!(fake.stats().creates_total, 0);
    let requests = fake.stats().requests;
    assert_eq!(
        requests.get("POST /organizations/{org}/it_contacts"),
        Some(&1)
    );
    assert_eq!(
        requests.get("GET /organizations/{org}/it_contacts"),
        Some(&1)
    );
}

#[tokio::test]
async fn rate_limit_is_retryable_with_the_servers_retry_after() {
    let fake = fake().await;
    fake.set_fault(Fault::RateLimit {
        count: 1,
        retry_after_secs: 7,
    });
    let client = client(&fake);

    let error = client
        .register(&registration("itc_1", "dave@example.com"))
        .await
        .expect_err("rate limited");

    assert!(error.is_retryable(), "{error:?}");
    assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
    assert!(fake.contacts(ORG).is_empty());
    // The limit has passed: the retry succeeds and creates exactly one contact.
    client
        .register(&registration("itc_1", "dave@example.com"))
        .await
        .expect("retry");
    assert_eq!(creates_of(&fake, "dave@example.com"), 1);
}

#[tokio::test]
async fn server_errors_are_retryable() {
    let fake = fake().await;
    fake.set_fault(Fault::Fail5xx {
        count: 2,
        status: 503,
    });
    let client = client(&fake);

    for _ in 0..2 {
        let error = client
            .register(&registration("itc_1", "erin@example.com"))
            .await
            .expect_err("5xx");
        match &error {
            ConnectorError::Retryable {
                reason,
                retry_after,
            } => {
                assert!(reason.contains("503"), "{reason}");
                assert_eq!(*retry_after, None);
            }
            other => panic!("expected Retryable, got {other:?}"),
        }
    }
    assert_eq!(fake.stats().injected_5xx, 2);
    client
        .register(&registration("itc_1", "erin@example.com"))
        .await
        .expect("identity side is back");
    assert_eq!(fake.contacts(ORG).len(), 1);
}

#[tokio::test]
async fn a_dropped_connection_is_retryable() {
    let fake = fake().await;
    fake.set_fault(Fault::DropConnection { count: 1 });
    let client = client(&fake);

    let error = client
        .register(&registration("itc_1", "frank@example.com"))
        .await
        .expect_err("dropped");

    assert!(error.is_retryable(), "{error:?}");
    assert_eq!(fake.stats().dropped_connections, 1);
    client
        .register(&registration("itc_1", "frank@example.com"))
        .await
        .expect("retry");
    assert_eq!(fake.contacts(ORG).len(), 1);
}

#[tokio::test]
async fn a_slow_answer_times_out_as_retryable_and_the_retry_creates_once() {
    let fake = fake().await;
    fake.set_fault(Fault::Latency { ms: 1_500 });
    let client = client_with(&fake, KEY, Duration::from_millis(300));

    let started = std::time::Instant::now();
    let error = client
        .register(&registration("itc_1", "grace@example.com"))
        .await
        .expect_err("timeout");

    assert!(
        started.elapsed() < Duration::from_millis(1_400),
        "the client gave up on time"
    );
    match &error {
        ConnectorError::Retryable { reason, .. } => {
            assert!(reason.contains("timed out"), "{reason}")
        }
        other => panic!("expected Retryable, got {other:?}"),
    }
    fake.set_fault(Fault::Latency { ms: 0 });
    client
        .register(&registration("itc_1", "grace@example.com"))
        .await
        .expect("retry");
    assert_eq!(fake.contacts(ORG).len(), 1);
    assert_eq!(creates_of(&fake, "grace@example.com"), 1);
}

#[tokio::test]
async fn unprocessable_is_permanent_with_the_servers_message() {
    let fake = fake().await;
    fake.set_fault(Fault::RejectEmail {
        email: "heidi@example.com".to_owned(),
        message: Some("Heidi's mailbox does not accept alerts.".to_owned()),
    });
    let client = client(&fake);

    let error = client
        .register(&registration("itc_1", "Heidi@example.com"))
        .await
        .expect_err("422");

    assert_eq!(
        error,
        ConnectorError::Permanent {
            status: Some(422),
            code: Some("invalid_request_parameters".to_owned()),
            reason: "Heidi's mailbox does not accept alerts.".to_owned(),
        }
    );
    assert!(error.to_string().contains("does not accept alerts"));
    assert!(fake.contacts(ORG).is_empty());
}

#[tokio::test]
async fn the_twenty_first_contact_is_a_permanent_failure() {
    let fake = fake().await;
    for i in 0..workos_fake::MAX_CONTACTS_PER_ORG {
        fake.insert_contact(ORG, &format!("c{i}@example.com"))
            .expect("fill");
    }
    let client = client(&fake);

    let error = client
        .register(&registration("itc_21", "one-too-many@example.com"))
        .await
        .expect_err("limit");

    match error {
        ConnectorError::Permanent { status, code, .. } => {
            assert_eq!(status, Some(422));
            assert_eq!(code.as_deref(), Some("it_contact_limit_reached"));
        }
        other => panic!("expected Permanent, got {other:?}"),
    }
}

#[tokio::test]
async fn a_wrong_key_is_permanent() {
    let fake = fake().await;
    let client = client_with(&fake, "sk_test_wrong", Duration::from_secs(5));

    let error = client
        .register(&registration("itc_1", "ivan@example.com"))
        .await
        .expect_err("401");

    match error {
        ConnectorError::Permanent { status, reason, .. } => {
            assert_eq!(status, Some(401));
            assert_eq!(reason, "Unauthorized");
        }
        other => panic!("expected Permanent, got {other:?}"),
    }
    assert_eq!(fake.stats().unauthorized, 1);
    assert!(fake.contacts(ORG).is_empty());
    let list_error = client.list(Some(ORG)).await.expect_err("401 on list too");
    assert!(matches!(
        list_error,
        ConnectorError::Permanent {
            status: Some(401),
            ..
        }
    ));
}

#[tokio::test]
async fn list_follows_cursors_across_pages_newest_first() {
    let fake = fake().await;
    fake.set_fault(Fault::ContactLimit { limit: Some(250) });
    for i in 0..250 {
        fake.insert_contact(ORG, &format!("p{i:03}@example.com"))
            .expect("insert");
    }
    fake.insert_contact("org_other", "elsewhere@example.com")
        .expect("other org");
    let client = client(&fake);

    let listed = client.list(Some(ORG)).await.expect("list");

    assert_eq!(listed.len(), 250);
    assert_eq!(listed[0].email, "p249@example.com", "newest first");
    assert_eq!(listed[249].email, "p000@example.com");
    let mut ids: Vec<&str> = listed.iter().map(|c| c.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 250, "no contact listed twice");
    assert!(listed.iter().all(|c| !c.created_at.is_empty()));
    assert_eq!(
        fake.stats()
            .requests
            .get("GET /organizations/{org}/it_contacts"),
        Some(&3),
        "three pages of at most 100"
    );
}

#[tokio::test]
async fn list_of_an_empty_organisation_is_empty() {
    let fake = fake().await;
    let listed = client(&fake).list(Some("org_new")).await.expect("list");
    assert!(listed.is_empty());
}

#[tokio::test]
async fn remove_deletes_and_a_missing_contact_counts_as_removed() {
    let fake = fake().await;
    let client = client(&fake);
    let registered = client
        .register(&registration("itc_1", "judy@example.com"))
        .await
        .expect("register");
    let keep = fake.insert_contact(ORG, "keep@example.com").expect("other");

    client
        .remove(Some(ORG), &registered.identity_contact_id)
        .await
        .expect("delete");
    assert_eq!(fake.contacts(ORG), vec![keep]);
    assert_eq!(fake.stats().deletes_total, 1);

    client
        .remove(Some(ORG), &registered.identity_contact_id)
        .await
        .expect("already gone is success");
    client
        .remove(Some(ORG), "it_contact_never_existed")
        .await
        .expect("never existed is success");
    assert_eq!(fake.stats().responses.get("404"), Some(&2));
}

#[tokio::test]
async fn remove_during_an_outage_is_retryable() {
    let fake = fake().await;
    fake.set_fault(Fault::Fail5xx {
        count: 1,
        status: 500,
    });
    let error = client(&fake)
        .remove(Some(ORG), "it_contact_1")
        .await
        .expect_err("5xx");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn an_unlinked_organisation_is_not_linked_and_sends_nothing() {
    let fake = fake().await;
    let client = client(&fake);
    let mut unlinked = registration("itc_1", "ken@example.com");
    unlinked.identity_org_id = None;

    assert_eq!(
        client.register(&unlinked).await,
        Err(ConnectorError::NotLinked)
    );
    unlinked.identity_org_id = Some("   ".to_owned());
    assert_eq!(
        client.register(&unlinked).await,
        Err(ConnectorError::NotLinked)
    );
    assert_eq!(
        client.remove(None, "it_contact_1").await,
        Err(ConnectorError::NotLinked)
    );
    assert_eq!(client.list(None).await, Err(ConnectorError::NotLinked));
    assert_eq!(fake.stats().requests_total, 0);
}

#[tokio::test]
async fn nothing_listening_is_retryable() {
    let fake = fake().await;
    let client = client(&fake);
    fake.shutdown().await;
    let error = client
        .register(&registration("itc_1", "leo@example.com"))
        .await
        .expect_err("connection refused");
    assert!(error.is_retryable(), "{error:?}");
}

#[tokio::test]
async fn concurrent_registrations_of_many_contacts_each_create_once() {
    let fake = fake().await;
    fake.set_fault(Fault::ContactLimit { limit: Some(1_000) });
    let client = client(&fake);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let client = client.clone();
        tasks.spawn(async move {
            // Every contact registered twice at once: the key dedupes the pair.
            let r = registration(&format!("itc_{i}"), &format!("m{i}@example.com"));
            let (a, b) = tokio::join!(client.register(&r), client.register(&r));
            (a.expect("a"), b.expect("b"))
        });
    }
    while let Some(result) = tasks.join_next().await {
        let (a, b) = result.expect("task");
        assert_eq!(a.identity_contact_id, b.identity_contact_id);
    }
    let stats = fake.stats();
    assert_eq!(stats.creates_total, 200);
    assert!(stats.creates_by_email.values().all(|n| *n == 1));
    assert_eq!(stats.idempotent_replays, 200);
}

#[tokio::test]
async fn a_lost_answer_is_retryable_and_the_retry_adopts_the_created_contact() {
    let fake = fake().await;
    fake.set_fault(Fault::LoseAnswer { count: 1 });
    let client = client(&fake);

    let error = client
        .register(&registration("itc_1", "mallory@example.com"))
        .await
        .expect_err("answer lost");
    assert!(error.is_retryable(), "{error:?}");
    let created = fake.contacts(ORG);
    assert_eq!(created.len(), 1, "the identity side did create it");

    let retried = client
        .register(&registration("itc_1", "mallory@example.com"))
        .await
        .expect("retry");
    assert_eq!(retried.identity_contact_id, created[0].id);
    assert!(
        !retried.adopted,
        "answered from the idempotency key, not a 409"
    );
    assert_eq!(creates_of(&fake, "mallory@example.com"), 1);
    assert_eq!(fake.stats().idempotent_replays, 1);
}
