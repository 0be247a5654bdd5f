//! Organisations and their members: creation, membership, CSV import, and who may manage what.

use crate::ErrorCode;
use crate::{Accounts, Operations};
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
/// Valid rows written per transaction. Large transactions make a fast import (one commit per
/// 20,000 rows); two batches in memory at most (one being read, one being written) keep the
/// import's memory flat whatever the file's size.
const IMPORT_BATCH: usize = 20_000;

impl Operations<'_> {
    /// How many members the organisation has (the demo's summary).
    pub async fn member_count(&self, org_id: &OrgId) -> Result<i64, AppError> {
        Ok(self.store.member_count(org_id).await?)
    }

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
        let user = self.accounts().user_by_email(email).await?;
        self.store
            .put_membership(&org.org_id(), &user, role, self.now())
            .await?;
        Ok(user)
    }

    /// Imports members in batches of `IMPORT_BATCH` rows, each batch in one transaction,
    /// written set-wise (see `smartcore_storage::MemberImport`: multi-row inserts on SQLite,
    /// `COPY` and one merge on PostgreSQL) while the next batch is read and checked: memory
    /// stays flat whatever the file's size. Valid rows are written in file order (the last row
    /// of an address wins), invalid ones reported with their line; importing the same file
    /// again changes nothing. `progress` is called after each batch with the number of rows
    /// read so far.
    pub async fn import_members(
        &self,
        org: &OrgRecord,
        rows: impl Iterator<Item = Result<MemberRow, (u64, String)>>,
        mut progress: impl FnMut(u64),
    ) -> Result<ImportReport, AppError> {
        let org_id = org.org_id();
        let mut import = self.store.member_import(&org_id).await?;
        let mut report = ImportReport::default();
        // One batch waiting for the writer: it writes while the next one is read.
        let (batches, mut to_write) = tokio::sync::mpsc::channel::<Vec<ImportRow>>(1);
        let app = App::clone(self);
        let writer = tokio::spawn(async move {
            let mut written = 0;
            while let Some(batch) = to_write.recv().await {
                written += import.write(&batch, app.now()).await?.written;
            }
            import.finish().await?;
            Ok::<u64, AppError>(written)
        });
        let mut batch = Vec::with_capacity(IMPORT_BATCH);
        let mut valid = 0u64;
        let mut writing = true;
        for row in rows {
            report.rows_read += 1;
            match row.and_then(validate_row) {
                Ok(row) => {
                    valid += 1;
                    batch.push(row);
                    if batch.len() == IMPORT_BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(IMPORT_BATCH));
                        // A writer that stopped has failed: its error is reported below.
                        if batches.send(full).await.is_err() {
                            writing = false;
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
        if writing && !batch.is_empty() {
            let _ = batches.send(batch).await;
        }
        drop(batches);
        report.written = match writer.await {
            Ok(written) => written?,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        report.unchanged = valid - report.written;
        progress(report.rows_read);
        Ok(report)
    }
}

impl Accounts<'_> {
    /// The organisations a user belongs to, for the switcher.
    pub async fn organisations_of(&self, actor: &Actor) -> Result<Vec<OrgSummary>, AppError> {
        let memberships = self.store.memberships_of(&actor.user_id).await?;
        Ok(memberships
            .into_iter()
            .map(|m| OrgSummary {
                role: m.role,
                id: m.org_id,
                name: m.org_name,
            })
            .collect())
    }
}

impl App {
    /// R1: the organisation, if the actor administers it; 403 for members, 404 for others.
    pub(crate) async fn admin_org(&self, actor: &Actor, org: &OrgId) -> Result<OrgId, AppError> {
        let (org_id, access) = self.access(actor, org).await?;
        access.require_admin()?;
        Ok(org_id)
    }
}

impl App {
    /// The actor's access to the organisation `org` (an id from a URL).
    pub(crate) async fn access(
        &self,
        actor: &Actor,
        org: &OrgId,
    ) -> Result<(OrgId, Access), AppError> {
        let role = self.store.role_in(org, &actor.user_id).await?;
        Ok((org.clone(), Access::from_membership(role)))
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
