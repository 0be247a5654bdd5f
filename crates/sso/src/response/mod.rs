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

mod algorithms;
mod assertion;
pub mod c14n;
mod checks;
mod document;
mod dsig;
mod keys;
mod report;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use roxmltree::{Document, ParsingOptions};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::Certificate;
use document::{Shape, Signed, read_claims, read_shape, read_status, read_text};

pub use assertion::{Assertion, Attribute};
pub use c14n::canonicalize;
pub use report::{Check, CheckName, IdpStatus, Reason, Refusal, Report, SignatureAlgorithm};

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
    checks::issuer(&signed, expected, &mut report);
    checks::audience(&signed, expected, &mut report);
    let bearer = checks::recipient(&signed, expected, &mut report);
    checks::time(&mut signed, bearer, expected, &mut report);
    if report.outcome.is_ok() {
        report.outcome = Ok(signed.assertion);
    }
    report
}

fn earliest(a: Option<OffsetDateTime>, b: Option<OffsetDateTime>) -> Option<OffsetDateTime> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn show_time(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// Steps xml, status and signature; on success the signed claims.
fn verify_signed(xml: &[u8], certificates: &[Certificate], report: &mut Report) -> Option<Signed> {
    let doc = match read_text(xml).and_then(parse) {
        Ok(doc) => doc,
        Err(refusal) => {
            report.refuse(CheckName::Xml, refusal);
            return None;
        }
    };
    let (shape, signed) = read_response(&doc, report)?;
    check_signatures(&shape, certificates, report)?;
    Some(signed)
}

/// The XML parsed under the verifier's limits: no DTD, at most [`MAX_NODES`] nodes.
fn parse(text: &str) -> Result<Document<'_>, Refusal> {
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    Document::parse_with_options(text, options).map_err(|e| {
        let detail = match e {
            roxmltree::Error::DtdDetected => {
                "a document type declaration (DTD) is refused".to_string()
            }
            roxmltree::Error::NodesLimitReached => {
                format!("the Response has more than {MAX_NODES} XML nodes")
            }
            other => format!("the Response is not well-formed XML: {other}"),
        };
        Refusal::new(Reason::InvalidXml, detail)
    })
}

/// Steps xml and status: the one shape accepted, a Success status and the Assertion's claims
/// (not yet trusted: the signatures are checked next).
fn read_response<'a, 'i>(
    doc: &'a Document<'i>,
    report: &mut Report,
) -> Option<(Shape<'a, 'i>, Signed)> {
    let shape = match read_shape(doc) {
        Ok(shape) => shape,
        Err(refusal) => {
            report.refuse(CheckName::Xml, refusal);
            return None;
        }
    };
    let root = doc.root_element();

    // Status (before asking for an Assertion: a failed sign-in carries none).
    if let Err((refusal, status)) = read_status(root) {
        report.pass(CheckName::Xml, "a well-formed SAML 2.0 Response");
        report.idp_status = status;
        report.refuse(CheckName::Status, refusal);
        return None;
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
    Some((shape, signed))
}

/// Step signature: every signature present verifies under a configured certificate, and
/// there is at least one. Reports a presented certificate that is not configured (a rotation).
fn check_signatures(
    shape: &Shape<'_, '_>,
    certificates: &[Certificate],
    report: &mut Report,
) -> Option<()> {
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
    for (what, signature) in [
        ("Assertion", shape.assertion_signature),
        ("Response", shape.response_signature),
    ] {
        let Some(signature) = signature else { continue };
        match dsig::verify_enveloped(signature, certificates) {
            Ok(v) => details.push(record_signature(what, &v, certificates, report)),
            Err(refusal) => {
                report.refuse(CheckName::Signature, refusal);
                return None;
            }
        }
    }
    report.pass(CheckName::Signature, details.join("; "));
    Some(())
}

/// Notes a verified signature's algorithm, key and certificate in the report; its sentence.
fn record_signature(
    what: &str,
    v: &dsig::Verified,
    certificates: &[Certificate],
    report: &mut Report,
) -> String {
    let cert = &certificates[v.certificate];
    if report.signature_algorithm.is_none() {
        report.signature_algorithm = Some(v.algorithm);
    }
    report.weak_key |= v.weak_key;
    report.sha1 |= v.algorithm.is_sha1() || v.sha1_digest;
    report.certificate_sha256 = Some(cert.fingerprint_sha256.clone());
    format!(
        "the {what}'s signature ({}{}{}) verified with the certificate {}",
        v.algorithm.name(),
        if v.sha1_digest { ", SHA-1 digest" } else { "" },
        if v.weak_key {
            ", RSA key shorter than 2048 bits"
        } else {
            ""
        },
        cert.fingerprint_sha256
    )
}

#[cfg(test)]
mod tests;
