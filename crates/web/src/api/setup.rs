//! `/api/v1/orgs/{org}/domains` and `/api/v1/orgs/{org}/sso`: what SSO needs (R8).

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::Id;
use crate::extract::{ApiActor, ApiJson, ApiPath};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use serde::{Deserialize, Serialize};
use smartcore_app::{DomainView, SsoInput, SsoView};
use smartcore_domain::{DomainId, DomainStatus, OrgId, SsoStatus, Timestamp};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct DnsRecord {
    #[schema(example = "TXT")]
    r#type: String,
    #[schema(example = "_smartcore-challenge.example.com")]
    name: String,
    value: String,
}

#[derive(Serialize, ToSchema)]
pub struct Domain {
    id: String,
    domain: String,
    /// `pending`, `verified` or `failed` (re-checks go on).
    status: DomainStatus,
    status_detail: Option<String>,
    dns_record: DnsRecord,
    verified_at: Option<String>,
}

impl From<DomainView> for Domain {
    fn from(d: DomainView) -> Self {
        Domain {
            id: d.id,
            domain: d.domain,
            status: d.status,
            status_detail: d.status_detail,
            dns_record: DnsRecord {
                r#type: "TXT".into(),
                name: d.record_name,
                value: d.record_value,
            },
            verified_at: d.verified_at.map(|t| t.to_rfc3339()),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DomainList {
    domains: Vec<Domain>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDomain {
    #[schema(example = "example.com")]
    domain: String,
}

/// Add a domain; publish the TXT record it answers, then verify.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/domains", operation_id = "createDomain", tag = "Domains",
    params(("org" = String, Path, description = "Organisation id")),
    request_body = NewDomain,
    responses(
        (status = 201, body = Domain),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "domain_exists"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "invalid_domain"),
    ))]
pub async fn add_domain(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(Id(org)): ApiPath<Id<OrgId>>,
    ApiJson(body): ApiJson<NewDomain>,
) -> Result<(StatusCode, [(header::HeaderName, String); 1], Json<Domain>), ApiError> {
    let domain: Domain = state
        .app
        .setup()
        .add_domain(&actor, &org, &body.domain)
        .await?
        .into();
    let location = format!("/api/v1/orgs/{org}/domains/{}", domain.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(domain),
    ))
}

/// The organisation's domains.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/domains", operation_id = "listDomains", tag = "Domains",
    params(("org" = String, Path, description = "Organisation id")),
    responses((status = 200, body = DomainList)))]
pub async fn list_domains(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(Id(org)): ApiPath<Id<OrgId>>,
) -> Result<Json<DomainList>, ApiError> {
    let domains = state.app.setup().domains(&actor, &org).await?;
    Ok(Json(DomainList {
        domains: domains.into_iter().map(Domain::from).collect(),
    }))
}

/// Look the domain's TXT record up now.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/domains/{id}/verify", operation_id = "verifyDomain", tag = "Domains",
    params(("org" = String, Path, description = "Organisation id"), ("id" = String, Path, description = "Domain id")),
    responses(
        (status = 200, body = Domain),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "txt_record_not_found, domain_taken"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "DNS unavailable"),
    ))]
pub async fn verify_domain(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((Id(org), Id(id))): ApiPath<(Id<OrgId>, Id<DomainId>)>,
) -> Result<Json<Domain>, ApiError> {
    Ok(Json(
        state
            .app
            .setup()
            .verify_domain(&actor, &org, &id)
            .await?
            .into(),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct CertificateInfo {
    /// SHA-256 of the DER, lower-case hex pairs joined by colons.
    fingerprint_sha256: String,
    subject: String,
    not_before: String,
    not_after: String,
}

/// The metadata URL the configuration is kept current from, and how its fetches went.
#[derive(Serialize, ToSchema)]
pub struct MetadataUrlStatus {
    url: String,
    /// The last fetch that gave usable metadata (changed or not).
    last_good_fetch_at: String,
    /// When the configuration last changed through this URL (or was first fetched).
    last_changed_at: String,
    last_attempt_at: String,
    /// When the next fetch is due (the refresh interval with jitter, or a retry after a failure).
    next_fetch_at: String,
    /// `ok`, or `failing` while the last fetch failed (the last good configuration stays in use).
    status: FetchHealth,
    /// When the current run of failures began.
    failing_since: Option<String>,
    /// Failed fetches in a row.
    failures: i64,
    /// The last failure's code: `metadata_unreachable`, `metadata_http_status`, `invalid_metadata`,
    /// `metadata_too_large`, `metadata_private_address`, `metadata_too_many_redirects`,
    /// `metadata_timeout` or `invalid_metadata_url`.
    last_error_code: Option<String>,
    last_error: Option<String>,
}

/// How the fetches of a metadata URL go.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FetchHealth {
    /// The last fetch gave usable metadata.
    Ok,
    /// The last fetch failed.
    Failing,
}

#[derive(Serialize, ToSchema)]
pub struct Sso {
    /// `not_configured`, `configured` or `enabled`.
    status: SsoStatus,
    idp_entity_id: Option<String>,
    idp_sso_url: Option<String>,
    certificates: Vec<CertificateInfo>,
    /// Set when the configuration comes from a metadata URL.
    metadata_url: Option<MetadataUrlStatus>,
}

impl From<SsoView> for Sso {
    fn from(v: SsoView) -> Self {
        Sso {
            status: v.status,
            idp_entity_id: v.idp_entity_id,
            idp_sso_url: v.idp_sso_url,
            certificates: v
                .certificates
                .into_iter()
                .map(|c| CertificateInfo {
                    fingerprint_sha256: c.fingerprint_sha256,
                    subject: c.subject,
                    not_before: Timestamp::from_unix_millis(c.not_before).to_rfc3339(),
                    not_after: Timestamp::from_unix_millis(c.not_after).to_rfc3339(),
                })
                .collect(),
            metadata_url: v.metadata_url.map(|m| MetadataUrlStatus {
                url: m.url,
                last_good_fetch_at: m.last_good_at.to_rfc3339(),
                last_changed_at: m.last_changed_at.to_rfc3339(),
                last_attempt_at: m.last_attempt_at.to_rfc3339(),
                next_fetch_at: m.next_fetch_at.to_rfc3339(),
                status: if m.failing_since.is_some() {
                    FetchHealth::Failing
                } else {
                    FetchHealth::Ok
                },
                failing_since: m.failing_since.map(|t| t.to_rfc3339()),
                failures: m.failures,
                last_error_code: m.last_error_code,
                last_error: m.last_error,
            }),
        }
    }
}

/// Either `metadata_xml`, or `metadata_url` (https; fetched now, then refreshed on a schedule),
/// or the three `idp_…` fields.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SsoConfiguration {
    metadata_xml: Option<String>,
    #[schema(
        example = "https://idp.example.com/federationmetadata/2007-06/federationmetadata.xml"
    )]
    metadata_url: Option<String>,
    idp_entity_id: Option<String>,
    idp_sso_url: Option<String>,
    idp_certificate_pem: Option<String>,
}

/// Set the identity provider's SAML configuration.
#[utoipa::path(put, path = "/api/v1/orgs/{org}/sso", operation_id = "updateSsoConfiguration", tag = "SSO",
    params(("org" = String, Path, description = "Organisation id")),
    request_body = SsoConfiguration,
    responses(
        (status = 200, body = Sso),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "invalid_metadata, invalid_certificate, invalid_request; for metadata_url: invalid_metadata_url, metadata_unreachable, metadata_http_status, metadata_too_large, metadata_private_address, metadata_too_many_redirects, metadata_timeout"),
    ))]
pub async fn put_sso(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(Id(org)): ApiPath<Id<OrgId>>,
    ApiJson(body): ApiJson<SsoConfiguration>,
) -> Result<Json<Sso>, ApiError> {
    let input = match body {
        SsoConfiguration {
            metadata_xml: Some(xml),
            metadata_url: None,
            idp_entity_id: None,
            idp_sso_url: None,
            idp_certificate_pem: None,
        } => SsoInput::Metadata { xml },
        SsoConfiguration {
            metadata_xml: None,
            metadata_url: Some(url),
            idp_entity_id: None,
            idp_sso_url: None,
            idp_certificate_pem: None,
        } => SsoInput::Url { url },
        SsoConfiguration {
            metadata_xml: None,
            metadata_url: None,
            idp_entity_id: Some(entity_id),
            idp_sso_url: Some(sso_url),
            idp_certificate_pem: Some(certificate_pem),
        } => SsoInput::Fields {
            entity_id,
            sso_url,
            certificate_pem,
        },
        _ => {
            return Err(ApiError::unprocessable(
                "Give either metadata_xml, or metadata_url, or idp_entity_id, idp_sso_url and idp_certificate_pem together.",
            ));
        }
    };
    Ok(Json(
        state
            .app
            .setup()
            .configure_sso(&actor, &org, input)
            .await?
            .into(),
    ))
}

/// The SAML configuration and its certificates.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/sso", operation_id = "getSsoConfiguration", tag = "SSO",
    params(("org" = String, Path, description = "Organisation id")),
    responses((status = 200, body = Sso)))]
pub async fn get_sso(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(Id(org)): ApiPath<Id<OrgId>>,
) -> Result<Json<Sso>, ApiError> {
    Ok(Json(state.app.setup().sso(&actor, &org).await?.into()))
}

/// Finish SSO setup: needs a verified domain, at least one IT contact and a configuration.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/sso/enable", operation_id = "enableSso", tag = "SSO",
    params(("org" = String, Path, description = "Organisation id")),
    responses(
        (status = 200, body = Sso),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "prerequisites_missing, with `missing`"),
    ))]
pub async fn enable_sso(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(Id(org)): ApiPath<Id<OrgId>>,
) -> Result<Json<Sso>, ApiError> {
    Ok(Json(
        state.app.setup().enable_sso(&actor, &org).await?.into(),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct SetupLinksSent {
    /// How many IT contacts were e-mailed a link.
    sent_to: usize,
}

/// E-mail every IT contact a read-only setup link, valid for 72 hours.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/setup-links", operation_id = "sendSetupLinks", tag = "SSO",
    params(("org" = String, Path, description = "Organisation id")),
    responses((status = 202, body = SetupLinksSent)))]
pub async fn send_setup_links(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(Id(org)): ApiPath<Id<OrgId>>,
) -> Result<(StatusCode, Json<SetupLinksSent>), ApiError> {
    let sent_to = state.app.setup().send_setup_links(&actor, &org).await?;
    Ok((StatusCode::ACCEPTED, Json(SetupLinksSent { sent_to })))
}
