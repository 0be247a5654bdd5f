//! Certificate-expiry reminders to IT contacts (R9, D6).
//!
//! Two steps, with the database between them. The **sweep** reads only certificates whose next
//! threshold has begun (`next_due_at`), a page at a time, and queues the *current* threshold's
//! reminder for every registered IT contact (so a certificate first seen inside a window gets
//! only the nearest reminder). Each (certificate, threshold, contact) is one row, queued at most
//! once whatever the number of sweeps, instances or processes. **Delivery** takes due rows from
//! the queue (marking them as being sent, so one process sends each), sends them 8 at a time,
//! and records every attempt per recipient (`mail_deliveries`). A certificate's schedule moves
//! on once all of its reminders are out: at once when delivery sends the last one, or at the
//! next sweep when two processes each finished some at the same moment.
//!
//! A temporary failure puts the reminder back with exponential backoff (one minute, doubling,
//! at most six hours) and holds the schedule; a permanent rejection is final, shown on the
//! contact, and lets the schedule go on for the others. After [`MAIL_FAILURE_LIMIT`] temporary
//! failures in one round the mail server is taken to be down and delivery stops until the next
//! round.
//!
//! Leases follow the work: a page of reminders is held under an owner of its own while it is
//! being sent, renewed every third of the lease (`SMARTCORE_SYNC_LEASE_S`, 10 s by default),
//! and what the page could not record is released when it ends. A reminder abandoned mid-send
//! (a process killed with -9) goes back to the queue once its lease has run out, and the next
//! delivery sends it. The "renewed" notices, claimed and sent in one call, are taken back ten
//! minutes after an abandoned claim.

mod notices;

use crate::AppError;
use crate::Trust;
use crate::metrics::delivery_outcome;
use crate::sync::pass_owner;
use futures_util::StreamExt;
use futures_util::future::FutureExt;
use smartcore_domain::Timestamp;
use smartcore_domain::{Backoff, Lease};
use smartcore_domain::{MailKind, ReminderNotice};
use smartcore_mail::{
    CertificateEvent, certificate_calendar, certificate_calendar_cancel, sequence_of,
};
use smartcore_mail::{
    CertificateReminderMail, CertificateRenewedMail, OutgoingMail, TimeLeft, certificate_reminder,
    certificate_renewed,
};
use smartcore_mail::{ContactRemovedMail, contact_removed};
use smartcore_sso::{Threshold, current_threshold, next_threshold_at};
use smartcore_storage::{
    Claim, CompletedThreshold, Delivery, DeliveryOutcome, DueCertificate, FinishedReminder,
    QueuedReminder, ReminderClaim, ReminderRecipient, ScheduleMove,
};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use time::OffsetDateTime;

/// What one sweep did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct SweepReport {
    /// Certificates swept (their next threshold had begun).
    pub certificates: usize,
    /// Reminders queued by this sweep.
    pub queued: usize,
    pub sent: usize,
    /// Temporary failures: retried by a later sweep, with backoff.
    pub failed: usize,
    /// Refused for good by the mail server: shown on the contact, not retried.
    pub rejected: usize,
    /// Reminders queued earlier: sent, being sent, or waiting for their retry.
    pub already_handled: usize,
    /// Queued reminders not sent because their contact was removed meanwhile.
    pub cancelled: usize,
    /// The sweep stopped sending because the mail server kept failing.
    pub mail_unavailable: bool,
}

/// A "renewed" notice claimed longer ago than this is taken to be abandoned by a process that
/// stopped mid-send (reminders from the queue are leased instead: see `App::with_lease`).
const STALE_CLAIM_MS: i64 = 10 * 60 * 1000;
/// Certificates read and settled per transaction.
const SWEEP_BATCH: i64 = 1000;
/// Messages in flight at once.
const SEND_CONCURRENCY: usize = 8;
/// The `SEQUENCE` of a cancellation: above every reminder's (see [`sequence_of`]).
const CANCEL_SEQUENCE: u32 = 2000;
/// Temporary failures in one sweep after which the mail server is taken to be down.
pub const MAIL_FAILURE_LIMIT: usize = 3;

/// When a reminder whose `attempt`-th send failed may be tried again: one minute, doubling,
/// at most six hours.
fn retry_at(now: Timestamp, attempt: i64) -> Timestamp {
    const RETRIES: Backoff = Backoff::new(
        std::time::Duration::from_secs(60),
        std::time::Duration::from_secs(6 * 3600),
    );
    let wait = RETRIES.after_failures(u64::try_from(attempt).unwrap_or(0));
    now.plus_millis(Backoff::millis(wait))
}

/// A threshold's nominal days before expiry: only for the calendar's `SEQUENCE`, which must grow
/// from one threshold to the next. What a mail says comes from the real notAfter and the moment
/// it is sent ([`smartcore_mail::TimeLeft`]).
fn threshold_days(threshold: Threshold) -> i64 {
    match threshold {
        Threshold::Before(days) => i64::from(days),
        Threshold::ExpiryDay => 0,
        Threshold::WeeklyAfter(weeks) => -7 * i64::from(weeks),
    }
}

pub(crate) fn people_date(at: OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[day padding:none] [month repr:long] [year], [hour]:[minute] UTC"
    );
    at.format(&format).unwrap_or_else(|_| at.to_string())
}

/// A claimed reminder and the message that carries it.
struct Outgoing {
    claim: ReminderClaim,
    attempt: i64,
    kind: MailKind,
    mail: OutgoingMail,
    /// The `text/calendar` attachment (issue 16): the expiry-day event, or its cancellation.
    calendar: Option<String>,
}

fn claim_for(cert: &DueCertificate, threshold: &str, r: &ReminderRecipient) -> ReminderClaim {
    ReminderClaim {
        fingerprint_sha256: cert.fingerprint_sha256.clone(),
        threshold: threshold.to_owned(),
        contact_id: r.contact_id.clone(),
        org_id: cert.org_id.clone(),
        email: r.email.clone(),
    }
}

/// What the sweep does with one certificate at a moment: the one decision that the sweep and
/// the preview of upcoming reminders both take (see [`reminder_decision`]).
#[derive(Debug, Clone)]
pub(crate) enum Decision {
    /// Its next threshold has not begun (`next_due_at` is later): nothing to do.
    NotDue,
    /// Due, but earlier than the first threshold: the schedule moves to the first one.
    BeforeFirst,
    /// The current threshold's reminder for every recipient (each claimed at most once).
    Remind(Threshold, Vec<ReminderClaim>),
}

/// The sweep's decision for `cert` at `now`, given the organisation's registered recipients.
/// The sweep calls it for every due certificate; the preview calls it for now and for each
/// coming threshold's moment, so what the preview shows is what the sweep will do.
pub(crate) fn reminder_decision(
    cert: &DueCertificate,
    now: Timestamp,
    recipients: &[ReminderRecipient],
) -> Decision {
    if cert.next_due_at.is_none_or(|due| due > now.unix_millis()) {
        return Decision::NotDue;
    }
    let not_after = Timestamp::from_unix_millis(cert.not_after).to_datetime();
    let Some(threshold) = current_threshold(not_after, now.to_datetime()) else {
        return Decision::BeforeFirst;
    };
    let key = threshold.key();
    Decision::Remind(
        threshold,
        recipients
            .iter()
            .map(|r| claim_for(cert, &key, r))
            .collect(),
    )
}

/// Thresholds a page of taken reminders may complete, and where their schedules go then.
fn completable(taken: &[QueuedReminder]) -> Vec<CompletedThreshold> {
    let mut completed = HashSet::new();
    for q in taken {
        if let Some(t) = Threshold::parse_key(&q.claim.threshold) {
            let not_after = Timestamp::from_unix_millis(q.not_after).to_datetime();
            completed.insert(CompletedThreshold {
                threshold: q.claim.threshold.clone(),
                schedule: ScheduleMove {
                    org_id: q.claim.org_id.clone(),
                    fingerprint_sha256: q.claim.fingerprint_sha256.clone(),
                    next_due_at: Timestamp::from_datetime(t.next().moment(not_after)),
                },
            });
        }
    }
    completed.into_iter().collect()
}

impl Trust<'_> {
    /// One round of certificate alerts, as the background worker and `smartcore alerts
    /// run-once` do it: the sweep queues what is due, delivery sends what is queued and moves
    /// on the schedules whose reminders are then all out.
    pub async fn run_certificate_sweep(&self) -> Result<SweepReport, AppError> {
        let mut report = self.sweep_certificates().await?;
        self.deliver_queued_reminders(&mut report).await?;
        let m = &self.metrics;
        m.reminders("queued", report.queued);
        m.reminders("sent", report.sent);
        m.reminders("deferred", report.failed);
        m.reminders("rejected", report.rejected);
        m.reminders("cancelled", report.cancelled);
        Ok(report)
    }

    /// The sweep: reads the certificates whose next threshold has begun, queues the current
    /// threshold's reminder for every registered IT contact (at most once each), and moves on
    /// the schedule of every certificate whose reminders are all out (sent, or rejected for
    /// good). Sends nothing itself, so its cost follows the number due, not the mail server.
    pub async fn sweep_certificates(&self) -> Result<SweepReport, AppError> {
        let now = self.now();
        let mut report = SweepReport::default();
        // Recipients per organisation, read once per sweep.
        let mut recipients: HashMap<String, Vec<ReminderRecipient>> = HashMap::new();
        let mut after = None;
        loop {
            let due = self
                .store
                .due_certificates(now, after.as_ref(), SWEEP_BATCH)
                .await?;
            let Some(last) = due.last() else { break };
            after = Some(last.position());
            report.certificates += due.len();

            // Each certificate's current threshold, and a reminder per recipient.
            let mut schedules = Vec::new();
            let mut thresholds = Vec::with_capacity(due.len());
            let mut claims = Vec::new();
            let mut owners = Vec::new();
            for (i, cert) in due.iter().enumerate() {
                if !recipients.contains_key(&cert.org_id) {
                    let list = self.store.reminder_recipients(&cert.org_id).await?;
                    recipients.insert(cert.org_id.clone(), list);
                }
                match reminder_decision(cert, now, &recipients[&cert.org_id]) {
                    Decision::NotDue => thresholds.push(None),
                    Decision::BeforeFirst => {
                        thresholds.push(None);
                        let not_after = Timestamp::from_unix_millis(cert.not_after).to_datetime();
                        let first = Threshold::first().moment(not_after);
                        schedules.push(cert.schedule(Timestamp::from_datetime(first)));
                    }
                    Decision::Remind(threshold, reminders) => {
                        thresholds.push(Some(threshold));
                        for claim in reminders {
                            claims.push(claim);
                            owners.push(i);
                        }
                    }
                }
            }
            let outcomes = self.store.queue_reminders(&claims, now).await?;
            // A certificate moves on once none of its reminders is still to go out.
            let mut unsettled = vec![false; due.len()];
            for (outcome, i) in outcomes.into_iter().zip(owners) {
                match outcome {
                    Claim::Done => report.already_handled += 1,
                    Claim::Waiting => {
                        report.already_handled += 1;
                        unsettled[i] = true;
                    }
                    Claim::Claimed { .. } => {
                        report.queued += 1;
                        unsettled[i] = true;
                    }
                }
            }
            for (i, cert) in due.iter().enumerate() {
                if thresholds[i].is_some() && !unsettled[i] {
                    let not_after = Timestamp::from_unix_millis(cert.not_after).to_datetime();
                    let next = next_threshold_at(not_after, now.to_datetime());
                    schedules.push(cert.schedule(Timestamp::from_datetime(next)));
                }
            }
            self.store.move_schedules(&schedules).await?;
        }
        Ok(report)
    }

    /// Delivers the queued reminders that are due, a page at a time, 8 messages in flight,
    /// adding what happened to `report`. Stops early when the mail server keeps failing.
    ///
    /// Each page is taken with a lease under an owner of its own, renewed while the page is
    /// being sent (see `App::holding_leases`): a sender killed mid-send leaves its reminders
    /// to the next delivery once the lease has run out.
    pub async fn deliver_queued_reminders(&self, report: &mut SweepReport) -> Result<(), AppError> {
        let failures = AtomicUsize::new(0);
        loop {
            let now = self.now();
            let owner = pass_owner("reminders");
            let taken = self
                .store
                .take_queued_reminders(
                    &owner,
                    now,
                    Lease::take(owner.as_str(), now, self.lease).until(),
                    SWEEP_BATCH,
                )
                .await?;
            if taken.is_empty() {
                break;
            }
            let page = self.deliver_page(taken, now, &failures, report).boxed();
            self.holding_leases(&owner, self.lease, page).await?;
            if failures.load(Ordering::Relaxed) >= MAIL_FAILURE_LIMIT {
                tracing::warn!("the mail server keeps failing; the next round retries the rest");
                report.mail_unavailable = true;
                break;
            }
        }
        Ok(())
    }

    /// Sends one page of taken reminders and records how each went.
    async fn deliver_page(
        &self,
        taken: Vec<QueuedReminder>,
        now: Timestamp,
        failures: &AtomicUsize,
        report: &mut SweepReport,
    ) -> Result<(), AppError> {
        let mut finished = Vec::new();
        let mut outgoing = Vec::new();
        let completed = completable(&taken);
        let key = self.not_me_key().await?;
        let in_use = self.use_words_of(&taken).await;
        for q in taken {
            let use_words = in_use
                .get(&(q.claim.org_id.clone(), q.claim.fingerprint_sha256.clone()))
                .cloned()
                .flatten();
            match Threshold::parse_key(&q.claim.threshold) {
                // Its contact was removed after it was queued: it is not sent.
                Some(threshold) if q.contact_exists => outgoing.push(Outgoing {
                    mail: self.for_contact(
                        &key,
                        self.queued_reminder_mail(&q, now, use_words),
                        &q.claim.org_id,
                        &q.claim.contact_id,
                    ),
                    kind: MailKind::CertificateReminder,
                    calendar: Some(self.certificate_event(
                        &q.claim.org_id,
                        &q.org_name,
                        &q.subject,
                        &q.claim.fingerprint_sha256,
                        q.not_after,
                        sequence_of(threshold_days(threshold)),
                        false,
                    )),
                    attempt: q.attempt,
                    claim: q.claim,
                }),
                _ => {
                    report.cancelled += 1;
                    finished.push(FinishedReminder {
                        claim: q.claim,
                        delivery: None,
                        retry_at: None,
                    });
                }
            }
        }
        for f in self.deliver(outgoing, now, failures).await {
            match f.delivery.as_ref().map(|d| &d.outcome) {
                Some(DeliveryOutcome::Sent { .. }) => report.sent += 1,
                Some(DeliveryOutcome::Rejected { .. }) => report.rejected += 1,
                Some(DeliveryOutcome::Deferred { .. }) => report.failed += 1,
                None => {}
            }
            finished.push(f);
        }
        self.store.finish_reminders(&finished, &completed).await?;
        Ok(())
    }

    /// Whether each taken reminder's certificate still verifies sign-ins, in words, looked up
    /// once per certificate.
    async fn use_words_of(
        &self,
        taken: &[QueuedReminder],
    ) -> HashMap<(String, String), Option<String>> {
        let mut in_use: HashMap<(String, String), Option<String>> = HashMap::new();
        for q in taken {
            let k = (q.claim.org_id.clone(), q.claim.fingerprint_sha256.clone());
            if let std::collections::hash_map::Entry::Vacant(slot) = in_use.entry(k) {
                let (org, fingerprint) = slot.key();
                let words = self.certificate_use_words(org, fingerprint).await;
                slot.insert(words);
            }
        }
        in_use
    }

    /// Sends claimed reminders, a few at a time, and says how each went. Once the mail server
    /// has failed [`MAIL_FAILURE_LIMIT`] times, the rest are not attempted.
    async fn deliver(
        &self,
        outgoing: Vec<Outgoing>,
        now: Timestamp,
        failures: &AtomicUsize,
    ) -> Vec<FinishedReminder> {
        futures_util::stream::iter(outgoing)
            .map(|o| async move {
                let retry = Some(retry_at(now, o.attempt));
                if failures.load(Ordering::Relaxed) >= MAIL_FAILURE_LIMIT {
                    let unattempted = FinishedReminder {
                        claim: o.claim,
                        delivery: None,
                        retry_at: Some(now),
                    };
                    return unattempted;
                }
                let result = self.send_mail_with_calendar(&o.mail, o.calendar.as_deref()).await;
                let outcome = delivery_outcome(result);
                match &outcome {
                    DeliveryOutcome::Sent { .. } => {}
                    DeliveryOutcome::Rejected { error: reason } => {
                        tracing::warn!(to = %o.claim.email, %reason, "reminder rejected by the mail server");
                    }
                    DeliveryOutcome::Deferred { error } => {
                        failures.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(to = %o.claim.email, %error, "reminder not sent; a later sweep retries");
                    }
                }
                let delivery = Delivery {
                    org_id: o.claim.org_id.clone(),
                    contact_id: Some(o.claim.contact_id.clone()),
                    email: o.claim.email.clone(),
                    kind: o.kind,
                    subject: o.mail.subject,
                    outcome,
                    at: now,
                };
                FinishedReminder {
                    claim: o.claim,
                    retry_at: matches!(delivery.outcome, DeliveryOutcome::Deferred { .. })
                        .then_some(retry)
                        .flatten(),
                    delivery: Some(delivery),
                }
            })
            .buffer_unordered(SEND_CONCURRENCY)
            .collect()
            .await
    }

    fn queued_reminder_mail(
        &self,
        q: &QueuedReminder,
        now: Timestamp,
        in_use: Option<String>,
    ) -> OutgoingMail {
        let cert = DueCertificate {
            org_id: q.claim.org_id.clone(),
            org_name: q.org_name.clone(),
            fingerprint_sha256: q.claim.fingerprint_sha256.clone(),
            subject: q.subject.clone(),
            not_after: q.not_after,
            next_due_at: None,
        };
        let recipient = ReminderRecipient {
            contact_id: q.claim.contact_id.clone(),
            email: q.claim.email.clone(),
            name: q.recipient_name.clone(),
        };
        self.reminder_mail(&cert, now, &recipient, in_use)
    }

    fn reminder_mail(
        &self,
        cert: &DueCertificate,
        now: Timestamp,
        recipient: &ReminderRecipient,
        in_use: Option<String>,
    ) -> OutgoingMail {
        let not_after = Timestamp::from_unix_millis(cert.not_after).to_datetime();
        certificate_reminder(&CertificateReminderMail {
            org_name: cert.org_name.clone(),
            recipient_email: recipient.email.clone(),
            recipient_name: recipient.name.clone(),
            certificate_subject: cert.subject.clone(),
            fingerprint_sha256: cert.fingerprint_sha256.clone(),
            not_after: people_date(not_after),
            time_left: TimeLeft::between(now.unix_millis(), cert.not_after),
            settings_url: self.links.sso_settings(&cert.org_id),
            in_use,
        })
    }
}
