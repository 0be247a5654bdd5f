//! Helpers shared by the tests that sign with the `xmlsec1` tool: keys and certificates made by
//! `openssl`, signature templates, and signing passes.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use smartcore_sso::Certificate;
use smartcore_sso::response::SignatureAlgorithm;

pub const P: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const A: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const IDP: &str = "https://idp.example.org/saml";
pub const SP: &str = "https://sp.example.org/saml/metadata";
pub const ACS: &str = "https://sp.example.org/saml/acs";

pub fn tools_present() -> bool {
    let ok = |tool: &str| {
        Command::new(tool)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
            || Command::new(tool)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
    };
    if ok("xmlsec1") && ok("openssl") {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("xmlsec1 and openssl must be on PATH under CI");
    }
    println!("skipping: xmlsec1 or openssl is not on PATH (apt-get install xmlsec1)");
    false
}

/// A signing key made by openssl, with its certificate.
pub struct Key {
    pub key: PathBuf,
    pub cert: PathBuf,
    pub certificate: Certificate,
    pub signature_method: &'static str,
    pub digest_method: &'static str,
    pub algorithm: SignatureAlgorithm,
    pub weak: bool,
}

pub fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run tool");
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn make_key(dir: &Path, name: &str, newkey: &[&str], kind: KeyKind) -> Key {
    let key = dir.join(format!("{name}.key"));
    let cert = dir.join(format!("{name}.crt"));
    let mut cmd = Command::new("openssl");
    cmd.args(["req", "-x509", "-nodes", "-days", "30", "-batch"])
        .args(["-subj", &format!("/CN={name}.idp.example.org")])
        .args(newkey)
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert);
    run(&mut cmd);
    let certificate = Certificate::from_pem(&std::fs::read_to_string(&cert).unwrap())
        .unwrap()
        .remove(0);
    let (signature_method, digest_method, algorithm) = match kind {
        KeyKind::RsaSha256 => (
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "http://www.w3.org/2001/04/xmlenc#sha256",
            SignatureAlgorithm::RsaSha256,
        ),
        KeyKind::RsaSha1 => (
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
            "http://www.w3.org/2000/09/xmldsig#sha1",
            SignatureAlgorithm::RsaSha1,
        ),
        KeyKind::EcdsaSha256 => (
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
            "http://www.w3.org/2001/04/xmlenc#sha256",
            SignatureAlgorithm::EcdsaSha256,
        ),
        KeyKind::EcdsaSha384 => (
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
            "http://www.w3.org/2001/04/xmldsig-more#sha384",
            SignatureAlgorithm::EcdsaSha384,
        ),
        KeyKind::RsaSha512 => (
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
            "http://www.w3.org/2001/04/xmlenc#sha512",
            SignatureAlgorithm::RsaSha512,
        ),
    };
    Key {
        key,
        cert,
        certificate,
        signature_method,
        digest_method,
        algorithm,
        weak: newkey.contains(&"rsa:1024"),
    }
}

#[derive(Clone, Copy)]
pub enum KeyKind {
    RsaSha256,
    RsaSha1,
    RsaSha512,
    EcdsaSha256,
    EcdsaSha384,
}

pub fn keys(dir: &Path) -> Vec<Key> {
    vec![
        make_key(dir, "rsa2048", &["-newkey", "rsa:2048"], KeyKind::RsaSha256),
        make_key(
            dir,
            "rsa2048sha1",
            &["-newkey", "rsa:2048"],
            KeyKind::RsaSha1,
        ),
        make_key(dir, "rsa3072", &["-newkey", "rsa:3072"], KeyKind::RsaSha512),
        make_key(dir, "rsa1024", &["-newkey", "rsa:1024"], KeyKind::RsaSha1),
        make_key(
            dir,
            "p256",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            KeyKind::EcdsaSha256,
        ),
        make_key(
            dir,
            "p384",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
            KeyKind::EcdsaSha384,
        ),
    ]
}

/// An empty signature template for xmlsec1 to fill. `ds` is the prefix for the XML-DSig
/// namespace ("" for the default namespace).
pub fn signature_template(key: &Key, ds: &str, id: &str, inclusive: Option<&str>) -> String {
    let (decl, p) = if ds.is_empty() {
        (
            "xmlns=\"http://www.w3.org/2000/09/xmldsig#\"".to_string(),
            String::new(),
        )
    } else {
        (
            format!("xmlns:{ds}=\"http://www.w3.org/2000/09/xmldsig#\""),
            format!("{ds}:"),
        )
    };
    let c14n_params = match inclusive {
        Some(list) => format!(
            "<ec:InclusiveNamespaces xmlns:ec=\"http://www.w3.org/2001/10/xml-exc-c14n#\" PrefixList=\"{list}\"/>"
        ),
        None => String::new(),
    };
    format!(
        "<{p}Signature {decl}>\n  <{p}SignedInfo>\n    <{p}CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\">{c14n_params}</{p}CanonicalizationMethod>\n    <{p}SignatureMethod Algorithm=\"{sm}\"/>\n    <{p}Reference URI=\"#{id}\"><{p}Transforms><{p}Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/><{p}Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\">{c14n_params}</{p}Transform></{p}Transforms><{p}DigestMethod Algorithm=\"{dm}\"/><{p}DigestValue></{p}DigestValue></{p}Reference>\n  </{p}SignedInfo>\n  <{p}SignatureValue></{p}SignatureValue>\n  <{p}KeyInfo><{p}X509Data></{p}X509Data></{p}KeyInfo>\n</{p}Signature>",
        sm = key.signature_method,
        dm = key.digest_method,
    )
}

/// Signs `xml` with xmlsec1, one pass per XPath (each selecting the Signature to fill), in
/// order; IDs are the `ID` attributes of Assertion and Response.
pub fn xmlsec1_sign(dir: &Path, key: &Key, xml: &str, xpaths: &[&str], tag: &str) -> Vec<u8> {
    let input = dir.join(format!("in-{tag}.xml"));
    std::fs::write(&input, xml).unwrap();
    let keys = format!("{},{}", key.key.display(), key.cert.display());
    let mut current = input;
    for (i, xpath) in xpaths.iter().enumerate() {
        let output = dir.join(format!("out-{tag}-{i}.xml"));
        run(Command::new("xmlsec1")
            .arg("--sign")
            .args(["--privkey-pem", &keys])
            .args([
                "--id-attr:ID",
                "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
                "--id-attr:ID",
                "urn:oasis:names:tc:SAML:2.0:protocol:Response",
                "--id-attr:ID",
                "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor",
                "--id-attr:ID",
                "urn:example:other:Thing",
            ])
            .args(["--node-xpath", xpath])
            .arg("--output")
            .arg(&output)
            .arg(&current));
        current = output;
    }
    std::fs::read(current).unwrap()
}

/// XPath of the Assertion's signature and of the Response's.
pub const ASSERTION_SIGNATURE: &str = "//*[local-name()='Assertion']/*[local-name()='Signature']";
pub const RESPONSE_SIGNATURE: &str = "/*[local-name()='Response']/*[local-name()='Signature']";
