//! Who will be mailed, when (issue 16): for each watched certificate of an organisation, the
//! current threshold with what went out (and its delivery state) or is due at the next sweep,
//! and each coming threshold with its date and the contacts it would go to now.
//!
//! It decides nothing of its own: every entry comes from [`crate::alerts::reminder_decision`],
//! the function the sweep calls, applied now and at each coming threshold's moment, so the
//! preview and the sweep cannot differ (a test checks a simulated 90 days, day by day).

use crate::Trust;
use crate::alerts::{Decision, reminder_decision};
use crate::{Actor, AppError};
use smartcore_domain::{OrgId, RecipientState, Timestamp};
use smartcore_sso::{Threshold, current_threshold};
use smartcore_storage::{DueCertificate, ReminderRecipient, ReminderState};
use std::collections::HashMap;

/// How many coming thresholds are shown per certificate.
const COMING_SHOWN: usize = 8;

/// One recipient of one threshold's reminder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRecipient {
    pub contact_id: String,
    pub email: String,
    /// Due (the next sweep sends it), to receive (a coming threshold), or what happened to a
    /// reminder already recorded.
    pub state: RecipientState,
    pub sent_at: Option<Timestamp>,
}

/// One threshold of a certificate's schedule.
#[derive(Debug, Clone)]
pub struct PlannedThreshold {
    /// `d60` … `d1`, `d0`, `w1`, …
    pub threshold: String,
    /// "expires in 30 days", "has expired", …
    pub describe: String,
    pub at: Timestamp,
    /// The current threshold (true) or a coming one.
    pub current: bool,
    pub recipients: Vec<PlannedRecipient>,
}

/// The schedule of one watched certificate.
#[derive(Debug, Clone)]
pub struct PlannedCertificate {
    pub fingerprint_sha256: String,
    pub subject: String,
    pub not_after: Timestamp,
    pub thresholds: Vec<PlannedThreshold>,
}

/// The organisation's upcoming reminders.
#[derive(Debug, Clone, Default)]
pub struct Upcoming {
    pub certificates: Vec<PlannedCertificate>,
}

impl Upcoming {
    /// (fingerprint, threshold, e-mail) of every reminder the next sweep sends.
    pub fn due_now(&self) -> Vec<(String, String, String)> {
        let mut due = Vec::new();
        for c in &self.certificates {
            for t in c.thresholds.iter().filter(|t| t.current) {
                for r in t
                    .recipients
                    .iter()
                    .filter(|r| r.state == RecipientState::Due)
                {
                    due.push((
                        c.fingerprint_sha256.clone(),
                        t.threshold.clone(),
                        r.email.clone(),
                    ));
                }
            }
        }
        due.sort();
        due
    }
}

impl Trust<'_> {
    /// The upcoming reminders of an organisation (administrators only).
    pub async fn upcoming_reminders(
        &self,
        actor: &Actor,
        org: &OrgId,
    ) -> Result<Upcoming, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let certificates = self.store.watched_certificates(org_id.as_str()).await?;
        if certificates.is_empty() {
            return Ok(Upcoming::default());
        }
        let recipients = self.store.reminder_recipients(org_id.as_str()).await?;
        let recorded = self.store.reminder_states(org_id.as_str()).await?;
        Ok(plan(self.now(), &certificates, &recipients, &recorded))
    }
}

/// The preview, from what storage holds (pure: benchmarks and tests may call it directly).
fn plan(
    now: Timestamp,
    certificates: &[DueCertificate],
    recipients: &[ReminderRecipient],
    recorded: &[ReminderState],
) -> Upcoming {
    let mut by_key: HashMap<(&str, &str), Vec<&ReminderState>> = HashMap::new();
    for r in recorded {
        by_key
            .entry((r.fingerprint_sha256.as_str(), r.threshold.as_str()))
            .or_default()
            .push(r);
    }
    let mut out = Upcoming::default();
    for cert in certificates {
        let not_after = Timestamp::from_unix_millis(cert.not_after);
        let mut thresholds = Vec::new();
        let current = current_threshold(not_after.to_datetime(), now.to_datetime());
        if let Some(t) = current {
            thresholds.push(now_planned(cert, t, now, recipients, &by_key));
        }
        // Coming: at each threshold's moment, the same decision with today's recipients.
        let mut next = current.map_or(Threshold::first(), |t| t.next());
        for _ in 0..COMING_SHOWN {
            thresholds.push(coming_planned(cert, next, recipients));
            if matches!(next, Threshold::WeeklyAfter(_)) {
                break;
            }
            next = next.next();
        }
        out.certificates.push(PlannedCertificate {
            fingerprint_sha256: cert.fingerprint_sha256.clone(),
            subject: cert.subject.clone(),
            not_after,
            thresholds,
        });
    }
    out
}

/// The current threshold `t` of `cert`: what went out already, and what the sweep would send
/// at once.
fn now_planned(
    cert: &DueCertificate,
    t: Threshold,
    now: Timestamp,
    recipients: &[ReminderRecipient],
    by_key: &HashMap<(&str, &str), Vec<&ReminderState>>,
) -> PlannedThreshold {
    let not_after = Timestamp::from_unix_millis(cert.not_after);
    let key = t.key();
    let sent = by_key
        .get(&(cert.fingerprint_sha256.as_str(), key.as_str()))
        .cloned()
        .unwrap_or_default();
    let mut list: Vec<PlannedRecipient> = sent
        .iter()
        .map(|r| PlannedRecipient {
            contact_id: r.contact_id.clone(),
            email: r.email.clone(),
            state: r.status.into(),
            sent_at: r.sent_at.map(Timestamp::from_unix_millis),
        })
        .collect();
    if let Decision::Remind(_, claims) = reminder_decision(cert, now, recipients) {
        for c in claims {
            if !sent.iter().any(|r| r.contact_id == c.contact_id) {
                list.push(PlannedRecipient {
                    contact_id: c.contact_id,
                    email: c.email,
                    state: RecipientState::Due,
                    sent_at: None,
                });
            }
        }
    }
    PlannedThreshold {
        threshold: key,
        describe: t.describe(),
        at: Timestamp::from_datetime(t.moment(not_after.to_datetime())),
        current: true,
        recipients: list,
    }
}

/// A coming threshold `next` of `cert`: at its moment, the sweep's decision with today's
/// recipients.
fn coming_planned(
    cert: &DueCertificate,
    next: Threshold,
    recipients: &[ReminderRecipient],
) -> PlannedThreshold {
    let not_after = Timestamp::from_unix_millis(cert.not_after);
    let at = Timestamp::from_datetime(next.moment(not_after.to_datetime()));
    let then = DueCertificate {
        next_due_at: Some(at.unix_millis()),
        ..cert.clone()
    };
    let list = match reminder_decision(&then, at, recipients) {
        Decision::Remind(_, claims) => claims
            .into_iter()
            .map(|c| PlannedRecipient {
                contact_id: c.contact_id,
                email: c.email,
                state: RecipientState::WillReceive,
                sent_at: None,
            })
            .collect(),
        Decision::NotDue | Decision::BeforeFirst => Vec::new(),
    };
    PlannedThreshold {
        threshold: next.key(),
        describe: next.describe(),
        at,
        current: false,
        recipients: list,
    }
}
