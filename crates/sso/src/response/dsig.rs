//! One enveloped XML signature of the narrow shape SAML identity providers send: a
//! `ds:Signature` that is a direct child of the element it signs, one `Reference` to that
//! element's `ID`, transforms enveloped-signature then exclusive C14N, exclusive C14N for
//! `SignedInfo`, RSA PKCS#1 v1.5 or ECDSA, keys only from the configured certificates.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::digest;
use roxmltree::Node;

use super::algorithms::DigestAlgorithm;
use super::c14n::canonicalize;
use super::keys::check_with;
use super::{Reason, Refusal, SignatureAlgorithm};
use crate::Certificate;
use crate::certificate::MAX_CERTIFICATE_DER;

pub(crate) const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
const NS_EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ALG_EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ALG_EXC_C14N_WITH_COMMENTS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";
const ALG_ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
/// Largest base64 text of a `SignatureValue` or `DigestValue` (an 8192-bit RSA signature is
/// 1,368 characters).
const MAX_VALUE_TEXT: usize = 4096;

/// A signature that verified.
#[derive(Debug, Clone)]
pub(crate) struct Verified {
    pub algorithm: SignatureAlgorithm,
    /// The Reference's digest was SHA-1.
    pub sha1_digest: bool,
    /// The verifying key was RSA shorter than 2048 bits.
    pub weak_key: bool,
    /// Index into the configured certificates of the one that verified.
    pub certificate: usize,
}

/// What a Signature presents in its KeyInfo (never trusted; reported only).
pub(crate) fn presented_certificate(signature: Node) -> Option<Certificate> {
    let x509 = signature
        .children()
        .filter(|n| is_ds(n, "KeyInfo"))
        .flat_map(|k| k.children().filter(|n| is_ds(n, "X509Data")))
        .flat_map(|d| d.children().filter(|n| is_ds(n, "X509Certificate")))
        .next()?;
    let text = joined_text(x509);
    if text.len() > MAX_CERTIFICATE_DER * 2 {
        return None;
    }
    Certificate::from_der_base64(&text).ok()
}

fn is_ds(n: &Node, name: &str) -> bool {
    n.is_element() && n.tag_name().namespace() == Some(NS_DSIG) && n.tag_name().name() == name
}

fn joined_text(n: Node) -> String {
    n.children()
        .filter(Node::is_text)
        .filter_map(|t| t.text())
        .collect()
}

fn refuse(reason: Reason, detail: impl Into<String>) -> Refusal {
    Refusal {
        reason,
        detail: detail.into(),
    }
}

/// The only child elements of `parent` (all in the ds namespace, all named in `allowed`);
/// anything else is refused. Text between them must be whitespace.
fn ds_children<'a, 'i>(
    parent: Node<'a, 'i>,
    allowed: &[&str],
) -> Result<Vec<Node<'a, 'i>>, Refusal> {
    let mut out = Vec::new();
    for child in parent.children() {
        if child.is_element() {
            let name = child.tag_name().name();
            if child.tag_name().namespace() != Some(NS_DSIG) || !allowed.contains(&name) {
                return Err(refuse(
                    Reason::UnexpectedStructure,
                    format!(
                        "the signature's {} holds an unexpected {} element",
                        parent.tag_name().name(),
                        name
                    ),
                ));
            }
            out.push(child);
        } else if child.is_text() && !child.text().unwrap_or("").trim().is_empty() {
            return Err(refuse(
                Reason::UnexpectedStructure,
                format!(
                    "the signature's {} holds unexpected text",
                    parent.tag_name().name()
                ),
            ));
        }
    }
    Ok(out)
}

fn exactly_one<'a, 'i>(
    children: &[Node<'a, 'i>],
    name: &str,
    within: &str,
) -> Result<Node<'a, 'i>, Refusal> {
    let mut found = children.iter().filter(|n| n.tag_name().name() == name);
    match (found.next(), found.next()) {
        (Some(one), None) => Ok(*one),
        (None, _) => Err(refuse(
            Reason::UnexpectedStructure,
            format!("the signature's {within} has no {name}"),
        )),
        (Some(_), Some(_)) => Err(refuse(
            Reason::UnexpectedStructure,
            format!("the signature's {within} has more than one {name}"),
        )),
    }
}

/// The PrefixList of an exc-c14n method or transform (child `InclusiveNamespaces`); any other
/// child element is refused.
fn inclusive_prefixes<'a>(method: Node<'a, 'a>) -> Result<Vec<&'a str>, Refusal> {
    let mut prefixes = Vec::new();
    let mut seen = false;
    for child in method.children().filter(Node::is_element) {
        if child.tag_name().namespace() == Some(NS_EXC_C14N)
            && child.tag_name().name() == "InclusiveNamespaces"
            && !seen
        {
            seen = true;
            prefixes.extend(
                child
                    .attribute("PrefixList")
                    .unwrap_or("")
                    .split_ascii_whitespace(),
            );
        } else {
            return Err(refuse(
                Reason::UnsupportedAlgorithm,
                format!(
                    "the canonicalisation carries an unsupported {} parameter",
                    child.tag_name().name()
                ),
            ));
        }
    }
    Ok(prefixes)
}

fn decode_base64(text: &str, what: &str) -> Result<Vec<u8>, Refusal> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.len() > MAX_VALUE_TEXT {
        return Err(refuse(
            Reason::InvalidXml,
            format!("the signature's {what} is too long"),
        ));
    }
    STANDARD.decode(compact.as_bytes()).map_err(|_| {
        refuse(
            Reason::InvalidXml,
            format!("the signature's {what} is not base64"),
        )
    })
}

/// Checks the enveloped `signature` (a direct child of the element it signs) against the
/// configured certificates.
pub(crate) fn verify_enveloped(
    signature: Node,
    certificates: &[Certificate],
) -> Result<Verified, Refusal> {
    let signed = signature
        .parent_element()
        .ok_or_else(|| refuse(Reason::UnexpectedStructure, "the signature has no parent"))?;
    let signed_name = signed.tag_name().name();
    let id = signed.attribute("ID").ok_or_else(|| {
        refuse(
            Reason::UnexpectedStructure,
            format!("the signed {signed_name} has no ID"),
        )
    })?;
    let parts = read_signature(signature)?;
    let reference = read_reference(parts.reference, id, signed_name)?;
    let signature_bytes = decode_base64(&joined_text(parts.signature_value), "SignatureValue")?;

    // The digest of the signed element, without this signature.
    let canonical = canonicalize(signed, &reference.prefixes, Some(signature.id()));
    let actual_digest = digest::digest(reference.digest_algorithm.ring(), canonical.as_bytes());
    if actual_digest.as_ref() != reference.digest.as_slice() {
        return Err(refuse(
            Reason::SignatureInvalid,
            format!(
                "the signed {signed_name} was altered after signing (its digest does not match)"
            ),
        ));
    }

    // The signature over SignedInfo, under each configured certificate in turn.
    let signed_info_bytes = canonicalize(parts.signed_info, &parts.signed_info_prefixes, None);
    let mut last_problem = String::from("no certificate is configured");
    for (index, certificate) in certificates.iter().enumerate() {
        match check_with(
            certificate,
            parts.algorithm,
            signed_info_bytes.as_bytes(),
            &signature_bytes,
        ) {
            Ok(weak_key) => {
                return Ok(Verified {
                    algorithm: parts.algorithm,
                    sha1_digest: reference.digest_algorithm == DigestAlgorithm::Sha1,
                    weak_key,
                    certificate: index,
                });
            }
            Err(problem) => last_problem = problem,
        }
    }
    Err(refuse(
        Reason::SignatureInvalid,
        format!(
            "the signature of the {signed_name} does not verify with the configured certificate{} ({last_problem})",
            if certificates.len() == 1 { "" } else { "s" }
        ),
    ))
}

/// The parts of a `ds:Signature` in the one shape accepted.
struct SignatureParts<'a, 'i> {
    signed_info: Node<'a, 'i>,
    signature_value: Node<'a, 'i>,
    reference: Node<'a, 'i>,
    /// The PrefixList of SignedInfo's exclusive canonicalisation.
    signed_info_prefixes: Vec<&'a str>,
    algorithm: SignatureAlgorithm,
}

/// SignedInfo first, one SignatureValue, at most one KeyInfo; SignedInfo canonicalised with
/// exclusive C14N, signed with a supported method without parameters, one Reference.
fn read_signature<'a, 'i>(signature: Node<'a, 'i>) -> Result<SignatureParts<'a, 'i>, Refusal> {
    let parts = ds_children(signature, &["SignedInfo", "SignatureValue", "KeyInfo"])?;
    let signed_info = exactly_one(&parts, "SignedInfo", "Signature")?;
    let signature_value = exactly_one(&parts, "SignatureValue", "Signature")?;
    if parts.first().map(|n| n.id()) != Some(signed_info.id())
        || parts
            .iter()
            .filter(|n| n.tag_name().name() == "KeyInfo")
            .count()
            > 1
    {
        return Err(refuse(
            Reason::UnexpectedStructure,
            "the signature's elements are not in the expected order",
        ));
    }

    let info = ds_children(
        signed_info,
        &["CanonicalizationMethod", "SignatureMethod", "Reference"],
    )?;
    let c14n_method = exactly_one(&info, "CanonicalizationMethod", "SignedInfo")?;
    let signature_method = exactly_one(&info, "SignatureMethod", "SignedInfo")?;
    let reference = exactly_one(&info, "Reference", "SignedInfo")?;

    // Canonicalisation of SignedInfo.
    let c14n_algorithm = c14n_method.attribute("Algorithm").unwrap_or("");
    if c14n_algorithm != ALG_EXC_C14N {
        return Err(unsupported_c14n(c14n_algorithm));
    }
    let signed_info_prefixes = inclusive_prefixes(c14n_method)?;

    // Signature method.
    let method_uri = signature_method.attribute("Algorithm").unwrap_or("");
    let algorithm = SignatureAlgorithm::from_uri(method_uri).ok_or_else(|| {
        refuse(
            Reason::UnsupportedAlgorithm,
            format!("the signature method {method_uri} is not supported"),
        )
    })?;
    if algorithm == SignatureAlgorithm::EcdsaSha512 {
        return Err(refuse(
            Reason::UnsupportedAlgorithm,
            "ECDSA with SHA-512 is not supported",
        ));
    }
    if signature_method.children().any(|n| n.is_element()) {
        return Err(refuse(
            Reason::UnsupportedAlgorithm,
            "the signature method carries unsupported parameters",
        ));
    }
    Ok(SignatureParts {
        signed_info,
        signature_value,
        reference,
        signed_info_prefixes,
        algorithm,
    })
}

/// What a Reference says about the element it covers.
struct ReferenceParts<'a> {
    /// The PrefixList of the reference's exclusive canonicalisation.
    prefixes: Vec<&'a str>,
    digest_algorithm: DigestAlgorithm,
    /// The DigestValue, decoded.
    digest: Vec<u8>,
}

/// The Reference names the element the signature is enveloped in (`#id`), transforms it with
/// enveloped-signature then exclusive C14N, and digests it with a supported method.
fn read_reference<'a>(
    reference: Node<'a, '_>,
    id: &str,
    signed_name: &str,
) -> Result<ReferenceParts<'a>, Refusal> {
    let uri = reference.attribute("URI").unwrap_or("");
    if uri != format!("#{id}") {
        return Err(refuse(
            Reason::UnexpectedStructure,
            format!(
                "the signature's reference \"{uri}\" does not name the {signed_name} it is in (#{id})"
            ),
        ));
    }
    let reference_parts = ds_children(reference, &["Transforms", "DigestMethod", "DigestValue"])?;
    let transforms = exactly_one(&reference_parts, "Transforms", "Reference")?;
    let digest_method = exactly_one(&reference_parts, "DigestMethod", "Reference")?;
    let digest_value = exactly_one(&reference_parts, "DigestValue", "Reference")?;
    let prefixes = read_transforms(transforms)?;
    let digest_uri = digest_method.attribute("Algorithm").unwrap_or("");
    let digest_algorithm = DigestAlgorithm::from_uri(digest_uri).ok_or_else(|| {
        refuse(
            Reason::UnsupportedAlgorithm,
            format!("the digest method {digest_uri} is not supported"),
        )
    })?;
    let digest = decode_base64(&joined_text(digest_value), "DigestValue")?;
    Ok(ReferenceParts {
        prefixes,
        digest_algorithm,
        digest,
    })
}

/// Exactly enveloped-signature, then exclusive C14N (with its PrefixList, returned); any other
/// transform, a repeat or another order is refused.
fn read_transforms<'a>(transforms: Node<'a, '_>) -> Result<Vec<&'a str>, Refusal> {
    let mut enveloped = false;
    let mut exclusive: Option<Vec<&str>> = None;
    for transform in ds_children(transforms, &["Transform"])? {
        let alg = transform.attribute("Algorithm").unwrap_or("");
        match alg {
            ALG_ENVELOPED if !enveloped && exclusive.is_none() => {
                if transform.children().any(|n| n.is_element()) {
                    return Err(refuse(
                        Reason::UnsupportedAlgorithm,
                        "the enveloped-signature transform carries unexpected parameters",
                    ));
                }
                enveloped = true;
            }
            ALG_EXC_C14N if exclusive.is_none() => {
                exclusive = Some(inclusive_prefixes(transform)?);
            }
            ALG_ENVELOPED | ALG_EXC_C14N => {
                return Err(refuse(
                    Reason::UnsupportedAlgorithm,
                    "the signature's transforms are repeated or out of order",
                ));
            }
            other => {
                return Err(refuse(
                    Reason::UnsupportedAlgorithm,
                    format!(
                        "the signature uses the transform {other}; only enveloped-signature and exclusive canonicalisation are supported"
                    ),
                ));
            }
        }
    }
    if !enveloped {
        return Err(refuse(
            Reason::UnsupportedAlgorithm,
            "the signature has no enveloped-signature transform",
        ));
    }
    exclusive.ok_or_else(|| {
        refuse(
            Reason::UnsupportedAlgorithm,
            "the signature's reference is not canonicalised with exclusive canonicalisation",
        )
    })
}

fn unsupported_c14n(uri: &str) -> Refusal {
    let detail = if uri == ALG_EXC_C14N_WITH_COMMENTS {
        "canonicalisation with comments is not supported".to_string()
    } else {
        format!(
            "the canonicalisation method {uri} is not supported; only exclusive canonicalisation is"
        )
    };
    refuse(Reason::UnsupportedAlgorithm, detail)
}
