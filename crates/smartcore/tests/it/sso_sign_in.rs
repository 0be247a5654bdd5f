//! Signing in with SSO against an identity provider that is not our code: pysaml2, signing
//! with xmlsec1 (see `saml_idp.rs`). Each test drives the HTTP exchange a browser would have:
//! our `/sso/start` sends it to the IdP, the IdP's page posts the Response to our ACS, the ACS
//! hands over to `/sso/complete`, which opens the session for the browser holding the
//! `smartcore_sso` cookie. Every refusal the IdP can be made to produce is asserted by its
//! code, on both databases.

use crate::saml_idp::{PostedForm, SamlIdp, follow_to_idp};
use crate::support::{Backend, TestApp, postgres_available, problem};
use dns_fake::DnsFake;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const DOMAIN: &str = "acme.example";

/// An organisation ready for SSO: a verified domain, an IT contact, the IdP's metadata and
/// (when `enable`) SSO enabled; the IdP knows our SP.
struct World {
    app: TestApp,
    idp: SamlIdp,
    _dns: DnsFake,
    org: String,
    token: String,
}

impl World {
    async fn new(backend: Backend, enable: bool) -> Option<World> {
        Self::with(backend, enable, &[]).await
    }

    async fn with(backend: Backend, enable: bool, extra: &[(&str, String)]) -> Option<World> {
        let idp = SamlIdp::start().await?;
        let dns = DnsFake::start().await;
        let mut env = vec![
            ("SMARTCORE_DNS_SERVER", dns.addr().to_string()),
            ("SMARTCORE_METADATA_ALLOW_PRIVATE", "127.0.0.1".to_string()),
        ];
        env.extend(extra.iter().map(|(k, v)| (*k, v.clone())));
        let app = TestApp::spawn_with(backend, &env).await?;
        let (org, token) = app.org_with_admin("Acme").await;
        let world = World {
            app,
            idp,
            _dns: dns,
            org,
            token,
        };
        world.verify_domain(DOMAIN).await;
        world
            .app
            .add_manual(&world.org, &world.token, "it@acme.example")
            .await;
        let r = world
            .app
            .request(
                Method::PUT,
                &format!("/api/v1/orgs/{}/sso", world.org),
                Some(&world.token),
            )
            .json(&json!({ "metadata_xml": world.idp.metadata_xml().await }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
        world.introduce_sp().await;
        if enable {
            world.enable().await;
        }
        Some(world)
    }

    async fn verify_domain(&self, domain: &str) {
        let d: Value = self
            .app
            .post(
                &format!("/api/v1/orgs/{}/domains", self.org),
                &self.token,
                json!({ "domain": domain }),
            )
            .await
            .json()
            .await
            .unwrap();
        self._dns.set_txt(
            &format!("_smartcore-challenge.{domain}"),
            vec![d["dns_record"]["value"].as_str().unwrap().to_owned()],
        );
        let r = self
            .app
            .request(
                Method::POST,
                &format!(
                    "/api/v1/orgs/{}/domains/{}/verify",
                    self.org,
                    d["id"].as_str().unwrap()
                ),
                Some(&self.token),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }

    async fn introduce_sp(&self) {
        let sp = self
            .app
            .http
            .get(format!("{}/saml/{}/metadata", self.app.base_url, self.org))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        self.idp.add_sp(&sp).await;
    }

    async fn enable(&self) {
        let r = self
            .app
            .request(
                Method::POST,
                &format!("/api/v1/orgs/{}/sso/enable", self.org),
                Some(&self.token),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    }

    /// `/sso/start?email=`: the IdP's URL and the browser's cookie (`name=value`).
    async fn start(&self, email: &str) -> (String, String) {
        let r = self
            .app
            .http
            .get(format!("{}/sso/start", self.app.base_url))
            .query(&[("email", email)])
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "{}",
            r.text().await.unwrap()
        );
        let cookie = set_cookie(&r, "smartcore_sso").expect("the browser's SSO cookie");
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with(self.idp.base_url()), "{location}");
        (location, cookie)
    }

    /// The whole SP-initiated round trip up to the ACS's answer.
    async fn round_trip(
        &self,
        email: &str,
        next: Value,
    ) -> (reqwest::Response, String, PostedForm) {
        self.idp.set_next(next).await;
        let (location, cookie) = self.start(email).await;
        let form = follow_to_idp(&self.app.http, &location).await;
        assert_eq!(
            form.action,
            format!("{}/saml/{}/acs", self.app.base_url, self.org)
        );
        // Posted from the IdP's page: cross-site, so without our cookies.
        let answer = form.submit(&self.app.http).await;
        (answer, cookie, form)
    }

    async fn complete(&self, location: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut request = self
            .app
            .http
            .get(format!("{}{}", self.app.base_url, location));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.unwrap()
    }

    /// A refused round trip's code, from the page and from the recorded attempt.
    async fn refused(&self, answer: reqwest::Response, code: &str) {
        assert_eq!(answer.status(), StatusCode::FORBIDDEN);
        let html = answer.text().await.unwrap();
        assert!(
            html.contains(&format!(r#"data-code="{code}""#)),
            "expected {code}: {html}"
        );
        let latest = &self.attempts().await[0];
        assert_eq!(latest["result"], "refused");
        assert_eq!(latest["reason"], code, "{latest}");
    }

    async fn attempts(&self) -> Vec<Value> {
        let r: Value = self
            .app
            .get(
                &format!("/api/v1/orgs/{}/sso/attempts", self.org),
                &self.token,
            )
            .await
            .json()
            .await
            .unwrap();
        r["attempts"].as_array().unwrap().clone()
    }

    async fn put_policy(&self, policy: Value) -> reqwest::Response {
        self.app
            .request(
                Method::PUT,
                &format!("/api/v1/orgs/{}/sso/policy", self.org),
                Some(&self.token),
            )
            .json(&policy)
            .send()
            .await
            .unwrap()
    }
}

fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .find(|c| c.starts_with(&format!("{name}=")) && c.len() > name.len() + 1)
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

fn ada(extra: Value) -> Value {
    let mut next = json!({
        "email": "ada@acme.example",
        "name_id_format": "email",
        "attributes": { "displayName": ["Ada Lovelace"] },
    });
    if let (Some(n), Some(e)) = (next.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            n.insert(k.clone(), v.clone());
        }
    }
    next
}

async fn a_new_member_signs_in_with_sso_and_comes_back_signed_in(backend: Backend) {
    let Some(w) = World::new(backend, true).await else {
        return;
    };
    let (answer, cookie, _) = w.round_trip("ada@acme.example", ada(json!({}))).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let complete = location(&answer);
    assert!(complete.starts_with("/sso/complete?ticket="), "{complete}");
    assert!(
        set_cookie(&answer, "smartcore_session").is_none(),
        "the ACS itself opens no session"
    );

    let done = w.complete(&complete, Some(&cookie)).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&done), "/");
    let session = set_cookie(&done, "smartcore_session").expect("a session");
    // A member has nothing to administer: the account page, not a 403.
    let home = w.complete("/", Some(&session)).await;
    assert_eq!(location(&home), "/account");
    let account = w.app.page("/account", &session).await;
    assert!(account.contains("ada@acme.example"), "{account}");

    let attempts = w.attempts().await;
    assert_eq!(attempts[0]["result"], "signed_in");
    assert_eq!(attempts[0]["email"], "ada@acme.example");
    assert_eq!(attempts[0]["reason"], Value::Null);
    assert!(attempts[0]["certificate_sha256"].as_str().unwrap().len() == 95);
    let members: Value = w
        .app
        .get(&format!("/api/v1/orgs/{}/members?q=ada", w.org), &w.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(members["members"][0]["name"], "Ada Lovelace", "{members}");
    assert_eq!(members["members"][0]["role"], "member");
    let log: Value = w
        .app
        .get(&format!("/api/v1/orgs/{}/audit-log", w.org), &w.token)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        log["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "sso.signed_in"),
        "{log}"
    );

    // The ticket is used once.
    let again = w.complete(&complete, Some(&cookie)).await;
    assert_eq!(again.status(), StatusCode::FORBIDDEN);
}

async fn the_hand_over_goes_only_to_the_browser_that_started(backend: Backend) {
    let Some(w) = World::new(backend, true).await else {
        return;
    };
    let (answer, _cookie, _) = w.round_trip("ada@acme.example", ada(json!({}))).await;
    // Login CSRF: the victim's browser was made to post someone else's Response.
    let done = w
        .complete(&location(&answer), Some("smartcore_sso=someone-elses"))
        .await;
    assert_eq!(done.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&done, "smartcore_session").is_none());
    assert_eq!(w.attempts().await[0]["reason"], "other_browser");
}

async fn each_refusal_is_named_and_recorded(backend: Backend) {
    let Some(w) = World::new(backend, true).await else {
        return;
    };
    let cases = [
        (json!({ "unsigned": true }), "unsigned"),
        (json!({ "sign_with_other_key": true }), "signature_invalid"),
        (
            json!({ "issuer": "https://evil.example/idp" }),
            "issuer_mismatch",
        ),
        (
            json!({ "audience": "https://other-sp.example/saml" }),
            "audience_mismatch",
        ),
        (
            json!({ "recipient": "https://other-sp.example/acs" }),
            "recipient_mismatch",
        ),
        (json!({ "not_on_or_after_offset_s": -600 }), "expired"),
        (json!({ "not_before_offset_s": 600 }), "not_yet_valid"),
        (
            json!({ "status": "urn:oasis:names:tc:SAML:2.0:status:Responder", "status_message": "The account is locked" }),
            "idp_error",
        ),
        (
            json!({ "in_response_to": "id-not-ours" }),
            "unknown_request",
        ),
        (
            json!({ "email": "eve@evil.example" }),
            "email_outside_verified_domains",
        ),
        (
            json!({ "name_id_format": "persistent", "email": "opaque-1234", "attributes": {} }),
            "no_email",
        ),
    ];
    for (quirk, code) in cases {
        let (answer, _, _) = w.round_trip("ada@acme.example", ada(quirk.clone())).await;
        assert!(
            set_cookie(&answer, "smartcore_session").is_none(),
            "{quirk}"
        );
        w.refused(answer, code).await;
    }
    // Nobody was signed in or created by any of them.
    let members: Value = w
        .app
        .get(&format!("/api/v1/orgs/{}/members?q=evil", w.org), &w.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(members["members"].as_array().unwrap().len(), 0);
    // The attempt with an unknown key keeps the presented certificate's fingerprint.
    let other = w
        .attempts()
        .await
        .into_iter()
        .find(|a| a["reason"] == "signature_invalid")
        .unwrap();
    assert!(other["certificate_sha256"].is_string(), "{other}");
}

async fn a_replayed_response_is_refused(backend: Backend) {
    let Some(w) = World::new(backend, true).await else {
        return;
    };
    let (answer, _, form) = w.round_trip("ada@acme.example", ada(json!({}))).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let again = form.submit(&w.app.http).await;
    w.refused(again, "replayed").await;
}

async fn unsolicited_responses_need_the_policy(backend: Backend) {
    let Some(w) = World::new(backend, true).await else {
        return;
    };
    w.idp.set_next(ada(json!({}))).await;
    let sp = format!("{}/saml/{}", w.app.base_url, w.org);
    let form = w.idp.unsolicited(&sp, "/account").await;
    w.refused(form.submit(&w.app.http).await, "unsolicited_response")
        .await;

    let r = w
        .put_policy(json!({ "jit_members": true, "idp_initiated": true, "require_sso": false }))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let form = w.idp.unsolicited(&sp, "/account").await;
    let answer = form.submit(&w.app.http).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    // No browser to bind to: the hand-over needs no cookie, and RelayState leads on.
    let done = w.complete(&location(&answer), None).await;
    assert_eq!(location(&done), "/account");
    assert!(set_cookie(&done, "smartcore_session").is_some());
    // RelayState may only lead to a path here.
    let form = w.idp.unsolicited(&sp, "https://evil.example/").await;
    let answer = form.submit(&w.app.http).await;
    let done = w.complete(&location(&answer), None).await;
    assert_eq!(location(&done), "/");
}

async fn who_may_sign_in_follows_the_account_and_the_policy(backend: Backend) {
    let Some(w) = World::new(backend, true).await else {
        return;
    };
    // Just-in-time membership off: a stranger is refused.
    let r = w
        .put_policy(json!({ "jit_members": false, "idp_initiated": false, "require_sso": false }))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let (answer, _, _) = w.round_trip("ada@acme.example", ada(json!({}))).await;
    w.refused(answer, "not_a_member").await;
    // A disabled user is refused whatever the policy.
    w.app
        .app
        .accounts()
        .create_user("bob@acme.example", Some("Bob"), None, false)
        .await
        .unwrap();
    w.app
        .app
        .operations()
        .add_member(
            &w.app.app.operations().find_org(&w.org).await.unwrap(),
            "bob@acme.example",
            smartcore_domain::Role::Member,
        )
        .await
        .unwrap();
    w.app
        .app
        .accounts()
        .disable_user("bob@acme.example")
        .await
        .unwrap();
    let (answer, _, _) = w
        .round_trip(
            "bob@acme.example",
            ada(json!({ "email": "bob@acme.example" })),
        )
        .await;
    w.refused(answer, "user_disabled").await;
    // SSO off: nothing signs in (the test sign-in still works; see below).
}

async fn sso_that_is_not_enabled_signs_nobody_in_but_can_be_tested(backend: Backend) {
    let Some(w) = World::new(backend, false).await else {
        return;
    };
    let r = w
        .app
        .http
        .get(format!(
            "{}/sso/start?email=ada@acme.example",
            w.app.base_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains(r#"id="sso-error""#), "{html}");
    // The same words for a domain nobody has: which organisations exist is not revealed.
    let r = w
        .app
        .http
        .get(format!(
            "{}/sso/start?email=x@nobody.example",
            w.app.base_url
        ))
        .send()
        .await
        .unwrap();
    let other = r.text().await.unwrap();
    let error = |h: &str| {
        h.split(r#"id="sso-error">"#)
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(error(&html), error(&other));

    // An IdP-initiated Response while SSO is off.
    let r = w
        .put_policy(json!({ "jit_members": true, "idp_initiated": true, "require_sso": false }))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    w.idp.set_next(ada(json!({}))).await;
    let form = w
        .idp
        .unsolicited(&format!("{}/saml/{}", w.app.base_url, w.org), "")
        .await;
    w.refused(form.submit(&w.app.http).await, "sso_not_enabled")
        .await;

    // The administrator's Test sign-in works before enabling, and signs nobody in.
    let cookie = w.admin_cookie().await;
    let r = w
        .app
        .http
        .get(format!(
            "{}/orgs/{}/settings/sso/test",
            w.app.base_url, w.org
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let form = follow_to_idp(&w.app.http, &location(&r)).await;
    let answer = form.submit(&w.app.http).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert!(set_cookie(&answer, "smartcore_session").is_none());
    let result = location(&answer);
    assert!(
        result.starts_with(&format!("/orgs/{}/settings/sso/tests/ssa_", w.org)),
        "{result}"
    );
    let page = w.app.page(&result, &cookie).await;
    assert!(page.contains(r#"data-accepted="true""#), "{page}");
    for check in [
        "Signed by a configured certificate",
        "Meant for this service",
        "Within its validity period",
        "An e-mail address in a verified domain",
    ] {
        assert!(page.contains(check), "{check}: {page}");
    }
    assert_eq!(w.attempts().await[0]["result"], "tested");
    let members: Value = w
        .app
        .get(&format!("/api/v1/orgs/{}/members?q=ada", w.org), &w.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        members["members"].as_array().unwrap().len(),
        0,
        "a test creates nobody"
    );

    // A failing test comes back to its page too, with the check that failed.
    w.idp
        .set_next(ada(json!({ "sign_with_other_key": true })))
        .await;
    let r = w
        .app
        .http
        .get(format!(
            "{}/orgs/{}/settings/sso/test",
            w.app.base_url, w.org
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let form = follow_to_idp(&w.app.http, &location(&r)).await;
    let answer = form.submit(&w.app.http).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let page = w.app.page(&location(&answer), &cookie).await;
    assert!(
        page.contains(r#"data-accepted="false""#)
            && page.contains(r#"data-code="signature_invalid""#),
        "{page}"
    );
    assert_eq!(w.attempts().await[0]["reason"], "signature_invalid");
}

async fn requiring_sso_needs_a_recent_success_and_spares_administrators(backend: Backend) {
    let Some(w) = World::new(backend, true).await else {
        return;
    };
    let require = json!({ "jit_members": true, "idp_initiated": false, "require_sso": true });
    problem(w.put_policy(require.clone()).await, 409, "sso_untested").await;
    let (answer, cookie, _) = w.round_trip("ada@acme.example", ada(json!({}))).await;
    w.complete(&location(&answer), Some(&cookie)).await;
    let r = w.put_policy(require).await;
    assert_eq!(r.status(), StatusCode::OK);
    let policy: Value = w
        .app
        .get(&format!("/api/v1/orgs/{}/sso/policy", w.org), &w.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(policy["require_sso"], true);

    // A member with a password in the verified domain is sent to SSO.
    let org = w.app.app.operations().find_org(&w.org).await.unwrap();
    w.app
        .app
        .accounts()
        .create_user(
            "carol@acme.example",
            Some("Carol"),
            Some("a long enough password"),
            false,
        )
        .await
        .unwrap();
    w.app
        .app
        .operations()
        .add_member(&org, "carol@acme.example", smartcore_domain::Role::Member)
        .await
        .unwrap();
    let r = w
        .app
        .http
        .post(format!("{}/sign-in", w.app.base_url))
        .form(&[
            ("email", "carol@acme.example"),
            ("password", "a long enough password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/sso/start?email=carol%40acme.example");
    assert!(set_cookie(&r, "smartcore_session").is_none());
    // An administrator in the same domain keeps the password: the way back in.
    w.app
        .app
        .accounts()
        .create_user(
            "root@acme.example",
            Some("Root"),
            Some("a long enough password"),
            false,
        )
        .await
        .unwrap();
    w.app
        .app
        .operations()
        .add_member(&org, "root@acme.example", smartcore_domain::Role::Admin)
        .await
        .unwrap();
    w.app.sign_in("root@acme.example").await;
}

async fn a_captured_response_is_checked_without_signing_anyone_in(backend: Backend) {
    let Some(w) = World::new(backend, true).await else {
        return;
    };
    let (answer, _, form) = w.round_trip("ada@acme.example", ada(json!({}))).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let path = format!("/api/v1/orgs/{}/sso/check-response", w.org);
    let check = |body: Value| w.app.post(&path, &w.token, body);
    let verdict: Value = check(json!({ "saml_response": form.saml_response }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(verdict["accepted"], true, "{verdict}");
    assert_eq!(verdict["subject"]["email"], "ada@acme.example");
    let names: Vec<&str> = verdict["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "xml",
            "status",
            "signature",
            "issuer",
            "audience",
            "recipient",
            "time",
            "email"
        ]
    );
    // Checked again: not a replay (nothing was recorded).
    let verdict: Value = check(json!({ "saml_response": form.saml_response }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(verdict["accepted"], true);
    // Judged at a later time.
    let verdict: Value =
        check(json!({ "saml_response": form.saml_response, "at": "2099-01-01T00:00:00Z" }))
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(verdict["reason"], "expired");
    problem(
        check(json!({ "saml_response": form.saml_response, "at": "yesterday" })).await,
        422,
        "invalid_time",
    )
    .await;
    let verdict: Value = check(json!({ "saml_response": "not base64 at all!" }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(verdict["reason"], "invalid_xml");
    // Members may not use it; outsiders do not learn the organisation exists.
    let (_, other_admin) = w.app.org_with_admin("Other").await;
    let r = w
        .app
        .post(
            &format!("/api/v1/orgs/{}/sso/check-response", w.org),
            &other_admin,
            json!({ "saml_response": "x" }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

async fn hostile_posts_are_refused_quickly_and_recorded(backend: Backend) {
    let Some(w) = World::new(backend, true).await else {
        return;
    };
    let acs = format!("{}/saml/{}/acs", w.app.base_url, w.org);
    let huge = "A".repeat(10 * 1024 * 1024);
    let started = std::time::Instant::now();
    // Its own connection: the service answers after reading 1 MiB and closes it, which a
    // pooled connection would only learn at its next request.
    let once = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let r = once
        .post(&acs)
        .form(&[("SAMLResponse", huge.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    eprintln!("10 MB form refused in {:?}", started.elapsed());
    assert_eq!(w.attempts().await[0]["reason"], "invalid_xml");
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let deep = format!("{}{}", "<a>".repeat(10_000), "</a>".repeat(10_000));
    let dtd = r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&a;</samlp:Response>"#;
    for body in [
        b64(&deep),
        b64(dtd),
        "%%%".to_string(),
        base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe, 0x00]),
    ] {
        let r = w
            .app
            .http
            .post(&acs)
            .form(&[("SAMLResponse", body.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    // Nothing cross-site-forged gets further than the verifier: the Origin check is off
    // for the ACS only.
    let r = w
        .app
        .http
        .post(format!(
            "{}/orgs/{}/settings/sso/policy",
            w.app.base_url, w.org
        ))
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .form(&[("require_sso", "on")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

async fn a_new_signing_certificate_is_noticed_once_and_heals_from_the_metadata_url(
    backend: Backend,
) {
    let Some(w) = World::new(backend, true).await else {
        return;
    };
    // Pasted metadata: the IdP switches to a key we do not have.
    w.idp.rotate().await;
    for _ in 0..2 {
        let (answer, _, _) = w.round_trip("ada@acme.example", ada(json!({}))).await;
        w.refused(answer, "signature_invalid").await;
    }
    // The IT contact and the administrator are told once for the new certificate (the
    // notice is sent while the ACS answers).
    let told = rotation_notices(&w.app);
    assert_eq!(told.len(), 2, "{told:?}");
    assert!(told.iter().any(|to| to == "it@acme.example"), "{told:?}");

    // From the metadata URL (fetched now: the current certificate), sign-in works again.
    let r = w
        .app
        .request(
            Method::PUT,
            &format!("/api/v1/orgs/{}/sso", w.org),
            Some(&w.token),
        )
        .json(&json!({ "metadata_url": w.idp.metadata_url() }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let (answer, _, _) = w.round_trip("ada@acme.example", ada(json!({}))).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);

    // Another rotation: the refusal fetches the metadata again at once, which heals it.
    w.idp.rotate().await;
    let (answer, _, _) = w.round_trip("ada@acme.example", ada(json!({}))).await;
    w.refused(answer, "signature_invalid").await;
    let mut healed = false;
    for _ in 0..100 {
        // Drives the refresh the refusal made due (the spawned one may have done it).
        w.app
            .app
            .setup()
            .refresh_due_metadata("test", 16)
            .await
            .unwrap();
        let (answer, cookie, _) = w.round_trip("ada@acme.example", ada(json!({}))).await;
        if answer.status() == StatusCode::SEE_OTHER {
            let done = w.complete(&location(&answer), Some(&cookie)).await;
            assert!(set_cookie(&done, "smartcore_session").is_some());
            healed = true;
            break;
        }
        // Real time: the refusal's own spawned refresh may hold the claim until it is done.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(healed, "the rotation healed itself from the metadata URL");
    let sso: Value = w
        .app
        .get(&format!("/api/v1/orgs/{}/sso", w.org), &w.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sso["certificates"].as_array().unwrap().len(), 1, "{sso}");
    assert_eq!(
        rotation_notices(&w.app).len(),
        4,
        "one more notice each for the third certificate"
    );
}
on_each_backend!(
    a_new_member_signs_in_with_sso_and_comes_back_signed_in,
    the_hand_over_goes_only_to_the_browser_that_started,
    each_refusal_is_named_and_recorded,
    a_replayed_response_is_refused,
    unsolicited_responses_need_the_policy,
    who_may_sign_in_follows_the_account_and_the_policy,
    sso_that_is_not_enabled_signs_nobody_in_but_can_be_tested,
    requiring_sso_needs_a_recent_success_and_spares_administrators,
    a_captured_response_is_checked_without_signing_anyone_in,
    hostile_posts_are_refused_quickly_and_recorded,
    a_new_signing_certificate_is_noticed_once_and_heals_from_the_metadata_url
);

/// The recipients of the rotation notices in the outbox.
fn rotation_notices(app: &TestApp) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(app.outbox_dir()) else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|raw| {
            let parsed = mail_parser::MessageParser::default().parse(&raw)?;
            let subject = parsed.subject()?.to_owned();
            subject
                .contains("new identity provider certificate")
                .then(|| {
                    parsed
                        .to()
                        .and_then(|t| t.first())
                        .and_then(|a| a.address())
                        .unwrap_or_default()
                        .to_owned()
                })
        })
        .collect()
}

impl World {
    /// The administrator's browser session.
    async fn admin_cookie(&self) -> String {
        let actor = self
            .app
            .app
            .accounts()
            .bearer_actor(&self.token)
            .await
            .unwrap();
        let user = self.app.app.accounts().user(&actor.user_id).await.unwrap();
        self.app.sign_in(&user.email).await
    }
}

/// Two instances on one PostgreSQL behind one public address: a Response used on one is
/// refused on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_replayed_on_another_instance_is_refused() {
    if !postgres_available().await {
        return;
    }
    let Some(w) = World::new(Backend::Postgres, true).await else {
        return;
    };
    let (answer, _, form) = w.round_trip("ada@acme.example", ada(json!({}))).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let other = TestApp::start(
        Backend::Postgres,
        &w.app.database_url,
        &[("SMARTCORE_PUBLIC_URL", w.app.base_url.clone())],
    )
    .await;
    let replay = other
        .http
        .post(format!("{}/saml/{}/acs", other.base_url, w.org))
        .form(&[("SAMLResponse", form.saml_response.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::FORBIDDEN);
    assert!(
        replay
            .text()
            .await
            .unwrap()
            .contains(r#"data-code="replayed""#)
    );
}
