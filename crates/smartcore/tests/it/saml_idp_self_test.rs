//! The test IdP's own checks (`saml_idp.rs`, which the browser tests include too, runs none):
//! its form reading, and the IdP end to end without our SP.

use crate::saml_idp::{SamlIdp, follow_to_idp, posted_form};
use serde_json::json;

#[test]
fn forms_are_read_with_either_quotes_and_entities() {
    let html = r#"<html><body onload="document.forms[0].submit()">
<FORM method='post' action="http://127.0.0.1:1/saml/org_1/acs?a=1&amp;b=2">
<input type="hidden" name="SAMLResponse" value="PHNhbWw+&#43;/="/>
<input name='RelayState' type=hidden value='/after?x=&quot;1&quot;'>
<inputx name="nope" value="1"/>
<button type="submit">Continue</button></FORM></body></html>"#;
    let f = posted_form(html).unwrap();
    assert_eq!(f.action, "http://127.0.0.1:1/saml/org_1/acs?a=1&b=2");
    assert_eq!(f.saml_response, "PHNhbWw++/=");
    assert_eq!(f.relay_state.as_deref(), Some("/after?x=\"1\""));
    assert!(posted_form("<p>no form</p>").is_err());
}

/// The IdP end to end without our SP: it starts, serves metadata, learns an SP, and answers an
/// AuthnRequest shaped like ours with a signed assertion. Skips (one line) without the venv.
#[tokio::test]
async fn the_test_idp_answers_an_authn_request_with_a_signed_response() {
    let Some(idp) = SamlIdp::start().await else {
        return;
    };
    let metadata = idp.metadata_xml().await;
    assert!(metadata.contains("X509Certificate"), "{metadata}");
    assert!(metadata.contains(&format!("{}/sso/redirect", idp.base_url())));
    let sp = "http://127.0.0.1:9/saml/org_0192idpselftest";
    let acs = format!("{sp}/acs");
    idp.add_sp(&smartcore_sso_metadata(sp, &acs)).await;
    idp.set_next(json!({"email": "ada@acme.example", "sign_response": true}))
        .await;
    // Our SP's AuthnRequest by HTTP-POST (an auto-submitting page, as ours sends it).
    let request = format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0" IssueInstant="{}" Destination="{}/sso/post" AssertionConsumerServiceURL="{acs}" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"><saml:Issuer>{sp}</saml:Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" AllowCreate="true"/></samlp:AuthnRequest>"#,
        time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap(),
        idp.base_url()
    );
    let page = format!(
        r#"<form method="post" action="{}/sso/post"><input type="hidden" name="SAMLRequest" value="{}"/><input type="hidden" name="RelayState" value="r&amp;s"/></form>"#,
        idp.base_url(),
        base64(request.as_bytes())
    );
    let form = follow_to_idp(&idp.http, &page).await;
    assert_eq!(form.action, acs);
    assert_eq!(form.relay_state.as_deref(), Some("r&s"));
    let (b64, xml) = idp.last_response().await;
    assert_eq!(b64, form.saml_response);
    assert!(xml.contains(r#"InResponseTo="_r1""#), "{xml}");
    assert_eq!(
        xml.matches("SignatureValue>").count(),
        4,
        "response and assertion signed: {xml}"
    );
    let dir = idp.dir.as_ref().unwrap().0.clone();
    drop(idp);
    assert!(!dir.exists(), "the IdP's folder is removed on drop");
}

fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The SP metadata our service publishes (crates/sso/src/saml.rs `sp_metadata`).
fn smartcore_sso_metadata(entity_id: &str, acs: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity_id}">
  <md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{acs}" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"#
    )
}
