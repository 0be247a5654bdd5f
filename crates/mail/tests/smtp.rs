//! Sending through a real SMTP exchange with the smtp-sink server, and how failures are sorted.

mod common;

use common::{FROM, assert_well_formed, parse, sample_mail};
use smartcore_mail::{MailConfig, MailError, Mailer};
use smtp_sink::SmtpSink;

fn smtp_mailer(sink: &SmtpSink) -> Mailer {
    Mailer::new(&MailConfig::Smtp { url: sink.url() }, FROM).expect("mailer")
}

#[tokio::test]
async fn a_message_arrives_with_its_headers_and_both_parts() {
    let sink = SmtpSink::start().await;
    let mailer = smtp_mailer(&sink);
    let mail = sample_mail("it@acme.example");

    let sent = mailer.send(&mail).await.expect("sent");

    let received = sink.messages();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].mail_from, "no-reply@localhost");
    assert_eq!(received[0].rcpt_to, ["it@acme.example"]);
    let message = parse(&received[0].data);
    assert_well_formed(&message);
    assert_eq!(
        message.subject(),
        Some(mail.subject.as_str()),
        "UTF-8 subject round-trips"
    );
    let to = message.to().and_then(|a| a.first()).expect("To");
    assert_eq!(to.address(), Some("it@acme.example"));
    assert_eq!(to.name(), Some("Zoë Müller"));
    assert_eq!(
        format!("<{}>", message.message_id().expect("Message-ID")),
        sent.message_id
    );
    assert!(sent.message_id.ends_with("@localhost>"));
    assert_eq!(
        message
            .body_text(0)
            .expect("text")
            .replace("\r\n", "\n")
            .trim_end(),
        mail.text
    );
    assert_eq!(
        message
            .body_html(0)
            .expect("html")
            .replace("\r\n", "\n")
            .trim_end(),
        mail.html
    );
}

#[tokio::test]
async fn several_messages_over_the_pooled_connection_each_get_their_own_id() {
    let sink = SmtpSink::start().await;
    let mailer = smtp_mailer(&sink);
    let mut ids = Vec::new();
    for n in 0..3 {
        let sent = mailer
            .send(&sample_mail(&format!("it{n}@acme.example")))
            .await
            .expect("sent");
        ids.push(sent.message_id);
    }
    let received = sink.messages();
    let recipients: Vec<_> = received.iter().map(|m| m.rcpt_to.clone()).collect();
    assert_eq!(
        recipients,
        [
            ["it0@acme.example"],
            ["it1@acme.example"],
            ["it2@acme.example"]
        ]
    );
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "distinct Message-IDs");
}

#[tokio::test]
async fn a_recipient_refused_with_550_is_a_permanent_rejection() {
    let sink = SmtpSink::start().await;
    sink.reject_recipient("gone@acme.example");
    let mailer = smtp_mailer(&sink);

    let err = mailer
        .send(&sample_mail("Gone@acme.example"))
        .await
        .expect_err("refused");

    match &err {
        MailError::Rejected { reason } => assert!(reason.contains("550"), "{reason}"),
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert!(!err.is_transient());
    assert!(sink.messages().is_empty());

    // The mailer keeps working for other recipients afterwards.
    mailer
        .send(&sample_mail("ok@acme.example"))
        .await
        .expect("sent");
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn a_451_is_transient_and_a_later_attempt_succeeds() {
    let sink = SmtpSink::start().await;
    sink.fail_next(1);
    let mailer = smtp_mailer(&sink);
    let mail = sample_mail("it@acme.example");

    let err = mailer.send(&mail).await.expect_err("deferred");
    match &err {
        MailError::Transient { reason } => assert!(reason.contains("451"), "{reason}"),
        other => panic!("expected Transient, got {other:?}"),
    }
    assert!(err.is_transient());
    assert_eq!(sink.deferred_count(), 1);
    assert!(sink.messages().is_empty());

    mailer.send(&mail).await.expect("the retry is accepted");
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn no_server_listening_is_transient() {
    // Bind a port, then free it, so nothing listens there.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let mailer = Mailer::new(
        &MailConfig::Smtp {
            url: format!("smtp://127.0.0.1:{port}"),
        },
        FROM,
    )
    .expect("mailer");
    let err = mailer
        .send(&sample_mail("it@acme.example"))
        .await
        .expect_err("connection refused");
    assert!(matches!(err, MailError::Transient { .. }), "{err:?}");
    assert!(mailer.check().await.is_err());
}

#[tokio::test]
async fn check_succeeds_against_a_live_server() {
    let sink = SmtpSink::start().await;
    smtp_mailer(&sink).check().await.expect("server answers");
}

#[tokio::test]
async fn bad_configuration_is_refused_up_front() {
    let bad_url = Mailer::new(
        &MailConfig::Smtp {
            url: "ftp://mail.example".to_owned(),
        },
        FROM,
    );
    assert!(matches!(bad_url, Err(MailError::Config(_))), "{bad_url:?}");

    let outbox = MailConfig::Outbox {
        dir: std::env::temp_dir(),
    };
    for from in [
        "not an address",
        "Smart Core Connect <no-reply@localhost>\r\nBcc: evil@attacker.test",
        "",
    ] {
        let result = Mailer::new(&outbox, from);
        assert!(
            matches!(result, Err(MailError::Config(_))),
            "{from:?}: {result:?}"
        );
    }
    let plain = Mailer::new(&outbox, "no-reply@localhost").expect("a bare address is fine");
    assert_eq!(plain.from_address(), "no-reply@localhost");
}

#[test]
fn an_smtp_mailer_outside_a_runtime_is_a_config_error_not_a_panic() {
    let result = Mailer::new(
        &MailConfig::Smtp {
            url: "smtp://127.0.0.1:2525".to_owned(),
        },
        FROM,
    );
    assert!(matches!(result, Err(MailError::Config(_))), "{result:?}");
}

#[tokio::test]
async fn tls_urls_build_with_the_ring_provider_and_debug_hides_the_password() {
    for url in [
        "smtps://mailer:s3cret-pw@mail.example",
        "smtp://mail.example:587?tls=required",
        "smtp://mail.example?tls=opportunistic",
    ] {
        let mailer = Mailer::new(
            &MailConfig::Smtp {
                url: url.to_owned(),
            },
            FROM,
        )
        .unwrap_or_else(|e| panic!("{url}: {e}"));
        let shown = format!("{mailer:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("smtp"), "{shown}");
    }
}

#[tokio::test]
async fn requiring_tls_from_a_server_without_starttls_fails_without_sending() {
    let sink = SmtpSink::start().await;
    let mailer = Mailer::new(
        &MailConfig::Smtp {
            url: format!("{}?tls=required", sink.url()),
        },
        FROM,
    )
    .expect("mailer");
    let err = mailer
        .send(&sample_mail("it@acme.example"))
        .await
        .expect_err("no STARTTLS offered");
    assert!(matches!(err, MailError::Transient { .. }), "{err:?}");
    assert!(sink.messages().is_empty(), "nothing sent in clear text");
}
