//! Unit tests of the verifier: every refusal reason, the checks, the claims. Documents are
//! signed here with ECDSA P-256 through our own canonicalisation (the independent check against
//! xmlsec1 is in tests/xmlsec1.rs).

use super::*;
use base64::engine::general_purpose::STANDARD;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use std::collections::HashSet;
use time::macros::datetime;

const P: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const A: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const IDP: &str = "https://idp.example.org/saml";
const SP: &str = "https://sp.example.org/saml/metadata";
const ACS: &str = "https://sp.example.org/saml/acs";
const NOW: OffsetDateTime = datetime!(2026-03-01 10:00:30 UTC);

struct Signer {
    key: EcdsaKeyPair,
    certificate: Certificate,
}

fn signer() -> Signer {
    signer_valid(
        datetime!(2026-01-01 00:00 UTC),
        datetime!(2027-01-01 00:00 UTC),
    )
}

fn signer_valid(not_before: OffsetDateTime, not_after: OffsetDateTime) -> Signer {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["idp.example.org".to_string()]).unwrap();
    params.not_before = not_before;
    params.not_after = not_after;
    let cert = params.self_signed(&key).unwrap();
    let certificate = Certificate::from_der(cert.der().to_vec()).unwrap();
    let key = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        &key.serialize_der(),
        &SystemRandom::new(),
    )
    .unwrap();
    Signer { key, certificate }
}

/// An empty signature for the element with `id`: `DIGEST:id` and `SIGNATURE:id` are filled in
/// by [`sign`].
fn sig(id: &str) -> String {
    sig_with(
        id,
        &format!("#{id}"),
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        "http://www.w3.org/2001/04/xmlenc#sha256",
        "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/><ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
        "http://www.w3.org/2001/10/xml-exc-c14n#",
    )
}

fn sig_with(
    id: &str,
    uri: &str,
    method: &str,
    digest: &str,
    transforms: &str,
    c14n: &str,
) -> String {
    format!(
        r#"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="{c14n}"/><ds:SignatureMethod Algorithm="{method}"/><ds:Reference URI="{uri}"><ds:Transforms>{transforms}</ds:Transforms><ds:DigestMethod Algorithm="{digest}"/><ds:DigestValue>DIGEST:{id}</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>SIGNATURE:{id}</ds:SignatureValue></ds:Signature>"#
    )
}

/// Fills the signature of the element with `id` (its DigestValue text `DIGEST:id`), computing
/// the digest over the element the Reference names.
fn sign_one(xml: &str, id: &str, signer: &Signer) -> String {
    let digest_marker = format!("DIGEST:{id}");
    let (digest, ..) = {
        let doc = Document::parse(xml).unwrap();
        let digest_node = doc
            .descendants()
            .find(|n| n.is_text() && n.text() == Some(digest_marker.as_str()))
            .unwrap();
        let signature = digest_node
            .ancestors()
            .find(|n| n.tag_name().name() == "Signature")
            .unwrap();
        let reference = signature
            .descendants()
            .find(|n| n.tag_name().name() == "Reference")
            .unwrap();
        let target = reference.attribute("URI").unwrap().trim_start_matches('#');
        let element = doc
            .descendants()
            .find(|n| n.attribute("ID") == Some(target))
            .unwrap_or(doc.root_element());
        let canonical = canonicalize(element, &[], Some(signature.id()));
        let digest = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
        (STANDARD.encode(digest.as_ref()), ())
    };
    let xml = xml.replace(&digest_marker, &digest);
    let signature_marker = format!("SIGNATURE:{id}");
    let value = {
        let doc = Document::parse(&xml).unwrap();
        let value_node = doc
            .descendants()
            .find(|n| n.is_text() && n.text() == Some(signature_marker.as_str()))
            .unwrap();
        let signature = value_node
            .ancestors()
            .find(|n| n.tag_name().name() == "Signature")
            .unwrap();
        let signed_info = signature
            .children()
            .find(|n| n.tag_name().name() == "SignedInfo")
            .unwrap();
        let canonical = canonicalize(signed_info, &[], None);
        let sig = signer
            .key
            .sign(&SystemRandom::new(), canonical.as_bytes())
            .unwrap();
        STANDARD.encode(sig.as_ref())
    };
    xml.replace(&signature_marker, &value)
}

/// Signs the Assertion's signature (if any), then the Response's.
fn sign(xml: &str, signer: &Signer) -> String {
    let mut xml = xml.to_string();
    for id in ["a-1", "x-1", "r-1"] {
        if xml.contains(&format!("DIGEST:{id}")) {
            xml = sign_one(&xml, id, signer);
        }
    }
    xml
}

struct Doc {
    response_sig: bool,
    assertion_sig: bool,
    name_id: String,
    status: String,
    destination: String,
    recipient: String,
    audience: String,
    issuer: String,
    not_before: String,
    not_on_or_after: String,
    extra_response: String,
    extra_assertion: String,
    attributes: String,
}

impl Default for Doc {
    fn default() -> Doc {
        Doc {
            response_sig: false,
            assertion_sig: true,
            name_id: "alice@example.com".to_string(),
            status: r#"<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>"#
                .to_string(),
            destination: ACS.to_string(),
            recipient: ACS.to_string(),
            audience: format!("<saml:Audience>{SP}</saml:Audience>"),
            issuer: IDP.to_string(),
            not_before: "2026-03-01T09:59:00Z".to_string(),
            not_on_or_after: "2026-03-01T10:05:00Z".to_string(),
            extra_response: String::new(),
            extra_assertion: String::new(),
            attributes: r#"<saml:Attribute Name="displayName"><saml:AttributeValue>Alice Example</saml:AttributeValue></saml:Attribute>"#.to_string(),
        }
    }
}

impl Doc {
    fn xml(&self) -> String {
        format!(
            r#"<samlp:Response xmlns:samlp="{P}" xmlns:saml="{A}" ID="r-1" Version="2.0" IssueInstant="2026-03-01T10:00:00Z" Destination="{dest}" InResponseTo="req-1"><saml:Issuer>{issuer}</saml:Issuer>{rsig}{extra_r}<samlp:Status>{status}</samlp:Status><saml:Assertion ID="a-1" Version="2.0" IssueInstant="2026-03-01T10:00:00Z"><saml:Issuer>{issuer}</saml:Issuer>{asig}<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{name_id}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData InResponseTo="req-1" NotOnOrAfter="{noa}" Recipient="{recipient}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{nb}" NotOnOrAfter="{noa}"><saml:AudienceRestriction>{audience}</saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="2026-03-01T10:00:00Z" SessionIndex="s-1"/><saml:AttributeStatement>{attributes}</saml:AttributeStatement>{extra_a}</saml:Assertion></samlp:Response>"#,
            dest = self.destination,
            issuer = self.issuer,
            rsig = if self.response_sig {
                sig("r-1")
            } else {
                String::new()
            },
            asig = if self.assertion_sig {
                sig("a-1")
            } else {
                String::new()
            },
            extra_r = self.extra_response,
            extra_a = self.extra_assertion,
            status = self.status,
            name_id = self.name_id,
            noa = self.not_on_or_after,
            nb = self.not_before,
            recipient = self.recipient,
            audience = self.audience,
            attributes = self.attributes,
        )
    }

    fn signed(&self, signer: &Signer) -> String {
        sign(&self.xml(), signer)
    }
}

fn expected<'a>(certificates: &'a [Certificate]) -> Expected<'a> {
    Expected {
        idp_entity_id: IDP,
        sp_entity_id: SP,
        acs_url: ACS,
        certificates,
        now: NOW,
    }
}

fn run(xml: &str, signer: &Signer) -> Report {
    verify(
        xml.as_bytes(),
        &expected(std::slice::from_ref(&signer.certificate)),
    )
}

fn reason(report: &Report) -> Reason {
    match &report.outcome {
        Ok(a) => panic!("accepted {:?}; checks {:?}", a.name_id, report.checks),
        Err(r) => r.reason,
    }
}

fn refused(xml: &str, signer: &Signer) -> Reason {
    let report = run(xml, signer);
    if let Err(r) = &report.outcome {
        println!("refused: {r}");
    }
    if let Ok(a) = &report.outcome {
        assert_ne!(a.name_id.as_deref(), Some("admin@evil.com"));
    }
    reason(&report)
}

#[test]
fn a_well_formed_signed_response_is_accepted_with_its_claims() {
    let s = signer();
    for (response_sig, assertion_sig) in [(false, true), (true, false), (true, true)] {
        let xml = Doc {
            response_sig,
            assertion_sig,
            ..Doc::default()
        }
        .signed(&s);
        let report = run(&xml, &s);
        let a = report.outcome.as_ref().unwrap();
        assert_eq!(a.id, "a-1");
        assert_eq!(a.issuer, IDP);
        assert_eq!(a.name_id.as_deref(), Some("alice@example.com"));
        assert_eq!(a.email(), Some("alice@example.com"));
        assert_eq!(a.display_name().as_deref(), Some("Alice Example"));
        assert_eq!(a.in_response_to.as_deref(), Some("req-1"));
        assert_eq!(a.session_index.as_deref(), Some("s-1"));
        assert_eq!(a.issue_instant, datetime!(2026-03-01 10:00:00 UTC));
        assert_eq!(a.not_on_or_after, Some(datetime!(2026-03-01 10:05:00 UTC)));
        let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "xml",
                "status",
                "signature",
                "issuer",
                "audience",
                "recipient",
                "time"
            ]
        );
        assert!(report.checks.iter().all(|c| c.ok));
        assert_eq!(
            report.signature_algorithm,
            Some(SignatureAlgorithm::EcdsaSha256)
        );
        assert!(!report.weak_key && !report.sha1);
        assert_eq!(
            report.certificate_sha256.as_deref(),
            Some(s.certificate.fingerprint_sha256.as_str())
        );
    }
}

#[test]
fn the_response_signature_alone_covers_the_assertion_and_its_facts() {
    let s = signer();
    let xml = Doc {
        response_sig: true,
        assertion_sig: false,
        destination: "https://elsewhere.example.org/acs".into(),
        ..Doc::default()
    }
    .signed(&s);
    // The signed Response's Destination is checked.
    assert_eq!(refused(&xml, &s), Reason::RecipientMismatch);
    // An unsigned Response's Destination is not used (only the Assertion is signed).
    let xml = Doc {
        destination: "https://elsewhere.example.org/acs".into(),
        ..Doc::default()
    }
    .signed(&s);
    assert!(run(&xml, &s).outcome.is_ok());
}

#[test]
fn a_comment_inside_the_name_id_is_joined_and_the_signature_still_verifies() {
    let s = signer();
    let xml = Doc {
        name_id: "user@evil.com<!---->.example.com".into(),
        ..Doc::default()
    }
    .signed(&s);
    let report = run(&xml, &s);
    let a = report.outcome.unwrap();
    assert_eq!(a.name_id.as_deref(), Some("user@evil.com.example.com"));
    assert_eq!(a.email(), Some("user@evil.com.example.com"));
}

#[test]
fn invalid_xml_is_refused() {
    let s = signer();
    for bad in [
        "not xml at all",
        "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\">",
        "<a><b></a>",
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY e \"x\">]><r>&e;</r>",
        "<!DOCTYPE r><r/>",
        "<r>&undefined;</r>",
    ] {
        assert_eq!(refused(bad, &s), Reason::InvalidXml, "{bad}");
    }
    // Not UTF-8 (Latin-1 é).
    let latin1 = b"<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\">caf\xe9</samlp:Response>";
    let report = verify(latin1, &expected(&[]));
    assert_eq!(reason(&report), Reason::InvalidXml);
    assert_eq!(report.checks.len(), 1);
    assert_eq!(report.checks[0].name, CheckName::Xml);
    assert!(!report.checks[0].ok);
}

#[test]
fn oversized_input_is_refused_fast() {
    let s = signer();
    // Refused by their size before any parsing or decoding (the refusal names the limit; a
    // wall-clock bound here failed on a busy machine).
    let huge = vec![b'<'; 10 * 1024 * 1024];
    let report = verify(&huge, &expected(&[]));
    assert_eq!(reason(&report), Reason::InvalidXml);
    let detail = &report.outcome.as_ref().unwrap_err().detail;
    assert!(
        detail.contains(&format!("at most {MAX_RESPONSE_XML} are accepted")),
        "{detail}"
    );
    let value = "A".repeat(10 * 1024 * 1024);
    let refusal = decode_form_value(&value).unwrap_err();
    assert_eq!(refusal.reason, Reason::InvalidXml);
    assert!(
        refusal
            .detail
            .contains(&format!("at most {MAX_FORM_VALUE} are accepted")),
        "{}",
        refusal.detail
    );

    // Just over the limit, as a posted value and as XML.
    let xml = format!(
        "{}<!--{}-->",
        Doc::default().signed(&s),
        "x".repeat(MAX_RESPONSE_XML)
    );
    let report = run(&xml, &s);
    assert_eq!(reason(&report), Reason::InvalidXml);
    assert!(report.outcome.unwrap_err().detail.contains("at most"));
}

#[test]
fn deep_nesting_and_many_attributes_are_refused_before_parsing() {
    let s = signer();
    // Refused by the pre-parse scan (the refusal names the limit), not by roxmltree.
    let deep = format!("{}{}", "<a>".repeat(10_000), "</a>".repeat(10_000));
    let report = run(&deep, &s);
    assert_eq!(reason(&report), Reason::InvalidXml);
    assert!(report.outcome.unwrap_err().detail.contains("deep"));
    let attributes: String = (0..100_000).map(|i| format!(" a{i}=\"v\"")).collect();
    let wide = format!("<r{attributes}/>");
    assert_eq!(reason(&run(&wide, &s)), Reason::InvalidXml);
    let attributes: String = (0..=MAX_ATTRIBUTES_PER_ELEMENT)
        .map(|i| format!(" a{i}=\"v\""))
        .collect();
    let report = run(&format!("<r{attributes}/>"), &s);
    assert_eq!(reason(&report), Reason::InvalidXml);
    assert!(report.outcome.unwrap_err().detail.contains("attributes"));
    // 65 levels inside a signed Response.
    let xml = Doc {
        extra_assertion: format!(
            "<saml:Advice>{}{}</saml:Advice>",
            "<x>".repeat(64),
            "</x>".repeat(64)
        ),
        ..Doc::default()
    }
    .signed(&s);
    assert_eq!(refused(&xml, &s), Reason::InvalidXml);
}

#[test]
fn too_many_nodes_are_refused() {
    let s = signer();
    let xml = Doc {
        extra_assertion: "<x/>".repeat(MAX_NODES as usize),
        ..Doc::default()
    }
    .xml();
    let report = run(&xml, &s);
    assert_eq!(reason(&report), Reason::InvalidXml);
    assert!(report.outcome.unwrap_err().detail.contains("nodes"));
}

#[test]
fn oversized_values_and_too_many_attributes_are_refused() {
    let s = signer();
    let xml = Doc {
        name_id: "a".repeat(MAX_VALUE + 1),
        ..Doc::default()
    }
    .signed(&s);
    assert_eq!(refused(&xml, &s), Reason::InvalidXml);
    let xml = Doc {
        attributes: format!(
            r#"<saml:Attribute Name="big"><saml:AttributeValue>{}</saml:AttributeValue></saml:Attribute>"#,
            "v".repeat(MAX_VALUE + 1)
        ),
        ..Doc::default()
    }
    .signed(&s);
    assert_eq!(refused(&xml, &s), Reason::InvalidXml);
    let xml = Doc {
        attributes: r#"<saml:Attribute Name="n"><saml:AttributeValue>v</saml:AttributeValue></saml:Attribute>"#
            .repeat(MAX_SAML_ATTRIBUTES + 1),
        ..Doc::default()
    }
    .signed(&s);
    assert_eq!(refused(&xml, &s), Reason::InvalidXml);
    // At the limits: accepted.
    let xml = Doc {
        name_id: format!("{}@example.com", "a".repeat(MAX_VALUE - 12)),
        attributes: r#"<saml:Attribute Name="n"><saml:AttributeValue>v</saml:AttributeValue></saml:Attribute>"#
            .repeat(MAX_SAML_ATTRIBUTES),
        ..Doc::default()
    }
    .signed(&s);
    let a = run(&xml, &s).outcome.unwrap();
    assert_eq!(a.attributes.len(), MAX_SAML_ATTRIBUTES);
}

#[test]
fn form_values_are_decoded_with_whitespace_tolerated() {
    let xml = Doc::default().xml();
    let encoded = STANDARD.encode(xml.as_bytes());
    let wrapped: String = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| format!("{}\r\n", std::str::from_utf8(c).unwrap()))
        .collect();
    assert_eq!(decode_form_value(&wrapped).unwrap(), xml.as_bytes());
    assert_eq!(
        decode_form_value(encoded.trim_end_matches('=')).unwrap(),
        xml.as_bytes()
    );
    for bad in ["not base64!", "<samlp:Response/>", "%3Cxml"] {
        assert_eq!(
            decode_form_value(bad).unwrap_err().reason,
            Reason::InvalidXml,
            "{bad}"
        );
    }
    // Decodes to more XML than accepted.
    let big = STANDARD.encode(vec![b' '; MAX_RESPONSE_XML + 1]);
    assert!(big.len() <= MAX_FORM_VALUE);
    assert_eq!(
        decode_form_value(&big).unwrap_err().reason,
        Reason::InvalidXml
    );
}

#[test]
fn an_idp_error_carries_its_status() {
    let s = signer();
    let xml = format!(
        r#"<samlp:Response xmlns:samlp="{P}" ID="r-1" Version="2.0" IssueInstant="2026-03-01T10:00:00Z"><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"/></samlp:StatusCode><samlp:StatusMessage>User is not assigned to this application</samlp:StatusMessage></samlp:Status></samlp:Response>"#
    );
    let report = run(&xml, &s);
    assert_eq!(reason(&report), Reason::IdpError);
    let status = report.idp_status.unwrap();
    assert_eq!(
        status.codes,
        [
            "urn:oasis:names:tc:SAML:2.0:status:Responder",
            "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"
        ]
    );
    assert_eq!(
        status.message.as_deref(),
        Some("User is not assigned to this application")
    );
    let detail = report.outcome.unwrap_err().detail;
    assert!(detail.contains("AuthnFailed") && detail.contains("not assigned"));
    assert_eq!(report.checks.len(), 2);
    assert!(report.checks[0].ok && !report.checks[1].ok);
}

#[test]
fn an_encrypted_assertion_is_refused_as_unsupported() {
    let s = signer();
    let xml = Doc {
        extra_response: "<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\"/></saml:EncryptedAssertion>".into(),
        ..Doc::default()
    }
    .signed(&s);
    assert_eq!(refused(&xml, &s), Reason::EncryptedAssertionUnsupported);
}

#[test]
fn an_unsigned_response_is_refused() {
    let s = signer();
    let xml = Doc {
        assertion_sig: false,
        ..Doc::default()
    }
    .xml();
    assert_eq!(refused(&xml, &s), Reason::Unsigned);
}

#[test]
fn unexpected_structures_are_refused() {
    let s = signer();
    let evil = r#"<saml:Assertion ID="evil" Version="2.0" IssueInstant="2026-03-01T10:00:00Z"><saml:Issuer>https://idp.example.org/saml</saml:Issuer><saml:Subject><saml:NameID>admin@evil.com</saml:NameID></saml:Subject></saml:Assertion>"#;
    let cases: Vec<(&str, String)> = vec![
        (
            "not a Response",
            format!(r#"<saml:Assertion xmlns:saml="{A}" ID="a-1"/>"#),
        ),
        (
            "assertion in Extensions",
            Doc {
                extra_response: format!("<samlp:Extensions>{evil}</samlp:Extensions>"),
                ..Doc::default()
            }
            .signed(&s),
        ),
        (
            "assertion in Advice",
            Doc {
                extra_assertion: format!("<saml:Advice>{evil}</saml:Advice>"),
                ..Doc::default()
            }
            .signed(&s),
        ),
        (
            "second assertion",
            Doc::default().signed(&s).replace(
                "</samlp:Response>",
                &format!("{evil}</samlp:Response>"),
            ),
        ),
        (
            "second assertion with the signed one's ID",
            Doc::default().signed(&s).replace(
                "</samlp:Response>",
                &format!("{}</samlp:Response>", evil.replace("\"evil\"", "\"a-1\"")),
            ),
        ),
        (
            "duplicate ID on any element",
            Doc {
                extra_response: r#"<samlp:Extensions><x ID="a-1"/></samlp:Extensions>"#.into(),
                ..Doc::default()
            }
            .signed(&s),
        ),
        (
            "no assertion",
            format!(
                r#"<samlp:Response xmlns:samlp="{P}" ID="r-1"><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:Response>"#
            ),
        ),
        (
            "no status",
            Doc::default().signed(&s).replace(
                r#"<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>"#,
                "",
            ),
        ),
        (
            "reference URI empty",
            sign(
                &Doc {
                    assertion_sig: false,
                    ..Doc::default()
                }
                .xml()
                .replace(
                    "<saml:Subject>",
                    &format!(
                        "{}<saml:Subject>",
                        sig_with(
                            "a-1",
                            "",
                            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
                            "http://www.w3.org/2001/04/xmlenc#sha256",
                            "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/><ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
                            "http://www.w3.org/2001/10/xml-exc-c14n#",
                        )
                    ),
                ),
                &s,
            ),
        ),
        (
            "reference to another element",
            sign(
                &Doc {
                    assertion_sig: false,
                    extra_response: r#"<samlp:Extensions><x ID="x-1">other</x></samlp:Extensions>"#.into(),
                    ..Doc::default()
                }
                .xml()
                .replace(
                    "<saml:Subject>",
                    &format!(
                        "{}<saml:Subject>",
                        sig_with(
                            "x-1",
                            "#x-1",
                            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
                            "http://www.w3.org/2001/04/xmlenc#sha256",
                            "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/><ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
                            "http://www.w3.org/2001/10/xml-exc-c14n#",
                        )
                    ),
                ),
                &s,
            ),
        ),
        (
            "two references",
            Doc::default().signed(&s).replacen(
                "</ds:SignedInfo>",
                r##"<ds:Reference URI="#r-1"><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>AAAA</ds:DigestValue></ds:Reference></ds:SignedInfo>"##,
                1,
            ),
        ),
        (
            "signature on an embedded element",
            Doc {
                extra_response: format!(
                    r#"<samlp:Extensions><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" ID="x-1" entityID="e">{}</md:EntityDescriptor></samlp:Extensions>"#,
                    sig("x-1")
                ),
                ..Doc::default()
            }
            .signed(&s),
        ),
        (
            "two signatures on the assertion",
            Doc::default().signed(&s).replace(
                "<saml:Subject>",
                &format!("{}<saml:Subject>", sig("a-1")),
            ),
        ),
        (
            "assertion inside ds:Object",
            Doc::default().signed(&s).replacen(
                "</ds:SignatureValue>",
                &format!("</ds:SignatureValue><ds:Object>{evil}</ds:Object>"),
                1,
            ),
        ),
        (
            "ds:Object without an assertion",
            Doc::default().signed(&s).replacen(
                "</ds:SignatureValue>",
                "</ds:SignatureValue><ds:Object>x</ds:Object>",
                1,
            ),
        ),
    ];
    for (what, xml) in cases {
        assert_eq!(refused(&xml, &s), Reason::UnexpectedStructure, "{what}");
    }
}

#[test]
fn unsupported_algorithms_are_refused() {
    let s = signer();
    let enveloped =
        "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>";
    let exc = "<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>";
    let ecdsa = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
    let sha256 = "http://www.w3.org/2001/04/xmlenc#sha256";
    let exc_uri = "http://www.w3.org/2001/10/xml-exc-c14n#";
    let xpath = "<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"><ds:XPath>not(ancestor-or-self::ds:Signature)</ds:XPath></ds:Transform>";
    let xslt = "<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xslt-19991116\"/>";
    let cases = [
        (
            "DSA",
            "http://www.w3.org/2000/09/xmldsig#dsa-sha1",
            sha256,
            format!("{enveloped}{exc}"),
            exc_uri,
        ),
        (
            "ECDSA-SHA1",
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1",
            sha256,
            format!("{enveloped}{exc}"),
            exc_uri,
        ),
        (
            "ECDSA-SHA512",
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
            sha256,
            format!("{enveloped}{exc}"),
            exc_uri,
        ),
        (
            "MD5 digest",
            ecdsa,
            "http://www.w3.org/2001/04/xmldsig-more#md5",
            format!("{enveloped}{exc}"),
            exc_uri,
        ),
        (
            "XPath transform",
            ecdsa,
            sha256,
            format!("{enveloped}{xpath}{exc}"),
            exc_uri,
        ),
        (
            "XSLT transform",
            ecdsa,
            sha256,
            format!("{enveloped}{xslt}{exc}"),
            exc_uri,
        ),
        (
            "inclusive C14N transform",
            ecdsa,
            sha256,
            format!(
                "{enveloped}<ds:Transform Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"/>"
            ),
            exc_uri,
        ),
        (
            "no canonicalisation transform",
            ecdsa,
            sha256,
            enveloped.to_string(),
            exc_uri,
        ),
        (
            "no enveloped transform",
            ecdsa,
            sha256,
            exc.to_string(),
            exc_uri,
        ),
        (
            "repeated transform",
            ecdsa,
            sha256,
            format!("{enveloped}{exc}{exc}"),
            exc_uri,
        ),
        (
            "with comments",
            ecdsa,
            sha256,
            format!("{enveloped}{exc}"),
            "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
        ),
        (
            "inclusive C14N of SignedInfo",
            ecdsa,
            sha256,
            format!("{enveloped}{exc}"),
            "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
        ),
    ];
    for (what, method, digest, transforms, c14n) in cases {
        let xml = Doc {
            assertion_sig: false,
            ..Doc::default()
        }
        .xml()
        .replace(
            "<saml:Subject>",
            &format!(
                "{}<saml:Subject>",
                sig_with("a-1", "#a-1", method, digest, &transforms, c14n)
            ),
        )
        .replace("DIGEST:a-1", "AAAA")
        .replace("SIGNATURE:a-1", "AAAA");
        assert_eq!(refused(&xml, &s), Reason::UnsupportedAlgorithm, "{what}");
    }
}

#[test]
fn altered_or_foreign_signatures_are_invalid() {
    let s = signer();
    let other = signer();
    for (response_sig, assertion_sig) in [(false, true), (true, false), (true, true)] {
        let xml = Doc {
            response_sig,
            assertion_sig,
            ..Doc::default()
        }
        .signed(&s);
        let altered = xml.replace("alice@example.com", "alicf@example.com");
        assert_eq!(refused(&altered, &s), Reason::SignatureInvalid);
        let report = run(&xml, &other);
        assert_eq!(reason(&report), Reason::SignatureInvalid);
        assert_eq!(report.checks.last().unwrap().name, CheckName::Signature);
        // An attribute changed outside the Assertion, when only the Assertion is signed,
        // changes nothing that is read.
        let elsewhere = xml.replace(
            "InResponseTo=\"req-1\"><saml:Issuer>",
            "InResponseTo=\"req-2\"><saml:Issuer>",
        );
        assert_ne!(elsewhere, xml);
        if !response_sig {
            assert!(run(&elsewhere, &s).outcome.is_ok());
        }
    }
    // The SignatureValue changed.
    let xml = Doc::default().signed(&s);
    let doc = Document::parse(&xml).unwrap();
    let value = doc
        .descendants()
        .find(|n| n.tag_name().name() == "SignatureValue")
        .unwrap()
        .text()
        .unwrap()
        .to_string();
    let mut bytes = STANDARD.decode(&value).unwrap();
    bytes[10] ^= 1;
    let xml = xml.replace(&value, &STANDARD.encode(bytes));
    assert_eq!(refused(&xml, &s), Reason::SignatureInvalid);
    // No configured certificate at all.
    let xml = Doc::default().signed(&s);
    assert_eq!(
        reason(&verify(xml.as_bytes(), &expected(&[]))),
        Reason::SignatureInvalid
    );
    // Not base64.
    let xml = Doc::default()
        .signed(&s)
        .replacen("<ds:SignatureValue>", "<ds:SignatureValue>!", 1);
    assert_eq!(refused(&xml, &s), Reason::InvalidXml);
}

#[test]
fn several_certificates_are_tried_in_turn() {
    let s = signer();
    let other = signer();
    let xml = Doc::default().signed(&s);
    let certs = [other.certificate.clone(), s.certificate.clone()];
    let report = verify(xml.as_bytes(), &expected(&certs));
    assert!(report.outcome.is_ok());
    assert_eq!(
        report.certificate_sha256.as_deref(),
        Some(s.certificate.fingerprint_sha256.as_str())
    );
}

#[test]
fn a_presented_certificate_that_is_not_ours_is_reported_but_not_trusted() {
    let s = signer();
    let other = signer();
    let key_info = format!(
        "<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>",
        STANDARD.encode(s.certificate.der())
    );
    let xml = Doc::default()
        .xml()
        .replacen("</ds:Signature>", &key_info, 1);
    let xml = sign(&xml, &s);
    // Configured with another certificate: refused, and the presented one is reported.
    let report = run(&xml, &other);
    assert_eq!(reason(&report), Reason::SignatureInvalid);
    assert_eq!(report.presented_certificate.as_ref(), Some(&s.certificate));
    assert_eq!(
        report.certificate_sha256.as_deref(),
        Some(s.certificate.fingerprint_sha256.as_str())
    );
    // Configured with it: nothing to report.
    let report = run(&xml, &s);
    assert!(report.outcome.is_ok());
    assert!(report.presented_certificate.is_none());
}

#[test]
fn issuer_audience_and_recipient_are_checked() {
    let s = signer();
    let cases = [
        (
            Doc {
                issuer: "https://other.example.org".into(),
                ..Doc::default()
            },
            Reason::IssuerMismatch,
            CheckName::Issuer,
        ),
        (
            Doc {
                audience: "<saml:Audience>https://other.example.org</saml:Audience>".into(),
                ..Doc::default()
            },
            Reason::AudienceMismatch,
            CheckName::Audience,
        ),
        (
            Doc {
                audience: String::new(),
                ..Doc::default()
            },
            Reason::AudienceMismatch,
            CheckName::Audience,
        ),
        (
            Doc {
                extra_assertion: String::new(),
                audience: format!(
                    "<saml:Audience>{SP}</saml:Audience></saml:AudienceRestriction><saml:AudienceRestriction><saml:Audience>https://other.example.org</saml:Audience>"
                ),
                ..Doc::default()
            },
            Reason::AudienceMismatch,
            CheckName::Audience,
        ),
        (
            Doc {
                recipient: "https://other.example.org/acs".into(),
                ..Doc::default()
            },
            Reason::RecipientMismatch,
            CheckName::Recipient,
        ),
        (
            Doc {
                response_sig: true,
                issuer: IDP.into(),
                destination: "https://other.example.org/acs".into(),
                ..Doc::default()
            },
            Reason::RecipientMismatch,
            CheckName::Recipient,
        ),
    ];
    for (doc, want, check) in cases {
        let report = run(&doc.signed(&s), &s);
        assert_eq!(reason(&report), want);
        let failed: Vec<CheckName> = report
            .checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| c.name)
            .collect();
        assert_eq!(failed, [check]);
        // Every check is still evaluated after the signature.
        assert_eq!(report.checks.len(), 7);
    }
    // Several audiences in one restriction: ours among them is enough.
    let doc = Doc {
        audience: format!(
            "<saml:Audience>https://other.example.org</saml:Audience><saml:Audience>{SP}</saml:Audience>"
        ),
        ..Doc::default()
    };
    assert!(run(&doc.signed(&s), &s).outcome.is_ok());
    // No bearer confirmation.
    let xml = sign(
        &Doc::default()
            .xml()
            .replace("cm:bearer", "cm:holder-of-key"),
        &s,
    );
    assert_eq!(refused(&xml, &s), Reason::RecipientMismatch);
}

#[test]
fn times_are_checked_with_the_clock_skew() {
    let s = signer();
    let xml = Doc::default().signed(&s);
    let at = |now: OffsetDateTime| {
        verify(
            xml.as_bytes(),
            &Expected {
                now,
                ..expected(std::slice::from_ref(&s.certificate))
            },
        )
    };
    // NotBefore 09:59, NotOnOrAfter 10:05, skew 3 minutes.
    assert!(at(datetime!(2026-03-01 09:56:00 UTC)).outcome.is_ok());
    assert_eq!(
        reason(&at(datetime!(2026-03-01 09:55:59 UTC))),
        Reason::NotYetValid
    );
    assert!(at(datetime!(2026-03-01 10:07:59 UTC)).outcome.is_ok());
    assert_eq!(
        reason(&at(datetime!(2026-03-01 10:08:00 UTC))),
        Reason::Expired
    );
    // The bearer confirmation's NotOnOrAfter is checked too.
    let xml = Doc::default().xml().replacen(
        "NotOnOrAfter=\"2026-03-01T10:05:00Z\" Recipient",
        "NotOnOrAfter=\"2026-03-01T10:01:00Z\" Recipient",
        1,
    );
    let xml = sign(&xml, &s);
    let report = run(&xml, &s);
    assert!(report.outcome.is_ok());
    assert_eq!(
        report.outcome.unwrap().not_on_or_after,
        Some(datetime!(2026-03-01 10:01:00 UTC))
    );
    let report = verify(
        xml.as_bytes(),
        &Expected {
            now: datetime!(2026-03-01 10:04:00 UTC),
            ..expected(std::slice::from_ref(&s.certificate))
        },
    );
    assert_eq!(reason(&report), Reason::Expired);
    // A time that is not a time.
    let xml = Doc {
        not_before: "yesterday".into(),
        ..Doc::default()
    }
    .signed(&s);
    assert_eq!(refused(&xml, &s), Reason::UnexpectedStructure);
    // Reported as a failed xml check, before any signature is looked at.
    let report = run(&xml, &s);
    assert_eq!(report.checks.len(), 1);
    assert_eq!(report.checks[0].name, CheckName::Xml);
}

#[test]
fn claims_are_read_from_the_assertion_only() {
    let s = signer();
    // The Response (unsigned here) names another InResponseTo: the Assertion's is used.
    let xml = Doc::default().signed(&s).replace(
        "InResponseTo=\"req-1\"><saml:Issuer>",
        "InResponseTo=\"req-evil\"><saml:Issuer>",
    );
    assert!(xml.contains("req-evil"));
    let a = run(&xml, &s).outcome.unwrap();
    assert_eq!(a.in_response_to.as_deref(), Some("req-1"));
}

#[test]
fn email_and_display_name_fall_back_through_attributes() {
    let base = Assertion {
        id: "a".into(),
        issuer: IDP.into(),
        in_response_to: None,
        name_id: Some("_transient123".into()),
        name_id_format: Some("urn:oasis:names:tc:SAML:2.0:nameid-format:transient".into()),
        attributes: vec![],
        issue_instant: NOW,
        not_on_or_after: None,
        session_index: None,
    };
    let with = |attrs: &[(&str, &[&str])]| Assertion {
        attributes: attrs
            .iter()
            .map(|(n, v)| Attribute {
                name: n.to_string(),
                values: v.iter().map(|s| s.to_string()).collect(),
            })
            .collect(),
        ..base.clone()
    };
    assert_eq!(base.email(), None);
    assert_eq!(base.display_name(), None);
    let a = with(&[
        ("mail", &["  bob@example.com "]),
        ("email", &["", "carol@example.com"]),
    ]);
    assert_eq!(a.email(), Some("carol@example.com"));
    let a = with(&[(
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        &["dan@example.com"],
    )]);
    assert_eq!(a.email(), Some("dan@example.com"));
    let a = with(&[("urn:oid:0.9.2342.19200300.100.1.3", &["erin@example.com"])]);
    assert_eq!(a.email(), Some("erin@example.com"));
    let a = Assertion {
        name_id: Some(" frank@example.com ".into()),
        name_id_format: None,
        ..base.clone()
    };
    assert_eq!(a.email(), Some("frank@example.com"));
    let a = Assertion {
        name_id: Some("grace@example.com".into()),
        name_id_format: Some(NAMEID_EMAIL.into()),
        ..with(&[("mail", &["other@example.com"])])
    };
    assert_eq!(a.email(), Some("grace@example.com"));
    let a = with(&[("givenName", &["Heidi"]), ("surname", &["Klum"])]);
    assert_eq!(a.display_name().as_deref(), Some("Heidi Klum"));
    let a = with(&[
        ("urn:oid:2.5.4.42", &["Ivan"]),
        ("urn:oid:2.5.4.4", &["Ivanov"]),
        (
            "http://schemas.microsoft.com/identity/claims/displayname",
            &["Ivan I."],
        ),
    ]);
    assert_eq!(a.display_name().as_deref(), Some("Ivan I."));
}

#[test]
fn reasons_and_checks_have_distinct_codes_and_words() {
    let codes: HashSet<&str> = Reason::ALL.iter().map(|r| r.code()).collect();
    assert_eq!(codes.len(), Reason::ALL.len());
    for r in Reason::ALL {
        assert!(r.in_words().ends_with('.'), "{r:?}");
        assert!(!r.in_words().contains("authoriz"), "{r:?}");
    }
    assert_eq!(
        Reason::EncryptedAssertionUnsupported.code(),
        "encrypted_assertion_unsupported"
    );
    assert_eq!(CheckName::Recipient.as_str(), "recipient");
    for a in SignatureAlgorithm::ALL {
        assert_eq!(SignatureAlgorithm::from_uri(a.uri()), Some(a));
        assert_eq!(a.is_sha1(), a == SignatureAlgorithm::RsaSha1);
    }
}

#[test]
fn a_byte_order_mark_and_an_xml_declaration_are_accepted() {
    let s = signer();
    let xml = Doc::default().signed(&s);
    for prefix in [
        "\u{feff}",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\" standalone=\"no\"?>",
    ] {
        let report = run(&format!("{prefix}{xml}"), &s);
        assert!(report.outcome.is_ok(), "{prefix:?}: {:?}", report.outcome);
    }
}

#[test]
fn certificate_dates_are_not_checked() {
    // Metadata interoperability profile: the configured key is trusted whatever its dates.
    for (not_before, not_after) in [
        (
            datetime!(2020-01-01 00:00 UTC),
            datetime!(2021-01-01 00:00 UTC),
        ),
        (
            datetime!(2030-01-01 00:00 UTC),
            datetime!(2031-01-01 00:00 UTC),
        ),
    ] {
        let s = signer_valid(not_before, not_after);
        assert!(!s.certificate.is_valid_at(NOW));
        let xml = Doc::default().signed(&s);
        assert!(run(&xml, &s).outcome.is_ok());
    }
}

#[test]
fn many_namespaces_in_scope_are_refused_fast() {
    // 64 levels, each declaring 200 prefixes and using them all in attributes: without a
    // bound, canonicalisation would search thousands of bindings for each attribute.
    let s = signer();
    let mut open = String::new();
    let mut close = String::new();
    for level in 0..60 {
        let declarations: String = (0..120)
            .map(|i| format!(" xmlns:n{i}=\"urn:{level}:{i}\""))
            .collect();
        let uses: String = (0..120).map(|i| format!(" n{i}:a=\"\"")).collect();
        open.push_str(&format!("<saml:X{declarations}{uses}>"));
        close.insert_str(0, "</saml:X>");
    }
    let xml = Doc {
        extra_assertion: format!("<saml:Advice>{open}{close}</saml:Advice>"),
        ..Doc::default()
    }
    .xml()
    .replace("<saml:Advice>", "")
    .replace("</saml:Advice>", "")
    .replace("DIGEST:a-1", "AAAA")
    .replace("SIGNATURE:a-1", "AAAA");
    assert!(xml.len() < MAX_RESPONSE_XML, "{}", xml.len());
    // Refused by the namespace limit (named in the refusal) before any canonicalisation.
    let report = run(&xml, &s);
    assert_eq!(reason(&report), Reason::InvalidXml);
    assert!(report.outcome.unwrap_err().detail.contains("namespaces"));
}
