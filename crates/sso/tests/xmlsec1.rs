//! An independent implementation signs, ours verifies: the `xmlsec1` tool (libxml2's C14N,
//! OpenSSL) signs Responses written with awkward namespaces, comments, attribute order,
//! whitespace, CRLF line ends, character references and InclusiveNamespaces, with RSA-SHA256,
//! RSA-SHA1, a 1024-bit RSA key and ECDSA (P-256/SHA-256, P-384/SHA-384) keys made at test
//! time by the `openssl` tool. Each must be accepted with the expected NameID; altering one
//! character of the signed NameID must make each fail with signature_invalid. A differential
//! test signs 100 pseudo-random documents (prefixes rebound at random depths, default namespace
//! declared and undeclared, attributes in random order and namespaces, escapes, comments,
//! processing instructions, CDATA, xml:lang, InclusiveNamespaces); each must verify
//! (`SMARTCORE_DUMP_RANDOM=<seed>` prints one).
//!
//! Without xmlsec1 (or openssl) on PATH the tests print one line and pass, except under
//! CI=true, where they fail.

mod common;

use std::path::Path;

use common::*;

use smartcore_sso::Certificate;
use smartcore_sso::response::{Expected, Reason, Report, SignatureAlgorithm, verify};
use time::macros::datetime;

/// Which elements carry a signature.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Signed {
    Assertion,
    Response,
    Both,
}

/// One awkward document: a template with `{RSIG}` and `{ASIG}` where the signatures go, the
/// NameID it must yield, and the prefix for the signature's namespace.
struct Case {
    name: &'static str,
    template: String,
    name_id: &'static str,
    ds: &'static str,
    inclusive: Option<&'static str>,
    crlf: bool,
}

fn times() -> (&'static str, &'static str, &'static str) {
    (
        "2026-03-01T10:00:00Z",
        "2026-03-01T09:59:00Z",
        "2026-03-01T10:05:00Z",
    )
}

fn cases() -> Vec<Case> {
    let (t, nb, noa) = times();
    let subject = |nameid: &str, q: &str| {
        format!(
            r#"<{q}Subject><{q}NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{nameid}</{q}NameID><{q}SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><{q}SubjectConfirmationData InResponseTo="req-1" NotOnOrAfter="{noa}" Recipient="{ACS}"/></{q}SubjectConfirmation></{q}Subject>
    <{q}Conditions NotBefore="{nb}" NotOnOrAfter="{noa}"><{q}AudienceRestriction><{q}Audience>{SP}</{q}Audience></{q}AudienceRestriction></{q}Conditions>
    <{q}AuthnStatement AuthnInstant="{t}" SessionIndex="s-1"><{q}AuthnContext><{q}AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:Password</{q}AuthnContextClassRef></{q}AuthnContext></{q}AuthnStatement>"#
        )
    };
    vec![
        Case {
            name: "plain saml/samlp prefixes",
            template: format!(
                r#"<?xml version="1.0" encoding="UTF-8"?>
<samlp:Response xmlns:samlp="{P}" xmlns:saml="{A}" ID="r-1" Version="2.0" IssueInstant="{t}" Destination="{ACS}" InResponseTo="req-1">
  <saml:Issuer>{IDP}</saml:Issuer>{{RSIG}}
  <samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>
  <saml:Assertion ID="a-1" Version="2.0" IssueInstant="{t}">
    <saml:Issuer>{IDP}</saml:Issuer>{{ASIG}}
    {subject}
    <saml:AttributeStatement><saml:Attribute Name="displayName"><saml:AttributeValue>Alice Example</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>
  </saml:Assertion>
</samlp:Response>
"#,
                subject = subject("alice@example.com", "saml:")
            ),
            name_id: "alice@example.com",
            ds: "ds",
            inclusive: None,
            crlf: false,
        },
        Case {
            name: "default namespaces, signature in the default namespace too",
            template: format!(
                r#"<Response xmlns="{P}" ID="r-1" Version="2.0" IssueInstant="{t}" Destination="{ACS}">
<Issuer xmlns="{A}">{IDP}</Issuer>{{RSIG}}
<Status><StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></Status>
<Assertion xmlns="{A}" ID="a-1" Version="2.0" IssueInstant="{t}"><Issuer>{IDP}</Issuer>{{ASIG}}
{subject}
<AttributeStatement><Attribute Name="mail"><AttributeValue>alice@example.com</AttributeValue></Attribute><Attribute xmlns="" Name="x"/></AttributeStatement>
</Assertion></Response>"#,
                subject = subject("alice@example.com", "")
            ),
            name_id: "alice@example.com",
            ds: "",
            inclusive: None,
            crlf: false,
        },
        Case {
            name: "other prefixes, namespaces declared on the Response used in the Assertion, unused and redundant declarations, InclusiveNamespaces",
            template: format!(
                r#"<p2:Response xmlns:p2="{P}" xmlns:s2="{A}" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:unused="urn:example:unused" ID="r-1" Version="2.0" IssueInstant="{t}" Destination="{ACS}">
  <s2:Issuer xmlns:s2="{A}">{IDP}</s2:Issuer>{{RSIG}}
  <p2:Status xmlns:also="urn:example:also"><p2:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></p2:Status>
  <s2:Assertion xmlns:unused2="urn:example:unused2" ID="a-1" Version="2.0" IssueInstant="{t}">
    <s2:Issuer>{IDP}</s2:Issuer>{{ASIG}}
    {subject}
    <s2:AttributeStatement xmlns:s2="{A}">
      <s2:Attribute Name="email" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic"><s2:AttributeValue xsi:type="xs:string">alice@example.com</s2:AttributeValue></s2:Attribute>
      <s3:Attribute xmlns:s3="{A}" Name="givenName"><s3:AttributeValue xsi:type="xs:string">Alice</s3:AttributeValue></s3:Attribute>
    </s2:AttributeStatement>
  </s2:Assertion>
</p2:Response>"#,
                subject = subject("alice@example.com", "s2:")
            ),
            name_id: "alice@example.com",
            ds: "dsig",
            inclusive: Some("xs xsi"),
            crlf: false,
        },
        Case {
            name: "comments in the NameID and elsewhere, xml:lang, attribute order",
            template: format!(
                r#"<!-- before --><samlp:Response xmlns:saml="{A}" Version="2.0" xmlns:samlp="{P}" IssueInstant="{t}" ID="r-1" Destination="{ACS}" xml:lang="en">
  <!-- issuer --><saml:Issuer>{IDP}</saml:Issuer>{{RSIG}}
  <samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>
  <saml:Assertion Version="2.0" IssueInstant="{t}" ID="a-1" xmlns:z="urn:example:z" z:b="2" xmlns:a="urn:example:a" a:c="1">
    <saml:Issuer>{IDP}</saml:Issuer>{{ASIG}}
    {subject}
    <saml:AttributeStatement><!-- attributes --><saml:Attribute Name="displayName" xml:lang="fr" FriendlyName="dn"><saml:AttributeValue xml:lang="fr">Al<!-- x -->ice</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>
  </saml:Assertion>
</samlp:Response><!-- after -->"#,
                subject = subject("alice@<!-- injected? -->example.com<!---->", "saml:")
            ),
            name_id: "alice@example.com",
            ds: "ds",
            inclusive: None,
            crlf: false,
        },
        Case {
            name: "CRLF line ends, character references and entities, whitespace",
            template: format!(
                "<samlp:Response xmlns:samlp=\"{P}\" xmlns:saml=\"{A}\" ID=\"r-1\" Version=\"2.0\" IssueInstant=\"{t}\" Destination=\"{ACS}\">\n\t<saml:Issuer>\n  {IDP}  \n</saml:Issuer>{{RSIG}}\n  <samlp:Status><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/><samlp:StatusMessage>ok &amp; fine</samlp:StatusMessage></samlp:Status>\n  <saml:Assertion ID=\"a-1\" Version=\"2.0\" IssueInstant=\"{t}\">\n    <saml:Issuer>{IDP}</saml:Issuer>{{ASIG}}\n    {subject}\n    <saml:AttributeStatement>\n      <saml:Attribute Name=\"note\" FriendlyName=\"a&#9;b&quot;c&#13;&#10;d &amp; &lt;e&gt;\"><saml:AttributeValue>line1&#13;\nline2 &lt;x&gt; &amp; &#x20AC; &#13;</saml:AttributeValue><saml:AttributeValue><![CDATA[<cdata & more>]]></saml:AttributeValue></saml:Attribute>\n    </saml:AttributeStatement>\n  </saml:Assertion>\n</samlp:Response>\n",
                subject = subject("o&apos;brien&amp;co@example.com", "saml:")
            ),
            name_id: "o'brien&co@example.com",
            ds: "ds",
            inclusive: None,
            crlf: true,
        },
    ]
}

fn sign(dir: &Path, key: &Key, case: &Case, signed: Signed, n: usize) -> Vec<u8> {
    let sig_a = signature_template(key, case.ds, "a-1", case.inclusive);
    let sig_r = signature_template(key, case.ds, "r-1", case.inclusive);
    let mut xml = case
        .template
        .replace(
            "{ASIG}",
            if signed == Signed::Response {
                ""
            } else {
                &sig_a
            },
        )
        .replace(
            "{RSIG}",
            if signed == Signed::Assertion {
                ""
            } else {
                &sig_r
            },
        );
    if case.crlf {
        xml = xml.replace('\n', "\r\n");
    }
    let mut passes: Vec<&str> = Vec::new();
    if signed != Signed::Response {
        passes.push(ASSERTION_SIGNATURE);
    }
    if signed != Signed::Assertion {
        passes.push(RESPONSE_SIGNATURE);
    }
    xmlsec1_sign(dir, key, &xml, &passes, &n.to_string())
}

fn check(xml: &[u8], key: &Key) -> Report {
    let certs = vec![key.certificate.clone()];
    verify(
        xml,
        &Expected {
            idp_entity_id: IDP,
            sp_entity_id: SP,
            acs_url: ACS,
            certificates: &certs,
            now: datetime!(2026-03-01 10:00:30 UTC),
        },
    )
}

#[test]
fn documents_signed_by_xmlsec1_verify_and_fail_when_altered() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(dir.path());
    let mut n = 0;
    let mut failures = Vec::new();
    for case in cases() {
        for key in &keys {
            for signed in [Signed::Assertion, Signed::Response, Signed::Both] {
                n += 1;
                let xml = sign(dir.path(), key, &case, signed, n);
                let label = format!("{} / {} / {signed:?}", case.name, key.certificate.subject);
                let report = check(&xml, key);
                match &report.outcome {
                    Ok(a) if a.name_id.as_deref() == Some(case.name_id) => {
                        assert_eq!(report.signature_algorithm, Some(key.algorithm), "{label}");
                        assert_eq!(report.weak_key, key.weak, "{label}");
                        assert_eq!(
                            report.sha1,
                            key.algorithm == SignatureAlgorithm::RsaSha1,
                            "{label}"
                        );
                        assert_eq!(
                            report.certificate_sha256.as_deref(),
                            Some(key.certificate.fingerprint_sha256.as_str())
                        );
                        // xmlsec1 put our own certificate in KeyInfo: no rotation to report.
                        assert!(report.presented_certificate.is_none(), "{label}");
                        assert!(report.checks.iter().all(|c| c.ok), "{label}");
                        assert_eq!(a.id, "a-1");
                        assert_eq!(a.issuer.trim(), IDP);
                        assert_eq!(a.email(), Some(case.name_id), "{label}");
                    }
                    other => failures.push(format!("{label}: {other:?}")),
                }
                // One character of the signed NameID changed.
                let text = String::from_utf8(xml.clone()).unwrap();
                let altered = text.replacen("example.com<", "exbmple.com<", 1);
                assert_ne!(altered, text, "{label}");
                let report = check(altered.as_bytes(), key);
                match &report.outcome {
                    Err(r) if r.reason == Reason::SignatureInvalid => {}
                    other => failures.push(format!("{label} altered: {other:?}")),
                }
                // Under a different configured certificate: signature_invalid, and the
                // presented certificate is reported as a rotation.
                let other = &keys
                    [(keys.iter().position(|k| std::ptr::eq(k, key)).unwrap() + 1) % keys.len()];
                let report = verify(
                    &xml,
                    &Expected {
                        idp_entity_id: IDP,
                        sp_entity_id: SP,
                        acs_url: ACS,
                        certificates: std::slice::from_ref(&other.certificate),
                        now: datetime!(2026-03-01 10:00:30 UTC),
                    },
                );
                match &report.outcome {
                    Err(r) if r.reason == Reason::SignatureInvalid => {
                        assert_eq!(
                            report.presented_certificate.as_ref(),
                            Some(&key.certificate),
                            "{label}"
                        );
                    }
                    other => failures.push(format!("{label} other key: {other:?}")),
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(n, 5 * 6 * 3);
}

/// Several configured certificates (a rotation): the one that verifies is named.
#[test]
fn the_certificate_that_verifies_is_found_among_several() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(dir.path());
    let case = &cases()[0];
    let xml = sign(dir.path(), &keys[0], case, Signed::Assertion, 0);
    let certs: Vec<Certificate> = keys.iter().rev().map(|k| k.certificate.clone()).collect();
    let report = verify(
        &xml,
        &Expected {
            idp_entity_id: IDP,
            sp_entity_id: SP,
            acs_url: ACS,
            certificates: &certs,
            now: datetime!(2026-03-01 10:00:30 UTC),
        },
    );
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
    assert_eq!(
        report.certificate_sha256.as_deref(),
        Some(keys[0].certificate.fingerprint_sha256.as_str())
    );
}

/// A small deterministic generator (no dependency, reproducible by seed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const TEXT_PIECES: &[&str] = &[
    "x",
    " ",
    "  ",
    "&amp;",
    "&lt;",
    "&gt;",
    ">",
    "\"",
    "'",
    "&#13;",
    "&#xD;&#xA;",
    "&#9;",
    "\n",
    "\t",
    "\u{e9}",
    "\u{20ac}",
    "\u{1f600}",
    "<!-- c -->",
    "<?pi some data?>",
    "<![CDATA[<&>]]>",
];
const VALUE_PIECES: &[&str] = &[
    "v", " ", "&amp;", "&lt;", "&gt;", ">", "&quot;", "'", "&#13;", "&#10;", "&#9;", "\t", "\n",
    "\u{e9}",
];
/// Prefixes and the URIs they may be bound to (rebinding a prefix to another URI deeper in).
const PREFIXES: &[(&str, &[&str])] = &[
    ("p1", &["urn:example:one", "urn:example:uno"]),
    ("p2", &["urn:example:two"]),
    ("zz", &["urn:example:one", "urn:example:zed"]),
    ("a", &["urn:example:aaa"]),
];
const DEFAULTS: &[&str] = &["urn:example:default", "urn:example:other", ""];

fn random_text(rng: &mut Rng, pieces: &[&str]) -> String {
    (0..rng.below(5)).map(|_| rng.pick(pieces)).collect()
}

/// Random declarations for one element; returns the text and updates `in_scope`.
fn random_declarations(rng: &mut Rng, in_scope: &mut Vec<String>) -> String {
    let mut out = String::new();
    for (prefix, uris) in PREFIXES {
        if rng.below(4) == 0 {
            out.push_str(&format!(" xmlns:{prefix}=\"{}\"", rng.pick(uris)));
            if !in_scope.iter().any(|p| p == prefix) {
                in_scope.push(prefix.to_string());
            }
        }
    }
    if rng.below(5) == 0 {
        out.push_str(&format!(" xmlns=\"{}\"", rng.pick(DEFAULTS)));
    }
    out
}

fn random_element(rng: &mut Rng, depth: usize, in_scope: &[String], out: &mut String) {
    let mut scope = in_scope.to_vec();
    let declarations = random_declarations(rng, &mut scope);
    let prefix = match rng.below(scope.len() + 1) {
        0 => String::new(),
        i => format!("{}:", scope[i - 1]),
    };
    let name = format!("{prefix}e{}", rng.below(3));
    // Attributes in random order, with distinct local names so that no two collide.
    let mut attributes = Vec::new();
    for i in 0..rng.below(4) {
        let attribute_prefix = match rng.below(scope.len() + 2) {
            0 | 1 => String::new(),
            i => format!("{}:", scope[i - 2]),
        };
        attributes.push(format!(
            " {attribute_prefix}k{i}=\"{}\"",
            random_text(rng, VALUE_PIECES)
        ));
    }
    if rng.below(6) == 0 {
        attributes.push(format!(" xml:lang=\"{}\"", rng.pick(&["en", "fr-CA", ""])));
    }
    // Declarations may come after attributes in the source.
    let split = rng.below(attributes.len() + 1);
    let (before, after) = attributes.split_at(split);
    out.push_str(&format!(
        "<{name}{}{declarations}{}",
        before.concat(),
        after.concat()
    ));
    if depth == 0 || rng.below(4) == 0 {
        if rng.below(2) == 0 {
            out.push_str("/>");
            return;
        }
        out.push('>');
    } else {
        out.push('>');
        for _ in 0..rng.below(4) {
            out.push_str(&random_text(rng, TEXT_PIECES));
            random_element(rng, depth - 1, &scope, out);
        }
    }
    out.push_str(&random_text(rng, TEXT_PIECES));
    out.push_str(&format!("</{name}>"));
}

/// Random namespace shapes, text and attributes signed by xmlsec1 verify with ours: a
/// differential test of the canonicalisation.
#[test]
fn random_documents_signed_by_xmlsec1_verify() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let keys = [
        make_key(
            dir.path(),
            "rsa",
            &["-newkey", "rsa:2048"],
            KeyKind::RsaSha256,
        ),
        make_key(
            dir.path(),
            "ec",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            KeyKind::EcdsaSha256,
        ),
    ];
    let (t, nb, noa) = times();
    let mut failures = Vec::new();
    for seed in 0..100u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) + 1);
        let key = &keys[seed as usize % 2];
        let mut response_scope = Vec::new();
        let response_declarations = random_declarations(&mut rng, &mut response_scope);
        let mut assertion_scope = response_scope.clone();
        let assertion_declarations = random_declarations(&mut rng, &mut assertion_scope);
        let mut content = String::new();
        for _ in 0..1 + rng.below(3) {
            random_element(&mut rng, 4, &assertion_scope, &mut content);
        }
        let inclusive = match rng.below(3) {
            0 => Some("p1 zz #default"),
            1 => Some("a"),
            _ => None,
        };
        let sign_response = rng.below(3) == 0;
        let signature = |id: &str| signature_template(key, "ds", id, inclusive);
        let xml = format!(
            r#"<samlp:Response xmlns:samlp="{P}" xmlns:saml="{A}"{response_declarations} ID="r-1" Version="2.0" IssueInstant="{t}" Destination="{ACS}"><saml:Issuer>{IDP}</saml:Issuer>{rsig}<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:Assertion{assertion_declarations} ID="a-1" Version="2.0" IssueInstant="{t}"><saml:Issuer>{IDP}</saml:Issuer>{asig}<saml:Subject><saml:NameID>alice@example.com</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="{noa}" Recipient="{ACS}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{nb}" NotOnOrAfter="{noa}"><saml:AudienceRestriction><saml:Audience>{SP}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AttributeStatement><saml:Attribute Name="random"><saml:AttributeValue>{content}</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion></samlp:Response>"#,
            rsig = if sign_response {
                signature("r-1")
            } else {
                String::new()
            },
            asig = if sign_response {
                String::new()
            } else {
                signature("a-1")
            },
        );
        let xpath = if sign_response {
            RESPONSE_SIGNATURE
        } else {
            ASSERTION_SIGNATURE
        };
        let signed = xmlsec1_sign(dir.path(), key, &xml, &[xpath], &format!("rand{seed}"));
        if std::env::var("SMARTCORE_DUMP_RANDOM").as_deref() == Ok(seed.to_string().as_str()) {
            println!("{}", String::from_utf8_lossy(&signed));
        }
        let report = check(&signed, key);
        match &report.outcome {
            Ok(a) if a.name_id.as_deref() == Some("alice@example.com") => {}
            other => failures.push(format!(
                "seed {seed}: {other:?}\n{}",
                String::from_utf8_lossy(&signed)
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
