//! Certificate-expiry reminders to IT contacts (R9, D6).
//!
//! A sweep reads only certificates whose next threshold has begun (`next_due_at`), sends the
//! *current* threshold's reminder to every registered IT contact (so a certificate first seen
//! inside a window gets only the nearest reminder), and moves `next_due_at` on only when every
//! send of that threshold succeeded: a failed send is retried by the next sweep. Each
//! (certificate, threshold, contact) is claimed in the database before it is sent, which makes
//! it at most once across restarts and instances.

use crate::{App, AppError};
use smartcore_domain::Timestamp;
use smartcore_mail::{
    CertificateReminderMail, CertificateRenewedMail, certificate_reminder, certificate_renewed,
};
use smartcore_sso::{Threshold, current_threshold, next_threshold_at};
use smartcore_storage::{DueCertificate, ReminderRecipient};
use time::OffsetDateTime;

/// What one sweep did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct SweepReport {
    pub certificates: usize,
    pub sent: usize,
    pub failed: usize,
    /// Reminders sent earlier (or being sent by another instance) and not sent again.
    pub already_handled: usize,
}

/// A claim older than this is taken to be abandoned by a process that stopped mid-send.
const STALE_CLAIM_MS: i64 = 10 * 60 * 1000;
const SWEEP_BATCH: i64 = 1000;

fn days_left(threshold: Threshold) -> i64 {
    match threshold {
        Threshold::Before(days) => i64::from(days),
        Threshold::ExpiryDay => 0,
        Threshold::WeeklyAfter(weeks) => -7 * i64::from(weeks),
    }
}

fn people_date(at: OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[day padding:none] [month repr:long] [year], [hour]:[minute] UTC"
    );
    at.format(&format).unwrap_or_else(|_| at.to_string())
}

impl App {
    /// One sweep over the certificates that are due now.
    pub async fn run_certificate_sweep(&self) -> Result<SweepReport, AppError> {
        let now = self.now();
        let mut report = SweepReport::default();
        let mut seen = std::collections::HashSet::new();
        // Recipients per organisation, read once per sweep.
        let mut recipients: std::collections::HashMap<String, Vec<ReminderRecipient>> =
            Default::default();
        loop {
            let due = self.store.due_certificates(now, SWEEP_BATCH).await?;
            let fresh: Vec<DueCertificate> = due
                .into_iter()
                .filter(|c| seen.insert((c.org_id.clone(), c.fingerprint_sha256.clone())))
                .collect();
            if fresh.is_empty() {
                break;
            }
            for cert in &fresh {
                if !recipients.contains_key(&cert.org_id) {
                    let list = self.store.reminder_recipients(&cert.org_id).await?;
                    recipients.insert(cert.org_id.clone(), list);
                }
                self.remind(cert, &recipients[&cert.org_id], now, &mut report)
                    .await?;
            }
        }
        Ok(report)
    }

    async fn remind(
        &self,
        cert: &DueCertificate,
        recipients: &[ReminderRecipient],
        now: Timestamp,
        report: &mut SweepReport,
    ) -> Result<(), AppError> {
        report.certificates += 1;
        let not_after = Timestamp::from_unix_millis(cert.not_after).to_datetime();
        let now_dt = now.to_datetime();
        let Some(threshold) = current_threshold(not_after, now_dt) else {
            let first = Timestamp::from_datetime(Threshold::first().moment(not_after));
            self.store
                .set_certificate_next_due(&cert.org_id, &cert.fingerprint_sha256, Some(first))
                .await?;
            return Ok(());
        };
        let key = threshold.key();
        let mut all_sent = true;
        for recipient in recipients {
            let stale = now.plus_millis(-STALE_CLAIM_MS);
            if !self
                .store
                .claim_reminder(cert, &key, recipient, now, stale)
                .await?
            {
                report.already_handled += 1;
                continue;
            }
            match self
                .send_reminder(cert, threshold, not_after, recipient)
                .await
            {
                Ok(message_id) => {
                    self.store
                        .finish_reminder(
                            &cert.fingerprint_sha256,
                            &key,
                            &recipient.contact_id,
                            Ok(&message_id),
                            now,
                        )
                        .await?;
                    report.sent += 1;
                }
                Err(reason) => {
                    tracing::warn!(to = %recipient.email, %reason, "certificate reminder not sent; the next sweep retries");
                    self.store
                        .finish_reminder(
                            &cert.fingerprint_sha256,
                            &key,
                            &recipient.contact_id,
                            Err(&reason),
                            now,
                        )
                        .await?;
                    report.failed += 1;
                    all_sent = false;
                }
            }
        }
        if all_sent {
            let next = Timestamp::from_datetime(next_threshold_at(not_after, now_dt));
            self.store
                .set_certificate_next_due(&cert.org_id, &cert.fingerprint_sha256, Some(next))
                .await?;
        }
        Ok(())
    }

    /// After a new configuration: for each certificate it replaced that had reminders sent, and
    /// that a certificate valid for longer now replaces, one "renewed" notice to each registered
    /// IT contact (claimed like a reminder, so at most once). Returns how many were sent.
    pub(crate) async fn notify_renewals(
        &self,
        org_id: &str,
        replaced_at: Timestamp,
        newest: Option<(&str, OffsetDateTime)>,
    ) -> Result<usize, AppError> {
        let Some((new_fingerprint, new_not_after)) = newest else {
            return Ok(0);
        };
        let mut sent = 0;
        let recipients = self.store.reminder_recipients(org_id).await?;
        for old in self
            .store
            .reminded_certificates_replaced_at(org_id, replaced_at)
            .await?
        {
            if Timestamp::from_datetime(new_not_after).unix_millis() <= old.not_after {
                continue;
            }
            for recipient in &recipients {
                let stale = replaced_at.plus_millis(-STALE_CLAIM_MS);
                if !self
                    .store
                    .claim_reminder(&old, "renewed", recipient, replaced_at, stale)
                    .await?
                {
                    continue;
                }
                let mail = certificate_renewed(&CertificateRenewedMail {
                    org_name: old.org_name.clone(),
                    recipient_email: recipient.email.clone(),
                    recipient_name: recipient.name.clone(),
                    old_fingerprint: old.fingerprint_sha256.clone(),
                    new_fingerprint: new_fingerprint.to_owned(),
                    new_not_after: people_date(new_not_after),
                });
                let outcome = self
                    .mailer
                    .send(&mail)
                    .await
                    .map(|s| s.message_id)
                    .map_err(|e| e.to_string());
                let recorded = match &outcome {
                    Ok(id) => Ok(id.as_str()),
                    Err(e) => Err(e.as_str()),
                };
                self.store
                    .finish_reminder(
                        &old.fingerprint_sha256,
                        "renewed",
                        &recipient.contact_id,
                        recorded,
                        replaced_at,
                    )
                    .await?;
                sent += usize::from(outcome.is_ok());
            }
        }
        Ok(sent)
    }

    async fn send_reminder(
        &self,
        cert: &DueCertificate,
        threshold: Threshold,
        not_after: OffsetDateTime,
        recipient: &ReminderRecipient,
    ) -> Result<String, String> {
        let mail = certificate_reminder(&CertificateReminderMail {
            org_name: cert.org_name.clone(),
            recipient_email: recipient.email.clone(),
            recipient_name: recipient.name.clone(),
            certificate_subject: cert.subject.clone(),
            fingerprint_sha256: cert.fingerprint_sha256.clone(),
            not_after: people_date(not_after),
            days_left: days_left(threshold),
            settings_url: format!(
                "{}/orgs/{}/settings/authentication",
                self.public_url, cert.org_id
            ),
        });
        self.mailer
            .send(&mail)
            .await
            .map(|sent| sent.message_id)
            .map_err(|e| e.to_string())
    }
}
