//! Invitations to join an organisation, as stored: small functions, each about one
//! statement, run inside the caller's transaction (the use cases in `smartcore_app` open it,
//! take the organisation's lock, ask `smartcore_domain::invitation` and write). A link's secret
//! is never stored, only its SHA-256 (see the 0012 migration).

use crate::{AuditEntry, Store, StoreError};
use smartcore_domain::AuditActor;
use smartcore_domain::AuditDetails;
use smartcore_domain::audit::InvitationRevoked;
use smartcore_domain::{
    EmailAddress, InvitationId, InvitationStatus, OrgId, Role, Timestamp, UserId,
};
use sqlx::AnyConnection;

/// An invitation as stored, with the inviter's name for listings and mails.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvitationRecord {
    pub id: String,
    pub org_id: String,
    pub email: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub invited_by: String,
    /// The inviter's name; none when invited from the CLI.
    pub invited_by_name: Option<String>,
    pub created_at: i64,
    pub sent_at: i64,
    pub expires_at: i64,
    #[sqlx(try_from = "String")]
    pub status: InvitationStatus,
    /// The hash of the current link.
    pub token_hash: String,
}

impl InvitationRecord {
    pub fn role(&self) -> Role {
        self.role
    }

    /// The stored status (migration 0025's CHECK allows only the enum's texts).
    pub fn status(&self) -> InvitationStatus {
        self.status
    }

    pub fn invitation_id(&self) -> Option<InvitationId> {
        InvitationId::parse(&self.id)
    }

    pub fn org(&self) -> Option<OrgId> {
        OrgId::parse(&self.org_id)
    }

    pub fn expires(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.expires_at)
    }

    /// Sent by the operator from the command line rather than by an administrator.
    pub fn sent_from_cli(&self) -> bool {
        self.invited_by.parse::<AuditActor>() == Ok(AuditActor::Cli)
    }
}

/// A new invitation.
pub struct NewInvitation<'a> {
    pub id: &'a InvitationId,
    pub org_id: &'a OrgId,
    pub email: &'a EmailAddress,
    pub role: Role,
    /// The inviting user's id, or `cli`.
    pub actor: &'a str,
    pub token_hash: &'a str,
    pub now: Timestamp,
    pub expires_at: Timestamp,
}

impl Store {
    /// The organisation's pending invitations (expired ones included, until they are resent,
    /// revoked or the address is invited again), oldest first.
    pub async fn pending_invitations(
        &self,
        org_id: &OrgId,
    ) -> Result<Vec<InvitationRecord>, StoreError> {
        Ok(sqlx::query_as(PENDING_OF_ORG)
            .bind(org_id.as_str())
            .bind(InvitationStatus::Pending.as_str())
            .fetch_all(&self.pool)
            .await?)
    }

    /// One invitation of the organisation, whatever its status.
    pub async fn invitation(
        &self,
        org_id: &OrgId,
        id: &InvitationId,
    ) -> Result<InvitationRecord, StoreError> {
        let mut conn = self.pool.acquire().await?;
        by_id(&mut conn, org_id, id).await
    }

    /// The invitation a link (by its hash) belongs to, whatever its status.
    pub async fn invitation_by_link(
        &self,
        token_hash: &str,
    ) -> Result<Option<InvitationRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        by_link(&mut conn, token_hash).await
    }

    /// Whether `user` is an enabled administrator of the organisation (the authority an
    /// invitation carries).
    pub async fn is_enabled_admin(&self, org_id: &str, user: &str) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await?;
        is_enabled_admin(&mut conn, org_id, user).await
    }
}

const PENDING_OF_ORG: &str = "SELECT i.id, i.org_id, i.email, i.role, i.invited_by, u.name AS invited_by_name, \
     i.created_at, i.sent_at, i.expires_at, i.status, i.token_hash \
     FROM invitations i LEFT JOIN users u ON u.id = i.invited_by \
     WHERE i.org_id = $1 AND i.status = $2 ORDER BY i.id";

const INVITATION_BY_ID: &str = "SELECT i.id, i.org_id, i.email, i.role, i.invited_by, u.name AS invited_by_name, \
     i.created_at, i.sent_at, i.expires_at, i.status, i.token_hash \
     FROM invitations i LEFT JOIN users u ON u.id = i.invited_by \
     WHERE i.org_id = $1 AND i.id = $2";

const INVITATION_BY_LINK: &str = "SELECT i.id, i.org_id, i.email, i.role, i.invited_by, u.name AS invited_by_name, \
     i.created_at, i.sent_at, i.expires_at, i.status, i.token_hash \
     FROM invitation_links l JOIN invitations i ON i.id = l.invitation_id \
     LEFT JOIN users u ON u.id = i.invited_by WHERE l.token_hash = $1";

/// One invitation of the organisation, whatever its status.
pub async fn by_id(
    conn: &mut AnyConnection,
    org_id: &OrgId,
    id: &InvitationId,
) -> Result<InvitationRecord, StoreError> {
    Ok(sqlx::query_as(INVITATION_BY_ID)
        .bind(org_id.as_str())
        .bind(id.as_str())
        .fetch_one(conn)
        .await?)
}

/// The invitation a link (by its hash) belongs to.
pub async fn by_link(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<InvitationRecord>, StoreError> {
    Ok(sqlx::query_as(INVITATION_BY_LINK)
        .bind(token_hash)
        .fetch_optional(conn)
        .await?)
}

/// Whether `user` is an enabled administrator of the organisation.
pub async fn is_enabled_admin(
    conn: &mut AnyConnection,
    org_id: &str,
    user: &str,
) -> Result<bool, StoreError> {
    let found = sqlx::query(
        "SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.org_id = $1 AND m.user_id = $2 AND m.role = $3 AND u.disabled_at IS NULL",
    )
    .bind(org_id)
    .bind(user)
    .bind(Role::Admin.as_str())
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

/// Whether the address is a member of the organisation.
pub async fn is_member(
    conn: &mut AnyConnection,
    org_id: &OrgId,
    email: &EmailAddress,
) -> Result<bool, StoreError> {
    let found = sqlx::query(
        "SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.org_id = $1 AND u.email_key = $2",
    )
    .bind(org_id.as_str())
    .bind(email.key())
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

/// Whether the address has a pending invitation to the organisation.
pub async fn is_pending_for(
    conn: &mut AnyConnection,
    org_id: &OrgId,
    email: &EmailAddress,
) -> Result<bool, StoreError> {
    let found = sqlx::query(
        "SELECT 1 FROM invitations WHERE org_id = $1 AND email_key = $2 AND status = $3",
    )
    .bind(org_id.as_str())
    .bind(email.key())
    .bind(InvitationStatus::Pending.as_str())
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

/// The organisation's pending invitations that have not expired.
pub async fn count_unexpired(
    conn: &mut AnyConnection,
    org_id: &OrgId,
    now: Timestamp,
) -> Result<u32, StoreError> {
    let (pending,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM invitations WHERE org_id = $1 AND status = $2 AND expires_at > $3",
    )
    .bind(org_id.as_str())
    .bind(InvitationStatus::Pending.as_str())
    .bind(now.unix_millis())
    .fetch_one(conn)
    .await?;
    Ok(u32::try_from(pending).unwrap_or(u32::MAX))
}

/// Marks an expired pending invitation of this address `expired`, so the address can be
/// invited afresh. (Expired invitations of other addresses stay listed, to be resent or
/// revoked; they do not count against the pending limit.)
pub async fn expire_stale(
    conn: &mut AnyConnection,
    org_id: &OrgId,
    email: &EmailAddress,
    now: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE invitations SET status = $1, finished_at = $2 \
         WHERE org_id = $3 AND email_key = $4 AND status = $5 AND expires_at <= $2",
    )
    .bind(InvitationStatus::Expired.as_str())
    .bind(now.unix_millis())
    .bind(org_id.as_str())
    .bind(email.key())
    .bind(InvitationStatus::Pending.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// Stores a new pending invitation and its first link.
pub async fn insert(conn: &mut AnyConnection, new: &NewInvitation<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO invitations (id, org_id, email, email_key, role, token_hash, invited_by, \
         created_at, sent_at, expires_at, status) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10)",
    )
    .bind(new.id.as_str())
    .bind(new.org_id.as_str())
    .bind(new.email.as_str())
    .bind(new.email.key())
    .bind(new.role.as_str())
    .bind(new.token_hash)
    .bind(new.actor)
    .bind(new.now.unix_millis())
    .bind(new.expires_at.unix_millis())
    .bind(InvitationStatus::Pending.as_str())
    .execute(&mut *conn)
    .await?;
    add_link(conn, new.id, new.token_hash, new.now).await
}

/// Gives the invitation a new current link, sent now, expiring at `expires_at`.
pub async fn renew(
    conn: &mut AnyConnection,
    id: &InvitationId,
    token_hash: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE invitations SET token_hash = $1, sent_at = $2, expires_at = $3 WHERE id = $4",
    )
    .bind(token_hash)
    .bind(now.unix_millis())
    .bind(expires_at.unix_millis())
    .bind(id.as_str())
    .execute(&mut *conn)
    .await?;
    add_link(conn, id, token_hash, now).await
}

async fn add_link(
    conn: &mut AnyConnection,
    id: &InvitationId,
    token_hash: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO invitation_links (token_hash, invitation_id, created_at) VALUES ($1, $2, $3)",
    )
    .bind(token_hash)
    .bind(id.as_str())
    .bind(now.unix_millis())
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends a pending invitation as `status` (revoked or accepted); false when it was not
/// pending (or, with `token_hash`, its current link is another). Only one transaction can
/// move a row from pending, so of two browsers accepting one link exactly one joins.
pub async fn finish(
    conn: &mut AnyConnection,
    id: &str,
    status: InvitationStatus,
    token_hash: Option<&str>,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE invitations SET status = $1, finished_at = $2 \
         WHERE id = $3 AND status = $4 AND ($5 IS NULL OR token_hash = $5)",
    )
    .bind(status.as_str())
    .bind(now.unix_millis())
    .bind(id)
    .bind(InvitationStatus::Pending.as_str())
    .bind(token_hash)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Records who accepted the invitation.
pub async fn set_accepted_by(
    conn: &mut AnyConnection,
    id: &str,
    user_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE invitations SET accepted_by = $1 WHERE id = $2")
        .bind(user_id)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The pending invitations `inviter` sent in the organisation: (id, email, role).
pub async fn pending_sent_by(
    conn: &mut AnyConnection,
    org_id: &OrgId,
    inviter: &UserId,
) -> Result<Vec<(String, String, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, email, role FROM invitations \
         WHERE org_id = $1 AND invited_by = $2 AND status = $3 ORDER BY id",
    )
    .bind(org_id.as_str())
    .bind(inviter.as_str())
    .bind(InvitationStatus::Pending.as_str())
    .fetch_all(conn)
    .await?)
}

/// Revokes the pending invitations `inviter` sent in the organisation (they were demoted or
/// removed: the invitations carried their authority), each recorded as `invitation.revoked`
/// with the reason. Returns how many.
pub async fn revoke_invitations_of(
    conn: &mut AnyConnection,
    org_id: &OrgId,
    inviter: &UserId,
    actor: &AuditActor,
    now: Timestamp,
    reason: &str,
) -> Result<usize, StoreError> {
    let pending = pending_sent_by(&mut *conn, org_id, inviter).await?;
    for (id, email, role) in &pending {
        finish(&mut *conn, id, InvitationStatus::Revoked, None, now).await?;
        crate::audit::record(
            &mut *conn,
            AuditEntry {
                org_id: Some(org_id),
                at: now,
                actor: actor.clone(),
                target: Some(id),
                details: AuditDetails::InvitationRevoked(InvitationRevoked {
                    email: email.clone(),
                    invited_by: Some(inviter.clone()),
                    reason: Some(reason.to_owned()),
                    role: role
                        .parse()
                        .map_err(|e| StoreError::Config(format!("{e}")))?,
                }),
            },
        )
        .await?;
    }
    Ok(pending.len())
}
