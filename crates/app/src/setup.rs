//! Getting ready for Single Sign-On (R8): domains verified through DNS, the identity
//! provider's SAML configuration, and finishing setup once everything is in place.
//!
//! A pending domain is re-checked in the background with backoff. The re-check claims each due
//! domain by moving its next check on by the lease (`SMARTCORE_SYNC_LEASE_S`, 10 s by default)
//! in one conditional UPDATE, so each due time is looked up once across instances; the look-up
//! then records the real next time. A worker killed mid-look-up leaves the domain due again
//! once the lease has run out, and a look-up that failed (the resolver did not answer) is tried
//! again then too.

use crate::ErrorCode;
use crate::Setup;
use crate::{Actor, App, AppError};
use smartcore_domain::DomainStatus;
use smartcore_domain::{AuditActor, SsoStatus};
use smartcore_domain::{Backoff, DomainId, OrgId, Timestamp};
use smartcore_domain::{IdpBinding, SsoConfigSource};
use smartcore_sso::{
    ChallengeToken, DomainName, IdpConfig, SsoBinding, challenge_value, txt_matches,
};
use smartcore_storage::{
    CertificateRecord, DomainRecord, MetadataUrlUpdate, NewCertificate, SsoConfigUpdate, StoreError,
};
use std::time::Duration;

/// A domain with the TXT record to publish for it.
#[derive(Debug, Clone)]
pub struct DomainView {
    pub id: String,
    pub domain: String,
    pub status: DomainStatus,
    pub status_detail: Option<String>,
    pub record_name: String,
    pub record_value: String,
    pub verified_at: Option<Timestamp>,
}

impl DomainView {
    fn from_record(r: DomainRecord) -> Self {
        let record_name = DomainName::parse(&r.domain)
            .map(|d| d.challenge_record_name())
            .unwrap_or_else(|_| format!("_smartcore-challenge.{}", r.domain));
        let record_value = ChallengeToken::parse(&r.challenge_token)
            .map(|t| challenge_value(&t))
            .unwrap_or_default();
        DomainView {
            id: r.id,
            domain: r.domain,
            status: r.status,
            status_detail: r.status_detail,
            record_name,
            record_value,
            verified_at: r.verified_at.map(Timestamp::from_unix_millis),
        }
    }
}

/// How an administrator gives the identity provider's settings.
pub enum SsoInput {
    Metadata {
        xml: String,
    },
    Fields {
        entity_id: String,
        sso_url: String,
        certificate_pem: String,
    },
    /// Fetched from the identity provider's metadata URL now, then refreshed on a schedule
    /// (see [`crate::metadata_refresh`]).
    Url {
        url: String,
    },
}

/// One signing certificate of the configuration, as shown back.
#[derive(Debug, Clone)]
pub struct CertificateView {
    pub fingerprint_sha256: String,
    pub subject: String,
    /// Unix milliseconds.
    pub not_before: i64,
    /// Unix milliseconds.
    pub not_after: i64,
}

impl From<CertificateRecord> for CertificateView {
    fn from(r: CertificateRecord) -> Self {
        CertificateView {
            fingerprint_sha256: r.fingerprint_sha256,
            subject: r.subject,
            not_before: r.not_before,
            not_after: r.not_after,
        }
    }
}

/// The stored configuration, as shown back.
#[derive(Debug, Clone)]
pub struct SsoView {
    pub status: SsoStatus,
    pub idp_entity_id: Option<String>,
    pub idp_sso_url: Option<String>,
    pub certificates: Vec<CertificateView>,
    /// The metadata URL the configuration is kept current from, and how its fetches went.
    pub metadata_url: Option<crate::metadata_refresh::MetadataSourceView>,
}

/// The longest gap between background re-checks of a pending domain.
const MAX_RECHECK: Duration = Duration::from_secs(6 * 3600);
/// After this many look-ups without the record, a domain is shown as failed (re-checks go on).
const CHECKS_BEFORE_FAILED: i64 = 5;

impl Setup<'_> {
    pub async fn add_domain(
        &self,
        actor: &Actor,
        org: &OrgId,
        domain: &str,
    ) -> Result<DomainView, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let domain = DomainName::parse(domain)
            .map_err(|e| AppError::invalid(ErrorCode::InvalidDomain, "domain", e.to_string()))?;
        let token = ChallengeToken::generate();
        match self
            .store
            .add_domain(
                &org_id,
                domain.as_str(),
                token.as_str(),
                &actor.user_id,
                self.now(),
            )
            .await
        {
            Err(StoreError::Duplicate) => Err(AppError::conflict(
                ErrorCode::DomainExists,
                format!("{} is already added to this organisation.", domain.as_str()),
            )),
            other => Ok(DomainView::from_record(other?)),
        }
    }

    pub async fn domains(&self, actor: &Actor, org: &OrgId) -> Result<Vec<DomainView>, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        Ok(self
            .store
            .domains(&org_id)
            .await?
            .into_iter()
            .map(DomainView::from_record)
            .collect())
    }

    /// Looks the domain's TXT record up now, through the configured resolver.
    pub async fn verify_domain(
        &self,
        actor: &Actor,
        org: &OrgId,
        id: &DomainId,
    ) -> Result<DomainView, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let record = self.store.domain(&org_id, id).await?;
        if record.status == DomainStatus::Verified {
            return Ok(DomainView::from_record(record));
        }
        let by = actor.audit_actor();
        match self.check_domain(&record, &by).await? {
            DomainCheck::Verified => Ok(DomainView::from_record(
                self.store.domain(&org_id, id).await?,
            )),
            DomainCheck::NotYet(found) => Err(AppError::conflict(
                ErrorCode::TxtRecordNotFound,
                format!(
                    "No TXT record {} with the value {} was found{}. DNS changes can take a while to appear; try again later.",
                    DomainView::from_record(record.clone()).record_name,
                    DomainView::from_record(record).record_value,
                    if found.is_empty() {
                        String::new()
                    } else {
                        format!(" (found: {})", found.join(", "))
                    }
                ),
            )),
        }
    }

    /// One look-up: verified now, or not yet (with the TXT records found).
    async fn check_domain(
        &self,
        record: &DomainRecord,
        actor: &AuditActor,
    ) -> Result<DomainCheck, AppError> {
        let view = DomainView::from_record(record.clone());
        let records =
            self.dns
                .lookup_txt(&view.record_name)
                .await
                .map_err(|e| AppError::Unavailable {
                    message: format!("The DNS look-up did not succeed ({e}). Try again shortly."),
                })?;
        let now = self.now();
        if txt_matches(&records, &view.record_value) {
            return match self.store.mark_domain_verified(record, actor, now).await {
                Err(StoreError::Duplicate) => {
                    let detail = "Another organisation has verified this domain already.";
                    self.store
                        .record_domain_check(&record.id, DomainStatus::Failed, detail, None)
                        .await?;
                    Err(AppError::conflict(ErrorCode::DomainTaken, detail))
                }
                other => {
                    other?;
                    Ok(DomainCheck::Verified)
                }
            };
        }
        let checks = record.checks + 1;
        let rechecks = Backoff::new(Duration::from_secs(60), MAX_RECHECK);
        let doublings = u32::try_from(checks).unwrap_or(u32::MAX);
        let next = now.plus_millis(Backoff::millis(rechecks.delay(doublings)));
        let (status, detail) = if checks >= CHECKS_BEFORE_FAILED {
            (
                DomainStatus::Failed,
                format!("The TXT record was not found after {checks} look-ups; we keep checking."),
            )
        } else {
            (
                DomainStatus::Pending,
                "The TXT record was not found yet.".to_owned(),
            )
        };
        self.store
            .record_domain_check(&record.id, status, &detail, Some(next))
            .await?;
        Ok(DomainCheck::NotYet(records))
    }

    /// The background re-check of domains waiting for their TXT record; returns how many were
    /// looked up. The due domains are claimed by postponing their next check by the lease
    /// (see [`smartcore_storage::Store::claim_due_domains`]), so two instances never look the
    /// same domain up for one due time, and the domain of a worker killed mid-look-up is due
    /// again once the lease has run out. Each look-up then sets the real next time.
    pub async fn recheck_domains(&self, limit: i64) -> Result<usize, AppError> {
        let now = self.now();
        let until = now.plus_millis(crate::sync::millis(self.lease));
        let due = self.store.claim_due_domains(now, until, limit).await?;
        for record in &due {
            if let Err(e) = self.check_domain(record, &AuditActor::System).await {
                tracing::info!(domain = %record.domain, error = %e.chain(), "domain re-check did not complete");
            }
        }
        Ok(due.len())
    }

    /// Stores the identity provider's SAML settings, from metadata or from fields.
    pub async fn configure_sso(
        &self,
        actor: &Actor,
        org: &OrgId,
        input: SsoInput,
    ) -> Result<SsoView, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let (config, source) = match input {
            SsoInput::Url { url } => {
                let (fetched, url) = self.fetch_metadata_now(&url).await?;
                let next_fetch_at = self.next_metadata_fetch(self.now());
                self.store_sso_config(
                    &org_id,
                    &fetched.config,
                    SsoConfigSource::Url,
                    &actor.audit_actor(),
                    Some(MetadataUrlUpdate {
                        url: &url,
                        document_sha256: &fetched.document_sha256,
                        config_sha256: &fetched.config_sha256,
                        next_fetch_at,
                        lease_owner: None,
                    }),
                )
                .await?;
                return self.sso_view(&org_id).await;
            }
            SsoInput::Metadata { xml } => {
                let metadata = crate::metadata_parse::parse_metadata_off_the_async_threads(xml)
                    .await
                    .map_err(|e| match e {
                        crate::metadata_parse::MetadataParse::Invalid(e) => AppError::invalid(
                            ErrorCode::InvalidMetadata,
                            "metadata_xml",
                            e.to_string(),
                        ),
                        crate::metadata_parse::MetadataParse::Stopped(e) => e,
                    })?;
                (IdpConfig::from(metadata), SsoConfigSource::Metadata)
            }
            SsoInput::Fields {
                entity_id,
                sso_url,
                certificate_pem,
            } => {
                let config = IdpConfig::from_fields(&entity_id, &sso_url, &certificate_pem)
                    .map_err(|e| {
                        let (code, field) = match e {
                            smartcore_sso::IdpConfigError::Certificate(_)
                            | smartcore_sso::IdpConfigError::NoCertificate => {
                                (ErrorCode::InvalidCertificate, "idp_certificate_pem")
                            }
                            smartcore_sso::IdpConfigError::SsoUrlInvalid { .. }
                            | smartcore_sso::IdpConfigError::SsoUrlNotHttps
                            | smartcore_sso::IdpConfigError::SsoUrlHasCredentials => {
                                (ErrorCode::InvalidRequest, "idp_sso_url")
                            }
                            _ => (ErrorCode::InvalidRequest, "idp_entity_id"),
                        };
                        AppError::Invalid {
                            code,
                            field: Some(field),
                            message: e.to_string(),
                        }
                    })?;
                (config, SsoConfigSource::Fields)
            }
        };
        let by = actor.audit_actor();
        self.store_sso_config(&org_id, &config, source, &by, None)
            .await?;
        self.sso_view(&org_id).await
    }

    /// Stores a configuration and its certificates (`by`: a user, or the system for the
    /// refresh), then ends the reminder schedule of certificates it renewed (D6). False when a
    /// refresh lost its lease and nothing was written.
    pub(crate) async fn store_sso_config(
        &self,
        org_id: &OrgId,
        config: &IdpConfig,
        source: SsoConfigSource,
        by: &AuditActor,
        url: Option<MetadataUrlUpdate<'_>>,
    ) -> Result<bool, AppError> {
        let pems: Vec<String> = config.certificates.iter().map(|c| c.to_pem()).collect();
        let certificates: Vec<NewCertificate<'_>> = config
            .certificates
            .iter()
            .zip(&pems)
            .map(|(c, pem)| NewCertificate {
                fingerprint_sha256: &c.fingerprint_sha256,
                subject: &c.subject,
                not_before: Timestamp::from_datetime(c.not_before),
                not_after: Timestamp::from_datetime(c.not_after),
                pem,
                next_due_at: Timestamp::from_datetime(
                    smartcore_sso::Threshold::first().moment(c.not_after),
                ),
            })
            .collect();
        let update = SsoConfigUpdate {
            entity_id: &config.entity_id,
            sso_url: &config.sso_url,
            binding: match config.binding {
                SsoBinding::HttpRedirect => IdpBinding::Redirect,
                SsoBinding::HttpPost => IdpBinding::Post,
            },
            source,
            certificates: &certificates,
            metadata_url: url,
        };
        let now = self.now();
        if !self.store.put_sso_config(org_id, &update, by, now).await? {
            return Ok(false);
        }
        // D6: certificates this configuration replaced end their schedule with one notice.
        let newest = config
            .certificates
            .iter()
            .max_by_key(|c| c.not_after)
            .map(|c| (c.fingerprint_sha256.as_str(), c.not_after));
        let renewed = self
            .trust()
            .notify_renewals(org_id.as_str(), now, newest)
            .await?;
        if renewed > 0 {
            tracing::info!(org = %org_id, renewed, "certificate renewal notices sent");
        }
        Ok(true)
    }

    pub async fn sso(&self, actor: &Actor, org: &OrgId) -> Result<SsoView, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        self.sso_view(&org_id).await
    }

    async fn sso_view(&self, org_id: &OrgId) -> Result<SsoView, AppError> {
        let org = self.store.org(org_id).await?;
        let config = self.store.sso_config(org_id).await?;
        Ok(SsoView {
            status: org.sso_status,
            idp_entity_id: config.as_ref().map(|c| c.idp_entity_id.clone()),
            idp_sso_url: config.map(|c| c.idp_sso_url),
            certificates: (self.store.current_certificates(org_id).await?)
                .into_iter()
                .map(CertificateView::from)
                .collect(),
            metadata_url: self.metadata_source_view(org_id).await?,
        })
    }

    /// Finishes SSO setup (R8): needs a verified domain, at least one IT contact and a
    /// configuration; otherwise says what is missing.
    pub async fn enable_sso(&self, actor: &Actor, org: &OrgId) -> Result<SsoView, AppError> {
        let org_id = self.admin_org(actor, org).await?;
        let mut missing = Vec::new();
        if !self.has_verified_domain(&org_id).await? {
            missing.push("verified_domain");
        }
        if self.store.contact_count(&org_id).await? == 0 {
            missing.push("it_contact");
        }
        if self.store.sso_config(&org_id).await?.is_none() {
            missing.push("sso_configuration");
        }
        if !missing.is_empty() {
            let words: Vec<&str> = missing
                .iter()
                .map(|m| match *m {
                    "verified_domain" => "a verified domain",
                    "it_contact" => "at least one IT contact",
                    _ => "the identity provider's SAML configuration",
                })
                .collect();
            return Err(AppError::Conflict {
                code: ErrorCode::PrerequisitesMissing,
                message: format!(
                    "Single Sign-On can be enabled once you have {}.",
                    words.join(" and ")
                ),
                missing,
            });
        }
        self.store
            .enable_sso(&org_id, &actor.user_id, self.now())
            .await?;
        self.sso_view(&org_id).await
    }
}

/// What one DNS look-up of a domain found.
enum DomainCheck {
    Verified,
    /// Not verified yet; the TXT records found at the name.
    NotYet(Vec<String>),
}

impl App {
    /// Whether one of the organisation's domains is verified.
    pub(crate) async fn has_verified_domain(&self, org_id: &OrgId) -> Result<bool, AppError> {
        let domains = self.store.domains(org_id).await?;
        Ok(domains.iter().any(|d| d.status == DomainStatus::Verified))
    }
}
