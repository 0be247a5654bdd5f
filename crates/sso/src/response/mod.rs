//! The SAML 2.0 Response verifier: what a posted `SAMLResponse` says, if the identity provider
//! really said it.
//!
//! This is deliberately not a general XML-Signature engine. It accepts one narrow shape, the one
//! every identity provider we know sends, and refuses everything else before reading any claim:
//!
//! - the document is one `samlp:Response` with at most 512 KiB of UTF-8 XML, no DTD, at most
//!   20,000 nodes, 64 levels deep, 256 attributes per element and 64 namespaces in scope; every
//!   `ID` in it is unique; NameID and attribute values are at most 4 KiB, SAML attributes at
//!   most 256;
//! - it holds exactly one `saml:Assertion`, as a direct child of the Response (no Assertion
//!   anywhere else: not in Extensions, Advice, StatusDetail, `ds:Object` or nested); an
//!   `EncryptedAssertion` is refused (our service-provider metadata offers no encryption key);
//! - every `ds:Signature` in the document is an enveloped signature that is a direct child of
//!   the Response or of the Assertion, references its parent's `ID` (one `Reference`), uses the
//!   transforms enveloped-signature and exclusive C14N (optionally with an
//!   `InclusiveNamespaces` PrefixList), exclusive C14N without comments for `SignedInfo`, RSA
//!   PKCS#1 v1.5 with SHA-1/256/384/512 or ECDSA (P-256 with SHA-256, P-384 with SHA-384), and
//!   verifies under one of the configured certificates (their dates are not checked: the
//!   metadata interoperability profile); at least one signature covers the Assertion (its own,
//!   or the Response's, since the Assertion is the Response's child). SHA-1 and RSA keys of
//!   1024 to 2047 bits are still accepted, because real identity providers use them, and
//!   reported ([`Report::sha1`], [`Report::weak_key`]);
//! - claims are read only from that Assertion, and Response-level attributes (Destination,
//!   InResponseTo, Issuer) only when the Response's own signature verified.
//!
//! Why so narrow: signature-wrapping attacks work by making the verifier check one element
//! while the application reads another. Requiring the signed element to be *the* element read,
//! at a fixed position, with unique IDs and no second Assertion anywhere, leaves one obvious
//! way to read the document. Keys come only from configuration: `KeyInfo` in the document is
//! never trusted, only reported so an administrator can notice a key rotation.
//!
//! Nothing here does I/O or reads the clock: the time is passed in [`Expected::now`].

pub mod c14n;
mod document;
mod dsig;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use roxmltree::{Document, ParsingOptions};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::Certificate;
use document::{Signed, read_claims, read_shape, read_status, read_text};

pub use c14n::canonicalize;

/// How far the identity provider's clock may be from ours.
pub const CLOCK_SKEW: time::Duration = time::Duration::minutes(3);
/// Largest Response XML accepted (checked before parsing).
pub const MAX_RESPONSE_XML: usize = 512 * 1024;
/// Largest posted `SAMLResponse` form value accepted, checked before decoding: the base64 of
/// [`MAX_RESPONSE_XML`] (699,052 characters) with CRLF line breaks every 76 characters.
pub const MAX_FORM_VALUE: usize = 720 * 1024;
/// roxmltree's node limit for a Response.
pub const MAX_NODES: u32 = 20_000;
/// Deepest element nesting accepted.
pub const MAX_DEPTH: usize = 64;
/// Most attributes (namespace declarations included) on one element.
pub const MAX_ATTRIBUTES_PER_ELEMENT: usize = 256;
/// Most namespace prefixes in scope on one element (real Responses use under a dozen); bounds
/// the work of canonicalisation.
pub const MAX_NAMESPACES_IN_SCOPE: usize = 64;
/// Longest NameID or attribute value accepted (bytes of text).
pub const MAX_VALUE: usize = 4 * 1024;
/// Most SAML `Attribute` elements in the Assertion.
pub const MAX_SAML_ATTRIBUTES: usize = 256;

const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const CM_BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const NAMEID_EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";

/// Decodes a posted SAMLResponse form value (base64, whitespace/CR/LF tolerated) to XML bytes.
pub fn decode_form_value(value: &str) -> Result<Vec<u8>, Refusal> {
    if value.len() > MAX_FORM_VALUE {
        return Err(Refusal::new(
            Reason::InvalidXml,
            format!(
                "the posted SAMLResponse is {} bytes; at most {MAX_FORM_VALUE} are accepted",
                value.len()
            ),
        ));
    }
    let compact: Vec<u8> = value
        .bytes()
        .filter(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .collect();
    let engine = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let xml = engine.decode(&compact).map_err(|_| {
        Refusal::new(
            Reason::InvalidXml,
            "the posted SAMLResponse is not base64".to_string(),
        )
    })?;
    if xml.len() > MAX_RESPONSE_XML {
        return Err(too_large(xml.len()));
    }
    Ok(xml)
}

fn too_large(size: usize) -> Refusal {
    Refusal::new(
        Reason::InvalidXml,
        format!("the Response is {size} bytes of XML; at most {MAX_RESPONSE_XML} are accepted"),
    )
}

/// What the verifier is told to expect: our configuration and the time.
pub struct Expected<'a> {
    pub idp_entity_id: &'a str,
    pub sp_entity_id: &'a str,
    pub acs_url: &'a str,
    /// The identity provider's signing certificates (several during a rotation: each is tried).
    pub certificates: &'a [Certificate],
    pub now: OffsetDateTime,
}

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
    fn new(reason: Reason, detail: String) -> Refusal {
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

/// A SAML attribute and all its values (each value the joined text of its `AttributeValue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub values: Vec<String>,
}

/// What a verified Assertion says, read only from signed bytes.
#[derive(Debug, Clone)]
pub struct Assertion {
    /// The Assertion's ID (the replay key).
    pub id: String,
    pub issuer: String,
    /// The bearer SubjectConfirmationData's InResponseTo, else the Response's when the Response
    /// itself was signed.
    pub in_response_to: Option<String>,
    pub name_id: Option<String>,
    pub name_id_format: Option<String>,
    pub attributes: Vec<Attribute>,
    pub issue_instant: OffsetDateTime,
    /// The earliest of Conditions NotOnOrAfter and the bearer SubjectConfirmationData
    /// NotOnOrAfter (how long a replay record must be kept; add [`CLOCK_SKEW`]).
    pub not_on_or_after: Option<OffsetDateTime>,
    pub session_index: Option<String>,
}

impl Assertion {
    /// The e-mail address: the NameID when its Format is emailAddress, else the first value of
    /// `email`, `mail`, the xmlsoap emailaddress claim, `urn:oid:0.9.2342.19200300.100.1.3` (in
    /// this order), else a NameID (any format) that looks like an address. Trimmed; not
    /// validated further (the caller parses it).
    pub fn email(&self) -> Option<&str> {
        let name_id = self
            .name_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        if self.name_id_format.as_deref() == Some(NAMEID_EMAIL)
            && let Some(n) = name_id
        {
            return Some(n);
        }
        let by_attribute = self.first_value(&[
            "email",
            "mail",
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
            "urn:oid:0.9.2342.19200300.100.1.3",
        ]);
        if by_attribute.is_some() {
            return by_attribute;
        }
        name_id.filter(|n| looks_like_address(n))
    }

    /// displayName, name (also the xmlsoap name and Microsoft displayname claims), else
    /// givenName + surname (also the xmlsoap givenname/surname claims and urn:oid:2.5.4.42 /
    /// urn:oid:2.5.4.4).
    pub fn display_name(&self) -> Option<String> {
        if let Some(name) = self.first_value(&[
            "displayName",
            "urn:oid:2.16.840.1.113730.3.1.241",
            "name",
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
            "http://schemas.microsoft.com/identity/claims/displayname",
        ]) {
            return Some(name.to_string());
        }
        let given = self.first_value(&[
            "givenName",
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
            "urn:oid:2.5.4.42",
        ]);
        let surname = self.first_value(&[
            "surname",
            "sn",
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
            "urn:oid:2.5.4.4",
        ]);
        match (given, surname) {
            (Some(g), Some(s)) => Some(format!("{g} {s}")),
            (Some(one), None) | (None, Some(one)) => Some(one.to_string()),
            (None, None) => None,
        }
    }

    /// The first non-empty (trimmed) value of the first of `names` that has one.
    fn first_value(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|name| {
            self.attributes
                .iter()
                .filter(|a| a.name == *name)
                .flat_map(|a| a.values.iter())
                .map(|v| v.trim())
                .find(|v| !v.is_empty())
        })
    }
}

fn looks_like_address(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.contains('@')
                && !s.chars().any(char::is_whitespace)
        }
        None => false,
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
    fn new() -> Report {
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

    fn pass(&mut self, name: CheckName, detail: impl Into<String>) {
        self.checks.push(Check {
            name,
            ok: true,
            detail: detail.into(),
        });
    }

    fn fail(&mut self, name: CheckName, refusal: &Refusal) {
        self.checks.push(Check {
            name,
            ok: false,
            detail: refusal.detail.clone(),
        });
    }

    /// The first refusal of the checks (for when several failed).
    fn refuse(&mut self, name: CheckName, refusal: Refusal) {
        self.fail(name, &refusal);
        if self.outcome.is_ok() || self.outcome.as_ref().is_err_and(|r| r.detail.is_empty()) {
            self.outcome = Err(refusal);
        }
    }
}

/// Checks the signature(s) only: no issuer, audience, recipient or time checks. For
/// benchmarks and the administrator's tools; sign-ins use [`verify`].
pub fn verify_signature_only(xml: &[u8], certificates: &[Certificate]) -> Report {
    let mut report = Report::new();
    if let Some(signed) = verify_signed(xml, certificates, &mut report) {
        report.outcome = Ok(signed.assertion);
    }
    report
}

/// Verifies `xml` and checks Issuer == idp_entity_id (the Assertion's Issuer; also the
/// Response's when present and signed), an AudienceRestriction containing sp_entity_id (every
/// AudienceRestriction must contain it), Recipient of the bearer SubjectConfirmationData ==
/// acs_url and the Response's Destination == acs_url when present (and signed),
/// NotBefore - CLOCK_SKEW <= now < NotOnOrAfter + CLOCK_SKEW for Conditions and
/// SubjectConfirmationData. Everything except InResponseTo/replay/e-mail domain, which the
/// caller checks with its database.
pub fn verify(xml: &[u8], expected: &Expected<'_>) -> Report {
    let mut report = Report::new();
    let Some(mut signed) = verify_signed(xml, expected.certificates, &mut report) else {
        return report;
    };
    report.outcome = Ok(signed.assertion.clone());

    // Issuer.
    let want_issuer = expected.idp_entity_id.trim();
    if signed.assertion.issuer.trim() != want_issuer {
        report.refuse(
            CheckName::Issuer,
            Refusal::new(
                Reason::IssuerMismatch,
                format!(
                    "the Assertion was issued by \"{}\", not by the configured identity provider \"{want_issuer}\"",
                    signed.assertion.issuer
                ),
            ),
        );
    } else if let Some(issuer) = &signed.response_issuer
        && issuer.trim() != want_issuer
    {
        report.refuse(
            CheckName::Issuer,
            Refusal::new(
                Reason::IssuerMismatch,
                format!(
                    "the Response was issued by \"{issuer}\", not by the configured identity provider \"{want_issuer}\""
                ),
            ),
        );
    } else {
        report.pass(
            CheckName::Issuer,
            format!("issued by the configured identity provider \"{want_issuer}\""),
        );
    }

    // Audience.
    let sp = expected.sp_entity_id.trim();
    if signed.audiences.is_empty() {
        report.refuse(
            CheckName::Audience,
            Refusal::new(
                Reason::AudienceMismatch,
                "the Assertion has no AudienceRestriction naming this service".to_string(),
            ),
        );
    } else if let Some(other) = signed
        .audiences
        .iter()
        .find(|restriction| !restriction.iter().any(|a| a.trim() == sp))
    {
        report.refuse(
            CheckName::Audience,
            Refusal::new(
                Reason::AudienceMismatch,
                format!(
                    "the Assertion is for the audience \"{}\", not for this service (\"{sp}\")",
                    other.join("\", \"")
                ),
            ),
        );
    } else {
        report.pass(CheckName::Audience, format!("issued for \"{sp}\""));
    }

    // Recipient.
    let acs = expected.acs_url.trim();
    let bearer = signed
        .bearers
        .iter()
        .position(|b| b.recipient.as_deref().map(str::trim) == Some(acs));
    if signed.bearers.is_empty() {
        report.refuse(
            CheckName::Recipient,
            Refusal::new(
                Reason::RecipientMismatch,
                "the Assertion has no bearer SubjectConfirmation".to_string(),
            ),
        );
    } else if bearer.is_none() {
        let seen: Vec<&str> = signed
            .bearers
            .iter()
            .map(|b| b.recipient.as_deref().unwrap_or("(none)"))
            .collect();
        report.refuse(
            CheckName::Recipient,
            Refusal::new(
                Reason::RecipientMismatch,
                format!(
                    "the Assertion's Recipient is \"{}\", not this service's address \"{acs}\"",
                    seen.join("\", \"")
                ),
            ),
        );
    } else if let Some(destination) = &signed.destination
        && destination.trim() != acs
    {
        report.refuse(
            CheckName::Recipient,
            Refusal::new(
                Reason::RecipientMismatch,
                format!(
                    "the Response's Destination is \"{destination}\", not this service's address \"{acs}\""
                ),
            ),
        );
    } else {
        report.pass(CheckName::Recipient, format!("addressed to \"{acs}\""));
    }

    // Time.
    let now = expected.now;
    let mut windows: Vec<(&str, Option<OffsetDateTime>, Option<OffsetDateTime>)> = vec![(
        "Conditions",
        signed.not_before,
        signed.conditions_not_on_or_after,
    )];
    if let Some(b) = bearer.map(|i| &signed.bearers[i]) {
        windows.push(("SubjectConfirmationData", b.not_before, b.not_on_or_after));
        signed.assertion.not_on_or_after =
            earliest(signed.conditions_not_on_or_after, b.not_on_or_after);
    }
    let mut time_problem = None;
    for (what, not_before, not_on_or_after) in windows {
        if let Some(nb) = not_before
            && now < nb - CLOCK_SKEW
        {
            time_problem = Some(Refusal::new(
                Reason::NotYetValid,
                format!("the {what} are valid only from {}", show_time(nb)),
            ));
            break;
        }
        if let Some(noa) = not_on_or_after
            && now >= noa + CLOCK_SKEW
        {
            time_problem = Some(Refusal::new(
                Reason::Expired,
                format!("the {what} expired at {}", show_time(noa)),
            ));
            break;
        }
    }
    match time_problem {
        Some(refusal) => report.refuse(CheckName::Time, refusal),
        None => report.pass(
            CheckName::Time,
            match signed.assertion.not_on_or_after {
                Some(noa) => format!("valid now, until {}", show_time(noa)),
                None => "valid now".to_string(),
            },
        ),
    }

    if report.outcome.is_ok() {
        report.outcome = Ok(signed.assertion);
    }
    report
}

fn show_time(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

fn earliest(a: Option<OffsetDateTime>, b: Option<OffsetDateTime>) -> Option<OffsetDateTime> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Steps xml, status and signature; on success the signed claims.
fn verify_signed(xml: &[u8], certificates: &[Certificate], report: &mut Report) -> Option<Signed> {
    let text = match read_text(xml) {
        Ok(text) => text,
        Err(refusal) => {
            report.refuse(CheckName::Xml, refusal);
            return None;
        }
    };
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    let doc = match Document::parse_with_options(text, options) {
        Ok(doc) => doc,
        Err(e) => {
            let detail = match e {
                roxmltree::Error::DtdDetected => {
                    "a document type declaration (DTD) is refused".to_string()
                }
                roxmltree::Error::NodesLimitReached => {
                    format!("the Response has more than {MAX_NODES} XML nodes")
                }
                other => format!("the Response is not well-formed XML: {other}"),
            };
            report.refuse(CheckName::Xml, Refusal::new(Reason::InvalidXml, detail));
            return None;
        }
    };
    let shape = match read_shape(&doc) {
        Ok(shape) => shape,
        Err(refusal) => {
            report.refuse(CheckName::Xml, refusal);
            return None;
        }
    };
    let root = doc.root_element();

    // Status (before asking for an Assertion: a failed sign-in carries none).
    match read_status(root) {
        Ok(()) => {}
        Err((refusal, status)) => {
            report.pass(CheckName::Xml, "a well-formed SAML 2.0 Response");
            report.idp_status = status;
            report.refuse(CheckName::Status, refusal);
            return None;
        }
    }
    let Some(assertion) = shape.assertion else {
        report.refuse(
            CheckName::Xml,
            Refusal::new(
                Reason::UnexpectedStructure,
                "the Response carries no Assertion".to_string(),
            ),
        );
        return None;
    };
    // The Assertion's content is read now, so that a malformed one fails the xml check; the
    // result is returned only once every signature verified (Response-level facts are read
    // only if the Response carries a signature, which must then verify).
    let signed = match read_claims(root, assertion, shape.response_signature.is_some()) {
        Ok(signed) => signed,
        Err(refusal) => {
            report.refuse(CheckName::Xml, refusal);
            return None;
        }
    };
    report.pass(
        CheckName::Xml,
        "a well-formed SAML 2.0 Response with one Assertion",
    );
    report.pass(CheckName::Status, "the identity provider reports Success");

    // Signatures: each present must verify; at least one.
    let presented = shape
        .assertion_signature
        .and_then(dsig::presented_certificate)
        .or_else(|| {
            shape
                .response_signature
                .and_then(dsig::presented_certificate)
        });
    if let Some(p) = presented
        && certificates
            .iter()
            .all(|c| c.fingerprint_sha256 != p.fingerprint_sha256)
    {
        report.certificate_sha256 = Some(p.fingerprint_sha256.clone());
        report.presented_certificate = Some(p);
    }
    if shape.assertion_signature.is_none() && shape.response_signature.is_none() {
        report.refuse(
            CheckName::Signature,
            Refusal::new(
                Reason::Unsigned,
                "neither the Response nor the Assertion is signed".to_string(),
            ),
        );
        return None;
    }
    let mut details = Vec::new();
    let mut response_signed = false;
    for (what, signature) in [
        ("Assertion", shape.assertion_signature),
        ("Response", shape.response_signature),
    ] {
        let Some(signature) = signature else { continue };
        match dsig::verify_enveloped(signature, certificates) {
            Ok(v) => {
                let cert = &certificates[v.certificate];
                if report.signature_algorithm.is_none() {
                    report.signature_algorithm = Some(v.algorithm);
                }
                report.weak_key |= v.weak_key;
                report.sha1 |= v.algorithm.is_sha1() || v.sha1_digest;
                report.certificate_sha256 = Some(cert.fingerprint_sha256.clone());
                response_signed |= what == "Response";
                details.push(format!(
                    "the {what}'s signature ({}{}{}) verified with the certificate {}",
                    v.algorithm.name(),
                    if v.sha1_digest { ", SHA-1 digest" } else { "" },
                    if v.weak_key {
                        ", RSA key shorter than 2048 bits"
                    } else {
                        ""
                    },
                    cert.fingerprint_sha256
                ));
            }
            Err(refusal) => {
                report.refuse(CheckName::Signature, refusal);
                return None;
            }
        }
    }
    report.pass(CheckName::Signature, details.join("; "));
    debug_assert_eq!(response_signed, shape.response_signature.is_some());
    Some(signed)
}

#[cfg(test)]
mod tests;
