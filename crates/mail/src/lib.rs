//! E-mail for Smart Core Connect: the messages IT contacts receive (certificate reminders, renewal
//! notices, setup links), built from compiled templates as plain text plus auto-escaped HTML, and a
//! [`Mailer`] that sends them over SMTP or writes them as RFC 5322 files into an outbox directory.
//!
//! Use: build one `Mailer` at start-up from [`MailConfig`] and the sender address, then for each
//! recipient build an [`OutgoingMail`] with [`certificate_reminder`], [`certificate_renewed`] or
//! [`setup_link`] and [`Mailer::send`] it. A [`MailError::Transient`] means "try again later" (the
//! schedule must not advance); a [`MailError::Rejected`] is permanent for that recipient and its
//! `reason` is fit to show on the contact.

mod calendar;
mod contact_removed;
mod error;
mod mailer;
mod message;
mod metadata_notice;
mod outbox;
mod rotation_notice;
pub mod templates;

pub use calendar::{
    CertificateEvent, certificate_calendar, certificate_calendar_cancel, certificate_event_uid,
    sequence_of,
};
pub use contact_removed::{ContactRemovedMail, contact_removed};
pub use error::MailError;
pub use mailer::{MailConfig, Mailer};
pub use message::{OutgoingMail, SentMail};
pub use metadata_notice::{MetadataFailingMail, metadata_failing};
pub use rotation_notice::{CertificateRotationMail, certificate_rotation};
pub use templates::{
    AdminNoticeMail, ReconfirmMail, WelcomeMail, admin_notice, as_test_alert, reconfirm, welcome,
    with_not_me_link,
};
pub use templates::{
    CertificateReminderMail, CertificateRenewedMail, SetupLinkMail, TimeLeft, certificate_reminder,
    certificate_renewed, setup_link,
};
pub use templates::{InvitationMail, invitation};
