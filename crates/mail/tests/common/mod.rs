//! Helpers shared by the mail tests: sample messages and RFC 5322 parsing with mail-parser.

#![allow(dead_code)]

use mail_parser::{Message, MessageParser, MimeHeaders};
use smartcore_mail::{CertificateReminderMail, OutgoingMail, TimeLeft};

pub const FROM: &str = "Smart Core Connect <no-reply@localhost>";

pub fn sample_mail(to: &str) -> OutgoingMail {
    OutgoingMail {
        to: to.to_owned(),
        to_name: Some("Zoë Müller".to_owned()),
        subject: "Zertifikat läuft ab: Größe ✓ — ünïcödé".to_owned(),
        text: "Plain body: ünïcödé\n.a line starting with a dot\nlast line".to_owned(),
        html: "<p>HTML body: <strong>ünïcödé</strong></p>".to_owned(),
    }
}

pub fn reminder(days_left: i64) -> CertificateReminderMail {
    CertificateReminderMail {
        org_name: "Acme Widgets Ltd".to_owned(),
        recipient_email: "it@acme.example".to_owned(),
        recipient_name: Some("Ada Lovelace".to_owned()),
        certificate_subject: "CN=idp.acme.example, O=Acme".to_owned(),
        fingerprint_sha256: "AB:CD:EF:01:23:45:67:89".to_owned(),
        not_after: "14 December 2026".to_owned(),
        time_left: TimeLeft::days(days_left),
        settings_url: "https://connect.example/settings/organisation/authentication".to_owned(),
        in_use: None,
    }
}

pub fn parse(bytes: &[u8]) -> Message<'_> {
    MessageParser::default()
        .parse(bytes)
        .expect("the message parses as RFC 5322")
}

/// The names of the top-level headers, lower-cased, in order.
pub fn header_names(message: &Message<'_>) -> Vec<String> {
    message
        .headers()
        .iter()
        .map(|h| h.name().to_ascii_lowercase())
        .collect()
}

/// Asserts the shape every message must have: the expected headers (and no others), a
/// multipart/alternative body with UTF-8 text/plain and text/html parts.
pub fn assert_well_formed(message: &Message<'_>) {
    let mut names = header_names(message);
    names.sort();
    assert_eq!(
        names,
        [
            "auto-submitted",
            "content-type",
            "date",
            "from",
            "message-id",
            "mime-version",
            "subject",
            "to"
        ],
        "exactly the expected top-level headers"
    );
    let root = message
        .root_part()
        .content_type()
        .expect("root content type");
    assert_eq!(root.ctype(), "multipart");
    assert_eq!(root.subtype(), Some("alternative"));
    assert_eq!(message.text_body_count(), 1);
    assert_eq!(message.html_body_count(), 1);
    let text = message.text_part(0).expect("text part");
    let text_type = text.content_type().expect("text part content type");
    assert_eq!(
        (text_type.ctype(), text_type.subtype()),
        ("text", Some("plain"))
    );
    assert_eq!(
        text_type.attribute("charset").map(str::to_ascii_lowercase),
        Some("utf-8".to_owned())
    );
    let html = message.html_part(0).expect("html part");
    let html_type = html.content_type().expect("html part content type");
    assert_eq!(
        (html_type.ctype(), html_type.subtype()),
        ("text", Some("html"))
    );
    assert!(message.date().is_some(), "a Date header");
    assert_eq!(
        message.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-generated"),
        "RFC 3834: an automated message"
    );
    let from = message
        .from()
        .and_then(|a| a.first())
        .expect("a From address");
    assert_eq!(from.address(), Some("no-reply@localhost"));
    assert_eq!(from.name(), Some("Smart Core Connect"));
}
