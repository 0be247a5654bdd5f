//! The operational notice sent once per failure episode when an identity provider's metadata
//! URL has failed for three days in a row (the last good configuration is still in use).

use crate::OutgoingMail;
use crate::templates::{display_name, greeting, one_line, render, web_url};
use askama::Template;

/// Data for the notice that the metadata URL keeps failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataFailingMail {
    pub org_name: String,
    pub recipient_email: String,
    pub recipient_name: Option<String>,
    /// The metadata URL, as the administrator gave it.
    pub metadata_url: String,
    /// When the fetches began to fail, already formatted for people.
    pub failing_since: String,
    /// What the last attempt found, in words.
    pub error: String,
    /// Where an administrator looks at and changes the configuration.
    pub settings_url: String,
}

#[derive(Template)]
#[template(path = "metadata_failing.txt")]
struct FailingText<'a> {
    mail: &'a MetadataFailingMail,
    greeting: String,
    settings_url: &'a str,
}

#[derive(Template)]
#[template(path = "metadata_failing.html")]
struct FailingHtml<'a> {
    mail: &'a MetadataFailingMail,
    greeting: String,
    settings_url: &'a str,
}

/// The metadata URL has failed for days: what failed, since when and what to do.
pub fn metadata_failing(data: &MetadataFailingMail) -> OutgoingMail {
    let greeting = greeting(data.recipient_name.as_deref());
    let settings_url = web_url(&data.settings_url);
    OutgoingMail {
        to: data.recipient_email.clone(),
        to_name: display_name(data.recipient_name.as_deref()),
        subject: format!(
            "Action needed: the identity provider metadata for {} cannot be fetched",
            one_line(&data.org_name)
        ),
        text: render(&FailingText {
            mail: data,
            greeting: greeting.clone(),
            settings_url,
        }),
        html: render(&FailingHtml {
            mail: data,
            greeting,
            settings_url,
        }),
    }
}
