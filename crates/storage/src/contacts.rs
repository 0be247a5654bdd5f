//! IT contacts and identity-side removal requests.
//!
//! Every change of an organisation's contact list runs in one transaction that first bumps
//! `organisations.contacts_version`. That UPDATE is the lock: on PostgreSQL it locks the
//! organisation's row, on SQLite it takes the database's write lock. The rules of
//! [`ContactList`] are then checked against what the transaction sees, so concurrent adds at 19
//! contacts end with exactly 20.

use crate::{Store, StoreError};
use smartcore_domain::{
    ContactId, ContactList, ContactName, ContactSource, EmailAddress, ItContact, MailRejection,
    OrgId, PendingRemoval, RemovalId, RemovedRow, Role, SyncStatus, Timestamp, UserId,
};
use smartcore_domain::{Lease, RemovalOutcome, RemovalStatus, SsoStatus, SystemActor};
use sqlx::{AnyConnection, Row};

/// A contact as stored, with whether its member is still a member (D3).
#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
pub struct ContactRecord {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub name: Option<String>,
    #[sqlx(try_from = "String")]
    pub source: ContactSource,
    pub member_id: Option<String>,
    pub still_member: i64,
    #[sqlx(try_from = "String")]
    pub status: SyncStatus,
    pub status_detail: Option<String>,
    pub identity_contact_id: Option<String>,
    pub synced_at: Option<i64>,
    pub created_at: i64,
    pub created_by: String,
    pub mail_rejected_at: Option<i64>,
    pub mail_rejected_reason: Option<String>,
}

impl ContactRecord {
    /// The domain's view of the row. Rows are only written from parsed values, so a row that
    /// does not parse back means the database was edited by hand; that is reported, not hidden.
    pub fn into_contact(self) -> Result<ItContact, StoreError> {
        let corrupt =
            |what: &str| StoreError::Config(format!("corrupt {what} in IT contact {}", self.id));
        Ok(ItContact {
            id: ContactId::parse(&self.id).ok_or_else(|| corrupt("id"))?,
            org_id: OrgId::parse(&self.org_id).ok_or_else(|| corrupt("organisation id"))?,
            email: EmailAddress::parse(&self.email).map_err(|_| corrupt("e-mail address"))?,
            name: match &self.name {
                Some(n) => ContactName::parse_optional(n).map_err(|_| corrupt("name"))?,
                None => None,
            },
            source: self.source,
            member_id: match &self.member_id {
                Some(m) => Some(UserId::parse(m).ok_or_else(|| corrupt("member id"))?),
                None => None,
            },
            still_member: self.still_member != 0,
            status: self.status,
            status_detail: self.status_detail.clone(),
            synced_at: self.synced_at.map(Timestamp::from_unix_millis),
            identity_contact_id: self.identity_contact_id.clone(),
            created_at: Timestamp::from_unix_millis(self.created_at),
            created_by: UserId::parse(&self.created_by).ok_or_else(|| corrupt("creator"))?,
            mail_rejected: self.mail_rejected_at.map(|at| MailRejection {
                at: Timestamp::from_unix_millis(at),
                reason: self.mail_rejected_reason.clone().unwrap_or_default(),
            }),
        })
    }
}

/// One contact of [`Store::contacts_seen_by`]'s JSON list, with its trust record.
#[derive(serde::Deserialize)]
struct ListedContact {
    #[serde(flatten)]
    contact: ContactRecord,
    trust: Option<crate::TrustRecord>,
}

/// An organisation's contact list as one viewer sees it ([`Store::contacts_seen_by`]).
#[derive(Debug, Clone, Default)]
pub struct ContactListing {
    /// The viewer's role in the organisation (none: not a member, or no viewer given).
    pub role: Option<Role>,
    /// Oldest first.
    pub contacts: Vec<ItContact>,
    /// The trust records of the contacts that have one.
    pub trust: Vec<crate::TrustRecord>,
}

/// How a removal of a registered contact reaches the identity side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovalMode {
    /// The connector has already removed it (builtin): record the request as completed.
    CompletedNow,
    /// Queue a request; `automatic` ones are completed by the background worker, the others
    /// by the operations team.
    Queue { automatic: bool },
}

impl Store {
    /// An organisation's contacts, oldest first.
    pub async fn contacts(&self, org_id: &OrgId) -> Result<Vec<ItContact>, StoreError> {
        Ok(self.contacts_seen_by(org_id, None).await?.contacts)
    }

    /// An organisation's contacts, oldest first, with their trust records (issue 16) and the
    /// role in it of the one asking (when given), in one statement: the access check, the list
    /// and what the list shows about each contact take one round trip. The list comes as one
    /// JSON value: one row crosses from the database instead of one per contact.
    pub async fn contacts_seen_by(
        &self,
        org_id: &OrgId,
        viewer: Option<&UserId>,
    ) -> Result<ContactListing, StoreError> {
        // The fields of a [`ContactRecord`], as JSON object keys and values of a contact `c`,
        // and its trust record `t` (absent: a JSON null) under `trust`.
        macro_rules! contact_json {
            ($object:literal) => {
                concat!(
                    $object,
                    "('id', c.id, 'org_id', c.org_id, 'email', c.email, 'name', c.name, \
                      'source', c.source, 'member_id', c.member_id, \
                      'still_member', CASE WHEN c.member_id IS NULL THEN 0 \
                         WHEN EXISTS (SELECT 1 FROM memberships m WHERE m.org_id = c.org_id AND m.user_id = c.member_id) THEN 1 \
                         ELSE 0 END, \
                      'status', c.status, 'status_detail', c.status_detail, \
                      'identity_contact_id', c.identity_contact_id, 'synced_at', c.synced_at, \
                      'created_at', c.created_at, 'created_by', c.created_by, \
                      'mail_rejected_at', c.mail_rejected_at, 'mail_rejected_reason', c.mail_rejected_reason, \
                      'trust', CASE WHEN t.contact_id IS NULL THEN NULL ELSE ",
                    $object,
                    "('contact_id', t.contact_id, 'welcome_sent_at', t.welcome_sent_at, \
                        'not_responsible_at', t.not_responsible_at, 'confirmed_at', t.confirmed_at, \
                        'reconfirm_requested_at', t.reconfirm_requested_at, \
                        'unconfirmed_notified_at', t.unconfirmed_notified_at, \
                        'test_alert_at', t.test_alert_at, 'test_alert_status', t.test_alert_status, \
                        'test_alert_error', t.test_alert_error) END)"
                )
            };
        }
        let sql = match self.dialect {
            crate::Dialect::Sqlite => concat!(
                "SELECT (SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2), \
                   (SELECT json_group_array(",
                contact_json!("json_object"),
                ") FROM (SELECT * FROM it_contacts WHERE org_id = $1 ORDER BY id) c \
                   LEFT JOIN contact_trust t ON t.contact_id = c.id)"
            ),
            crate::Dialect::Postgres => concat!(
                "SELECT (SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2), \
                   (SELECT COALESCE(json_agg(",
                contact_json!("json_build_object"),
                " ORDER BY c.id), '[]'::json)::text FROM it_contacts c \
                   LEFT JOIN contact_trust t ON t.contact_id = c.id WHERE c.org_id = $1)"
            ),
        };
        let (role, list): (Option<String>, String) = sqlx::query_as(sql)
            .bind(org_id.as_str())
            .bind(viewer.map(UserId::as_str))
            .fetch_one(&self.pool)
            .await?;
        let mut rows: Vec<ListedContact> = serde_json::from_str(&list)
            .map_err(|e| StoreError::Config(format!("unreadable contact list of {org_id}: {e}")))?;
        // Oldest first (ids grow with time), whatever order the aggregate kept.
        rows.sort_by(|a, b| a.contact.id.cmp(&b.contact.id));
        let mut listing = ContactListing {
            role: role
                .map(|text| text.parse())
                .transpose()
                .map_err(|e: smartcore_domain::UnknownText| StoreError::Config(e.to_string()))?,
            contacts: Vec::with_capacity(rows.len()),
            trust: Vec::new(),
        };
        for row in rows {
            listing.contacts.push(row.contact.into_contact()?);
            listing.trust.extend(row.trust);
        }
        Ok(listing)
    }

    pub async fn contact(&self, org_id: &OrgId, id: &ContactId) -> Result<ItContact, StoreError> {
        let mut conn = self.pool.acquire().await?;
        fetch(&mut conn, org_id, id).await
    }

    pub async fn contact_count(&self, org_id: &OrgId) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM it_contacts WHERE org_id = $1")
            .bind(org_id.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.get::<i64, _>(0))
    }
}

/// What locking an organisation's contact list tells the unit of work.
#[derive(Debug, Clone)]
pub struct ListLock {
    /// D1: while SSO is enabled, the last contact stays.
    pub sso_enabled: bool,
    pub identity_org_id: Option<String>,
}

/// Locks the organisation's contact list until the unit of work ends (see the module docs).
pub async fn lock_list(conn: &mut AnyConnection, org_id: &OrgId) -> Result<ListLock, StoreError> {
    let (sso_status, identity_org_id): (String, Option<String>) = sqlx::query_as(
        "UPDATE organisations SET contacts_version = contacts_version + 1 WHERE id = $1 \
         RETURNING sso_status, identity_org_id",
    )
    .bind(org_id.as_str())
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    Ok(ListLock {
        sso_enabled: sso_status == SsoStatus::Enabled.as_str(),
        identity_org_id,
    })
}

/// The organisation's contacts as the list's rules see them.
pub async fn list(conn: &mut AnyConnection, org_id: &OrgId) -> Result<ContactList, StoreError> {
    let keys: Vec<(String,)> =
        sqlx::query_as("SELECT email_key FROM it_contacts WHERE org_id = $1")
            .bind(org_id.as_str())
            .fetch_all(conn)
            .await?;
    Ok(ContactList::new(keys.into_iter().map(|(k,)| k)))
}

/// One contact of the organisation (`NotFound` otherwise).
pub async fn fetch(
    conn: &mut AnyConnection,
    org_id: &OrgId,
    id: &ContactId,
) -> Result<ItContact, StoreError> {
    let row: ContactRecord = sqlx::query_as(
        "SELECT c.id, c.org_id, c.email, c.name, c.source, c.member_id, \
           CASE WHEN c.member_id IS NULL THEN 0 \
                WHEN EXISTS (SELECT 1 FROM memberships m WHERE m.org_id = c.org_id AND m.user_id = c.member_id) THEN 1 \
                ELSE 0 END AS still_member, \
           c.status, c.status_detail, c.identity_contact_id, c.synced_at, c.created_at, c.created_by, \
               c.mail_rejected_at, c.mail_rejected_reason \
         FROM it_contacts c WHERE c.org_id = $1 AND c.id = $2",
    )
    .bind(org_id.as_str())
    .bind(id.as_str())
    .fetch_one(conn)
    .await?;
    row.into_contact()
}

/// The organisation's contact additions counted for its hourly limit (issue 24), in one read.
#[derive(Debug, Clone, Copy)]
pub struct Additions {
    /// Additions after the window's start.
    pub recent: u32,
    /// The oldest of those.
    pub oldest: Option<Timestamp>,
    /// Rows at or before the window's start, not yet forgotten.
    pub stale: u32,
}

/// The additions after `since` (and the stale rows before it).
pub async fn additions_since(
    conn: &mut AnyConnection,
    org_id: &OrgId,
    since: Timestamp,
) -> Result<Additions, StoreError> {
    let (recent, oldest, stale): (Option<i64>, Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT SUM(CASE WHEN at > $2 THEN 1 ELSE 0 END), MIN(CASE WHEN at > $2 THEN at END), \
                SUM(CASE WHEN at <= $2 THEN 1 ELSE 0 END) \
         FROM contact_additions WHERE org_id = $1",
    )
    .bind(org_id.as_str())
    .bind(since.unix_millis())
    .fetch_one(conn)
    .await?;
    let count = |n: Option<i64>| u32::try_from(n.unwrap_or(0)).unwrap_or(u32::MAX);
    Ok(Additions {
        recent: count(recent),
        oldest: oldest.map(Timestamp::from_unix_millis),
        stale: count(stale),
    })
}

/// Records an addition at `at`; forgets the rows at or before `forget_up_to` when given.
pub async fn record_addition(
    conn: &mut AnyConnection,
    org_id: &OrgId,
    at: Timestamp,
    forget_up_to: Option<Timestamp>,
) -> Result<(), StoreError> {
    if let Some(before) = forget_up_to {
        sqlx::query("DELETE FROM contact_additions WHERE org_id = $1 AND at <= $2")
            .bind(org_id.as_str())
            .bind(before.unix_millis())
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("INSERT INTO contact_additions (org_id, at) VALUES ($1, $2)")
        .bind(org_id.as_str())
        .bind(at.unix_millis())
        .execute(conn)
        .await?;
    Ok(())
}

/// The identity-side removal of this address still pending in the organisation, if any.
pub async fn pending_removal_for(
    conn: &mut AnyConnection,
    org_id: &OrgId,
    email: &EmailAddress,
) -> Result<Option<PendingRemoval>, StoreError> {
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT id, identity_contact_id FROM identity_removals \
         WHERE org_id = $1 AND email_key = $2 AND status = $3",
    )
    .bind(org_id.as_str())
    .bind(email.key())
    .bind(RemovalStatus::Pending.as_str())
    .fetch_optional(conn)
    .await?;
    Ok(row.and_then(|(id, identity_contact_id)| {
        Some(PendingRemoval {
            id: RemovalId::parse(&id)?,
            identity_contact_id,
        })
    }))
}

/// Closes a pending removal as cancelled because its address was added again (D2).
pub async fn cancel_removal_for_readd(
    conn: &mut AnyConnection,
    removal: &RemovalId,
    by: &UserId,
    now: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE identity_removals SET status = $1, outcome = $2, completed_at = $3, completed_by = $4 \
         WHERE id = $5",
    )
    .bind(RemovalStatus::Cancelled.as_str())
    .bind(RemovalOutcome::CancelledByReadd.as_str())
    .bind(now.unix_millis())
    .bind(by.as_str())
    .bind(removal.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// Inserts `contact`; due for the sync at `next_sync_at` when given. Its address already in
/// the organisation's list is [`StoreError::Duplicate`].
pub async fn insert(
    conn: &mut AnyConnection,
    contact: &ItContact,
    next_sync_at: Option<Timestamp>,
) -> Result<(), StoreError> {
    let synced_at = contact.synced_at.map(Timestamp::unix_millis);
    sqlx::query(
        "INSERT INTO it_contacts (id, org_id, email, email_key, name, source, member_id, status, \
             identity_contact_id, synced_at, next_sync_at, created_at, created_by, reconfirm_from) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $10)",
    )
    .bind(contact.id.as_str())
    .bind(contact.org_id.as_str())
    .bind(contact.email.as_str())
    .bind(contact.email.key())
    .bind(contact.name.as_ref().map(ContactName::as_str))
    .bind(contact.source.as_str())
    .bind(contact.member_id.as_ref().map(UserId::as_str))
    .bind(contact.status.as_str())
    .bind(contact.identity_contact_id.as_deref())
    .bind(synced_at)
    .bind(next_sync_at.map(Timestamp::unix_millis))
    .bind(contact.created_at.unix_millis())
    .bind(contact.created_by.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes the contact; what its row said as it went (`NotFound` when there was none). The
/// row as deleted, not one read earlier: a worker may have recorded its registration since
/// (the DELETE waits for its commit on PostgreSQL and sees the row it left).
pub async fn delete(
    conn: &mut AnyConnection,
    org_id: &OrgId,
    id: &ContactId,
) -> Result<RemovedRow, StoreError> {
    let (status, identity_contact_id, lease_owner, lease_until, sync_attempts): (
        String,
        Option<String>,
        Option<String>,
        Option<i64>,
        i64,
    ) = sqlx::query_as(
        "DELETE FROM it_contacts WHERE org_id = $1 AND id = $2 \
         RETURNING status, identity_contact_id, lease_owner, lease_until, sync_attempts",
    )
    .bind(org_id.as_str())
    .bind(id.as_str())
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    Ok(RemovedRow {
        status: SyncStatus::parse(&status)
            .ok_or_else(|| StoreError::Config(format!("corrupt status in IT contact {id}")))?,
        identity_contact_id,
        lease: lease_owner
            .zip(lease_until)
            .map(|(owner, until)| Lease::held(owner, Timestamp::from_unix_millis(until))),
        sync_attempts,
    })
}

/// Issue 24: a tombstone for a registration that may be in flight, holding the contact's
/// lease (a live worker's heartbeat renews it; it is taken over once that lease has run out).
pub async fn insert_tombstone(
    conn: &mut AnyConnection,
    contact: &ItContact,
    requested_by: &UserId,
    automatic: bool,
    lease: Option<&Lease>,
    now: Timestamp,
) -> Result<RemovalId, StoreError> {
    let id = RemovalId::generate();
    sqlx::query(
        "INSERT INTO identity_removals (id, org_id, contact_id, email, email_key, identity_org_id, \
             identity_contact_id, status, requested_at, requested_by, automatic, next_attempt_at, \
             lease_owner, lease_until) \
         SELECT $1, id, $2, $3, $4, identity_org_id, '', $11, $5, $6, $7, $5, $8, $9 \
         FROM organisations WHERE id = $10",
    )
    .bind(id.as_str())
    .bind(contact.id.as_str())
    .bind(contact.email.as_str())
    .bind(contact.email.key())
    .bind(now.unix_millis())
    .bind(requested_by.as_str())
    .bind(i64::from(automatic))
    .bind(lease.map(Lease::owner))
    .bind(lease.map(|l| l.until().unix_millis()))
    .bind(contact.org_id.as_str())
    .bind(RemovalStatus::Tombstone.as_str())
    .execute(conn)
    .await?;
    Ok(id)
}

/// The identity-side removal of a registered contact: completed at once where the connector
/// removed it already, otherwise queued (for the removal worker when `automatic`, else for
/// the operations team).
pub async fn insert_removal(
    conn: &mut AnyConnection,
    contact: &ItContact,
    identity_org_id: Option<&str>,
    requested_by: &UserId,
    mode: RemovalMode,
    now: Timestamp,
) -> Result<RemovalId, StoreError> {
    let id = RemovalId::generate();
    let (status, completed_at, outcome, automatic, next_attempt_at) = match mode {
        RemovalMode::CompletedNow => (
            RemovalStatus::Completed,
            Some(now.unix_millis()),
            Some(RemovalOutcome::Deleted.as_str()),
            1,
            None,
        ),
        RemovalMode::Queue { automatic } => (
            RemovalStatus::Pending,
            None,
            None,
            i64::from(automatic),
            automatic.then_some(now.unix_millis()),
        ),
    };
    sqlx::query(
        "INSERT INTO identity_removals (id, org_id, contact_id, email, email_key, identity_org_id, \
             identity_contact_id, status, requested_at, requested_by, completed_at, completed_by, outcome, \
             automatic, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(id.as_str())
    .bind(contact.org_id.as_str())
    .bind(contact.id.as_str())
    .bind(contact.email.as_str())
    .bind(contact.email.key())
    .bind(identity_org_id)
    .bind(contact.identity_contact_id.clone().unwrap_or_default())
    .bind(status.as_str())
    .bind(now.unix_millis())
    .bind(requested_by.as_str())
    .bind(completed_at)
    .bind(completed_at.map(|_| SystemActor::System.as_str()))
    .bind(outcome)
    .bind(automatic)
    .bind(next_attempt_at)
    .execute(conn)
    .await?;
    Ok(id)
}
