//! The `text/calendar` attachment of certificate reminders (RFC 5545, iTIP RFC 5546): an
//! event at the certificate's exact expiry instant (`DTSTART` = notAfter, in UTC; no `DTEND`,
//! so it takes up no time: RFC 5545 §3.6.1), with display alarms 7 days and 1 day before, its
//! subject, fingerprint and what to do. The UID is derived from the organisation and the fingerprint only, so every reminder
//! about one certificate *updates* the same event (a higher `SEQUENCE` each time) instead of
//! adding another, and the renewed notice cancels it (`METHOD:CANCEL`, `STATUS:CANCELLED`).
//!
//! Text values are escaped by `icalendar` (backslash, comma, semicolon, newline); control
//! characters (a CR, say) are turned into spaces first, so nothing typed by a user can start a
//! property of its own.

use chrono::{DateTime, Utc};
use icalendar::{Alarm, Calendar, Component, EventLike, EventStatus, Property};

/// What the calendar event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateEvent {
    pub org_id: String,
    pub org_name: String,
    pub certificate_subject: String,
    pub fingerprint_sha256: String,
    /// The certificate's notAfter: the event's start.
    pub expires_at: time::OffsetDateTime,
    /// Where an administrator uploads the new certificate.
    pub settings_url: String,
    /// Orders updates: later reminders carry a higher number (see [`sequence_of`]).
    pub sequence: u32,
    /// The organiser, as `mailto:` (our sender address).
    pub organizer: String,
}

/// The stable UID of a certificate's event.
pub fn certificate_event_uid(org_id: &str, fingerprint_sha256: &str) -> String {
    let short: String = fingerprint_sha256
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(64)
        .collect::<String>()
        .to_ascii_lowercase();
    format!(
        "sso-certificate-{short}-{}@smartcore-connect",
        one_line(org_id)
    )
}

/// A `SEQUENCE` for the reminder `days_left` days before expiry: it grows as expiry nears and
/// keeps growing weekly after it, so each reminder's event supersedes the one before.
pub fn sequence_of(days_left: i64) -> u32 {
    u32::try_from(1000 - days_left.clamp(-900, 999)).unwrap_or(0)
}

fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_control() || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The instant in UTC, to the second (certificates' notAfter has no finer part).
fn utc(at: time::OffsetDateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(at.unix_timestamp(), 0).unwrap_or_default()
}

fn build(event: &CertificateEvent, cancel: bool) -> String {
    let expires = utc(event.expires_at);
    let org = one_line(&event.org_name);
    let subject = one_line(&event.certificate_subject);
    let fingerprint = one_line(&event.fingerprint_sha256);
    let summary = if cancel {
        format!("Cancelled: SSO certificate for {org} expires")
    } else {
        format!("SSO certificate for {org} expires")
    };
    let description = if cancel {
        format!(
            "The SSO signing certificate {subject} (SHA-256 {fingerprint}) of {org} has been replaced by a later one. Nothing more needs to be done for it."
        )
    } else {
        format!(
            "The SAML signing certificate that {org} uses for single sign-on to Smart Core Connect expires at this moment.\nCertificate: {subject}\nSHA-256 fingerprint: {fingerprint}\nWhat to do: renew the signing certificate with your identity provider, then upload the new certificate or metadata in Smart Core Connect on the Single Sign-On page: {}",
            one_line(&event.settings_url)
        )
    };
    let mut e = icalendar::Event::new();
    e.uid(&certificate_event_uid(
        &event.org_id,
        &event.fingerprint_sha256,
    ))
    .sequence(if cancel {
        event.sequence.saturating_add(1)
    } else {
        event.sequence
    })
    .summary(&summary)
    .description(&description)
    .starts(expires)
    .append_property(Property::new("ORGANIZER", one_line(&event.organizer)).done())
    .append_property(Property::new("TRANSP", "TRANSPARENT").done());
    if cancel {
        e.status(EventStatus::Cancelled);
    } else {
        e.status(EventStatus::Confirmed);
        // TRIGGER written as -P7D (not the crate's -PT604800S): the same duration, readable.
        for (days, trigger, words) in [(7, "-P7D", "in 7 days"), (1, "-P1D", "in 1 day")] {
            e.alarm(
                Alarm::display(
                    &format!("The SSO certificate for {org} expires {words}"),
                    -chrono::Duration::days(days),
                )
                .append_property(Property::new("TRIGGER", trigger).done())
                .done(),
            );
        }
    }
    let mut calendar = Calendar::new();
    calendar
        .append_property(Property::new("METHOD", if cancel { "CANCEL" } else { "PUBLISH" }).done())
        .push(e.done());
    calendar.done().to_string()
}

/// The event of a certificate reminder (`METHOD:PUBLISH`).
pub fn certificate_calendar(event: &CertificateEvent) -> String {
    build(event, false)
}

/// The cancellation of that event, sent with the renewed notice (`METHOD:CANCEL`).
pub fn certificate_calendar_cancel(event: &CertificateEvent) -> String {
    build(event, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use icalendar::{CalendarComponent, CalendarDateTime, DatePerhapsTime};

    fn event() -> CertificateEvent {
        CertificateEvent {
            org_id: "org_1".to_owned(),
            org_name: "Acme; Ltd, <b>\r\nBEGIN:VEVENT".to_owned(),
            certificate_subject: "CN=idp.acme.example".to_owned(),
            fingerprint_sha256: "AB:CD:EF".to_owned(),
            expires_at: time::macros::datetime!(2027-03-15 07:22:05 UTC),
            settings_url: "https://sc.example/orgs/org_1/settings/sso".to_owned(),
            sequence: sequence_of(30),
            organizer: "mailto:no-reply@sc.example".to_owned(),
        }
    }

    #[test]
    fn the_event_parses_back_with_its_date_and_uid_and_escapes_text() {
        let ics = certificate_calendar(&event());
        let starts = ics
            .lines()
            .filter(|l| l.trim_end() == "BEGIN:VEVENT")
            .count();
        assert_eq!(
            starts, 1,
            "one event, whatever the organisation's name says: {ics}"
        );
        assert!(ics.contains("\r\n"), "lines end in CRLF");
        assert!(ics.contains("Acme\\; Ltd\\, <b> BEGIN:VEVENT"), "{ics}");
        let parsed: Calendar = ics.parse().expect("RFC 5545");
        assert_eq!(parsed.property_value("METHOD"), Some("PUBLISH"));
        let CalendarComponent::Event(e) = &parsed.components[0] else {
            panic!("an event")
        };
        assert_eq!(
            e.get_start(),
            Some(DatePerhapsTime::DateTime(CalendarDateTime::Utc(
                "2027-03-15T07:22:05Z".parse().unwrap()
            ))),
            "a timed event at notAfter, in UTC: {ics}"
        );
        assert!(ics.contains("DTSTART:20270315T072205Z"), "{ics}");
        assert!(!ics.contains("DTEND"), "an instant: {ics}");
        let alarms: Vec<(String, Option<&str>, Option<&str>)> = e
            .components()
            .iter()
            .map(|a| {
                (
                    a.component_kind(),
                    a.property_value("ACTION"),
                    a.property_value("TRIGGER"),
                )
            })
            .collect();
        assert_eq!(
            alarms,
            [
                ("VALARM".to_owned(), Some("DISPLAY"), Some("-P7D")),
                ("VALARM".to_owned(), Some("DISPLAY"), Some("-P1D"))
            ],
            "alarms 7 days and 1 day before: {ics}"
        );
        assert_eq!(
            e.get_uid(),
            Some("sso-certificate-abcdef-org_1@smartcore-connect")
        );
        assert!(
            e.get_description()
                .unwrap()
                .contains("SHA-256 fingerprint: AB:CD:EF")
        );
    }

    #[tokio::test]
    async fn the_outbox_keeps_the_calendar_attachment() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = crate::Mailer::new(
            &crate::MailConfig::Outbox {
                dir: dir.path().to_owned(),
            },
            "Smart Core Connect <no-reply@sc.example>",
        )
        .unwrap();
        let mail = crate::OutgoingMail {
            to: "ada@acme.example".to_owned(),
            to_name: None,
            subject: "Reminder".to_owned(),
            text: "text".to_owned(),
            html: "<p>html</p>".to_owned(),
        };
        mailer
            .send_with_calendar(&mail, Some(&certificate_calendar(&event())))
            .await
            .unwrap();
        let file = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        let bytes = std::fs::read(file.path()).unwrap();
        use mail_parser::MimeHeaders;
        let message = mail_parser::MessageParser::default().parse(&bytes).unwrap();
        let attachment = message.attachment(0).expect("the calendar attachment");
        assert!(attachment.is_content_type("text", "calendar"));
        let ics = attachment.text_contents().unwrap();
        let parsed: Calendar = ics.parse().unwrap();
        assert_eq!(parsed.components.len(), 1);
        assert_eq!(message.body_text(0).unwrap(), "text");
    }

    #[test]
    fn later_reminders_update_and_the_renewal_cancels() {
        let first = certificate_calendar(&event());
        let later = certificate_calendar(&CertificateEvent {
            sequence: sequence_of(7),
            ..event()
        });
        let cancel = certificate_calendar_cancel(&CertificateEvent {
            sequence: sequence_of(7),
            ..event()
        });
        let uid = |ics: &str| {
            let c: Calendar = ics.parse().unwrap();
            let CalendarComponent::Event(e) = &c.components[0] else {
                panic!()
            };
            (e.get_uid().unwrap().to_owned(), e.get_sequence().unwrap())
        };
        assert_eq!(uid(&first).0, uid(&later).0);
        assert!(uid(&later).1 > uid(&first).1);
        assert!(uid(&cancel).1 > uid(&later).1);
        let c: Calendar = cancel.parse().unwrap();
        assert_eq!(c.property_value("METHOD"), Some("CANCEL"));
        assert!(cancel.contains("STATUS:CANCELLED"));
        assert!(sequence_of(-7) > sequence_of(0));
    }
}
