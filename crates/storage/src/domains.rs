//! Domains and the SAML configuration of an organisation (R8).

use crate::audit::{self, AuditEntry};
use crate::metadata_sources::MetadataUrlUpdate;
use crate::{Store, StoreError};
use smartcore_domain::audit::{DomainNamed, SsoConfig};
use smartcore_domain::{AuditActor, AuditDetails};
use smartcore_domain::{DomainId, OrgId, Timestamp, UserId};
use smartcore_domain::{DomainStatus, IdpBinding, SsoConfigSource, SsoStatus};
use sqlx::AnyConnection;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DomainRecord {
    pub id: String,
    pub org_id: String,
    pub domain: String,
    #[sqlx(try_from = "String")]
    pub status: DomainStatus,
    pub challenge_token: String,
    pub status_detail: Option<String>,
    pub checks: i64,
    pub verified_at: Option<i64>,
    pub created_at: i64,
}

/// A certificate to store with a configuration.
pub struct NewCertificate<'a> {
    pub fingerprint_sha256: &'a str,
    pub subject: &'a str,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    pub pem: &'a str,
    /// When the first reminder threshold begins (D6).
    pub next_due_at: Timestamp,
}

/// A new SAML configuration: where it came from (`metadata`, `fields` or `url`) and its
/// certificates.
#[derive(Clone, Copy)]
pub struct SsoConfigUpdate<'a> {
    pub entity_id: &'a str,
    pub sso_url: &'a str,
    /// How the sign-in URL takes our AuthnRequest.
    pub binding: IdpBinding,
    pub source: SsoConfigSource,
    pub certificates: &'a [NewCertificate<'a>],
    /// Set when the configuration was fetched from a metadata URL: the URL is kept and
    /// refreshed. `None` (pasted, uploaded or typed) ends any refresh from a URL.
    pub metadata_url: Option<MetadataUrlUpdate<'a>>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SsoConfigRecord {
    pub idp_entity_id: String,
    pub idp_sso_url: String,
    #[sqlx(try_from = "String")]
    pub source: SsoConfigSource,
    pub updated_at: i64,
    /// How the sign-in URL takes our AuthnRequest.
    #[sqlx(try_from = "String")]
    pub idp_sso_binding: IdpBinding,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CertificateRecord {
    pub fingerprint_sha256: String,
    pub subject: String,
    pub not_before: i64,
    pub not_after: i64,
}

impl Store {
    pub async fn add_domain(
        &self,
        org_id: &OrgId,
        domain: &str,
        challenge_token: &str,
        by: &UserId,
        now: Timestamp,
    ) -> Result<DomainRecord, StoreError> {
        let id = DomainId::generate();
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO domains (id, org_id, domain, status, challenge_token, next_check_at, created_at, created_by) \
             VALUES ($1, $2, $3, $8, $4, $5, $6, $7)",
        )
        .bind(id.as_str())
        .bind(org_id.as_str())
        .bind(domain)
        .bind(challenge_token)
        .bind(now.unix_millis() + 60_000)
        .bind(now.unix_millis())
        .bind(by.as_str())
        .bind(DomainStatus::Pending.as_str())
        .execute(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            AuditEntry {
                org_id: Some(org_id),
                at: now,
                actor: AuditActor::User(by.clone()),
                target: Some(id.as_str()),
                details: AuditDetails::DomainAdded(DomainNamed {
                    domain: domain.to_owned(),
                }),
            },
        )
        .await?;
        tx.commit().await?;
        self.domain(org_id, &id).await
    }

    pub async fn domains(&self, org_id: &OrgId) -> Result<Vec<DomainRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, org_id, domain, status, challenge_token, status_detail, checks, verified_at, created_at \
             FROM domains WHERE org_id = $1 ORDER BY id",
        )
        .bind(org_id.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn domain(&self, org_id: &OrgId, id: &DomainId) -> Result<DomainRecord, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, org_id, domain, status, challenge_token, status_detail, checks, verified_at, created_at \
             FROM domains WHERE org_id = $1 AND id = $2",
        )
        .bind(org_id.as_str())
        .bind(id.as_str())
        .fetch_one(&self.pool)
        .await?)
    }

    /// Marks a domain verified. `Duplicate` when another organisation verified it first.
    pub async fn mark_domain_verified(
        &self,
        domain: &DomainRecord,
        actor: &AuditActor,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE domains SET status = $3, status_detail = NULL, verified_at = $1, next_check_at = NULL, \
                 checks = checks + 1 WHERE id = $2",
        )
        .bind(now.unix_millis())
        .bind(&domain.id)
        .bind(DomainStatus::Verified.as_str())
        .execute(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            AuditEntry {
                org_id: OrgId::parse(&domain.org_id).as_ref(),
                at: now,
                actor: actor.clone(),
                target: Some(&domain.id),
                details: AuditDetails::DomainVerified(DomainNamed {
                    domain: domain.domain.clone(),
                }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a look-up that did not verify the domain; `next_check_at` None stops re-checks.
    pub async fn record_domain_check(
        &self,
        id: &str,
        status: DomainStatus,
        detail: &str,
        next_check_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE domains SET status = $1, status_detail = $2, next_check_at = $3, checks = checks + 1 \
             WHERE id = $4 AND status <> $5",
        )
        .bind(status.as_str())
        .bind(detail)
        .bind(next_check_at.map(Timestamp::unix_millis))
        .bind(id)
        .bind(DomainStatus::Verified.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Claims up to `limit` domains whose re-check is due, by postponing it: one UPDATE moves
    /// their `next_check_at` on to `lease_until` and returns them, and only rows still due are
    /// moved, so each due time is taken by one worker across instances. The look-up then sets
    /// the real next time ([`Store::record_domain_check`], [`Store::mark_domain_verified`]);
    /// a worker that dies in between leaves the domain due again at `lease_until`.
    pub async fn claim_due_domains(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> Result<Vec<DomainRecord>, StoreError> {
        let mut tx = self.begin().await?;
        let claimed = sqlx::query_as(
            "UPDATE domains SET next_check_at = $1 \
             WHERE id IN (SELECT id FROM domains WHERE next_check_at <= $2 ORDER BY next_check_at LIMIT $3) \
               AND next_check_at <= $2 \
             RETURNING id, org_id, domain, status, challenge_token, status_detail, checks, verified_at, created_at",
        )
        .bind(lease_until.unix_millis())
        .bind(now.unix_millis())
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// Stores an organisation's SAML configuration; certificates it no longer lists are marked
    /// replaced. The organisation becomes `configured` unless SSO is enabled already. `by` is a
    /// user id, or `system` for the metadata refresh. False (nothing written) only when a
    /// refresh lost its lease on the metadata URL.
    pub async fn put_sso_config(
        &self,
        org_id: &OrgId,
        config: &SsoConfigUpdate<'_>,
        by: &AuditActor,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let SsoConfigUpdate {
            entity_id,
            sso_url,
            binding,
            source,
            certificates,
            metadata_url,
        } = *config;
        let mut tx = self.begin().await?;
        let refreshed = match metadata_url {
            Some(m) => {
                if !crate::metadata_sources::record_document(&mut tx, org_id, &m, by.as_str(), now)
                    .await?
                {
                    return Ok(false);
                }
                m.lease_owner.is_some()
            }
            None => {
                crate::metadata_sources::forget(&mut tx, org_id).await?;
                false
            }
        };
        sqlx::query(
            "INSERT INTO sso_configs (org_id, idp_entity_id, idp_sso_url, source, updated_at, updated_by, idp_sso_binding) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (org_id) DO UPDATE SET idp_entity_id = excluded.idp_entity_id, \
                 idp_sso_url = excluded.idp_sso_url, source = excluded.source, \
                 updated_at = excluded.updated_at, updated_by = excluded.updated_by, \
                 idp_sso_binding = excluded.idp_sso_binding",
        )
        .bind(org_id.as_str())
        .bind(entity_id)
        .bind(sso_url)
        .bind(source.as_str())
        .bind(now.unix_millis())
        .bind(by.as_str())
        .bind(binding.as_str())
        .execute(&mut *tx)
        .await?;
        replace_certificates(&mut tx, org_id, certificates, now).await?;
        sqlx::query("UPDATE organisations SET sso_status = $2 WHERE id = $1 AND sso_status = $3")
            .bind(org_id.as_str())
            .bind(SsoStatus::Configured.as_str())
            .bind(SsoStatus::NotConfigured.as_str())
            .execute(&mut *tx)
            .await?;
        audit::record(&mut tx, config_audit(org_id, config, by, refreshed, now)).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn sso_config(&self, org_id: &OrgId) -> Result<Option<SsoConfigRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT idp_entity_id, idp_sso_url, source, updated_at, idp_sso_binding FROM sso_configs WHERE org_id = $1",
        )
        .bind(org_id.as_str())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The certificates of the current configuration, soonest to expire first.
    pub async fn current_certificates(
        &self,
        org_id: &OrgId,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT fingerprint_sha256, subject, not_before, not_after FROM sso_certificates \
             WHERE org_id = $1 AND replaced_at IS NULL ORDER BY not_after, fingerprint_sha256",
        )
        .bind(org_id.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Finishes SSO setup: the organisation's status becomes `enabled`.
    pub async fn enable_sso(
        &self,
        org_id: &OrgId,
        by: &UserId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE organisations SET sso_status = $2 WHERE id = $1")
            .bind(org_id.as_str())
            .bind(SsoStatus::Enabled.as_str())
            .execute(&mut *tx)
            .await?;
        audit::record(
            &mut tx,
            AuditEntry {
                org_id: Some(org_id),
                at: now,
                actor: AuditActor::User(by.clone()),
                target: Some(org_id.as_str()),
                details: AuditDetails::SsoEnabled,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Marks the organisation's current certificates replaced, then stores those of the new
/// configuration (one listed again is current again).
async fn replace_certificates(
    conn: &mut AnyConnection,
    org_id: &OrgId,
    certificates: &[NewCertificate<'_>],
    now: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE sso_certificates SET replaced_at = $1 WHERE org_id = $2 AND replaced_at IS NULL",
    )
    .bind(now.unix_millis())
    .bind(org_id.as_str())
    .execute(&mut *conn)
    .await?;
    for cert in certificates {
        sqlx::query(
            "INSERT INTO sso_certificates (org_id, fingerprint_sha256, subject, not_before, not_after, pem, added_at, next_due_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (org_id, fingerprint_sha256) DO UPDATE SET replaced_at = NULL",
        )
        .bind(org_id.as_str())
        .bind(cert.fingerprint_sha256)
        .bind(cert.subject)
        .bind(cert.not_before.unix_millis())
        .bind(cert.not_after.unix_millis())
        .bind(cert.pem)
        .bind(now.unix_millis())
        .bind(cert.next_due_at.unix_millis())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The audit event of a stored configuration: a change the refresh found at the identity
/// provider's URL (`refreshed`), or an administrator's.
fn config_audit<'a>(
    org_id: &'a OrgId,
    config: &SsoConfigUpdate<'_>,
    by: &AuditActor,
    refreshed: bool,
    now: Timestamp,
) -> AuditEntry<'a> {
    let SsoConfigUpdate {
        entity_id,
        sso_url,
        source,
        certificates,
        metadata_url,
        ..
    } = *config;
    let details = SsoConfig {
        certificates: certificates
            .iter()
            .map(|c| c.fingerprint_sha256.to_owned())
            .collect(),
        idp_entity_id: entity_id.to_owned(),
        idp_sso_url: sso_url.to_owned(),
        metadata_url: metadata_url.map(|m| m.url.to_owned()),
        source: source.to_string(),
    };
    AuditEntry {
        org_id: Some(org_id),
        at: now,
        actor: by.clone(),
        target: Some(org_id.as_str()),
        details: if refreshed {
            AuditDetails::SsoMetadataChanged(details)
        } else {
            AuditDetails::SsoConfigured(details)
        },
    }
}
