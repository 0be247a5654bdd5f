//! IT contacts and identity-side removal requests.
//!
//! Every change of an organisation's contact list runs in one transaction that first bumps
//! `organisations.contacts_version`. That UPDATE is the lock: on PostgreSQL it locks the
//! organisation's row, on SQLite it takes the database's write lock. The rules of
//! [`ContactList`] are then checked against what the transaction sees, so concurrent adds at 19
//! contacts end with exactly 20.

use crate::audit::{self, AuditEntry};
use crate::{Store, StoreError};
use serde_json::json;
use smartcore_domain::AuditAction;
use smartcore_domain::{
    ContactId, ContactList, ContactName, ContactRuleViolation, ContactSource, EmailAddress,
    IdentityRemoval, ItContact, MailRejection, OrgId, RemovalId, Role, SyncStatus, Timestamp,
    UserId,
};
use smartcore_domain::{RemovalOutcome, RemovalStatus};
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

/// What the administrator asked to add.
pub struct NewContact<'a> {
    pub org_id: &'a OrgId,
    pub email: &'a EmailAddress,
    pub name: Option<&'a ContactName>,
    pub source: ContactSource,
    pub member_id: Option<&'a UserId>,
    pub added_by: &'a UserId,
    /// At most this many contacts are added to one organisation an hour (issue 24: each
    /// addition can mail a welcome); more is [`StoreError::Throttled`].
    pub additions_per_hour: i64,
}

pub struct AddedContact {
    pub contact: ItContact,
    /// D2: the identity-side removal this re-add cancelled, if any.
    pub cancelled_removal: Option<RemovalId>,
}

pub struct RemovedContact {
    pub contact: ItContact,
    pub identity_removal: IdentityRemoval,
    pub removal_id: Option<RemovalId>,
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
            role: role.as_deref().and_then(Role::parse),
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
        fetch_contact(&mut conn, org_id, id).await
    }

    pub async fn contact_count(&self, org_id: &OrgId) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM it_contacts WHERE org_id = $1")
            .bind(org_id.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.get::<i64, _>(0))
    }

    /// Adds a contact under the list's rules. A new contact is pending and due for sync at
    /// once; re-adding an address whose identity-side removal is still pending cancels that
    /// removal instead, and the contact is synced at once with its old identity-side id (D2).
    pub async fn add_contact(
        &self,
        new: NewContact<'_>,
        now: Timestamp,
    ) -> Result<AddedContact, StoreError> {
        let mut tx = self.begin().await?;
        // Read before the list's lock, which is held only for what must be decided under it
        // (issue 24: the organisation's row was held across ten round trips).
        let still_member = match new.member_id {
            None => false,
            Some(member) => {
                sqlx::query_as::<_, (i64,)>(
                    "SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND user_id = $2",
                )
                .bind(new.org_id.as_str())
                .bind(member.as_str())
                .fetch_one(&mut *tx)
                .await?
                .0 > 0
            }
        };
        lock_contact_list(&mut tx, new.org_id).await?;
        list_of(&mut tx, new.org_id).await?.check_add(new.email)?;
        take_addition(&mut tx, new.org_id, now, new.additions_per_hour).await?;

        let pending_removal = sqlx::query(
            "SELECT id, identity_contact_id FROM identity_removals \
             WHERE org_id = $1 AND email_key = $2 AND status = $3",
        )
        .bind(new.org_id.as_str())
        .bind(new.email.key())
        .bind(RemovalStatus::Pending.as_str())
        .fetch_optional(&mut *tx)
        .await?;

        let id = ContactId::generate();
        let (status, identity_contact_id, synced_at, next_sync_at, cancelled_removal) =
            match pending_removal {
                Some(row) => {
                    let removal_id: String = row.get(0);
                    sqlx::query(
                        "UPDATE identity_removals SET status = $4, outcome = $5, \
                     completed_at = $1, completed_by = $2 WHERE id = $3",
                    )
                    .bind(now.unix_millis())
                    .bind(new.added_by.as_str())
                    .bind(&removal_id)
                    .bind(RemovalStatus::Cancelled.as_str())
                    .bind(RemovalOutcome::CancelledByReadd.as_str())
                    .execute(&mut *tx)
                    .await?;
                    let identity_id: String = row.get(1);
                    (
                        SyncStatus::Synced,
                        Some(identity_id),
                        Some(now.unix_millis()),
                        None,
                        RemovalId::parse(&removal_id),
                    )
                }
                None => (
                    SyncStatus::Pending,
                    None,
                    None,
                    Some(now.unix_millis()),
                    None,
                ),
            };

        sqlx::query(
            "INSERT INTO it_contacts (id, org_id, email, email_key, name, source, member_id, status, \
                 identity_contact_id, synced_at, next_sync_at, created_at, created_by, reconfirm_from) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $10)",
        )
        .bind(id.as_str())
        .bind(new.org_id.as_str())
        .bind(new.email.as_str())
        .bind(new.email.key())
        .bind(new.name.map(ContactName::as_str))
        .bind(new.source.as_str())
        .bind(new.member_id.map(UserId::as_str))
        .bind(status.as_str())
        .bind(identity_contact_id.clone())
        .bind(synced_at)
        .bind(next_sync_at)
        .bind(now.unix_millis())
        .bind(new.added_by.as_str())
        .execute(&mut *tx)
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Duplicate => {
                StoreError::Rule(ContactRuleViolation::AlreadyAContact { email: new.email.as_str().to_owned() })
            }
            other => other,
        })?;

        let inserted_identity_id = identity_contact_id;
        audit::record(
            &mut tx,
            AuditEntry {
                org_id: Some(new.org_id),
                at: now,
                actor: new.added_by.as_str(),
                action: AuditAction::ItContactAdded,
                target: Some(id.as_str()),
                details: json!({
                    "email": new.email.as_str(),
                    "name": new.name.map(ContactName::as_str),
                    "source": new.source.as_str(),
                    "member_id": new.member_id.map(UserId::as_str),
                }),
            },
        )
        .await?;
        if let Some(removal) = &cancelled_removal {
            audit::record(
                &mut tx,
                AuditEntry {
                    org_id: Some(new.org_id),
                    at: now,
                    actor: new.added_by.as_str(),
                    action: AuditAction::IdentityRemovalCancelled,
                    target: Some(removal.as_str()),
                    details: json!({ "email": new.email.as_str(), "reason": "the address was added again", "contact_id": id.as_str() }),
                },
            )
            .await?;
        }
        tx.commit().await?;
        // The row just written, without reading it back.
        let contact = ItContact {
            id: id.clone(),
            org_id: new.org_id.clone(),
            email: new.email.clone(),
            name: new.name.cloned(),
            source: new.source,
            member_id: new.member_id.cloned(),
            still_member,
            status,
            status_detail: None,
            synced_at: synced_at.map(Timestamp::from_unix_millis),
            identity_contact_id: inserted_identity_id,
            created_at: now,
            created_by: new.added_by.clone(),
            mail_rejected: None,
        };
        Ok(AddedContact {
            contact,
            cancelled_removal,
        })
    }

    /// Removes a contact under the list's rules (D1) and decides what reaches the identity
    /// side (R7): nothing for a contact never registered, a removal request otherwise.
    pub async fn remove_contact(
        &self,
        org_id: &OrgId,
        id: &ContactId,
        removed_by: &UserId,
        mode: RemovalMode,
        now: Timestamp,
    ) -> Result<RemovedContact, StoreError> {
        let mut tx = self.begin().await?;
        // Its address and name do not change; its status is taken from the DELETE below.
        let contact = fetch_contact(&mut tx, org_id, id).await?;
        let (sso_status, identity_org_id) = lock_contact_list(&mut tx, org_id).await?;
        list_of(&mut tx, org_id)
            .await?
            .check_remove(sso_status == "enabled")?;

        // The row as it is deleted decides what reaches the identity side, not the row read
        // above: a worker may have recorded its registration since (the DELETE waits for its
        // commit on PostgreSQL and sees the row it left), and a contact Synced meanwhile needs
        // its removal like any other.
        let (status, identity_contact_id, lease_owner, lease_until, sync_attempts): (
            String,
            Option<String>,
            Option<String>,
            Option<i64>,
            i64,
        ) = sqlx::query_as(
            "DELETE FROM it_contacts WHERE id = $1 \
             RETURNING status, identity_contact_id, lease_owner, lease_until, sync_attempts",
        )
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let mut contact = contact;
        contact.status = SyncStatus::parse(&status).unwrap_or(contact.status);
        contact.identity_contact_id = identity_contact_id;
        if contact.status == SyncStatus::Synced && contact.synced_at.is_none() {
            contact.synced_at = Some(now);
        }
        // Issue 24: a pending contact whose registration may have reached the identity side
        // (claimed by a worker, alive or killed, or tried before with no answer) leaves a
        // tombstone: the worker that finishes or takes over that registration learns the
        // identity-side id and queues its removal, so nothing is left there.
        let in_flight = (contact.status == SyncStatus::Pending
            && mode != RemovalMode::CompletedNow
            && (lease_owner.is_some() || sync_attempts > 0))
            .then_some((lease_owner, lease_until));

        let mut tombstone = None;
        if let Some((lease_owner, lease_until)) = in_flight {
            let automatic = matches!(mode, RemovalMode::Queue { automatic: true });
            let tid = RemovalId::generate();
            // The tombstone keeps the contact's lease: a live worker's heartbeat renews it, and
            // it is taken over only once that lease has run out.
            sqlx::query(
                "INSERT INTO identity_removals (id, org_id, contact_id, email, email_key, identity_org_id, \
                     identity_contact_id, status, requested_at, requested_by, automatic, next_attempt_at, \
                     lease_owner, lease_until) \
                 SELECT $1, id, $2, $3, $4, identity_org_id, '', $11, $5, $6, $7, $5, $8, $9 \
                 FROM organisations WHERE id = $10",
            )
            .bind(tid.as_str())
            .bind(id.as_str())
            .bind(contact.email.as_str())
            .bind(contact.email.key())
            .bind(now.unix_millis())
            .bind(removed_by.as_str())
            .bind(i64::from(automatic))
            .bind(lease_until.and(lease_owner.clone()))
            .bind(lease_owner.and(lease_until))
            .bind(org_id.as_str())
            .bind(RemovalStatus::Tombstone.as_str())
            .execute(&mut *tx)
            .await?;
            tombstone = Some(tid);
        }

        let identity_removal =
            IdentityRemoval::for_status(contact.status, mode == RemovalMode::CompletedNow);
        let mut removal_id = None;
        if identity_removal != IdentityRemoval::NotNeeded {
            let rid = RemovalId::generate();
            let (status, completed_at, outcome, automatic, next_attempt_at) = match mode {
                RemovalMode::CompletedNow => (
                    "completed",
                    Some(now.unix_millis()),
                    Some("deleted"),
                    1,
                    None,
                ),
                RemovalMode::Queue { automatic } => (
                    "pending",
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
            .bind(rid.as_str())
            .bind(org_id.as_str())
            .bind(id.as_str())
            .bind(contact.email.as_str())
            .bind(contact.email.key())
            .bind(identity_org_id)
            .bind(contact.identity_contact_id.clone().unwrap_or_default())
            .bind(status)
            .bind(now.unix_millis())
            .bind(removed_by.as_str())
            .bind(completed_at)
            .bind(completed_at.map(|_| "system"))
            .bind(outcome)
            .bind(automatic)
            .bind(next_attempt_at)
            .execute(&mut *tx)
            .await?;
            removal_id = Some(rid);
        }

        audit::record(
            &mut tx,
            AuditEntry {
                org_id: Some(org_id),
                at: now,
                actor: removed_by.as_str(),
                action: AuditAction::ItContactRemoved,
                target: Some(id.as_str()),
                details: json!({
                    "email": contact.email.as_str(),
                    "was": contact.status.as_str(),
                    "identity_removal": identity_removal.as_str(),
                    "removal_id": removal_id.as_ref().map(RemovalId::as_str),
                    "registration_in_flight": tombstone.as_ref().map(RemovalId::as_str),
                }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(RemovedContact {
            contact,
            identity_removal,
            removal_id,
        })
    }
}

/// Serialises changes of one organisation's contact list (see the module documentation);
/// returns the organisation's SSO status and identity-side id, read with the lock.
async fn lock_contact_list(
    conn: &mut AnyConnection,
    org_id: &OrgId,
) -> Result<(String, Option<String>), StoreError> {
    sqlx::query_as(
        "UPDATE organisations SET contacts_version = contacts_version + 1 WHERE id = $1 \
         RETURNING sso_status, identity_org_id",
    )
    .bind(org_id.as_str())
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

async fn list_of(conn: &mut AnyConnection, org_id: &OrgId) -> Result<ContactList, StoreError> {
    let keys: Vec<(String,)> =
        sqlx::query_as("SELECT email_key FROM it_contacts WHERE org_id = $1")
            .bind(org_id.as_str())
            .fetch_all(conn)
            .await?;
    Ok(ContactList::new(keys.into_iter().map(|(k,)| k)))
}

async fn fetch_contact(
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

/// The window of [`NewContact::additions_per_hour`].
const ADDITION_WINDOW_MS: i64 = 3_600_000;

/// Counts one addition against the organisation's hourly limit, or says when there is room
/// again. Runs after the contact list's lock, so additions at once cannot overshoot.
async fn take_addition(
    conn: &mut sqlx::AnyConnection,
    org_id: &OrgId,
    now: Timestamp,
    limit: i64,
) -> Result<(), StoreError> {
    let since = now.unix_millis() - ADDITION_WINDOW_MS;
    // One read: the additions within the window, the oldest of them, and the stale rows.
    let (recent, oldest, stale): (Option<i64>, Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT SUM(CASE WHEN at > $2 THEN 1 ELSE 0 END), MIN(CASE WHEN at > $2 THEN at END), \
                SUM(CASE WHEN at <= $2 THEN 1 ELSE 0 END) \
         FROM contact_additions WHERE org_id = $1",
    )
    .bind(org_id.as_str())
    .bind(since)
    .fetch_one(&mut *conn)
    .await?;
    if recent.unwrap_or(0) >= limit {
        let oldest = oldest.unwrap_or(now.unix_millis());
        return Err(StoreError::Throttled {
            free_at: oldest + ADDITION_WINDOW_MS,
        });
    }
    // Rows out of the window are pruned now and then, not at every addition.
    if stale.unwrap_or(0) >= limit {
        sqlx::query("DELETE FROM contact_additions WHERE org_id = $1 AND at <= $2")
            .bind(org_id.as_str())
            .bind(since)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("INSERT INTO contact_additions (org_id, at) VALUES ($1, $2)")
        .bind(org_id.as_str())
        .bind(now.unix_millis())
        .execute(&mut *conn)
        .await?;
    Ok(())
}
