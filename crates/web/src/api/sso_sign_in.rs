//! `/api/v1/orgs/{org}/sso/attempts`, `/sso/check-response` and `/sso/policy`: signing in
//! with SSO, for administrators.

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::Id;
use crate::extract::{ApiActor, ApiJson, ApiPath};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use smartcore_app::ErrorCode;
use smartcore_app::{AppError, CheckView, ResponseVerdict, SsoAttempt, SsoPolicy};
use smartcore_domain::{OrgId, SignInFlag, SsoAttemptResult, Timestamp};
use utoipa::ToSchema;

/// One sign-in attempt.
#[derive(Serialize, ToSchema)]
pub struct Attempt {
    id: String,
    /// RFC 3339.
    at: String,
    /// `signed_in`, `tested` or `refused`.
    result: SsoAttemptResult,
    /// Why it was refused: `invalid_xml`, `idp_error`, `encrypted_assertion_unsupported`,
    /// `unsigned`, `unexpected_structure`, `unsupported_algorithm`, `signature_invalid`,
    /// `issuer_mismatch`, `audience_mismatch`, `recipient_mismatch`, `expired`,
    /// `not_yet_valid`, `unknown_request`, `unsolicited_response`, `replayed`, `no_email`,
    /// `email_outside_verified_domains`, `not_a_member`, `user_disabled`, `sso_not_enabled`,
    /// `other_browser`; null when it was not refused.
    reason: Option<String>,
    name_id: Option<String>,
    email: Option<String>,
    user_id: Option<String>,
    /// The certificate that verified the Response (or, refused as `signature_invalid`, the one
    /// it presented).
    certificate_sha256: Option<String>,
    /// The XML-Signature algorithm URI.
    signature_algorithm: Option<String>,
    /// Warnings: `sha1`, `weak_key`, `expired_certificate`.
    flags: Vec<SignInFlag>,
}

impl From<SsoAttempt> for Attempt {
    fn from(a: SsoAttempt) -> Self {
        Attempt {
            id: a.id,
            at: a.at.to_rfc3339(),
            result: a.result,
            reason: a.reason,
            name_id: a.name_id,
            email: a.email,
            user_id: a.user_id,
            certificate_sha256: a.certificate_sha256,
            signature_algorithm: a.signature_algorithm,
            flags: a.flags,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AttemptList {
    /// Newest first, at most 100; kept 30 days.
    attempts: Vec<Attempt>,
}

/// The organisation's recent SSO sign-in attempts, newest first, with their result and reason.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/sso/attempts", operation_id = "listSsoAttempts", tag = "SSO",
    params(("org" = String, Path, description = "Organisation id")),
    responses((status = 200, body = AttemptList)))]
pub async fn attempts(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(Id(org)): ApiPath<Id<OrgId>>,
) -> Result<Json<AttemptList>, ApiError> {
    let attempts = state.app.sso_sign_in().sso_attempts(&actor, &org).await?;
    Ok(Json(AttemptList {
        attempts: attempts.into_iter().map(Attempt::from).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// The `SAMLResponse` form value as the identity provider posted it (base64).
    saml_response: String,
    /// Judge time at this moment (RFC 3339), e.g. the Response's IssueInstant; default now.
    at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Check {
    /// `xml`, `status`, `signature`, `issuer`, `audience`, `recipient`, `time` or `email`.
    check: String,
    ok: bool,
    detail: String,
}

impl From<CheckView> for Check {
    fn from(c: CheckView) -> Self {
        Check {
            check: c.check,
            ok: c.ok,
            detail: c.detail,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Subject {
    name_id: Option<String>,
    email: Option<String>,
    /// Attribute name → values.
    attributes: std::collections::BTreeMap<String, Vec<String>>,
}

#[derive(Serialize, ToSchema)]
pub struct Verdict {
    /// Whether this Response would sign its subject in (apart from the request it answers and
    /// replay, which are not judged here).
    accepted: bool,
    /// The first refusal's code (see `Attempt.reason`), null when accepted.
    reason: Option<String>,
    checks: Vec<Check>,
    subject: Option<Subject>,
    certificate_sha256: Option<String>,
    signature_algorithm: Option<String>,
    flags: Vec<SignInFlag>,
}

impl From<ResponseVerdict> for Verdict {
    fn from(v: ResponseVerdict) -> Self {
        Verdict {
            accepted: v.accepted,
            reason: v.reason.map(str::to_string),
            checks: v.checks.into_iter().map(Check::from).collect(),
            subject: v.subject.map(|s| Subject {
                name_id: s.name_id,
                email: s.email,
                attributes: s.attributes.into_iter().collect(),
            }),
            certificate_sha256: v.certificate_sha256,
            signature_algorithm: v.signature_algorithm.map(str::to_string),
            flags: v.flags,
        }
    }
}

/// Check a captured SAML Response with the sign-in verifier: signs nobody in, records nothing.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/sso/check-response", operation_id = "checkSsoResponse", tag = "SSO",
    params(("org" = String, Path, description = "Organisation id")),
    request_body = CheckRequest,
    responses(
        (status = 200, body = Verdict, description = "The verifier's verdict; nobody is signed in and nothing is recorded"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "sso_not_configured"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "invalid_request (at)"),
    ))]
pub async fn check_response(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(Id(org)): ApiPath<Id<OrgId>>,
    ApiJson(body): ApiJson<CheckRequest>,
) -> Result<Json<Verdict>, ApiError> {
    let at = match body.at.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        None => None,
        Some(text) => Some(Timestamp::from_datetime(
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map_err(|_| {
                    AppError::invalid(
                        ErrorCode::InvalidTime,
                        "at",
                        "Give the time as RFC 3339, like 2026-12-03T08:00:00Z.",
                    )
                })?,
        )),
    };
    let verdict = state
        .app
        .sso_sign_in()
        .check_sso_response(&actor, &org, &body.saml_response, at)
        .await?;
    Ok(Json(verdict.into()))
}

/// How the organisation's members sign in with SSO.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Add people the identity provider vouches for (address in a verified domain) as members
    /// at their first sign-in. Default true.
    jit_members: bool,
    /// Accept Responses the identity provider sends without our request. Default false.
    idp_initiated: bool,
    /// Members whose address is in a verified domain must sign in with SSO; administrators
    /// keep their password. Turning it on needs a successful SSO sign-in or test in the last
    /// 24 hours (409 `sso_untested`). Default false.
    require_sso: bool,
}

impl From<SsoPolicy> for Policy {
    fn from(p: SsoPolicy) -> Self {
        Policy {
            jit_members: p.jit_members,
            idp_initiated: p.idp_initiated,
            require_sso: p.require_sso,
        }
    }
}

/// How the organisation's members sign in with SSO: just-in-time members, IdP-initiated sign-in, SSO required.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/sso/policy", operation_id = "getSsoPolicy", tag = "SSO",
    params(("org" = String, Path, description = "Organisation id")),
    responses((status = 200, body = Policy)))]
pub async fn get_policy(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(Id(org)): ApiPath<Id<OrgId>>,
) -> Result<Json<Policy>, ApiError> {
    Ok(Json(
        state
            .app
            .sso_sign_in()
            .sso_policy(&actor, &org)
            .await?
            .into(),
    ))
}

/// Change the SSO policy; requiring SSO needs a successful SSO sign-in or test in the last 24 hours.
#[utoipa::path(put, path = "/api/v1/orgs/{org}/sso/policy", operation_id = "updateSsoPolicy", tag = "SSO",
    params(("org" = String, Path, description = "Organisation id")),
    request_body = Policy,
    responses(
        (status = 200, body = Policy),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "sso_untested"),
    ))]
pub async fn put_policy(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(Id(org)): ApiPath<Id<OrgId>>,
    ApiJson(body): ApiJson<Policy>,
) -> Result<Json<Policy>, ApiError> {
    let policy = SsoPolicy {
        jit_members: body.jit_members,
        idp_initiated: body.idp_initiated,
        require_sso: body.require_sso,
    };
    Ok(Json(
        state
            .app
            .sso_sign_in()
            .set_sso_policy(&actor, &org, policy)
            .await?
            .into(),
    ))
}
