//! Signing in through the organisation's identity provider (SAML 2.0, SP-initiated).
//!
//! The order of things, owned here:
//! 1. **Start** (`/sso/start?email=`, `/saml/{org}/login`, the administrator's Test sign-in):
//!    a request row with a hash of a fresh browser secret (the caller sets it as a cookie), then
//!    the AuthnRequest to the identity provider.
//! 2. **ACS** (`POST /saml/{org}/acs`): the Response is verified on the blocking pool
//!    ([`smartcore_sso::response::verify`]: signature, issuer, audience, recipient, time); then,
//!    in one unit of work, the request it answers is marked answered and the assertion recorded
//!    as used (both once, across instances); then the person is found or created. A sign-in
//!    ends with a one-time hand-over ticket, not a session: the ACS is posted cross-site, where
//!    the browser's cookie may be missing, so the session is opened only at step 3.
//! 3. **Completion** (`/sso/complete?ticket=`, same-site): the ticket is taken once, and only
//!    the browser holding the secret of step 1 gets the session (login CSRF).
//!
//! Every attempt is recorded with its reason; the administrator's check-response tool runs
//! step 2's checks without recording anything.

mod acs;
mod admin;
mod rotation;
mod start;

use crate::accounts::{random_secret, secret_hash};
use crate::{Actor, App, AppError};
use smartcore_domain::{
    EmailAddress, OrgId, PersonName, Role, SignInFlag, SsoAttemptResult, Timestamp, UserId,
};
use smartcore_sso::Certificate;
use smartcore_sso::response::{self, Check, CheckName, Expected, Reason, Report};
use smartcore_sso::sign_in::{
    self, ATTEMPTS_KEPT, Admission, AuthnRequest, CERTIFICATE_USE_WINDOW, COMPLETION_LIFETIME,
    Person, REFETCH_AT_MOST_EVERY, REQUEST_LIFETIME, REQUIRE_SSO_TESTED_WITHIN, Refusal, SsoPolicy,
};
use smartcore_storage::sso_sign_in as store;
use smartcore_storage::{
    AttemptRecord, NewHandover, NewRequest, PolicyRecord, RequestRecord, StoreError,
};

/// How many Responses are verified at once; more wait their turn, so a flood of hostile
/// documents never holds the threads other requests need.
const VERIFIERS: usize = 4;
/// Attempts listed by the API and the page.
pub const ATTEMPTS_SHOWN: i64 = 100;

/// Where the browser goes to meet the identity provider.
#[derive(Debug, Clone)]
pub enum SsoRedirect {
    /// HTTP-Redirect binding: go to this URL.
    Redirect { url: String },
    /// HTTP-POST binding: post these fields to `url` (an auto-submitting form).
    Post {
        url: String,
        saml_request: String,
        relay_state: String,
    },
}

/// A sign-in just started: where to go, and the secret for the browser's cookie.
#[derive(Debug, Clone)]
pub struct SsoStart {
    pub redirect: SsoRedirect,
    pub browser_secret: String,
}

/// What the ACS did with a Response.
#[derive(Debug, Clone)]
pub enum AcsOutcome {
    /// Verified: the browser completes the sign-in with this one-time ticket.
    SignIn { ticket: String },
    /// An administrator's test: the result is the attempt.
    Tested {
        org_id: OrgId,
        attempt_id: String,
        accepted: bool,
    },
    /// Refused, with the attempt that records it.
    Refused { refusal: Refusal, detail: String },
}

/// What `/sso/complete` did: the session, or why not.
pub enum Completion {
    SignedIn(SsoSession),
    Refused(Refusal),
}

/// What a step of the ACS found: go on with its value, or stop with a refusal and the detail
/// recorded with it.
pub(super) enum Step<T> {
    Go(T),
    Stop(Refusal, String),
}

/// What verifying the Response gave: the signed Assertion, or the ACS's answer already
/// recorded (a refusal, or an administrator's failed test).
pub(super) enum Verified {
    Assertion(response::Assertion),
    Answered(AcsOutcome),
}

/// A completed sign-in.
pub struct SsoSession {
    pub session: crate::NewSession,
    pub return_path: Option<String>,
}

/// One recorded attempt, as listed.
#[derive(Debug, Clone)]
pub struct SsoAttempt {
    pub id: String,
    pub at: Timestamp,
    pub result: SsoAttemptResult,
    pub reason: Option<String>,
    pub name_id: Option<String>,
    pub email: Option<String>,
    pub user_id: Option<String>,
    pub certificate_sha256: Option<String>,
    pub signature_algorithm: Option<String>,
    pub checks: Vec<CheckView>,
    /// Warnings: `sha1`, `weak_key`, `expired_certificate`.
    pub flags: Vec<SignInFlag>,
}

impl SsoAttempt {
    /// The reason in words, for people.
    pub fn reason_in_words(&self) -> Option<&'static str> {
        self.reason
            .as_deref()
            .and_then(Refusal::parse)
            .map(Refusal::in_words)
    }
}

/// One check of a verdict.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CheckView {
    pub check: String,
    pub ok: bool,
    pub detail: String,
}

impl From<&Check> for CheckView {
    fn from(c: &Check) -> Self {
        CheckView {
            check: c.name.as_str().to_string(),
            ok: c.ok,
            detail: c.detail.clone(),
        }
    }
}

/// Who a Response speaks of.
#[derive(Debug, Clone)]
pub struct SubjectView {
    pub name_id: Option<String>,
    pub email: Option<String>,
    pub attributes: Vec<(String, Vec<String>)>,
}

impl SubjectView {
    fn of(assertion: &response::Assertion) -> SubjectView {
        SubjectView {
            name_id: assertion.name_id.clone(),
            email: assertion.email().map(str::to_string),
            attributes: assertion
                .attributes
                .iter()
                .map(|a| (a.name.clone(), a.values.clone()))
                .collect(),
        }
    }
}

/// The check-response tool's answer.
#[derive(Debug, Clone)]
pub struct ResponseVerdict {
    pub accepted: bool,
    pub reason: Option<&'static str>,
    pub reason_in_words: Option<&'static str>,
    pub checks: Vec<CheckView>,
    pub subject: Option<SubjectView>,
    pub certificate_sha256: Option<String>,
    pub signature_algorithm: Option<&'static str>,
    pub flags: Vec<SignInFlag>,
}

impl ResponseVerdict {
    /// A form value that is not a Response at all (not base64, not UTF-8, too large).
    fn unreadable(refusal: response::Refusal) -> ResponseVerdict {
        ResponseVerdict {
            accepted: false,
            reason: Some(refusal.reason.code()),
            reason_in_words: Some(refusal.reason.in_words()),
            checks: vec![CheckView {
                check: CheckName::Xml.as_str().into(),
                ok: false,
                detail: refusal.detail,
            }],
            subject: None,
            certificate_sha256: None,
            signature_algorithm: None,
            flags: Vec::new(),
        }
    }
}

/// How a certificate was used recently.
#[derive(Debug, Clone, Default)]
pub struct CertificateUseView {
    pub sign_ins: i64,
    pub last_at: Option<Timestamp>,
}

/// What the Single Sign-On page shows about signing in.
#[derive(Debug, Clone)]
pub struct SsoSignInOverview {
    pub sp_entity_id: String,
    pub acs_url: String,
    pub metadata_url: String,
    pub login_url: String,
    pub policy: SsoPolicy,
    pub attempts: Vec<SsoAttempt>,
    /// Per certificate fingerprint (colon form), over [`CERTIFICATE_USE_WINDOW`].
    pub certificate_use: std::collections::HashMap<String, CertificateUseView>,
    /// A recent sign-in was signed with RSA-SHA1.
    pub sha1_in_use: bool,
}

impl From<AttemptRecord> for SsoAttempt {
    fn from(r: AttemptRecord) -> Self {
        SsoAttempt {
            id: r.id,
            at: Timestamp::from_unix_millis(r.at),
            result: r.result,
            reason: r.reason,
            name_id: r.name_id,
            email: r.email,
            user_id: r.user_id,
            certificate_sha256: r.certificate_sha256,
            signature_algorithm: r.signature_algorithm,
            checks: serde_json::from_str(&r.checks).unwrap_or_default(),
            flags: serde_json::from_str(&r.flags).unwrap_or_default(),
        }
    }
}

fn policy_of(record: Option<PolicyRecord>) -> SsoPolicy {
    record.map_or_else(SsoPolicy::default, |r| SsoPolicy {
        jit_members: r.jit_members,
        idp_initiated: r.idp_initiated,
        require_sso: r.require_sso,
    })
}

/// The flags of a verdict: what worked but should not go on for ever.
fn flags_of(report: &Report, certificates: &[Certificate], now: Timestamp) -> Vec<SignInFlag> {
    let mut flags = Vec::new();
    if report.sha1 || report.signature_algorithm.is_some_and(|a| a.is_sha1()) {
        flags.push(SignInFlag::Sha1);
    }
    if report.weak_key {
        flags.push(SignInFlag::WeakKey);
    }
    if report.outcome.is_ok()
        && let Some(fp) = &report.certificate_sha256
        && certificates
            .iter()
            .any(|c| &c.fingerprint_sha256 == fp && c.not_after < now.to_datetime())
    {
        flags.push(SignInFlag::ExpiredCertificate);
    }
    flags
}

/// The attempt row of a verdict, before the flow's own checks.
struct Draft {
    id: String,
    org_id: OrgId,
    at: Timestamp,
    name_id: Option<String>,
    email: Option<String>,
    certificate_sha256: Option<String>,
    signature_algorithm: Option<String>,
    checks: Vec<CheckView>,
    flags: Vec<SignInFlag>,
}

impl Draft {
    fn new(org_id: &OrgId, id: String, at: Timestamp) -> Draft {
        Draft {
            id,
            org_id: org_id.clone(),
            at,
            name_id: None,
            email: None,
            certificate_sha256: None,
            signature_algorithm: None,
            checks: Vec::new(),
            flags: Vec::new(),
        }
    }

    fn record(
        &self,
        result: SsoAttemptResult,
        reason: Option<Refusal>,
        user_id: Option<&UserId>,
    ) -> AttemptRecord {
        AttemptRecord {
            id: self.id.clone(),
            org_id: self.org_id.to_string(),
            at: self.at.unix_millis(),
            result,
            reason: reason.map(|r| r.code().to_string()),
            name_id: self.name_id.clone(),
            email: self.email.clone(),
            user_id: user_id.map(|u| u.to_string()),
            certificate_sha256: self.certificate_sha256.clone(),
            signature_algorithm: self.signature_algorithm.clone(),
            checks: serde_json::to_string(&self.checks).unwrap_or_else(|_| "[]".into()),
            flags: serde_json::to_string(&self.flags).unwrap_or_else(|_| "[]".into()),
        }
    }

    /// Adds (or replaces) the e-mail check.
    fn email_check(&mut self, ok: bool, detail: impl Into<String>) {
        self.checks.retain(|c| c.check != CheckName::Email.as_str());
        self.checks.push(CheckView {
            check: CheckName::Email.as_str().to_string(),
            ok,
            detail: detail.into(),
        });
    }
}

fn attempt_id() -> String {
    format!("ssa_{}", uuid::Uuid::now_v7().simple())
}

fn parse_certificates(pems: &[String]) -> Vec<Certificate> {
    pems.iter()
        .filter_map(|pem| Certificate::from_pem(pem).ok())
        .flatten()
        .collect()
}

/// The `InResponseTo` of the Response's start tag, unverified: only to choose which page a
/// refusal is shown on (an administrator's test goes back to its result page).
fn peek_in_response_to(xml: &[u8]) -> Option<String> {
    let head = &xml[..xml.len().min(4096)];
    let text = std::str::from_utf8(head).ok().or_else(|| {
        // Cut inside a character: the valid prefix is enough.
        std::str::from_utf8(&head[..head.len().saturating_sub(3)]).ok()
    })?;
    let start = text.find("InResponseTo=")? + "InResponseTo=".len();
    let quote = text[start..].chars().next()?;
    if quote != '"' && quote != '\'' {
        return None;
    }
    let rest = &text[start + 1..];
    let value = &rest[..rest.find(quote)?];
    (value.len() <= 128).then(|| value.to_string())
}

impl App {
    /// Verifies a Response to the organisation against its identity provider and current
    /// certificates (returned too, for the warnings), on tokio's blocking threads, at most
    /// [`VERIFIERS`] at once.
    async fn verify_response(
        &self,
        org_id: &OrgId,
        idp_entity_id: String,
        xml: Vec<u8>,
        now: Timestamp,
    ) -> Result<(Report, Vec<Certificate>), AppError> {
        static TURNS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(VERIFIERS);
        let certificates = parse_certificates(&self.store.current_certificate_pems(org_id).await?);
        let (sp_entity_id, acs_url) = self.service_provider(org_id);
        let expected_certificates = certificates.clone();
        let _turn = TURNS.acquire().await.map_err(AppError::internal)?;
        let report = tokio::task::spawn_blocking(move || {
            response::verify(
                &xml,
                &Expected {
                    idp_entity_id: &idp_entity_id,
                    sp_entity_id: &sp_entity_id,
                    acs_url: &acs_url,
                    certificates: &expected_certificates,
                    now: now.to_datetime(),
                },
            )
        })
        .await
        .map_err(|e| AppError::internal_while("verification stopped", e))?;
        Ok((report, certificates))
    }
}
