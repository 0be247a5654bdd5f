//! TXT lookups through the real resolver against a DNS server the test runs on loopback.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use dns_fake::DnsFake;
use smartcore_dns::{DnsError, TxtVerifier};

const NAME: &str = "_smartcore-challenge.example.com";

fn verifier(dns: &DnsFake) -> TxtVerifier {
    TxtVerifier::with_timeout(Some(dns.addr()), Duration::from_millis(500)).unwrap()
}

#[tokio::test]
async fn finds_published_records() {
    let dns = DnsFake::start().await;
    dns.set_txt(
        NAME,
        vec!["smartcore-verification=abc".into(), "unrelated=1".into()],
    );
    let mut found = verifier(&dns).lookup_txt(NAME).await.unwrap();
    found.sort();
    assert_eq!(found, vec!["smartcore-verification=abc", "unrelated=1"]);
}

#[tokio::test]
async fn accepts_trailing_dot_and_upper_case_names() {
    let dns = DnsFake::start().await;
    dns.set_txt(NAME, vec!["v".into()]);
    let found = verifier(&dns)
        .lookup_txt("_SMARTCORE-challenge.Example.COM.")
        .await
        .unwrap();
    assert_eq!(found, vec!["v"]);
}

#[tokio::test]
async fn unknown_name_is_an_empty_answer_not_an_error() {
    let dns = DnsFake::start().await;
    let found = verifier(&dns).lookup_txt(NAME).await.unwrap();
    assert!(found.is_empty());
    assert!(dns.query_count() >= 1, "the server was really asked");
}

#[tokio::test]
async fn name_without_txt_records_is_an_empty_answer() {
    let dns = DnsFake::start().await;
    dns.set_txt(NAME, vec![]);
    let found = verifier(&dns).lookup_txt(NAME).await.unwrap();
    assert!(found.is_empty());
}

#[tokio::test]
async fn wrong_value_is_returned_as_is() {
    let dns = DnsFake::start().await;
    dns.set_txt(NAME, vec!["smartcore-verification=wrong".into()]);
    let found = verifier(&dns).lookup_txt(NAME).await.unwrap();
    assert_eq!(found, vec!["smartcore-verification=wrong"]);
    assert!(!found.contains(&"smartcore-verification=right".to_string()));
}

#[tokio::test]
async fn character_strings_of_one_record_are_concatenated() {
    let dns = DnsFake::start().await;
    let long_a = "a".repeat(255);
    dns.set_txt_records(NAME, vec![vec![long_a.clone(), "bcd".into()]]);
    let found = verifier(&dns).lookup_txt(NAME).await.unwrap();
    assert_eq!(found, vec![format!("{long_a}bcd")]);
}

#[tokio::test]
async fn record_published_after_a_failed_lookup_is_seen_at_once() {
    let dns = DnsFake::start().await;
    let verifier = verifier(&dns);
    // The fake's NXDOMAIN carries an SOA with a 300 s negative TTL: a caching resolver would
    // keep answering "not found" for five minutes.
    assert!(verifier.lookup_txt(NAME).await.unwrap().is_empty());
    dns.set_txt(NAME, vec!["smartcore-verification=now".into()]);
    assert_eq!(
        verifier.lookup_txt(NAME).await.unwrap(),
        vec!["smartcore-verification=now"]
    );
}

#[tokio::test]
async fn changed_value_is_seen_at_once() {
    let dns = DnsFake::start().await;
    let verifier = verifier(&dns);
    dns.set_txt(NAME, vec!["old".into()]);
    assert_eq!(verifier.lookup_txt(NAME).await.unwrap(), vec!["old"]);
    dns.set_txt(NAME, vec!["new".into()]);
    assert_eq!(verifier.lookup_txt(NAME).await.unwrap(), vec!["new"]);
    dns.clear(NAME);
    assert!(verifier.lookup_txt(NAME).await.unwrap().is_empty());
    assert!(dns.query_count() >= 3, "every lookup reached the server");
}

#[tokio::test]
async fn server_failure_is_unavailable() {
    let dns = DnsFake::start().await;
    dns.set_servfail(NAME);
    let err = verifier(&dns).lookup_txt(NAME).await.unwrap_err();
    assert!(matches!(err, DnsError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn server_down_is_unavailable() {
    // A port that was free a moment ago: nothing answers there.
    let addr: SocketAddr = {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        socket.local_addr().unwrap()
    };
    let verifier = TxtVerifier::with_timeout(Some(addr), Duration::from_millis(300)).unwrap();
    let started = Instant::now();
    let err = verifier.lookup_txt(NAME).await.unwrap_err();
    assert!(matches!(err, DnsError::Unavailable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "gave up in bounded time"
    );
}

#[tokio::test]
async fn server_stopped_after_answering_is_unavailable() {
    let dns = DnsFake::start().await;
    dns.set_txt(NAME, vec!["v".into()]);
    let verifier = verifier(&dns);
    assert_eq!(verifier.lookup_txt(NAME).await.unwrap(), vec!["v"]);
    dns.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let err = verifier.lookup_txt(NAME).await.unwrap_err();
    assert!(matches!(err, DnsError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn invalid_name_is_refused_before_asking() {
    let dns = DnsFake::start().await;
    let err = verifier(&dns).lookup_txt("   ").await.unwrap_err();
    assert!(matches!(err, DnsError::InvalidName(_)));
    assert_eq!(dns.query_count(), 0);
}

#[tokio::test]
async fn system_configuration_builds() {
    // Only checks that reading the system resolver configuration works here; no query is made.
    assert!(TxtVerifier::new(None).is_ok());
}
