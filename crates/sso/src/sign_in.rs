//! The rules of signing in through an organisation's identity provider (SAML 2.0 Web Browser
//! SSO, SP-initiated with the HTTP-Redirect or HTTP-POST binding): the AuthnRequest we send,
//! where a person may be sent back to, every reason a sign-in is refused, the organisation's
//! sign-in policy and who is let in.
//!
//! The Response itself is verified by [`crate::response`]; what needs the database (the
//! request we issued, assertions already used, the person's account) is looked up by the use
//! case, which then asks the functions here.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::response::Reason;
use crate::saml::{BINDING_HTTP_POST, NAMEID_EMAIL, xml_escape};

/// How long a request we issued can be answered.
pub const REQUEST_LIFETIME: time::Duration = time::Duration::minutes(10);
/// How long the browser has to come back from the ACS to the completion page.
pub const COMPLETION_LIFETIME: time::Duration = time::Duration::minutes(2);
/// How long sign-in attempts are kept.
pub const ATTEMPTS_KEPT: time::Duration = time::Duration::days(30);
/// A Response signed by a certificate we do not have re-fetches the identity provider's
/// metadata (when it comes from a URL) at most this often.
pub const REFETCH_AT_MOST_EVERY: time::Duration = time::Duration::minutes(5);
/// `require_sso` can be turned on only after a successful sign-in or test this recent.
pub const REQUIRE_SSO_TESTED_WITHIN: time::Duration = time::Duration::hours(24);
/// "Still in use": sign-ins counted per certificate over this window.
pub const CERTIFICATE_USE_WINDOW: time::Duration = time::Duration::days(7);
/// Longest return path kept in a RelayState.
pub const MAX_RETURN_PATH: usize = 512;

/// Why a sign-in was refused: every code the person is shown (in words) and the attempt
/// records. The first twelve come from verifying the Response itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    Response(Reason),
    /// InResponseTo names no request we issued for this organisation in the last
    /// [`REQUEST_LIFETIME`], or one already answered.
    UnknownRequest,
    /// A Response nobody asked for (IdP-initiated), and the organisation does not allow them.
    UnsolicitedResponse,
    /// This assertion was used before.
    Replayed,
    NoEmail,
    EmailOutsideVerifiedDomains,
    NotAMember,
    UserDisabled,
    SsoNotEnabled,
    /// The browser that comes back is not the one that started the sign-in (login CSRF).
    OtherBrowser,
}

impl From<Reason> for Refusal {
    fn from(reason: Reason) -> Self {
        Refusal::Response(reason)
    }
}

impl Refusal {
    /// Every refusal, for documentation and exhaustive tests.
    pub const ALL_FLOW: [Refusal; 9] = [
        Refusal::UnknownRequest,
        Refusal::UnsolicitedResponse,
        Refusal::Replayed,
        Refusal::NoEmail,
        Refusal::EmailOutsideVerifiedDomains,
        Refusal::NotAMember,
        Refusal::UserDisabled,
        Refusal::SsoNotEnabled,
        Refusal::OtherBrowser,
    ];

    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Response(reason) => reason.code(),
            Refusal::UnknownRequest => "unknown_request",
            Refusal::UnsolicitedResponse => "unsolicited_response",
            Refusal::Replayed => "replayed",
            Refusal::NoEmail => "no_email",
            Refusal::EmailOutsideVerifiedDomains => "email_outside_verified_domains",
            Refusal::NotAMember => "not_a_member",
            Refusal::UserDisabled => "user_disabled",
            Refusal::SsoNotEnabled => "sso_not_enabled",
            Refusal::OtherBrowser => "other_browser",
        }
    }

    /// The refusal of a stored code.
    pub fn parse(code: &str) -> Option<Refusal> {
        Refusal::ALL_FLOW
            .into_iter()
            .chain(Reason::ALL.into_iter().map(Refusal::Response))
            .find(|r| r.code() == code)
    }

    /// One sentence for the person who tried to sign in.
    pub fn in_words(self) -> &'static str {
        match self {
            Refusal::Response(reason) => reason.in_words(),
            Refusal::UnknownRequest => {
                "This sign-in was not started here, took longer than 10 minutes or was already used. Start again."
            }
            Refusal::UnsolicitedResponse => {
                "Your organisation only accepts sign-ins started from this service. Start again from the sign-in page."
            }
            Refusal::Replayed => "This sign-in answer was already used. Start again.",
            Refusal::NoEmail => {
                "Your identity provider did not say which e-mail address you have, so we cannot tell who you are. Ask your IT team to send the e-mail address."
            }
            Refusal::EmailOutsideVerifiedDomains => {
                "Your identity provider gave an e-mail address outside your organisation's verified domains."
            }
            Refusal::NotAMember => {
                "You are not a member of this organisation yet. Ask an administrator to add you."
            }
            Refusal::UserDisabled => {
                "This account is disabled. Ask your organisation's administrator or the Smart Core Connect team to enable it."
            }
            Refusal::SsoNotEnabled => "Single Sign-On is not enabled for this organisation.",
            Refusal::OtherBrowser => {
                "This sign-in was started in another browser. Start again in this one."
            }
        }
    }
}

/// How an organisation's members sign in with SSO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SsoPolicy {
    /// A person the identity provider vouches for, with an address in a verified domain, who
    /// is not yet a member becomes one (role member) at their first sign-in.
    pub jit_members: bool,
    /// Responses the identity provider sends without our request are accepted.
    pub idp_initiated: bool,
    /// Members whose address is in a verified domain must sign in with SSO; administrators
    /// keep their password as the way back in when the identity provider is down.
    pub require_sso: bool,
}

impl Default for SsoPolicy {
    fn default() -> Self {
        SsoPolicy {
            jit_members: true,
            idp_initiated: false,
            require_sso: false,
        }
    }
}

/// What the database knows of the person the identity provider vouched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Person {
    Unknown,
    User { disabled: bool, member: bool },
}

/// Who is let in, and what must be created first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A member already: signs in.
    Member,
    /// A user but not a member: becomes a member (role member), then signs in.
    AddMembership,
    /// Nobody yet: a user without a password is created with a membership.
    CreateUser,
}

/// Decides whether the person signs in, once their address is known to be in one of the
/// organisation's verified domains.
pub fn admit(person: Person, policy: SsoPolicy) -> Result<Admission, Refusal> {
    match person {
        Person::User { disabled: true, .. } => Err(Refusal::UserDisabled),
        Person::User { member: true, .. } => Ok(Admission::Member),
        Person::User { member: false, .. } if policy.jit_members => Ok(Admission::AddMembership),
        Person::Unknown if policy.jit_members => Ok(Admission::CreateUser),
        _ => Err(Refusal::NotAMember),
    }
}

/// The address's domain is one of `verified` (lower-case ASCII names).
pub fn in_verified_domains(email_domain: &str, verified: &[String]) -> bool {
    verified
        .iter()
        .any(|d| d.eq_ignore_ascii_case(email_domain))
}

/// Where a person may be sent after signing in: a path on this service, nothing else.
/// Refused: anything not starting with one `/`, `//` and `/\` (other hosts to browsers),
/// control characters, spaces and over-long values.
pub fn safe_return_path(path: &str) -> Option<&str> {
    let ok = path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && path.len() <= MAX_RETURN_PATH
        && !path
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\');
    ok.then_some(path)
}

/// A new SAML identifier: an NCName (letters first), 128 random bits.
pub fn new_saml_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    format!("id-{}", hex::encode(bytes))
}

/// An SP-initiated authentication request (unsigned, as our SP metadata says).
#[derive(Debug, Clone)]
pub struct AuthnRequest {
    pub id: String,
    pub issue_instant: OffsetDateTime,
    /// The identity provider's single sign-on URL.
    pub destination: String,
    pub acs_url: String,
    pub sp_entity_id: String,
}

impl AuthnRequest {
    pub fn to_xml(&self) -> String {
        let instant = self
            .issue_instant
            .replace_nanosecond(0)
            .unwrap_or(self.issue_instant)
            .format(&Rfc3339)
            .unwrap_or_default();
        format!(
            "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
             xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{id}\" Version=\"2.0\" \
             IssueInstant=\"{instant}\" Destination=\"{destination}\" \
             AssertionConsumerServiceURL=\"{acs}\" ProtocolBinding=\"{BINDING_HTTP_POST}\">\
             <saml:Issuer>{issuer}</saml:Issuer>\
             <samlp:NameIDPolicy Format=\"{NAMEID_EMAIL}\" AllowCreate=\"true\"/>\
             </samlp:AuthnRequest>",
            id = xml_escape(&self.id),
            destination = xml_escape(&self.destination),
            acs = xml_escape(&self.acs_url),
            issuer = xml_escape(&self.sp_entity_id),
        )
    }

    /// The HTTP-Redirect binding: the identity provider's URL with `SAMLRequest` (raw DEFLATE,
    /// base64) and `RelayState` added to whatever query it already has.
    pub fn redirect_url(&self, relay_state: &str) -> String {
        let deflated = miniz_oxide::deflate::compress_to_vec(self.to_xml().as_bytes(), 6);
        let mut url = url::Url::parse(&self.destination)
            .unwrap_or_else(|_| url::Url::parse("https://invalid.invalid/").expect("valid"));
        url.query_pairs_mut()
            .append_pair("SAMLRequest", &STANDARD.encode(deflated))
            .append_pair("RelayState", relay_state);
        url.to_string()
    }

    /// The HTTP-POST binding's `SAMLRequest` form value.
    pub fn post_value(&self) -> String {
        STANDARD.encode(self.to_xml())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_users_never_sign_in() {
        for policy in [
            SsoPolicy::default(),
            SsoPolicy {
                jit_members: false,
                ..SsoPolicy::default()
            },
        ] {
            for member in [true, false] {
                assert_eq!(
                    admit(
                        Person::User {
                            disabled: true,
                            member
                        },
                        policy
                    ),
                    Err(Refusal::UserDisabled)
                );
            }
        }
    }

    #[test]
    fn just_in_time_membership_follows_the_policy() {
        let on = SsoPolicy::default();
        let off = SsoPolicy {
            jit_members: false,
            ..on
        };
        assert_eq!(admit(Person::Unknown, on), Ok(Admission::CreateUser));
        assert_eq!(admit(Person::Unknown, off), Err(Refusal::NotAMember));
        let user = Person::User {
            disabled: false,
            member: false,
        };
        assert_eq!(admit(user, on), Ok(Admission::AddMembership));
        assert_eq!(admit(user, off), Err(Refusal::NotAMember));
        let member = Person::User {
            disabled: false,
            member: true,
        };
        assert_eq!(admit(member, off), Ok(Admission::Member));
    }

    #[test]
    fn return_paths_stay_on_this_service() {
        for good in ["/", "/orgs/org_1/settings/sso", "/account?tab=1"] {
            assert_eq!(safe_return_path(good), Some(good), "{good}");
        }
        for bad in [
            "",
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "javascript:alert(1)",
            "/a b",
            "/a\nb",
            "evil",
            &format!("/{}", "a".repeat(MAX_RETURN_PATH)),
        ] {
            assert_eq!(safe_return_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn verified_domains_compare_without_case() {
        let verified = vec!["acme.example".to_string()];
        assert!(in_verified_domains("ACME.example", &verified));
        assert!(!in_verified_domains("acme.example.evil", &verified));
        assert!(!in_verified_domains("sub.acme.example", &verified));
    }

    #[test]
    fn every_code_parses_back_and_is_distinct() {
        let mut seen = std::collections::HashSet::new();
        for r in Refusal::ALL_FLOW
            .into_iter()
            .chain(Reason::ALL.into_iter().map(Refusal::Response))
        {
            assert_eq!(Refusal::parse(r.code()), Some(r));
            assert!(seen.insert(r.code()), "{}", r.code());
            assert!(!r.in_words().is_empty());
        }
        assert_eq!(seen.len(), 21);
    }

    #[test]
    fn the_request_names_us_and_survives_the_redirect_binding() {
        let request = AuthnRequest {
            id: new_saml_id(),
            issue_instant: time::macros::datetime!(2026-12-03 08:00:00.5 UTC),
            destination: "https://idp.example/sso?tenant=a&x=1".into(),
            acs_url: "https://sp.example/saml/org_1/acs".into(),
            sp_entity_id: "https://sp.example/saml/org_1".into(),
        };
        let xml = request.to_xml();
        let doc = roxmltree::Document::parse(&xml).expect("well-formed");
        let root = doc.root_element();
        assert_eq!(root.attribute("ID"), Some(request.id.as_str()));
        assert_eq!(root.attribute("IssueInstant"), Some("2026-12-03T08:00:00Z"));
        assert_eq!(
            root.attribute("AssertionConsumerServiceURL"),
            Some("https://sp.example/saml/org_1/acs")
        );
        let url = url::Url::parse(&request.redirect_url("/after")).unwrap();
        let pairs: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(pairs["tenant"], "a");
        assert_eq!(pairs["RelayState"], "/after");
        let deflated = STANDARD.decode(&pairs["SAMLRequest"]).unwrap();
        let inflated = miniz_oxide::inflate::decompress_to_vec(&deflated).unwrap();
        assert_eq!(String::from_utf8(inflated).unwrap(), xml);
        let posted = STANDARD.decode(request.post_value()).unwrap();
        assert_eq!(String::from_utf8(posted).unwrap(), xml);
    }

    #[test]
    fn request_ids_are_ncnames_and_differ() {
        let a = new_saml_id();
        let b = new_saml_id();
        assert_ne!(a, b);
        assert!(a.chars().next().unwrap().is_ascii_alphabetic());
        assert_eq!(a.len(), 35);
    }
}
