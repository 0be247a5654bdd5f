//! The notices about certificates outside the reminder schedule: the "renewed" notice once a
//! certificate valid for longer replaces one that was reminded about, and the cancellation of
//! the calendar events a removed contact received with its reminders.

use super::*;
use crate::metrics::delivery_outcome;

impl Trust<'_> {
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
        let recipients = self.store.reminder_recipients(org_id).await?;
        let replaced = self
            .store
            .reminded_certificates_replaced_at(org_id, replaced_at)
            .await?;
        let mut claims = Vec::new();
        let mut mails = Vec::new();
        let key = self.not_me_key().await?;
        for old in &replaced {
            if Timestamp::from_datetime(new_not_after).unix_millis() <= old.not_after {
                continue;
            }
            for r in &recipients {
                claims.push(claim_for(old, ReminderNotice::Renewed.as_str(), r));
                let mail = certificate_renewed(&CertificateRenewedMail {
                    org_name: old.org_name.clone(),
                    recipient_email: r.email.clone(),
                    recipient_name: r.name.clone(),
                    old_fingerprint: old.fingerprint_sha256.clone(),
                    new_fingerprint: new_fingerprint.to_owned(),
                    new_not_after: people_date(new_not_after),
                });
                mails.push((
                    self.for_contact(&key, mail, org_id, &r.contact_id),
                    self.certificate_event(
                        org_id,
                        &old.org_name,
                        &old.subject,
                        &old.fingerprint_sha256,
                        old.not_after,
                        CANCEL_SEQUENCE,
                        true,
                    ),
                ));
            }
        }
        let stale = replaced_at.plus_millis(-STALE_CLAIM_MS);
        let outcomes = self
            .store
            .claim_reminders(&claims, replaced_at, stale)
            .await?;
        let outgoing = claims
            .into_iter()
            .zip(mails)
            .zip(outcomes)
            .filter_map(|((claim, (mail, calendar)), outcome)| match outcome {
                Claim::Claimed { attempt } => Some(Outgoing {
                    claim,
                    attempt,
                    kind: MailKind::CertificateRenewed,
                    mail,
                    calendar: Some(calendar),
                }),
                Claim::Done | Claim::Waiting => None,
            })
            .collect();
        let finished = self
            .deliver(outgoing, replaced_at, &AtomicUsize::new(0))
            .await;
        self.store.finish_reminders(&finished, &[]).await?;
        Ok(finished
            .iter()
            .filter(|f| {
                matches!(
                    f.delivery.as_ref().map(|d| &d.outcome),
                    Some(DeliveryOutcome::Sent { .. })
                )
            })
            .count())
    }

    /// After `contact` was removed from `org_id`: for each current certificate whose calendar
    /// event it had received with a reminder, one notice carrying the event's cancellation
    /// (same UID, `METHOD:CANCEL`, a `SEQUENCE` above every reminder's). Recorded in the mail
    /// deliveries as `calendar_cancelled`; a failure is recorded, not retried.
    pub(crate) async fn cancel_events_of_removed_contact(
        &self,
        org_id: &str,
        contact_id: &str,
        email: &str,
        name: Option<&str>,
    ) -> Result<usize, AppError> {
        let certificates = self
            .store
            .reminded_certificates_of_contact(org_id, contact_id)
            .await?;
        let mut sent = 0;
        for cert in certificates {
            let mail = contact_removed(&ContactRemovedMail {
                org_name: cert.org_name.clone(),
                recipient_email: email.to_owned(),
                recipient_name: name.map(str::to_owned),
                fingerprint: cert.fingerprint_sha256.clone(),
            });
            let calendar = self.certificate_event(
                org_id,
                &cert.org_name,
                &cert.subject,
                &cert.fingerprint_sha256,
                cert.not_after,
                CANCEL_SEQUENCE,
                true,
            );
            let result = self.send_mail_with_calendar(&mail, Some(&calendar)).await;
            let outcome = delivery_outcome(result);
            match &outcome {
                DeliveryOutcome::Sent { .. } => sent += 1,
                DeliveryOutcome::Deferred { error } => {
                    tracing::warn!(to = %email, %error, "calendar cancellation not sent");
                }
                DeliveryOutcome::Rejected { .. } => {}
            }
            self.store
                .record_deliveries(&[Delivery {
                    org_id: org_id.to_owned(),
                    contact_id: None,
                    email: email.to_owned(),
                    kind: MailKind::CalendarCancelled,
                    subject: mail.subject.clone(),
                    outcome,
                    at: self.now(),
                }])
                .await?;
        }
        Ok(sent)
    }

    /// The calendar attachment of a certificate's reminders (see [`smartcore_mail::CertificateEvent`]).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn certificate_event(
        &self,
        org_id: &str,
        org_name: &str,
        subject: &str,
        fingerprint: &str,
        not_after: i64,
        sequence: u32,
        cancel: bool,
    ) -> String {
        let from = self.mailer.from_address();
        let address = from
            .rsplit_once('<')
            .and_then(|(_, rest)| rest.strip_suffix('>'))
            .unwrap_or(&from);
        let event = CertificateEvent {
            org_id: org_id.to_owned(),
            org_name: org_name.to_owned(),
            certificate_subject: subject.to_owned(),
            fingerprint_sha256: fingerprint.to_owned(),
            expires_at: Timestamp::from_unix_millis(not_after).to_datetime(),
            settings_url: self.links.sso_settings(org_id),
            sequence,
            organizer: format!("mailto:{address}"),
        };
        if cancel {
            certificate_calendar_cancel(&event)
        } else {
            certificate_calendar(&event)
        }
    }
}
