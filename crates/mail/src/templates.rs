//! The messages IT contacts receive, each built from a plain data struct by a compiled askama
//! template: a text/plain part and an auto-escaped, inline-styled text/html part. Every message
//! says why the recipient gets it (they are an IT contact) and that this gives them no access.

use askama::Template;

use crate::OutgoingMail;

mod trust;
pub use trust::{
    AdminNoticeMail, ReconfirmMail, WelcomeMail, admin_notice, as_test_alert, reconfirm, welcome,
    with_not_me_link,
};

/// Data for a certificate-expiry reminder (D6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateReminderMail {
    pub org_name: String,
    pub recipient_email: String,
    pub recipient_name: Option<String>,
    /// The certificate's subject, e.g. `CN=idp.example.com`.
    pub certificate_subject: String,
    pub fingerprint_sha256: String,
    /// The certificate's notAfter, already formatted for people.
    pub not_after: String,
    /// How far notAfter is from the moment the mail is sent ([`TimeLeft::between`]).
    pub time_left: TimeLeft,
    /// Where an administrator uploads the new certificate: the organisation's Single Sign-On
    /// page (`/orgs/{org}/settings/sso`).
    pub settings_url: String,
    /// Whether the identity provider still signs with it ("Still in use: 47 sign-ins in the
    /// last 7 days, the last on 3 December 2026"), so the IT contact knows which one matters.
    pub in_use: Option<String>,
}

/// How far a certificate's notAfter is from the moment a mail about it is sent, in the words
/// of a reminder. The one computation behind every reminder and test alert (issue 23).
///
/// Whole days, rounded to the nearest day (half a day rounds up): 5 days 1 hour is "in 5
/// days", 4 days 20 hours is "in 5 days", 1 day 2 hours is "in 1 day" (never "tomorrow":
/// whose tomorrow it is depends on the reader's time zone, and the mail gives the UTC time),
/// 23 hours is "in 1 day". Under 12 hours either side of notAfter there is no whole day to
/// state: "expires within 12 hours" before, "has just expired" after. After expiry the same
/// rounding counts the days since: 7 days 2 hours after is "expired 7 days ago".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeLeft {
    /// Whole days to go (positive) or gone (negative), as above; 0 within 12 hours.
    pub days: i64,
    /// Whether notAfter has passed (at notAfter itself it has).
    pub expired: bool,
}

impl TimeLeft {
    /// The time left at `now_ms` until `not_after_ms` (both Unix milliseconds).
    pub fn between(now_ms: i64, not_after_ms: i64) -> Self {
        const DAY: i64 = 86_400_000;
        let remaining = not_after_ms.saturating_sub(now_ms);
        let whole = (remaining.unsigned_abs().saturating_add(DAY as u64 / 2) / DAY as u64) as i64;
        if remaining > 0 {
            TimeLeft {
                days: whole,
                expired: false,
            }
        } else {
            TimeLeft {
                days: -whole,
                expired: true,
            }
        }
    }

    /// `days` days before expiry (after it, when negative), to the minute: for examples and tests.
    pub fn days(days: i64) -> Self {
        TimeLeft {
            days,
            expired: days < 0,
        }
    }
}

/// Data for the notice that a later certificate replaced the one reminders were about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRenewedMail {
    pub org_name: String,
    pub recipient_email: String,
    pub recipient_name: Option<String>,
    pub old_fingerprint: String,
    pub new_fingerprint: String,
    /// The new certificate's notAfter, already formatted for people.
    pub new_not_after: String,
}

/// Data for a setup link (D7): a signed, read-only link to the SSO setup details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupLinkMail {
    pub org_name: String,
    pub recipient_email: String,
    pub recipient_name: Option<String>,
    pub link_url: String,
    /// When the link stops working (72 hours after sending), already formatted for people.
    pub expires_at: String,
}

/// Where a certificate stands relative to its notAfter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// At least 12 hours to go: "expires in N days".
    Before,
    /// Under 12 hours to go.
    Hours,
    /// Expired under 12 hours ago.
    JustExpired,
    /// Expired at least 12 hours ago: "expired N days ago".
    After,
}

#[derive(Template)]
#[template(path = "certificate_reminder.txt")]
struct ReminderText<'a> {
    mail: &'a CertificateReminderMail,
    greeting: String,
    phase: Phase,
    days: String,
    settings_url: &'a str,
}

#[derive(Template)]
#[template(path = "certificate_reminder.html")]
struct ReminderHtml<'a> {
    mail: &'a CertificateReminderMail,
    greeting: String,
    phase: Phase,
    days: String,
    settings_url: &'a str,
}

#[derive(Template)]
#[template(path = "certificate_renewed.txt")]
struct RenewedText<'a> {
    mail: &'a CertificateRenewedMail,
    greeting: String,
}

#[derive(Template)]
#[template(path = "certificate_renewed.html")]
struct RenewedHtml<'a> {
    mail: &'a CertificateRenewedMail,
    greeting: String,
}

#[derive(Template)]
#[template(path = "setup_link.txt")]
struct SetupLinkText<'a> {
    mail: &'a SetupLinkMail,
    greeting: String,
    link_url: &'a str,
}

#[derive(Template)]
#[template(path = "setup_link.html")]
struct SetupLinkHtml<'a> {
    mail: &'a SetupLinkMail,
    greeting: String,
    link_url: &'a str,
}

/// A reminder that the organisation's SSO certificate expires soon, within hours, or has expired.
pub fn certificate_reminder(data: &CertificateReminderMail) -> OutgoingMail {
    let phase = match (data.time_left.expired, data.time_left.days) {
        (false, d) if d > 0 => Phase::Before,
        (false, _) => Phase::Hours,
        (true, 0) => Phase::JustExpired,
        (true, _) => Phase::After,
    };
    let days = day_count(data.time_left.days.unsigned_abs());
    let org = one_line(&data.org_name);
    let subject = match phase {
        Phase::Before => {
            format!("Action needed: the SSO certificate for {org} expires in {days}")
        }
        Phase::Hours => {
            format!("Action needed today: the SSO certificate for {org} expires within 12 hours")
        }
        Phase::JustExpired => format!("Urgent: the SSO certificate for {org} has expired"),
        Phase::After => format!("Urgent: the SSO certificate for {org} expired {days} ago"),
    };
    let greeting = greeting(data.recipient_name.as_deref());
    let settings_url = web_url(&data.settings_url);
    OutgoingMail {
        to: data.recipient_email.clone(),
        to_name: display_name(data.recipient_name.as_deref()),
        subject,
        text: render(&ReminderText {
            mail: data,
            greeting: greeting.clone(),
            phase,
            days: days.clone(),
            settings_url,
        }),
        html: render(&ReminderHtml {
            mail: data,
            greeting,
            phase,
            days,
            settings_url,
        }),
    }
}

/// A notice that a later certificate replaced the one the reminders were about.
pub fn certificate_renewed(data: &CertificateRenewedMail) -> OutgoingMail {
    let greeting = greeting(data.recipient_name.as_deref());
    OutgoingMail {
        to: data.recipient_email.clone(),
        to_name: display_name(data.recipient_name.as_deref()),
        subject: format!(
            "Renewed: the SSO certificate for {} has been replaced",
            one_line(&data.org_name)
        ),
        text: render(&RenewedText {
            mail: data,
            greeting: greeting.clone(),
        }),
        html: render(&RenewedHtml {
            mail: data,
            greeting,
        }),
    }
}

/// A read-only link to the organisation's SSO setup details, valid 72 hours.
pub fn setup_link(data: &SetupLinkMail) -> OutgoingMail {
    let greeting = greeting(data.recipient_name.as_deref());
    let link_url = web_url(&data.link_url);
    OutgoingMail {
        to: data.recipient_email.clone(),
        to_name: display_name(data.recipient_name.as_deref()),
        subject: format!(
            "Single sign-on setup details for {}",
            one_line(&data.org_name)
        ),
        text: render(&SetupLinkText {
            mail: data,
            greeting: greeting.clone(),
            link_url,
        }),
        html: render(&SetupLinkHtml {
            mail: data,
            greeting,
            link_url,
        }),
    }
}

/// Data for an invitation to join an organisation (issue 12): a single-use link, 7 days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationMail {
    pub org_name: String,
    pub recipient_email: String,
    /// Who invited them; none when invited from the command line.
    pub inviter_name: Option<String>,
    /// Invited as an administrator (else as a member).
    pub administrator: bool,
    pub link_url: String,
    /// When the link stops working, already formatted for people.
    pub expires_at: String,
}

#[derive(Template)]
#[template(path = "invitation.txt")]
struct InvitationText<'a> {
    mail: &'a InvitationMail,
    greeting: String,
    inviter: String,
    role: &'a str,
    link_url: &'a str,
}

#[derive(Template)]
#[template(path = "invitation.html")]
struct InvitationHtml<'a> {
    mail: &'a InvitationMail,
    greeting: String,
    inviter: String,
    role: &'a str,
    link_url: &'a str,
}

/// An invitation to join an organisation, naming it and who invited them. Names are put on
/// one line (no header or line can be started by them) and escaped in the HTML part.
pub fn invitation(data: &InvitationMail) -> OutgoingMail {
    let inviter =
        display_name(data.inviter_name.as_deref()).unwrap_or_else(|| "An administrator".to_owned());
    let role = if data.administrator {
        "an administrator"
    } else {
        "a member"
    };
    let link_url = web_url(&data.link_url);
    let org = one_line(&data.org_name);
    OutgoingMail {
        to: data.recipient_email.clone(),
        to_name: None,
        subject: format!("{inviter} invited you to join {org} in Smart Core Connect"),
        text: render(&InvitationText {
            mail: data,
            greeting: greeting(None),
            inviter: inviter.clone(),
            role,
            link_url,
        }),
        html: render(&InvitationHtml {
            mail: data,
            greeting: greeting(None),
            inviter,
            role,
            link_url,
        }),
    }
}

pub(crate) fn render(template: &impl Template) -> String {
    // The templates only display strings and integers, whose formatting cannot fail.
    template
        .render()
        .unwrap_or_else(|e| panic!("a mail template failed to render: {e}"))
}

fn day_count(days: u64) -> String {
    if days == 1 {
        "1 day".to_owned()
    } else {
        format!("{days} days")
    }
}

pub(crate) fn greeting(name: Option<&str>) -> String {
    match display_name(name) {
        Some(name) => format!("Hello {name},"),
        None => "Hello,".to_owned(),
    }
}

/// The recipient's name on one line, or none when it is blank.
pub(crate) fn display_name(name: Option<&str>) -> Option<String> {
    name.map(one_line).filter(|name| !name.is_empty())
}

/// Text meant for a header or a heading on one line: control characters (CR, LF, tab, ...)
/// become spaces and runs of white space collapse, so stored text can never start a new header.
pub(crate) fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_control() || c.is_whitespace())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Only http(s) URLs become links; anything else (a `javascript:` URL, say) is left out.
pub(crate) fn web_url(url: &str) -> &str {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    if (lower.starts_with("https://") || lower.starts_with("http://"))
        && !url.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        url
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_removes_line_breaks_and_collapses_space() {
        assert_eq!(
            one_line(" Acme\r\nBcc: x@evil.test\t Ltd "),
            "Acme Bcc: x@evil.test Ltd"
        );
        assert_eq!(one_line("\r\n"), "");
    }

    #[test]
    fn day_count_is_singular_for_one() {
        assert_eq!(day_count(1), "1 day");
        assert_eq!(day_count(0), "0 days");
        assert_eq!(day_count(14), "14 days");
    }

    #[test]
    fn web_url_keeps_http_links_only() {
        assert_eq!(
            web_url("https://sc.example/x?a=1&b=2"),
            "https://sc.example/x?a=1&b=2"
        );
        assert_eq!(web_url("javascript:alert(1)"), "");
        assert_eq!(web_url("https://a\r\n.example"), "");
    }

    #[test]
    fn blank_names_give_a_plain_greeting() {
        assert_eq!(greeting(None), "Hello,");
        assert_eq!(greeting(Some("  ")), "Hello,");
        assert_eq!(greeting(Some("Ada\nLovelace")), "Hello Ada Lovelace,");
    }
}
