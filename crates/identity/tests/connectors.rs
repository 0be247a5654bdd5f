//! The builtin connector, the connector kinds and the retry schedule.

use std::{collections::HashSet, time::Duration};

use smartcore_identity::{
    BuiltinConnector, ConnectorKind, IdentityConnector, MAX_RETRY_AFTER, MAX_RETRY_DELAY,
    Registration, retry_delay,
};

#[tokio::test]
async fn builtin_registers_instantly_and_removes_itself() {
    let builtin = BuiltinConnector;
    assert_eq!(builtin.kind(), ConnectorKind::Builtin);
    assert!(builtin.can_delete());
    assert!(!builtin.requires_identity_org());

    let registered = builtin
        .register(&Registration {
            identity_org_id: None,
            idempotency_key: "itc_0193".to_owned(),
            email: "a@example.com".to_owned(),
        })
        .await
        .expect("register");
    assert_eq!(registered.identity_contact_id, "bltn_itc_0193");
    assert!(!registered.adopted);
    assert_eq!(builtin.remove(None, "bltn_itc_0193").await, Ok(()));
    assert_eq!(builtin.list(None).await, Ok(Vec::new()));
}

#[test]
fn connector_kinds_parse_from_configuration() {
    assert_eq!("builtin".parse(), Ok(ConnectorKind::Builtin));
    assert_eq!(" WorkOS ".parse(), Ok(ConnectorKind::WorkOs));
    assert!("okta".parse::<ConnectorKind>().is_err());
    assert_eq!(ConnectorKind::WorkOs.to_string(), "workos");
}

#[test]
fn retry_delay_grows_exponentially_within_its_jitter_band() {
    for attempt in 0..8u32 {
        let ceiling = Duration::from_secs(1u64 << attempt);
        for _ in 0..50 {
            let delay = retry_delay(attempt, None);
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "attempt {attempt}: {delay:?} outside [{:?}, {ceiling:?}]",
                ceiling / 2
            );
        }
    }
    // Two attempts later, the shortest delay beats the longest one before.
    assert!(retry_delay(5, None) > retry_delay(3, None));
}

#[test]
fn retry_delay_is_capped() {
    for attempt in [9, 10, 20, 64, u32::MAX] {
        let delay = retry_delay(attempt, None);
        assert!(delay <= MAX_RETRY_DELAY, "{attempt}: {delay:?}");
        assert!(delay >= MAX_RETRY_DELAY / 2, "{attempt}: {delay:?}");
    }
}

#[test]
fn retry_delay_has_jitter() {
    let delays: HashSet<Duration> = (0..50).map(|_| retry_delay(6, None)).collect();
    assert!(delays.len() > 10, "only {} distinct delays", delays.len());
}

#[test]
fn retry_after_wins_when_given() {
    assert_eq!(
        retry_delay(0, Some(Duration::from_secs(42))),
        Duration::from_secs(42)
    );
    assert_eq!(
        retry_delay(12, Some(Duration::from_secs(3))),
        Duration::from_secs(3)
    );
    assert_eq!(retry_delay(0, Some(Duration::ZERO)), Duration::ZERO);
    assert_eq!(
        retry_delay(0, Some(Duration::from_secs(10 * 24 * 3600))),
        MAX_RETRY_AFTER,
        "an absurd Retry-After is bounded"
    );
}
