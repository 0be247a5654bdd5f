//! The identity provider's SAML configuration, from uploaded metadata XML or entered fields, and
//! our own service-provider metadata for the IT contact to load into their identity provider.
//!
//! Metadata is untrusted input: at most 1 MiB, parsed by roxmltree with document type
//! declarations refused (so no external entities and no entity-expansion bombs) and a node limit,
//! and read by namespace, not by prefix.

use roxmltree::{Document, Node, ParsingOptions};

use crate::certificate::{Certificate, CertificateError};

/// Largest metadata document accepted, in bytes.
pub const MAX_METADATA_BYTES: usize = 1024 * 1024;
/// Most XML nodes a metadata document may have.
pub const MAX_METADATA_NODES: u32 = 100_000;
/// Most attributes one element of a metadata document may carry (real ones carry a handful;
/// roxmltree checks each new attribute against the element's others, so 80,000 of them cost
/// seconds of CPU).
pub const MAX_ATTRIBUTES_PER_ELEMENT: usize = 256;
/// Deepest nesting of elements accepted (real metadata nests about ten deep).
pub const MAX_METADATA_DEPTH: usize = 64;
/// Longest entity ID accepted.
pub const MAX_ENTITY_ID_LENGTH: usize = 1024;
/// Longest SSO URL accepted.
pub const MAX_URL_LENGTH: usize = 2048;

pub const NS_METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
pub const NS_XMLDSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const PROTOCOL_SAML2: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const BINDING_HTTP_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub const BINDING_HTTP_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
pub const NAMEID_EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";

/// What we need to sign people in through an identity provider, however it was entered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpConfig {
    pub entity_id: String,
    pub sso_url: String,
    /// Signing certificates, in document order, without duplicates; never empty.
    pub certificates: Vec<Certificate>,
    /// How the sign-in URL takes our AuthnRequest: HTTP-Redirect unless the metadata offers
    /// only HTTP-POST (typed settings are taken to be HTTP-Redirect, which every IdP offers).
    pub binding: SsoBinding,
}

/// Why entered identity-provider settings were refused. Messages are meant for the administrator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdpConfigError {
    #[error("enter the identity provider's entity ID")]
    EntityIdEmpty,
    #[error("the entity ID is {length} characters long; at most 1024 are allowed")]
    EntityIdTooLong { length: usize },
    #[error("the entity ID may not contain control characters such as line breaks or tabs")]
    EntityIdInvalid,
    #[error("the SSO URL is not a valid URL: {reason}")]
    SsoUrlInvalid { reason: String },
    #[error("the SSO URL must start with https://")]
    SsoUrlNotHttps,
    #[error("the SSO URL must not contain a user name or password")]
    SsoUrlHasCredentials,
    #[error("at least one signing certificate is required")]
    NoCertificate,
    #[error("{0}")]
    Certificate(#[from] CertificateError),
}

impl IdpConfig {
    /// Settings entered by hand. `certificate_pem` holds one or more PEM certificates (a bare
    /// base64 DER certificate, as copied out of metadata, is accepted too).
    pub fn from_fields(
        entity_id: &str,
        sso_url: &str,
        certificate_pem: &str,
    ) -> Result<IdpConfig, IdpConfigError> {
        let certificates = if certificate_pem.trim().is_empty() {
            return Err(IdpConfigError::NoCertificate);
        } else if certificate_pem.contains("-----BEGIN") {
            Certificate::from_pem(certificate_pem)?
        } else {
            vec![Certificate::from_der_base64(certificate_pem)?]
        };
        IdpConfig::new(entity_id, sso_url, certificates)
    }

    /// Checks and assembles the parts; shared by [`IdpConfig::from_fields`] and
    /// [`IdpMetadata::parse`].
    pub fn new(
        entity_id: &str,
        sso_url: &str,
        certificates: Vec<Certificate>,
    ) -> Result<IdpConfig, IdpConfigError> {
        let entity_id = check_entity_id(entity_id)?;
        let sso_url = check_sso_url(sso_url)?;
        let mut unique: Vec<Certificate> = Vec::with_capacity(certificates.len());
        for cert in certificates {
            if !unique
                .iter()
                .any(|c| c.fingerprint_sha256 == cert.fingerprint_sha256)
            {
                unique.push(cert);
            }
        }
        if unique.is_empty() {
            return Err(IdpConfigError::NoCertificate);
        }
        Ok(IdpConfig {
            entity_id,
            sso_url,
            certificates: unique,
            binding: SsoBinding::HttpRedirect,
        })
    }

    /// The certificate whose expiry matters: the one that stays valid the longest. While an
    /// identity provider rolls its key over it publishes old and new together; reminders about
    /// the old one would be noise once the new one is there.
    pub fn certificate_to_watch(&self) -> &Certificate {
        self.certificates
            .iter()
            .max_by_key(|c| c.not_after)
            .unwrap_or(&self.certificates[0])
    }
}

fn check_entity_id(entity_id: &str) -> Result<String, IdpConfigError> {
    let entity_id = entity_id.trim();
    if entity_id.is_empty() {
        return Err(IdpConfigError::EntityIdEmpty);
    }
    let length = entity_id.chars().count();
    if length > MAX_ENTITY_ID_LENGTH {
        return Err(IdpConfigError::EntityIdTooLong { length });
    }
    // Any text: some identity providers let the administrator type it (JumpCloud exports
    // `entityID="IdP Entity ID"`), so SAML's anyURI is not enforced.
    if entity_id.chars().any(char::is_control) {
        return Err(IdpConfigError::EntityIdInvalid);
    }
    Ok(entity_id.to_string())
}

fn check_sso_url(sso_url: &str) -> Result<String, IdpConfigError> {
    let sso_url = sso_url.trim();
    if sso_url.len() > MAX_URL_LENGTH {
        return Err(IdpConfigError::SsoUrlInvalid {
            reason: format!("longer than {MAX_URL_LENGTH} characters"),
        });
    }
    if sso_url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(IdpConfigError::SsoUrlInvalid {
            reason: "it contains spaces or control characters".to_string(),
        });
    }
    let url = url::Url::parse(sso_url).map_err(|e| IdpConfigError::SsoUrlInvalid {
        reason: e.to_string(),
    })?;
    let Some(host) = url.host() else {
        return Err(IdpConfigError::SsoUrlInvalid {
            reason: "it has no host".to_string(),
        });
    };
    let loopback = match host {
        url::Host::Domain(d) => d == "localhost",
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    };
    match url.scheme() {
        "https" => {}
        // Only for tests and local development: a browser on the same machine.
        "http" if loopback => {}
        _ => return Err(IdpConfigError::SsoUrlNotHttps),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(IdpConfigError::SsoUrlHasCredentials);
    }
    Ok(url.to_string())
}

/// Which SAML binding the chosen SSO endpoint uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SsoBinding {
    HttpRedirect,
    HttpPost,
}

/// What uploaded identity-provider metadata says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpMetadata {
    pub config: IdpConfig,
    /// HTTP-Redirect when the identity provider offers it, else HTTP-POST.
    pub sso_binding: SsoBinding,
}

impl From<IdpMetadata> for IdpConfig {
    fn from(metadata: IdpMetadata) -> IdpConfig {
        metadata.config
    }
}

/// Why uploaded metadata was refused. Messages are meant for the administrator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("the metadata is {size} bytes; at most {limit} are accepted")]
    TooLarge { size: usize, limit: usize },
    #[error("metadata with a document type declaration (DTD) is refused for safety")]
    DtdNotAllowed,
    #[error(
        "an element of the metadata has more than {limit} attributes; real metadata has a handful"
    )]
    TooManyAttributes { limit: usize },
    #[error("the metadata nests elements more than {limit} deep")]
    TooDeep { limit: usize },
    #[error("the metadata is not well-formed XML: {0}")]
    Xml(String),
    #[error("this is not SAML 2.0 metadata (the root element is {found})")]
    NotSamlMetadata { found: String },
    #[error("the metadata describes no SAML 2.0 identity provider (no IDPSSODescriptor)")]
    NoIdentityProvider,
    #[error("the metadata describes {count} identity providers; upload the metadata of just yours")]
    SeveralIdentityProviders { count: usize },
    #[error("the identity provider's entity has no entityID")]
    NoEntityId,
    #[error(
        "the identity provider offers no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding"
    )]
    NoSingleSignOnService,
    #[error("the metadata contains no signing certificate")]
    NoSigningCertificate,
    #[error("signing certificate {position} in the metadata cannot be read: {source}")]
    Certificate {
        /// 1-based, in document order.
        position: usize,
        source: CertificateError,
    },
    #[error("{0}")]
    Invalid(#[from] IdpConfigError),
}

impl IdpMetadata {
    /// Reads SAML 2.0 identity-provider metadata: an `EntityDescriptor` (or an
    /// `EntitiesDescriptor` holding exactly one identity provider) with an `IDPSSODescriptor`.
    pub fn parse(xml: &str) -> Result<IdpMetadata, MetadataError> {
        if xml.len() > MAX_METADATA_BYTES {
            return Err(MetadataError::TooLarge {
                size: xml.len(),
                limit: MAX_METADATA_BYTES,
            });
        }
        // roxmltree refuses DTDs with an internal subset; refuse an empty one too.
        if xml.contains("<!DOCTYPE") {
            return Err(MetadataError::DtdNotAllowed);
        }
        check_shape(xml)?;
        let doc = read_document(xml)?;
        let root = doc.root_element();
        let providers: Vec<(Node, Node)> = root
            .descendants()
            .filter(|n| is_md(n, "EntityDescriptor"))
            .filter_map(|entity| {
                entity
                    .children()
                    .find(|n| is_md(n, "IDPSSODescriptor") && supports_saml2(n))
                    .map(|idp| (entity, idp))
            })
            .collect();
        let (entity, idp) = match providers.as_slice() {
            [] => return Err(MetadataError::NoIdentityProvider),
            [one] => *one,
            many => {
                return Err(MetadataError::SeveralIdentityProviders { count: many.len() });
            }
        };
        let entity_id = entity
            .attribute("entityID")
            .ok_or(MetadataError::NoEntityId)?;

        let services: Vec<(SsoBinding, &str)> = idp
            .children()
            .filter(|n| is_md(n, "SingleSignOnService"))
            .filter_map(|n| {
                let binding = match n.attribute("Binding")? {
                    BINDING_HTTP_REDIRECT => SsoBinding::HttpRedirect,
                    BINDING_HTTP_POST => SsoBinding::HttpPost,
                    _ => return None,
                };
                Some((binding, n.attribute("Location")?))
            })
            .collect();
        let (sso_binding, sso_url) = services
            .iter()
            .find(|(b, _)| *b == SsoBinding::HttpRedirect)
            .or_else(|| services.first())
            .copied()
            .ok_or(MetadataError::NoSingleSignOnService)?;

        let certificates = signing_certificates(idp)?;
        if certificates.is_empty() {
            return Err(MetadataError::NoSigningCertificate);
        }
        let mut config = IdpConfig::new(entity_id, sso_url, certificates)?;
        config.binding = sso_binding;
        Ok(IdpMetadata {
            config,
            sso_binding,
        })
    }
}

/// The metadata parsed under its limits, with a SAML metadata root element.
fn read_document(xml: &str) -> Result<Document<'_>, MetadataError> {
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_METADATA_NODES,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(xml, options).map_err(|e| match e {
        roxmltree::Error::DtdDetected => MetadataError::DtdNotAllowed,
        other => MetadataError::Xml(other.to_string()),
    })?;
    let root = doc.root_element();
    if root.tag_name().namespace() != Some(NS_METADATA)
        || !matches!(
            root.tag_name().name(),
            "EntityDescriptor" | "EntitiesDescriptor"
        )
    {
        return Err(MetadataError::NotSamlMetadata {
            found: describe_element(root),
        });
    }
    Ok(doc)
}

/// The X.509 certificates of the identity provider's signing keys (a KeyDescriptor with
/// `use="signing"` or no `use`), in document order.
fn signing_certificates(idp: Node) -> Result<Vec<Certificate>, MetadataError> {
    let mut certificates = Vec::new();
    let signing_keys = idp.children().filter(|n| {
        is_md(n, "KeyDescriptor") && matches!(n.attribute("use"), None | Some("signing"))
    });
    for key in signing_keys {
        for x509 in key
            .descendants()
            .filter(|n| n.tag_name().namespace() == Some(NS_XMLDSIG))
            .filter(|n| n.tag_name().name() == "X509Certificate")
        {
            let text: String = x509
                .children()
                .filter(Node::is_text)
                .filter_map(|t| t.text())
                .collect();
            let cert = Certificate::from_der_base64(&text).map_err(|source| {
                MetadataError::Certificate {
                    position: certificates.len() + 1,
                    source,
                }
            })?;
            certificates.push(cert);
        }
    }
    Ok(certificates)
}

fn is_md(node: &Node, name: &str) -> bool {
    node.is_element()
        && node.tag_name().namespace() == Some(NS_METADATA)
        && node.tag_name().name() == name
}

fn supports_saml2(idp: &Node) -> bool {
    idp.attribute("protocolSupportEnumeration")
        .is_some_and(|p| p.split_whitespace().any(|p| p == PROTOCOL_SAML2))
}

fn describe_element(node: Node) -> String {
    match node.tag_name().namespace() {
        Some(ns) => format!("{{{ns}}}{}", node.tag_name().name()),
        None => node.tag_name().name().to_string(),
    }
}

/// Our service-provider metadata, for the IT contact to load into their identity provider:
/// entity ID, Assertion Consumer Service (HTTP-POST) and the e-mail NameID format. Values are
/// XML-escaped.
pub fn sp_metadata(entity_id: &str, acs_url: &str) -> String {
    let entity_id = xml_escape(entity_id);
    let acs_url = xml_escape(acs_url);
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="{NS_METADATA}" entityID="{entity_id}">
  <md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true" protocolSupportEnumeration="{PROTOCOL_SAML2}">
    <md:NameIDFormat>{NAMEID_EMAIL}</md:NameIDFormat>
    <md:AssertionConsumerService Binding="{BINDING_HTTP_POST}" Location="{acs_url}" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"#
    )
}

/// One linear pass over the document before it is parsed: at most
/// [`MAX_ATTRIBUTES_PER_ELEMENT`] attributes on an element and [`MAX_METADATA_DEPTH`] levels of
/// nesting. It counts `=` outside quoted values inside tags, skipping comments, CDATA sections
/// and processing instructions; well-formedness is left to the parser.
fn check_shape(xml: &str) -> Result<(), MetadataError> {
    scan_shape(xml, MAX_METADATA_DEPTH, MAX_ATTRIBUTES_PER_ELEMENT).map_err(|e| match e {
        ShapeError::TooManyAttributes => MetadataError::TooManyAttributes {
            limit: MAX_ATTRIBUTES_PER_ELEMENT,
        },
        ShapeError::TooDeep => MetadataError::TooDeep {
            limit: MAX_METADATA_DEPTH,
        },
    })
}

/// What [`scan_shape`] found beyond its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShapeError {
    TooManyAttributes,
    TooDeep,
}

/// A linear pre-parse scan of XML text: refuses elements nested deeper than `max_depth` or with
/// more than `max_attributes` attributes (namespace declarations included), before a parser
/// builds a tree of them. Comments, CDATA sections and processing instructions are skipped.
pub(crate) fn scan_shape(
    xml: &str,
    max_depth: usize,
    max_attributes: usize,
) -> Result<(), ShapeError> {
    let bytes = xml.as_bytes();
    let mut i = 0;
    let mut depth = 0usize;
    let skip_to = |from: usize, end: &str| {
        xml[from..]
            .find(end)
            .map_or(bytes.len(), |at| from + at + end.len())
    };
    while i < bytes.len() {
        if bytes[i] != b'<' {
            i += 1;
            continue;
        }
        let rest = &xml[i..];
        if rest.starts_with("<!--") {
            i = skip_to(i + 4, "-->");
        } else if rest.starts_with("<![CDATA[") {
            i = skip_to(i + 9, "]]>");
        } else if rest.starts_with("<?") || rest.starts_with("<!") {
            i = skip_to(i + 2, ">");
        } else if rest.starts_with("</") {
            depth = depth.saturating_sub(1);
            i = skip_to(i + 2, ">");
        } else {
            // A start tag: count attributes up to its end, outside quoted values.
            let mut j = i + 1;
            let mut quote: Option<u8> = None;
            let mut attributes = 0;
            let mut self_closing = false;
            while j < bytes.len() {
                let b = bytes[j];
                match quote {
                    Some(q) if b == q => quote = None,
                    Some(_) => {}
                    None if b == b'"' || b == b'\'' => quote = Some(b),
                    None if b == b'=' => {
                        attributes += 1;
                        if attributes > max_attributes {
                            return Err(ShapeError::TooManyAttributes);
                        }
                    }
                    None if b == b'>' => {
                        self_closing = bytes[j - 1] == b'/';
                        break;
                    }
                    None => {}
                }
                j += 1;
            }
            if !self_closing {
                depth += 1;
                if depth > max_depth {
                    return Err(ShapeError::TooDeep);
                }
            }
            i = j + 1;
        }
    }
    Ok(())
}

/// Escapes text for use in XML content or a double- or single-quoted attribute. Characters XML
/// 1.0 cannot carry at all (most control characters) are dropped.
pub(crate) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
