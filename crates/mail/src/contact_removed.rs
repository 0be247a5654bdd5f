//! The notice to an IT contact who was removed and had received a certificate's calendar
//! event: it carries the event's cancellation (`METHOD:CANCEL`), so the reminder does not stay
//! in the calendar of someone no longer responsible (issue 23).

use crate::OutgoingMail;
use crate::templates::{display_name, greeting, one_line, render};
use askama::Template;

/// Data for the notice that a contact no longer receives an organisation's alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRemovedMail {
    pub org_name: String,
    pub recipient_email: String,
    pub recipient_name: Option<String>,
    /// The SHA-256 fingerprint of the certificate whose event is cancelled.
    pub fingerprint: String,
}

#[derive(Template)]
#[template(path = "contact_removed.txt")]
struct RemovedText<'a> {
    mail: &'a ContactRemovedMail,
    greeting: String,
}

#[derive(Template)]
#[template(path = "contact_removed.html")]
struct RemovedHtml<'a> {
    mail: &'a ContactRemovedMail,
    greeting: String,
}

/// "You are no longer an IT contact": sent with the calendar event's cancellation.
pub fn contact_removed(data: &ContactRemovedMail) -> OutgoingMail {
    let greeting = greeting(data.recipient_name.as_deref());
    OutgoingMail {
        to: data.recipient_email.clone(),
        to_name: display_name(data.recipient_name.as_deref()),
        subject: format!(
            "You are no longer an IT contact for {}",
            one_line(&data.org_name)
        ),
        text: render(&RemovedText {
            mail: data,
            greeting: greeting.clone(),
        }),
        html: render(&RemovedHtml {
            mail: data,
            greeting,
        }),
    }
}
