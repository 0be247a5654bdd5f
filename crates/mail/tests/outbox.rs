//! The outbox: one parseable RFC 5322 file per message, named to sort by time and never collide,
//! and no way for user text to add a header.

mod common;

use std::path::{Path, PathBuf};

use common::{FROM, assert_well_formed, header_names, parse, reminder, sample_mail};
use smartcore_mail::{MailConfig, MailError, Mailer, OutgoingMail, certificate_reminder};

fn outbox_mailer(dir: &Path) -> Mailer {
    Mailer::new(
        &MailConfig::Outbox {
            dir: dir.to_path_buf(),
        },
        FROM,
    )
    .expect("mailer")
}

/// Every entry in the directory, sorted by name.
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<_> = match std::fs::read_dir(dir) {
        Ok(read) => read.map(|e| e.expect("entry").path()).collect(),
        Err(_) => Vec::new(),
    };
    paths.sort();
    paths
}

#[tokio::test]
async fn a_message_becomes_one_parseable_eml_file_in_a_new_directory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("smartcore-data").join("outbox");
    let mailer = outbox_mailer(&dir);
    let mail = sample_mail("it@acme.example");

    let sent = mailer.send(&mail).await.expect("written");

    let files = entries(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].extension().and_then(|e| e.to_str()), Some("eml"));
    let bytes = std::fs::read(&files[0]).expect("read");
    let message = parse(&bytes);
    assert_well_formed(&message);
    assert_eq!(message.subject(), Some(mail.subject.as_str()));
    assert_eq!(
        format!("<{}>", message.message_id().expect("Message-ID")),
        sent.message_id
    );
    let to = message.to().and_then(|a| a.first()).expect("To");
    assert_eq!(to.address(), Some("it@acme.example"));
    assert_eq!(to.name(), Some("Zoë Müller"));
    assert!(message.body_text(0).expect("text").contains("ünïcödé"));
    assert!(
        message
            .body_html(0)
            .expect("html")
            .contains("<strong>ünïcödé</strong>")
    );
    // Lines end in CRLF, as RFC 5322 requires.
    assert!(bytes.windows(2).any(|w| w == b"\r\n"));
    assert!(
        !bytes
            .iter()
            .enumerate()
            .any(|(i, &b)| b == b'\n' && (i == 0 || bytes[i - 1] != b'\r'))
    );
}

#[tokio::test]
async fn files_sort_in_sending_order_never_collide_and_leave_no_temporary_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mailer = std::sync::Arc::new(outbox_mailer(tmp.path()));

    // Sequential sends: the file names sort in the order the messages were sent.
    let mut ids = Vec::new();
    for n in 0..5 {
        let sent = mailer
            .send(&sample_mail(&format!("seq{n}@acme.example")))
            .await
            .expect("written");
        ids.push(sent.message_id);
    }
    let names: Vec<_> = entries(tmp.path());
    let recipients: Vec<String> = names
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p).expect("read");
            let message = parse(&bytes);
            let to = message.to().and_then(|a| a.first()).expect("To");
            to.address().expect("address").to_owned()
        })
        .collect();
    assert_eq!(
        recipients,
        (0..5)
            .map(|n| format!("seq{n}@acme.example"))
            .collect::<Vec<_>>()
    );

    // Concurrent sends: every one gets its own file.
    let tasks: Vec<_> = (0..40)
        .map(|n| {
            let mailer = std::sync::Arc::clone(&mailer);
            tokio::spawn(async move {
                mailer
                    .send(&sample_mail(&format!("par{n}@acme.example")))
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("join").expect("written");
    }
    let all = entries(tmp.path());
    assert_eq!(all.len(), 45);
    for path in &all {
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        assert!(name.ends_with(".eml") && !name.starts_with('.'), "{name}");
        let (millis, _) = name.split_once('-').expect("time prefix");
        assert_eq!(millis.len(), 13, "fixed-width millisecond prefix: {name}");
        assert!(millis.bytes().all(|b| b.is_ascii_digit()), "{name}");
    }
}

async fn refused(mail: OutgoingMail) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mailer = outbox_mailer(tmp.path());
    let err = mailer.send(&mail).await.expect_err("refused");
    assert!(matches!(err, MailError::Rejected { .. }), "{err:?}");
    assert!(entries(tmp.path()).is_empty(), "nothing written");
}

#[tokio::test]
async fn a_line_break_in_the_subject_is_refused() {
    let mut mail = sample_mail("it@acme.example");
    mail.subject = "Hello\r\nBcc: evil@attacker.test".to_owned();
    refused(mail).await;
}

#[tokio::test]
async fn a_line_break_in_the_recipient_name_is_refused() {
    let mut mail = sample_mail("it@acme.example");
    mail.to_name = Some("Eve\nBcc: evil@attacker.test".to_owned());
    refused(mail).await;
}

#[tokio::test]
async fn an_invalid_or_smuggling_recipient_address_is_refused() {
    for to in [
        "it@acme.example\r\nBcc: evil@attacker.test",
        "it@acme.example, evil@attacker.test",
        "Eve <evil@attacker.test>",
        "not-an-address",
    ] {
        let mut mail = sample_mail("placeholder@acme.example");
        mail.to = to.to_owned();
        refused(mail).await;
    }
}

#[tokio::test]
async fn awkward_names_are_encoded_and_stay_one_recipient() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mailer = outbox_mailer(tmp.path());
    let mut mail = sample_mail("it@acme.example");
    let awkward = "O'Brien, \"IT\" <evil@attacker.test>; Zoë";
    mail.to_name = Some(awkward.to_owned());
    mail.subject = "Re: =?utf-8?B?aGk=?= <b>; Bcc: evil@attacker.test".to_owned();

    mailer.send(&mail).await.expect("written");

    let bytes = std::fs::read(&entries(tmp.path())[0]).expect("read");
    let message = parse(&bytes);
    assert_well_formed(&message);
    let to = message.to().expect("To");
    let list = to.as_list().expect("an address list");
    assert_eq!(list.len(), 1, "one recipient: {list:?}");
    assert_eq!(list[0].address(), Some("it@acme.example"));
    assert_eq!(list[0].name(), Some(awkward));
    assert!(!header_names(&message).iter().any(|h| h == "bcc"));
}

#[tokio::test]
async fn user_text_with_line_breaks_in_a_template_cannot_add_a_header() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mailer = outbox_mailer(tmp.path());
    let mut data = reminder(30);
    data.org_name = "Acme\r\nBcc: evil@attacker.test\r\nX-Injected: yes".to_owned();
    data.recipient_name = Some("Ada\r\nCc: evil@attacker.test".to_owned());

    mailer
        .send(&certificate_reminder(&data))
        .await
        .expect("the template makes the text safe, so it is sent");

    let bytes = std::fs::read(&entries(tmp.path())[0]).expect("read");
    let message = parse(&bytes);
    assert_well_formed(&message);
    let names = header_names(&message);
    for injected in ["bcc", "cc", "x-injected"] {
        assert!(
            !names.iter().any(|n| n == injected),
            "{injected} in {names:?}"
        );
    }
    assert_eq!(
        message.subject(),
        Some(
            "Action needed: the SSO certificate for Acme Bcc: evil@attacker.test X-Injected: yes \
             expires in 30 days"
        )
    );
    let to = message.to().and_then(|a| a.first()).expect("To");
    assert_eq!(to.address(), Some("it@acme.example"));
    assert_eq!(to.name(), Some("Ada Cc: evil@attacker.test"));
}
