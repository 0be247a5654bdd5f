//! The identity provider, played: an RSA-2048 key (generated with the `rsa` crate, ring cannot
//! generate RSA keys) and a self-signed certificate (rcgen), and Responses signed the way
//! identity providers sign them (exclusive C14N with our canonicaliser, RSA-SHA256 with ring).

use super::IDP_ENTITY_ID;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::signature::{
    KeyPair as _, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, UnparsedPublicKey,
};
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use smartcore_sso::response;
use time::format_description::well_known::Rfc3339;

const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";

/// ring's system randomness as the `rsa` crate's random source (key generation only).
struct SysRng(ring::rand::SystemRandom);

impl rsa::rand_core::TryRng for SysRng {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        use ring::rand::SecureRandom as _;
        self.0.fill(dst).expect("system randomness");
        Ok(())
    }
}

impl rsa::rand_core::TryCryptoRng for SysRng {}

/// DER: a tag, a length, the content.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// DER INTEGER of an unsigned big-endian number.
fn der_uint(be: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = be.iter().copied().skip_while(|b| *b == 0).collect();
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend(trimmed);
    der(0x02, &content)
}

/// PKCS#8 PrivateKeyInfo of an RSA key (RFC 5208, RFC 8017 A.1.2).
fn pkcs8(key: &rsa::PrivateKey) -> anyhow::Result<Vec<u8>> {
    let missing = || anyhow::anyhow!("the generated RSA key has no CRT values");
    let primes = key.primes();
    anyhow::ensure!(primes.len() == 2, "two primes expected");
    let qinv = key.crt_coefficient().ok_or_else(missing)?;
    let parts = [
        der_uint(&[0]),
        der_uint(&key.n_bytes()),
        der_uint(&key.e_bytes()),
        der_uint(&key.d().to_be_bytes()),
        der_uint(&primes[0].as_ref().to_be_bytes()),
        der_uint(&primes[1].as_ref().to_be_bytes()),
        der_uint(&key.dp().ok_or_else(missing)?.to_be_bytes()),
        der_uint(&key.dq().ok_or_else(missing)?.to_be_bytes()),
        der_uint(&qinv.to_be_bytes()),
    ]
    .concat();
    let rsa_private_key = der(0x30, &parts);
    // AlgorithmIdentifier { rsaEncryption, NULL }.
    let algorithm = der(
        0x30,
        &[
            &[
                0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
            ][..],
            &[0x05, 0x00],
        ]
        .concat(),
    );
    Ok(der(
        0x30,
        &[der_uint(&[0]), algorithm, der(0x04, &rsa_private_key)].concat(),
    ))
}

/// The simulated identity provider: its signing key and certificate.
pub(super) struct Idp {
    pub(super) key: RsaKeyPair,
    /// PKCS#1 RSAPublicKey DER, as ring verifies with it.
    pub(super) public_key: Vec<u8>,
    pub(super) certificate_pem: String,
    pub(super) certificate_b64: String,
}

pub(super) fn idp() -> anyhow::Result<Idp> {
    let mut rng = SysRng(ring::rand::SystemRandom::new());
    for _ in 0..8 {
        let generated = rsa::PrivateKey::new(&mut rng, 2048)
            .map_err(|e| anyhow::anyhow!("RSA key generation: {e}"))?;
        let der = pkcs8(&generated)?;
        // ring may refuse a key whose primes are in the other order: make another.
        let Ok(key) = RsaKeyPair::from_pkcs8(&der) else {
            continue;
        };
        let signer = rcgen::KeyPair::try_from(der.as_slice())?;
        let mut params = rcgen::CertificateParams::new(vec!["idp.sso-bench.example".to_owned()])?;
        params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
        params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(365);
        let certificate = params.self_signed(&signer)?;
        return Ok(Idp {
            public_key: key.public_key().as_ref().to_vec(),
            key,
            certificate_pem: certificate.pem(),
            certificate_b64: STANDARD.encode(certificate.der()),
        });
    }
    anyhow::bail!("ring accepted none of the generated RSA keys")
}

/// One signed Response, with what the cryptography-only figure needs.
pub(super) struct Signed {
    pub(super) xml: String,
    pub(super) canonical_assertion: Vec<u8>,
    pub(super) canonical_signed_info: Vec<u8>,
    pub(super) signature: Vec<u8>,
}

fn signature_template() -> String {
    format!(
        r##"<ds:Signature xmlns:ds="{NS_DSIG}"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#ASSERTION_ID"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>DIGEST_VALUE</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>SIGNATURE_VALUE</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>CERTIFICATE</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>"##
    )
}

pub(super) struct Claims<'a> {
    pub(super) request_id: &'a str,
    pub(super) email: &'a str,
    pub(super) n: usize,
    pub(super) sp_entity_id: &'a str,
    pub(super) acs_url: &'a str,
}

/// A Response the way identity providers send them: the Assertion signed (enveloped), the
/// Response not, the certificate in KeyInfo, a handful of attributes.
pub(super) fn sign_response(idp: &Idp, c: &Claims<'_>) -> anyhow::Result<Signed> {
    let now = time::OffsetDateTime::now_utc();
    let at = now.format(&Rfc3339)?;
    let not_before = (now - time::Duration::minutes(1)).format(&Rfc3339)?;
    let not_on_or_after = (now + time::Duration::minutes(10)).format(&Rfc3339)?;
    let assertion_id = format!("_a{}", uuid::Uuid::now_v7().simple());
    let response_id = format!("_r{}", uuid::Uuid::now_v7().simple());
    let signature = signature_template()
        .replace("ASSERTION_ID", &assertion_id)
        .replace("CERTIFICATE", &idp.certificate_b64);
    let (email, n, request_id) = (c.email, c.n, c.request_id);
    let (sp, acs) = (c.sp_entity_id, c.acs_url);
    let xml = format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{response_id}" Version="2.0" IssueInstant="{at}" Destination="{acs}" InResponseTo="{request_id}"><saml:Issuer>{IDP_ENTITY_ID}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:Assertion xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="{assertion_id}" Version="2.0" IssueInstant="{at}"><saml:Issuer>{IDP_ENTITY_ID}</saml:Issuer>{signature}<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{email}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData InResponseTo="{request_id}" NotOnOrAfter="{not_on_or_after}" Recipient="{acs}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{not_before}" NotOnOrAfter="{not_on_or_after}"><saml:AudienceRestriction><saml:Audience>{sp}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="{at}" SessionIndex="_s{assertion_id}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement><saml:Attribute Name="email" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic"><saml:AttributeValue xsi:type="xs:string">{email}</saml:AttributeValue></saml:Attribute><saml:Attribute Name="displayName" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic"><saml:AttributeValue xsi:type="xs:string">Member {n:06}</saml:AttributeValue></saml:Attribute><saml:Attribute Name="givenName" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic"><saml:AttributeValue xsi:type="xs:string">Member</saml:AttributeValue></saml:Attribute><saml:Attribute Name="surname" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic"><saml:AttributeValue xsi:type="xs:string">{n:06}</saml:AttributeValue></saml:Attribute><saml:Attribute Name="groups" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic"><saml:AttributeValue xsi:type="xs:string">staff</saml:AttributeValue><saml:AttributeValue xsi:type="xs:string">engineering</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion></samlp:Response>"#
    );

    // The digest over the Assertion, its Signature left out (enveloped-signature, exc-c14n).
    let canonical_assertion = {
        let doc = roxmltree::Document::parse(&xml)?;
        let assertion = doc
            .descendants()
            .find(|n| n.attribute("ID") == Some(assertion_id.as_str()))
            .ok_or_else(|| anyhow::anyhow!("no Assertion"))?;
        let signature = assertion
            .children()
            .find(|n| {
                n.tag_name().name() == "Signature" && n.tag_name().namespace() == Some(NS_DSIG)
            })
            .ok_or_else(|| anyhow::anyhow!("no Signature"))?;
        response::canonicalize(assertion, &[], Some(signature.id())).into_bytes()
    };
    let digest = ring::digest::digest(&ring::digest::SHA256, &canonical_assertion);
    let xml = xml.replacen("DIGEST_VALUE", &STANDARD.encode(digest.as_ref()), 1);

    // The signature over the canonical SignedInfo.
    let canonical_signed_info = {
        let doc = roxmltree::Document::parse(&xml)?;
        let signed_info = doc
            .descendants()
            .find(|n| {
                n.tag_name().name() == "SignedInfo" && n.tag_name().namespace() == Some(NS_DSIG)
            })
            .ok_or_else(|| anyhow::anyhow!("no SignedInfo"))?;
        response::canonicalize(signed_info, &[], None).into_bytes()
    };
    let mut signature = vec![0u8; idp.key.public().modulus_len()];
    idp.key
        .sign(
            &RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            &canonical_signed_info,
            &mut signature,
        )
        .map_err(|_| anyhow::anyhow!("RSA signing failed"))?;
    let xml = xml.replacen("SIGNATURE_VALUE", &STANDARD.encode(&signature), 1);
    Ok(Signed {
        xml,
        canonical_assertion,
        canonical_signed_info,
        signature,
    })
}

/// The cryptography alone: the digest of the canonical Assertion and one RSA verification.
pub(super) fn crypto_only(public_key: &[u8], s: &Signed) -> bool {
    let digest = ring::digest::digest(&ring::digest::SHA256, &s.canonical_assertion);
    std::hint::black_box(digest);
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key)
        .verify(&s.canonical_signed_info, &s.signature)
        .is_ok()
}
