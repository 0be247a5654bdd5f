//! The verifier's verdict: why a Response was refused, the check list shown to the
//! administrator, and what the signature used.

use super::Assertion;
use crate::Certificate;

/// Why a Response was refused.
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

    /// A stable code for logs, metrics and URLs.
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

    /// One sentence for the person signing in or the administrator.
    pub fn in_words(self) -> &'static str {
        match self {
            Reason::InvalidXml => {
                "The identity provider's response could not be read as a SAML Response."
            }
            Reason::IdpError => "The identity provider reported that the sign-in did not succeed.",
            Reason::EncryptedAssertionUnsupported => {
                "The identity provider encrypted the assertion, which this service does not accept: turn off assertion encryption for this application at the identity provider."
            }
            Reason::Unsigned => "The identity provider's response is not signed.",
            Reason::UnexpectedStructure => {
                "The identity provider's response has an unexpected structure and was refused for safety."
            }
            Reason::UnsupportedAlgorithm => {
                "The identity provider's response uses a signature method this service does not support."
            }
            Reason::SignatureInvalid => {
                "The signature on the identity provider's response is not valid for the configured certificate."
            }
            Reason::IssuerMismatch => {
                "The response was issued by a different identity provider from the one configured."
            }
            Reason::AudienceMismatch => "The response was issued for a different service.",
            Reason::RecipientMismatch => {
                "The response was addressed to a different sign-in address of this service."
            }
            Reason::Expired => "The sign-in response has expired: please sign in again.",
            Reason::NotYetValid => {
                "The sign-in response is not valid yet: the identity provider's clock may be wrong."
            }
        }
    }
}

/// A refusal: the reason and a sentence saying what exactly was wrong.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub reason: Reason,
    pub detail: String,
}

impl Refusal {
    pub(super) fn new(reason: Reason, detail: String) -> Refusal {
        Refusal { reason, detail }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason.code(), self.detail)
    }
}

/// The checks of a [`Report`], in order.
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

/// One line of the administrator's check list.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: CheckName,
    pub ok: bool,
    pub detail: String,
}

/// A signature method of `SignatureMethod`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    RsaSha1,
    RsaSha256,
    RsaSha384,
    RsaSha512,
    EcdsaSha256,
    EcdsaSha384,
    /// Recognised but refused with [`Reason::UnsupportedAlgorithm`] (ring has no P-256/P-384
    /// with SHA-512).
    EcdsaSha512,
}

impl SignatureAlgorithm {
    pub const ALL: [SignatureAlgorithm; 7] = [
        SignatureAlgorithm::RsaSha1,
        SignatureAlgorithm::RsaSha256,
        SignatureAlgorithm::RsaSha384,
        SignatureAlgorithm::RsaSha512,
        SignatureAlgorithm::EcdsaSha256,
        SignatureAlgorithm::EcdsaSha384,
        SignatureAlgorithm::EcdsaSha512,
    ];

    pub fn uri(self) -> &'static str {
        match self {
            SignatureAlgorithm::RsaSha1 => "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
            SignatureAlgorithm::RsaSha256 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            SignatureAlgorithm::RsaSha384 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
            SignatureAlgorithm::RsaSha512 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
            SignatureAlgorithm::EcdsaSha256 => {
                "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
            }
            SignatureAlgorithm::EcdsaSha384 => {
                "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"
            }
            SignatureAlgorithm::EcdsaSha512 => {
                "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512"
            }
        }
    }

    pub fn is_sha1(self) -> bool {
        self == SignatureAlgorithm::RsaSha1
    }

    /// A short name for messages (`RSA-SHA256`).
    pub fn name(self) -> &'static str {
        match self {
            SignatureAlgorithm::RsaSha1 => "RSA-SHA1",
            SignatureAlgorithm::RsaSha256 => "RSA-SHA256",
            SignatureAlgorithm::RsaSha384 => "RSA-SHA384",
            SignatureAlgorithm::RsaSha512 => "RSA-SHA512",
            SignatureAlgorithm::EcdsaSha256 => "ECDSA-SHA256",
            SignatureAlgorithm::EcdsaSha384 => "ECDSA-SHA384",
            SignatureAlgorithm::EcdsaSha512 => "ECDSA-SHA512",
        }
    }
}

/// The Status the identity provider sent when it was not Success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpStatus {
    /// The top-level StatusCode value, then any nested (second-level) values.
    pub codes: Vec<String>,
    pub message: Option<String>,
}

/// The verifier's whole verdict, with a check list for the administrator's "check a Response"
/// tool.
#[derive(Debug, Clone)]
pub struct Report {
    /// In order xml, status, signature, issuer, audience, recipient, time; each ok or not, with
    /// a detail sentence. After a failed xml, status or signature check nothing more is
    /// evaluated; issuer, audience, recipient and time are all evaluated once the signature
    /// verified.
    pub checks: Vec<Check>,
    pub outcome: Result<Assertion, Refusal>,
    /// SHA-256 fingerprint (Certificate::fingerprint_sha256 format) of the configured
    /// certificate that verified, else of the certificate presented in KeyInfo, if any.
    pub certificate_sha256: Option<String>,
    /// The certificate presented in KeyInfo when it is NOT one of the configured ones (a
    /// rotation at the IdP).
    pub presented_certificate: Option<Certificate>,
    /// The signature method of the Assertion's signature, else of the Response's.
    pub signature_algorithm: Option<SignatureAlgorithm>,
    /// The verifying key was RSA shorter than 2048 bits.
    pub weak_key: bool,
    /// A signature or digest that verified used SHA-1.
    pub sha1: bool,
    /// The identity provider's Status when it was not Success.
    pub idp_status: Option<IdpStatus>,
}

impl Report {
    pub(super) fn new() -> Report {
        Report {
            checks: Vec::new(),
            outcome: Err(Refusal::new(Reason::InvalidXml, String::new())),
            certificate_sha256: None,
            presented_certificate: None,
            signature_algorithm: None,
            weak_key: false,
            sha1: false,
            idp_status: None,
        }
    }

    pub(super) fn pass(&mut self, name: CheckName, detail: impl Into<String>) {
        self.checks.push(Check {
            name,
            ok: true,
            detail: detail.into(),
        });
    }

    pub(super) fn fail(&mut self, name: CheckName, refusal: &Refusal) {
        self.checks.push(Check {
            name,
            ok: false,
            detail: refusal.detail.clone(),
        });
    }

    /// The first refusal of the checks (for when several failed).
    pub(super) fn refuse(&mut self, name: CheckName, refusal: Refusal) {
        self.fail(name, &refusal);
        if self.outcome.is_ok() || self.outcome.as_ref().is_err_and(|r| r.detail.is_empty()) {
            self.outcome = Err(refusal);
        }
    }
}
