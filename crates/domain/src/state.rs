//! States, roles, sources and kinds as enums, each mapped to and from the text of its column in
//! one place: the table of its `column_text!` invocation. `as_str` gives the text written to
//! the database (and shown in JSON), [`FromStr`](std::str::FromStr) and `TryFrom<String>` read it
//! back and refuse any other text. Serde goes through the same table, so JSON and the columns
//! never disagree. Migration 0025 puts the same lists in `CHECK` constraints.

/// A column held a text its enum does not know: the database was edited by hand, or a
/// migration and the enum disagree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {text:?}")]
pub struct UnknownText {
    /// The enum that refused it.
    pub kind: &'static str,
    /// The text as read.
    pub text: String,
}

/// Declares an enum with its column text, and the one mapping (`as_str`, `FromStr`,
/// `TryFrom<String>`, `Display`, serde) generated from that table.
#[macro_export]
macro_rules! column_text {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The text stored in the column (and shown in JSON).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text ),+
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::state::UnknownText;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $text => Ok($name::$variant), )+
                    _ => Err($crate::state::UnknownText {
                        kind: stringify!($name),
                        text: s.to_owned(),
                    }),
                }
            }
        }

        impl ::std::convert::TryFrom<String> for $name {
            type Error = $crate::state::UnknownText;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(d)?;
                text.parse().map_err(::serde::de::Error::custom)
            }
        }

        impl $crate::state::__utoipa::PartialSchema for $name {
            /// A string, one of the column texts.
            fn schema() -> $crate::state::__utoipa::openapi::RefOr<
                $crate::state::__utoipa::openapi::schema::Schema,
            > {
                $crate::state::__utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type($crate::state::__utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        impl $crate::state::__utoipa::ToSchema for $name {}
    };
}

/// The OpenAPI side of [`column_text!`]: each enum is a string schema listing its texts, so
/// the API's documents show the same table as the columns and JSON.
#[doc(hidden)]
pub use utoipa as __utoipa;

column_text! {
    /// Where an identity-side removal request stands (`identity_removals.status`).
    pub enum RemovalStatus {
        /// Waiting for the connector or the operations team.
        Pending => "pending",
        /// Done on the identity side.
        Completed => "completed",
        /// Not needed any more (the contact was added again, or the registration never
        /// happened).
        Cancelled => "cancelled",
        /// A contact removed while its registration was in flight: the sync removes whatever
        /// the registration created (issue 24).
        Tombstone => "tombstone",
    }
}

impl RemovalStatus {
    /// Still to be worked on by the connector (a pending request or a tombstone).
    pub const OPEN: [RemovalStatus; 2] = [RemovalStatus::Pending, RemovalStatus::Tombstone];
}

column_text! {
    /// How an identity-side removal request ended (`identity_removals.outcome`).
    pub enum RemovalOutcome {
        /// The connector deleted the contact on the identity side.
        Deleted => "deleted",
        /// The operations team removed it by hand elsewhere and marked it done.
        MarkedDone => "marked_done",
        /// The contact was added again before the removal was done (D2).
        CancelledByReadd => "cancelled_by_readd",
        /// A tombstone whose contact was added again: the new contact keeps the registration.
        AdoptedByReadd => "adopted_by_readd",
        /// A tombstone replaced by a pending removal request of the same address.
        Superseded => "superseded",
        /// A tombstone whose registration turned out not to exist on the identity side.
        NotRegistered => "not_registered",
    }
}

column_text! {
    /// Where a domain's ownership check stands (`domains.status`).
    pub enum DomainStatus {
        Pending => "pending",
        Verified => "verified",
        /// The DNS record was not found (the detail says what was seen).
        Failed => "failed",
    }
}

column_text! {
    /// How far an organisation's Single Sign-On has come (`organisations.sso_status`).
    pub enum SsoStatus {
        NotConfigured => "not_configured",
        /// The identity provider's settings are saved, not yet enabled.
        Configured => "configured",
        Enabled => "enabled",
    }
}

column_text! {
    /// Where an organisation's SAML configuration came from (`sso_configs.source`).
    pub enum SsoConfigSource {
        /// Metadata pasted or uploaded.
        Metadata => "metadata",
        /// The entity id, sign-in URL and certificate typed in.
        Fields => "fields",
        /// Fetched from a metadata URL, and refreshed from it.
        Url => "url",
    }
}

column_text! {
    /// How the identity provider's sign-in URL takes our AuthnRequest
    /// (`sso_configs.idp_sso_binding`).
    pub enum IdpBinding {
        /// HTTP-Redirect: the request in the URL's query.
        Redirect => "redirect",
        /// HTTP-POST: the request in a form the browser posts.
        Post => "post",
    }
}

column_text! {
    /// Where one certificate reminder to one recipient stands (`certificate_reminders.status`).
    pub enum ReminderStatus {
        /// Waiting for delivery.
        Queued => "queued",
        /// Claimed by a delivery pass.
        Sending => "sending",
        /// Deferred: tried again after a backoff.
        Failed => "failed",
        Sent => "sent",
        /// Refused for good by the mail server.
        Rejected => "rejected",
        /// Not needed any more (the certificate was replaced, or the recipient left).
        Cancelled => "cancelled",
    }
}

column_text! {
    /// A notice kept in `certificate_reminders` beside the thresholds' reminders: its
    /// `threshold` column holds a threshold's key (`d60` … `d1`, `d0`, `w1` …, see the `sso`
    /// crate's schedule) or this.
    pub enum ReminderNotice {
        /// The certificate was replaced by one valid for longer (D6): one notice to each
        /// registered contact, claimed and sent at once.
        Renewed => "renewed",
    }
}

column_text! {
    /// What the preview of coming reminders says of one recipient of one threshold's reminder:
    /// due at the next sweep, to receive a coming threshold's, or what became of a reminder
    /// already recorded (the texts of [`ReminderStatus`]).
    pub enum RecipientState {
        /// The next sweep sends it.
        Due => "due",
        /// A coming threshold's, to the contacts registered now.
        WillReceive => "will_receive",
        Queued => "queued",
        Sending => "sending",
        Sent => "sent",
        /// Retried after a backoff.
        Failed => "failed",
        Rejected => "rejected",
        Cancelled => "cancelled",
    }
}

impl From<ReminderStatus> for RecipientState {
    fn from(status: ReminderStatus) -> Self {
        match status {
            ReminderStatus::Queued => RecipientState::Queued,
            ReminderStatus::Sending => RecipientState::Sending,
            ReminderStatus::Sent => RecipientState::Sent,
            ReminderStatus::Failed => RecipientState::Failed,
            ReminderStatus::Rejected => RecipientState::Rejected,
            ReminderStatus::Cancelled => RecipientState::Cancelled,
        }
    }
}

column_text! {
    /// How one SAML sign-in attempt ended (`sso_attempts.result`, checked since migration 0018).
    pub enum SsoAttemptResult {
        /// A member signed in.
        SignedIn => "signed_in",
        /// An administrator's test that passed.
        Tested => "tested",
        /// Refused (a sign-in or a test).
        Refused => "refused",
    }
}

column_text! {
    /// A warning on a SAML Response: what worked but should not go on for ever
    /// (`sso_attempts.flags`, a JSON array of these texts).
    pub enum SignInFlag {
        /// Signed with RSA-SHA1 (or a SHA-1 digest).
        Sha1 => "sha1",
        /// The signing key is shorter than 2048 bits.
        WeakKey => "weak_key",
        /// The verifying certificate has expired.
        ExpiredCertificate => "expired_certificate",
    }
}

column_text! {
    /// What a SAML request we issued was for (`sso_requests.purpose`, checked since migration
    /// 0018).
    pub enum SsoRequestPurpose {
        /// A member's sign-in.
        SignIn => "sign_in",
        /// An administrator's Test sign-in: checks listed, nobody signed in.
        Test => "test",
    }
}

column_text! {
    /// Who acted when no person did (`audit_events.actor`, `identity_removals.completed_by`,
    /// which otherwise hold a user's id): the service itself.
    pub enum SystemActor {
        System => "system",
    }
}

column_text! {
    /// What the mail server did with one message for one recipient (`mail_deliveries.status`,
    /// `contact_trust.test_alert_status`).
    pub enum DeliveryStatus {
        Sent => "sent",
        /// A temporary failure: tried again later.
        Deferred => "deferred",
        /// Refused for good (a 5xx reply).
        Rejected => "rejected",
    }
}

column_text! {
    /// Which message a mail delivery was (`mail_deliveries.kind`).
    pub enum MailKind {
        CertificateReminder => "certificate_reminder",
        CertificateRenewed => "certificate_renewed",
        CalendarCancelled => "calendar_cancelled",
        MetadataFailing => "metadata_failing",
        SetupLink => "setup_link",
        Invitation => "invitation",
        AdminNotice => "admin_notice",
        Welcome => "welcome",
        Reconfirmation => "reconfirmation",
        TestAlert => "test_alert",
    }
}

column_text! {
    /// What an audit event records (`audit_events.action`): a stable verb such as
    /// `it_contact.added`, shown in the audit log and the API.
    pub enum AuditAction {
        ApiTokenCreated => "api_token.created",
        ApiTokenRevoked => "api_token.revoked",
        ApiTokenRevokedAll => "api_token.revoked_all",
        DomainAdded => "domain.added",
        DomainVerified => "domain.verified",
        IdentityRemovalCancelled => "identity_removal.cancelled",
        IdentityRemovalCompleted => "identity_removal.completed",
        IdentityRemovalFlagged => "identity_removal.flagged",
        InvitationCreated => "invitation.created",
        InvitationResent => "invitation.resent",
        InvitationAccepted => "invitation.accepted",
        InvitationRevoked => "invitation.revoked",
        ItContactAdded => "it_contact.added",
        ItContactKept => "it_contact.kept",
        ItContactNotResponsible => "it_contact.not_responsible",
        ItContactRemoved => "it_contact.removed",
        ItContactSyncFailed => "it_contact.sync_failed",
        ItContactSyncResumed => "it_contact.sync_resumed",
        ItContactSynced => "it_contact.synced",
        MemberJoinedWithSso => "member.joined_with_sso",
        MemberRoleChanged => "member.role_changed",
        MemberRemoved => "member.removed",
        SetupLinksSent => "setup_links.sent",
        SsoConfigured => "sso.configured",
        SsoMetadataChanged => "sso.metadata_changed",
        SsoEnabled => "sso.enabled",
        SsoPolicyChanged => "sso.policy_changed",
        SsoUnknownCertificate => "sso.unknown_certificate",
        SsoSignedIn => "sso.signed_in",
        SsoTested => "sso.tested",
        SsoSignInRefused => "sso.sign_in_refused",
        TestAlertSent => "test_alert.sent",
        UserDisabled => "user.disabled",
        UserEnabled => "user.enabled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ContactSource, IdentityRemoval, InvitationStatus, Role, SyncStatus};

    /// Every value's text reads back as that value (in columns and in JSON), the texts are
    /// distinct, and other texts (a neighbour's case, spaces, empty) are refused.
    macro_rules! maps_once {
        ($($t:ty),+ $(,)?) => {$({
            let all = <$t>::ALL;
            let mut texts: Vec<&str> = all.iter().map(|v| v.as_str()).collect();
            for v in all {
                assert_eq!(v.as_str().parse::<$t>().unwrap(), *v);
                assert_eq!(<$t>::try_from(v.as_str().to_owned()).unwrap(), *v);
                assert_eq!(v.to_string(), v.as_str());
                let json = serde_json::to_string(v).unwrap();
                assert_eq!(json, format!("\"{}\"", v.as_str()));
                assert_eq!(serde_json::from_str::<$t>(&json).unwrap(), *v);
                for bad in [v.as_str().to_uppercase(), format!(" {}", v.as_str()), format!("{}x", v.as_str())] {
                    let err = bad.parse::<$t>().unwrap_err();
                    assert_eq!(err.text, bad);
                    assert_eq!(err.kind, stringify!($t));
                }
            }
            assert!("".parse::<$t>().is_err());
            assert!(serde_json::from_str::<$t>("\"nonsense\"").is_err());
            texts.sort_unstable();
            texts.dedup();
            assert_eq!(texts.len(), all.len(), "{} has a text twice", stringify!($t));
        })+};
    }

    #[test]
    fn every_mapping_round_trips_and_refuses_unknown_text() {
        maps_once!(
            Role,
            ContactSource,
            SyncStatus,
            IdentityRemoval,
            InvitationStatus,
            RemovalStatus,
            RemovalOutcome,
            DomainStatus,
            SsoStatus,
            SsoConfigSource,
            IdpBinding,
            ReminderStatus,
            ReminderNotice,
            RecipientState,
            SsoAttemptResult,
            SignInFlag,
            SsoRequestPurpose,
            SystemActor,
            DeliveryStatus,
            MailKind,
            AuditAction,
        );
    }

    #[test]
    fn the_column_texts_are_those_the_migrations_check() {
        let texts = |all: &[&'static str]| all.join(",");
        assert_eq!(
            texts(&Role::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>()),
            "admin,member"
        );
        assert_eq!(
            texts(
                &SyncStatus::ALL
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
            ),
            "pending,synced,failed"
        );
        assert_eq!(
            texts(
                &RemovalStatus::ALL
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
            ),
            "pending,completed,cancelled,tombstone"
        );
        assert_eq!(
            texts(
                &SsoStatus::ALL
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
            ),
            "not_configured,configured,enabled"
        );
    }

    #[test]
    fn a_recorded_reminder_shows_its_own_text_in_the_preview() {
        for status in ReminderStatus::ALL {
            assert_eq!(RecipientState::from(*status).as_str(), status.as_str());
        }
    }

    #[test]
    fn a_typed_role_is_read_leniently_but_a_column_strictly() {
        assert_eq!(Role::parse(" Administrator "), Some(Role::Admin));
        assert!("Administrator".parse::<Role>().is_err());
    }
}
