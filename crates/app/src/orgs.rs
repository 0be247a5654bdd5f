//! Organisations and their members: creation, membership, CSV import, and who may manage what.

use crate::ErrorCode;
use crate::{Actor, App, AppError};
use smartcore_domain::{Access, EmailAddress, OrgId, PersonName, Role};
use smartcore_storage::{ImportRow, OrgRecord, StoreError, UserRecord};

/// An organisation as a user sees it in the switcher.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OrgSummary {
    pub id: String,
    pub name: String,
    pub role: Role,
}

/// One row of a member import as read from the file, not yet validated.
pub struct MemberRow {
    /// 1-based line number in the file, for the report.
    pub line: u64,
    pub name: String,
    pub email: String,
    pub role: Option<String>,
}

/// The outcome of an import: what was written and which rows were refused, and why.
#[derive(Debug, Default, serde::Serialize)]
pub struct ImportReport {
    pub rows_read: u64,
    pub written: u64,
    pub unchanged: u64,
    pub rejected: u64,
    /// The first `MAX_REPORTED_REJECTIONS` (1,000) rejected rows: line number and reason.
    pub rejections: Vec<(u64, String)>,
}

pub const MAX_REPORTED_REJECTIONS: usize = 1000;
const IMPORT_BATCH: usize = 1000;
/// Transactions writing an import at once on PostgreSQL (see [`App::import_members`]):
/// measured on two cores at 200,000 rows, one writer wrote 5,500 rows/s with the default 4 MB
/// trigram pending list and 11,400 with 64 MB; two with 64 MB wrote 12,400, both server
/// processes keeping a core busy (at a million rows the GIN upkeep dominates: 3,600–5,500).
const IMPORT_WRITERS: usize = 2;

/// The writer that takes `row`: by a hash of its address, so one address has one writer.
fn writer_of(row: &ImportRow, writers: usize) -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    row.email.key().hash(&mut h);
    (h.finish() % writers as u64) as usize
}

impl App {
    pub async fn create_org(&self, name: &str) -> Result<OrgRecord, AppError> {
        let name = PersonName::parse(name).map_err(|e| {
            AppError::invalid(
                ErrorCode::InvalidName,
                "name",
                e.to_string().replace("A name", "An organisation name"),
            )
        })?;
        match self.store.create_org(name.as_str(), self.now()).await {
            Err(StoreError::Duplicate) => Err(AppError::conflict(
                ErrorCode::OrgExists,
                format!("An organisation named {name:?} already exists."),
            )),
            other => Ok(other?),
        }
    }

    /// Every organisation, by name, for the CLI.
    pub async fn all_orgs(&self) -> Result<Vec<OrgRecord>, AppError> {
        Ok(self.store.all_orgs().await?)
    }

    /// Finds an organisation by its id (`org_…`) or its exact name, for the CLI.
    pub async fn find_org(&self, id_or_name: &str) -> Result<OrgRecord, AppError> {
        let found = match OrgId::parse(id_or_name) {
            Some(id) => self.store.org(&id).await,
            None => self.store.org_by_name(id_or_name).await,
        };
        match found {
            Err(StoreError::NotFound) => Err(AppError::invalid(
                ErrorCode::OrgNotFound,
                "org",
                format!("There is no organisation {id_or_name:?}."),
            )),
            other => Ok(other?),
        }
    }

    pub async fn link_identity(
        &self,
        org: &OrgRecord,
        identity_org_id: &str,
    ) -> Result<(), AppError> {
        let identity_org_id = identity_org_id.trim();
        if identity_org_id.is_empty()
            || identity_org_id.len() > 128
            || !identity_org_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(AppError::invalid(
                ErrorCode::InvalidRequest,
                "identity_org_id",
                "An identity-side organisation id is 1–128 letters, digits, '_' or '-'.",
            ));
        }
        self.store
            .link_identity(&org.org_id(), identity_org_id)
            .await?;
        // Contacts that waited for the link are due now.
        self.store
            .wake_pending_contacts(&org.org_id(), self.now())
            .await?;
        Ok(())
    }

    /// Adds the user with this address to the organisation, or changes their role.
    pub async fn add_member(
        &self,
        org: &OrgRecord,
        email: &str,
        role: Role,
    ) -> Result<UserRecord, AppError> {
        let user = self.user_by_email(email).await?;
        self.store
            .put_membership(&org.org_id(), &user, role, self.now())
            .await?;
        Ok(user)
    }

    /// Imports members in batches of a thousand rows, each batch in one transaction: memory
    /// stays flat whatever the file's size. Valid rows are written, invalid ones reported;
    /// importing the same file again changes nothing. `progress` is called after each batch
    /// with the number of rows read so far.
    ///
    /// On PostgreSQL, two (`IMPORT_WRITERS`) transactions write at once (the server then works on
    /// both cores), each taking the rows whose address hashes to it, so that the rows of one
    /// address are written in file order and the last one wins, as with one writer. SQLite
    /// takes one writer at a time anyway: there, one writes.
    pub async fn import_members(
        &self,
        org: &OrgRecord,
        rows: impl Iterator<Item = Result<MemberRow, (u64, String)>>,
        mut progress: impl FnMut(u64),
    ) -> Result<ImportReport, AppError> {
        let org_id = org.org_id();
        let writers = match self.store.dialect() {
            smartcore_storage::Dialect::Postgres => IMPORT_WRITERS,
            smartcore_storage::Dialect::Sqlite => 1,
        };
        let mut report = ImportReport::default();
        let mut senders = Vec::with_capacity(writers);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..writers {
            // One batch waiting per writer: memory stays bounded while the file is read on.
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<ImportRow>>(1);
            senders.push(tx);
            let (app, org_id) = (self.clone(), org_id.clone());
            tasks.spawn(async move {
                let mut written = 0;
                while let Some(batch) = rx.recv().await {
                    written += app
                        .store
                        .import_members(&org_id, &batch, app.now())
                        .await?
                        .written;
                }
                Ok::<u64, AppError>(written)
            });
        }
        let mut batches: Vec<Vec<ImportRow>> = (0..writers)
            .map(|_| Vec::with_capacity(IMPORT_BATCH))
            .collect();
        let mut valid = 0u64;
        let mut sent = Ok(());
        for row in rows {
            report.rows_read += 1;
            match row.and_then(validate_row) {
                Ok(row) => {
                    valid += 1;
                    let w = writer_of(&row, writers);
                    batches[w].push(row);
                    if batches[w].len() == IMPORT_BATCH {
                        let full =
                            std::mem::replace(&mut batches[w], Vec::with_capacity(IMPORT_BATCH));
                        // A writer that stopped has failed: its error is reported below.
                        if senders[w].send(full).await.is_err() {
                            sent = Err(());
                            break;
                        }
                        progress(report.rows_read);
                    }
                }
                Err((line, reason)) => {
                    report.rejected += 1;
                    if report.rejections.len() < MAX_REPORTED_REJECTIONS {
                        report.rejections.push((line, reason));
                    }
                }
            }
        }
        if sent.is_ok() {
            for (w, batch) in batches.into_iter().enumerate() {
                if !batch.is_empty() && senders[w].send(batch).await.is_err() {
                    break;
                }
            }
        }
        drop(senders);
        let mut failure = None;
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(Ok(written)) => report.written += written,
                Ok(Err(e)) => failure = failure.or(Some(e)),
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        self.store.finish_import(&org_id).await?;
        report.unchanged = valid - report.written;
        progress(report.rows_read);
        Ok(report)
    }

    /// The organisations a user belongs to, for the switcher.
    pub async fn organisations_of(&self, actor: &Actor) -> Result<Vec<OrgSummary>, AppError> {
        let memberships = self.store.memberships_of(&actor.user_id).await?;
        Ok(memberships
            .into_iter()
            .filter_map(|m| {
                Some(OrgSummary {
                    role: Role::parse(&m.role)?,
                    id: m.org_id,
                    name: m.org_name,
                })
            })
            .collect())
    }

    /// The actor's access to the organisation named by `org` (an id from a URL).
    pub async fn access(&self, actor: &Actor, org: &str) -> Result<(OrgId, Access), AppError> {
        let org_id = OrgId::parse(org).ok_or(AppError::NotFound)?;
        let role = self.store.role_in(&org_id, &actor.user_id).await?;
        Ok((org_id, Access::from_membership(role)))
    }

    /// R1: the organisation, if the actor administers it; 403 for members, 404 for others.
    pub async fn admin_org(&self, actor: &Actor, org: &str) -> Result<OrgId, AppError> {
        let (org_id, access) = self.access(actor, org).await?;
        access.require_admin()?;
        Ok(org_id)
    }
}

fn validate_row(row: MemberRow) -> Result<ImportRow, (u64, String)> {
    let line = row.line;
    let email = EmailAddress::parse(&row.email)
        .map_err(|e| (line, format!("e-mail {:?}: {e}", row.email)))?;
    let name = PersonName::parse(&row.name).map_err(|e| (line, format!("name: {e}")))?;
    let role = match row.role.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        None => Role::Member,
        Some(r) => {
            Role::parse(r).ok_or_else(|| (line, format!("role {r:?}: use admin or member")))?
        }
    };
    Ok(ImportRow { name, email, role })
}
