//! Organisations.

use crate::{Store, StoreError};
use smartcore_domain::{OrgId, SsoStatus, Timestamp};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrgRecord {
    pub id: String,
    pub name: String,
    pub identity_org_id: Option<String>,
    #[sqlx(try_from = "String")]
    pub sso_status: SsoStatus,
    pub created_at: i64,
}

impl OrgRecord {
    pub fn org_id(&self) -> OrgId {
        OrgId::parse(&self.id).unwrap_or_else(|| unreachable_id(&self.id))
    }
}

fn unreachable_id(id: &str) -> OrgId {
    // Ids are only ever written by this code base, from generated values.
    panic!("corrupt organisation id in the database: {id:?}")
}

impl Store {
    pub async fn create_org(&self, name: &str, now: Timestamp) -> Result<OrgRecord, StoreError> {
        let id = OrgId::generate();
        sqlx::query("INSERT INTO organisations (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(id.as_str())
            .bind(name)
            .bind(now.unix_millis())
            .execute(&self.pool)
            .await?;
        self.org(&id).await
    }

    pub async fn org(&self, id: &OrgId) -> Result<OrgRecord, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, name, identity_org_id, sso_status, created_at FROM organisations WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_one(&self.pool)
        .await?)
    }

    /// Every organisation, by name.
    pub async fn all_orgs(&self) -> Result<Vec<OrgRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, name, identity_org_id, sso_status, created_at FROM organisations ORDER BY name, id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn org_by_name(&self, name: &str) -> Result<OrgRecord, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, name, identity_org_id, sso_status, created_at FROM organisations WHERE name = $1",
        )
        .bind(name)
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn link_identity(&self, id: &OrgId, identity_org_id: &str) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE organisations SET identity_org_id = $1 WHERE id = $2")
            .bind(identity_org_id)
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn set_sso_status(&self, id: &OrgId, status: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE organisations SET sso_status = $1 WHERE id = $2")
            .bind(status)
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// One write of the organisation's row in a transaction of its own, as every change of
    /// its contact list begins: the floor of `smartcore-bench load --mode add-remove`.
    pub async fn bench_touch_org(&self, org_id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE organisations SET contacts_version = contacts_version + 1 WHERE id = $1",
        )
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Takes the organisation's lock for the rest of the transaction: the one way to serialise
/// changes to an organisation's lists and counts (contacts, members, invitations, quotas).
/// `NotFound` when there is no such organisation. (PostgreSQL holds the row lock until the
/// transaction ends; on SQLite the transaction holds the write lock already.)
pub async fn lock(conn: &mut sqlx::AnyConnection, org_id: &OrgId) -> Result<(), StoreError> {
    let done = sqlx::query("UPDATE organisations SET name = name WHERE id = $1")
        .bind(org_id.as_str())
        .execute(conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
