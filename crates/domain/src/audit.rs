//! The audit log's events, typed (D4): who acted ([`AuditActor`], mapped to and from the text
//! of `audit_events.actor` here and nowhere else) and what they did ([`AuditDetails`]: one
//! variant per [`AuditAction`], each carrying its details struct), so an event's action and its
//! details cannot disagree.
//!
//! The details are stored as JSON text (`audit_events.details`) and shown as they are by the
//! API. Each struct declares its fields in alphabetical order: the order the JSON has always
//! had (the events were first written with `serde_json::json!`, whose map sorts its keys), so
//! the stored text does not change. A value not known is `null`, except where a field says it
//! is left out.

use crate::state::{SystemActor, UnknownText};
use crate::{
    AuditAction, ContactId, ContactSource, EmailAddress, IdentityRemoval, RemovalId,
    RemovalOutcome, Role, SyncStatus, UserId,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Who made a change (`audit_events.actor`; `invitations.invited_by` and
/// `identity_removals.completed_by` hold the same texts).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AuditActor {
    /// A signed-in user (administrator, member or staff), by id.
    User(UserId),
    /// The service itself: background work, sign-ins through the identity provider.
    System,
    /// Whoever runs `smartcore …` commands on the installation.
    Cli,
    /// An IT contact, by address, through a link in a message to them ("Not me").
    Contact(EmailAddress),
}

/// The text of [`AuditActor::Cli`].
const CLI: &str = "cli";

impl AuditActor {
    /// The text stored in the column (and shown in JSON): a user's id, `system`, `cli` or a
    /// contact's address.
    pub fn as_str(&self) -> &str {
        match self {
            AuditActor::User(id) => id.as_str(),
            AuditActor::System => SystemActor::System.as_str(),
            AuditActor::Cli => CLI,
            AuditActor::Contact(email) => email.as_str(),
        }
    }
}

impl std::str::FromStr for AuditActor {
    type Err = UnknownText;

    /// Reads a column back; refuses any text [`AuditActor::as_str`] would not write.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == SystemActor::System.as_str() {
            return Ok(AuditActor::System);
        }
        if s == CLI {
            return Ok(AuditActor::Cli);
        }
        if let Some(id) = UserId::parse(s) {
            return Ok(AuditActor::User(id));
        }
        match EmailAddress::parse(s) {
            Ok(email) if email.as_str() == s => Ok(AuditActor::Contact(email)),
            _ => Err(UnknownText {
                kind: "AuditActor",
                text: s.to_owned(),
            }),
        }
    }
}

impl TryFrom<String> for AuditActor {
    type Error = UnknownText;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for AuditActor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for AuditActor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AuditActor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str> as Deserialize>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// `api_token.created`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenCreated {
    /// RFC 3339; `null` for a token that does not expire.
    pub expires_at: Option<String>,
    pub name: String,
    pub user_id: UserId,
}

/// `api_token.revoked`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRevoked {
    pub name: String,
    pub user_id: String,
}

/// One token of [`TokensRevoked`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenNamed {
    pub id: String,
    pub name: String,
}

/// `api_token.revoked_all`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokensRevoked {
    pub count: usize,
    pub tokens: Vec<TokenNamed>,
    pub user_id: UserId,
}

/// `domain.added` and `domain.verified`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainNamed {
    pub domain: String,
}

/// `identity_removal.cancelled`: the address was added again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovalCancelled {
    pub contact_id: ContactId,
    pub email: String,
    pub reason: String,
}

/// `identity_removal.completed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovalCompleted {
    pub email: String,
    pub identity_contact_id: String,
    pub outcome: RemovalOutcome,
}

/// `identity_removal.flagged`: a registration finished after its contact was removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovalFlagged {
    pub contact_id: String,
    pub email: String,
    pub identity_contact_id: String,
    pub reason: String,
}

/// `invitation.created` and `invitation.resent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationSent {
    pub email: String,
    pub role: Role,
}

/// `invitation.accepted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationAccepted {
    pub email: String,
    /// The account was created by accepting.
    pub new_account: bool,
    pub role: Role,
}

/// `invitation.revoked`: by an administrator, or because its inviter lost their authority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationRevoked {
    pub email: String,
    /// The inviter whose authority ended; left out when an administrator revoked it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invited_by: Option<UserId>,
    /// `inviter_demoted`, `inviter_removed` or `inviter_disabled`; left out as `invited_by`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub role: Role,
}

/// `it_contact.added`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactAdded {
    pub email: String,
    pub member_id: Option<UserId>,
    pub name: Option<String>,
    pub source: ContactSource,
}

/// `it_contact.not_responsible`: the contact's address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactAddress {
    pub email: String,
}

/// `it_contact.removed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactRemoved {
    pub email: String,
    pub identity_removal: IdentityRemoval,
    /// The tombstone of a registration still in flight.
    pub registration_in_flight: Option<RemovalId>,
    pub removal_id: Option<RemovalId>,
    /// The contact's status when removed.
    pub was: SyncStatus,
}

/// `it_contact.sync_failed` and `it_contact.sync_resumed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactReason {
    pub email: String,
    pub reason: String,
}

/// `it_contact.synced`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactSynced {
    /// The identity side had it already.
    pub adopted: bool,
    pub email: String,
    pub identity_contact_id: String,
}

/// `member.joined_with_sso`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberJoined {
    pub email: String,
    pub role: Role,
}

/// `member.role_changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleChanged {
    pub email: String,
    pub from: Role,
    pub name: String,
    pub to: Role,
}

/// `member.removed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRemoved {
    pub email: String,
    pub name: String,
    pub role: Role,
}

/// `setup_links.sent`: to how many contacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupLinks {
    pub sent_to: usize,
}

/// `sso.configured` and `sso.metadata_changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoConfig {
    /// The certificates' SHA-256 fingerprints.
    pub certificates: Vec<String>,
    pub idp_entity_id: String,
    pub idp_sso_url: String,
    pub metadata_url: Option<String>,
    /// `url`, `metadata` or `fields`.
    pub source: String,
}

/// `sso.policy_changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoPolicy {
    pub idp_initiated: bool,
    pub jit_members: bool,
    pub require_sso: bool,
}

/// `sso.unknown_certificate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnknownCertificate {
    pub certificate_sha256: String,
    /// The identity provider's metadata is being fetched again.
    pub refetching: bool,
    pub subject: String,
}

/// `sso.signed_in`, `sso.tested` and `sso.sign_in_refused`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInAttempt {
    pub certificate_sha256: Option<String>,
    pub email: Option<String>,
    pub name_id: Option<String>,
    pub reason: Option<String>,
}

/// `test_alert.sent`: how the messages went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestAlerts {
    pub deferred: usize,
    pub rejected: usize,
    pub sent: usize,
}

/// `user.disabled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDisabled {
    pub sessions_ended: u64,
    pub tokens_revoked: usize,
}

/// The details of an event without any: `{}`.
#[derive(Serialize, Deserialize)]
struct Empty {}

/// Declares [`AuditDetails`]: its variants are named after the [`AuditAction`]s they record.
macro_rules! audit_details {
    (
        empty { $($unit:ident),+ $(,)? }
        with { $($variant:ident($details:ty)),+ $(,)? }
    ) => {
        /// What an audit event records: its action (the variant, see [`AuditDetails::action`])
        /// and that action's details. Serialises as the details alone (`{}` for the actions
        /// without any), the JSON text of `audit_events.details`.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum AuditDetails {
            $( $unit, )+
            $( $variant($details), )+
        }

        impl AuditDetails {
            /// The action these details belong to.
            pub fn action(&self) -> AuditAction {
                match self {
                    $( AuditDetails::$unit => AuditAction::$unit, )+
                    $( AuditDetails::$variant(_) => AuditAction::$variant, )+
                }
            }

            /// Reads the details of an event of `action` back (the JSON of
            /// `audit_events.details`).
            pub fn read<'de, D: Deserializer<'de>>(
                action: AuditAction,
                details: D,
            ) -> Result<Self, D::Error> {
                match action {
                    $( AuditAction::$unit => Empty::deserialize(details).map(|_| AuditDetails::$unit), )+
                    $( AuditAction::$variant => <$details>::deserialize(details).map(AuditDetails::$variant), )+
                }
            }
        }

        impl Serialize for AuditDetails {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self {
                    $( AuditDetails::$unit => Empty {}.serialize(s), )+
                    $( AuditDetails::$variant(details) => details.serialize(s), )+
                }
            }
        }
    };
}

audit_details! {
    empty { ItContactKept, SsoEnabled, UserEnabled }
    with {
        ApiTokenCreated(TokenCreated),
        ApiTokenRevoked(TokenRevoked),
        ApiTokenRevokedAll(TokensRevoked),
        DomainAdded(DomainNamed),
        DomainVerified(DomainNamed),
        IdentityRemovalCancelled(RemovalCancelled),
        IdentityRemovalCompleted(RemovalCompleted),
        IdentityRemovalFlagged(RemovalFlagged),
        InvitationCreated(InvitationSent),
        InvitationResent(InvitationSent),
        InvitationAccepted(InvitationAccepted),
        InvitationRevoked(InvitationRevoked),
        ItContactAdded(ContactAdded),
        ItContactNotResponsible(ContactAddress),
        ItContactRemoved(ContactRemoved),
        ItContactSyncFailed(ContactReason),
        ItContactSyncResumed(ContactReason),
        ItContactSynced(ContactSynced),
        MemberJoinedWithSso(MemberJoined),
        MemberRoleChanged(RoleChanged),
        MemberRemoved(MemberRemoved),
        SetupLinksSent(SetupLinks),
        SsoConfigured(SsoConfig),
        SsoMetadataChanged(SsoConfig),
        SsoPolicyChanged(SsoPolicy),
        SsoUnknownCertificate(UnknownCertificate),
        SsoSignedIn(SignInAttempt),
        SsoTested(SignInAttempt),
        SsoSignInRefused(SignInAttempt),
        TestAlertSent(TestAlerts),
        UserDisabled(UserDisabled),
    }
}

#[cfg(test)]
mod tests;
