//! Recording what the identity side registered: the green Synced badge, the welcome claimed
//! with it (issue 16, within the address's weekly budget of issue 24) and the audit event, for
//! many contacts in one unit of work. The sync records its registrations in batches (issue 25:
//! one commit per batch instead of one per contact, which held the sync at a fraction of the
//! identity side's pace); the use case owns the transaction and calls these statements in it.
//!
//! Each function runs a fixed number of multi-row statements per `ROWS_PER_STATEMENT` (100) rows,
//! whatever the batch holds.

use crate::StoreError;
use crate::audit::{self, AuditEntry};
use crate::batch::{self, ROWS_PER_STATEMENT};
use crate::trust::WELCOME_BUDGET_MS;
use smartcore_domain::audit::ContactSynced;
use smartcore_domain::{AuditActor, AuditDetails, OrgId, SyncStatus, Timestamp};
use sqlx::{AnyConnection, Row};
use std::collections::{HashMap, HashSet};

/// One registration the identity side confirmed.
#[derive(Debug, Clone)]
pub struct Registered {
    pub contact_id: String,
    pub identity_contact_id: String,
    /// The identity side had it already (registered by an earlier attempt or by hand).
    pub adopted: bool,
}

/// What recording a registration did to its contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Synced now, and its welcome is due (claimed: the welcome worker sends it once).
    SyncedWelcomeDue,
    /// Synced now; the address was welcomed to the organisation within the week, so no welcome.
    SyncedWelcomedRecently,
    /// Not marked: the contact is gone (removed while its registration was under way) or no
    /// longer held by this worker's lease.
    NotHeld,
}

impl Recorded {
    pub fn is_synced(self) -> bool {
        self != Recorded::NotHeld
    }
}

/// A contact marked Synced by [`mark_synced`].
struct Marked {
    contact_id: String,
    org_id: String,
    email: String,
    email_key: String,
}

/// Records the registrations `owner` holds: marks each contact Synced, claims the welcomes due
/// and writes one audit event per contact. Returns, in the order given, what happened to each.
pub async fn record(
    conn: &mut AnyConnection,
    owner: &str,
    registered: &[Registered],
    now: Timestamp,
) -> Result<Vec<Recorded>, StoreError> {
    let mut marked = Vec::with_capacity(registered.len());
    for chunk in registered.chunks(ROWS_PER_STATEMENT) {
        marked.extend(mark_synced(conn, owner, chunk, now).await?);
    }
    let mut welcomed = HashSet::new();
    for chunk in marked.chunks(ROWS_PER_STATEMENT) {
        welcomed.extend(claim_welcomes(conn, chunk, now).await?);
    }
    let by_id: HashMap<&str, &Registered> = registered
        .iter()
        .map(|r| (r.contact_id.as_str(), r))
        .collect();
    let org_ids: Vec<Option<OrgId>> = marked.iter().map(|m| OrgId::parse(&m.org_id)).collect();
    let entries: Vec<AuditEntry<'_>> = marked
        .iter()
        .zip(&org_ids)
        .map(|(m, org_id)| {
            let r = by_id[m.contact_id.as_str()];
            AuditEntry {
                org_id: org_id.as_ref(),
                at: now,
                actor: AuditActor::System,
                target: Some(m.contact_id.as_str()),
                details: AuditDetails::ItContactSynced(ContactSynced {
                    adopted: r.adopted,
                    email: m.email.clone(),
                    identity_contact_id: r.identity_contact_id.clone(),
                }),
            }
        })
        .collect();
    audit::record_many(conn, &entries).await?;
    let synced: HashSet<&str> = marked.iter().map(|m| m.contact_id.as_str()).collect();
    Ok(registered
        .iter()
        .map(|r| {
            if !synced.contains(r.contact_id.as_str()) {
                Recorded::NotHeld
            } else if welcomed.contains(&r.contact_id) {
                Recorded::SyncedWelcomeDue
            } else {
                Recorded::SyncedWelcomedRecently
            }
        })
        .collect())
}

/// Marks the contacts of `chunk` that `owner` still holds as Pending: Synced, with their
/// identity-side ids. Re-confirmation runs from the registration (migration 0023): a contact
/// becoming Synced has no request open.
async fn mark_synced(
    conn: &mut AnyConnection,
    owner: &str,
    chunk: &[Registered],
    now: Timestamp,
) -> Result<Vec<Marked>, StoreError> {
    if chunk.is_empty() {
        return Ok(Vec::new());
    }
    let sql = batch::statement(
        "WITH registered (id, identity_contact_id) AS (VALUES ",
        "(?, ?)",
        chunk.len(),
        4,
        ") UPDATE it_contacts SET status = $3, status_detail = NULL, \
             identity_contact_id = (SELECT r.identity_contact_id FROM registered r WHERE r.id = it_contacts.id), \
             synced_at = $2, next_sync_at = NULL, lease_owner = NULL, lease_until = NULL, \
             waiting_for = NULL, reconfirm_from = $2 \
         WHERE id IN (SELECT id FROM registered) AND lease_owner = $1 AND status = $4 \
         RETURNING id, org_id, email, email_key",
    );
    let mut query = sqlx::query(sql)
        .bind(owner)
        .bind(now.unix_millis())
        .bind(SyncStatus::Synced.as_str())
        .bind(SyncStatus::Pending.as_str());
    for r in chunk {
        query = query
            .bind(r.contact_id.as_str())
            .bind(r.identity_contact_id.as_str());
    }
    let rows = query.fetch_all(&mut *conn).await?;
    Ok(rows
        .into_iter()
        .map(|row| Marked {
            contact_id: row.get(0),
            org_id: row.get(1),
            email: row.get(2),
            email_key: row.get(3),
        })
        .collect())
}

/// Claims the welcomes of newly Synced contacts: one per organisation and address per
/// [`WELCOME_BUDGET_MS`], however often the address was removed and added again. Every
/// contact gets its trust row; only those whose welcome is due get it claimed. Returns the
/// contacts whose welcome is due.
async fn claim_welcomes(
    conn: &mut AnyConnection,
    chunk: &[Marked],
    now: Timestamp,
) -> Result<HashSet<String>, StoreError> {
    // One budget row per organisation and address: a statement may not write a row twice.
    let mut addresses: Vec<(&str, &str)> = chunk
        .iter()
        .map(|m| (m.org_id.as_str(), m.email_key.as_str()))
        .collect();
    addresses.sort_unstable();
    addresses.dedup();
    let sql = batch::statement(
        "INSERT INTO welcome_budget (org_id, email_key, welcomed_at) VALUES ",
        "(?, ?, $1)",
        addresses.len(),
        2,
        " ON CONFLICT (org_id, email_key) DO UPDATE SET welcomed_at = excluded.welcomed_at \
         WHERE welcome_budget.welcomed_at <= $2 RETURNING org_id, email_key",
    );
    let mut query = sqlx::query(sql)
        .bind(now.unix_millis())
        .bind(now.unix_millis() - WELCOME_BUDGET_MS);
    for (org_id, email_key) in &addresses {
        query = query.bind(*org_id).bind(*email_key);
    }
    let claimed: HashSet<(String, String)> = query
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    // The first contact of an address in the batch takes its welcome; any other waits a week.
    let mut taken = HashSet::new();
    let welcomed: HashSet<String> = chunk
        .iter()
        .filter(|m| {
            let key = (m.org_id.clone(), m.email_key.clone());
            claimed.contains(&key) && taken.insert(key)
        })
        .map(|m| m.contact_id.clone())
        .collect();
    // Without a claim the trust row exists but no welcome is due.
    let sql = batch::statement(
        "INSERT INTO contact_trust (contact_id, org_id, welcome_claimed_at) VALUES ",
        "(?, ?, ?)",
        chunk.len(),
        0,
        " ON CONFLICT (contact_id) DO NOTHING",
    );
    let mut query = sqlx::query(sql);
    for m in chunk {
        let claimed_at = welcomed
            .contains(&m.contact_id)
            .then_some(now.unix_millis());
        query = query
            .bind(m.contact_id.as_str())
            .bind(m.org_id.as_str())
            .bind(claimed_at);
    }
    query.execute(&mut *conn).await?;
    Ok(welcomed)
}
