//! Signing in with SSO, in the browser: `/sso/start` (the sign-in page's "Sign in with SSO"),
//! `/saml/{org}/login` (a bookmarkable start), `POST /saml/{org}/acs` (where the identity
//! provider posts its Response), `/sso/complete` (the same-site hand-over that opens the
//! session), and the administrator's Test sign-in, its result, the policy form and the
//! check-a-Response form on the Single Sign-On page.
//!
//! The browser that starts a sign-in gets a secret in the `smartcore_sso` cookie (path
//! `/sso`, `SameSite=Lax`); the ACS is posted cross-site, where that cookie may be missing, so
//! it ends with a redirect to `/sso/complete`, a same-site request that carries it, and only
//! that browser gets the session.

use crate::AppState;
use crate::error::{PageError, public_message};
use crate::extract::Id;
use crate::pages::{org_context, page_actor};
use crate::render::{error_page, render};
use crate::session;
use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;
use smartcore_app::{
    AcsOutcome, AppError, CheckView, Completion, OrgSummary, ResponseVerdict, SsoAttempt,
    SsoPolicy, SsoRedirect, SsoRefusal, SsoStart,
};
use smartcore_domain::{OrgId, SignInFlag, Timestamp};

/// The cookie holding the secret of the browser that started a sign-in.
pub const SSO_COOKIE: &str = "smartcore_sso";
/// Largest ACS body read: a Response of [`smartcore_sso::response::MAX_FORM_VALUE`] bytes of
/// base64, url-encoded, with room for RelayState. Larger bodies are refused unread.
const MAX_ACS_BODY: usize = 1024 * 1024;

/// Routes that keep the cross-site request check.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sso/start", get(start))
        .route("/saml/{org}/login", get(start_for_org))
        .route("/sso/complete", get(complete))
        .route("/static/sso.js", get(script))
        .route("/orgs/{org}/settings/sso/test", get(start_test))
        .route("/orgs/{org}/settings/sso/tests/{attempt}", get(test_result))
        .route("/orgs/{org}/settings/sso/policy", post(set_policy))
        .route(
            "/orgs/{org}/settings/sso/check-response",
            post(check_response),
        )
}

/// The ACS: posted by the identity provider's page, so exempt from the Origin check (the
/// Response's signature and the request it answers are what make it trustworthy).
pub fn cross_site_routes() -> Router<AppState> {
    Router::new().route("/saml/{org}/acs", post(acs))
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/sso.js"),
    )
        .into_response()
}

#[derive(Deserialize)]
struct StartQuery {
    email: Option<String>,
    return_to: Option<String>,
}

fn browser_cookie(secret: String, state: &AppState) -> Cookie<'static> {
    Cookie::build((SSO_COOKIE, secret))
        .path("/sso")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.secure_cookies())
        .max_age(cookie::time::Duration::minutes(15))
        .build()
}

#[derive(Template)]
#[template(path = "sso_post.html")]
struct PostBindingPage {
    url: String,
    saml_request: String,
    relay_state: String,
}

/// Sends the browser to the identity provider: a redirect, or an auto-submitting form whose
/// target the page's CSP allows.
fn to_identity_provider(started: SsoStart, jar: CookieJar, state: &AppState) -> Response {
    let jar = jar.add(browser_cookie(started.browser_secret, state));
    match started.redirect {
        SsoRedirect::Redirect { url } => (jar, Redirect::to(&url)).into_response(),
        SsoRedirect::Post {
            url,
            saml_request,
            relay_state,
        } => {
            let origin = url::Url::parse(&url)
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_default();
            let mut response = render(
                StatusCode::OK,
                &PostBindingPage {
                    url,
                    saml_request,
                    relay_state,
                },
            );
            if let Ok(csp) = HeaderValue::from_str(&format!(
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                 object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self' {origin}"
            )) {
                response
                    .headers_mut()
                    .insert(header::CONTENT_SECURITY_POLICY, csp);
            }
            (jar, response).into_response()
        }
    }
}

async fn start(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<StartQuery>,
) -> Response {
    let email = q.email.unwrap_or_default();
    match state
        .app
        .sso_sign_in()
        .start_sso_for_email(&email, q.return_to.as_deref())
        .await
    {
        Ok(started) => to_identity_provider(started, jar, &state),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => {
            crate::pages::auth::sign_in_page(
                StatusCode::OK,
                email.trim(),
                None,
                Some(public_message(&e)),
                &state,
            )
        }
        Err(e) => PageError(e).into_response(),
    }
}

async fn start_for_org(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(Id(org)): Path<Id<OrgId>>,
    Query(q): Query<StartQuery>,
) -> Response {
    match state
        .app
        .sso_sign_in()
        .start_sso_for_org(&org, q.return_to.as_deref())
        .await
    {
        Ok(started) => to_identity_provider(started, jar, &state),
        Err(AppError::Conflict { message, .. }) => error_page(
            StatusCode::CONFLICT,
            "Single Sign-On is not available",
            &message,
        ),
        Err(e) => PageError(e).into_response(),
    }
}

#[derive(Deserialize)]
struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    saml_response: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

#[derive(Template)]
#[template(path = "sso_refused.html")]
struct RefusedPage {
    title: &'static str,
    message: &'static str,
    code: &'static str,
    reference: Option<String>,
}

fn refused_page(refusal: SsoRefusal, reference: Option<String>) -> Response {
    render(
        StatusCode::FORBIDDEN,
        &RefusedPage {
            title: "Single Sign-On did not sign you in",
            message: refusal.in_words(),
            code: refusal.code(),
            reference,
        },
    )
}

/// `POST /saml/{org}/acs`.
async fn acs(
    State(state): State<AppState>,
    Path(Id(org)): Path<Id<OrgId>>,
    body: axum::body::Body,
) -> Response {
    let too_large = || {
        let form = String::new();
        (form, None::<String>)
    };
    let (saml_response, relay_state) = match axum::body::to_bytes(body, MAX_ACS_BODY).await {
        Ok(bytes) => parse_acs_form(&bytes).unwrap_or_else(too_large),
        // Too large, or cut off: the verifier records it as a Response it cannot read.
        Err(_) => too_large(),
    };
    match state
        .app
        .sso_sign_in()
        .sso_acs(&org, &saml_response, relay_state.as_deref())
        .await
    {
        Ok(AcsOutcome::SignIn { ticket }) => {
            Redirect::to(&format!("/sso/complete?ticket={ticket}")).into_response()
        }
        Ok(AcsOutcome::Tested {
            org_id, attempt_id, ..
        }) => {
            Redirect::to(&format!("/orgs/{org_id}/settings/sso/tests/{attempt_id}")).into_response()
        }
        Ok(AcsOutcome::Refused { refusal, .. }) => refused_page(refusal, None),
        Err(e) => PageError(e).into_response(),
    }
}

fn parse_acs_form(bytes: &Bytes) -> Option<(String, Option<String>)> {
    let form: AcsForm = serde_urlencoded::from_bytes(bytes).ok()?;
    Some((form.saml_response.unwrap_or_default(), form.relay_state))
}

#[derive(Deserialize)]
struct CompleteQuery {
    ticket: String,
}

/// `/sso/complete?ticket=`: the session for the browser that started the sign-in.
async fn complete(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<CompleteQuery>,
) -> Response {
    let secret = jar.get(SSO_COOKIE).map(|c| c.value().to_owned());
    match state
        .app
        .sso_sign_in()
        .complete_sso(&q.ticket, secret.as_deref())
        .await
    {
        Ok(Completion::SignedIn(done)) => {
            if let Some(old) = jar.get(session::COOKIE_NAME) {
                let _ = state.app.accounts().sign_out(old.value()).await;
            }
            let mut gone = Cookie::build((SSO_COOKIE, "")).path("/sso").build();
            gone.make_removal();
            let jar = jar
                .add(session::session_cookie(done.session.token, &state))
                .add(gone);
            let to = done.return_path.unwrap_or_else(|| "/".to_owned());
            (jar, Redirect::to(&to)).into_response()
        }
        Ok(Completion::Refused(refusal)) => refused_page(refusal, None),
        Err(e) => PageError(e).into_response(),
    }
}

/// The Test sign-in button: to the identity provider, and back to the result page.
async fn start_test(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Path(Id(org)): Path<Id<OrgId>>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    match state.app.sso_sign_in().start_sso_test(&actor, &org).await {
        Ok(started) => Ok(to_identity_provider(started, jar, &state)),
        Err(e @ AppError::Conflict { .. }) => Ok(Redirect::to(&format!(
            "/orgs/{org}/settings/sso?done=not_configured&error={}#sign-in-error",
            e.code()
        ))
        .into_response()),
        Err(e) => Err(e.into()),
    }
}

/// One check as the page shows it.
pub(crate) struct CheckRow {
    pub label: &'static str,
    pub ok: bool,
    pub detail: String,
}

fn check_label(check: &str) -> &'static str {
    match check {
        "xml" => "The Response can be read",
        "status" => "The identity provider says the sign-in succeeded",
        "signature" => "Signed by a configured certificate",
        "issuer" => "Sent by the configured identity provider",
        "audience" => "Meant for this service",
        "recipient" => "Sent to this service's ACS URL",
        "time" => "Within its validity period",
        "email" => "An e-mail address in a verified domain",
        _ => "Other check",
    }
}

pub(crate) fn check_rows(checks: &[CheckView]) -> Vec<CheckRow> {
    checks
        .iter()
        .map(|c| CheckRow {
            label: check_label(&c.check),
            ok: c.ok,
            detail: c.detail.clone(),
        })
        .collect()
}

fn flag_words(flags: &[SignInFlag]) -> Vec<&'static str> {
    flags
        .iter()
        .map(|f| match f {
            SignInFlag::Sha1 => "Signed with RSA-SHA1, which is no longer considered safe. Ask your identity provider's administrator to switch to RSA-SHA256.",
            SignInFlag::WeakKey => "The signing key is shorter than 2048 bits. Ask your identity provider's administrator for a stronger key.",
            SignInFlag::ExpiredCertificate => "The signing certificate has expired. Sign-in still works (the certificate is trusted because you configured it), but replace it before your identity provider does.",
        })
        .collect()
}

#[derive(Template)]
#[template(path = "sso_test_result.html")]
struct TestResultPage {
    org: OrgSummary,
    orgs: Vec<OrgSummary>,
    heading: &'static str,
    accepted: bool,
    reason: Option<&'static str>,
    reason_code: Option<String>,
    at: crate::pages::show::When,
    name_id: Option<String>,
    email: Option<String>,
    attributes: Vec<(String, String)>,
    certificate: Option<String>,
    algorithm: Option<String>,
    checks: Vec<CheckRow>,
    warnings: Vec<&'static str>,
}

impl TestResultPage {
    fn base(&self) -> String {
        format!("/orgs/{}/settings/sso", self.org.id)
    }
}

/// A time on these pages: the one helper every page uses.
fn date_time(t: Timestamp, now: Timestamp) -> crate::pages::show::When {
    crate::pages::show::when(t, now)
}

async fn test_result(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((Id(org), attempt)): Path<(Id<OrgId>, String)>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let (current, orgs) = org_context(&state, &actor, &org).await?;
    let a: SsoAttempt = state
        .app
        .sso_sign_in()
        .sso_attempt(&actor, &org, &attempt)
        .await?;
    Ok(render(
        StatusCode::OK,
        &TestResultPage {
            org: current,
            orgs,
            heading: "Test sign-in",
            accepted: a.result == smartcore_domain::SsoAttemptResult::Tested,
            reason: a.reason_in_words(),
            reason_code: a.reason.clone(),
            at: date_time(a.at, state.app.now()),
            name_id: a.name_id.clone(),
            email: a.email.clone(),
            attributes: Vec::new(),
            certificate: a.certificate_sha256.clone(),
            algorithm: a.signature_algorithm.clone(),
            checks: check_rows(&a.checks),
            warnings: flag_words(&a.flags),
        },
    ))
}

#[derive(Deserialize)]
struct PolicyForm {
    jit_members: Option<String>,
    idp_initiated: Option<String>,
    require_sso: Option<String>,
}

async fn set_policy(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(Id(org)): Path<Id<OrgId>>,
    Form(form): Form<PolicyForm>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let policy = SsoPolicy {
        jit_members: form.jit_members.is_some(),
        idp_initiated: form.idp_initiated.is_some(),
        require_sso: form.require_sso.is_some(),
    };
    match state
        .app
        .sso_sign_in()
        .set_sso_policy(&actor, &org, policy)
        .await
    {
        Ok(_) => Ok(
            Redirect::to(&format!("/orgs/{org}/settings/sso?done=policy#notice")).into_response(),
        ),
        Err(e @ AppError::Conflict { .. }) => Ok(Redirect::to(&format!(
            "/orgs/{org}/settings/sso?done=policy_refused&error={}#sign-in-error",
            e.code()
        ))
        .into_response()),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct CheckForm {
    saml_response: String,
    #[serde(default)]
    at: String,
}

async fn check_response(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(Id(org)): Path<Id<OrgId>>,
    Form(form): Form<CheckForm>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let (current, orgs) = org_context(&state, &actor, &org).await?;
    let at = match form.at.trim() {
        "" => None,
        text => {
            match time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            {
                Ok(at) => Some(Timestamp::from_datetime(at)),
                Err(_) => {
                    return Ok(error_page(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "The time is not readable",
                        "Give the time to judge the Response at as in 2026-12-03T08:00:00Z, or leave it empty for now.",
                    ));
                }
            }
        }
    };
    let verdict: ResponseVerdict = state
        .app
        .sso_sign_in()
        .check_sso_response(&actor, &org, form.saml_response.trim(), at)
        .await?;
    let at = at.unwrap_or_else(|| state.app.now());
    let subject = verdict.subject.clone();
    Ok(render(
        StatusCode::OK,
        &TestResultPage {
            org: current,
            orgs,
            heading: "Check a SAML Response",
            accepted: verdict.accepted,
            reason: verdict.reason_in_words,
            reason_code: verdict.reason.map(str::to_string),
            at: date_time(at, state.app.now()),
            name_id: subject.as_ref().and_then(|s| s.name_id.clone()),
            email: subject.as_ref().and_then(|s| s.email.clone()),
            attributes: subject
                .map(|s| {
                    s.attributes
                        .into_iter()
                        .map(|(name, values)| (name, values.join(", ")))
                        .collect()
                })
                .unwrap_or_default(),
            certificate: verdict.certificate_sha256.clone(),
            algorithm: verdict.signature_algorithm.map(str::to_string),
            checks: check_rows(&verdict.checks),
            warnings: flag_words(&verdict.flags),
        },
    ))
}
