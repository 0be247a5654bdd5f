//! Identity-provider metadata kept current from a URL. One row per organisation whose SAML
//! configuration came from a URL; the row is the refresh job. A worker claims due rows with a
//! lease in one conditional UPDATE (like the identity sync, see `sync.rs`), so two instances on
//! one database never fetch the same due row, and a worker that stops mid-fetch loses nothing:
//! its lease runs out and the row is due again.

use crate::lease::{ClaimSql, METADATA};
use crate::tx::WriteTx;
use crate::{Store, StoreError};
use smartcore_domain::{Lease, OrgId, Timestamp};
use sqlx::AssertSqlSafe;

/// The metadata URL a configuration came from, and the document it gave.
#[derive(Clone, Copy)]
pub struct MetadataUrlUpdate<'a> {
    pub url: &'a str,
    pub document_sha256: &'a str,
    pub config_sha256: &'a str,
    pub next_fetch_at: Timestamp,
    /// The refresh worker's lease (see [`crate::Store::claim_due_metadata`]); `None` for an
    /// administrator's change. With a lease, nothing is written unless the worker still holds
    /// the row for this URL (an administrator may have changed the configuration meanwhile).
    pub lease_owner: Option<&'a str>,
}

/// An organisation's metadata URL and how its last fetches went.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MetadataSourceRecord {
    pub org_id: String,
    pub url: String,
    pub document_sha256: String,
    pub config_sha256: String,
    /// The last fetch that gave a usable document (changed or not).
    pub last_good_at: i64,
    /// When the configuration last changed through this URL (or was first fetched).
    pub last_changed_at: i64,
    pub last_attempt_at: i64,
    /// When the current run of failed fetches began; None while the last fetch was good.
    pub failing_since: Option<i64>,
    /// Failed fetches in a row.
    pub failures: i64,
    pub last_error_code: Option<String>,
    pub last_error: Option<String>,
    /// The `failing_since` of the episode whose operational notice was sent.
    pub notice_sent_for: Option<i64>,
    pub next_fetch_at: i64,
}

/// Inside [`Store::put_sso_config`]'s transaction: records the URL and the document it gave.
/// With a lease (the refresh), only while the lease is still held for this URL; false otherwise.
pub(crate) async fn record_document(
    tx: &mut WriteTx,
    org_id: &OrgId,
    m: &MetadataUrlUpdate<'_>,
    by: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    match m.lease_owner {
        Some(owner) => {
            let done = sqlx::query(AssertSqlSafe(format!(
                "UPDATE metadata_sources SET document_sha256 = $1, config_sha256 = $2, last_good_at = $3, \
                     last_changed_at = $3, last_attempt_at = $3, failing_since = NULL, failures = 0, \
                     last_error_code = NULL, last_error = NULL, next_fetch_at = $4, {} \
                 WHERE org_id = $5 AND url = $6 AND {}",
                METADATA.release(),
                METADATA.held_by(7)
            )))
            .bind(m.document_sha256)
            .bind(m.config_sha256)
            .bind(now.unix_millis())
            .bind(m.next_fetch_at.unix_millis())
            .bind(org_id.as_str())
            .bind(m.url)
            .bind(owner)
            .execute(&mut **tx)
            .await?;
            Ok(done.rows_affected() == 1)
        }
        None => {
            sqlx::query(AssertSqlSafe(format!(
                "INSERT INTO metadata_sources (org_id, url, document_sha256, config_sha256, last_good_at, \
                     last_changed_at, last_attempt_at, failures, next_fetch_at, created_at, created_by) \
                 VALUES ($1, $2, $3, $4, $5, $5, $5, 0, $6, $5, $7) \
                 ON CONFLICT (org_id) DO UPDATE SET url = excluded.url, document_sha256 = excluded.document_sha256, \
                     config_sha256 = excluded.config_sha256, last_good_at = excluded.last_good_at, \
                     last_changed_at = excluded.last_changed_at, last_attempt_at = excluded.last_attempt_at, \
                     failing_since = NULL, failures = 0, last_error_code = NULL, last_error = NULL, \
                     notice_sent_for = NULL, next_fetch_at = excluded.next_fetch_at, {}, \
                     created_at = excluded.created_at, created_by = excluded.created_by",
                METADATA.release()
            )))
            .bind(org_id.as_str())
            .bind(m.url)
            .bind(m.document_sha256)
            .bind(m.config_sha256)
            .bind(now.unix_millis())
            .bind(m.next_fetch_at.unix_millis())
            .bind(by)
            .execute(&mut **tx)
            .await?;
            Ok(true)
        }
    }
}

/// Inside [`Store::put_sso_config`]'s transaction: a configuration pasted, uploaded or typed
/// ends the refresh from a URL.
pub(crate) async fn forget(tx: &mut WriteTx, org_id: &OrgId) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM metadata_sources WHERE org_id = $1")
        .bind(org_id.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    pub async fn metadata_source(
        &self,
        org_id: &OrgId,
    ) -> Result<Option<MetadataSourceRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT org_id, url, document_sha256, config_sha256, last_good_at, last_changed_at, \
                 last_attempt_at, failing_since, failures, last_error_code, last_error, notice_sent_for, next_fetch_at \
             FROM metadata_sources WHERE org_id = $1",
        )
            .bind(org_id.as_str())
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Claims up to `limit` metadata URLs whose refresh is due, for `lease`: one UPDATE that
    /// takes only rows still due and free (one shape for every queue, `lease.rs`), so each due time is claimed
    /// once however many workers ask at the same moment.
    pub async fn claim_due_metadata(
        &self,
        lease: &Lease,
        now: Timestamp,
        limit: i64,
    ) -> Result<Vec<MetadataSourceRecord>, StoreError> {
        // A read first: the worker asks every second, and mostly nothing is due; only then
        // does it take the write lock.
        let any_due: Option<(String,)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT org_id FROM metadata_sources WHERE next_fetch_at <= $1 AND {} LIMIT 1",
            METADATA.free(1)
        )))
        .bind(now.unix_millis())
        .fetch_optional(&self.pool)
        .await?;
        if any_due.is_none() {
            return Ok(Vec::new());
        }
        let claim = ClaimSql {
            set: "",
            due: "next_fetch_at <= $3",
            still: "next_fetch_at <= $3",
            order_by: "next_fetch_at",
            returning: "org_id",
        };
        let mut tx = self.begin().await?;
        let claimed: Vec<(String,)> = METADATA
            .claim(&claim, lease, now, limit)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        Ok(sqlx::query_as(
            "SELECT org_id, url, document_sha256, config_sha256, last_good_at, last_changed_at, \
                 last_attempt_at, failing_since, failures, last_error_code, last_error, notice_sent_for, next_fetch_at \
             FROM metadata_sources WHERE lease_owner = $1 AND lease_until = $2 ORDER BY next_fetch_at",
        )
            .bind(lease.owner())
            .bind(lease.until().unix_millis())
            .fetch_all(&self.pool)
            .await?)
    }

    /// A good fetch that changed nothing: the time is recorded, any failure episode ends, and
    /// the next refresh is scheduled. False when the lease was lost meanwhile.
    pub async fn metadata_unchanged(
        &self,
        org_id: &str,
        owner: &str,
        document_sha256: &str,
        now: Timestamp,
        next_fetch_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(AssertSqlSafe(format!(
            "UPDATE metadata_sources SET document_sha256 = $1, last_good_at = $2, last_attempt_at = $2, \
                 failing_since = NULL, failures = 0, last_error_code = NULL, last_error = NULL, \
                 next_fetch_at = $3, {} \
             WHERE org_id = $4 AND {}",
            METADATA.release(),
            METADATA.held_by(5)
        )))
        .bind(document_sha256)
        .bind(now.unix_millis())
        .bind(next_fetch_at.unix_millis())
        .bind(org_id)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// A failed fetch: the last good configuration stays; the failure, its start and the retry
    /// time are recorded. Returns the row as it is now (None when the lease was lost).
    pub async fn metadata_failed(
        &self,
        org_id: &str,
        owner: &str,
        code: &str,
        message: &str,
        now: Timestamp,
        retry_at: Timestamp,
    ) -> Result<Option<MetadataSourceRecord>, StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(AssertSqlSafe(format!(
            "UPDATE metadata_sources SET last_attempt_at = $1, failing_since = COALESCE(failing_since, $1), \
                 failures = failures + 1, last_error_code = $2, last_error = $3, next_fetch_at = $4, {} \
             WHERE org_id = $5 AND {}",
            METADATA.release(),
            METADATA.held_by(6)
        )))
        .bind(now.unix_millis())
        .bind(code)
        .bind(message)
        .bind(retry_at.unix_millis())
        .bind(org_id)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        match OrgId::parse(org_id) {
            Some(id) => self.metadata_source(&id).await,
            None => Ok(None),
        }
    }

    /// Claims the operational notice of the failure episode that began at `failing_since`:
    /// true once per episode, whatever the number of workers.
    pub async fn claim_metadata_notice(
        &self,
        org_id: &str,
        failing_since: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE metadata_sources SET notice_sent_for = $1 \
             WHERE org_id = $2 AND failing_since = $1 AND (notice_sent_for IS NULL OR notice_sent_for <> $1)",
        )
        .bind(failing_since)
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }
}
