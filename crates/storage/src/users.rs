//! Users and their memberships as a unit of work sees them: one statement each, inside the
//! caller's transaction.

use crate::{Store, StoreError, UserRecord};
use smartcore_domain::{EmailAddress, OrgId, PersonName, Role, Timestamp, UserId};
use sqlx::AnyConnection;

impl Store {
    /// The user with this address, if any.
    pub async fn find_user_by_email(
        &self,
        email: &EmailAddress,
    ) -> Result<Option<UserRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        by_email(&mut conn, email).await
    }
}

/// The user with this address, if any.
pub async fn by_email(
    conn: &mut AnyConnection,
    email: &EmailAddress,
) -> Result<Option<UserRecord>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, email, name, password_hash, is_staff, created_at, disabled_at \
             FROM users WHERE email_key = $1",
    )
    .bind(email.key())
    .fetch_optional(conn)
    .await?)
}

/// The user with this id.
pub async fn by_id(conn: &mut AnyConnection, id: &str) -> Result<UserRecord, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, email, name, password_hash, is_staff, created_at, disabled_at \
             FROM users WHERE id = $1",
    )
    .bind(id)
    .fetch_one(conn)
    .await?)
}

/// A new account with a password.
pub async fn insert(
    conn: &mut AnyConnection,
    id: &UserId,
    email: &EmailAddress,
    name: &PersonName,
    password_hash: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO users (id, email, email_key, name, password_hash, is_staff, created_at) \
         VALUES ($1, $2, $3, $4, $5, 0, $6)",
    )
    .bind(id.as_str())
    .bind(email.as_str())
    .bind(email.key())
    .bind(name.as_str())
    .bind(password_hash)
    .bind(now.unix_millis())
    .execute(conn)
    .await?;
    Ok(())
}

/// Gives the account a (new) password.
pub async fn set_password(
    conn: &mut AnyConnection,
    id: &str,
    password_hash: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(password_hash)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The user's role in the organisation, if they are a member.
pub async fn membership_role(
    conn: &mut AnyConnection,
    org_id: &OrgId,
    user_id: &str,
) -> Result<Option<Role>, StoreError> {
    let role: Option<(String,)> =
        sqlx::query_as("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(org_id.as_str())
            .bind(user_id)
            .fetch_optional(conn)
            .await?;
    role.map(|(r,)| {
        r.parse()
            .map_err(|e: smartcore_domain::UnknownText| StoreError::Config(e.to_string()))
    })
    .transpose()
}

/// Makes the user a member with `role` (or gives an existing member that role), kept
/// searchable by name and address.
pub async fn put_membership(
    conn: &mut AnyConnection,
    org_id: &OrgId,
    user: &UserRecord,
    email: &EmailAddress,
    role: Role,
    now: Timestamp,
) -> Result<(), StoreError> {
    crate::people::upsert_membership(conn, org_id, &user.id, &user.name, email, role, now).await?;
    Ok(())
}
