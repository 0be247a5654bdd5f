//! Starting a sign-in: the request row, the browser's secret and the AuthnRequest.

use super::*;
use crate::ErrorCode;
use crate::SsoSignIn;
use smartcore_domain::{IdpBinding, SsoRequestPurpose, SsoStatus};

impl SsoSignIn<'_> {
    /// `/sso/start?email=`: the organisation whose verified domain the address is in, with SSO
    /// enabled. Anything else is the same answer, so nobody learns which organisations exist.
    pub async fn start_sso_for_email(
        &self,
        email: &str,
        return_path: Option<&str>,
    ) -> Result<SsoStart, AppError> {
        let unavailable = || {
            AppError::invalid(
                ErrorCode::SsoNotAvailable,
                "email",
                "Single Sign-On is not available for this address. Sign in with your password, or ask your administrator.",
            )
        };
        let email = EmailAddress::parse(email.trim()).map_err(|_| {
            AppError::invalid(
                ErrorCode::InvalidEmail,
                "email",
                "Enter your work e-mail address, like name@example.com.",
            )
        })?;
        let owner = self
            .store
            .verified_domain_owner(email.domain())
            .await?
            .filter(|o| o.sso_status == SsoStatus::Enabled)
            .ok_or_else(unavailable)?;
        let org_id = OrgId::parse(&owner.org_id).ok_or_else(unavailable)?;
        self.issue_request(&org_id, SsoRequestPurpose::SignIn, return_path, None)
            .await
    }

    /// `/saml/{org}/login`: the bookmarkable start for one organisation.
    pub async fn start_sso_for_org(
        &self,
        org: &OrgId,
        return_path: Option<&str>,
    ) -> Result<SsoStart, AppError> {
        let org_id = org.clone();
        let record = self.store.org(&org_id).await?;
        if record.sso_status != SsoStatus::Enabled {
            return Err(AppError::conflict(
                ErrorCode::SsoNotEnabled,
                Refusal::SsoNotEnabled.in_words(),
            ));
        }
        self.issue_request(&org_id, SsoRequestPurpose::SignIn, return_path, None)
            .await
    }

    /// The administrator's Test sign-in: goes to the identity provider and back to a page
    /// listing each check; signs nobody in; works before SSO is enabled.
    pub async fn start_sso_test(&self, actor: &Actor, org: &OrgId) -> Result<SsoStart, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        self.issue_request(&org_id, SsoRequestPurpose::Test, None, Some(&actor.user_id))
            .await
    }

    pub(super) async fn issue_request(
        &self,
        org_id: &OrgId,
        purpose: SsoRequestPurpose,
        return_path: Option<&str>,
        requested_by: Option<&UserId>,
    ) -> Result<SsoStart, AppError> {
        let config = self.store.sso_config(org_id).await?.ok_or_else(|| {
            AppError::conflict(
                ErrorCode::SsoNotConfigured,
                "Add the identity provider's settings on the Single Sign-On page first.",
            )
        })?;
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
        let redirect = match config.idp_sso_binding {
            IdpBinding::Redirect => SsoRedirect::Redirect {
                url: request.redirect_url(&id),
            },
            IdpBinding::Post => SsoRedirect::Post {
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
}
