//! The rules of Smart Core Connect's sign-on settings, as the help article states them.
//!
//! Nothing here performs I/O or awaits: every type is a value, every rule a function of values.
//! Inputs are *parsed* into types ([`EmailAddress`], [`ContactName`], [`PersonName`]) so that
//! nothing downstream can hold an invalid value.

pub mod access;
pub mod audit;
pub mod backoff;
pub mod contact;
pub mod email;
pub mod ids;
pub mod invitation;
pub mod lease;
pub mod markup;
pub mod name;
pub mod quota;
pub mod signed_link;
pub mod state;
pub mod time;

pub use access::{Access, Denied, MembershipRefused, Role};
pub use audit::{AuditActor, AuditDetails};
pub use backoff::Backoff;
pub use contact::{
    ContactList, ContactRuleViolation, ContactSource, IdentityRemoval, ItContact, MAX_CONTACTS,
    MailRejection, PendingRemoval, RECOMMENDED_MINIMUM, RemovedRow, Start, SyncStatus,
};
pub use email::{EmailAddress, EmailError};
pub use ids::{
    AuditEventId, ContactId, DeliveryId, DomainId, InvitationId, OrgId, RemovalId, SessionId,
    TokenId, UserId,
};
pub use invitation::{
    AcceptRefused, Acceptor, ExistingAccount, InvitationStatus, InviteFacts, InvitePolicy,
    InviteRefused, Joining, LinkFacts,
};
pub use lease::Lease;
pub use name::{ContactName, NameError, PersonName, check_label};
pub use quota::Quota;
pub use state::{
    AuditAction, DeliveryStatus, DomainStatus, IdpBinding, MailKind, RecipientState,
    ReminderNotice, ReminderStatus, RemovalOutcome, RemovalStatus, SignInFlag, SsoAttemptResult,
    SsoConfigSource, SsoRequestPurpose, SsoStatus, SystemActor, UnknownText,
};
pub use time::Timestamp;
