//! SAML sign-in: `POST /saml/{org}/acs` under concurrent clients, beside the cost of the
//! verification and of its cryptography alone, measured in the same run.
//!
//! Per database (a fresh SQLite file, and PostgreSQL when reachable):
//! - **ACS**: the whole `POST /saml/{org}/acs` over real HTTP on loopback, served by the real
//!   router and server, from `clients` concurrent clients: form decoding, verification (on the
//!   blocking pool), the unit of work marking the request answered and the assertion used, the
//!   person, the attempt and the hand-over ticket. Sign-ins per second and p50/p99/max.
//! - **complete**: the follow-up `GET /sso/complete?ticket=` with the browser's `smartcore_sso`
//!   cookie, which opens the session (same clients).
//! - **verify**: [`smartcore_sso::response::verify`] called directly on each Response, single
//!   thread (p50).
//! - **crypto**: the cryptography alone on the same Responses: SHA-256 of the canonical
//!   Assertion bytes plus one RSA-2048 PKCS#1 v1.5 SHA-256 verification of the canonical
//!   SignedInfo with ring (p50). verify/crypto says what the XML work (parsing, shape checks,
//!   canonicalisation, claims) costs beside the unavoidable cryptography; ACS beside verify says
//!   what the database and HTTP add.
//! - **where the time goes**: `verify_signature_only`, the XML parse, the two
//!   canonicalisations and a certificate parse (p50 each); the ACS with one client over HTTP
//!   and `SsoSignIn::sso_acs` called directly (no HTTP); this process's CPU time per sign-in over the
//!   loaded run (service and clients share the process, so read it beside the cores used).
//!
//! The identity provider is played here: an RSA-2048 key (generated with the `rsa` crate, ring
//! cannot generate RSA keys) and a self-signed certificate (rcgen) configured for the
//! organisation through `Setup::configure_sso`. Every Response answers a real request: the
//! request ID is read from the AuthnRequest of `GET /sso/start?email=` (whose cookie the
//! completion presents), and each Assertion has its own ID and an enveloped signature
//! (exclusive C14N, RSA-SHA256, SHA-256 digest) computed with our canonicaliser and ring.
//! Responses are made before timing, and each is checked to be accepted by `verify` (a
//! benchmark of refusals measures nothing); the ACS must answer every one with a ticket.

use crate::db;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::StreamExt;
use ring::signature::{
    KeyPair as _, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, UnparsedPublicKey,
};
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use smartcore_app::{AddContact, App, SsoInput};
use smartcore_sso::Certificate;
use smartcore_sso::response::{self, Expected};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use time::format_description::well_known::Rfc3339;
use tokio::sync::oneshot;

const DOMAIN: &str = "sso-bench.example";
const IDP_ENTITY_ID: &str = "https://idp.sso-bench.example/saml";
const IDP_SSO_URL: &str = "https://idp.sso-bench.example/saml/sso";
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
struct Idp {
    key: RsaKeyPair,
    /// PKCS#1 RSAPublicKey DER, as ring verifies with it.
    public_key: Vec<u8>,
    certificate_pem: String,
    certificate_b64: String,
}

fn idp() -> anyhow::Result<Idp> {
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
struct Signed {
    xml: String,
    canonical_assertion: Vec<u8>,
    canonical_signed_info: Vec<u8>,
    signature: Vec<u8>,
}

fn signature_template() -> String {
    format!(
        r##"<ds:Signature xmlns:ds="{NS_DSIG}"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#ASSERTION_ID"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>DIGEST_VALUE</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>SIGNATURE_VALUE</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>CERTIFICATE</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>"##
    )
}

struct Claims<'a> {
    request_id: &'a str,
    email: &'a str,
    n: usize,
    sp_entity_id: &'a str,
    acs_url: &'a str,
}

/// A Response the way identity providers send them: the Assertion signed (enveloped), the
/// Response not, the certificate in KeyInfo, a handful of attributes.
fn sign_response(idp: &Idp, c: &Claims<'_>) -> anyhow::Result<Signed> {
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
fn crypto_only(public_key: &[u8], s: &Signed) -> bool {
    let digest = ring::digest::digest(&ring::digest::SHA256, &s.canonical_assertion);
    std::hint::black_box(digest);
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key)
        .verify(&s.canonical_signed_info, &s.signature)
        .is_ok()
}

/// `application/x-www-form-urlencoded` of a value.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + value.len() / 8);
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// The ID of the AuthnRequest in a Redirect-binding URL (base64 of raw DEFLATE).
fn request_id(location: &str) -> anyhow::Result<String> {
    let url = reqwest::Url::parse(location)?;
    let saml_request = url
        .query_pairs()
        .find(|(k, _)| k == "SAMLRequest")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| anyhow::anyhow!("no SAMLRequest in {location}"))?;
    let deflated = STANDARD.decode(saml_request)?;
    let xml = miniz_oxide::inflate::decompress_to_vec(&deflated)
        .map_err(|e| anyhow::anyhow!("SAMLRequest is not raw DEFLATE: {e:?}"))?;
    let xml = String::from_utf8(xml)?;
    let doc = roxmltree::Document::parse(&xml)?;
    doc.root_element()
        .attribute("ID")
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("the AuthnRequest has no ID"))
}

fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .find(|c| c.starts_with(&format!("{name}=")) && c.len() > name.len() + 1)
}

/// An organisation ready for SSO sign-in with `members` members in its verified domain, served
/// on a loopback port by the real router and server.
struct Fixture {
    app: App,
    base_url: String,
    org_id: String,
    stop: oneshot::Sender<()>,
}

async fn fixture(url: &str, idp: &Idp, members: usize) -> anyhow::Result<Fixture> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let app = db::open_with(url, &[("SMARTCORE_PUBLIC_URL", &base_url)]).await?;
    anyhow::ensure!(app.public_url() == base_url, "public URL not taken");
    let org = app.operations().create_org("SSO Bench").await?;
    let admin = format!("admin@{DOMAIN}");
    app.accounts()
        .create_user(&admin, Some("Bench Admin"), None, false)
        .await?;
    app.operations()
        .add_member(&org, &admin, smartcore_domain::Role::Admin)
        .await?;
    let token = app.accounts().create_api_token(&admin).await?;
    let actor = app.accounts().bearer_actor(&token).await?;
    let rows = (0..members).map(|i| {
        Ok(smartcore_app::MemberRow {
            line: i as u64 + 1,
            name: format!("Member {i:06}"),
            email: format!("member{i}@{DOMAIN}"),
            role: Some("member".into()),
        })
    });
    app.operations().import_members(&org, rows, |_| {}).await?;

    // A verified domain: added through the App, marked verified in the store (what a
    // successful DNS look-up does).
    let domain = app.setup().add_domain(&actor, &org.id, DOMAIN).await?;
    let org_id = org.org_id();
    let domain_id = smartcore_domain::DomainId::parse(&domain.id)
        .ok_or_else(|| anyhow::anyhow!("domain id"))?;
    let store = smartcore_storage::Store::connect(url).await?;
    let record = store.domain(&org_id, &domain_id).await?;
    store
        .mark_domain_verified(&record, actor.user_id.as_str(), app.now())
        .await?;
    app.contacts()
        .add_contact(
            &actor,
            &org.id,
            AddContact::Manual {
                email: format!("it@{DOMAIN}"),
                name: Some("IT".into()),
            },
        )
        .await?;
    app.setup()
        .configure_sso(
            &actor,
            &org.id,
            SsoInput::Fields {
                entity_id: IDP_ENTITY_ID.to_owned(),
                sso_url: IDP_SSO_URL.to_owned(),
                certificate_pem: idp.certificate_pem.clone(),
            },
        )
        .await?;
    app.setup().enable_sso(&actor, &org.id).await?;

    let router = smartcore_web::router(
        app.clone(),
        smartcore_web::WebConfig {
            public_url: base_url.clone(),
            ..Default::default()
        },
    );
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let stopped = async {
            let _ = stopped.await;
        };
        let _ = smartcore::server::run(listener, router, Default::default(), stopped).await;
    });
    Ok(Fixture {
        app,
        base_url,
        org_id: org.id,
        stop,
    })
}

/// A sign-in ready to post: the form body and the browser's cookie.
struct Prepared {
    /// The posted `SAMLResponse` value (base64).
    value: String,
    form: String,
    cookie: String,
    signed: Signed,
}

fn http_client(clients: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(clients)
        .build()?)
}

/// `/sso/start` for member `i`, then the Response answering its request.
async fn prepare(
    http: &reqwest::Client,
    fixture: &Fixture,
    idp: &Arc<Idp>,
    i: usize,
) -> anyhow::Result<Prepared> {
    let email = format!("member{i}@{DOMAIN}");
    let r = http
        .get(format!("{}/sso/start", fixture.base_url))
        .query(&[("email", email.as_str())])
        .send()
        .await?;
    anyhow::ensure!(
        r.status() == reqwest::StatusCode::SEE_OTHER,
        "/sso/start answered {}",
        r.status()
    );
    let cookie = set_cookie(&r, "smartcore_sso")
        .ok_or_else(|| anyhow::anyhow!("/sso/start set no smartcore_sso cookie"))?;
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| anyhow::anyhow!("/sso/start: no Location"))?;
    let request = request_id(location)?;
    let sp_entity_id = format!("{}/saml/{}", fixture.app.public_url(), fixture.org_id);
    let acs_url = format!("{sp_entity_id}/acs");
    let idp = idp.clone();
    let signed = tokio::task::spawn_blocking(move || {
        sign_response(
            &idp,
            &Claims {
                request_id: &request,
                email: &email,
                n: i,
                sp_entity_id: &sp_entity_id,
                acs_url: &acs_url,
            },
        )
    })
    .await??;
    let value = STANDARD.encode(&signed.xml);
    let form = format!("SAMLResponse={}&RelayState=", form_encode(&value));
    Ok(Prepared {
        value,
        form,
        cookie,
        signed,
    })
}

/// One ACS request; the `/sso/complete?ticket=` location it answered with.
async fn post_acs(http: &reqwest::Client, acs: &str, form: &str) -> anyhow::Result<String> {
    let r = http
        .post(acs)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned())
        .send()
        .await?;
    let status = r.status();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match location {
        Some(l) if status == 303 && l.starts_with("/sso/complete?ticket=") => Ok(l),
        _ => anyhow::bail!(
            "the ACS did not sign in: {status} {}",
            r.text().await.unwrap_or_default()
        ),
    }
}

/// Where verify's time goes, single thread, per Response (each a p50 over the run).
#[derive(Default)]
struct Breakdown {
    verify: Vec<Duration>,
    signature_only: Vec<Duration>,
    crypto: Vec<Duration>,
    parse: Vec<Duration>,
    c14n: Vec<Duration>,
    certificate: Vec<Duration>,
}

fn p50(v: &mut [Duration]) -> Duration {
    v.sort();
    percentile(v, 50.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// CPU time (user + system) this process has used so far: the service and its clients.
fn cpu_time() -> Duration {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with an owned out-parameter.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs `requests` from `clients` concurrent clients, each taking the next index; returns the
/// latencies and the wall time.
async fn drive<F, Fut, T>(
    clients: usize,
    requests: usize,
    one: F,
) -> anyhow::Result<(Vec<Duration>, Duration, Vec<(usize, T)>)>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<T>> + Send,
    T: Send + 'static,
{
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (next, one) = (next.clone(), one.clone());
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    return anyhow::Ok(seen);
                }
                let t = Instant::now();
                let out = one(i).await?;
                seen.push((t.elapsed(), i, out));
            }
        }));
    }
    let mut latencies = Vec::with_capacity(requests);
    let mut outputs = Vec::with_capacity(requests);
    for task in tasks {
        for (d, i, out) in task.await?? {
            latencies.push(d);
            outputs.push((i, out));
        }
    }
    let wall = started.elapsed();
    latencies.sort();
    Ok((latencies, wall, outputs))
}

pub async fn run(sign_ins: usize, clients: usize) -> anyhow::Result<()> {
    println!(
        "SAML sign-in: POST /saml/{{org}}/acs from {clients} concurrent clients over loopback HTTP, {sign_ins} sign-ins of existing members per database"
    );
    println!(
        "(RSA-2048 PKCS#1 v1.5 SHA-256 signed Assertion, exc-c14n; every Response answers a request from /sso/start)"
    );
    let started = Instant::now();
    let idp = Arc::new(tokio::task::spawn_blocking(idp).await??);
    println!(
        "identity provider key and certificate generated in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let certificates = Certificate::from_pem(&idp.certificate_pem)?;

    let mut lines = Vec::new();
    let mut parts = Vec::new();
    // Sign-ins measured one at a time, over HTTP and by calling the App directly.
    let serial = sign_ins.min(200);
    for kind in db::kinds().await {
        let database = db::fresh(kind).await?;
        let total = sign_ins + 2 * serial;
        let fixture = fixture(&database.url, &idp, total).await?;
        let http = http_client(clients)?;

        // The Responses, outside the timed part.
        let t = Instant::now();
        let prepared: Vec<Prepared> = futures_util::stream::iter(0..total)
            .map(|i| prepare(&http, &fixture, &idp, i))
            .buffered(8)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<anyhow::Result<_>>()?;
        let size = prepared.first().map_or(0, |p| p.signed.xml.len());
        println!(
            "{}: {total} requests started and Responses signed in {:.1} s ({size} bytes of XML each)",
            kind.label(),
            t.elapsed().as_secs_f64()
        );

        // verify and the cryptography alone, single thread, on every Response; each must pass.
        let sp_entity_id = format!("{}/saml/{}", fixture.app.public_url(), fixture.org_id);
        let acs_url = format!("{sp_entity_id}/acs");
        let mut b = tokio::task::block_in_place(|| {
            let expected = Expected {
                idp_entity_id: IDP_ENTITY_ID,
                sp_entity_id: &sp_entity_id,
                acs_url: &acs_url,
                certificates: &certificates,
                now: time::OffsetDateTime::now_utc(),
            };
            let mut b = Breakdown::default();
            for p in &prepared {
                let xml = p.signed.xml.as_bytes();
                let t = Instant::now();
                let report = response::verify(xml, &expected);
                b.verify.push(t.elapsed());
                if let Err(refusal) = &report.outcome {
                    anyhow::bail!("a generated Response was refused: {refusal}");
                }
                let t = Instant::now();
                let ok = crypto_only(&idp.public_key, &p.signed);
                b.crypto.push(t.elapsed());
                anyhow::ensure!(ok, "the RSA signature did not verify on its own");
                let t = Instant::now();
                let report = response::verify_signature_only(xml, &certificates);
                b.signature_only.push(t.elapsed());
                anyhow::ensure!(report.outcome.is_ok(), "verify_signature_only refused");
                // The parts: parsing, the two canonicalisations, one certificate parse (verify
                // parses the KeyInfo certificate, and the configured one for its key).
                let t = Instant::now();
                let doc = roxmltree::Document::parse(&p.signed.xml)?;
                b.parse.push(t.elapsed());
                let t = Instant::now();
                let assertion = doc
                    .root_element()
                    .children()
                    .find(|n| n.tag_name().name() == "Assertion")
                    .ok_or_else(|| anyhow::anyhow!("no Assertion"))?;
                let signature = assertion
                    .children()
                    .find(|n| n.tag_name().name() == "Signature")
                    .ok_or_else(|| anyhow::anyhow!("no Signature"))?;
                let signed_info = signature
                    .children()
                    .find(|n| n.tag_name().name() == "SignedInfo")
                    .ok_or_else(|| anyhow::anyhow!("no SignedInfo"))?;
                let a = response::canonicalize(assertion, &[], Some(signature.id()));
                let si = response::canonicalize(signed_info, &[], None);
                b.c14n.push(t.elapsed());
                anyhow::ensure!(a.as_bytes() == p.signed.canonical_assertion.as_slice());
                anyhow::ensure!(si.as_bytes() == p.signed.canonical_signed_info.as_slice());
                let t = Instant::now();
                let c = Certificate::from_der_base64(&idp.certificate_b64)?;
                b.certificate.push(t.elapsed());
                std::hint::black_box(c);
            }
            anyhow::Ok(b)
        })?;

        // Unloaded: one client over HTTP, then SsoSignIn::sso_acs called directly (no HTTP).
        let acs = format!("{}/saml/{}/acs", fixture.base_url, fixture.org_id);
        let forms: Arc<Vec<String>> = Arc::new(prepared.iter().map(|p| p.form.clone()).collect());
        let (mut serial_http, _, _) = {
            let (http, acs, forms) = (http.clone(), acs.clone(), forms.clone());
            drive(1, serial, move |i| {
                let (http, acs, forms) = (http.clone(), acs.clone(), forms.clone());
                async move { post_acs(&http, &acs, &forms[sign_ins + i]).await }
            })
            .await?
        };
        let mut serial_app = Vec::with_capacity(serial);
        for p in &prepared[sign_ins + serial..] {
            let t = Instant::now();
            let outcome = fixture
                .app
                .sso_sign_in()
                .sso_acs(&fixture.org_id, &p.value, None)
                .await?;
            serial_app.push(t.elapsed());
            anyhow::ensure!(
                matches!(outcome, smartcore_app::AcsOutcome::SignIn { .. }),
                "SsoSignIn::sso_acs did not sign in: {outcome:?}"
            );
        }

        // The timed part: the ACS under `clients` concurrent clients.
        let cpu_before = cpu_time();
        let (acs_times, acs_wall, tickets) = {
            let (http, acs, forms) = (http.clone(), acs.clone(), forms.clone());
            drive(clients, sign_ins, move |i| {
                let (http, acs, forms) = (http.clone(), acs.clone(), forms.clone());
                async move { post_acs(&http, &acs, &forms[i]).await }
            })
            .await?
        };

        let acs_cpu = cpu_time().saturating_sub(cpu_before);

        // The follow-up completion, same clients.
        let mut by_index: Vec<(String, String)> = vec![Default::default(); sign_ins];
        for (i, location) in tickets {
            by_index[i] = (location, prepared[i].cookie.clone());
        }
        let by_index = Arc::new(by_index);
        let base = fixture.base_url.clone();
        let (complete_times, complete_wall, _) = drive(clients, sign_ins, move |i| {
            let (http, by_index, base) = (http.clone(), by_index.clone(), base.clone());
            async move {
                let (location, cookie) = &by_index[i];
                let r = http
                    .get(format!("{base}{location}"))
                    .header("cookie", cookie)
                    .send()
                    .await?;
                anyhow::ensure!(
                    r.status() == 303 && set_cookie(&r, "smartcore_session").is_some(),
                    "completion {i} opened no session: {} {:?}",
                    r.status(),
                    r.headers()
                );
                Ok(())
            }
        })
        .await?;

        let verify_p50 = p50(&mut b.verify);
        let crypto_p50 = p50(&mut b.crypto);
        parts.push(format!(
            "{:<11} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>12.2} {:>12.2} {:>12.2} {:>11.2} {:>10.2}",
            kind.label(),
            ms(verify_p50),
            ms(p50(&mut b.signature_only)),
            ms(crypto_p50),
            ms(p50(&mut b.parse)),
            ms(p50(&mut b.c14n)),
            ms(p50(&mut b.certificate)),
            ms(p50(&mut serial_http)),
            ms(percentile(&serial_http, 99.0)),
            ms(p50(&mut serial_app)),
            ms(acs_cpu) / sign_ins as f64,
            acs_cpu.as_secs_f64() / acs_wall.as_secs_f64(),
        ));
        lines.push(format!(
            "{:<11} {:>8} {:>11.0} {:>8.2} {:>8.2} {:>8.2} {:>10.0} {:>8.2} {:>8.2} {:>10.3} {:>10.3} {:>9.2}x",
            kind.label(),
            sign_ins,
            sign_ins as f64 / acs_wall.as_secs_f64(),
            ms(percentile(&acs_times, 50.0)),
            ms(percentile(&acs_times, 99.0)),
            ms(acs_times.last().copied().unwrap_or_default()),
            sign_ins as f64 / complete_wall.as_secs_f64(),
            ms(percentile(&complete_times, 50.0)),
            ms(percentile(&complete_times, 99.0)),
            ms(verify_p50),
            ms(crypto_p50),
            verify_p50.as_secs_f64() / crypto_p50.as_secs_f64(),
        ));
        fixture.stop.send(()).ok();
        drop(database);
    }
    println!();
    println!(
        "{:<11} {:>8} {:>11} {:>8} {:>8} {:>8} {:>10} {:>8} {:>8} {:>10} {:>10} {:>10}",
        "database",
        "requests",
        "sign-ins/s",
        "ACS p50",
        "ACS p99",
        "ACS max",
        "complete/s",
        "cpl p50",
        "cpl p99",
        "verify p50",
        "crypto p50",
        "verify/crypto"
    );
    for line in lines {
        println!("{line}");
    }
    println!(
        "(times in ms; verify = smartcore_sso::response::verify called directly, single thread; crypto = SHA-256 of the canonical Assertion + one ring RSA-2048 verification of the same Response)"
    );
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!();
    println!("where the time goes, single thread, p50 in ms:");
    println!(
        "{:<11} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12} {:>12} {:>12} {:>11} {:>10}",
        "database",
        "verify",
        "sig only",
        "crypto",
        "XML parse",
        "2x c14n",
        "cert parse",
        "ACS 1 client",
        "1 client p99",
        "SsoSignIn::sso_acs",
        "CPU/sign-in",
        "cores used"
    );
    for line in parts {
        println!("{line}");
    }
    println!(
        "(sig only = verify_signature_only; XML parse = roxmltree of the Response; 2x c14n = the Assertion and SignedInfo canonicalised; cert parse = one Certificate::from_der_base64 of the 2048-bit certificate, which verify does for KeyInfo, and x509-parses the configured one again for its key; ACS 1 client = POST /saml/{{org}}/acs with one client, {serial} sign-ins; SsoSignIn::sso_acs = the use case called directly, no HTTP, {serial} sign-ins; CPU/sign-in and cores used = this process's CPU time (service and clients together) over the loaded ACS run, per sign-in and per second of it; {cores} cores on this machine)"
    );
    println!("targets: verify within 3x its cryptography; ACS p99 <= 10 ms on SQLite");
    Ok(())
}
