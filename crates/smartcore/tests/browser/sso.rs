//! Signing in with SSO in headless Chromium, as a person would: the sign-in page's "Sign in with
//! SSO" form, the identity provider's own login page (pysaml2, see `../it/saml_idp.rs`), and back
//! through our ACS; the administrator's Test sign-in; a refusal shown in words. axe-core checks
//! each of these pages on the way. Every wait is for a URL or an element, never a fixed time.

use crate::axe::{axe_source, serious_violations};
use crate::driver::{Browser, keys::ENTER};
use crate::saml_idp::SamlIdp;
use crate::support::{Backend, TestApp};
use dns_fake::DnsFake;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use smartcore_domain::Role;
use std::time::Duration;

const DOMAIN: &str = "acme.example";
/// Not a member yet: signing in with SSO makes her one, just in time.
const NEWCOMER: &str = "ada@acme.example";
/// The administrator, who signs in with a password.
const ADMIN: &str = "grace@acme.example";

/// An organisation ready for SSO in a browser: a verified domain (through the DNS fake), an IT
/// contact, the IdP's metadata, and (when `enable`) SSO enabled; the IdP knows our SP.
struct SsoScene {
    app: TestApp,
    idp: SamlIdp,
    _dns: DnsFake,
    org: String,
    admin_token: String,
}

impl SsoScene {
    /// The scene and a browser, or `None` (one line) when the IdP or the browser is missing
    /// outside CI.
    async fn with_browser(enable: bool) -> Option<(SsoScene, Browser)> {
        // The IdP's pages at `localhost`, ours at `127.0.0.1`: another site, as in real life, so
        // that its page's POST to our ACS is cross-site (another port alone would not be) and
        // the SameSite cookies are put to the test.
        let idp = SamlIdp::start_with(Some("localhost")).await?;
        let dns = DnsFake::start().await;
        let env = [
            ("SMARTCORE_DNS_SERVER", dns.addr().to_string()),
            ("SMARTCORE_METADATA_ALLOW_PRIVATE", "127.0.0.1".to_owned()),
        ];
        let app = TestApp::spawn_with(Backend::Sqlite, &env).await?;
        let org = app
            .app
            .operations()
            .create_org("Acme")
            .await
            .expect("create org")
            .id;
        let (_, admin_token) = app.member(&org, "Grace Hopper", ADMIN, Role::Admin).await;
        let scene = SsoScene {
            app,
            idp,
            _dns: dns,
            org,
            admin_token,
        };
        scene.verify_domain().await;
        scene
            .app
            .add_manual(&scene.org, &scene.admin_token, "it@acme.example")
            .await;
        let metadata = scene.idp.metadata_xml().await;
        scene
            .api(Method::PUT, "/sso", json!({ "metadata_xml": metadata }))
            .await;
        let sp = scene
            .app
            .http
            .get(format!(
                "{}/saml/{}/metadata",
                scene.app.base_url, scene.org
            ))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        scene.idp.add_sp(&sp).await;
        if enable {
            scene.api(Method::POST, "/sso/enable", json!({})).await;
        }
        let browser = Browser::start(&scene.app).await?;
        Some((scene, browser))
    }

    /// A call to `/api/v1/orgs/{org}{path}` as the administrator, which must answer 200.
    async fn api(&self, method: Method, path: &str, body: Value) -> Value {
        let r = self
            .app
            .request(
                method,
                &format!("/api/v1/orgs/{}{path}", self.org),
                Some(&self.admin_token),
            )
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{path}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn get(&self, path: &str) -> Value {
        self.app
            .get(
                &format!("/api/v1/orgs/{}{path}", self.org),
                &self.admin_token,
            )
            .await
            .json()
            .await
            .unwrap()
    }

    async fn verify_domain(&self) {
        let d = self
            .app
            .post(
                &format!("/api/v1/orgs/{}/domains", self.org),
                &self.admin_token,
                json!({ "domain": DOMAIN }),
            )
            .await
            .json::<Value>()
            .await
            .unwrap();
        self._dns.set_txt(
            &format!("_smartcore-challenge.{DOMAIN}"),
            vec![d["dns_record"]["value"].as_str().unwrap().to_owned()],
        );
        let id = d["id"].as_str().unwrap();
        self.api(Method::POST, &format!("/domains/{id}/verify"), json!({}))
            .await;
    }

    async fn latest_attempt(&self) -> Value {
        self.get("/sso/attempts").await["attempts"][0].clone()
    }

    /// The organisation's members' addresses.
    async fn members(&self) -> Vec<String> {
        let list = self.get("/members").await;
        let mut emails: Vec<String> = list["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["email"].as_str().unwrap_or_default().to_owned())
            .collect();
        emails.sort();
        emails
    }
}

/// axe-core on the current page, when it could be had (under CI it must).
async fn axe_here(b: &Browser, axe: &Option<String>, page: &str, found: &mut Vec<String>) {
    if let Some(axe) = axe {
        found.extend(
            serious_violations(b, axe)
                .await
                .into_iter()
                .map(|v| format!("{page}: {v}")),
        );
    }
}

/// The path of the page the browser shows, after checking it is one of ours (not the IdP's).
async fn our_path(b: &Browser) -> String {
    let url = b.client.current_url().await.expect("url");
    let here = format!("{}://{}", url.scheme(), url.authority());
    assert_eq!(here, b.base_url, "expected one of our pages, at {url}");
    url.path().to_owned()
}

/// Waits for the identity provider's login page and signs in there as `email`.
async fn sign_in_at_the_idp(b: &Browser, email: &str) {
    // A CSP that blocked the way there (form-action covers the redirect after a form) would
    // leave the browser on our page, or on Chromium's error page.
    b.eventually(
        "the identity provider's login page",
        Duration::from_secs(10),
        "return location.hostname === 'localhost' && !!document.querySelector('#idp-email')",
    )
    .await;
    b.find("#idp-email").await.send_keys(email).await.unwrap();
    b.find("#idp-submit").await.click().await.unwrap();
}

async fn session_cookie(b: &Browser) -> Option<String> {
    b.client
        .get_named_cookie("smartcore_session")
        .await
        .ok()
        .map(|c| c.value().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_signs_in_with_sso_from_the_sign_in_page() {
    let Some((scene, b)) = SsoScene::with_browser(true).await else {
        return;
    };
    let axe = axe_source();
    let mut found = Vec::new();

    b.goto("/sign-in").await;
    axe_here(&b, &axe, "sign-in", &mut found).await;
    b.find("#sso-email")
        .await
        .send_keys(NEWCOMER)
        .await
        .unwrap();
    b.find("#sso-submit").await.click().await.unwrap();
    // Our /sso/start sends the browser on to the IdP (the sign-in page's CSP lets the form's
    // redirect leave for http: here); the IdP shows its own login page.
    sign_in_at_the_idp(&b, NEWCOMER).await;
    // Its page posts the Response to our ACS; the hand-over opens the session; `/` sends a
    // member to the account page.
    b.wait_for_path("/account").await;
    assert_eq!(our_path(&b).await, "/account");
    assert!(
        b.text(".topnav").await.contains(NEWCOMER),
        "the account page shows the address"
    );
    assert!(session_cookie(&b).await.is_some(), "a session cookie");
    b.screenshot("sso-signed-in").await;

    // The session holds: a reload stays on the account page, and so does `/`.
    b.client.refresh().await.expect("reload");
    b.wait_for_path("/account").await;
    assert!(b.text(".topnav").await.contains(NEWCOMER));
    b.goto("/").await;
    b.wait_for_path("/account").await;

    let attempt = scene.latest_attempt().await;
    assert_eq!(attempt["result"], "signed_in", "{attempt}");
    assert_eq!(attempt["email"], NEWCOMER);
    let members = scene.get("/members?q=ada").await;
    assert_eq!(members["members"][0]["email"], NEWCOMER, "{members}");
    assert_eq!(members["members"][0]["role"], "member", "{members}");
    assert!(found.is_empty(), "axe-core found:\n{}", found.join("\n"));
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_administrator_tests_sign_in_before_enabling_sso() {
    let Some((scene, b)) = SsoScene::with_browser(false).await else {
        return;
    };
    let axe = axe_source();
    let mut found = Vec::new();
    let members_before = scene.members().await;

    b.sign_in(ADMIN).await;
    let session = session_cookie(&b)
        .await
        .expect("a session after the password");
    b.goto(&format!("/orgs/{}/settings/sso", scene.org)).await;
    b.find("#sp-acs-url").await;
    b.find("#test-sign-in").await;
    axe_here(&b, &axe, "sso settings", &mut found).await;

    b.find("#test-sign-in").await.click().await.unwrap();
    sign_in_at_the_idp(&b, ADMIN).await;
    let results = format!("/orgs/{}/settings/sso/tests/", scene.org);
    b.wait_for_path(&results).await;
    assert!(our_path(&b).await.starts_with(&results));
    b.find("#verdict[data-accepted=\"true\"]").await;
    assert!(b.text("#verdict").await.contains(ADMIN));
    let failed = b
        .js("return document.querySelectorAll('#checks li[data-ok=\"false\"]').length")
        .await;
    assert_eq!(failed, json!(0), "{}", b.text("#checks").await);
    assert!(b.exists("#checks li[data-ok=\"true\"]").await);
    b.screenshot("sso-test-result").await;
    axe_here(&b, &axe, "test result", &mut found).await;

    // Still the same session, and nobody new: a test signs nobody in.
    assert_eq!(session_cookie(&b).await.as_deref(), Some(session.as_str()));
    b.goto("/").await;
    b.wait_for_path(&format!("/orgs/{}/settings/authentication", scene.org))
        .await;
    assert_eq!(scene.members().await, members_before);
    assert_eq!(scene.latest_attempt().await["result"], "tested");

    // Back to the Single Sign-On page, where the attempt is listed.
    b.goto(&format!("/orgs/{}/settings/sso", scene.org)).await;
    assert!(b.text("#sso-attempts").await.contains(ADMIN));
    assert!(found.is_empty(), "axe-core found:\n{}", found.join("\n"));
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_is_shown_in_words() {
    let Some((scene, b)) = SsoScene::with_browser(true).await else {
        return;
    };
    let axe = axe_source();
    let mut found = Vec::new();
    scene
        .idp
        .set_next(json!({ "email": NEWCOMER, "sign_with_other_key": true }))
        .await;

    b.goto("/sign-in").await;
    b.find("#sso-email")
        .await
        .send_keys(NEWCOMER)
        .await
        .unwrap();
    // From the keyboard this time.
    b.keys(ENTER).await;
    // The IdP answers at once (a user preset), signed with a key not in its metadata.
    b.wait_for_path(&format!("/saml/{}/acs", scene.org)).await;
    our_path(&b).await;
    let refusal = b
        .find("#sso-refusal[data-code=\"signature_invalid\"]")
        .await;
    let words = refusal.text().await.unwrap();
    assert!(
        words.split_whitespace().count() >= 5 && !words.contains('{') && !words.contains("Error("),
        "a sentence, not a raw error: {words:?}"
    );
    assert!(!b.text("h1").await.is_empty());
    assert!(b.exists("a[href=\"/sign-in\"]").await, "a way back");
    assert!(session_cookie(&b).await.is_none(), "nobody signed in");
    b.screenshot("sso-refused").await;
    axe_here(&b, &axe, "refusal", &mut found).await;

    assert_eq!(scene.latest_attempt().await["reason"], "signature_invalid");
    assert!(
        scene.get("/members?q=ada").await["members"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(found.is_empty(), "axe-core found:\n{}", found.join("\n"));
    b.close().await;
}
