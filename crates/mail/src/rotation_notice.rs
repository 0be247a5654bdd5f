//! The notice sent once per new certificate when a sign-in failed because the identity
//! provider signed it with a certificate the configuration does not have: the lock-out the
//! certificate reminders exist to prevent.

use crate::OutgoingMail;
use crate::templates::{display_name, greeting, one_line, render, web_url};
use askama::Template;

/// Data for the notice that the identity provider signs with a new certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRotationMail {
    pub org_name: String,
    pub recipient_email: String,
    pub recipient_name: Option<String>,
    /// When the first sign-in signed with it arrived, already formatted for people.
    pub first_seen: String,
    /// The new certificate's SHA-256 fingerprint.
    pub fingerprint: String,
    /// Its subject, when the Response carried the certificate.
    pub subject: Option<String>,
    /// Whether the metadata comes from a URL that is being fetched again now.
    pub refetching: bool,
    /// Where an administrator adds the certificate.
    pub settings_url: String,
}

#[derive(Template)]
#[template(path = "certificate_rotation.txt")]
struct RotationText<'a> {
    mail: &'a CertificateRotationMail,
    greeting: String,
    settings_url: &'a str,
}

#[derive(Template)]
#[template(path = "certificate_rotation.html")]
struct RotationHtml<'a> {
    mail: &'a CertificateRotationMail,
    greeting: String,
    settings_url: &'a str,
}

/// The identity provider started signing with a certificate we do not have.
pub fn certificate_rotation(data: &CertificateRotationMail) -> OutgoingMail {
    let greeting = greeting(data.recipient_name.as_deref());
    let settings_url = web_url(&data.settings_url);
    OutgoingMail {
        to: data.recipient_email.clone(),
        to_name: display_name(data.recipient_name.as_deref()),
        subject: format!(
            "Action needed: sign-ins to {} fail until the new identity provider certificate is added",
            one_line(&data.org_name)
        ),
        text: render(&RotationText {
            mail: data,
            greeting: greeting.clone(),
            settings_url,
        }),
        html: render(&RotationHtml {
            mail: data,
            greeting,
            settings_url,
        }),
    }
}
