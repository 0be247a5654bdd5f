//! IT contacts and the rules of an organisation's contact list (R3, R5, R6, R7, D1, D2).

use crate::{ContactId, ContactName, EmailAddress, Lease, OrgId, RemovalId, Timestamp, UserId};

/// The most IT contacts an organisation may have (R3; WorkOS has the same limit).
pub const MAX_CONTACTS: usize = 20;
/// Fewer than this and alerts depend on a single person: the UI advises adding another.
pub const RECOMMENDED_MINIMUM: usize = 2;

crate::column_text! {
    /// How a contact was added (R4). All contacts are equal whatever their source (R2).
    pub enum ContactSource {
        /// Picked from the organisation's members; keeps the member link for display (D3).
        Member => "member",
        /// Typed in by hand, for example an external IT provider.
        Manual => "manual",
    }
}

impl ContactSource {
    /// The column's text read back (none for any other text).
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }
}

crate::column_text! {
    /// Where a contact stands with the identity side (R6).
    pub enum SyncStatus {
        /// Not registered yet; the background sync will do it.
        Pending => "pending",
        /// Registered to receive alerts: the green Synced badge.
        Synced => "synced",
        /// The identity side refused it for good; `status_detail` says why.
        Failed => "failed",
    }
}

impl SyncStatus {
    /// The column's text read back (none for any other text).
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }
}

/// An IT contact: someone who receives setup links and alerts, and gains no access (R2, R9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItContact {
    pub id: ContactId,
    pub org_id: OrgId,
    pub email: EmailAddress,
    pub name: Option<ContactName>,
    pub source: ContactSource,
    pub member_id: Option<UserId>,
    /// For a member contact: whether that person is still a member (D3).
    pub still_member: bool,
    pub status: SyncStatus,
    pub status_detail: Option<String>,
    pub synced_at: Option<Timestamp>,
    pub identity_contact_id: Option<String>,
    pub created_at: Timestamp,
    pub created_by: UserId,
    /// The mail server refused the last message sent to this contact, for good: alerts do not
    /// reach them until the address is corrected (remove the contact, add the right address).
    pub mail_rejected: Option<MailRejection>,
}

/// A permanent refusal of mail to an IT contact, as the mail server explained it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailRejection {
    pub at: Timestamp,
    pub reason: String,
}

/// A rule of the contact list that an intended change would break.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactRuleViolation {
    #[error("{email} is already an IT contact.")]
    AlreadyAContact { email: String },
    #[error("You already have 20 IT contacts, the most allowed. Remove one before adding another.")]
    LimitReached,
    #[error(
        "This is the last IT contact and Single Sign-On is enabled. Add another IT contact before removing this one."
    )]
    LastContactRequired,
}

crate::column_text! {
    /// What happens on the identity side when a contact is removed (R7).
    pub enum IdentityRemoval {
        /// Never registered: the pending registration is cancelled, nothing reaches the
        /// identity side.
        NotNeeded => "not_needed",
        /// Registered: a removal request waits for the operations team.
        Flagged => "flagged",
        /// Registered, and removed there already (builtin connector, or automatic removal).
        Completed => "completed",
    }
}

impl IdentityRemoval {
    /// Decides the removal for a contact in `status`. `completes_itself` is true where the
    /// connector removes without the operations team (builtin, or auto-remove configured).
    pub fn for_status(status: SyncStatus, completes_itself: bool) -> Self {
        match (status, completes_itself) {
            (SyncStatus::Synced, true) => IdentityRemoval::Completed,
            (SyncStatus::Synced, false) => IdentityRemoval::Flagged,
            (SyncStatus::Pending | SyncStatus::Failed, _) => IdentityRemoval::NotNeeded,
        }
    }
}

/// An identity-side removal of an address still waiting for the operations team (or the
/// removal worker) when the address is added again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRemoval {
    pub id: RemovalId,
    /// The registration that removal would delete.
    pub identity_contact_id: String,
}

/// How a contact starts its life in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// Pending, due for the sync at once.
    Pending,
    /// D2: re-added while its identity-side removal was pending. The removal is cancelled and
    /// the contact is Synced at once with the registration it kept; nothing reaches the
    /// identity side, and no second welcome goes out.
    Restored(PendingRemoval),
}

impl Start {
    /// D2: a re-add cancels the address's pending removal; any other addition is pending.
    pub fn for_addition(pending_removal: Option<PendingRemoval>) -> Start {
        match pending_removal {
            Some(removal) => Start::Restored(removal),
            None => Start::Pending,
        }
    }

    pub fn status(&self) -> SyncStatus {
        match self {
            Start::Pending => SyncStatus::Pending,
            Start::Restored(_) => SyncStatus::Synced,
        }
    }

    /// The identity-side registration it starts with, if any.
    pub fn identity_contact_id(&self) -> Option<&str> {
        match self {
            Start::Pending => None,
            Start::Restored(removal) => Some(&removal.identity_contact_id),
        }
    }

    /// The removal this addition cancels, if any.
    pub fn cancelled_removal(&self) -> Option<&RemovalId> {
        match self {
            Start::Pending => None,
            Start::Restored(removal) => Some(&removal.id),
        }
    }
}

/// What the contact's row said as it was deleted: enough to decide what the identity side
/// must be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedRow {
    pub status: SyncStatus,
    pub identity_contact_id: Option<String>,
    /// The sync worker's claim on the row, if one held it.
    pub lease: Option<Lease>,
    /// Registration attempts made so far.
    pub sync_attempts: i64,
}

impl RemovedRow {
    /// Issue 24: a Pending contact whose registration may already have reached the identity
    /// side (a worker holds it, alive or killed, or an earlier attempt got no answer) leaves a
    /// tombstone, so that whoever finishes or takes over that registration removes it again.
    /// Not where the connector removes at once (builtin): nothing can be in flight there.
    pub fn registration_in_flight(&self, removal_completes_now: bool) -> bool {
        self.status == SyncStatus::Pending
            && !removal_completes_now
            && (self.lease.is_some() || self.sync_attempts > 0)
    }
}

/// An organisation's current contacts, as far as the rules need to know them: their
/// comparison keys. Built inside the transaction that changes the list, so the checks and the
/// change see the same state.
#[derive(Debug, Clone, Default)]
pub struct ContactList {
    keys: Vec<String>,
}

impl ContactList {
    pub fn new(keys: impl IntoIterator<Item = String>) -> Self {
        Self {
            keys: keys.into_iter().collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn contains(&self, email: &EmailAddress) -> bool {
        self.keys.iter().any(|k| k == email.key())
    }

    /// R3 and R5: room for one more, and not the same address twice.
    pub fn check_add(&self, email: &EmailAddress) -> Result<(), ContactRuleViolation> {
        if self.contains(email) {
            return Err(ContactRuleViolation::AlreadyAContact {
                email: email.as_str().to_owned(),
            });
        }
        if self.keys.len() >= MAX_CONTACTS {
            return Err(ContactRuleViolation::LimitReached);
        }
        Ok(())
    }

    /// D1: while SSO is enabled, the last contact stays.
    pub fn check_remove(&self, sso_enabled: bool) -> Result<(), ContactRuleViolation> {
        if sso_enabled && self.keys.len() <= 1 {
            return Err(ContactRuleViolation::LastContactRequired);
        }
        Ok(())
    }

    /// R3: fewer than two contacts means alerts depend on a single person.
    pub fn below_recommended(&self) -> bool {
        self.keys.len() < RECOMMENDED_MINIMUM
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_re_add_restores_the_registration_its_pending_removal_would_delete() {
        let removal = PendingRemoval {
            id: RemovalId::generate(),
            identity_contact_id: "idc_1".into(),
        };
        let start = Start::for_addition(Some(removal.clone()));
        assert_eq!(start.status(), SyncStatus::Synced);
        assert_eq!(start.identity_contact_id(), Some("idc_1"));
        assert_eq!(start.cancelled_removal(), Some(&removal.id));
        let fresh = Start::for_addition(None);
        assert_eq!(fresh.status(), SyncStatus::Pending);
        assert_eq!(fresh.identity_contact_id(), None);
        assert_eq!(fresh.cancelled_removal(), None);
    }

    #[test]
    fn only_a_pending_registration_that_may_be_under_way_leaves_a_tombstone() {
        let row = |status, lease: bool, sync_attempts| RemovedRow {
            status,
            identity_contact_id: None,
            lease: lease.then(|| Lease::held("worker#1", Timestamp::from_unix_millis(5))),
            sync_attempts,
        };
        assert!(row(SyncStatus::Pending, true, 0).registration_in_flight(false));
        assert!(row(SyncStatus::Pending, false, 2).registration_in_flight(false));
        assert!(!row(SyncStatus::Pending, false, 0).registration_in_flight(false));
        assert!(!row(SyncStatus::Pending, true, 1).registration_in_flight(true));
        assert!(!row(SyncStatus::Synced, true, 1).registration_in_flight(false));
        assert!(!row(SyncStatus::Failed, false, 3).registration_in_flight(false));
    }

    fn email(s: &str) -> EmailAddress {
        EmailAddress::parse(s).unwrap()
    }

    fn list_of(n: usize) -> ContactList {
        ContactList::new((0..n).map(|i| format!("it{i}@example.com")))
    }

    #[test]
    fn accepts_up_to_twenty() {
        assert_eq!(list_of(19).check_add(&email("new@example.com")), Ok(()));
        assert_eq!(
            list_of(20).check_add(&email("new@example.com")),
            Err(ContactRuleViolation::LimitReached)
        );
    }

    #[test]
    fn refuses_the_same_address_whatever_its_case() {
        let list = ContactList::new([email("Ada@Example.com").key().to_owned()]);
        assert!(matches!(
            list.check_add(&email("ADA@example.COM")),
            Err(ContactRuleViolation::AlreadyAContact { .. })
        ));
    }

    #[test]
    fn duplicate_is_reported_before_the_limit() {
        let list = list_of(20);
        assert!(matches!(
            list.check_add(&email("it3@example.com")),
            Err(ContactRuleViolation::AlreadyAContact { .. })
        ));
    }

    #[test]
    fn last_contact_stays_while_sso_is_enabled() {
        assert_eq!(
            list_of(1).check_remove(true),
            Err(ContactRuleViolation::LastContactRequired)
        );
        assert_eq!(list_of(1).check_remove(false), Ok(()));
        assert_eq!(list_of(2).check_remove(true), Ok(()));
    }

    #[test]
    fn recommends_at_least_two() {
        assert!(list_of(0).below_recommended());
        assert!(list_of(1).below_recommended());
        assert!(!list_of(2).below_recommended());
    }

    #[test]
    fn removal_depends_on_whether_the_identity_side_knows_the_contact() {
        use IdentityRemoval::*;
        assert_eq!(
            IdentityRemoval::for_status(SyncStatus::Pending, true),
            NotNeeded
        );
        assert_eq!(
            IdentityRemoval::for_status(SyncStatus::Failed, false),
            NotNeeded
        );
        assert_eq!(
            IdentityRemoval::for_status(SyncStatus::Synced, false),
            Flagged
        );
        assert_eq!(
            IdentityRemoval::for_status(SyncStatus::Synced, true),
            Completed
        );
    }
}
