//! Alerts the contacts can trust (issue 16): the welcome of a new IT contact, the "Not me / no
//! longer responsible" link in every message to a contact, re-confirmation every
//! `SMARTCORE_RECONFIRM_DAYS`, and test alerts.
//!
//! **Links.** A contact link is `base64url(purpose.contact.org.expiry) "." base64url(HMAC-SHA256)`
//! keyed with a per-installation secret of its own (`contact_link_key`, kept in the database so
//! every instance accepts every link), like setup links but with the purpose signed in, so a
//! "confirm" link cannot be used as a "not me" link or as a setup link. Links work for
//! [`CONTACT_LINK_LIFETIME`] (30 days). Opening one needs no sign-in and lets the contact change
//! nothing but their own flag. A link's page only *shows* what it will do; the change is a POST
//! from that page, because mail scanners fetch every link in a message (a GET that changed
//! something would confirm, or flag, every contact whose mail is scanned). Tampered or unknown:
//! 404; expired: 410; the contact removed: 410; used again: the same answer, nothing changes.
//!
//! **Welcome.** The transaction that marks a contact Synced inserts its `contact_trust` row (see
//! `smartcore_storage::trust`), so the welcome is due exactly once; a worker takes it with a
//! lease (`SMARTCORE_SYNC_LEASE_S`, 10 s by default) that it renews while it sends, so the
//! welcome of a worker killed mid-send goes out from the next worker once the lease has run
//! out; a deferred send keeps the welcome back until its retry time (five minutes). A re-add that cancels a pending removal (D2) is Synced without passing
//! there, so no second welcome. The welcome carries a confirmation link and counts as the first
//! re-confirmation request.
//!
//! **Re-confirmation.** A Synced contact whose last confirmation (or registration) is older than
//! the period gets "Are you still the right person?". Unanswered after
//! [`UNCONFIRMED_AFTER`] (30 days), the contact shows as unconfirmed and the administrators are
//! told once. A contact whose mail was rejected, or who said "not me", is not *reachable*: the
//! advice to have at least two contacts counts reachable ones only.

mod passes;

use crate::Trust;
use crate::metrics::delivery_outcome;
use crate::signing::LinkKind;
use crate::sync::pass_owner;
use crate::{Actor, App, AppError};
use futures_util::future::FutureExt;
use smartcore_domain::DeliveryStatus;
use smartcore_domain::Lease;
use smartcore_domain::MailKind;
use smartcore_domain::audit::ContactAddress;
use smartcore_domain::{AuditActor, AuditDetails};
use smartcore_domain::{ContactId, ItContact, OrgId, SyncStatus, Timestamp, signed_link};
use smartcore_mail::{
    AdminNoticeMail, OutgoingMail, ReconfirmMail, WelcomeMail, admin_notice, reconfirm, welcome,
    with_not_me_link,
};
use smartcore_storage::{Delivery, DeliveryOutcome, TrustMailJob, TrustRecord};
use std::collections::HashMap;

/// How long a "confirm" or "not me" link works.
pub const CONTACT_LINK_LIFETIME: time::Duration = time::Duration::days(30);
/// A re-confirmation request unanswered this long marks the contact unconfirmed.
pub const UNCONFIRMED_AFTER: time::Duration = time::Duration::days(30);
/// The default of `SMARTCORE_RECONFIRM_DAYS`.
pub const DEFAULT_RECONFIRM_DAYS: u32 = 180;
/// A welcome the mail server did not take is tried again after this long.
const WELCOME_RETRY_MS: i64 = 5 * 60 * 1000;
/// Rows taken per pass of the trust worker.
const PASS_BATCH: i64 = 100;

fn ms(d: time::Duration) -> i64 {
    d.whole_milliseconds() as i64
}

/// What a contact link is for (signed into the link).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// "Not me / no longer responsible".
    NotMe,
    /// "Yes, I am (still) the right person".
    Confirm,
}

impl LinkPurpose {
    fn tag(self) -> &'static str {
        match self {
            LinkPurpose::NotMe => "notme",
            LinkPurpose::Confirm => "confirm",
        }
    }
}

/// Why a contact link does not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactLinkRefused {
    /// Malformed, not signed by us, or for another purpose: 404.
    Invalid,
    /// Older than 30 days: 410.
    Expired,
    /// Its contact was removed: 410.
    Removed,
}

/// What a contact link's page shows: the contact's view, or why the link does not open.
#[derive(Debug, Clone)]
pub enum ContactLinkPage {
    Open(ContactLinkView),
    Refused(ContactLinkRefused),
}

/// A contact link checked: what it names, or why it does not open.
enum ContactLinkCheck {
    Found(OrgId, ContactId, Box<ItContact>),
    Refused(ContactLinkRefused),
}

/// Who a valid contact link is for, as its page shows it.
#[derive(Debug, Clone)]
pub struct ContactLinkView {
    pub org_name: String,
    pub contact_email: String,
    /// Already done: when the contact said "not me" (for that link) or last confirmed.
    pub done_at: Option<Timestamp>,
}

smartcore_domain::column_text! {
    /// Where a contact's re-confirmation stands.
    pub enum Confirmation {
        /// Never asked yet (the welcome has not gone out).
        NotAsked => "not_asked",
        /// Asked, less than 30 days ago.
        Awaiting => "awaiting",
        /// Confirmed since the last request.
        Confirmed => "confirmed",
        /// Asked more than 30 days ago without an answer.
        Overdue => "overdue",
    }
}

/// The last test alert to a contact and what the mail server did with it.
#[derive(Debug, Clone)]
pub struct TestAlertOutcome {
    pub at: Timestamp,
    pub status: DeliveryStatus,
    pub error: Option<String>,
}

/// What an administrator sees of a contact's trust state.
#[derive(Debug, Clone)]
pub struct ContactTrust {
    pub welcomed_at: Option<Timestamp>,
    /// The contact said they are not (or no longer) responsible, at this time.
    pub not_responsible_at: Option<Timestamp>,
    pub confirmed_at: Option<Timestamp>,
    pub confirmation_requested_at: Option<Timestamp>,
    pub confirmation: Confirmation,
    /// Synced, mail not rejected, not overdue, not "not me": alerts can be expected to reach
    /// this person.
    pub reachable: bool,
    pub last_test_alert: Option<TestAlertOutcome>,
}

/// The trust state of an organisation's contacts, for the list and the checklist.
#[derive(Debug, Clone, Default)]
pub struct TrustOverview {
    /// By contact id.
    pub contacts: HashMap<String, ContactTrust>,
    pub confirmed: usize,
    pub reachable: usize,
    /// Known not to be reachable: mail rejected, re-confirmation overdue, or "not me" (a
    /// contact still Pending is neither).
    pub unreachable: usize,
    pub total: usize,
}

impl TrustOverview {
    pub fn of(&self, contact_id: &str) -> Option<&ContactTrust> {
        self.contacts.get(contact_id)
    }
}

fn trust_of(
    c: &ItContact,
    t: Option<&TrustRecord>,
    now: Timestamp,
    test: Option<TestAlertOutcome>,
) -> ContactTrust {
    let at = |v: Option<i64>| v.map(Timestamp::from_unix_millis);
    let requested = t.and_then(|t| t.reconfirm_requested_at);
    let confirmed = t.and_then(|t| t.confirmed_at);
    let confirmation = match (requested, confirmed) {
        (Some(r), c) if c.is_none_or(|c| c < r) => {
            if now.unix_millis() - r >= ms(UNCONFIRMED_AFTER) {
                Confirmation::Overdue
            } else {
                Confirmation::Awaiting
            }
        }
        (_, Some(_)) => Confirmation::Confirmed,
        _ => Confirmation::NotAsked,
    };
    let not_responsible = at(t.and_then(|t| t.not_responsible_at));
    ContactTrust {
        welcomed_at: at(t.and_then(|t| t.welcome_sent_at)),
        not_responsible_at: not_responsible,
        confirmed_at: at(confirmed),
        confirmation_requested_at: at(requested),
        confirmation,
        reachable: c.status == SyncStatus::Synced
            && c.mail_rejected.is_none()
            && confirmation != Confirmation::Overdue
            && not_responsible.is_none(),
        last_test_alert: test,
    }
}

/// The trust state of `contacts` from their trust records (absent: never happened).
fn trust_of_contacts(
    contacts: &[ItContact],
    records: &[TrustRecord],
    now: Timestamp,
) -> TrustOverview {
    let by_id: HashMap<&str, &TrustRecord> =
        records.iter().map(|r| (r.contact_id.as_str(), r)).collect();
    let mut tests: HashMap<String, TestAlertOutcome> = records
        .iter()
        .filter_map(|r| {
            Some((
                r.contact_id.clone(),
                TestAlertOutcome {
                    at: Timestamp::from_unix_millis(r.test_alert_at?),
                    status: r.test_alert_status?,
                    error: r.test_alert_error.clone(),
                },
            ))
        })
        .collect();
    let mut overview = TrustOverview {
        total: contacts.len(),
        ..TrustOverview::default()
    };
    for c in contacts {
        let t = trust_of(
            c,
            by_id.get(c.id.as_str()).copied(),
            now,
            tests.remove(c.id.as_str()),
        );
        if t.reachable {
            overview.reachable += 1;
        }
        if c.mail_rejected.is_some()
            || t.confirmation == Confirmation::Overdue
            || t.not_responsible_at.is_some()
        {
            overview.unreachable += 1;
        }
        if t.confirmation == Confirmation::Confirmed && t.reachable {
            overview.confirmed += 1;
        }
        overview.contacts.insert(c.id.to_string(), t);
    }
    overview
}

impl Trust<'_> {
    /// The link of `purpose` for a contact, valid 30 days from now.
    pub(crate) fn contact_link(
        &self,
        key: &[u8],
        purpose: LinkPurpose,
        org_id: &str,
        contact_id: &str,
    ) -> String {
        let expires = self.now().plus_millis(ms(CONTACT_LINK_LIFETIME));
        let expiry = expires.unix_millis().to_string();
        let token = signed_link::seal(key, &[purpose.tag(), contact_id, org_id, &expiry]);
        self.links.contact_link(purpose, &token)
    }

    /// Checks a contact link: the organisation and contact it names, or why it does not open.
    async fn check_contact_link(
        &self,
        purpose: LinkPurpose,
        token: &str,
    ) -> Result<ContactLinkCheck, AppError> {
        let invalid = Ok(ContactLinkCheck::Refused(ContactLinkRefused::Invalid));
        let key = self.link_key(LinkKind::Contact).await?;
        let Some(fields) = signed_link::open(&key, token, 4) else {
            return invalid;
        };
        let [tag, contact, org, expires] = fields.as_slice() else {
            return invalid;
        };
        let (true, Some(contact_id), Some(org_id), Ok(expires)) = (
            tag == purpose.tag(),
            ContactId::parse(contact),
            OrgId::parse(org),
            expires.parse::<i64>(),
        ) else {
            return invalid;
        };
        if self.now().unix_millis() >= expires {
            return Ok(ContactLinkCheck::Refused(ContactLinkRefused::Expired));
        }
        match self.store.contact(&org_id, &contact_id).await {
            Ok(c) => Ok(ContactLinkCheck::Found(org_id, contact_id, Box::new(c))),
            Err(smartcore_storage::StoreError::NotFound) => {
                Ok(ContactLinkCheck::Refused(ContactLinkRefused::Removed))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// What a contact link's page shows (nothing changes).
    pub async fn open_contact_link(
        &self,
        purpose: LinkPurpose,
        token: &str,
    ) -> Result<ContactLinkPage, AppError> {
        let (org_id, contact_id, contact) = match self.check_contact_link(purpose, token).await? {
            ContactLinkCheck::Found(org_id, contact_id, contact) => (org_id, contact_id, contact),
            ContactLinkCheck::Refused(refused) => return Ok(ContactLinkPage::Refused(refused)),
        };
        let org = self.store.org(&org_id).await?;
        let trust = self.store.contact_trust(&org_id).await?;
        let t = trust.iter().find(|t| t.contact_id == contact_id.as_str());
        let done_at = match purpose {
            LinkPurpose::NotMe => t.and_then(|t| t.not_responsible_at),
            LinkPurpose::Confirm => t
                .filter(|t| {
                    t.confirmed_at
                        .is_some_and(|c| t.reconfirm_requested_at.is_none_or(|r| c >= r))
                })
                .and_then(|t| t.confirmed_at),
        };
        Ok(ContactLinkPage::Open(ContactLinkView {
            org_name: org.name,
            contact_email: contact.email.to_string(),
            done_at: done_at.map(Timestamp::from_unix_millis),
        }))
    }

    /// Does what a contact link is for: "not me" flags the contact (and tells the
    /// administrators, once); "confirm" records the confirmation. Repeating changes nothing.
    pub async fn use_contact_link(
        &self,
        purpose: LinkPurpose,
        token: &str,
    ) -> Result<ContactLinkPage, AppError> {
        let (org_id, contact_id, contact) = match self.check_contact_link(purpose, token).await? {
            ContactLinkCheck::Found(org_id, contact_id, contact) => (org_id, contact_id, contact),
            ContactLinkCheck::Refused(refused) => return Ok(ContactLinkPage::Refused(refused)),
        };
        let now = self.now();
        match purpose {
            LinkPurpose::NotMe => {
                let first = self
                    .store
                    .flag_not_responsible(&org_id, contact_id.as_str(), now)
                    .await?;
                if first {
                    self.store
                        .record_audit(smartcore_storage::AuditEntry {
                            org_id: Some(&org_id),
                            at: now,
                            actor: AuditActor::Contact(contact.email.clone()),
                            target: Some(contact_id.as_str()),
                            details: AuditDetails::ItContactNotResponsible(ContactAddress {
                                email: contact.email.to_string(),
                            }),
                        })
                        .await?;
                }
                if self
                    .store
                    .take_not_responsible_notice(contact_id.as_str(), now)
                    .await?
                {
                    let who = contact_label(&contact);
                    self.notify_admins(
                        &org_id,
                        &format!("{who} says they are not responsible for sign-on"),
                        vec![
                            format!("{who} used the \"Not me / no longer responsible\" link in a message to them as an IT contact."),
                            "Nothing has been removed. Alerts still go to this address until you remove the contact; if they are the right person after all, choose \"Keep as contact\" on the Authentication page.".to_owned(),
                        ],
                    )
                    .await?;
                }
            }
            LinkPurpose::Confirm => {
                self.store
                    .confirm_contact(&org_id, contact_id.as_str(), now)
                    .await?;
            }
        }
        self.open_contact_link(purpose, token).await
    }

    /// An administrator keeps a contact that said "not me": the flag is cleared.
    pub async fn keep_contact(
        &self,
        actor: &Actor,
        org: &OrgId,
        contact_id: &ContactId,
    ) -> Result<bool, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        self.store.contact(&org_id, contact_id).await?;
        let cleared = self
            .store
            .clear_not_responsible(&org_id, contact_id.as_str())
            .await?;
        if cleared {
            self.store
                .record_audit(smartcore_storage::AuditEntry {
                    org_id: Some(&org_id),
                    at: self.now(),
                    actor: actor.audit_actor(),
                    target: Some(contact_id.as_str()),
                    details: AuditDetails::ItContactKept,
                })
                .await?;
        }
        Ok(cleared)
    }

    /// The trust state of an organisation's contacts (administrators only).
    pub async fn trust_overview(
        &self,
        actor: &Actor,
        org: &OrgId,
    ) -> Result<TrustOverview, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let listing = self.store.contacts_seen_by(&org_id, None).await?;
        Ok(trust_of_contacts(
            &listing.contacts,
            &listing.trust,
            self.now(),
        ))
    }

    /// The trust state of the contacts of a list already read (and its access checked) with
    /// [`crate::Contacts::list_contacts`], which read their trust records with them: no query
    /// of its own.
    pub async fn trust_of_listed(
        &self,
        list: &crate::ContactListView,
    ) -> Result<TrustOverview, AppError> {
        Ok(trust_of_contacts(&list.contacts, &list.trust, self.now()))
    }

    /// Tells every administrator of the organisation about one of its contacts.
    async fn notify_admins(
        &self,
        org_id: &OrgId,
        subject: &str,
        paragraphs: Vec<String>,
    ) -> Result<usize, AppError> {
        let org = self.store.org(org_id).await?;
        let mut sent = 0;
        for admin in self.store.org_admins(org_id.as_str()).await? {
            let mail = admin_notice(&AdminNoticeMail {
                org_name: org.name.clone(),
                recipient_email: admin.email.clone(),
                recipient_name: Some(admin.name.clone()),
                subject: subject.to_owned(),
                paragraphs: paragraphs.clone(),
                settings_url: self.links.authentication_settings(org_id.as_str()),
            });
            if let DeliveryOutcome::Sent { .. } = self
                .send_recorded(&mail, org_id.as_str(), None, MailKind::AdminNotice)
                .await?
            {
                sent += 1;
            }
        }
        Ok(sent)
    }

    pub(crate) async fn send_recorded(
        &self,
        mail: &OutgoingMail,
        org_id: &str,
        contact_id: Option<&str>,
        kind: MailKind,
    ) -> Result<DeliveryOutcome, AppError> {
        let outcome = delivery_outcome(self.send_mail(mail).await);
        if let DeliveryOutcome::Deferred { error } = &outcome {
            tracing::warn!(to = %mail.to, %error, kind = kind.as_str(), "message not sent");
        }
        self.store
            .record_deliveries(&[Delivery {
                org_id: org_id.to_owned(),
                contact_id: contact_id.map(str::to_owned),
                email: mail.to.clone(),
                kind,
                subject: mail.subject.clone(),
                outcome: outcome.clone(),
                at: self.now(),
            }])
            .await?;
        Ok(outcome)
    }
}

impl App {
    /// A message to a contact with its "Not me" link added.
    pub(crate) fn for_contact(
        &self,
        key: &[u8],
        mail: OutgoingMail,
        org_id: &str,
        contact_id: &str,
    ) -> OutgoingMail {
        let url = self
            .trust()
            .contact_link(key, LinkPurpose::NotMe, org_id, contact_id);
        with_not_me_link(mail, &url)
    }
}

impl App {
    /// The key for [`App::for_contact`], read once per send-out.
    pub(crate) async fn not_me_key(&self) -> Result<Vec<u8>, AppError> {
        self.link_key(LinkKind::Contact).await
    }
}

fn contact_label(c: &ItContact) -> String {
    match &c.name {
        Some(n) => format!("{} ({})", n.as_str(), c.email),
        None => c.email.to_string(),
    }
}
