//! Memberships as a unit of work changes them: one statement each, inside the caller's
//! transaction. The rule that an organisation keeps an administrator is the domain's
//! (`smartcore_domain::access`); the use case counts, asks and writes.

use crate::{ChangedMember, StoreError};
use smartcore_domain::{OrgId, Role, UserId};
use sqlx::AnyConnection;

/// The member as they are now.
pub async fn of(
    conn: &mut AnyConnection,
    org_id: &OrgId,
    user_id: &UserId,
) -> Result<ChangedMember, StoreError> {
    let (id, email, name, role): (String, String, String, String) = sqlx::query_as(
        "SELECT u.id, u.email, u.name, m.role FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.org_id = $1 AND m.user_id = $2",
    )
    .bind(org_id.as_str())
    .bind(user_id.as_str())
    .fetch_one(conn)
    .await?;
    Ok(ChangedMember {
        user_id: id,
        email,
        name,
        role: role
            .parse()
            .map_err(|e: smartcore_domain::UnknownText| StoreError::Config(e.to_string()))?,
    })
}

/// The organisation's administrators, counted from the partial index of migration 0026 (the
/// queries that read administrators name the role as the literal `'admin'`, the index's
/// condition, so that the planner can use it: [`Role::Admin`]'s text, as a test checks).
pub async fn count_admins(conn: &mut AnyConnection, org_id: &OrgId) -> Result<u32, StoreError> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND role = 'admin'")
            .bind(org_id.as_str())
            .fetch_one(conn)
            .await?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// Whether `user` is a member of the organisation.
pub async fn is_member(
    conn: &mut AnyConnection,
    org_id: &OrgId,
    user: &UserId,
) -> Result<bool, StoreError> {
    let (count,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(org_id.as_str())
            .bind(user.as_str())
            .fetch_one(conn)
            .await?;
    Ok(count > 0)
}

/// Gives the member a role.
pub async fn set_role(
    conn: &mut AnyConnection,
    org_id: &OrgId,
    user_id: &UserId,
    role: Role,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE memberships SET role = $1 WHERE org_id = $2 AND user_id = $3")
        .bind(role.as_str())
        .bind(org_id.as_str())
        .bind(user_id.as_str())
        .execute(conn)
        .await?;
    Ok(())
}

/// Ends the membership.
pub async fn delete(
    conn: &mut AnyConnection,
    org_id: &OrgId,
    user_id: &UserId,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
        .bind(org_id.as_str())
        .bind(user_id.as_str())
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use smartcore_domain::Role;

    #[test]
    fn the_administrators_index_names_the_roles_text() {
        assert_eq!(Role::Admin.as_str(), "admin");
        for (dialect, migration) in [
            (
                "sqlite",
                include_str!("../migrations/sqlite/0026_member_row_ids.sql"),
            ),
            (
                "postgres",
                include_str!("../migrations/postgres/0026_member_row_ids.sql"),
            ),
        ] {
            assert!(
                migration.contains("ON memberships (org_id, user_id) WHERE role = 'admin'"),
                "{dialect}"
            );
        }
    }
}
