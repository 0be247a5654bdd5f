//! Test alerts (issue 16): an administrator sends the IT contacts a message that looks like a
//! real certificate reminder, marked as a test, to see that the alerts arrive. Its delivery is
//! recorded like a real one, so a rejection shows on the contact; a quota of
//! [`TEST_ALERTS_PER_WINDOW`] recipients per [`TEST_ALERT_WINDOW`] keeps it from being a way to
//! mail anyone at will.

use crate::Trust;
use crate::signing::LinkKind;
use crate::{Actor, AppError};
use smartcore_domain::AuditDetails;
use smartcore_domain::audit::TestAlerts;
use smartcore_domain::{ContactId, ItContact, MailKind, OrgId, Quota, Timestamp};
use smartcore_mail::{CertificateReminderMail, as_test_alert, certificate_reminder};
use smartcore_storage::DeliveryOutcome;
use smartcore_storage::quota::Counter;

/// Test alerts an organisation may send per [`TEST_ALERT_WINDOW`] (one per recipient).
pub const TEST_ALERTS_PER_WINDOW: i64 = 5;
pub const TEST_ALERT_WINDOW: time::Duration = time::Duration::hours(1);

/// What a test-alert request did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TestAlertReport {
    pub sent: usize,
    pub deferred: usize,
    pub rejected: usize,
}

/// The certificate a test alert is about: the soonest-expiring one, or an example.
struct AboutCertificate {
    subject: String,
    fingerprint: String,
    not_after: i64,
}

fn window_ms() -> i64 {
    TEST_ALERT_WINDOW.whole_milliseconds() as i64
}

impl Trust<'_> {
    /// Sends a test alert to one contact (`contact`) or to all of them: a message that looks
    /// like a real certificate reminder (about the organisation's soonest-expiring certificate,
    /// or an example when none is configured), marked as a test. Its delivery is recorded like a
    /// real one, so a rejection shows on the contact. At most [`TEST_ALERTS_PER_WINDOW`]
    /// messages per organisation per hour: beyond that `RateLimited`.
    pub async fn send_test_alerts(
        &self,
        actor: &Actor,
        org: &OrgId,
        contact: Option<&ContactId>,
    ) -> Result<TestAlertReport, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let contacts = match contact {
            Some(id) => vec![self.store.contact(&org_id, id).await?],
            None => self.store.contacts(&org_id).await?,
        };
        if contacts.is_empty() {
            return Ok(TestAlertReport::default());
        }
        let now = self.now();
        self.take_test_alerts(&org_id, contacts.len() as i64)
            .await?;
        let report = self
            .send_test_alerts_to(actor, &org_id, contacts, now)
            .await?;
        self.store
            .record_audit(smartcore_storage::AuditEntry {
                org_id: Some(&org_id),
                at: now,
                actor: actor.audit_actor(),
                target: contact.map(ContactId::as_str).or(Some(org_id.as_str())),
                details: AuditDetails::TestAlertSent(TestAlerts {
                    deferred: report.deferred,
                    rejected: report.rejected,
                    sent: report.sent,
                }),
            })
            .await?;
        Ok(report)
    }

    /// Takes `count` test alerts from the organisation's quota, or refuses as `RateLimited`.
    async fn take_test_alerts(&self, org_id: &OrgId, count: i64) -> Result<(), AppError> {
        if count > TEST_ALERTS_PER_WINDOW {
            self.metrics.limit_refusal("test_alerts");
            return Err(AppError::RateLimited {
                retry_after_secs: (window_ms() / 1000) as u64,
            });
        }
        let quota = Quota::new(TEST_ALERTS_PER_WINDOW as u32, window_ms());
        let counter = Counter::TestAlerts {
            org_id: org_id.as_str(),
        };
        self.take_quota(org_id, counter, quota, count as u32, "test_alerts")
            .await
    }

    /// The organisation's soonest-expiring certificate, or an example 30 days from now.
    async fn about_certificate(
        &self,
        org_id: &OrgId,
        now: Timestamp,
    ) -> Result<AboutCertificate, AppError> {
        let certificate = self
            .store
            .current_certificates(org_id)
            .await?
            .into_iter()
            .next();
        Ok(match certificate {
            Some(c) => AboutCertificate {
                subject: c.subject,
                fingerprint: c.fingerprint_sha256,
                not_after: c.not_after,
            },
            None => AboutCertificate {
                subject: "CN=example certificate (none configured yet)".to_owned(),
                fingerprint: "(none configured yet)".to_owned(),
                not_after: now.plus_millis(30 * 86_400_000).unix_millis(),
            },
        })
    }

    /// Sends the test alert to each of `contacts` and records each outcome.
    async fn send_test_alerts_to(
        &self,
        actor: &Actor,
        org_id: &OrgId,
        contacts: Vec<ItContact>,
        now: Timestamp,
    ) -> Result<TestAlertReport, AppError> {
        let org_record = self.store.org(org_id).await?;
        let requested_by = self
            .store
            .user(&actor.user_id)
            .await
            .map(|u| u.name)
            .unwrap_or_else(|_| "an administrator".to_owned());
        let about = self.about_certificate(org_id, now).await?;
        let not_after_at = Timestamp::from_unix_millis(about.not_after).to_datetime();
        let time_left = smartcore_mail::TimeLeft::between(now.unix_millis(), about.not_after);
        let key = self.link_key(LinkKind::Contact).await?;
        let in_use = self
            .certificate_use_words(org_id.as_str(), &about.fingerprint)
            .await;
        let mut report = TestAlertReport::default();
        for c in contacts {
            let mail = certificate_reminder(&CertificateReminderMail {
                org_name: org_record.name.clone(),
                recipient_email: c.email.to_string(),
                recipient_name: c.name.as_ref().map(|n| n.to_string()),
                certificate_subject: about.subject.clone(),
                fingerprint_sha256: about.fingerprint.clone(),
                not_after: crate::alerts::people_date(not_after_at),
                time_left,
                settings_url: self.links.sso_settings(org_id.as_str()),
                in_use: in_use.clone(),
            });
            let mail = as_test_alert(mail, &requested_by);
            let mail = self.for_contact(&key, mail, org_id.as_str(), c.id.as_str());
            let outcome = self
                .send_recorded(
                    &mail,
                    org_id.as_str(),
                    Some(c.id.as_str()),
                    MailKind::TestAlert,
                )
                .await?;
            let error = match &outcome {
                DeliveryOutcome::Sent { .. } => {
                    report.sent += 1;
                    None
                }
                DeliveryOutcome::Deferred { error } => {
                    report.deferred += 1;
                    Some(error.as_str())
                }
                DeliveryOutcome::Rejected { error } => {
                    report.rejected += 1;
                    Some(error.as_str())
                }
            };
            self.store
                .record_test_alert(org_id, c.id.as_str(), self.now(), outcome.status(), error)
                .await?;
        }
        Ok(report)
    }
}
