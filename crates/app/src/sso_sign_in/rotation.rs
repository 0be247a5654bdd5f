//! A Response signed with a certificate we do not have: the notice and the re-fetch.

use super::*;
use crate::SsoSignIn;
use smartcore_domain::audit::UnknownCertificate;
use smartcore_domain::{AuditActor, AuditDetails};

impl SsoSignIn<'_> {
    pub(super) async fn unknown_certificate(
        &self,
        org_id: &OrgId,
        org_name: &str,
        presented: &Certificate,
        now: Timestamp,
    ) {
        let refetching = match self.refetch_for_rotation(org_id, now).await {
            Ok(refetching) => refetching,
            Err(e) => {
                tracing::warn!(org = %org_id, error = %e.chain(), "metadata re-fetch after an unknown certificate failed to start");
                false
            }
        };
        let first = match self
            .store
            .note_unknown_certificate(org_id, &presented.fingerprint_sha256, now)
            .await
        {
            Ok(first) => first,
            Err(e) => {
                tracing::warn!(org = %org_id, error = %e, "unknown certificate not recorded");
                return;
            }
        };
        if !first {
            return;
        }
        let recipients = match self.store.sso_notice_recipients(org_id).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(org = %org_id, error = %e, "no recipients for the rotation notice");
                return;
            }
        };
        let settings_url = self.links.sso_settings(org_id.as_str());
        for to in recipients {
            let mail =
                smartcore_mail::certificate_rotation(&smartcore_mail::CertificateRotationMail {
                    org_name: org_name.to_string(),
                    recipient_email: to.clone(),
                    recipient_name: None,
                    first_seen: crate::alerts::people_date(now.to_datetime()),
                    fingerprint: presented.fingerprint_sha256.clone(),
                    subject: Some(presented.subject.clone()),
                    refetching,
                    settings_url: settings_url.clone(),
                });
            if let Err(e) = self.send_mail(&mail).await {
                tracing::warn!(org = %org_id, error = %e, "rotation notice not sent");
            }
        }
        let _ = self
            .store
            .record_audit(smartcore_storage::AuditEntry {
                org_id: Some(org_id),
                at: now,
                actor: AuditActor::System,
                target: None,
                details: AuditDetails::SsoUnknownCertificate(UnknownCertificate {
                    certificate_sha256: presented.fingerprint_sha256.clone(),
                    refetching,
                    subject: presented.subject.clone(),
                }),
            })
            .await;
    }

    pub(super) async fn refetch_for_rotation(
        &self,
        org_id: &OrgId,
        now: Timestamp,
    ) -> Result<bool, AppError> {
        if self.store.metadata_source(org_id).await?.is_none() {
            return Ok(false);
        }
        if !self
            .store
            .claim_rotation_refetch(
                org_id,
                now,
                REFETCH_AT_MOST_EVERY.whole_milliseconds() as i64,
            )
            .await?
        {
            return Ok(true);
        }
        self.store.metadata_due_now(org_id, now).await?;
        let app = App::clone(self);
        // In the background, inside the sign-in request's span (its logs name the request).
        let refetch = async move {
            if let Err(e) = app.setup().refresh_due_metadata("rotation", 16).await {
                tracing::warn!(error = %e.chain(), "metadata re-fetch after an unknown certificate failed");
            }
        };
        tokio::spawn(tracing::Instrument::instrument(
            refetch,
            tracing::Span::current(),
        ));
        Ok(true)
    }
}
