//! Identity-provider metadata kept current from a URL.
//!
//! `PUT /sso` with `metadata_url` fetches the document at once ([`crate::metadata_fetch`]);
//! when it gives a usable configuration, the configuration is stored and the URL is kept. The
//! refresh worker then fetches it again every `SMARTCORE_METADATA_REFRESH_S` (default a day),
//! each time within ±10 % so that many organisations do not fall due at the same second. A due
//! URL is claimed with a lease in one conditional UPDATE, so it is fetched once per due time
//! however many instances run.
//!
//! On each fetch:
//! - the same bytes as last time, or a document that gives the same configuration (entity ID,
//!   sign-in URL, certificate fingerprints; identity providers re-sign their metadata): the
//!   time of the good fetch is recorded;
//! - a different configuration: it is stored with its certificates (audit `sso.metadata_changed`,
//!   by `system`), and, as when an administrator pastes new metadata, a certificate that
//!   outlives one being reminded about ends the old reminder schedule with the "renewed" notice
//!   (D6);
//! - a failure of any kind: the last good configuration stays in use; the failure and since
//!   when are shown on the page and in `GET /sso`; the next attempt comes after a backoff
//!   (5 minutes, doubling, at most 6 hours and at most the refresh interval). After
//!   [`NOTICE_AFTER_MS`] of failures in a row the registered IT contacts get one operational
//!   notice for that failure episode, recorded in the mail deliveries; a good fetch ends the
//!   episode.

use crate::AppError;
use crate::Setup;
use crate::metadata_fetch::{AllowPrivate, FetchError, MetadataFetcher};
use crate::metrics::delivery_outcome;
use futures_util::FutureExt;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use smartcore_domain::SsoConfigSource;
use smartcore_domain::{AuditActor, MailKind};
use smartcore_domain::{Backoff, Lease, OrgId, Timestamp};
use smartcore_mail::{MetadataFailingMail, metadata_failing};
use smartcore_sso::{IdpConfig, IdpMetadata};
use smartcore_storage::{Delivery, DeliveryOutcome, MetadataSourceRecord};
use std::time::Duration;

/// Failing this long in a row sends the operational notice.
pub const NOTICE_AFTER_MS: i64 = 3 * 86_400_000;
/// How long a worker holds a claimed URL: longer than a fetch may take.
/// Renewed every third of it while the fetches run (see `sync.rs`), so a killed worker's
/// URLs are due again within 10 s.
const LEASE: Duration = Duration::from_secs(10);
/// Fetches in flight at once, per worker.
const FETCH_CONCURRENCY: usize = 16;
/// First retry after a failure; doubles each time.
const FIRST_RETRY_MS: i64 = 5 * 60_000;
/// Longest wait between retries while failing.
const MAX_RETRY_MS: i64 = 6 * 3_600_000;

/// The metadata settings, from configuration.
#[derive(Debug, Clone)]
pub struct MetadataSettings {
    /// `SMARTCORE_METADATA_REFRESH_S`.
    pub refresh: Duration,
    /// `SMARTCORE_METADATA_ALLOW_PRIVATE`.
    pub allow_private: AllowPrivate,
}

/// The fetcher and the refresh interval, built once.
pub struct MetadataRefresh {
    fetcher: MetadataFetcher,
    refresh_ms: i64,
}

impl MetadataRefresh {
    pub fn new(settings: MetadataSettings) -> Result<MetadataRefresh, String> {
        Ok(MetadataRefresh {
            fetcher: MetadataFetcher::new(settings.allow_private)?,
            refresh_ms: i64::try_from(settings.refresh.as_millis())
                .unwrap_or(i64::MAX)
                .max(1000),
        })
    }

    pub fn fetcher(&self) -> &MetadataFetcher {
        &self.fetcher
    }

    /// The next refresh: the interval, give or take 10 %.
    fn next_fetch(&self, now: Timestamp) -> Timestamp {
        let factor: f64 = rand::random_range(0.9..1.1);
        now.plus_millis((self.refresh_ms as f64 * factor) as i64)
    }

    /// When to try again after the `failures`-th failure in a row.
    fn retry_at(&self, now: Timestamp, failures: i64) -> Timestamp {
        let retries = Backoff::new(
            Duration::from_millis(FIRST_RETRY_MS as u64),
            Duration::from_millis(MAX_RETRY_MS.min(self.refresh_ms).max(0) as u64),
        );
        let wait = retries.after_failures(u64::try_from(failures).unwrap_or(0));
        now.plus_millis(Backoff::millis(wait))
    }
}

/// The metadata URL of an organisation and how its fetches went, as shown.
#[derive(Debug, Clone)]
pub struct MetadataSourceView {
    pub url: String,
    pub last_good_at: Timestamp,
    pub last_changed_at: Timestamp,
    pub last_attempt_at: Timestamp,
    pub next_fetch_at: Timestamp,
    /// When the current run of failures began; None while fetches succeed.
    pub failing_since: Option<Timestamp>,
    pub failures: i64,
    pub last_error_code: Option<String>,
    pub last_error: Option<String>,
}

impl From<MetadataSourceRecord> for MetadataSourceView {
    fn from(r: MetadataSourceRecord) -> Self {
        MetadataSourceView {
            url: r.url,
            last_good_at: Timestamp::from_unix_millis(r.last_good_at),
            last_changed_at: Timestamp::from_unix_millis(r.last_changed_at),
            last_attempt_at: Timestamp::from_unix_millis(r.last_attempt_at),
            next_fetch_at: Timestamp::from_unix_millis(r.next_fetch_at),
            failing_since: r.failing_since.map(Timestamp::from_unix_millis),
            failures: r.failures,
            last_error_code: r.last_error_code,
            last_error: r.last_error,
        }
    }
}

/// What one refresh pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RefreshReport {
    pub claimed: usize,
    pub unchanged: usize,
    pub changed: usize,
    pub failed: usize,
    /// Operational notices sent (messages), for URLs failing three days in a row.
    pub notices: usize,
}

/// A fetched document that gave a configuration.
pub(crate) struct FetchedMetadata {
    pub config: IdpConfig,
    pub document_sha256: String,
    pub config_sha256: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What identifies a configuration: a document re-signed or re-ordered with the same values
/// is not a change.
fn config_sha256(config: &IdpConfig) -> String {
    let mut fingerprints: Vec<&str> = config
        .certificates
        .iter()
        .map(|c| c.fingerprint_sha256.as_str())
        .collect();
    fingerprints.sort_unstable();
    let text = format!(
        "{}\n{}\n{}",
        config.entity_id,
        config.sso_url,
        fingerprints.join(",")
    );
    sha256_hex(text.as_bytes())
}

fn people_date(at: Timestamp) -> String {
    let format = time::macros::format_description!(
        "[day padding:none] [month repr:long] [year], [hour]:[minute] UTC"
    );
    let at = at.to_datetime();
    at.format(&format).unwrap_or_else(|_| at.to_string())
}

/// Reads a fetched document as metadata (on the bounded parsing pool). `known` is the hash of
/// the last good document: the same bytes are not parsed again (`Ok(None)`).
async fn read_document(
    bytes: Vec<u8>,
    known: Option<&str>,
) -> Result<Option<FetchedMetadata>, FetchError> {
    let document_sha256 = sha256_hex(&bytes);
    if known == Some(document_sha256.as_str()) {
        return Ok(None);
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| FetchError::NotMetadata("the document is not UTF-8 text.".into()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text).to_owned();
    let metadata: IdpMetadata = crate::metadata_parse::parse_metadata_off_the_async_threads(text)
        .await
        .map_err(|e| FetchError::NotMetadata(e.to_string()))?;
    let config = IdpConfig::from(metadata);
    Ok(Some(FetchedMetadata {
        config_sha256: config_sha256(&config),
        config,
        document_sha256,
    }))
}

impl Setup<'_> {
    /// Fetches `url` now for an administrator's `PUT /sso`: the configuration it gives, or a
    /// 422 naming what went wrong (the URL is then not kept).
    pub(crate) async fn fetch_metadata_now(
        &self,
        url: &str,
    ) -> Result<(FetchedMetadata, String), AppError> {
        let refused = |e: FetchError| AppError::invalid(e.code(), "metadata_url", e.to_string());
        let checked = self.metadata.fetcher.check(url).map_err(refused)?;
        let bytes = self
            .metadata
            .fetcher
            .fetch(checked.as_str())
            .await
            .map_err(refused)?;
        let fetched = read_document(bytes, None)
            .await
            .map_err(refused)?
            .ok_or_else(|| AppError::internal("a first fetch cannot be unchanged"))?;
        Ok((fetched, checked.to_string()))
    }

    pub(crate) fn next_metadata_fetch(&self, now: Timestamp) -> Timestamp {
        self.metadata.next_fetch(now)
    }

    pub(crate) async fn metadata_source_view(
        &self,
        org_id: &OrgId,
    ) -> Result<Option<MetadataSourceView>, AppError> {
        Ok(self
            .store
            .metadata_source(org_id)
            .await?
            .map(MetadataSourceView::from))
    }

    /// One refresh pass, as the worker runs it: claims up to `limit` due URLs and fetches them,
    /// 16 at a time.
    pub async fn refresh_due_metadata(
        &self,
        owner: &str,
        limit: i64,
    ) -> Result<RefreshReport, AppError> {
        let now = self.now();
        let pass = crate::sync::pass_owner(owner);
        let owner = pass.as_str();
        let due = self
            .store
            .claim_due_metadata(&Lease::take(owner, now, LEASE), now, limit)
            .await?;
        let mut report = RefreshReport {
            claimed: due.len(),
            ..RefreshReport::default()
        };
        if due.is_empty() {
            return Ok(report);
        }
        let mut outcomes: Vec<Result<Outcome, AppError>> = Vec::new();
        let work = async {
            outcomes = futures_util::stream::iter(due)
                .map(|source| self.refresh_one(owner, source))
                .buffer_unordered(FETCH_CONCURRENCY)
                .collect()
                .await;
        };
        self.holding_leases(owner, LEASE, work.boxed()).await;
        for outcome in outcomes {
            match outcome {
                Ok(Outcome::Unchanged) => {
                    report.unchanged += 1;
                    self.metrics.metadata_refresh("unchanged");
                }
                Ok(Outcome::Changed) => {
                    report.changed += 1;
                    self.metrics.metadata_refresh("changed");
                }
                Ok(Outcome::Failed { notices }) => {
                    report.failed += 1;
                    self.metrics.metadata_refresh("failed");
                    report.notices += notices;
                }
                Ok(Outcome::LeaseLost) => {}
                Err(e) => tracing::warn!(error = %e.chain(), "a metadata refresh did not complete"),
            }
        }
        Ok(report)
    }

    async fn refresh_one(
        &self,
        owner: &str,
        source: MetadataSourceRecord,
    ) -> Result<Outcome, AppError> {
        let fetched = match self.metadata.fetcher.fetch(&source.url).await {
            Ok(bytes) => read_document(bytes, Some(&source.document_sha256)).await,
            Err(e) => Err(e),
        };
        // The time after the fetch: a slow one must not be recorded as earlier.
        let now = self.now();
        let next = self.metadata.next_fetch(now);
        match fetched {
            Ok(None) => {
                self.unchanged(owner, &source, &source.document_sha256, now, next)
                    .await
            }
            Ok(Some(doc)) if doc.config_sha256 == source.config_sha256 => {
                self.unchanged(owner, &source, &doc.document_sha256, now, next)
                    .await
            }
            Ok(Some(doc)) => {
                let org_id = OrgId::parse(&source.org_id)
                    .ok_or_else(|| AppError::internal("a stored organisation id"))?;
                let stored = self
                    .store_sso_config(
                        &org_id,
                        &doc.config,
                        SsoConfigSource::Url,
                        &AuditActor::System,
                        Some(smartcore_storage::MetadataUrlUpdate {
                            url: &source.url,
                            document_sha256: &doc.document_sha256,
                            config_sha256: &doc.config_sha256,
                            next_fetch_at: next,
                            lease_owner: Some(owner),
                        }),
                    )
                    .await?;
                if stored {
                    tracing::info!(org = %source.org_id, url = %source.url, "identity provider metadata changed");
                    Ok(Outcome::Changed)
                } else {
                    Ok(Outcome::LeaseLost)
                }
            }
            Err(e) => {
                let retry = self.metadata.retry_at(now, source.failures + 1);
                tracing::info!(org = %source.org_id, url = %source.url, code = e.code().as_str(), error = %e, "metadata refresh failed");
                let Some(now_record) = self
                    .store
                    .metadata_failed(
                        &source.org_id,
                        owner,
                        e.code().as_str(),
                        &e.to_string(),
                        now,
                        retry,
                    )
                    .await?
                else {
                    return Ok(Outcome::LeaseLost);
                };
                let notices = self.notice_if_failing_for_days(&now_record, now).await?;
                Ok(Outcome::Failed { notices })
            }
        }
    }

    /// The document, or the configuration it gives, is as stored: only the next fetch is
    /// scheduled (nothing when the lease was lost meanwhile).
    async fn unchanged(
        &self,
        owner: &str,
        source: &MetadataSourceRecord,
        document_sha256: &str,
        now: Timestamp,
        next: Timestamp,
    ) -> Result<Outcome, AppError> {
        let held = self
            .store
            .metadata_unchanged(&source.org_id, owner, document_sha256, now, next)
            .await?;
        Ok(if held {
            Outcome::Unchanged
        } else {
            Outcome::LeaseLost
        })
    }

    /// After [`NOTICE_AFTER_MS`] of failures in a row: one notice per episode to every
    /// registered IT contact, each attempt recorded in the mail deliveries.
    async fn notice_if_failing_for_days(
        &self,
        source: &MetadataSourceRecord,
        now: Timestamp,
    ) -> Result<usize, AppError> {
        let Some(since) = source.failing_since else {
            return Ok(0);
        };
        if now.unix_millis() - since < NOTICE_AFTER_MS
            || source.notice_sent_for == Some(since)
            || !self
                .store
                .claim_metadata_notice(&source.org_id, since)
                .await?
        {
            return Ok(0);
        }
        let org_id = OrgId::parse(&source.org_id)
            .ok_or_else(|| AppError::internal("a stored organisation id"))?;
        let org = self.store.org(&org_id).await?;
        let recipients = self.store.reminder_recipients(&source.org_id).await?;
        let mut deliveries = Vec::with_capacity(recipients.len());
        let mut sent = 0;
        for r in recipients {
            let mail = metadata_failing(&MetadataFailingMail {
                org_name: org.name.clone(),
                recipient_email: r.email.clone(),
                recipient_name: r.name.clone(),
                metadata_url: source.url.clone(),
                failing_since: people_date(Timestamp::from_unix_millis(since)),
                error: source.last_error.clone().unwrap_or_default(),
                settings_url: self.links.sso_settings(&org.id),
            });
            let outcome = delivery_outcome(self.send_mail(&mail).await);
            if matches!(outcome, DeliveryOutcome::Sent { .. }) {
                sent += 1;
            }
            deliveries.push(Delivery {
                org_id: source.org_id.clone(),
                contact_id: Some(r.contact_id),
                email: r.email,
                kind: MailKind::MetadataFailing,
                subject: mail.subject,
                outcome,
                at: now,
            });
        }
        self.store.record_deliveries(&deliveries).await?;
        tracing::warn!(org = %source.org_id, url = %source.url, sent, "metadata URL failing for days: IT contacts told");
        Ok(sent)
    }
}

enum Outcome {
    Unchanged,
    Changed,
    Failed {
        notices: usize,
    },
    /// Another worker or an administrator took over the row meanwhile; nothing was written.
    LeaseLost,
}
