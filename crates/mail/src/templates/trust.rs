//! Messages of issue 16 ("alerts the contacts can trust"): the welcome of a new IT contact, the
//! re-confirmation request, the notice to administrators, the "Not me" link that every message
//! to a contact carries, and the marking of a test alert.

use askama::Template;

use super::{display_name, greeting, one_line, render, web_url};
use crate::OutgoingMail;
use smartcore_domain::markup::escape_html as html_escape;

/// Data for the welcome of a contact that has just been registered (Synced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WelcomeMail {
    pub org_name: String,
    pub recipient_email: String,
    pub recipient_name: Option<String>,
    /// Who added them (a name or an address).
    pub added_by: String,
    /// The one-click "I am the right person" link.
    pub confirm_url: String,
}

/// Data for "Are you still the right person?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconfirmMail {
    pub org_name: String,
    pub recipient_email: String,
    pub recipient_name: Option<String>,
    pub confirm_url: String,
}

/// Data for a notice to an administrator about one of the organisation's contacts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminNoticeMail {
    pub org_name: String,
    pub recipient_email: String,
    pub recipient_name: Option<String>,
    /// The subject, without the organisation (added here).
    pub subject: String,
    /// Plain-text paragraphs (escaped in the HTML part).
    pub paragraphs: Vec<String>,
    /// The organisation's Authentication page.
    pub settings_url: String,
}

#[derive(Template)]
#[template(path = "welcome.txt")]
struct WelcomeText<'a> {
    mail: &'a WelcomeMail,
    greeting: String,
    added_by: String,
    confirm_url: &'a str,
}

#[derive(Template)]
#[template(path = "welcome.html")]
struct WelcomeHtml<'a> {
    mail: &'a WelcomeMail,
    greeting: String,
    added_by: String,
    confirm_url: &'a str,
}

#[derive(Template)]
#[template(path = "reconfirm.txt")]
struct ReconfirmText<'a> {
    mail: &'a ReconfirmMail,
    greeting: String,
    confirm_url: &'a str,
}

#[derive(Template)]
#[template(path = "reconfirm.html")]
struct ReconfirmHtml<'a> {
    mail: &'a ReconfirmMail,
    greeting: String,
    confirm_url: &'a str,
}

#[derive(Template)]
#[template(path = "admin_notice.txt")]
struct AdminNoticeText<'a> {
    mail: &'a AdminNoticeMail,
    name: String,
    settings_url: &'a str,
}

#[derive(Template)]
#[template(path = "admin_notice.html")]
struct AdminNoticeHtml<'a> {
    mail: &'a AdminNoticeMail,
    name: String,
    subject: &'a str,
    settings_url: &'a str,
}

/// The welcome of a newly registered IT contact: who added them, for which organisation, what
/// they will receive, that it gives no access, and what to do if it is a mistake.
pub fn welcome(data: &WelcomeMail) -> OutgoingMail {
    let greeting = greeting(data.recipient_name.as_deref());
    let added_by = one_line(&data.added_by);
    let added_by = if added_by.is_empty() {
        "An administrator".to_owned()
    } else {
        added_by
    };
    let confirm_url = web_url(&data.confirm_url);
    OutgoingMail {
        to: data.recipient_email.clone(),
        to_name: display_name(data.recipient_name.as_deref()),
        subject: format!("You are now an IT contact of {}", one_line(&data.org_name)),
        text: render(&WelcomeText {
            mail: data,
            greeting: greeting.clone(),
            added_by: added_by.clone(),
            confirm_url,
        }),
        html: render(&WelcomeHtml {
            mail: data,
            greeting,
            added_by,
            confirm_url,
        }),
    }
}

/// "Are you still the right person?" with a one-click confirmation link.
pub fn reconfirm(data: &ReconfirmMail) -> OutgoingMail {
    let greeting = greeting(data.recipient_name.as_deref());
    let confirm_url = web_url(&data.confirm_url);
    OutgoingMail {
        to: data.recipient_email.clone(),
        to_name: display_name(data.recipient_name.as_deref()),
        subject: format!(
            "Are you still the right person for sign-on alerts of {}?",
            one_line(&data.org_name)
        ),
        text: render(&ReconfirmText {
            mail: data,
            greeting: greeting.clone(),
            confirm_url,
        }),
        html: render(&ReconfirmHtml {
            mail: data,
            greeting,
            confirm_url,
        }),
    }
}

/// A notice to an administrator about one of the organisation's IT contacts.
pub fn admin_notice(data: &AdminNoticeMail) -> OutgoingMail {
    let name = display_name(data.recipient_name.as_deref()).unwrap_or_default();
    let subject = format!("{} ({})", one_line(&data.subject), one_line(&data.org_name));
    let settings_url = web_url(&data.settings_url);
    OutgoingMail {
        to: data.recipient_email.clone(),
        to_name: display_name(data.recipient_name.as_deref()),
        text: render(&AdminNoticeText {
            mail: data,
            name: name.clone(),
            settings_url,
        }),
        html: render(&AdminNoticeHtml {
            mail: data,
            name,
            subject: &subject,
            settings_url,
        }),
        subject,
    }
}

/// Adds the "Not me / no longer responsible" link to a message for an IT contact: a line at the
/// end of the text part and a paragraph at the end of the HTML part's body. A link that is not
/// an http(s) URL is left out.
pub fn with_not_me_link(mut mail: OutgoingMail, not_me_url: &str) -> OutgoingMail {
    let url = web_url(not_me_url);
    if url.is_empty() {
        return mail;
    }
    mail.text.push_str(&format!(
        "\nNot you, or no longer responsible for sign-on? Tell the administrators (this removes nothing by itself):\n{url}\n"
    ));
    let paragraph = format!(
        "<p style=\"margin:8px 0 0 0; font-size:13px; color:#52606d;\">Not you, or no longer responsible for sign-on? <a href=\"{}\" style=\"color:#1a56db;\">Not me</a> tells the administrators; it removes nothing by itself.</p>\n",
        html_escape(url)
    );
    match mail.html.rfind("</div>") {
        Some(at) => mail.html.insert_str(at, &paragraph),
        None => mail.html.push_str(&paragraph),
    }
    mail
}

/// Marks a message as a test alert: `[Test]` before the subject and a note at the top of both
/// parts, so it looks like the real reminder and cannot be mistaken for one.
pub fn as_test_alert(mut mail: OutgoingMail, requested_by: &str) -> OutgoingMail {
    let who = one_line(requested_by);
    let note = format!(
        "This is a TEST ALERT sent by {who} to check that alerts reach you. Nothing needs to be done: the details below show what a real reminder looks like."
    );
    mail.subject = format!("[Test] {}", mail.subject);
    mail.text = format!("{note}\n\n{}", mail.text);
    let banner = format!(
        "<p style=\"margin:0 0 16px 0; padding:12px; background-color:#e8f0fe; border-left:4px solid #1a56db;\" data-test-alert><strong>Test alert.</strong> {}</p>\n",
        html_escape(note.trim_start_matches("This is a TEST ALERT "))
    );
    // After the "Smart Core Connect" line that opens every message's body.
    match mail.html.find("Smart Core Connect</p>") {
        Some(at) => mail
            .html
            .insert_str(at + "Smart Core Connect</p>".len() + 1, &banner),
        None => mail.html.insert_str(0, &banner),
    }
    mail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn welcome_mail() -> OutgoingMail {
        welcome(&WelcomeMail {
            org_name: "Acme <b>\r\nBcc: x@evil.test".to_owned(),
            recipient_email: "ada@acme.example".to_owned(),
            recipient_name: Some("Ada".to_owned()),
            added_by: "Grace <script>".to_owned(),
            confirm_url: "https://sc.example/contact/confirm/abc".to_owned(),
        })
    }

    #[test]
    fn the_welcome_escapes_markup_and_keeps_headers_on_one_line() {
        let mail = welcome_mail();
        assert!(!mail.subject.contains('\n') && !mail.subject.contains('\r'));
        assert!(
            mail.html.contains("Grace &#60;script&#62;")
                || mail.html.contains("Grace &lt;script&gt;"),
            "{}",
            mail.html
        );
        assert!(!mail.html.contains("<script>"));
        assert!(mail.text.contains("no access"));
        assert!(mail.text.contains("https://sc.example/contact/confirm/abc"));
    }

    #[test]
    fn the_not_me_link_goes_into_both_parts() {
        let mail = with_not_me_link(welcome_mail(), "https://sc.example/contact/not-me/t\"x");
        assert!(mail.text.contains("https://sc.example/contact/not-me/t\"x"));
        assert!(
            mail.html
                .contains("href=\"https://sc.example/contact/not-me/t&quot;x\"")
        );
        let untouched = with_not_me_link(welcome_mail(), "javascript:alert(1)");
        assert_eq!(untouched, welcome_mail());
    }

    #[test]
    fn a_test_alert_is_marked_in_subject_and_body() {
        let mail = as_test_alert(welcome_mail(), "Grace\r\n<i>");
        assert!(mail.subject.starts_with("[Test] "));
        assert!(
            mail.text
                .starts_with("This is a TEST ALERT sent by Grace <i>")
        );
        assert!(mail.html.contains("data-test-alert"));
        assert!(mail.html.contains("Grace &lt;i&gt;"));
    }
}
