//! The trust worker's passes: due welcomes (with a lease their sender renews), re-confirmation
//! requests, and the administrators' notices about requests unanswered for 30 days and about
//! mail being rejected.

use super::*;

impl Trust<'_> {
    /// Resolves once the sync has claimed a welcome since the last time it resolved (at once
    /// when one was claimed meanwhile): the welcome worker's cue to send.
    pub async fn welcome_claimed(&self) {
        self.welcomes_due.notified().await;
    }

    /// Sends the due welcomes (only `only`'s, when given); returns how many were handled.
    /// They are taken with a lease under an owner of this pass, renewed while it sends (see
    /// `App::holding_leases`), so a worker killed mid-send leaves them to the next pass once
    /// the lease has run out.
    pub async fn send_welcomes(&self, only: Option<&str>) -> Result<usize, AppError> {
        let owner = pass_owner("welcomes");
        let now = self.now();
        let jobs = self
            .store
            .take_welcomes(
                &owner,
                now,
                Lease::take(owner.as_str(), now, self.lease).until(),
                only,
                PASS_BATCH,
            )
            .await?;
        if jobs.is_empty() {
            return Ok(0);
        }
        let handled = jobs.len();
        let work = async move {
            let key = self.link_key(LinkKind::Contact).await?;
            for job in jobs {
                self.send_welcome(&key, &job).await?;
            }
            Ok::<_, AppError>(())
        };
        self.holding_leases(&owner, self.lease, work.boxed())
            .await?;
        Ok(handled)
    }

    async fn send_welcome(&self, key: &[u8], job: &TrustMailJob) -> Result<(), AppError> {
        let mail = welcome(&WelcomeMail {
            org_name: job.org_name.clone(),
            recipient_email: job.email.clone(),
            recipient_name: job.name.clone(),
            added_by: job.added_by.clone(),
            confirm_url: self.contact_link(key, LinkPurpose::Confirm, &job.org_id, &job.contact_id),
        });
        let mail = self.for_contact(key, mail, &job.org_id, &job.contact_id);
        match self
            .send_recorded(&mail, &job.org_id, Some(&job.contact_id), MailKind::Welcome)
            .await?
        {
            DeliveryOutcome::Deferred { .. } => {
                let retry = self.now().plus_millis(WELCOME_RETRY_MS);
                self.store.release_welcome(&job.contact_id, retry).await?
            }
            _ => {
                self.store
                    .finish_welcome(&job.contact_id, self.now())
                    .await?
            }
        }
        Ok(())
    }

    /// One pass of the trust worker: due welcomes, re-confirmation requests, and the notices
    /// about requests unanswered for 30 days. Returns how much it did.
    pub async fn trust_once(&self) -> Result<usize, AppError> {
        let mut done = self.send_welcomes(None).await?;
        let now = self.now();
        let period = i64::from(self.reconfirm_days) * 86_400_000;
        let jobs = self
            .store
            .take_reconfirmations(now, period, PASS_BATCH)
            .await?;
        if !jobs.is_empty() {
            let key = self.link_key(LinkKind::Contact).await?;
            for job in jobs {
                done += 1;
                // A request the mail server did not take stays made: its deferred delivery is
                // on record, and unanswered it shows as overdue after 30 days like any other.
                self.send_reconfirmation(&key, &job).await?;
            }
        }
        for c in self
            .store
            .take_unconfirmed(now, ms(UNCONFIRMED_AFTER), PASS_BATCH)
            .await?
        {
            done += 1;
            let Some(org_id) = OrgId::parse(&c.org_id) else {
                continue;
            };
            let asked = Timestamp::from_unix_millis(c.requested_at);
            self.notify_admins(
                &org_id,
                &format!("{} has not confirmed they are still an IT contact", c.email),
                vec![
                    format!(
                        "We asked {} on {} whether they are still the right person to receive the sign-on alerts of {}, and have had no answer in 30 days.",
                        c.email,
                        asked.to_datetime().date(),
                        c.org_name
                    ),
                    "Alerts may not reach anyone at this address. Check with them, or add another IT contact and remove this one.".to_owned(),
                ],
            )
            .await?;
        }
        for c in self.store.take_rejected(PASS_BATCH).await? {
            done += 1;
            let Some(org_id) = OrgId::parse(&c.org_id) else {
                continue;
            };
            self.notify_admins(
                &org_id,
                &format!("Mail to IT contact {} is being rejected", c.email),
                vec![
                    format!(
                        "The mail server refused our last message to {}, an IT contact of {}. Setup links and certificate reminders will not reach this address.",
                        c.email, c.org_name
                    ),
                    "Check the address with them, or add another IT contact and remove this one. You can send a test alert from the Authentication page to check again.".to_owned(),
                ],
            )
            .await?;
        }
        Ok(done)
    }

    /// Sends one "are you still the right person?"; false when it could not be sent for now.
    async fn send_reconfirmation(
        &self,
        key: &[u8],
        job: &TrustMailJob,
    ) -> Result<DeliveryOutcome, AppError> {
        let mail = reconfirm(&ReconfirmMail {
            org_name: job.org_name.clone(),
            recipient_email: job.email.clone(),
            recipient_name: job.name.clone(),
            confirm_url: self.contact_link(key, LinkPurpose::Confirm, &job.org_id, &job.contact_id),
        });
        let mail = self.for_contact(key, mail, &job.org_id, &job.contact_id);
        self.send_recorded(
            &mail,
            &job.org_id,
            Some(&job.contact_id),
            MailKind::Reconfirmation,
        )
        .await
    }
}
