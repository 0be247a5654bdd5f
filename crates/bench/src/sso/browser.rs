//! The service side of the benchmark and the browser's requests: the organisation ready for
//! SSO sign-in, served on loopback, `/sso/start` and the Response answering it, the ACS post.

use super::idp::{Claims, Idp, Signed, sign_response};
use super::{DOMAIN, IDP_ENTITY_ID, IDP_SSO_URL};
use crate::{db, fixture};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use smartcore_app::{AddContact, App, SsoInput};
use std::sync::Arc;
use tokio::sync::oneshot;

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

pub(super) fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .find(|c| c.starts_with(&format!("{name}=")) && c.len() > name.len() + 1)
}

/// An organisation ready for SSO sign-in with `members` members in its verified domain, served
/// on a loopback port by the real router and server.
pub(super) struct Fixture {
    pub(super) app: App,
    pub(super) base_url: String,
    pub(super) org_id: smartcore_domain::OrgId,
    pub(super) stop: oneshot::Sender<()>,
}

pub(super) async fn org_ready_for_sso(
    url: &str,
    idp: &Idp,
    members: usize,
) -> anyhow::Result<Fixture> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let app = db::open_with(url, &[("SMARTCORE_PUBLIC_URL", &base_url)]).await?;
    anyhow::ensure!(app.public_url() == base_url, "public URL not taken");
    let org = app.operations().create_org("SSO Bench").await?;
    let (_, actor) =
        fixture::admin_with_token(&app, Some(&org), &format!("admin@{DOMAIN}")).await?;
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
    let org_id = org.org_id();
    let domain = app.setup().add_domain(&actor, &org_id, DOMAIN).await?;
    let domain_id = smartcore_domain::DomainId::parse(&domain.id)
        .ok_or_else(|| anyhow::anyhow!("domain id"))?;
    let store = smartcore_storage::Store::connect(url).await?;
    let record = store.domain(&org_id, &domain_id).await?;
    store
        .mark_domain_verified(
            &record,
            &smartcore_domain::AuditActor::User(actor.user_id.clone()),
            app.now(),
        )
        .await?;
    app.contacts()
        .add_contact(
            &actor,
            &org_id,
            AddContact::Manual {
                email: format!("it@{DOMAIN}"),
                name: Some("IT".into()),
            },
        )
        .await?;
    app.setup()
        .configure_sso(
            &actor,
            &org_id,
            SsoInput::Fields {
                entity_id: IDP_ENTITY_ID.to_owned(),
                sso_url: IDP_SSO_URL.to_owned(),
                certificate_pem: idp.certificate_pem.clone(),
            },
        )
        .await?;
    app.setup().enable_sso(&actor, &org_id).await?;

    let stop = fixture::serve_stoppable(listener, &app, &base_url);
    Ok(Fixture {
        app,
        base_url,
        org_id,
        stop,
    })
}

/// A sign-in ready to post: the form body and the browser's cookie.
pub(super) struct Prepared {
    /// The posted `SAMLResponse` value (base64).
    pub(super) value: String,
    pub(super) form: String,
    pub(super) cookie: String,
    pub(super) signed: Signed,
}

pub(super) fn http_client(clients: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(clients)
        .build()?)
}

/// `/sso/start` for member `i`, then the Response answering its request.
pub(super) async fn prepare(
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
pub(super) async fn post_acs(
    http: &reqwest::Client,
    acs: &str,
    form: &str,
) -> anyhow::Result<String> {
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
