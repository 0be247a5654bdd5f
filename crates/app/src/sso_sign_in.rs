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

use crate::accounts::{random_secret, secret_hash};
use crate::{Actor, App, AppError};
use smartcore_domain::{EmailAddress, OrgId, PersonName, Role, Timestamp, UserId};
use smartcore_sso::response::{self, Check, CheckName, Expected, Reason, Report};
use smartcore_sso::sign_in::{
    self, ATTEMPTS_KEPT, Admission, AuthnRequest, CERTIFICATE_USE_WINDOW, COMPLETION_LIFETIME,
    Person, REFETCH_AT_MOST_EVERY, REQUEST_LIFETIME, REQUIRE_SSO_TESTED_WITHIN, Refusal, SsoPolicy,
};
use smartcore_sso::{Certificate, SsoBinding};
use smartcore_storage::sso_sign_in as store;
use smartcore_storage::{AttemptRecord, NewHandover, NewRequest, PolicyRecord, StoreError};

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
    /// `signed_in`, `tested` or `refused`.
    pub result: String,
    pub reason: Option<String>,
    pub name_id: Option<String>,
    pub email: Option<String>,
    pub user_id: Option<String>,
    pub certificate_sha256: Option<String>,
    pub signature_algorithm: Option<String>,
    pub checks: Vec<CheckView>,
    /// Warnings: `sha1`, `weak_key`, `expired_certificate`.
    pub flags: Vec<String>,
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
    pub flags: Vec<String>,
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
fn flags_of(report: &Report, certificates: &[Certificate], now: Timestamp) -> Vec<String> {
    let mut flags = Vec::new();
    if report.sha1 || report.signature_algorithm.is_some_and(|a| a.is_sha1()) {
        flags.push("sha1".to_string());
    }
    if report.weak_key {
        flags.push("weak_key".to_string());
    }
    if report.outcome.is_ok()
        && let Some(fp) = &report.certificate_sha256
        && certificates
            .iter()
            .any(|c| &c.fingerprint_sha256 == fp && c.not_after < now.to_datetime())
    {
        flags.push("expired_certificate".to_string());
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
    flags: Vec<String>,
}

impl Draft {
    fn record(
        &self,
        result: &str,
        reason: Option<Refusal>,
        user_id: Option<&UserId>,
    ) -> AttemptRecord {
        AttemptRecord {
            id: self.id.clone(),
            org_id: self.org_id.to_string(),
            at: self.at.unix_millis(),
            result: result.to_string(),
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

/// Verifies on tokio's blocking threads, at most [`VERIFIERS`] at once.
async fn verify_off_the_async_threads(
    xml: Vec<u8>,
    idp_entity_id: String,
    sp_entity_id: String,
    acs_url: String,
    certificates: Vec<Certificate>,
    now: Timestamp,
) -> Result<Report, AppError> {
    static TURNS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(VERIFIERS);
    let _turn = TURNS
        .acquire()
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    tokio::task::spawn_blocking(move || {
        response::verify(
            &xml,
            &Expected {
                idp_entity_id: &idp_entity_id,
                sp_entity_id: &sp_entity_id,
                acs_url: &acs_url,
                certificates: &certificates,
                now: now.to_datetime(),
            },
        )
    })
    .await
    .map_err(|e| AppError::Internal(format!("verification stopped: {e}")))
}

impl App {
    /// `/sso/start?email=`: the organisation whose verified domain the address is in, with SSO
    /// enabled. Anything else is the same answer, so nobody learns which organisations exist.
    pub async fn start_sso_for_email(
        &self,
        email: &str,
        return_path: Option<&str>,
    ) -> Result<SsoStart, AppError> {
        let unavailable = || {
            AppError::invalid(
                "sso_not_available",
                "email",
                "Single Sign-On is not available for this address. Sign in with your password, or ask your administrator.",
            )
        };
        let email = EmailAddress::parse(email.trim()).map_err(|_| {
            AppError::invalid(
                "invalid_email",
                "email",
                "Enter your work e-mail address, like name@example.com.",
            )
        })?;
        let owner = self
            .store
            .verified_domain_owner(email.domain())
            .await?
            .filter(|o| o.sso_status == "enabled")
            .ok_or_else(unavailable)?;
        let org_id = OrgId::parse(&owner.org_id).ok_or_else(unavailable)?;
        self.issue_request(&org_id, "sign_in", return_path, None)
            .await
    }

    /// `/saml/{org}/login`: the bookmarkable start for one organisation.
    pub async fn start_sso_for_org(
        &self,
        org: &str,
        return_path: Option<&str>,
    ) -> Result<SsoStart, AppError> {
        let org_id = OrgId::parse(org).ok_or(AppError::NotFound)?;
        let record = self.store.org(&org_id).await?;
        if record.sso_status != "enabled" {
            return Err(AppError::conflict(
                "sso_not_enabled",
                Refusal::SsoNotEnabled.in_words(),
            ));
        }
        self.issue_request(&org_id, "sign_in", return_path, None)
            .await
    }

    /// The administrator's Test sign-in: goes to the identity provider and back to a page
    /// listing each check; signs nobody in; works before SSO is enabled.
    pub async fn start_sso_test(&self, actor: &Actor, org: &str) -> Result<SsoStart, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        self.issue_request(&org_id, "test", None, Some(&actor.user_id))
            .await
    }

    async fn issue_request(
        &self,
        org_id: &OrgId,
        purpose: &'static str,
        return_path: Option<&str>,
        requested_by: Option<&UserId>,
    ) -> Result<SsoStart, AppError> {
        let config = self.store.sso_config(org_id).await?.ok_or_else(|| {
            AppError::conflict(
                "sso_not_configured",
                "Add the identity provider's settings on the Single Sign-On page first.",
            )
        })?;
        let binding = SsoBinding::parse(
            self.store
                .sso_binding(org_id)
                .await?
                .as_deref()
                .unwrap_or("redirect"),
        );
        let browser_secret = random_secret();
        let id = sign_in::new_saml_id();
        let now = self.now();
        self.store
            .insert_sso_request(NewRequest {
                id: &id,
                org_id,
                purpose,
                browser_hash: &secret_hash(&browser_secret),
                return_path: return_path.and_then(sign_in::safe_return_path),
                requested_by,
                now,
            })
            .await?;
        let (sp_entity_id, acs_url) = self.service_provider(org_id);
        let request = AuthnRequest {
            id: id.clone(),
            issue_instant: now.to_datetime(),
            destination: config.idp_sso_url.clone(),
            acs_url,
            sp_entity_id,
        };
        // RelayState carries nothing we trust: the request row holds the return path.
        let redirect = match binding {
            SsoBinding::HttpRedirect => SsoRedirect::Redirect {
                url: request.redirect_url(&id),
            },
            SsoBinding::HttpPost => SsoRedirect::Post {
                url: config.idp_sso_url,
                saml_request: request.post_value(),
                relay_state: id,
            },
        };
        Ok(SsoStart {
            redirect,
            browser_secret,
        })
    }

    /// `POST /saml/{org}/acs`.
    pub async fn sso_acs(
        &self,
        org: &str,
        saml_response: &str,
        relay_state: Option<&str>,
    ) -> Result<AcsOutcome, AppError> {
        let org_id = OrgId::parse(org).ok_or(AppError::NotFound)?;
        let org_record = self.store.org(&org_id).await?;
        let now = self.now();
        let mut draft = Draft {
            id: attempt_id(),
            org_id: org_id.clone(),
            at: now,
            name_id: None,
            email: None,
            certificate_sha256: None,
            signature_algorithm: None,
            checks: Vec::new(),
            flags: Vec::new(),
        };
        let Some(config) = self.store.sso_config(&org_id).await? else {
            return self
                .refuse(&draft, Refusal::SsoNotEnabled, "no SSO configuration")
                .await;
        };
        let xml = match response::decode_form_value(saml_response) {
            Ok(xml) => xml,
            Err(refusal) => {
                draft.checks.push(CheckView {
                    check: CheckName::Xml.as_str().into(),
                    ok: false,
                    detail: refusal.detail.clone(),
                });
                return self
                    .refuse(&draft, refusal.reason.into(), &refusal.detail)
                    .await;
            }
        };
        let certificates = parse_certificates(&self.store.current_certificate_pems(&org_id).await?);
        let (sp_entity_id, acs_url) = self.service_provider(&org_id);
        let answering = peek_in_response_to(&xml);
        let report = verify_off_the_async_threads(
            xml,
            config.idp_entity_id.clone(),
            sp_entity_id,
            acs_url,
            certificates.clone(),
            now,
        )
        .await?;
        draft.checks = report.checks.iter().map(CheckView::from).collect();
        draft.flags = flags_of(&report, &certificates, now);
        draft.certificate_sha256 = report.certificate_sha256.clone();
        draft.signature_algorithm = report.signature_algorithm.map(|a| a.uri().to_string());
        let assertion = match &report.outcome {
            Ok(assertion) => assertion.clone(),
            Err(refusal) => {
                if refusal.reason == Reason::SignatureInvalid
                    && let Some(presented) = &report.presented_certificate
                {
                    self.unknown_certificate(&org_id, &org_record.name, presented, now)
                        .await;
                }
                // An administrator's Test sign-in that failed goes back to the page listing
                // the checks. The unverified InResponseTo only chooses that page: the request
                // must be a test of this organisation, and the result says refused.
                if let Some(id) = answering
                    && self
                        .store
                        .sso_request_purpose(&org_id, &id)
                        .await?
                        .as_deref()
                        == Some("test")
                {
                    return self
                        .tested(&draft, Some(Refusal::from(refusal.reason)))
                        .await;
                }
                return self
                    .refuse(&draft, refusal.reason.into(), &refusal.detail)
                    .await;
            }
        };
        draft.name_id = assertion.name_id.clone();
        draft.email = assertion.email().map(str::to_string);
        let policy = policy_of(self.store.sso_policy(&org_id).await?);

        // The assertion and the request it answers: each used once, on every instance. A
        // refusal drops the unit of work, so nothing of it is kept.
        let mut tx = self.store.write().await?;
        let keep_until = assertion
            .not_on_or_after
            .map(Timestamp::from_datetime)
            .unwrap_or(now)
            .plus_millis(response::CLOCK_SKEW.whole_milliseconds() as i64)
            .max(now.plus_millis(REQUEST_LIFETIME.whole_milliseconds() as i64));
        if !store::use_assertion(&mut tx, &org_id, &assertion.id, keep_until).await? {
            drop(tx);
            return self.refuse(&draft, Refusal::Replayed, &assertion.id).await;
        }
        let request = match &assertion.in_response_to {
            Some(request_id) => {
                let since = now.plus_millis(-(REQUEST_LIFETIME.whole_milliseconds() as i64));
                match store::answer_request(&mut tx, &org_id, request_id, since, now).await? {
                    Some(request) => Some(request),
                    None => {
                        drop(tx);
                        return self
                            .refuse(&draft, Refusal::UnknownRequest, request_id)
                            .await;
                    }
                }
            }
            None if policy.idp_initiated => None,
            None => {
                drop(tx);
                return self
                    .refuse(&draft, Refusal::UnsolicitedResponse, "no InResponseTo")
                    .await;
            }
        };
        let testing = request.as_ref().is_some_and(|r| r.purpose == "test");
        if !testing && org_record.sso_status != "enabled" {
            drop(tx);
            return self
                .refuse(&draft, Refusal::SsoNotEnabled, &org_record.sso_status)
                .await;
        }
        tx.commit().await?;

        // The person.
        let person = self.person_check(&org_id, &mut draft).await?;
        let (email, admission) = match person {
            Ok(found) => found,
            Err((refusal, detail)) => {
                if testing {
                    return self.tested(&draft, Some(refusal)).await;
                }
                return self.refuse(&draft, refusal, &detail).await;
            }
        };
        if testing {
            return self.tested(&draft, None).await;
        }
        let user = match self
            .admit_person(&org_id, &email, admission, assertion.display_name())
            .await
        {
            Ok(user) => user,
            Err(AppError::NotFound) => {
                return self
                    .refuse(&draft, Refusal::NotAMember, email.as_str())
                    .await;
            }
            Err(e) => return Err(e),
        };
        let ticket = random_secret();
        let return_path = match &request {
            Some(r) => r.return_path.clone(),
            None => relay_state
                .and_then(sign_in::safe_return_path)
                .map(str::to_string),
        };
        let mut tx = self.store.write().await?;
        store::insert_attempt(&mut tx, &draft.record("signed_in", None, Some(&user))).await?;
        store::insert_handover(
            &mut tx,
            NewHandover {
                ticket_hash: &secret_hash(&ticket),
                org_id: &org_id,
                attempt_id: &draft.id,
                user_id: Some(&user),
                browser_hash: request.as_ref().map(|r| r.browser_hash.as_str()),
                return_path: return_path.as_deref(),
                expires_at: now.plus_millis(COMPLETION_LIFETIME.whole_milliseconds() as i64),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(AcsOutcome::SignIn { ticket })
    }

    /// The e-mail address and who it is; the e-mail check is added to the draft.
    async fn person_check(
        &self,
        org_id: &OrgId,
        draft: &mut Draft,
    ) -> Result<Result<(EmailAddress, Admission), (Refusal, String)>, AppError> {
        let Some(raw) = draft.email.clone() else {
            draft.email_check(false, "the Response names no e-mail address");
            return Ok(Err((Refusal::NoEmail, String::new())));
        };
        let Ok(email) = EmailAddress::parse(&raw) else {
            draft.email_check(false, format!("{raw:?} is not an e-mail address"));
            return Ok(Err((Refusal::NoEmail, raw)));
        };
        let verified: Vec<String> = self
            .store
            .domains(org_id)
            .await?
            .into_iter()
            .filter(|d| d.status == "verified")
            .map(|d| d.domain)
            .collect();
        if !sign_in::in_verified_domains(email.domain(), &verified) {
            draft.email_check(
                false,
                format!(
                    "{} is not in a verified domain of this organisation",
                    email.as_str()
                ),
            );
            return Ok(Err((
                Refusal::EmailOutsideVerifiedDomains,
                email.as_str().to_string(),
            )));
        }
        let policy = policy_of(self.store.sso_policy(org_id).await?);
        let person = match self.store.user_by_email(&email).await {
            Ok(user) => Person::User {
                disabled: user.is_disabled(),
                member: self.store.role_in(org_id, &user.user_id()).await?.is_some(),
            },
            Err(StoreError::NotFound) => Person::Unknown,
            Err(e) => return Err(e.into()),
        };
        match sign_in::admit(person, policy) {
            Ok(admission) => {
                let words = match admission {
                    Admission::Member => "a member of this organisation",
                    Admission::AddMembership => "becomes a member at this sign-in",
                    Admission::CreateUser => "new here: an account and membership are created",
                };
                draft.email_check(true, format!("{}: {words}", email.as_str()));
                Ok(Ok((email, admission)))
            }
            Err(refusal) => {
                draft.email_check(false, format!("{}: {}", email.as_str(), refusal.in_words()));
                Ok(Err((refusal, email.as_str().to_string())))
            }
        }
    }

    /// Creates what the admission needs and returns the user who signs in.
    async fn admit_person(
        &self,
        org_id: &OrgId,
        email: &EmailAddress,
        admission: Admission,
        display_name: Option<String>,
    ) -> Result<UserId, AppError> {
        let now = self.now();
        let user = match admission {
            Admission::Member => return Ok(self.store.user_by_email(email).await?.user_id()),
            Admission::AddMembership => self.store.user_by_email(email).await?,
            Admission::CreateUser => {
                let name = display_name
                    .as_deref()
                    .and_then(|n| PersonName::parse(n).ok())
                    .or_else(|| {
                        PersonName::parse(email.as_str().split('@').next().unwrap_or_default()).ok()
                    })
                    .ok_or(AppError::NotFound)?;
                match self.store.create_user(email, &name, None, false, now).await {
                    Ok(user) => user,
                    // Two first sign-ins at once: the other created the account.
                    Err(StoreError::Duplicate) => self.store.user_by_email(email).await?,
                    Err(e) => return Err(e.into()),
                }
            }
        };
        self.store
            .put_membership(org_id, &user, Role::Member, now)
            .await?;
        self.store
            .record_audit(smartcore_storage::AuditEntry {
                org_id: Some(org_id),
                at: now,
                actor: "system",
                action: "member.joined_with_sso",
                target: Some(&user.id),
                details: serde_json::json!({ "email": user.email, "role": "member" }),
            })
            .await?;
        Ok(user.user_id())
    }

    async fn refuse(
        &self,
        draft: &Draft,
        refusal: Refusal,
        detail: &str,
    ) -> Result<AcsOutcome, AppError> {
        let mut tx = self.store.write().await?;
        store::insert_attempt(&mut tx, &draft.record("refused", Some(refusal), None)).await?;
        tx.commit().await?;
        tracing::info!(org = %draft.org_id, reason = refusal.code(), detail, "SSO sign-in refused");
        Ok(AcsOutcome::Refused {
            refusal,
            detail: detail.to_string(),
        })
    }

    async fn tested(
        &self,
        draft: &Draft,
        refusal: Option<Refusal>,
    ) -> Result<AcsOutcome, AppError> {
        let result = if refusal.is_some() {
            "refused"
        } else {
            "tested"
        };
        let mut tx = self.store.write().await?;
        store::insert_attempt(&mut tx, &draft.record(result, refusal, None)).await?;
        tx.commit().await?;
        Ok(AcsOutcome::Tested {
            org_id: draft.org_id.clone(),
            attempt_id: draft.id.clone(),
            accepted: refusal.is_none(),
        })
    }

    /// A Response signed with a certificate we do not have: one notice per new certificate
    /// to the IT contacts and administrators, and the metadata fetched again at once when it
    /// comes from a URL (at most every [`REFETCH_AT_MOST_EVERY`]). Failures are logged: the
    /// sign-in is refused either way.
    async fn unknown_certificate(
        &self,
        org_id: &OrgId,
        org_name: &str,
        presented: &Certificate,
        now: Timestamp,
    ) {
        let refetching = match self.refetch_for_rotation(org_id, now).await {
            Ok(refetching) => refetching,
            Err(e) => {
                tracing::warn!(org = %org_id, error = %e, "metadata re-fetch after an unknown certificate failed to start");
                false
            }
        };
        let first = match self
            .store
            .note_unknown_certificate(org_id, &presented.fingerprint_sha256, now)
            .await
        {
            Ok(first) => first,
            Err(e) => {
                tracing::warn!(org = %org_id, error = %e, "unknown certificate not recorded");
                return;
            }
        };
        if !first {
            return;
        }
        let recipients = match self.store.sso_notice_recipients(org_id).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(org = %org_id, error = %e, "no recipients for the rotation notice");
                return;
            }
        };
        let settings_url = format!("{}/orgs/{}/settings/sso", self.public_url, org_id);
        for to in recipients {
            let mail =
                smartcore_mail::certificate_rotation(&smartcore_mail::CertificateRotationMail {
                    org_name: org_name.to_string(),
                    recipient_email: to.clone(),
                    recipient_name: None,
                    first_seen: crate::alerts::people_date(now.to_datetime()),
                    fingerprint: presented.fingerprint_sha256.clone(),
                    subject: Some(presented.subject.clone()),
                    refetching,
                    settings_url: settings_url.clone(),
                });
            if let Err(e) = self.send_mail(&mail).await {
                tracing::warn!(org = %org_id, error = %e, "rotation notice not sent");
            }
        }
        let _ = self
            .store
            .record_audit(smartcore_storage::AuditEntry {
                org_id: Some(org_id),
                at: now,
                actor: "system",
                action: "sso.unknown_certificate",
                target: None,
                details: serde_json::json!({
                    "certificate_sha256": presented.fingerprint_sha256,
                    "subject": presented.subject,
                    "refetching": refetching,
                }),
            })
            .await;
    }

    async fn refetch_for_rotation(&self, org_id: &OrgId, now: Timestamp) -> Result<bool, AppError> {
        if self.store.metadata_source(org_id).await?.is_none() {
            return Ok(false);
        }
        if !self
            .store
            .claim_rotation_refetch(
                org_id,
                now,
                REFETCH_AT_MOST_EVERY.whole_milliseconds() as i64,
            )
            .await?
        {
            return Ok(true);
        }
        self.store.metadata_due_now(org_id, now).await?;
        let app = self.clone();
        tokio::spawn(async move {
            if let Err(e) = app.refresh_due_metadata("rotation", 16).await {
                tracing::warn!(error = %e, "metadata re-fetch after an unknown certificate failed");
            }
        });
        Ok(true)
    }

    /// `/sso/complete?ticket=`: the session, for the browser that started the sign-in.
    pub async fn complete_sso(
        &self,
        ticket: &str,
        browser_secret: Option<&str>,
    ) -> Result<Result<SsoSession, Refusal>, AppError> {
        let now = self.now();
        let Some(handover) = self
            .store
            .take_sso_handover(&secret_hash(ticket), now)
            .await?
        else {
            return Ok(Err(Refusal::UnknownRequest));
        };
        let org_id = OrgId::parse(&handover.org_id).ok_or(AppError::NotFound)?;
        if let Some(expected) = &handover.browser_hash
            && browser_secret.map(secret_hash).as_ref() != Some(expected)
        {
            let draft = Draft {
                id: attempt_id(),
                org_id,
                at: now,
                name_id: None,
                email: None,
                certificate_sha256: None,
                signature_algorithm: None,
                checks: Vec::new(),
                flags: Vec::new(),
            };
            self.refuse(&draft, Refusal::OtherBrowser, &handover.attempt_id)
                .await?;
            return Ok(Err(Refusal::OtherBrowser));
        }
        let user_id = handover
            .user_id
            .as_deref()
            .and_then(UserId::parse)
            .ok_or(AppError::NotFound)?;
        let user = self.store.user(&user_id).await?;
        if user.is_disabled() {
            return Ok(Err(Refusal::UserDisabled));
        }
        let session = self.open_session(&user, "sso").await?;
        Ok(Ok(SsoSession {
            session,
            return_path: handover.return_path,
        }))
    }

    /// One attempt, for the Test sign-in's result page (administrators).
    pub async fn sso_attempt(
        &self,
        actor: &Actor,
        org: &str,
        id: &str,
    ) -> Result<SsoAttempt, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        self.store
            .sso_attempt(&org_id, id)
            .await?
            .map(SsoAttempt::from)
            .ok_or(AppError::NotFound)
    }

    /// `GET /sso/attempts`: newest first.
    pub async fn sso_attempts(
        &self,
        actor: &Actor,
        org: &str,
    ) -> Result<Vec<SsoAttempt>, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        self.sso_attempts_of(&org_id).await
    }

    /// The attempts of an organisation, for the CLI (the operator).
    pub async fn sso_attempts_of(&self, org_id: &OrgId) -> Result<Vec<SsoAttempt>, AppError> {
        Ok(self
            .store
            .sso_attempts(org_id, ATTEMPTS_SHOWN)
            .await?
            .into_iter()
            .map(SsoAttempt::from)
            .collect())
    }

    /// The verifier's verdict on a captured Response, judged at `at` (default now), without
    /// signing anyone in or recording anything.
    pub async fn check_sso_response(
        &self,
        actor: &Actor,
        org: &str,
        saml_response: &str,
        at: Option<Timestamp>,
    ) -> Result<ResponseVerdict, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        self.check_sso_response_of(&org_id, saml_response, at).await
    }

    /// [`App::check_sso_response`] for the CLI (the operator).
    pub async fn check_sso_response_of(
        &self,
        org_id: &OrgId,
        saml_response: &str,
        at: Option<Timestamp>,
    ) -> Result<ResponseVerdict, AppError> {
        let org_id = org_id.clone();
        let config = self.store.sso_config(&org_id).await?.ok_or_else(|| {
            AppError::conflict(
                "sso_not_configured",
                "Add the identity provider's settings on the Single Sign-On page first.",
            )
        })?;
        let now = at.unwrap_or_else(|| self.now());
        let mut draft = Draft {
            id: String::new(),
            org_id: org_id.clone(),
            at: now,
            name_id: None,
            email: None,
            certificate_sha256: None,
            signature_algorithm: None,
            checks: Vec::new(),
            flags: Vec::new(),
        };
        let xml = match response::decode_form_value(saml_response) {
            Ok(xml) => xml,
            Err(refusal) => {
                return Ok(ResponseVerdict {
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
                });
            }
        };
        let certificates = parse_certificates(&self.store.current_certificate_pems(&org_id).await?);
        let (sp_entity_id, acs_url) = self.service_provider(&org_id);
        let report = verify_off_the_async_threads(
            xml,
            config.idp_entity_id,
            sp_entity_id,
            acs_url,
            certificates.clone(),
            now,
        )
        .await?;
        draft.checks = report.checks.iter().map(CheckView::from).collect();
        let flags = flags_of(&report, &certificates, now);
        // A Response refused after its signature verified (another audience, another time)
        // still says whom it speaks of: the administrator wants to see that too.
        let signed = match &report.outcome {
            Ok(assertion) => Some(assertion.clone()),
            Err(_)
                if report
                    .checks
                    .iter()
                    .any(|c| c.name == CheckName::Signature && c.ok) =>
            {
                let xml = response::decode_form_value(saml_response).unwrap_or_default();
                response::verify_signature_only(&xml, &certificates)
                    .outcome
                    .ok()
            }
            Err(_) => None,
        };
        let (reason, subject) = match (&report.outcome, signed) {
            (Err(refusal), None) => (Some(Refusal::from(refusal.reason)), None),
            (Err(refusal), Some(assertion)) => (
                Some(Refusal::from(refusal.reason)),
                Some(SubjectView {
                    name_id: assertion.name_id.clone(),
                    email: assertion.email().map(str::to_string),
                    attributes: assertion
                        .attributes
                        .iter()
                        .map(|a| (a.name.clone(), a.values.clone()))
                        .collect(),
                }),
            ),
            (Ok(_), Some(assertion)) => {
                draft.email = assertion.email().map(str::to_string);
                let person = self.person_check(&org_id, &mut draft).await?;
                let subject = SubjectView {
                    name_id: assertion.name_id.clone(),
                    email: draft.email.clone(),
                    attributes: assertion
                        .attributes
                        .iter()
                        .map(|a| (a.name.clone(), a.values.clone()))
                        .collect(),
                };
                (person.err().map(|(r, _)| r), Some(subject))
            }
            (Ok(_), None) => (None, None),
        };
        Ok(ResponseVerdict {
            accepted: reason.is_none(),
            reason: reason.map(Refusal::code),
            reason_in_words: reason.map(Refusal::in_words),
            checks: draft.checks,
            subject,
            certificate_sha256: report.certificate_sha256,
            signature_algorithm: report.signature_algorithm.map(|a| a.uri()),
            flags,
        })
    }

    pub async fn sso_policy(&self, actor: &Actor, org: &str) -> Result<SsoPolicy, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        Ok(policy_of(self.store.sso_policy(&org_id).await?))
    }

    /// Changes the policy. `require_sso` can be turned on only after a successful SSO
    /// sign-in or test within [`REQUIRE_SSO_TESTED_WITHIN`] (`sso_untested`), so nobody is
    /// sent to a sign-in that does not work.
    pub async fn set_sso_policy(
        &self,
        actor: &Actor,
        org: &str,
        policy: SsoPolicy,
    ) -> Result<SsoPolicy, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let now = self.now();
        let current = policy_of(self.store.sso_policy(&org_id).await?);
        if policy.require_sso && !current.require_sso {
            let since = now.plus_millis(-(REQUIRE_SSO_TESTED_WITHIN.whole_milliseconds() as i64));
            if !self.store.sso_succeeded_since(&org_id, since).await? {
                return Err(AppError::conflict(
                    "sso_untested",
                    "Requiring Single Sign-On needs a successful SSO sign-in or Test sign-in in the last 24 hours, so nobody is sent to a sign-in that does not work.",
                ));
            }
        }
        let mut tx = self.store.write().await?;
        store::put_policy(
            &mut tx,
            &org_id,
            PolicyRecord {
                jit_members: policy.jit_members,
                idp_initiated: policy.idp_initiated,
                require_sso: policy.require_sso,
            },
            &actor.user_id,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(policy)
    }

    /// What the Single Sign-On page shows about signing in.
    pub async fn sso_sign_in_overview(
        &self,
        actor: &Actor,
        org: &str,
    ) -> Result<SsoSignInOverview, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let now = self.now();
        let (sp_entity_id, acs_url) = self.service_provider(&org_id);
        let since = now.plus_millis(-(CERTIFICATE_USE_WINDOW.whole_milliseconds() as i64));
        let certificate_use = self
            .store
            .sso_certificate_use(&org_id, since)
            .await?
            .into_iter()
            .map(|u| {
                (
                    u.certificate_sha256,
                    CertificateUseView {
                        sign_ins: u.uses,
                        last_at: Some(Timestamp::from_unix_millis(u.last_at)),
                    },
                )
            })
            .collect();
        let attempts: Vec<SsoAttempt> = self
            .store
            .sso_attempts(&org_id, 10)
            .await?
            .into_iter()
            .map(SsoAttempt::from)
            .collect();
        let sha1_in_use = attempts
            .iter()
            .any(|a| a.result != "refused" && a.flags.iter().any(|f| f == "sha1"));
        Ok(SsoSignInOverview {
            metadata_url: format!("{sp_entity_id}/metadata"),
            login_url: format!("{sp_entity_id}/login"),
            sp_entity_id,
            acs_url,
            policy: policy_of(self.store.sso_policy(&org_id).await?),
            attempts,
            certificate_use,
            sha1_in_use,
        })
    }

    /// Whether the password form must send this address to SSO: its domain is verified by an
    /// organisation that requires SSO, and the person is not one of its administrators
    /// (administrators keep their password as the way back in when the identity provider is
    /// down).
    pub(crate) async fn sso_required_for(&self, email: &EmailAddress) -> Result<bool, AppError> {
        let Some(org) = self.store.sso_required_by(email.domain()).await? else {
            return Ok(false);
        };
        let Some(org_id) = OrgId::parse(&org) else {
            return Ok(false);
        };
        let user = match self.store.user_by_email(email).await {
            Ok(user) => user,
            Err(StoreError::NotFound) => return Ok(true),
            Err(e) => return Err(e.into()),
        };
        if user.is_staff() {
            return Ok(false);
        }
        Ok(self.store.role_in(&org_id, &user.user_id()).await? != Some(Role::Admin))
    }

    /// "Still in use: 47 sign-ins in the last 7 days, the last on 3 December 2026", or that no
    /// sign-in was verified with the certificate in that time; `None` when the organisation
    /// has never signed anyone in with SSO (nothing to say yet) or the lookup failed.
    pub(crate) async fn certificate_use_words(
        &self,
        org: &str,
        fingerprint: &str,
    ) -> Option<String> {
        let org_id = OrgId::parse(org)?;
        let now = self.now();
        let since = now.plus_millis(-(CERTIFICATE_USE_WINDOW.whole_milliseconds() as i64));
        let uses = self.store.sso_certificate_use(&org_id, since).await.ok()?;
        if uses.is_empty() {
            return None;
        }
        Some(match uses.iter().find(|u| u.certificate_sha256 == fingerprint) {
            Some(u) => format!(
                "Still in use: {} {} in the last 7 days, the last on {}",
                u.uses,
                if u.uses == 1 { "sign-in" } else { "sign-ins" },
                crate::alerts::people_date(Timestamp::from_unix_millis(u.last_at).to_datetime())
            ),
            None => "No sign-in was verified with this certificate in the last 7 days: your identity provider signs with another one".to_string(),
        })
    }

    /// Forgets expired requests, hand-overs and replay records, and attempts older than
    /// [`ATTEMPTS_KEPT`]; run by the workers.
    pub async fn purge_sso(&self) -> Result<u64, AppError> {
        let now = self.now();
        Ok(self
            .store
            .purge_sso(
                now,
                now.plus_millis(-86_400_000),
                now.plus_millis(-(ATTEMPTS_KEPT.whole_milliseconds() as i64)),
            )
            .await?)
    }
}
