//! Signing in with SSO: the organisation's policy, the requests we issued, assertions already
//! used, attempts, certificates seen at the identity provider, and the hand-over from the ACS
//! to the browser. Each function is close to one statement; the use case decides what they
//! mean and opens the transaction where several must happen together.

use crate::audit::{self, AuditEntry};
use crate::tx::WriteTx;
use crate::{Store, StoreError};
use smartcore_domain::audit::{SignInAttempt, SsoPolicy};
use smartcore_domain::{AuditActor, AuditDetails, SsoAttemptResult, SsoRequestPurpose};
use smartcore_domain::{DomainStatus, SsoStatus};
use smartcore_domain::{OrgId, Timestamp, UserId};
use sqlx::Row;

/// The stored policy (absent: the defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyRecord {
    pub jit_members: bool,
    pub idp_initiated: bool,
    pub require_sso: bool,
}

/// A request we issued, as the ACS finds it when it is answered.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RequestRecord {
    #[sqlx(try_from = "String")]
    pub purpose: SsoRequestPurpose,
    pub browser_hash: String,
    pub return_path: Option<String>,
    pub requested_by: Option<String>,
}

/// A new request.
pub struct NewRequest<'a> {
    pub id: &'a str,
    pub org_id: &'a OrgId,
    pub purpose: SsoRequestPurpose,
    pub browser_hash: &'a str,
    pub return_path: Option<&'a str>,
    pub requested_by: Option<&'a UserId>,
    pub now: Timestamp,
}

/// One sign-in attempt, as recorded and listed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRecord {
    pub id: String,
    pub org_id: String,
    pub at: i64,
    #[sqlx(try_from = "String")]
    pub result: SsoAttemptResult,
    pub reason: Option<String>,
    pub name_id: Option<String>,
    pub email: Option<String>,
    pub user_id: Option<String>,
    pub certificate_sha256: Option<String>,
    pub signature_algorithm: Option<String>,
    /// JSON list of `{check, ok, detail}`.
    pub checks: String,
    /// JSON list of warnings.
    pub flags: String,
}

/// How often a certificate verified a sign-in or test recently.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CertificateUse {
    pub certificate_sha256: String,
    pub uses: i64,
    pub last_at: i64,
}

/// The one-time hand-over from the ACS to the browser.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HandoverRecord {
    pub org_id: String,
    pub attempt_id: String,
    pub user_id: Option<String>,
    pub browser_hash: Option<String>,
    pub return_path: Option<String>,
}

/// A new hand-over.
pub struct NewHandover<'a> {
    pub ticket_hash: &'a str,
    pub org_id: &'a OrgId,
    pub attempt_id: &'a str,
    pub user_id: Option<&'a UserId>,
    pub browser_hash: Option<&'a str>,
    pub return_path: Option<&'a str>,
    pub expires_at: Timestamp,
}

/// The organisation a verified domain belongs to, with its SSO status.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DomainOwner {
    pub org_id: String,
    #[sqlx(try_from = "String")]
    pub sso_status: SsoStatus,
}

impl Store {
    /// Starts a unit of work (see [`WriteTx`]).
    pub async fn write(&self) -> Result<WriteTx, StoreError> {
        self.begin().await
    }

    pub async fn sso_policy(&self, org_id: &OrgId) -> Result<Option<PolicyRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT jit_members, idp_initiated, require_sso FROM sso_policies WHERE org_id = $1",
        )
        .bind(org_id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| PolicyRecord {
            jit_members: r.get::<i64, _>(0) != 0,
            idp_initiated: r.get::<i64, _>(1) != 0,
            require_sso: r.get::<i64, _>(2) != 0,
        }))
    }

    /// The organisation whose verified domain `domain` is, if any.
    pub async fn verified_domain_owner(
        &self,
        domain: &str,
    ) -> Result<Option<DomainOwner>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT d.org_id, o.sso_status FROM domains d JOIN organisations o ON o.id = d.org_id \
             WHERE d.domain = $1 AND d.status = $2",
        )
        .bind(domain)
        .bind(DomainStatus::Verified.as_str())
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn insert_sso_request(&self, request: NewRequest<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sso_requests (id, org_id, purpose, browser_hash, return_path, requested_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(request.id)
        .bind(request.org_id.as_str())
        .bind(request.purpose.as_str())
        .bind(request.browser_hash)
        .bind(request.return_path)
        .bind(request.requested_by.map(UserId::as_str))
        .bind(request.now.unix_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The contacts and administrators an unknown-certificate notice goes to: every IT
    /// contact's and administrator's address, without duplicates.
    pub async fn sso_notice_recipients(&self, org_id: &OrgId) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT email FROM it_contacts WHERE org_id = $1 \
             UNION SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.org_id = $1 AND m.role = 'admin' AND u.disabled_at IS NULL",
        )
        .bind(org_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        let mut seen = std::collections::BTreeMap::new();
        for row in rows {
            let email: String = row.get(0);
            seen.entry(email.to_lowercase()).or_insert(email);
        }
        Ok(seen.into_values().collect())
    }

    pub async fn sso_attempts(
        &self,
        org_id: &OrgId,
        limit: i64,
    ) -> Result<Vec<AttemptRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, org_id, at, result, reason, name_id, email, user_id, certificate_sha256, \
             signature_algorithm, checks, flags FROM sso_attempts WHERE org_id = $1 \
             ORDER BY id DESC LIMIT $2",
        )
        .bind(org_id.as_str())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn sso_attempt(
        &self,
        org_id: &OrgId,
        id: &str,
    ) -> Result<Option<AttemptRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, org_id, at, result, reason, name_id, email, user_id, certificate_sha256, \
             signature_algorithm, checks, flags FROM sso_attempts WHERE org_id = $1 AND id = $2",
        )
        .bind(org_id.as_str())
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Whether a sign-in or test succeeded since `since`.
    pub async fn sso_succeeded_since(
        &self,
        org_id: &OrgId,
        since: Timestamp,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) FROM sso_attempts WHERE org_id = $1 AND at >= $2 \
             AND result IN ($3, $4)",
        )
        .bind(org_id.as_str())
        .bind(since.unix_millis())
        .bind(SsoAttemptResult::SignedIn.as_str())
        .bind(SsoAttemptResult::Tested.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(row.get::<i64, _>(0) > 0)
    }

    /// Per certificate: successful sign-ins and tests since `since`, and the latest.
    pub async fn sso_certificate_use(
        &self,
        org_id: &OrgId,
        since: Timestamp,
    ) -> Result<Vec<CertificateUse>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT certificate_sha256, COUNT(*) AS uses, MAX(at) AS last_at FROM sso_attempts \
             WHERE org_id = $1 AND at >= $2 AND result IN ($3, $4) \
             AND certificate_sha256 IS NOT NULL GROUP BY certificate_sha256",
        )
        .bind(org_id.as_str())
        .bind(since.unix_millis())
        .bind(SsoAttemptResult::SignedIn.as_str())
        .bind(SsoAttemptResult::Tested.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Claims the right to re-fetch the metadata after an unknown certificate: true at most
    /// once per `gap_millis`.
    pub async fn claim_rotation_refetch(
        &self,
        org_id: &OrgId,
        now: Timestamp,
        gap_millis: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE sso_configs SET rotation_refetch_at = $2 WHERE org_id = $1 \
             AND (rotation_refetch_at IS NULL OR rotation_refetch_at <= $3)",
        )
        .bind(org_id.as_str())
        .bind(now.unix_millis())
        .bind(now.unix_millis() - gap_millis)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Notes a certificate the identity provider signed with that we do not have; true the
    /// first time (once per organisation and certificate: the notice goes out then).
    pub async fn note_unknown_certificate(
        &self,
        org_id: &OrgId,
        fingerprint: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO sso_unknown_certificates (org_id, fingerprint_sha256, first_seen_at, last_seen_at) \
             VALUES ($1, $2, $3, $3) ON CONFLICT (org_id, fingerprint_sha256) DO UPDATE SET last_seen_at = $3",
        )
        .bind(org_id.as_str())
        .bind(fingerprint)
        .bind(now.unix_millis())
        .execute(&mut *tx)
        .await?;
        let first = sqlx::query(
            "UPDATE sso_unknown_certificates SET notified_at = $3 \
             WHERE org_id = $1 AND fingerprint_sha256 = $2 AND notified_at IS NULL",
        )
        .bind(org_id.as_str())
        .bind(fingerprint)
        .bind(now.unix_millis())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        tx.commit().await?;
        Ok(first)
    }

    /// Takes a hand-over ticket once, before it expires.
    pub async fn take_sso_handover(
        &self,
        ticket_hash: &str,
        now: Timestamp,
    ) -> Result<Option<HandoverRecord>, StoreError> {
        Ok(sqlx::query_as(
            "UPDATE sso_handovers SET used_at = $2 \
             WHERE ticket_hash = $1 AND used_at IS NULL AND expires_at > $2 \
             RETURNING org_id, attempt_id, user_id, browser_hash, return_path",
        )
        .bind(ticket_hash)
        .bind(now.unix_millis())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Forgets what no longer matters: requests and hand-overs past their life, assertions
    /// past their NotOnOrAfter, attempts older than `attempts_before`.
    pub async fn purge_sso(
        &self,
        now: Timestamp,
        requests_before: Timestamp,
        attempts_before: Timestamp,
    ) -> Result<u64, StoreError> {
        let mut purged = 0;
        for (sql, at) in [
            (
                "DELETE FROM sso_requests WHERE created_at < $1",
                requests_before,
            ),
            ("DELETE FROM sso_handovers WHERE expires_at < $1", now),
            ("DELETE FROM sso_assertions_used WHERE keep_until < $1", now),
            ("DELETE FROM sso_attempts WHERE at < $1", attempts_before),
        ] {
            purged += sqlx::query(sql)
                .bind(at.unix_millis())
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(purged)
    }

    /// The organisation requiring SSO of addresses in `domain`, if any: its SSO is enabled,
    /// its policy requires SSO and the domain is verified.
    pub async fn sso_required_by(&self, domain: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT d.org_id FROM domains d JOIN sso_policies p ON p.org_id = d.org_id \
             JOIN organisations o ON o.id = d.org_id \
             WHERE d.domain = $1 AND d.status = $2 AND p.require_sso = 1 \
             AND o.sso_status = $3",
        )
        .bind(domain)
        .bind(DomainStatus::Verified.as_str())
        .bind(SsoStatus::Enabled.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.get(0)))
    }
}

/// Stores the policy and its audit event.
pub async fn put_policy(
    tx: &mut WriteTx,
    org_id: &OrgId,
    policy: PolicyRecord,
    by: &UserId,
    now: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sso_policies (org_id, jit_members, idp_initiated, require_sso, updated_at, updated_by) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (org_id) DO UPDATE SET \
         jit_members = $2, idp_initiated = $3, require_sso = $4, updated_at = $5, updated_by = $6",
    )
    .bind(org_id.as_str())
    .bind(i64::from(policy.jit_members))
    .bind(i64::from(policy.idp_initiated))
    .bind(i64::from(policy.require_sso))
    .bind(now.unix_millis())
    .bind(by.as_str())
    .execute(&mut **tx)
    .await?;
    audit::record(
        tx,
        AuditEntry {
            org_id: Some(org_id),
            at: now,
            actor: AuditActor::User(by.clone()),
            target: None,
            details: AuditDetails::SsoPolicyChanged(SsoPolicy {
                idp_initiated: policy.idp_initiated,
                jit_members: policy.jit_members,
                require_sso: policy.require_sso,
            }),
        },
    )
    .await
}

/// Marks the request answered, once, if it was issued for this organisation since `since`.
pub async fn answer_request(
    tx: &mut WriteTx,
    org_id: &OrgId,
    id: &str,
    since: Timestamp,
    now: Timestamp,
) -> Result<Option<RequestRecord>, StoreError> {
    Ok(sqlx::query_as(
        "UPDATE sso_requests SET answered_at = $4 \
         WHERE id = $1 AND org_id = $2 AND answered_at IS NULL AND created_at >= $3 \
         RETURNING purpose, browser_hash, return_path, requested_by",
    )
    .bind(id)
    .bind(org_id.as_str())
    .bind(since.unix_millis())
    .bind(now.unix_millis())
    .fetch_optional(&mut **tx)
    .await?)
}

/// Records an assertion as used; false when it was used before (a replay).
pub async fn use_assertion(
    tx: &mut WriteTx,
    org_id: &OrgId,
    assertion_id: &str,
    keep_until: Timestamp,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO sso_assertions_used (org_id, assertion_id, keep_until) VALUES ($1, $2, $3) \
         ON CONFLICT (org_id, assertion_id) DO NOTHING",
    )
    .bind(org_id.as_str())
    .bind(assertion_id)
    .bind(keep_until.unix_millis())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records an attempt, with its audit event (`sso.signed_in`, `sso.tested` or
/// `sso.sign_in_refused`).
pub async fn insert_attempt(tx: &mut WriteTx, attempt: &AttemptRecord) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sso_attempts (id, org_id, at, result, reason, name_id, email, user_id, \
         certificate_sha256, signature_algorithm, checks, flags) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&attempt.id)
    .bind(&attempt.org_id)
    .bind(attempt.at)
    .bind(attempt.result.as_str())
    .bind(&attempt.reason)
    .bind(&attempt.name_id)
    .bind(&attempt.email)
    .bind(&attempt.user_id)
    .bind(&attempt.certificate_sha256)
    .bind(&attempt.signature_algorithm)
    .bind(&attempt.checks)
    .bind(&attempt.flags)
    .execute(&mut **tx)
    .await?;
    let org_id = OrgId::parse(&attempt.org_id).ok_or(StoreError::NotFound)?;
    let details = SignInAttempt {
        certificate_sha256: attempt.certificate_sha256.clone(),
        email: attempt.email.clone(),
        name_id: attempt.name_id.clone(),
        reason: attempt.reason.clone(),
    };
    let (details, user) = match attempt.result {
        SsoAttemptResult::SignedIn => (
            AuditDetails::SsoSignedIn(details),
            attempt.user_id.as_deref().and_then(UserId::parse),
        ),
        SsoAttemptResult::Tested => (AuditDetails::SsoTested(details), None),
        SsoAttemptResult::Refused => (AuditDetails::SsoSignInRefused(details), None),
    };
    audit::record(
        tx,
        AuditEntry {
            org_id: Some(&org_id),
            at: Timestamp::from_unix_millis(attempt.at),
            actor: user.map_or(AuditActor::System, AuditActor::User),
            target: Some(&attempt.id),
            details,
        },
    )
    .await
}

pub async fn insert_handover(
    tx: &mut WriteTx,
    handover: NewHandover<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sso_handovers (ticket_hash, org_id, attempt_id, user_id, browser_hash, return_path, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(handover.ticket_hash)
    .bind(handover.org_id.as_str())
    .bind(handover.attempt_id)
    .bind(handover.user_id.map(UserId::as_str))
    .bind(handover.browser_hash)
    .bind(handover.return_path)
    .bind(handover.expires_at.unix_millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// The PEM text of the configuration's current signing certificates.
    pub async fn current_certificate_pems(
        &self,
        org_id: &OrgId,
    ) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT pem FROM sso_certificates WHERE org_id = $1 AND replaced_at IS NULL \
             ORDER BY not_after DESC",
        )
        .bind(org_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }

    /// Makes the organisation's metadata URL due for fetching now; false when its
    /// configuration does not come from a URL.
    pub async fn metadata_due_now(
        &self,
        org_id: &OrgId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE metadata_sources SET next_fetch_at = $2 WHERE org_id = $1")
            .bind(org_id.as_str())
            .bind(now.unix_millis())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// What a request of this organisation was for, if it exists.
    pub async fn sso_request_purpose(
        &self,
        org_id: &OrgId,
        id: &str,
    ) -> Result<Option<SsoRequestPurpose>, StoreError> {
        let row = sqlx::query("SELECT purpose FROM sso_requests WHERE org_id = $1 AND id = $2")
            .bind(org_id.as_str())
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            r.get::<String, _>(0)
                .parse()
                .map_err(|e: smartcore_domain::UnknownText| StoreError::Config(e.to_string()))
        })
        .transpose()
    }
}
