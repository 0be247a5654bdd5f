//! Writes one of each message into an outbox directory, to look at them:
//! `cargo run -p smartcore-mail --example preview -- /tmp/outbox`

use smartcore_mail::{
    CertificateReminderMail, CertificateRenewedMail, MailConfig, Mailer, SetupLinkMail,
    certificate_reminder, certificate_renewed, setup_link,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "outbox-preview".to_owned());
    let mailer = Mailer::new(
        &MailConfig::Outbox {
            dir: dir.clone().into(),
        },
        "Smart Core Connect <no-reply@localhost>",
    )?;
    let reminder = |days_left| CertificateReminderMail {
        org_name: "Acme Widgets Ltd".to_owned(),
        recipient_email: "it@acme.example".to_owned(),
        recipient_name: Some("Ada Lovelace".to_owned()),
        certificate_subject: "CN=idp.acme.example".to_owned(),
        fingerprint_sha256: "3F:A1:09:7C:5E:...".to_owned(),
        not_after: "14 December 2026".to_owned(),
        time_left: smartcore_mail::TimeLeft::days(days_left),
        settings_url: "http://127.0.0.1:8080/settings/organisation/authentication".to_owned(),
        in_use: None,
    };
    for days_left in [30, 0, -8] {
        mailer
            .send(&certificate_reminder(&reminder(days_left)))
            .await?;
    }
    mailer
        .send(&certificate_renewed(&CertificateRenewedMail {
            org_name: "Acme Widgets Ltd".to_owned(),
            recipient_email: "it@acme.example".to_owned(),
            recipient_name: None,
            old_fingerprint: "3F:A1:09:7C:5E:...".to_owned(),
            new_fingerprint: "9B:02:44:D1:0A:...".to_owned(),
            new_not_after: "1 March 2028".to_owned(),
        }))
        .await?;
    mailer
        .send(&setup_link(&SetupLinkMail {
            org_name: "Acme Widgets Ltd".to_owned(),
            recipient_email: "it@acme.example".to_owned(),
            recipient_name: Some("Ada Lovelace".to_owned()),
            link_url: "http://127.0.0.1:8080/setup/abc?sig=xyz".to_owned(),
            expires_at: "17 November 2026, 10:00 UTC".to_owned(),
        }))
        .await?;
    println!("wrote 5 messages to {dir}");
    Ok(())
}
