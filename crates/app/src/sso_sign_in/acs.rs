//! The ACS: verify, use the assertion and the request once, find the person, hand over;
//! and the completion that opens the session for the browser that started.

use super::*;
use crate::SsoSignIn;
use smartcore_domain::audit::MemberJoined;
use smartcore_domain::{AuditActor, AuditDetails};
use smartcore_domain::{DomainStatus, SsoRequestPurpose, SsoStatus};

impl SsoSignIn<'_> {
    /// `POST /saml/{org}/acs`.
    pub async fn sso_acs(
        &self,
        org: &OrgId,
        saml_response: &str,
        relay_state: Option<&str>,
    ) -> Result<AcsOutcome, AppError> {
        let org_id = org.clone();
        let org_record = self.store.org(&org_id).await?;
        let now = self.now();
        let mut draft = Draft::new(&org_id, attempt_id(), now);
        let assertion = match self
            .verified_assertion(&org_id, &org_record.name, saml_response, &mut draft, now)
            .await?
        {
            Verified::Assertion(assertion) => assertion,
            Verified::Answered(outcome) => return Ok(outcome),
        };
        // Read once for the whole sign-in.
        let policy = policy_of(self.store.sso_policy(&org_id).await?);
        let request = match self
            .use_once(&org_id, org_record.sso_status, policy, &assertion, now)
            .await?
        {
            Step::Go(request) => request,
            Step::Stop(refusal, detail) => return self.refuse(&draft, refusal, &detail).await,
        };
        let testing = request
            .as_ref()
            .is_some_and(|r| r.purpose == SsoRequestPurpose::Test);
        let (email, admission) = match self.person_check(&org_id, policy, &mut draft).await? {
            Step::Go(found) => found,
            Step::Stop(refusal, _) if testing => return self.tested(&draft, Some(refusal)).await,
            Step::Stop(refusal, detail) => return self.refuse(&draft, refusal, &detail).await,
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
        let return_path = match &request {
            Some(r) => r.return_path.clone(),
            None => relay_state
                .and_then(sign_in::safe_return_path)
                .map(str::to_string),
        };
        let browser_hash = request.map(|r| r.browser_hash);
        self.hand_over(
            &draft,
            &user,
            browser_hash.as_deref(),
            return_path.as_deref(),
        )
        .await
    }

    /// Decodes and verifies the Response (signature, issuer, audience, recipient, time);
    /// a refusal is recorded and returned as the ACS's outcome.
    async fn verified_assertion(
        &self,
        org_id: &OrgId,
        org_name: &str,
        saml_response: &str,
        draft: &mut Draft,
        now: Timestamp,
    ) -> Result<Verified, AppError> {
        let Some(config) = self.store.sso_config(org_id).await? else {
            return self
                .refuse(draft, Refusal::SsoNotEnabled, "no SSO configuration")
                .await
                .map(Verified::Answered);
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
                    .refuse(draft, refusal.reason.into(), &refusal.detail)
                    .await
                    .map(Verified::Answered);
            }
        };
        let answering = peek_in_response_to(&xml);
        let (report, certificates) = self
            .verify_response(org_id, config.idp_entity_id, xml, now)
            .await?;
        draft.checks = report.checks.iter().map(CheckView::from).collect();
        draft.flags = flags_of(&report, &certificates, now);
        draft.certificate_sha256 = report.certificate_sha256.clone();
        draft.signature_algorithm = report.signature_algorithm.map(|a| a.uri().to_string());
        let refusal = match report.outcome {
            Ok(assertion) => {
                draft.name_id = assertion.name_id.clone();
                draft.email = assertion.email().map(str::to_string);
                return Ok(Verified::Assertion(assertion));
            }
            Err(refusal) => refusal,
        };
        if refusal.reason == Reason::SignatureInvalid
            && let Some(presented) = &report.presented_certificate
        {
            self.unknown_certificate(org_id, org_name, presented, now)
                .await;
        }
        // An administrator's Test sign-in that failed goes back to the page listing the
        // checks. The unverified InResponseTo only chooses that page: the request must be a
        // test of this organisation, and the result says refused.
        if let Some(id) = answering
            && self.store.sso_request_purpose(org_id, &id).await? == Some(SsoRequestPurpose::Test)
        {
            return self
                .tested(draft, Some(Refusal::from(refusal.reason)))
                .await
                .map(Verified::Answered);
        }
        self.refuse(draft, refusal.reason.into(), &refusal.detail)
            .await
            .map(Verified::Answered)
    }

    /// In one unit of work, the assertion and the request it answers, each used once on
    /// every instance; a refusal drops the unit of work, so nothing of it is kept. The
    /// request, or none for an IdP-initiated Response the policy allows.
    async fn use_once(
        &self,
        org_id: &OrgId,
        sso_status: SsoStatus,
        policy: SsoPolicy,
        assertion: &response::Assertion,
        now: Timestamp,
    ) -> Result<Step<Option<RequestRecord>>, AppError> {
        let mut tx = self.store.write().await?;
        let keep_until = assertion
            .not_on_or_after
            .map(Timestamp::from_datetime)
            .unwrap_or(now)
            .plus_millis(response::CLOCK_SKEW.whole_milliseconds() as i64)
            .max(now.plus_millis(REQUEST_LIFETIME.whole_milliseconds() as i64));
        if !store::use_assertion(&mut tx, org_id, &assertion.id, keep_until).await? {
            return Ok(Step::Stop(Refusal::Replayed, assertion.id.clone()));
        }
        let request = match &assertion.in_response_to {
            Some(request_id) => {
                let since = now.plus_millis(-(REQUEST_LIFETIME.whole_milliseconds() as i64));
                match store::answer_request(&mut tx, org_id, request_id, since, now).await? {
                    Some(request) => Some(request),
                    None => return Ok(Step::Stop(Refusal::UnknownRequest, request_id.clone())),
                }
            }
            None if policy.idp_initiated => None,
            None => {
                return Ok(Step::Stop(
                    Refusal::UnsolicitedResponse,
                    "no InResponseTo".to_string(),
                ));
            }
        };
        let testing = request
            .as_ref()
            .is_some_and(|r| r.purpose == SsoRequestPurpose::Test);
        if !testing && sso_status != SsoStatus::Enabled {
            return Ok(Step::Stop(Refusal::SsoNotEnabled, sso_status.to_string()));
        }
        tx.commit().await?;
        Ok(Step::Go(request))
    }

    /// Records the sign-in and the one-time ticket the browser completes it with.
    async fn hand_over(
        &self,
        draft: &Draft,
        user: &UserId,
        browser_hash: Option<&str>,
        return_path: Option<&str>,
    ) -> Result<AcsOutcome, AppError> {
        let ticket = random_secret();
        let mut tx = self.store.write().await?;
        store::insert_attempt(
            &mut tx,
            &draft.record(SsoAttemptResult::SignedIn, None, Some(user)),
        )
        .await?;
        store::insert_handover(
            &mut tx,
            NewHandover {
                ticket_hash: &secret_hash(&ticket),
                org_id: &draft.org_id,
                attempt_id: &draft.id,
                user_id: Some(user),
                browser_hash,
                return_path,
                expires_at: draft
                    .at
                    .plus_millis(COMPLETION_LIFETIME.whole_milliseconds() as i64),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(AcsOutcome::SignIn { ticket })
    }

    /// The e-mail address and who it is; the e-mail check is added to the draft.
    pub(super) async fn person_check(
        &self,
        org_id: &OrgId,
        policy: SsoPolicy,
        draft: &mut Draft,
    ) -> Result<Step<(EmailAddress, Admission)>, AppError> {
        let Some(raw) = draft.email.clone() else {
            draft.email_check(false, "the Response names no e-mail address");
            return Ok(Step::Stop(Refusal::NoEmail, String::new()));
        };
        let Ok(email) = EmailAddress::parse(&raw) else {
            draft.email_check(false, format!("{raw:?} is not an e-mail address"));
            return Ok(Step::Stop(Refusal::NoEmail, raw));
        };
        let verified: Vec<String> = self
            .store
            .domains(org_id)
            .await?
            .into_iter()
            .filter(|d| d.status == DomainStatus::Verified)
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
            return Ok(Step::Stop(
                Refusal::EmailOutsideVerifiedDomains,
                email.as_str().to_string(),
            ));
        }
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
                Ok(Step::Go((email, admission)))
            }
            Err(refusal) => {
                draft.email_check(false, format!("{}: {}", email.as_str(), refusal.in_words()));
                Ok(Step::Stop(refusal, email.as_str().to_string()))
            }
        }
    }

    /// Creates what the admission needs and returns the user who signs in.
    pub(super) async fn admit_person(
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
                actor: AuditActor::System,
                target: Some(&user.id),
                details: AuditDetails::MemberJoinedWithSso(MemberJoined {
                    email: user.email.clone(),
                    role: Role::Member,
                }),
            })
            .await?;
        Ok(user.user_id())
    }

    pub(super) async fn refuse(
        &self,
        draft: &Draft,
        refusal: Refusal,
        detail: &str,
    ) -> Result<AcsOutcome, AppError> {
        let mut tx = self.store.write().await?;
        store::insert_attempt(
            &mut tx,
            &draft.record(SsoAttemptResult::Refused, Some(refusal), None),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(org = %draft.org_id, reason = refusal.code(), detail, "SSO sign-in refused");
        Ok(AcsOutcome::Refused {
            refusal,
            detail: detail.to_string(),
        })
    }

    pub(super) async fn tested(
        &self,
        draft: &Draft,
        refusal: Option<Refusal>,
    ) -> Result<AcsOutcome, AppError> {
        let result = if refusal.is_some() {
            SsoAttemptResult::Refused
        } else {
            SsoAttemptResult::Tested
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
    /// `/sso/complete?ticket=`: the session, for the browser that started the sign-in.
    pub async fn complete_sso(
        &self,
        ticket: &str,
        browser_secret: Option<&str>,
    ) -> Result<Completion, AppError> {
        let now = self.now();
        let Some(handover) = self
            .store
            .take_sso_handover(&secret_hash(ticket), now)
            .await?
        else {
            return Ok(Completion::Refused(Refusal::UnknownRequest));
        };
        let org_id = OrgId::parse(&handover.org_id).ok_or(AppError::NotFound)?;
        if let Some(expected) = &handover.browser_hash
            && browser_secret.map(secret_hash).as_ref() != Some(expected)
        {
            let draft = Draft::new(&org_id, attempt_id(), now);
            self.refuse(&draft, Refusal::OtherBrowser, &handover.attempt_id)
                .await?;
            return Ok(Completion::Refused(Refusal::OtherBrowser));
        }
        let user_id = handover
            .user_id
            .as_deref()
            .and_then(UserId::parse)
            .ok_or(AppError::NotFound)?;
        let user = self.store.user(&user_id).await?;
        if user.is_disabled() {
            return Ok(Completion::Refused(Refusal::UserDisabled));
        }
        let session = self.open_session(&user, "sso").await?;
        Ok(Completion::SignedIn(SsoSession {
            session,
            return_path: handover.return_path,
        }))
    }
}
