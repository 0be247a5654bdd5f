//! Attacks beyond the real-world set, built from documents signed by xmlsec1 (an independent
//! implementation, so the signatures are genuinely valid): the XSW 1–9 signature-wrapping
//! shapes, Assertions hidden in Extensions/Advice/ds:Object, a second Assertion with the signed
//! one's ID, a comment inside the NameID, references to the whole document or to another
//! element, two references, an XPath transform, a signature on an embedded EntityDescriptor;
//! and hostile input (DTD and entities, deep nesting, many attributes, huge values, non-UTF-8,
//! non-base64). Each is refused with the right reason and none yields the injected subject.

mod common;

use common::*;

use smartcore_sso::response::{Expected, Reason, Report, decode_form_value, verify};
use time::macros::datetime;

const EVIL: &str = "admin@evil.com";

fn template(rsig: &str, asig: &str, extensions: &str, advice: &str) -> String {
    let (t, nb, noa) = (
        "2026-03-01T10:00:00Z",
        "2026-03-01T09:59:00Z",
        "2026-03-01T10:05:00Z",
    );
    format!(
        r#"<samlp:Response xmlns:samlp="{P}" xmlns:saml="{A}" ID="r-1" Version="2.0" IssueInstant="{t}" Destination="{ACS}" InResponseTo="req-1"><saml:Issuer>{IDP}</saml:Issuer>{rsig}{extensions}<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:Assertion ID="a-1" Version="2.0" IssueInstant="{t}"><saml:Issuer>{IDP}</saml:Issuer>{asig}<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">alice@example.com</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData InResponseTo="req-1" NotOnOrAfter="{noa}" Recipient="{ACS}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{nb}" NotOnOrAfter="{noa}"><saml:AudienceRestriction><saml:Audience>{SP}</saml:Audience></saml:AudienceRestriction></saml:Conditions>{advice}<saml:AuthnStatement AuthnInstant="{t}" SessionIndex="s-1"/></saml:Assertion></samlp:Response>"#
    )
}

fn check(xml: &[u8], key: &Key) -> Report {
    verify(
        xml,
        &Expected {
            idp_entity_id: IDP,
            sp_entity_id: SP,
            acs_url: ACS,
            certificates: std::slice::from_ref(&key.certificate),
            now: datetime!(2026-03-01 10:00:30 UTC),
        },
    )
}

/// Refused with one of `reasons`, never yielding the injected subject.
fn assert_refused(what: &str, xml: &str, key: &Key, reasons: &[Reason]) {
    let report = check(xml.as_bytes(), key);
    match &report.outcome {
        Ok(a) => panic!("{what}: accepted with NameID {:?}", a.name_id),
        Err(r) => assert!(
            {
                println!("{what}: {r}");
                assert!(xml.len() > 40, "{what}");
                reasons.contains(&r.reason)
            },
            "{what}: refused with {r}, expected one of {reasons:?}"
        ),
    }
}

fn without_declaration(xml: &[u8]) -> String {
    let text = String::from_utf8(xml.to_vec()).unwrap();
    match text.strip_prefix("<?xml version=\"1.0\"?>") {
        Some(rest) => rest.trim().to_string(),
        None => text.trim().to_string(),
    }
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
    let i = s.find(start).unwrap();
    let j = s[i..].find(end).unwrap() + i + end.len();
    &s[i..j]
}

fn assertion_of(doc: &str) -> &str {
    between(doc, "<saml:Assertion ", "</saml:Assertion>")
}

fn signature_in(s: &str) -> &str {
    between(s, "<ds:Signature", "</ds:Signature>")
}

/// The injected copy: another subject, another ID, no signature.
fn evil_copy(assertion: &str, id: &str) -> String {
    let mut evil = assertion
        .replace("alice@example.com", EVIL)
        .replace("ID=\"a-1\"", &format!("ID=\"{id}\""));
    if evil.contains("<ds:Signature") {
        let sig = signature_in(&evil).to_string();
        evil = evil.replace(&sig, "");
    }
    evil
}

struct Signed {
    key: Key,
    /// Only the Response signed, and only the Assertion signed (no XML declarations).
    response: String,
    assertion: String,
    _dir: tempfile::TempDir,
}

fn signed() -> Option<Signed> {
    if !tools_present() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = make_key(
        dir.path(),
        "rsa",
        &["-newkey", "rsa:2048"],
        KeyKind::RsaSha256,
    );
    let sig_r = signature_template(&key, "ds", "r-1", None);
    let sig_a = signature_template(&key, "ds", "a-1", None);
    let response = without_declaration(&xmlsec1_sign(
        dir.path(),
        &key,
        &template(&sig_r, "", "", ""),
        &[RESPONSE_SIGNATURE],
        "r",
    ));
    let assertion = without_declaration(&xmlsec1_sign(
        dir.path(),
        &key,
        &template("", &sig_a, "", ""),
        &[ASSERTION_SIGNATURE],
        "a",
    ));
    // Both verify untouched.
    for doc in [&response, &assertion] {
        let report = check(doc.as_bytes(), &key);
        assert_eq!(
            report.outcome.unwrap().name_id.as_deref(),
            Some("alice@example.com")
        );
    }
    Some(Signed {
        key,
        response,
        assertion,
        _dir: dir,
    })
}

#[test]
fn signature_wrapping_permutations_are_refused() {
    let Some(s) = signed() else { return };
    let structural = [Reason::UnexpectedStructure];
    let r = &s.response;
    let a = &s.assertion;
    let original_assertion_r = assertion_of(r);
    let sig_r = signature_in(r);
    let original_assertion_a = assertion_of(a);
    let sig_a = signature_in(original_assertion_a);
    let stripped_original = original_assertion_a.replace(sig_a, "");

    // XSW1: an evil Response (new ID, evil Assertion) carrying the copied signature, with the
    // original signed Response inside that signature.
    let evil_response = r
        .replace("ID=\"r-1\"", "ID=\"r-evil\"")
        .replace(
            original_assertion_r,
            &evil_copy(original_assertion_r, "a-evil"),
        )
        .replace(
            sig_r,
            &sig_r.replace("</ds:Signature>", &format!("{r}</ds:Signature>")),
        );
    assert_refused("XSW1", &evil_response, &s.key, &structural);

    // XSW2: the same, with the original Response placed before the signature (detached).
    let evil_response = r
        .replace("ID=\"r-1\"", "ID=\"r-evil\"")
        .replace(
            original_assertion_r,
            &evil_copy(original_assertion_r, "a-evil"),
        )
        .replace(sig_r, &format!("{r}{sig_r}"));
    assert_refused("XSW2", &evil_response, &s.key, &structural);

    // XSW3: an evil Assertion before the signed one.
    let xsw3 = a.replace(
        original_assertion_a,
        &format!(
            "{}{original_assertion_a}",
            evil_copy(original_assertion_a, "a-evil")
        ),
    );
    assert_refused("XSW3", &xsw3, &s.key, &structural);

    // XSW4: the evil Assertion wraps the signed one.
    let evil = evil_copy(original_assertion_a, "a-evil");
    let xsw4 = a.replace(
        original_assertion_a,
        &evil.replace(
            "</saml:Assertion>",
            &format!("{original_assertion_a}</saml:Assertion>"),
        ),
    );
    assert_refused("XSW4", &xsw4, &s.key, &structural);

    // XSW5: the evil Assertion carries the copied signature; the original, unsigned, follows.
    let evil_signed = evil.replace("<saml:Subject>", &format!("{sig_a}<saml:Subject>"));
    let xsw5 = a.replace(
        original_assertion_a,
        &format!("{evil_signed}{stripped_original}"),
    );
    assert_refused("XSW5", &xsw5, &s.key, &structural);

    // XSW6: the evil Assertion carries the signature, the original inside the signature.
    let evil_wrapping = evil.replace(
        "<saml:Subject>",
        &format!(
            "{}<saml:Subject>",
            sig_a.replace(
                "</ds:Signature>",
                &format!("{stripped_original}</ds:Signature>")
            )
        ),
    );
    let xsw6 = a.replace(original_assertion_a, &evil_wrapping);
    assert_refused("XSW6", &xsw6, &s.key, &structural);

    // XSW7: the signed Assertion hidden in Extensions, an evil one with the same ID in place.
    let evil_same_id = evil_copy(original_assertion_a, "a-1");
    let xsw7 = a.replace(original_assertion_a, &evil_same_id).replace(
        "<samlp:Status>",
        &format!("<samlp:Extensions>{original_assertion_a}</samlp:Extensions><samlp:Status>"),
    );
    assert_refused("XSW7", &xsw7, &s.key, &structural);

    // XSW8: an evil Assertion (same ID) whose signature holds the original in a ds:Object.
    let xsw8 = a.replace(
        original_assertion_a,
        &evil_same_id.replace(
            "<saml:Subject>",
            &format!(
                "{}<saml:Subject>",
                sig_a.replace(
                    "</ds:Signature>",
                    &format!("<ds:Object>{stripped_original}</ds:Object></ds:Signature>")
                )
            ),
        ),
    );
    assert_refused("XSW8", &xsw8, &s.key, &structural);

    // XSW9: an evil Assertion with the signature naming the original's ID; the original in a
    // foreign wrapper element.
    let xsw9 = a.replace(
        original_assertion_a,
        &format!(
            "{evil_signed}<x:Wrapper xmlns:x=\"urn:example:wrapper\">{original_assertion_a}</x:Wrapper>"
        ),
    );
    assert_refused("XSW9", &xsw9, &s.key, &structural);

    // The evil Assertion alone, with the signed one's ID and signature: the digest fails.
    let replaced = a.replace(
        original_assertion_a,
        &evil_same_id.replace("<saml:Subject>", &format!("{sig_a}<saml:Subject>")),
    );
    assert_refused(
        "signed Assertion replaced",
        &replaced,
        &s.key,
        &[Reason::SignatureInvalid],
    );
    // The Response's signature kept, its Assertion replaced.
    let replaced = r.replace(
        original_assertion_r,
        &evil_copy(original_assertion_r, "a-1"),
    );
    assert_refused(
        "signed Response's Assertion replaced",
        &replaced,
        &s.key,
        &[Reason::SignatureInvalid],
    );
    // A second Assertion with the signed one's ID, after it.
    for doc in [r, a] {
        let assertion = assertion_of(doc);
        let twice = doc.replace(
            assertion,
            &format!("{assertion}{}", evil_copy(assertion, "a-1")),
        );
        assert_refused("second Assertion, same ID", &twice, &s.key, &structural);
    }
}

#[test]
fn assertions_hidden_in_signed_places_are_refused() {
    let Some(s) = signed() else { return };
    let dir = tempfile::tempdir().unwrap();
    let evil_assertion = evil_copy(assertion_of(&s.assertion), "a-evil");
    let sig_r = signature_template(&s.key, "ds", "r-1", None);
    let sig_a = signature_template(&s.key, "ds", "a-1", None);
    let cases = [
        (
            "Extensions of a signed Response",
            template(
                &sig_r,
                "",
                &format!("<samlp:Extensions>{evil_assertion}</samlp:Extensions>"),
                "",
            ),
            RESPONSE_SIGNATURE,
        ),
        (
            "Advice of a signed Assertion",
            template(
                "",
                &sig_a,
                "",
                &format!("<saml:Advice>{evil_assertion}</saml:Advice>"),
            ),
            ASSERTION_SIGNATURE,
        ),
        (
            "ds:Object of a signed Response's signature",
            template(
                &sig_r.replace(
                    "</ds:Signature>",
                    &format!("<ds:Object>{evil_assertion}</ds:Object></ds:Signature>"),
                ),
                "",
                "",
                "",
            ),
            RESPONSE_SIGNATURE,
        ),
    ];
    for (i, (what, xml, xpath)) in cases.into_iter().enumerate() {
        let signed = xmlsec1_sign(dir.path(), &s.key, &xml, &[xpath], &format!("h{i}"));
        assert_refused(
            what,
            &String::from_utf8(signed).unwrap(),
            &s.key,
            &[Reason::UnexpectedStructure],
        );
    }
}

#[test]
fn a_comment_in_a_signed_name_id_does_not_cut_it() {
    let Some(s) = signed() else { return };
    let dir = tempfile::tempdir().unwrap();
    let sig_a = signature_template(&s.key, "ds", "a-1", None);
    let xml =
        template("", &sig_a, "", "").replace("alice@example.com", "alice@example.com.evil.org");
    let signed = String::from_utf8(xmlsec1_sign(
        dir.path(),
        &s.key,
        &xml,
        &[ASSERTION_SIGNATURE],
        "c",
    ))
    .unwrap();
    // CVE-2018-7340 style: a comment inserted after signing keeps the signature valid.
    let commented = signed.replace(
        "alice@example.com.evil.org",
        "alice@example.com<!---->.evil.org",
    );
    assert_ne!(commented, signed);
    let report = check(commented.as_bytes(), &s.key);
    let a = report.outcome.unwrap();
    assert_eq!(a.name_id.as_deref(), Some("alice@example.com.evil.org"));
    assert_eq!(a.email(), Some("alice@example.com.evil.org"));
}

#[test]
fn odd_references_and_transforms_signed_by_xmlsec1_are_refused() {
    let Some(s) = signed() else { return };
    let dir = tempfile::tempdir().unwrap();
    let sig_a = signature_template(&s.key, "ds", "a-1", None);
    let sig_r = signature_template(&s.key, "ds", "r-1", None);
    let cases = [
        (
            "Reference URI \"\" (the whole document)",
            template(&sig_r.replace("URI=\"#r-1\"", "URI=\"\""), "", "", ""),
            RESPONSE_SIGNATURE,
            Reason::UnexpectedStructure,
        ),
        (
            "the Assertion's signature referencing the Response",
            template("", &sig_a.replace("URI=\"#a-1\"", "URI=\"#r-1\""), "", ""),
            ASSERTION_SIGNATURE,
            Reason::UnexpectedStructure,
        ),
        (
            "two References",
            template(
                "",
                &{
                    let reference = between(&sig_a, "<ds:Reference", "</ds:Reference>");
                    sig_a.replace(
                        reference,
                        &format!("{reference}{}", reference.replace("#a-1", "#r-1")),
                    )
                },
                "",
                "",
            ),
            ASSERTION_SIGNATURE,
            Reason::UnexpectedStructure,
        ),
        (
            "an XPath transform",
            template(
                "",
                &sig_a.replace(
                    "<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\">",
                    "<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"><ds:XPath>not(ancestor-or-self::ds:Signature)</ds:XPath></ds:Transform><ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\">",
                ),
                "",
                "",
            ),
            ASSERTION_SIGNATURE,
            Reason::UnsupportedAlgorithm,
        ),
        (
            "a signature on an embedded EntityDescriptor",
            template(
                "",
                &sig_a,
                &format!(
                    "<samlp:Extensions><md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" ID=\"e-1\" entityID=\"{IDP}\">{}</md:EntityDescriptor></samlp:Extensions>",
                    signature_template(&s.key, "ds", "e-1", None)
                ),
                "",
            ),
            "//*[local-name()='EntityDescriptor']/*[local-name()='Signature']",
            Reason::UnexpectedStructure,
        ),
    ];
    for (i, (what, xml, xpath, reason)) in cases.into_iter().enumerate() {
        let mut passes = vec![xpath];
        // The EntityDescriptor case also signs the Assertion, so only the stray signature is
        // wrong.
        if xpath.contains("EntityDescriptor") {
            passes.push(ASSERTION_SIGNATURE);
        }
        let signed = xmlsec1_sign(dir.path(), &s.key, &xml, &passes, &format!("o{i}"));
        assert_refused(what, &String::from_utf8(signed).unwrap(), &s.key, &[reason]);
    }
}

#[test]
fn hostile_input_is_refused_fast() {
    // No xmlsec1 needed: these never reach a signature.
    let dir = tempfile::tempdir().unwrap();
    if !tools_present() {
        return;
    }
    let key = make_key(
        dir.path(),
        "k",
        &["-newkey", "rsa:2048"],
        KeyKind::RsaSha256,
    );
    // Each is refused before it can cost anything (no DTD, the size and shape scanned before
    // parsing); time is measured in benchmarks, not here.
    let invalid = [Reason::InvalidXml];
    let laughs = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"{EVIL}\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]><samlp:Response xmlns:samlp=\"{P}\">&c;</samlp:Response>"
    );
    assert_refused("entity expansion", &laughs, &key, &invalid);
    let external = format!(
        "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><samlp:Response xmlns:samlp=\"{P}\">&x;</samlp:Response>"
    );
    assert_refused("external entity", &external, &key, &invalid);
    let deep = format!("{}{}", "<a>".repeat(10_000), "</a>".repeat(10_000));
    assert_refused("10,000 deep", &deep, &key, &invalid);
    let wide: String = (0..100_000).map(|i| format!(" a{i}=\"\"")).collect();
    assert_refused("100,000 attributes", &format!("<r{wide}/>"), &key, &invalid);
    let huge_name_id = template("", "", "", "").replace(
        "alice@example.com",
        &format!("{}@evil.com", "a".repeat(1024 * 1024)),
    );
    assert_refused("1 MB NameID", &huge_name_id, &key, &invalid);
    let ten_mb = format!("<r>{}</r>", "x".repeat(10 * 1024 * 1024));
    assert_refused("10 MB", &ten_mb, &key, &invalid);

    // UTF-16 (with a BOM) is not UTF-8.
    let utf16: Vec<u8> = std::iter::once(0xFEFFu16)
        .chain(template("", "", "", "").encode_utf16())
        .flat_map(|u| u.to_le_bytes())
        .collect();
    let report = check(&utf16, &key);
    assert_eq!(report.outcome.unwrap_err().reason, Reason::InvalidXml);

    for bad in ["PHNhbWxwOlJlc3BvbnNl!!", "<samlp:Response/>", "Zm9v\u{e9}"] {
        assert_eq!(
            decode_form_value(bad).unwrap_err().reason,
            Reason::InvalidXml
        );
    }
    assert_eq!(
        decode_form_value(&"A".repeat(10 * 1024 * 1024))
            .unwrap_err()
            .reason,
        Reason::InvalidXml
    );
}
