//! What the three messages say, and that user-provided text is escaped in their HTML.

mod common;

use common::reminder;
use smartcore_mail::{
    CertificateRenewedMail, SetupLinkMail, certificate_reminder, certificate_renewed, setup_link,
};

/// Text with runs of white space (line wrapping in the templates) collapsed to single spaces.
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Decodes the character references askama writes (`&#60;`, `&lt;`, ...), as a browser would.
fn decode_entities(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let end = after.find(';').expect("a terminated character reference");
        let entity = &after[1..end];
        let decoded = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            numeric => {
                let code = numeric.strip_prefix('#').expect("a numeric reference");
                let code = match code.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16),
                    None => code.parse(),
                }
                .expect("a number");
                char::from_u32(code).expect("a character")
            }
        };
        out.push(decoded);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn assert_says_why_and_no_access(part: &str, org: &str) {
    let part = flat(part);
    assert!(
        part.contains(&format!("you are listed as an IT contact for {org}"))
            || part.contains(&format!("You are listed as an IT contact for {org}")),
        "{part}"
    );
    assert!(
        part.contains("it gives you no access to Smart Core Connect"),
        "{part}"
    );
}

#[test]
fn a_reminder_before_expiry_names_the_organisation_certificate_date_and_what_to_do() {
    let data = reminder(30);
    let mail = certificate_reminder(&data);

    assert_eq!(mail.to, "it@acme.example");
    assert_eq!(mail.to_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(
        mail.subject,
        "Action needed: the SSO certificate for Acme Widgets Ltd expires in 30 days"
    );
    for part in [&mail.text, &mail.html] {
        let flat = flat(part);
        assert!(flat.contains("Hello Ada Lovelace,"), "{flat}");
        assert!(flat.contains("Acme Widgets Ltd"));
        assert!(
            flat.contains("expires in 30 days, on 14 December 2026"),
            "{flat}"
        );
        assert!(flat.contains("CN=idp.acme.example, O=Acme"));
        assert!(flat.contains("AB:CD:EF:01:23:45:67:89"));
        assert!(flat.contains("Renew the signing certificate with your identity provider"));
        assert!(flat.contains("on the Single Sign-On page"), "{flat}");
        assert!(flat.contains("https://connect.example/settings/organisation/authentication"));
        assert!(!flat.contains("expired"), "no after-expiry wording: {flat}");
        assert_says_why_and_no_access(part, "Acme Widgets Ltd");
    }
    assert!(
        mail.html
            .contains("<a href=\"https://connect.example/settings/organisation/authentication\"")
    );
}

#[test]
fn a_reminder_for_one_day_left_is_singular() {
    let mail = certificate_reminder(&reminder(1));
    assert!(
        mail.subject.ends_with("expires in 1 day"),
        "{}",
        mail.subject
    );
    assert!(flat(&mail.text).contains("expires in 1 day, on 14 December 2026"));
}

#[test]
fn a_reminder_within_hours_of_expiry_says_so() {
    let mail = certificate_reminder(&reminder(0));
    assert_eq!(
        mail.subject,
        "Action needed today: the SSO certificate for Acme Widgets Ltd expires within 12 hours"
    );
    for part in [&mail.text, &mail.html] {
        let flat = flat(part);
        assert!(
            flat.contains("expires within 12 hours, on 14 December 2026"),
            "{flat}"
        );
        assert!(!flat.contains("expires in "), "{flat}");
        assert_says_why_and_no_access(part, "Acme Widgets Ltd");
    }
}

#[test]
fn a_reminder_just_after_expiry_says_it_has_expired() {
    let mut data = reminder(0);
    data.time_left = smartcore_mail::TimeLeft::between(1_000_000, 1_000_000);
    let mail = certificate_reminder(&data);
    assert_eq!(
        mail.subject,
        "Urgent: the SSO certificate for Acme Widgets Ltd has expired"
    );
    let flat = flat(&mail.text);
    assert!(
        flat.contains("has just expired, on 14 December 2026"),
        "{flat}"
    );
}

#[test]
fn the_time_left_is_whole_days_rounded_to_the_nearest() {
    use smartcore_mail::TimeLeft;
    const H: i64 = 3_600_000;
    let not_after = 1_000 * 24 * H;
    let at = |hours_before: i64| TimeLeft::between(not_after - hours_before * H, not_after);
    let left = |days, expired| TimeLeft { days, expired };
    assert_eq!(at(5 * 24 + 1), left(5, false), "5 days 1 hour");
    assert_eq!(at(4 * 24 + 20), left(5, false), "4 days 20 hours");
    assert_eq!(at(24 + 2), left(1, false), "1 day 2 hours");
    assert_eq!(at(23), left(1, false), "23 hours");
    assert_eq!(at(12), left(1, false), "12 hours");
    assert_eq!(at(11), left(0, false), "11 hours");
    assert_eq!(at(0), left(0, true), "at notAfter");
    assert_eq!(at(-11), left(0, true));
    assert_eq!(at(-(3 * 24 + 1)), left(-3, true), "3 days 1 hour after");
    assert_eq!(at(-(7 * 24 + 2)), left(-7, true));
}

#[test]
fn a_reminder_after_expiry_says_how_long_ago_and_that_it_may_stop_working() {
    let mail = certificate_reminder(&reminder(-8));
    assert_eq!(
        mail.subject,
        "Urgent: the SSO certificate for Acme Widgets Ltd expired 8 days ago"
    );
    for part in [&mail.text, &mail.html] {
        let flat = flat(part);
        assert!(
            flat.contains(
                "expired 8 days ago, on 14 December 2026; it may stop working at any moment"
            ),
            "{flat}"
        );
        assert!(flat.contains("on the Single Sign-On page"), "{flat}");
        assert_says_why_and_no_access(part, "Acme Widgets Ltd");
    }
}

#[test]
fn user_text_is_escaped_in_the_html_part_but_kept_in_the_text_part() {
    let mut data = reminder(7);
    data.org_name = "<script>alert('x')</script> & Co".to_owned();
    data.recipient_name = Some("<b>Eve</b>".to_owned());
    data.certificate_subject = "CN=\"><img src=x onerror=alert(1)>".to_owned();
    let mail = certificate_reminder(&data);

    assert!(!mail.html.contains("<script>"), "{}", mail.html);
    assert!(!mail.html.contains("<b>Eve"), "{}", mail.html);
    assert!(!mail.html.contains("<img"), "{}", mail.html);
    assert!(
        !mail.html.contains("& Co"),
        "a bare ampersand: {}",
        mail.html
    );
    // Escaped, not dropped: a mail client shows exactly what was typed.
    let shown = decode_entities(&mail.html);
    assert!(
        shown.contains("<strong><script>alert('x')</script> & Co</strong>"),
        "{shown}"
    );
    assert!(shown.contains("Hello <b>Eve</b>,"), "{shown}");
    assert!(
        shown.contains("CN=\"><img src=x onerror=alert(1)>"),
        "{shown}"
    );
    // The plain-text part shows the text as typed.
    assert!(mail.text.contains("<script>alert('x')</script> & Co"));
    assert!(mail.text.contains("Hello <b>Eve</b>,"));
}

#[test]
fn a_reminder_without_a_name_or_with_a_non_web_link_degrades_safely() {
    let mut data = reminder(14);
    data.recipient_name = None;
    data.settings_url = "javascript:alert(1)".to_owned();
    let mail = certificate_reminder(&data);
    assert_eq!(mail.to_name, None);
    assert!(mail.text.starts_with("Hello,\n"), "{}", mail.text);
    assert!(!mail.html.contains("javascript:"), "{}", mail.html);
    assert!(!mail.text.contains("javascript:"), "{}", mail.text);
    assert!(flat(&mail.text).contains("on the Single Sign-On page"));
}

#[test]
fn the_renewed_notice_gives_both_fingerprints_and_says_nothing_is_needed() {
    let mail = certificate_renewed(&CertificateRenewedMail {
        org_name: "Acme Widgets Ltd".to_owned(),
        recipient_email: "it@acme.example".to_owned(),
        recipient_name: None,
        old_fingerprint: "AA:AA:AA".to_owned(),
        new_fingerprint: "BB:BB:BB".to_owned(),
        new_not_after: "1 March 2028".to_owned(),
    });
    assert_eq!(mail.to, "it@acme.example");
    assert_eq!(
        mail.subject,
        "Renewed: the SSO certificate for Acme Widgets Ltd has been replaced"
    );
    for part in [&mail.text, &mail.html] {
        let flat = flat(part);
        assert!(flat.contains("AA:AA:AA") && flat.contains("BB:BB:BB"));
        assert!(flat.contains("1 March 2028"));
        assert!(
            flat.contains("No action is needed")
                || flat.contains("<strong>No action is needed</strong>")
        );
        assert_says_why_and_no_access(part, "Acme Widgets Ltd");
    }
}

#[test]
fn the_setup_link_mail_carries_the_link_its_72_hour_validity_and_why() {
    let link = "https://connect.example/setup/abc?sig=1&exp=2";
    let mail = setup_link(&SetupLinkMail {
        org_name: "Acme Widgets Ltd".to_owned(),
        recipient_email: "it@acme.example".to_owned(),
        recipient_name: Some("Ada".to_owned()),
        link_url: link.to_owned(),
        expires_at: "17 November 2026, 10:00 UTC".to_owned(),
    });
    assert_eq!(
        mail.subject,
        "Single sign-on setup details for Acme Widgets Ltd"
    );
    assert!(mail.text.contains(link));
    // In HTML the & of the query string is written as a character reference, which browsers decode.
    assert!(!mail.html.contains("sig=1&exp"), "{}", mail.html);
    assert!(
        decode_entities(&mail.html).contains(&format!("<a href=\"{link}\"")),
        "{}",
        mail.html
    );
    for part in [&mail.text, &mail.html] {
        let flat = flat(part);
        assert!(flat.contains("read-only"), "{flat}");
        assert!(
            flat.contains("72 hours, until 17 November 2026, 10:00 UTC"),
            "{flat}"
        );
        assert!(
            flat.contains("entity ID") && flat.contains("ACS URL"),
            "{flat}"
        );
        assert_says_why_and_no_access(part, "Acme Widgets Ltd");
    }
}
