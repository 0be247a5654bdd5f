//! The units of work that change an organisation's contact list: adding a contact and removing
//! one, each one transaction the use case owns (README, "The unit of work"). Storage reads and
//! writes one statement at a time; the rules are the domain's: the list's (`ContactList`: 20,
//! no duplicates, D1's last contact), the hourly additions (`Quota`), D2's re-add (`Start`) and
//! the tombstone of a registration in flight (`RemovedRow`).

use crate::{App, AppError, ErrorCode};
use smartcore_domain::audit::{ContactAdded, ContactRemoved, RemovalCancelled};
use smartcore_domain::{
    AuditActor, AuditDetails, ContactId, ContactName, ContactRuleViolation, ContactSource,
    EmailAddress, IdentityRemoval, ItContact, OrgId, Quota, RemovalId, Start, SyncStatus,
    Timestamp, UserId,
};
use smartcore_storage::audit::{self, AuditEntry};
use smartcore_storage::{RemovalMode, StoreError, contacts, memberships, trust};

/// At most this many IT contacts are added to one organisation an hour (issue 24): each
/// addition may mail a welcome, so add/remove churn must not become a mail cannon.
pub const CONTACT_ADDITIONS_PER_HOUR: u32 = 100;
const ADDITIONS: Quota = Quota::per_hour(CONTACT_ADDITIONS_PER_HOUR);

/// What the administrator asked to add, parsed.
pub(crate) struct NewContact<'a> {
    pub org_id: &'a OrgId,
    pub email: &'a EmailAddress,
    pub name: Option<&'a ContactName>,
    pub source: ContactSource,
    pub member_id: Option<&'a UserId>,
    pub added_by: &'a UserId,
}

pub(crate) struct Added {
    pub contact: ItContact,
    /// D2: the identity-side removal this re-add cancelled, if any.
    pub cancelled_removal: Option<RemovalId>,
}

pub(crate) struct Removed {
    pub contact: ItContact,
    pub identity_removal: IdentityRemoval,
}

/// Why a removal's unit of work did not happen: a rule, or the database (which may be a
/// deadlock's loser, worth running again).
enum Failure {
    Rule(ContactRuleViolation),
    Store(StoreError),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

impl From<ContactRuleViolation> for Failure {
    fn from(v: ContactRuleViolation) -> Self {
        Failure::Rule(v)
    }
}

impl From<Failure> for AppError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Rule(v) => v.into(),
            Failure::Store(e) => e.into(),
        }
    }
}

impl App {
    /// Adds a contact: pending and due for the sync, or, re-added while its identity-side
    /// removal was pending, Synced at once with that removal cancelled (D2). The list is
    /// locked only for what must be decided under it (issue 24).
    pub(crate) async fn add_to_list(&self, new: NewContact<'_>) -> Result<Added, AppError> {
        let now = self.now();
        let org_id = new.org_id;
        let mut tx = self.store.write().await?;
        let still_member = match new.member_id {
            Some(member) => memberships::is_member(&mut tx, org_id, member).await?,
            None => false,
        };
        contacts::lock_list(&mut tx, org_id).await?;
        contacts::list(&mut tx, org_id)
            .await?
            .check_add(new.email)?;
        let window_start = ADDITIONS.window_start(now);
        let additions = contacts::additions_since(&mut tx, org_id, window_start).await?;
        if let Err(free_at) = ADDITIONS.admit_one(additions.recent, additions.oldest, now) {
            drop(tx);
            return Err(self.additions_limited(free_at));
        }
        // Rows out of the window are forgotten now and then, not at every addition.
        let forget = (additions.stale >= ADDITIONS.limit).then_some(window_start);
        contacts::record_addition(&mut tx, org_id, now, forget).await?;

        let start =
            Start::for_addition(contacts::pending_removal_for(&mut tx, org_id, new.email).await?);
        if let Some(removal) = start.cancelled_removal() {
            contacts::cancel_removal_for_readd(&mut tx, removal, new.added_by, now).await?;
        }
        let status = start.status();
        let contact = ItContact {
            id: ContactId::generate(),
            org_id: org_id.clone(),
            email: new.email.clone(),
            name: new.name.cloned(),
            source: new.source,
            member_id: new.member_id.cloned(),
            still_member,
            status,
            status_detail: None,
            synced_at: (status == SyncStatus::Synced).then_some(now),
            identity_contact_id: start.identity_contact_id().map(str::to_owned),
            created_at: now,
            created_by: new.added_by.clone(),
            mail_rejected: None,
        };
        let due = (status == SyncStatus::Pending).then_some(now);
        contacts::insert(&mut tx, &contact, due)
            .await
            .map_err(|e| match e {
                StoreError::Duplicate => AppError::from(ContactRuleViolation::AlreadyAContact {
                    email: new.email.as_str().to_owned(),
                }),
                other => other.into(),
            })?;
        record_addition(&mut tx, &contact, start.cancelled_removal(), now).await?;
        tx.commit().await?;
        Ok(Added {
            cancelled_removal: start.cancelled_removal().cloned(),
            contact,
        })
    }

    fn additions_limited(&self, free_at: Timestamp) -> AppError {
        self.metrics.limit_refusal("contact_additions");
        let secs = smartcore_domain::quota::seconds_until(free_at, self.now());
        AppError::Throttled {
            code: ErrorCode::ContactAdditionsLimited,
            message: format!(
                "This organisation has added {CONTACT_ADDITIONS_PER_HOUR} IT contacts in the last hour, the most allowed. Try again in {}.",
                crate::error::wait_in_words(secs)
            ),
            retry_after_secs: secs,
        }
    }

    /// Removes a contact under D1 and decides what reaches the identity side (R7): nothing
    /// for a contact never registered, a removal request otherwise, and a tombstone for a
    /// registration that may be in flight (issue 24). A removal locks the list, then the
    /// contact and (by cascade) its trust row, while a worker recording a registration or a
    /// welcome may hold the latter: PostgreSQL then rolls one back as a deadlock's loser. The
    /// unit of work is run again (at most three times in all) rather than answered 503.
    pub(crate) async fn remove_from_list(
        &self,
        org_id: &OrgId,
        id: &ContactId,
        removed_by: &UserId,
    ) -> Result<Removed, AppError> {
        let mut tries = 0;
        loop {
            tries += 1;
            match self.remove_contact_once(org_id, id, removed_by).await {
                Err(Failure::Store(e)) if e.lost_a_race() && tries < 3 => {
                    tracing::info!(error = %e, "removal lost a race with a worker; running it again");
                }
                other => return Ok(other?),
            }
        }
    }

    async fn remove_contact_once(
        &self,
        org_id: &OrgId,
        id: &ContactId,
        removed_by: &UserId,
    ) -> Result<Removed, Failure> {
        let now = self.now();
        let completes_now = self.removal_mode == RemovalMode::CompletedNow;
        let mut tx = self.store.write().await?;
        // Its address and name do not change; its status is taken from the row as deleted.
        let mut contact = contacts::fetch(&mut tx, org_id, id).await?;
        let list = contacts::lock_list(&mut tx, org_id).await?;
        contacts::list(&mut tx, org_id)
            .await?
            .check_remove(list.sso_enabled)?;
        // A welcome claimed but not yet being sent goes with the contact, and so does the
        // week's welcome it took: the address is welcomed when it is added again.
        trust::return_unsent_welcome(
            &mut tx,
            id.as_str(),
            org_id.as_str(),
            contact.email.key(),
            now,
        )
        .await?;
        let row = contacts::delete(&mut tx, org_id, id).await?;
        contact.status = row.status;
        contact.identity_contact_id = row.identity_contact_id.clone();
        if contact.status == SyncStatus::Synced && contact.synced_at.is_none() {
            contact.synced_at = Some(now);
        }
        let tombstone = if row.registration_in_flight(completes_now) {
            let automatic = matches!(self.removal_mode, RemovalMode::Queue { automatic: true });
            let lease = row.lease.as_ref();
            Some(
                contacts::insert_tombstone(&mut tx, &contact, removed_by, automatic, lease, now)
                    .await?,
            )
        } else {
            None
        };
        let identity_removal = IdentityRemoval::for_status(contact.status, completes_now);
        let removal_id = match identity_removal {
            IdentityRemoval::NotNeeded => None,
            IdentityRemoval::Flagged | IdentityRemoval::Completed => Some(
                contacts::insert_removal(
                    &mut tx,
                    &contact,
                    list.identity_org_id.as_deref(),
                    removed_by,
                    self.removal_mode,
                    now,
                )
                .await?,
            ),
        };
        audit::record(
            &mut tx,
            AuditEntry {
                org_id: Some(org_id),
                at: now,
                actor: AuditActor::User(removed_by.clone()),
                target: Some(id.as_str()),
                details: AuditDetails::ItContactRemoved(ContactRemoved {
                    email: contact.email.to_string(),
                    identity_removal,
                    registration_in_flight: tombstone.clone(),
                    removal_id: removal_id.clone(),
                    was: contact.status,
                }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Removed {
            contact,
            identity_removal,
        })
    }
}

/// The audit events of an addition: the addition, and D2's cancelled removal.
async fn record_addition(
    conn: &mut smartcore_storage::Connection,
    contact: &ItContact,
    cancelled_removal: Option<&RemovalId>,
    now: Timestamp,
) -> Result<(), StoreError> {
    audit::record(
        conn,
        AuditEntry {
            org_id: Some(&contact.org_id),
            at: now,
            actor: AuditActor::User(contact.created_by.clone()),
            target: Some(contact.id.as_str()),
            details: AuditDetails::ItContactAdded(ContactAdded {
                email: contact.email.to_string(),
                member_id: contact.member_id.clone(),
                name: contact.name.as_ref().map(|n| n.as_str().to_owned()),
                source: contact.source,
            }),
        },
    )
    .await?;
    if let Some(removal) = cancelled_removal {
        audit::record(
            conn,
            AuditEntry {
                org_id: Some(&contact.org_id),
                at: now,
                actor: AuditActor::User(contact.created_by.clone()),
                target: Some(removal.as_str()),
                details: AuditDetails::IdentityRemovalCancelled(RemovalCancelled {
                    contact_id: contact.id.clone(),
                    email: contact.email.to_string(),
                    reason: "the address was added again".to_owned(),
                }),
            },
        )
        .await?;
    }
    Ok(())
}
