//! Opaque, prefixed identifiers (`org_…`, `usr_…`, `itc_…`).
//!
//! The prefix says what an identifier names, so a contact id pasted where an organisation id
//! belongs is refused at the edge rather than silently matching nothing. The body is a UUIDv7
//! in simple hex, so identifiers sort by creation time.

use std::fmt;

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new identifier, unique and increasing with time.
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, uuid::Uuid::now_v7().simple()))
            }

            /// Accepts `prefix` followed by 1–64 ASCII letters, digits or `_`/`-`.
            pub fn parse(s: &str) -> Option<Self> {
                let body = s.strip_prefix($prefix)?;
                let ok = !body.is_empty()
                    && body.len() <= 64
                    && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                ok.then(|| Self(s.to_owned()))
            }

            /// An identifier no row has (the prefix and `-`, which [`Self::generate`] never
            /// makes): what a reference that is not well-formed names. Looked up, it is not
            /// found, after the same checks as any other, so an edge that takes it for a
            /// malformed id answers exactly as for an unknown one.
            pub fn unmatched() -> Self {
                Self(concat!($prefix, "-").to_owned())
            }

            /// `s` parsed, or [`Self::unmatched`] when it is not well-formed.
            pub fn parse_or_unmatched(s: &str) -> Self {
                Self::parse(s).unwrap_or_else(Self::unmatched)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                Self::parse(&s).ok_or_else(|| format!("not a valid {} identifier", $prefix))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

prefixed_id!(/// An organisation.
    OrgId, "org_");
prefixed_id!(/// A person who can sign in (administrator, member or staff).
    UserId, "usr_");
prefixed_id!(/// An IT contact of an organisation.
    ContactId, "itc_");
prefixed_id!(/// A domain an organisation claims.
    DomainId, "dom_");
prefixed_id!(/// A request to remove a contact on the identity side.
    RemovalId, "rmv_");
prefixed_id!(/// An entry of the audit log.
    AuditEventId, "evt_");
prefixed_id!(/// One attempt to deliver one message to one recipient.
    DeliveryId, "mail_");
prefixed_id!(/// A signed-in browser session.
    SessionId, "ses_");
prefixed_id!(/// An API token.
    TokenId, "tok_");
prefixed_id!(/// An invitation to join an organisation.
    InvitationId, "inv_");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_carry_their_prefix_and_parse_back() {
        let id = ContactId::generate();
        assert!(id.as_str().starts_with("itc_"));
        assert_eq!(ContactId::parse(id.as_str()), Some(id));
    }

    #[test]
    fn ids_of_another_kind_or_with_odd_characters_are_refused() {
        assert_eq!(ContactId::parse("org_0192"), None);
        assert_eq!(ContactId::parse("itc_"), None);
        assert_eq!(ContactId::parse("itc_a'b"), None);
        assert_eq!(ContactId::parse("itc_a/b"), None);
    }

    #[test]
    fn an_unmatched_id_is_well_formed_and_never_generated() {
        let unmatched = ContactId::parse_or_unmatched("itc_a'b");
        assert_eq!(unmatched, ContactId::unmatched());
        assert_eq!(
            ContactId::parse(unmatched.as_str()),
            Some(unmatched.clone())
        );
        assert_ne!(ContactId::generate(), unmatched);
        let id = ContactId::generate();
        assert_eq!(ContactId::parse_or_unmatched(id.as_str()), id);
    }

    #[test]
    fn ids_increase_with_creation_time() {
        let a = OrgId::generate();
        let b = OrgId::generate();
        assert!(a < b);
    }
}
