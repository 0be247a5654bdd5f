//! An outgoing message as the rest of the service sees it, and its conversion into a
//! multipart/alternative RFC 5322 message with no way for user text to add a header.

use lettre::Message;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart};

use crate::MailError;

/// A message to one recipient, in plain text and HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    /// The recipient's address, already validated by the domain layer.
    pub to: String,
    /// The recipient's display name, if known.
    pub to_name: Option<String>,
    pub subject: String,
    /// The text/plain part.
    pub text: String,
    /// The text/html part.
    pub html: String,
}

/// What the mailer reports about a message it delivered or wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMail {
    /// The Message-ID header's value, with its angle brackets: `<id@domain>`.
    pub message_id: String,
}

/// `Auto-Submitted: auto-generated` (RFC 3834 §5): every message we send is made by the
/// service, not by a person, so that auto-responders (out-of-office replies) and mail systems
/// leave it alone instead of answering it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        if s.trim().eq_ignore_ascii_case("auto-generated") {
            Ok(AutoSubmitted)
        } else {
            Err(format!("not auto-generated: {s:?}").into())
        }
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_owned())
    }
}

/// Refuses a value that would be written into a header if it holds a line break or any other
/// control character. Such a value never comes from the domain layer (it validates names and
/// addresses), so meeting one here is a bug upstream: refuse rather than guess.
fn header_safe<'a>(what: &str, value: &'a str) -> Result<&'a str, MailError> {
    if value.chars().any(char::is_control) {
        return Err(MailError::Rejected {
            reason: format!("the {what} contains a line break or control character"),
        });
    }
    Ok(value)
}

/// Checks and parses the sender, e.g. `Smart Core Connect <no-reply@localhost>`.
pub(crate) fn parse_from(from: &str) -> Result<Mailbox, MailError> {
    header_safe("sender", from).map_err(|e| MailError::Config(e.to_string()))?;
    from.parse::<Mailbox>()
        .map_err(|e| MailError::Config(format!("invalid sender address {from:?}: {e}")))
}

/// Builds the RFC 5322 message: From, To, Subject, Date, Message-ID, `Auto-Submitted:
/// auto-generated`, MIME-Version and a
/// multipart/alternative body with UTF-8 text/plain and text/html parts.
///
/// With `calendar` (issue 16), the body is multipart/mixed: that alternative part, then the
/// calendar as a `text/calendar` attachment (`invite.ics`), its `method` parameter taken from
/// the calendar's own `METHOD`.
pub(crate) fn build(
    from: &Mailbox,
    mail: &OutgoingMail,
    message_id: &str,
    calendar: Option<&str>,
) -> Result<Message, MailError> {
    let address = header_safe("recipient address", &mail.to)?
        .trim()
        .parse()
        .map_err(|e| MailError::Rejected {
            reason: format!("invalid recipient address {:?}: {e}", mail.to),
        })?;
    let name = match &mail.to_name {
        Some(name) => Some(header_safe("recipient name", name)?.trim().to_owned()),
        None => None,
    }
    .filter(|name| !name.is_empty());
    let subject = header_safe("subject", &mail.subject)?;

    let alternative = MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone());
    let body = match calendar {
        None => alternative,
        Some(ics) => {
            let method = if ics.contains("\nMETHOD:CANCEL") || ics.starts_with("METHOD:CANCEL") {
                "CANCEL"
            } else {
                "PUBLISH"
            };
            let content_type =
                ContentType::parse(&format!("text/calendar; charset=utf-8; method={method}"))
                    .map_err(|e| MailError::Rejected {
                        reason: format!("cannot build the calendar part: {e}"),
                    })?;
            MultiPart::mixed().multipart(alternative).singlepart(
                Attachment::new("invite.ics".to_owned()).body(ics.to_owned(), content_type),
            )
        }
    };
    Message::builder()
        .from(from.clone())
        .to(Mailbox::new(name, address))
        .subject(subject)
        .date_now()
        .message_id(Some(message_id.to_owned()))
        .header(AutoSubmitted)
        .multipart(body)
        .map_err(|e| MailError::Rejected {
            reason: format!("cannot build the message: {e}"),
        })
}

/// A new Message-ID, `<uuid-v7@domain>` (the public URL's host, see
/// [`crate::Mailer::with_message_id_domain`]); the UUID also names the outbox file.
pub(crate) fn new_message_id(domain: &str) -> (uuid::Uuid, String) {
    let id = uuid::Uuid::now_v7();
    (id, format!("<{}@{domain}>", id.simple()))
}
