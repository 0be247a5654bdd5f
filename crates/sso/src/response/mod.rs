//! PLACEHOLDER of the verifier's API while it is written on branch `verifier`; replaced by the
//! merge. Refuses everything.
use crate::Certificate;
use time::OffsetDateTime;

pub const CLOCK_SKEW: time::Duration = time::Duration::minutes(3);
pub const MAX_RESPONSE_XML: usize = 512 * 1024;
pub const MAX_FORM_VALUE: usize = 700 * 1024;

pub fn decode_form_value(_value: &str) -> Result<Vec<u8>, Refusal> {
    Err(Refusal {
        reason: Reason::InvalidXml,
        detail: String::new(),
    })
}

pub struct Expected<'a> {
    pub idp_entity_id: &'a str,
    pub sp_entity_id: &'a str,
    pub acs_url: &'a str,
    pub certificates: &'a [Certificate],
    pub now: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    InvalidXml,
    IdpError,
    EncryptedAssertionUnsupported,
    Unsigned,
    UnexpectedStructure,
    UnsupportedAlgorithm,
    SignatureInvalid,
    IssuerMismatch,
    AudienceMismatch,
    RecipientMismatch,
    Expired,
    NotYetValid,
}
impl Reason {
    pub const ALL: [Reason; 12] = [
        Reason::InvalidXml,
        Reason::IdpError,
        Reason::EncryptedAssertionUnsupported,
        Reason::Unsigned,
        Reason::UnexpectedStructure,
        Reason::UnsupportedAlgorithm,
        Reason::SignatureInvalid,
        Reason::IssuerMismatch,
        Reason::AudienceMismatch,
        Reason::RecipientMismatch,
        Reason::Expired,
        Reason::NotYetValid,
    ];
    pub fn code(self) -> &'static str {
        match self {
            Reason::InvalidXml => "invalid_xml",
            Reason::IdpError => "idp_error",
            Reason::EncryptedAssertionUnsupported => "encrypted_assertion_unsupported",
            Reason::Unsigned => "unsigned",
            Reason::UnexpectedStructure => "unexpected_structure",
            Reason::UnsupportedAlgorithm => "unsupported_algorithm",
            Reason::SignatureInvalid => "signature_invalid",
            Reason::IssuerMismatch => "issuer_mismatch",
            Reason::AudienceMismatch => "audience_mismatch",
            Reason::RecipientMismatch => "recipient_mismatch",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
        }
    }
    pub fn in_words(self) -> &'static str {
        "x"
    }
}
#[derive(Debug, Clone)]
pub struct Refusal {
    pub reason: Reason,
    pub detail: String,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckName {
    Xml,
    Status,
    Signature,
    Issuer,
    Audience,
    Recipient,
    Time,
    Email,
}
impl CheckName {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckName::Xml => "xml",
            CheckName::Status => "status",
            CheckName::Signature => "signature",
            CheckName::Issuer => "issuer",
            CheckName::Audience => "audience",
            CheckName::Recipient => "recipient",
            CheckName::Time => "time",
            CheckName::Email => "email",
        }
    }
}
#[derive(Debug, Clone)]
pub struct Check {
    pub name: CheckName,
    pub ok: bool,
    pub detail: String,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    RsaSha1,
    RsaSha256,
    RsaSha384,
    RsaSha512,
    EcdsaSha256,
    EcdsaSha384,
    EcdsaSha512,
}
impl SignatureAlgorithm {
    pub fn uri(self) -> &'static str {
        "x"
    }
    pub fn is_sha1(self) -> bool {
        matches!(self, SignatureAlgorithm::RsaSha1)
    }
}
#[derive(Debug, Clone)]
pub struct Attribute {
    pub name: String,
    pub values: Vec<String>,
}
#[derive(Debug, Clone)]
pub struct Assertion {
    pub id: String,
    pub issuer: String,
    pub in_response_to: Option<String>,
    pub name_id: Option<String>,
    pub name_id_format: Option<String>,
    pub attributes: Vec<Attribute>,
    pub issue_instant: OffsetDateTime,
    pub not_on_or_after: Option<OffsetDateTime>,
    pub session_index: Option<String>,
}
impl Assertion {
    pub fn email(&self) -> Option<&str> {
        None
    }
    pub fn display_name(&self) -> Option<String> {
        None
    }
}
#[derive(Debug, Clone)]
pub struct Report {
    pub checks: Vec<Check>,
    pub outcome: Result<Assertion, Refusal>,
    pub certificate_sha256: Option<String>,
    pub presented_certificate: Option<Certificate>,
    pub signature_algorithm: Option<SignatureAlgorithm>,
    pub weak_key: bool,
}
pub fn verify(_xml: &[u8], _expected: &Expected<'_>) -> Report {
    Report {
        checks: vec![],
        outcome: Err(Refusal {
            reason: Reason::InvalidXml,
            detail: String::new(),
        }),
        certificate_sha256: None,
        presented_certificate: None,
        signature_algorithm: None,
        weak_key: false,
    }
}
