//! Reading the document: limits before parsing, the shape (where the Assertion and the
//! signatures sit), the Status, and the claims of the Assertion.

use std::collections::HashSet;

use roxmltree::{Document, Node};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::dsig;
use super::{
    Assertion, Attribute, CM_BEARER, IdpStatus, MAX_ATTRIBUTES_PER_ELEMENT, MAX_DEPTH,
    MAX_NAMESPACES_IN_SCOPE, MAX_RESPONSE_XML, MAX_SAML_ATTRIBUTES, MAX_VALUE, NS_ASSERTION,
    NS_PROTOCOL, Reason, Refusal, STATUS_SUCCESS, earliest, too_large,
};
use crate::saml::{ShapeError, scan_shape};

/// A bearer SubjectConfirmation's data.
#[derive(Debug, Clone)]
pub(super) struct Bearer {
    pub(super) recipient: Option<String>,
    pub(super) not_before: Option<OffsetDateTime>,
    pub(super) not_on_or_after: Option<OffsetDateTime>,
}

/// What the signed elements say, for the checks of [`verify`].
pub(super) struct Signed {
    pub(super) assertion: Assertion,
    /// The Response's Issuer and Destination, only when the Response's signature verified.
    pub(super) response_issuer: Option<String>,
    pub(super) destination: Option<String>,
    /// The Audiences of each AudienceRestriction.
    pub(super) audiences: Vec<Vec<String>>,
    pub(super) not_before: Option<OffsetDateTime>,
    pub(super) conditions_not_on_or_after: Option<OffsetDateTime>,
    pub(super) bearers: Vec<Bearer>,
}

/// Size, encoding, DTD and shape limits, before any parsing.
pub(super) fn read_text(xml: &[u8]) -> Result<&str, Refusal> {
    if xml.len() > MAX_RESPONSE_XML {
        return Err(too_large(xml.len()));
    }
    let text = std::str::from_utf8(xml).map_err(|_| {
        Refusal::new(
            Reason::InvalidXml,
            "the Response is not UTF-8 text".to_string(),
        )
    })?;
    if text.contains("<!DOCTYPE") || text.contains("<!ENTITY") {
        return Err(Refusal::new(
            Reason::InvalidXml,
            "a document type declaration (DTD) is refused".to_string(),
        ));
    }
    scan_shape(text, MAX_DEPTH, MAX_ATTRIBUTES_PER_ELEMENT).map_err(|e| {
        let detail = match e {
            ShapeError::TooDeep => {
                format!("the Response nests elements more than {MAX_DEPTH} deep")
            }
            ShapeError::TooManyAttributes => format!(
                "an element of the Response has more than {MAX_ATTRIBUTES_PER_ELEMENT} attributes"
            ),
        };
        Refusal::new(Reason::InvalidXml, detail)
    })?;
    Ok(text)
}

/// Where the parts that matter sit.
pub(super) struct Shape<'a, 'i> {
    pub(super) assertion: Option<Node<'a, 'i>>,
    pub(super) response_signature: Option<Node<'a, 'i>>,
    pub(super) assertion_signature: Option<Node<'a, 'i>>,
}

fn is_element(n: &Node, ns: &str, name: &str) -> bool {
    n.is_element() && n.tag_name().namespace() == Some(ns) && n.tag_name().name() == name
}

fn structure(detail: impl Into<String>) -> Refusal {
    Refusal::new(Reason::UnexpectedStructure, detail.into())
}

pub(super) fn read_shape<'a, 'i>(doc: &'a Document<'i>) -> Result<Shape<'a, 'i>, Refusal> {
    let root = doc.root_element();
    if !is_element(&root, NS_PROTOCOL, "Response") {
        return Err(structure(format!(
            "the document is not a SAML 2.0 Response (its root element is {})",
            root.tag_name().name()
        )));
    }
    let mut ids = HashSet::new();
    let mut assertions = Vec::new();
    let mut signatures = Vec::new();
    for n in doc.descendants().filter(Node::is_element) {
        if n.namespaces().len() > MAX_NAMESPACES_IN_SCOPE {
            return Err(Refusal::new(
                Reason::InvalidXml,
                format!(
                    "an element of the Response has more than {MAX_NAMESPACES_IN_SCOPE} namespaces in scope"
                ),
            ));
        }
        if let Some(id) = n.attribute("ID")
            && !ids.insert(id)
        {
            return Err(structure(format!(
                "the ID \"{id}\" is used by more than one element"
            )));
        }
        if is_element(&n, NS_ASSERTION, "EncryptedAssertion") {
            return Err(Refusal::new(
                Reason::EncryptedAssertionUnsupported,
                "the Response carries an EncryptedAssertion".to_string(),
            ));
        }
        if is_element(&n, NS_ASSERTION, "Assertion") {
            assertions.push(n);
        }
        if is_element(&n, dsig::NS_DSIG, "Signature") {
            signatures.push(n);
        }
    }
    for a in &assertions {
        if a.parent_element() != Some(root) {
            return Err(structure(format!(
                "an Assertion is placed inside a {} element instead of directly in the Response",
                a.parent_element()
                    .map_or("(nothing)", |p| p.tag_name().name())
            )));
        }
    }
    if assertions.len() > 1 {
        return Err(structure(format!(
            "the Response carries {} Assertions; exactly one is accepted",
            assertions.len()
        )));
    }
    let assertion = assertions.first().copied();
    let (response_signature, assertion_signature) = place_signatures(root, assertion, signatures)?;
    if let Some(a) = assertion {
        check_values(a)?;
    }
    Ok(Shape {
        assertion,
        response_signature,
        assertion_signature,
    })
}

/// Bounds on the Assertion's values: NameID and attribute values, number of attributes.
fn check_values(assertion: Node) -> Result<(), Refusal> {
    let mut attributes = 0;
    for n in assertion.descendants().filter(Node::is_element) {
        if n.tag_name().namespace() != Some(NS_ASSERTION) {
            continue;
        }
        match n.tag_name().name() {
            "Attribute" => {
                attributes += 1;
                if attributes > MAX_SAML_ATTRIBUTES {
                    return Err(Refusal::new(
                        Reason::InvalidXml,
                        format!("the Assertion has more than {MAX_SAML_ATTRIBUTES} attributes"),
                    ));
                }
            }
            name @ ("NameID" | "AttributeValue") => {
                let length: usize = n
                    .children()
                    .filter(Node::is_text)
                    .map(|t| t.text().map_or(0, str::len))
                    .sum();
                if length > MAX_VALUE {
                    let what = if name == "NameID" {
                        "a NameID"
                    } else {
                        "an attribute value"
                    };
                    return Err(Refusal::new(
                        Reason::InvalidXml,
                        format!("{what} of the Assertion is longer than {MAX_VALUE} bytes"),
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Ok when the top-level StatusCode is Success.
pub(super) fn read_status(root: Node) -> Result<(), (Refusal, Option<IdpStatus>)> {
    let Some(status) = root
        .children()
        .find(|n| is_element(n, NS_PROTOCOL, "Status"))
    else {
        return Err((structure("the Response has no Status"), None));
    };
    let Some(code) = status
        .children()
        .find(|n| is_element(n, NS_PROTOCOL, "StatusCode"))
    else {
        return Err((structure("the Response's Status has no StatusCode"), None));
    };
    let value = code.attribute("Value").unwrap_or("").trim();
    if value == STATUS_SUCCESS {
        return Ok(());
    }
    let mut codes = vec![value.to_string()];
    codes.extend(
        code.children()
            .filter(|n| is_element(n, NS_PROTOCOL, "StatusCode"))
            .map(|n| n.attribute("Value").unwrap_or("").trim().to_string()),
    );
    let message = status
        .children()
        .find(|n| is_element(n, NS_PROTOCOL, "StatusMessage"))
        .map(|n| joined_text(n).trim().to_string())
        .filter(|m| !m.is_empty());
    let mut detail = format!("the identity provider answered {}", codes.join(" / "));
    if let Some(m) = &message {
        detail.push_str(&format!(
            ": \"{}\"",
            m.chars().take(500).collect::<String>()
        ));
    }
    Err((
        Refusal::new(Reason::IdpError, detail),
        Some(IdpStatus { codes, message }),
    ))
}

/// All text children joined (a comment or a CDATA section does not cut the value).
fn joined_text(n: Node) -> String {
    n.children()
        .filter(Node::is_text)
        .filter_map(|t| t.text())
        .collect()
}

fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children().find(|c| is_element(c, NS_ASSERTION, name))
}

fn children<'a, 'i>(n: Node<'a, 'i>, name: &'a str) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children()
        .filter(move |c| is_element(c, NS_ASSERTION, name))
}

fn time_attribute(n: Node, name: &str) -> Result<Option<OffsetDateTime>, Refusal> {
    match n.attribute(name) {
        None => Ok(None),
        Some(value) => OffsetDateTime::parse(value.trim(), &Rfc3339)
            .map(Some)
            .map_err(|_| {
                structure(format!(
                    "the {} {name} \"{}\" is not a valid date and time",
                    n.tag_name().name(),
                    value.chars().take(64).collect::<String>()
                ))
            }),
    }
}

/// The Response's signature and the Assertion's, each at most one and each a direct child of
/// its element; a signature anywhere else is refused.
fn place_signatures<'a, 'i>(
    root: Node<'a, 'i>,
    assertion: Option<Node<'a, 'i>>,
    signatures: Vec<Node<'a, 'i>>,
) -> Result<(Option<Node<'a, 'i>>, Option<Node<'a, 'i>>), Refusal> {
    let mut response_signature = None;
    let mut assertion_signature = None;
    for s in signatures {
        let parent = s.parent_element();
        let slot = if parent == Some(root) {
            &mut response_signature
        } else if parent.is_some() && parent == assertion {
            &mut assertion_signature
        } else {
            return Err(structure(format!(
                "a signature is placed on {} instead of on the Response or the Assertion",
                parent.map_or("(nothing)", |p| p.tag_name().name())
            )));
        };
        if slot.replace(s).is_some() {
            return Err(structure(format!(
                "the {} carries more than one signature",
                parent.map_or("", |p| p.tag_name().name())
            )));
        }
    }
    Ok((response_signature, assertion_signature))
}

/// The claims of the verified Assertion (and of the Response, only when it was signed).
pub(super) fn read_claims(root: Node, a: Node, response_signed: bool) -> Result<Signed, Refusal> {
    let id = a.attribute("ID").unwrap_or("").to_string();
    let issuer = child(a, "Issuer").map(joined_text).unwrap_or_default();
    let issue_instant = time_attribute(a, "IssueInstant")?
        .ok_or_else(|| structure("the Assertion has no IssueInstant"))?;

    let subject = child(a, "Subject");
    let name_id_node = subject.and_then(|s| child(s, "NameID"));
    let name_id = name_id_node.map(joined_text);
    let name_id_format = name_id_node
        .and_then(|n| n.attribute("Format"))
        .map(str::to_string);

    let (bearers, mut in_response_to) = read_bearers(subject)?;

    let conditions = child(a, "Conditions");
    let not_before = conditions
        .map(|c| time_attribute(c, "NotBefore"))
        .transpose()?
        .flatten();
    let conditions_not_on_or_after = conditions
        .map(|c| time_attribute(c, "NotOnOrAfter"))
        .transpose()?
        .flatten();
    let audiences: Vec<Vec<String>> = conditions
        .into_iter()
        .flat_map(|c| children(c, "AudienceRestriction"))
        .map(|r| children(r, "Audience").map(joined_text).collect())
        .collect();

    let attributes = children(a, "AttributeStatement")
        .flat_map(|s| children(s, "Attribute"))
        .map(|attr| Attribute {
            name: attr.attribute("Name").unwrap_or("").to_string(),
            values: children(attr, "AttributeValue").map(joined_text).collect(),
        })
        .collect();
    let session_index = children(a, "AuthnStatement")
        .find_map(|s| s.attribute("SessionIndex"))
        .map(str::to_string);

    let (response_issuer, destination) = if response_signed {
        read_signed_response(root, &mut in_response_to)?
    } else {
        (None, None)
    };

    let bearer_not_on_or_after = bearers.iter().filter_map(|b| b.not_on_or_after).min();
    Ok(Signed {
        assertion: Assertion {
            id,
            issuer,
            in_response_to,
            name_id,
            name_id_format,
            attributes,
            issue_instant,
            not_on_or_after: earliest(conditions_not_on_or_after, bearer_not_on_or_after),
            session_index,
        },
        response_issuer,
        destination,
        audiences,
        not_before,
        conditions_not_on_or_after,
        bearers,
    })
}

/// The bearer SubjectConfirmations of the Subject, and the first InResponseTo among them.
fn read_bearers(subject: Option<Node>) -> Result<(Vec<Bearer>, Option<String>), Refusal> {
    let mut bearers = Vec::new();
    let mut in_response_to = None;
    for confirmation in subject
        .into_iter()
        .flat_map(|s| children(s, "SubjectConfirmation"))
    {
        if confirmation.attribute("Method").map(str::trim) != Some(CM_BEARER) {
            continue;
        }
        let data = child(confirmation, "SubjectConfirmationData");
        if in_response_to.is_none() {
            in_response_to = data
                .and_then(|d| d.attribute("InResponseTo"))
                .map(str::to_string);
        }
        bearers.push(Bearer {
            recipient: data
                .and_then(|d| d.attribute("Recipient"))
                .map(str::to_string),
            not_before: data
                .map(|d| time_attribute(d, "NotBefore"))
                .transpose()?
                .flatten(),
            not_on_or_after: data
                .map(|d| time_attribute(d, "NotOnOrAfter"))
                .transpose()?
                .flatten(),
        });
    }
    Ok((bearers, in_response_to))
}

/// The signed Response's Issuer and Destination; its InResponseTo fills in the Assertion's
/// when that has none, and must agree with it otherwise.
fn read_signed_response(
    root: Node,
    in_response_to: &mut Option<String>,
) -> Result<(Option<String>, Option<String>), Refusal> {
    if in_response_to.is_none() {
        *in_response_to = root.attribute("InResponseTo").map(str::to_string);
    } else if let Some(r) = root.attribute("InResponseTo")
        && Some(r) != in_response_to.as_deref()
    {
        return Err(structure(
            "the Response and the Assertion answer different requests (InResponseTo)",
        ));
    }
    Ok((
        child(root, "Issuer").map(joined_text),
        root.attribute("Destination").map(str::to_string),
    ))
}
