//! E-mail for Smart Core Connect: the messages IT contacts receive (certificate reminders, renewal
//! notices, setup links), built from compiled templates as plain text plus auto-escaped HTML, and a
//! [`Mailer`] that sends them over SMTP or writes them as RFC 5322 files into an outbox directory.

mod error;
mod mailer;
mod message;
mod outbox;
pub mod templates;

pub use error::MailError;
pub use mailer::{MailConfig, Mailer};
pub use message::{OutgoingMail, SentMail};
pub use templates::{
    CertificateReminderMail, CertificateRenewedMail, SetupLinkMail, certificate_reminder,
    certificate_renewed, setup_link,
};
