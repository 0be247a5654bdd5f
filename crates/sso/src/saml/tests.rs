use super::*;
use crate::test_certs::{TestCert, make_cert};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use time::macros::datetime;

fn cert(cn: &str, year: i32) -> TestCert {
    let not_after = datetime!(2020-01-01 00:00 UTC).replace_year(year).unwrap();
    make_cert(cn, datetime!(2026-01-01 00:00 UTC), not_after)
}

/// A KeyDescriptor with the certificate base64 wrapped over indented lines, as real metadata has.
fn key_descriptor(use_attr: Option<&str>, cert: &TestCert) -> String {
    let b64 = STANDARD.encode(&cert.der);
    let wrapped: String = b64
        .as_bytes()
        .chunks(64)
        .map(|c| format!("\n            {}", std::str::from_utf8(c).unwrap()))
        .collect();
    let use_attr = use_attr.map_or(String::new(), |u| format!(r#" use="{u}""#));
    format!(
        r#"<md:KeyDescriptor{use_attr}>
      <ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
        <ds:X509Data><ds:X509Certificate>{wrapped}
        </ds:X509Certificate></ds:X509Data>
      </ds:KeyInfo>
    </md:KeyDescriptor>"#
    )
}

const REDIRECT: &str = r#"<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.com/sso/redirect"/>"#;
const POST: &str = r#"<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example.com/sso/post"/>"#;

fn metadata(keys: &str, services: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example.com/metadata">
  <md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    {keys}
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    {services}
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#
    )
}

#[test]
fn reads_metadata_with_one_signing_certificate() {
    let c = cert("idp.example.com", 2027);
    let xml = metadata(
        &key_descriptor(Some("signing"), &c),
        &format!("{POST}{REDIRECT}"),
    );
    let meta = IdpMetadata::parse(&xml).unwrap();
    assert_eq!(meta.config.entity_id, "https://idp.example.com/metadata");
    assert_eq!(meta.config.sso_url, "https://idp.example.com/sso/redirect");
    assert_eq!(meta.sso_binding, SsoBinding::HttpRedirect);
    assert_eq!(meta.config.certificates.len(), 1);
    assert_eq!(meta.config.certificates[0].der(), c.der.as_slice());
    assert_eq!(
        meta.config.certificates[0].subject,
        "CN=idp.example.com,O=Example IdP"
    );
}

#[test]
fn reads_metadata_with_two_signing_certificates() {
    let old = cert("old.example.com", 2027);
    let new = cert("new.example.com", 2029);
    let enc = cert("encryption.example.com", 2030);
    let keys = format!(
        "{}{}{}",
        key_descriptor(Some("signing"), &old),
        key_descriptor(Some("encryption"), &enc),
        key_descriptor(None, &new),
    );
    let meta = IdpMetadata::parse(&metadata(&keys, REDIRECT)).unwrap();
    let subjects: Vec<&str> = meta
        .config
        .certificates
        .iter()
        .map(|c| c.subject.as_str())
        .collect();
    assert_eq!(
        subjects,
        [
            "CN=old.example.com,O=Example IdP",
            "CN=new.example.com,O=Example IdP"
        ],
        "encryption-only keys are not signing certificates"
    );
    assert_eq!(
        meta.config.certificate_to_watch().subject,
        "CN=new.example.com,O=Example IdP"
    );
}

#[test]
fn the_same_certificate_listed_twice_counts_once() {
    let c = cert("idp.example.com", 2027);
    let keys = format!(
        "{}{}",
        key_descriptor(Some("signing"), &c),
        key_descriptor(None, &c)
    );
    let meta = IdpMetadata::parse(&metadata(&keys, REDIRECT)).unwrap();
    assert_eq!(meta.config.certificates.len(), 1);
}

#[test]
fn falls_back_to_http_post() {
    let c = cert("idp.example.com", 2027);
    let soap = r#"<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="https://idp.example.com/soap"/>"#;
    let meta = IdpMetadata::parse(&metadata(
        &key_descriptor(None, &c),
        &format!("{soap}{POST}"),
    ))
    .unwrap();
    assert_eq!(meta.sso_binding, SsoBinding::HttpPost);
    assert_eq!(meta.config.sso_url, "https://idp.example.com/sso/post");
    assert_eq!(
        IdpMetadata::parse(&metadata(&key_descriptor(None, &c), soap)),
        Err(MetadataError::NoSingleSignOnService)
    );
}

#[test]
fn reads_by_namespace_not_by_prefix() {
    let c = cert("idp.example.com", 2027);
    let b64 = STANDARD.encode(&c.der);
    let xml = format!(
        r#"<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">
  <EntityDescriptor entityID="urn:sp:other"><SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></EntityDescriptor>
  <EntityDescriptor entityID="urn:idp:x">
    <IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:1.1:protocol urn:oasis:names:tc:SAML:2.0:protocol">
      <KeyDescriptor><sig:KeyInfo xmlns:sig="http://www.w3.org/2000/09/xmldsig#"><sig:X509Data><sig:X509Certificate>{b64}</sig:X509Certificate></sig:X509Data></sig:KeyInfo></KeyDescriptor>
      <SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.com/x"/>
    </IDPSSODescriptor>
  </EntityDescriptor>
</EntitiesDescriptor>"#
    );
    let meta = IdpMetadata::parse(&xml).unwrap();
    assert_eq!(meta.config.entity_id, "urn:idp:x");
    assert_eq!(meta.config.certificates.len(), 1);
    // The right local names in the wrong namespace are not metadata.
    let wrong = xml.replace(
        "urn:oasis:names:tc:SAML:2.0:metadata",
        "urn:example:not-saml",
    );
    assert!(matches!(
        IdpMetadata::parse(&wrong),
        Err(MetadataError::NotSamlMetadata { .. })
    ));
}

#[test]
fn refuses_several_identity_providers() {
    let c = cert("idp.example.com", 2027);
    let one = metadata(&key_descriptor(None, &c), REDIRECT);
    let body = one.trim_start_matches(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let xml = format!(
        r#"<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">{body}{body}</md:EntitiesDescriptor>"#
    );
    assert_eq!(
        IdpMetadata::parse(&xml),
        Err(MetadataError::SeveralIdentityProviders { count: 2 })
    );
}

#[test]
fn refuses_metadata_without_what_we_need() {
    let c = cert("idp.example.com", 2027);
    assert_eq!(
        IdpMetadata::parse(&metadata(&key_descriptor(Some("encryption"), &c), REDIRECT)),
        Err(MetadataError::NoSigningCertificate)
    );
    assert_eq!(
        IdpMetadata::parse(&metadata("", REDIRECT)),
        Err(MetadataError::NoSigningCertificate)
    );
    let no_id = metadata(&key_descriptor(None, &c), REDIRECT)
        .replace(r#" entityID="https://idp.example.com/metadata""#, "");
    assert_eq!(IdpMetadata::parse(&no_id), Err(MetadataError::NoEntityId));
    let sp_only = sp_metadata("https://sp.example", "https://sp.example/acs");
    assert_eq!(
        IdpMetadata::parse(&sp_only),
        Err(MetadataError::NoIdentityProvider)
    );
    assert!(matches!(
        IdpMetadata::parse("<html><body>login</body></html>"),
        Err(MetadataError::NotSamlMetadata { found }) if found == "html"
    ));
    assert!(matches!(
        IdpMetadata::parse("not xml at all"),
        Err(MetadataError::Xml(_))
    ));
    assert!(matches!(IdpMetadata::parse(""), Err(MetadataError::Xml(_))));
}

#[test]
fn refuses_a_broken_certificate_saying_which() {
    let c = cert("idp.example.com", 2027);
    let keys = format!(
        "{}{}",
        key_descriptor(None, &c),
        r#"<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>AAAA</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#
    );
    let err = IdpMetadata::parse(&metadata(&keys, REDIRECT)).unwrap_err();
    assert!(
        matches!(err, MetadataError::Certificate { position: 2, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("signing certificate 2"));
}

#[test]
fn refuses_an_insecure_sso_url_in_metadata() {
    let c = cert("idp.example.com", 2027);
    let xml = metadata(&key_descriptor(None, &c), REDIRECT)
        .replace("https://idp.example.com/sso", "http://idp.example.com/sso");
    assert_eq!(
        IdpMetadata::parse(&xml),
        Err(MetadataError::Invalid(IdpConfigError::SsoUrlNotHttps))
    );
}

#[test]
fn refuses_external_entities() {
    let xxe = r#"<?xml version="1.0"?>
<!DOCTYPE md:EntityDescriptor [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&xxe;"/>"#;
    assert_eq!(IdpMetadata::parse(xxe), Err(MetadataError::DtdNotAllowed));
}

#[test]
fn refuses_entity_expansion_bombs() {
    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&lol9;"/>"#;
    assert_eq!(
        IdpMetadata::parse(laughs),
        Err(MetadataError::DtdNotAllowed)
    );
    // Undeclared entity references (no DTD to define them) are plain XML errors.
    let undeclared = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&lol9;"/>"#;
    assert!(matches!(
        IdpMetadata::parse(undeclared),
        Err(MetadataError::Xml(_))
    ));
}

#[test]
fn refuses_oversized_metadata() {
    let c = cert("idp.example.com", 2027);
    let padding = format!("<!--{}-->", "x".repeat(MAX_METADATA_BYTES));
    let xml = metadata(&key_descriptor(None, &c), &format!("{REDIRECT}{padding}"));
    assert!(matches!(
        IdpMetadata::parse(&xml),
        Err(MetadataError::TooLarge {
            limit: MAX_METADATA_BYTES,
            ..
        })
    ));
    // Just under the limit is read.
    let room = MAX_METADATA_BYTES - metadata(&key_descriptor(None, &c), REDIRECT).len() - 7;
    let xml = metadata(
        &key_descriptor(None, &c),
        &format!("{REDIRECT}<!--{}-->", "x".repeat(room)),
    );
    assert_eq!(xml.len(), MAX_METADATA_BYTES);
    assert!(IdpMetadata::parse(&xml).is_ok());
}

#[test]
fn refuses_too_many_nodes() {
    let c = cert("idp.example.com", 2027);
    let many = "<x/>".repeat(MAX_METADATA_NODES as usize + 10);
    let xml = metadata(&key_descriptor(None, &c), &format!("{REDIRECT}{many}"));
    assert!(xml.len() < MAX_METADATA_BYTES);
    assert!(matches!(
        IdpMetadata::parse(&xml),
        Err(MetadataError::Xml(_))
    ));
}

#[test]
fn fields_give_the_same_config_as_metadata() {
    let c = cert("idp.example.com", 2027);
    let from_meta = IdpMetadata::parse(&metadata(&key_descriptor(None, &c), REDIRECT))
        .unwrap()
        .config;
    let from_fields = IdpConfig::from_fields(
        " https://idp.example.com/metadata ",
        "https://idp.example.com/sso/redirect",
        &c.pem,
    )
    .unwrap();
    assert_eq!(from_meta, from_fields);
    let bare_base64 = IdpConfig::from_fields(
        "https://idp.example.com/metadata",
        "https://idp.example.com/sso/redirect",
        &STANDARD.encode(&c.der),
    )
    .unwrap();
    assert_eq!(bare_base64, from_fields);
}

#[test]
fn fields_accept_several_certificates() {
    let a = cert("a.example.com", 2027);
    let b = cert("b.example.com", 2028);
    let config = IdpConfig::from_fields(
        "urn:idp",
        "https://idp.example.com/sso",
        &format!("{}{}", a.pem, b.pem),
    )
    .unwrap();
    assert_eq!(config.certificates.len(), 2);
    assert_eq!(
        config.certificate_to_watch().subject,
        "CN=b.example.com,O=Example IdP"
    );
}

#[test]
fn field_validation() {
    let c = cert("idp.example.com", 2027);
    let f = |id: &str, url: &str, pem: &str| IdpConfig::from_fields(id, url, pem).map(|_| ());
    let url = "https://idp.example.com/sso";
    assert_eq!(f("  ", url, &c.pem), Err(IdpConfigError::EntityIdEmpty));
    assert_eq!(
        f(&"e".repeat(1025), url, &c.pem),
        Err(IdpConfigError::EntityIdTooLong { length: 1025 })
    );
    assert_eq!(f(&"e".repeat(1024), url, &c.pem), Ok(()));
    // Some identity providers take any text as the entity ID (JumpCloud's export says
    // "IdP Entity ID"): SAML's anyURI is not enforced; surrounding whitespace is trimmed.
    assert_eq!(f("IdP Entity ID", url, &c.pem), Ok(()));
    assert_eq!(
        IdpConfig::from_fields("  IdP Entity ID \n", url, &c.pem)
            .unwrap()
            .entity_id,
        "IdP Entity ID"
    );
    assert_eq!(
        f("urn:a\u{7}b", url, &c.pem),
        Err(IdpConfigError::EntityIdInvalid)
    );
    assert_eq!(
        f("urn:a\nb", url, &c.pem),
        Err(IdpConfigError::EntityIdInvalid)
    );
    assert!(matches!(
        f("urn:idp", "", &c.pem),
        Err(IdpConfigError::SsoUrlInvalid { .. })
    ));
    assert!(matches!(
        f("urn:idp", "idp.example.com/sso", &c.pem),
        Err(IdpConfigError::SsoUrlInvalid { .. })
    ));
    assert_eq!(
        f("urn:idp", "http://idp.example.com/sso", &c.pem),
        Err(IdpConfigError::SsoUrlNotHttps)
    );
    assert_eq!(
        f("urn:idp", "javascript:alert(1)", &c.pem),
        Err(IdpConfigError::SsoUrlInvalid {
            reason: "it has no host".into()
        })
    );
    assert_eq!(
        f("urn:idp", "ftp://idp.example.com/sso", &c.pem),
        Err(IdpConfigError::SsoUrlNotHttps)
    );
    assert_eq!(
        f("urn:idp", "https://user:pw@idp.example.com/sso", &c.pem),
        Err(IdpConfigError::SsoUrlHasCredentials)
    );
    assert!(matches!(
        f("urn:idp", "https://idp.example.com/a b", &c.pem),
        Err(IdpConfigError::SsoUrlInvalid { .. })
    ));
    assert_eq!(f("urn:idp", "http://localhost:8080/sso", &c.pem), Ok(()));
    assert_eq!(f("urn:idp", "http://127.0.0.1:9/sso", &c.pem), Ok(()));
    assert_eq!(f("urn:idp", "http://[::1]/sso", &c.pem), Ok(()));
    assert_eq!(f("urn:idp", url, ""), Err(IdpConfigError::NoCertificate));
    assert_eq!(
        f(
            "urn:idp",
            url,
            "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----"
        ),
        Err(IdpConfigError::Certificate(
            CertificateError::NotACertificate {
                label: "PRIVATE KEY".into()
            }
        ))
    );
    assert_eq!(
        IdpConfig::new("urn:idp", url, vec![]),
        Err(IdpConfigError::NoCertificate)
    );
}

#[test]
fn sp_metadata_is_valid_and_escaped() {
    let entity = r#"https://sp.example/saml?a=1&b="2"<x>"#;
    let acs = "https://sp.example/acs?org=o&x='y'";
    let xml = sp_metadata(entity, acs);
    assert!(!xml.contains("&b="), "ampersand escaped");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().namespace(), Some(NS_METADATA));
    assert_eq!(root.attribute("entityID"), Some(entity));
    let acs_node = root
        .descendants()
        .find(|n| is_md(n, "AssertionConsumerService"))
        .unwrap();
    assert_eq!(acs_node.attribute("Location"), Some(acs));
    assert_eq!(acs_node.attribute("Binding"), Some(BINDING_HTTP_POST));
    let sp = root
        .descendants()
        .find(|n| is_md(n, "SPSSODescriptor"))
        .unwrap();
    assert!(supports_saml2(&sp));
}

#[test]
fn sp_metadata_survives_hostile_values() {
    let xml = sp_metadata("a\u{0}b\u{1b}c\r\n", "\"/><evil/>");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    assert!(!doc.descendants().any(|n| n.tag_name().name() == "evil"));
    assert_eq!(doc.root_element().attribute("entityID"), Some("abc\r\n"));
}

#[test]
fn hostile_shapes_are_refused_in_one_pass() {
    let many = format!(
        r#"<md:EntityDescriptor xmlns:md="{NS_METADATA}" {}/>"#,
        (0..80_000)
            .map(|i| format!("a{i}=\"x\""))
            .collect::<Vec<_>>()
            .join(" ")
    );
    assert!(many.len() > 700_000);
    let started = std::time::Instant::now();
    assert_eq!(
        IdpMetadata::parse(&many).unwrap_err(),
        MetadataError::TooManyAttributes {
            limit: MAX_ATTRIBUTES_PER_ELEMENT
        }
    );
    eprintln!(
        "80,000 attributes ({} bytes) refused in {:?}",
        many.len(),
        started.elapsed()
    );

    let deep = format!(
        r#"<md:EntityDescriptor xmlns:md="{NS_METADATA}">{}{}</md:EntityDescriptor>"#,
        "<x>".repeat(100),
        "</x>".repeat(100)
    );
    assert_eq!(
        IdpMetadata::parse(&deep).unwrap_err(),
        MetadataError::TooDeep {
            limit: MAX_METADATA_DEPTH
        }
    );

    // Quoted '=' and '>' and comments do not count; self-closing elements do not nest.
    let fine = format!(
        r#"<md:EntityDescriptor xmlns:md="{NS_METADATA}" entityID="a=b>c"><!-- x=y z=w --><x/><x/></md:EntityDescriptor>"#
    );
    assert!(!matches!(
        IdpMetadata::parse(&fine),
        Err(MetadataError::TooManyAttributes { .. } | MetadataError::TooDeep { .. })
    ));
}
