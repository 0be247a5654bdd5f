//! The audit log in words: one sentence per action, written by the family the action belongs
//! to (read from the typed [`AuditAction`]), and the targets' names gathered from the events.

use serde_json::Value;
use smartcore_app::AuditEvent;
use smartcore_domain::{AuditAction, IdentityRemoval, Role, SsoConfigSource};
use std::collections::HashMap;

/// A family of actions: each has its own sentences and belongs to one kind of the filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Family {
    Contact,
    Removal,
    /// Test alerts and setup links.
    Mailing,
    Member,
    Invitation,
    Domain,
    Sso,
    SignIn,
    Token,
    Account,
}

impl Family {
    /// The family of `action`.
    pub(super) fn of(action: AuditAction) -> Family {
        use AuditAction as A;
        match action {
            A::ItContactAdded
            | A::ItContactKept
            | A::ItContactNotResponsible
            | A::ItContactRemoved
            | A::ItContactSyncFailed
            | A::ItContactSyncResumed
            | A::ItContactSynced => Family::Contact,
            A::IdentityRemovalCancelled
            | A::IdentityRemovalCompleted
            | A::IdentityRemovalFlagged => Family::Removal,
            A::TestAlertSent | A::SetupLinksSent => Family::Mailing,
            A::MemberJoinedWithSso | A::MemberRoleChanged | A::MemberRemoved => Family::Member,
            A::InvitationCreated
            | A::InvitationResent
            | A::InvitationAccepted
            | A::InvitationRevoked => Family::Invitation,
            A::DomainAdded | A::DomainVerified => Family::Domain,
            A::SsoConfigured | A::SsoMetadataChanged | A::SsoEnabled | A::SsoPolicyChanged => {
                Family::Sso
            }
            A::SsoUnknownCertificate | A::SsoSignedIn | A::SsoTested | A::SsoSignInRefused => {
                Family::SignIn
            }
            A::ApiTokenCreated | A::ApiTokenRevoked | A::ApiTokenRevokedAll => Family::Token,
            A::UserDisabled | A::UserEnabled => Family::Account,
        }
    }

    /// The kind of the filter it is shown under (a value of the page's `KINDS`).
    pub(super) fn kind(self) -> &'static str {
        match self {
            Family::Contact | Family::Removal | Family::Mailing => "contacts",
            Family::Member | Family::Invitation => "members",
            Family::Domain => "domains",
            Family::Sso | Family::SignIn => "sso",
            Family::Token | Family::Account => "tokens",
        }
    }
}

fn text(details: &Value, key: &str) -> Option<String> {
    details
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn count(details: &Value, key: &str) -> i64 {
    details.get(key).and_then(Value::as_i64).unwrap_or(0)
}

/// A role the details name, read through the role's one mapping.
fn role(text: Option<String>) -> Option<Role> {
    text.and_then(|r| r.parse().ok())
}

fn role_words(role: Option<Role>) -> &'static str {
    match role {
        Some(Role::Admin) => "an administrator",
        _ => "a member",
    }
}

fn role_label(role: Option<Role>) -> &'static str {
    match role {
        Some(Role::Admin) => "Administrator",
        _ => "Member",
    }
}

fn on_off(details: &Value, key: &str) -> &'static str {
    if details.get(key).and_then(Value::as_bool).unwrap_or(false) {
        "on"
    } else {
        "off"
    }
}

/// An action without a sentence of its own, in plain words: `api_token.revoked_all` is
/// "api token revoked all".
fn plain(action: &str) -> String {
    action.replace(['_', '.'], " ")
}

/// What an event's sentence can name: its details, its target (by name, when known) and the
/// address it records.
struct Facts<'a> {
    details: &'a Value,
    target_id: Option<&'a str>,
    target: Option<String>,
    email: Option<String>,
}

impl Facts<'_> {
    fn text(&self, key: &str) -> Option<String> {
        text(self.details, key)
    }

    /// A person by name, else address, else the target's name.
    fn person(&self) -> String {
        self.text("name")
            .or_else(|| self.email.clone())
            .or_else(|| self.target.clone())
            .unwrap_or_else(|| "someone".to_owned())
    }

    /// An IT contact by the target's name, else the address.
    fn contact(&self) -> String {
        self.target
            .clone()
            .or_else(|| self.email.clone())
            .unwrap_or_else(|| "an IT contact".to_owned())
    }
}

/// The sentence for an event; `names` knows the targets' names from other events and the
/// current lists.
pub(super) fn sentence(e: &AuditEvent, names: &HashMap<String, String>) -> String {
    let action = e.action;
    let facts = Facts {
        details: &e.details,
        target_id: e.target.as_deref(),
        target: e.target.as_deref().and_then(|t| names.get(t)).cloned(),
        email: text(&e.details, "email"),
    };
    match Family::of(action) {
        Family::Contact => contact_sentence(action, &facts),
        Family::Removal => removal_sentence(action, &facts),
        Family::Mailing => mailing_sentence(action, &facts),
        Family::Member => member_sentence(action, &facts),
        Family::Invitation => invitation_sentence(action, &facts),
        Family::Domain => domain_sentence(action, &facts),
        Family::Sso => sso_sentence(action, &facts),
        Family::SignIn => sign_in_sentence(action, &facts),
        Family::Token | Family::Account => account_sentence(action, &facts),
    }
}

fn contact_sentence(action: AuditAction, f: &Facts) -> String {
    match action {
        AuditAction::ItContactAdded => format!("Added {} as an IT contact", f.person()),
        AuditAction::ItContactRemoved => {
            let removal = f.text("identity_removal").and_then(|r| r.parse().ok());
            let then = match removal {
                Some(IdentityRemoval::Flagged) => {
                    "; its removal on the identity side is flagged for the Smart Core Connect team"
                }
                Some(IdentityRemoval::Completed) => "; also removed on the identity side",
                _ => "",
            };
            format!("Removed {} as an IT contact{then}", f.contact())
        }
        AuditAction::ItContactSynced => {
            format!("Registered {} to receive alerts (Synced)", f.contact())
        }
        AuditAction::ItContactSyncFailed => format!(
            "Could not register {} to receive alerts{}",
            f.contact(),
            f.text("reason").map_or(String::new(), |r| format!(": {r}"))
        ),
        AuditAction::ItContactNotResponsible => format!(
            "The “Not me” link was used by {}: they say they are not responsible for sign-on",
            f.contact()
        ),
        AuditAction::ItContactKept => format!(
            "Kept {} as an IT contact after they said they were not responsible",
            f.contact()
        ),
        other => plain(other.as_str()),
    }
}

fn removal_sentence(action: AuditAction, f: &Facts) -> String {
    match action {
        AuditAction::IdentityRemovalFlagged => format!(
            "Flagged the removal of {} on the identity side for the Smart Core Connect team",
            f.contact()
        ),
        AuditAction::IdentityRemovalCancelled => format!(
            "Cancelled the removal of {} on the identity side: the address was added again",
            f.contact()
        ),
        AuditAction::IdentityRemovalCompleted => format!(
            "Completed the removal of {} on the identity side",
            f.contact()
        ),
        other => plain(other.as_str()),
    }
}

fn mailing_sentence(action: AuditAction, f: &Facts) -> String {
    match action {
        AuditAction::TestAlertSent => {
            let to = if f.target_id.is_some_and(|t| t.starts_with("itc_")) {
                f.contact()
            } else {
                "all IT contacts".to_owned()
            };
            let d = f.details;
            let (sent, deferred, rejected) =
                (count(d, "sent"), count(d, "deferred"), count(d, "rejected"));
            let mut parts = vec![format!("{sent} delivered")];
            if deferred > 0 {
                parts.push(format!("{deferred} not delivered yet"));
            }
            if rejected > 0 {
                parts.push(format!("{rejected} rejected"));
            }
            format!("Sent a test alert to {to} ({})", parts.join(", "))
        }
        AuditAction::SetupLinksSent => {
            let n = count(f.details, "sent_to");
            format!(
                "Sent setup links to {n} IT {}",
                if n == 1 { "contact" } else { "contacts" }
            )
        }
        other => plain(other.as_str()),
    }
}

fn member_sentence(action: AuditAction, f: &Facts) -> String {
    match action {
        AuditAction::MemberRoleChanged => format!(
            "Changed the role of {} from {} to {}",
            f.person(),
            role_label(role(f.text("from"))),
            role_label(role(f.text("to")))
        ),
        AuditAction::MemberRemoved => format!("Removed {} from the organisation", f.person()),
        AuditAction::MemberJoinedWithSso => format!(
            "Joined as a member at their first Single Sign-On sign-in ({})",
            f.person()
        ),
        other => plain(other.as_str()),
    }
}

fn invitation_sentence(action: AuditAction, f: &Facts) -> String {
    match action {
        AuditAction::InvitationCreated => {
            format!(
                "Invited {} as {}",
                f.person(),
                role_words(role(f.text("role")))
            )
        }
        AuditAction::InvitationResent => format!("Sent the invitation to {} again", f.person()),
        AuditAction::InvitationRevoked => format!("Revoked the invitation to {}", f.person()),
        AuditAction::InvitationAccepted => format!(
            "Accepted the invitation for {} and joined as {}",
            f.person(),
            role_words(role(f.text("role")))
        ),
        other => plain(other.as_str()),
    }
}

fn domain_sentence(action: AuditAction, f: &Facts) -> String {
    let domain = || f.text("domain").unwrap_or_else(|| "(unknown)".to_owned());
    match action {
        AuditAction::DomainAdded => format!("Added the domain {}", domain()),
        AuditAction::DomainVerified => format!("Verified the domain {}", domain()),
        other => plain(other.as_str()),
    }
}

fn sso_sentence(action: AuditAction, f: &Facts) -> String {
    match action {
        AuditAction::SsoConfigured => {
            let source = f
                .text("source")
                .and_then(|s| s.parse::<SsoConfigSource>().ok());
            let from = match source {
                Some(SsoConfigSource::Url) => " from its metadata URL",
                Some(SsoConfigSource::Metadata) => " from its metadata",
                Some(SsoConfigSource::Fields) | None => "",
            };
            format!(
                "Saved the identity provider settings{from}{}",
                f.text("idp_entity_id")
                    .map_or(String::new(), |i| format!(" ({i})"))
            )
        }
        AuditAction::SsoMetadataChanged => {
            "Picked up a change in the identity provider's metadata at its URL".to_owned()
        }
        AuditAction::SsoEnabled => "Enabled Single Sign-On".to_owned(),
        AuditAction::SsoPolicyChanged => format!(
            "Changed the sign-in policy: members added at their first sign-in {}, sign-ins started from the identity provider {}, Single Sign-On required {}",
            on_off(f.details, "jit_members"),
            on_off(f.details, "idp_initiated"),
            on_off(f.details, "require_sso")
        ),
        other => plain(other.as_str()),
    }
}

fn sign_in_sentence(action: AuditAction, f: &Facts) -> String {
    match action {
        AuditAction::SsoSignedIn => format!(
            "Signed in with Single Sign-On{}",
            f.email
                .as_ref()
                .map_or(String::new(), |e| format!(" as {e}"))
        ),
        AuditAction::SsoTested => format!(
            "Test sign-in passed{}",
            f.email
                .as_ref()
                .map_or(String::new(), |e| format!(" for {e}"))
        ),
        AuditAction::SsoSignInRefused => format!(
            "Refused a Single Sign-On sign-in{}{}",
            f.email
                .clone()
                .or_else(|| f.text("name_id"))
                .map_or(String::new(), |e| format!(" for {e}")),
            f.text("reason")
                .map_or(String::new(), |r| format!(" (reason: {r})"))
        ),
        AuditAction::SsoUnknownCertificate => format!(
            "Saw a sign-in signed with a certificate we do not know{}{}",
            f.text("subject")
                .map_or(String::new(), |s| format!(" ({s})")),
            if f.details.get("refetching").and_then(Value::as_bool) == Some(true) {
                "; fetching the identity provider's metadata again"
            } else {
                ""
            }
        ),
        other => plain(other.as_str()),
    }
}

fn account_sentence(action: AuditAction, f: &Facts) -> String {
    match action {
        AuditAction::ApiTokenCreated => format!(
            "Created the API token “{}”",
            f.text("name").unwrap_or_default()
        ),
        AuditAction::ApiTokenRevoked => format!(
            "Revoked the API token “{}”",
            f.text("name").unwrap_or_default()
        ),
        AuditAction::UserDisabled => format!("Disabled the account of {}", f.person()),
        AuditAction::UserEnabled => format!("Enabled the account of {}", f.person()),
        other => plain(other.as_str()),
    }
}

/// Names of targets, from the events themselves (an addition names its contact, an
/// invitation its address) and from who is in the organisation now.
pub(super) fn target_names(events: &[AuditEvent]) -> HashMap<String, String> {
    let mut names = HashMap::new();
    for e in events {
        let Some(t) = &e.target else { continue };
        let d = &e.details;
        let name = match Family::of(e.action) {
            Family::Domain => text(d, "domain"),
            Family::Token => text(d, "name").map(|n| format!("“{n}”")),
            Family::Mailing | Family::Sso | Family::SignIn => None,
            _ => match (text(d, "name"), text(d, "email")) {
                (Some(n), Some(m)) => Some(format!("{n} ({m})")),
                (Some(n), None) => Some(n),
                (None, Some(m)) => Some(m),
                (None, None) => None,
            },
        };
        if let Some(n) = name {
            names.entry(t.clone()).or_insert(n);
        }
    }
    names
}
