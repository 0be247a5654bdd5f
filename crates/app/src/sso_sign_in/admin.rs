//! For administrators and the CLI: attempts, check-response, the policy, the page's overview;
//! and the password form's question whether SSO is required.

use super::*;
use crate::ErrorCode;
use crate::SsoSignIn;

impl SsoSignIn<'_> {
    /// One attempt, for the Test sign-in's result page (administrators).
    pub async fn sso_attempt(
        &self,
        actor: &Actor,
        org: &OrgId,
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
        org: &OrgId,
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
        org: &OrgId,
        saml_response: &str,
        at: Option<Timestamp>,
    ) -> Result<ResponseVerdict, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        self.check_sso_response_of(&org_id, saml_response, at).await
    }

    /// [`SsoSignIn::check_sso_response`] for the CLI (the operator).
    pub async fn check_sso_response_of(
        &self,
        org_id: &OrgId,
        saml_response: &str,
        at: Option<Timestamp>,
    ) -> Result<ResponseVerdict, AppError> {
        let config = self.store.sso_config(org_id).await?.ok_or_else(|| {
            AppError::conflict(
                ErrorCode::SsoNotConfigured,
                "Add the identity provider's settings on the Single Sign-On page first.",
            )
        })?;
        let now = at.unwrap_or_else(|| self.now());
        let mut draft = Draft::new(org_id, String::new(), now);
        let xml = match response::decode_form_value(saml_response) {
            Ok(xml) => xml,
            Err(refusal) => return Ok(ResponseVerdict::unreadable(refusal)),
        };
        let (report, certificates) = self
            .verify_response(org_id, config.idp_entity_id, xml.clone(), now)
            .await?;
        draft.checks = report.checks.iter().map(CheckView::from).collect();
        let (reason, subject) = match &report.outcome {
            Ok(assertion) => {
                draft.email = assertion.email().map(str::to_string);
                let person = self
                    .person_check(
                        org_id,
                        policy_of(self.store.sso_policy(org_id).await?),
                        &mut draft,
                    )
                    .await?;
                (
                    match person {
                        Step::Go(_) => None,
                        Step::Stop(refusal, _) => Some(refusal),
                    },
                    Some(SubjectView::of(assertion)),
                )
            }
            // A Response refused after its signature verified (another audience, another
            // time) still says whom it speaks of: the administrator wants to see that too.
            Err(refusal) => {
                let signature_ok = report
                    .checks
                    .iter()
                    .any(|c| c.name == CheckName::Signature && c.ok);
                let subject = signature_ok
                    .then(|| {
                        response::verify_signature_only(&xml, &certificates)
                            .outcome
                            .ok()
                    })
                    .flatten()
                    .map(|a| SubjectView::of(&a));
                (Some(Refusal::from(refusal.reason)), subject)
            }
        };
        Ok(ResponseVerdict {
            accepted: reason.is_none(),
            reason: reason.map(Refusal::code),
            reason_in_words: reason.map(Refusal::in_words),
            checks: draft.checks,
            subject,
            certificate_sha256: report.certificate_sha256.clone(),
            signature_algorithm: report.signature_algorithm.map(|a| a.uri()),
            flags: flags_of(&report, &certificates, now),
        })
    }

    pub async fn sso_policy(&self, actor: &Actor, org: &OrgId) -> Result<SsoPolicy, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        Ok(policy_of(self.store.sso_policy(&org_id).await?))
    }

    /// Changes the policy. `require_sso` can be turned on only after a successful SSO
    /// sign-in or test within [`REQUIRE_SSO_TESTED_WITHIN`] (`sso_untested`), so nobody is
    /// sent to a sign-in that does not work.
    pub async fn set_sso_policy(
        &self,
        actor: &Actor,
        org: &OrgId,
        policy: SsoPolicy,
    ) -> Result<SsoPolicy, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let now = self.now();
        let current = policy_of(self.store.sso_policy(&org_id).await?);
        if policy.require_sso && !current.require_sso {
            let since = now.plus_millis(-(REQUIRE_SSO_TESTED_WITHIN.whole_milliseconds() as i64));
            if !self.store.sso_succeeded_since(&org_id, since).await? {
                return Err(AppError::conflict(
                    ErrorCode::SsoUntested,
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
        org: &OrgId,
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
            .any(|a| a.result != SsoAttemptResult::Refused && a.flags.contains(&SignInFlag::Sha1));
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

impl App {
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
}
