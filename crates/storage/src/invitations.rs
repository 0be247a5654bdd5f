//! Invitations to join an organisation: created, listed, resent, revoked and accepted, each
//! in one transaction with its audit entry. A link's secret is never stored, only its SHA-256
//! (see the 0012 migration).
//!
//! The rules (no invitation for a member or an address invited already, at most
//! [`InviteRules::max_pending`] pending per organisation, at most [`InviteRules::per_minute`]
//! mails a minute per administrator) are checked inside the transaction that would break
//! them, after the organisation's row is locked, so concurrent invitations cannot overshoot.

use crate::people::{lock_org, upsert_membership};
use crate::{AuditEntry, Store, StoreError, UserRecord};
use smartcore_domain::{EmailAddress, InvitationId, OrgId, PersonName, Role, Timestamp, UserId};
use sqlx::{AnyConnection, Row};

/// An invitation as stored, with the inviter's name for listings and mails.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvitationRecord {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub role: String,
    pub invited_by: String,
    /// The inviter's name; none when invited from the CLI.
    pub invited_by_name: Option<String>,
    pub created_at: i64,
    pub sent_at: i64,
    pub expires_at: i64,
    pub status: String,
    /// The hash of the current link.
    pub token_hash: String,
}

impl InvitationRecord {
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::Member)
    }
}

/// What an administrator asked for.
pub struct NewInvitation<'a> {
    pub org_id: &'a OrgId,
    pub email: &'a EmailAddress,
    pub role: Role,
    /// The inviting user's id, or `cli`.
    pub actor: &'a str,
    pub token_hash: &'a str,
    pub now: Timestamp,
    pub expires_at: Timestamp,
}

/// The limits an invitation is checked against.
#[derive(Debug, Clone, Copy)]
pub struct InviteRules {
    pub max_pending: i64,
    pub per_minute: i64,
    /// Resends of one invitation a day (issue 24).
    pub resends_per_day: i64,
}

/// Why an invitation (or a resend) was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InviteRefused {
    AlreadyMember,
    AlreadyInvited,
    LimitReached,
    /// Too many mails from this administrator; free again at this time (Unix ms).
    RateLimited {
        free_at: i64,
    },
    /// This invitation was resent as often as a day allows; free again at this time.
    ResendLimited {
        free_at: i64,
    },
}

/// Why a link does not let anyone join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptRefused {
    /// No such link: mistyped or tampered (404).
    Unknown,
    /// A newer link was sent for the same invitation (410).
    Replaced,
    Expired,
    Revoked,
    /// Used already, by this or another browser (410).
    Used,
    /// Opened as a new person, but an account with the address exists (sign in instead).
    AccountExists,
    /// Opened as an existing account, but there is none for the address.
    NoAccount,
    /// The administrator who sent it is no longer an administrator of the organisation
    /// (demoted, removed or disabled): the invitation carried their authority (410).
    InviterNotAdmin,
}

/// The minute the per-administrator limit counts over.
const SEND_WINDOW_MS: i64 = 60_000;
/// The day the per-invitation resend limit counts over.
const RESEND_WINDOW_MS: i64 = 86_400_000;

impl Store {
    /// Creates an invitation, checking every rule first; records `invitation.created`.
    pub async fn create_invitation(
        &self,
        new: NewInvitation<'_>,
        rules: InviteRules,
    ) -> Result<Result<InvitationRecord, InviteRefused>, StoreError> {
        let mut tx = self.begin().await?;
        lock_org(&mut tx, new.org_id).await?;
        expire_stale(&mut tx, new.org_id, new.email, new.now).await?;
        let member = sqlx::query(
            "SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.org_id = $1 AND u.email_key = $2",
        )
        .bind(new.org_id.as_str())
        .bind(new.email.key())
        .fetch_optional(&mut *tx)
        .await?;
        if member.is_some() {
            return Ok(Err(InviteRefused::AlreadyMember));
        }
        let invited = sqlx::query(
            "SELECT 1 FROM invitations WHERE org_id = $1 AND email_key = $2 AND status = 'pending'",
        )
        .bind(new.org_id.as_str())
        .bind(new.email.key())
        .fetch_optional(&mut *tx)
        .await?;
        if invited.is_some() {
            return Ok(Err(InviteRefused::AlreadyInvited));
        }
        let (pending,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM invitations WHERE org_id = $1 AND status = 'pending' AND expires_at > $2",
        )
        .bind(new.org_id.as_str())
        .bind(new.now.unix_millis())
        .fetch_one(&mut *tx)
        .await?;
        if pending >= rules.max_pending {
            return Ok(Err(InviteRefused::LimitReached));
        }
        if let Err(refused) = take_send(&mut tx, new.actor, new.now, rules).await? {
            return Ok(Err(refused));
        }
        let id = InvitationId::generate();
        sqlx::query(
            "INSERT INTO invitations (id, org_id, email, email_key, role, token_hash, invited_by, \
             created_at, sent_at, expires_at, status) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, 'pending')",
        )
        .bind(id.as_str())
        .bind(new.org_id.as_str())
        .bind(new.email.as_str())
        .bind(new.email.key())
        .bind(new.role.as_str())
        .bind(new.token_hash)
        .bind(new.actor)
        .bind(new.now.unix_millis())
        .bind(new.expires_at.unix_millis())
        .execute(&mut *tx)
        .await?;
        add_link(&mut tx, &id, new.token_hash, new.now).await?;
        crate::audit::record(
            &mut tx,
            AuditEntry {
                org_id: Some(new.org_id),
                at: new.now,
                actor: new.actor,
                action: "invitation.created",
                target: Some(id.as_str()),
                details: serde_json::json!({ "email": new.email.as_str(), "role": new.role.as_str() }),
            },
        )
        .await?;
        let record = invitation_in(&mut tx, new.org_id, &id).await?;
        tx.commit().await?;
        Ok(Ok(record))
    }

    /// Gives a pending invitation a new link (the old one then answers "replaced") and seven
    /// more days; counts against the administrator's limit; records `invitation.resent`.
    #[allow(clippy::too_many_arguments)]
    pub async fn resend_invitation(
        &self,
        org_id: &OrgId,
        id: &InvitationId,
        actor: &str,
        token_hash: &str,
        now: Timestamp,
        expires_at: Timestamp,
        rules: InviteRules,
    ) -> Result<Result<InvitationRecord, InviteRefused>, StoreError> {
        let mut tx = self.begin().await?;
        lock_org(&mut tx, org_id).await?;
        let before = invitation_in(&mut tx, org_id, id).await?;
        if before.status != "pending" {
            return Err(StoreError::NotFound);
        }
        let since = now.unix_millis() - RESEND_WINDOW_MS;
        let resends: Vec<(i64,)> = sqlx::query_as(
            "SELECT at FROM invitation_resends WHERE invitation_id = $1 AND at > $2 ORDER BY at LIMIT $3",
        )
        .bind(id.as_str())
        .bind(since)
        .bind(rules.resends_per_day)
        .fetch_all(&mut *tx)
        .await?;
        if resends.len() as i64 >= rules.resends_per_day {
            let oldest = resends.first().map_or(now.unix_millis(), |(at,)| *at);
            return Ok(Err(InviteRefused::ResendLimited {
                free_at: oldest + RESEND_WINDOW_MS,
            }));
        }
        if let Err(refused) = take_send(&mut tx, actor, now, rules).await? {
            return Ok(Err(refused));
        }
        sqlx::query(
            "UPDATE invitations SET token_hash = $1, sent_at = $2, expires_at = $3 WHERE id = $4",
        )
        .bind(token_hash)
        .bind(now.unix_millis())
        .bind(expires_at.unix_millis())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        add_link(&mut tx, id, token_hash, now).await?;
        sqlx::query("DELETE FROM invitation_resends WHERE invitation_id = $1 AND at <= $2")
            .bind(id.as_str())
            .bind(since)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO invitation_resends (invitation_id, at) VALUES ($1, $2)")
            .bind(id.as_str())
            .bind(now.unix_millis())
            .execute(&mut *tx)
            .await?;
        crate::audit::record(
            &mut tx,
            AuditEntry {
                org_id: Some(org_id),
                at: now,
                actor,
                action: "invitation.resent",
                target: Some(id.as_str()),
                details: serde_json::json!({ "email": before.email, "role": before.role }),
            },
        )
        .await?;
        let record = invitation_in(&mut tx, org_id, id).await?;
        tx.commit().await?;
        Ok(Ok(record))
    }

    /// Revokes a pending invitation (its links then answer 410); records `invitation.revoked`.
    pub async fn revoke_invitation(
        &self,
        org_id: &OrgId,
        id: &InvitationId,
        actor: &str,
        now: Timestamp,
    ) -> Result<InvitationRecord, StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE invitations SET status = 'revoked', finished_at = $1 \
             WHERE id = $2 AND org_id = $3 AND status = 'pending'",
        )
        .bind(now.unix_millis())
        .bind(id.as_str())
        .bind(org_id.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let record = invitation_in(&mut tx, org_id, id).await?;
        crate::audit::record(
            &mut tx,
            AuditEntry {
                org_id: Some(org_id),
                at: now,
                actor,
                action: "invitation.revoked",
                target: Some(id.as_str()),
                details: serde_json::json!({ "email": record.email, "role": record.role }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// The organisation's pending invitations (expired ones included, until they are resent,
    /// revoked or the address is invited again), oldest first.
    pub async fn pending_invitations(
        &self,
        org_id: &OrgId,
    ) -> Result<Vec<InvitationRecord>, StoreError> {
        Ok(sqlx::query_as(PENDING_OF_ORG)
            .bind(org_id.as_str())
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
        invitation_in(&mut conn, org_id, id).await
    }

    /// The invitation a link (by its hash) belongs to, if it still lets someone join.
    pub async fn open_invitation(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Result<InvitationRecord, AcceptRefused>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        open_in(&mut conn, token_hash, now).await
    }

    /// Accepts an invitation: marks it used and puts the membership, in one transaction, so
    /// that of two browsers accepting one link exactly one joins (the other gets `Used`).
    /// `new_user` (a name and a password hash) creates the account of a new person, or gives
    /// an account without a password (an imported member) its first password: the link proves
    /// the mailbox, as a password reset would. Without it the address's account must exist
    /// (the caller has signed in). Records `invitation.accepted`.
    pub async fn accept_invitation(
        &self,
        token_hash: &str,
        new_user: Option<(Option<&PersonName>, &str)>,
        now: Timestamp,
    ) -> Result<Result<(InvitationRecord, UserRecord), AcceptRefused>, StoreError> {
        let mut tx = self.begin().await?;
        let invitation = match open_in(&mut tx, token_hash, now).await? {
            Ok(i) => i,
            Err(refused) => return Ok(Err(refused)),
        };
        // The organisation's row is the lock a demotion or removal takes: with it held, the
        // inviter's role read again below stays true until this commits.
        let org_id = OrgId::parse(&invitation.org_id).ok_or(StoreError::NotFound)?;
        lock_org(&mut tx, &org_id).await?;
        let invitation = match open_in(&mut tx, token_hash, now).await? {
            Ok(i) => i,
            Err(refused) => return Ok(Err(refused)),
        };
        // The claim: only one transaction can move the row from pending.
        let claimed = sqlx::query(
            "UPDATE invitations SET status = 'accepted', finished_at = $1 \
             WHERE id = $2 AND status = 'pending' AND token_hash = $3",
        )
        .bind(now.unix_millis())
        .bind(&invitation.id)
        .bind(token_hash)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() == 0 {
            return Ok(Err(AcceptRefused::Used));
        }
        let email = EmailAddress::parse(&invitation.email).map_err(|_| StoreError::NotFound)?;
        let existing = sqlx::query("SELECT id, password_hash FROM users WHERE email_key = $1")
            .bind(email.key())
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| (r.get::<String, _>(0), r.get::<Option<String>, _>(1)));
        let user_id = match (existing, new_user) {
            (Some((_, Some(_))), Some(_)) => return Ok(Err(AcceptRefused::AccountExists)),
            (Some((id, None)), Some((_, password_hash))) => {
                sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                    .bind(password_hash)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                id
            }
            (None, None) | (None, Some((None, _))) => return Ok(Err(AcceptRefused::NoAccount)),
            (Some((id, _)), None) => id,
            (None, Some((Some(name), password_hash))) => {
                let id = UserId::generate();
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
                .execute(&mut *tx)
                .await?;
                id.to_string()
            }
        };
        sqlx::query("UPDATE invitations SET accepted_by = $1 WHERE id = $2")
            .bind(&user_id)
            .bind(&invitation.id)
            .execute(&mut *tx)
            .await?;
        let user: UserRecord = sqlx::query_as(
            "SELECT id, email, name, password_hash, is_staff, created_at, disabled_at FROM users WHERE id = $1",
        )
        .bind(&user_id)
        .fetch_one(&mut *tx)
        .await?;
        // Someone made a member meanwhile (the CLI) keeps the role they were given.
        let already: Option<(String,)> =
            sqlx::query_as("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
                .bind(org_id.as_str())
                .bind(&user_id)
                .fetch_optional(&mut *tx)
                .await?;
        if already.is_none() {
            upsert_membership(
                &mut tx,
                &org_id,
                &user_id,
                &user.name,
                &email,
                invitation.role(),
                now,
            )
            .await?;
        }
        crate::audit::record(
            &mut tx,
            AuditEntry {
                org_id: Some(&org_id),
                at: now,
                actor: &user_id,
                action: "invitation.accepted",
                target: Some(&invitation.id),
                details: serde_json::json!({
                    "email": invitation.email, "role": invitation.role,
                    "new_account": new_user.is_some(),
                }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Ok((invitation, user)))
    }
}

const PENDING_OF_ORG: &str = "SELECT i.id, i.org_id, i.email, i.role, i.invited_by, u.name AS invited_by_name, \
     i.created_at, i.sent_at, i.expires_at, i.status, i.token_hash \
     FROM invitations i LEFT JOIN users u ON u.id = i.invited_by \
     WHERE i.org_id = $1 AND i.status = 'pending' ORDER BY i.id";

const INVITATION_BY_ID: &str = "SELECT i.id, i.org_id, i.email, i.role, i.invited_by, u.name AS invited_by_name, \
     i.created_at, i.sent_at, i.expires_at, i.status, i.token_hash \
     FROM invitations i LEFT JOIN users u ON u.id = i.invited_by \
     WHERE i.org_id = $1 AND i.id = $2";

const INVITATION_BY_LINK: &str = "SELECT i.id, i.org_id, i.email, i.role, i.invited_by, u.name AS invited_by_name, \
     i.created_at, i.sent_at, i.expires_at, i.status, i.token_hash \
     FROM invitation_links l JOIN invitations i ON i.id = l.invitation_id \
     LEFT JOIN users u ON u.id = i.invited_by WHERE l.token_hash = $1";

async fn invitation_in(
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

async fn open_in(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: Timestamp,
) -> Result<Result<InvitationRecord, AcceptRefused>, StoreError> {
    let found: Option<InvitationRecord> = sqlx::query_as(INVITATION_BY_LINK)
        .bind(token_hash)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(invitation) = found else {
        return Ok(Err(AcceptRefused::Unknown));
    };
    if invitation.status == "pending" && invitation.invited_by != "cli" {
        // The invitation carries its sender's authority: it works only while they are an
        // (enabled) administrator of the organisation.
        let admin = sqlx::query(
            "SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.org_id = $1 AND m.user_id = $2 AND m.role = 'admin' AND u.disabled_at IS NULL",
        )
        .bind(&invitation.org_id)
        .bind(&invitation.invited_by)
        .fetch_optional(&mut *conn)
        .await?;
        if admin.is_none() {
            return Ok(Err(AcceptRefused::InviterNotAdmin));
        }
    }
    Ok(match invitation.status.as_str() {
        "accepted" => Err(AcceptRefused::Used),
        "revoked" => Err(AcceptRefused::Revoked),
        "expired" => Err(AcceptRefused::Expired),
        _ if invitation.token_hash != token_hash => Err(AcceptRefused::Replaced),
        _ if invitation.expires_at <= now.unix_millis() => Err(AcceptRefused::Expired),
        _ => Ok(invitation),
    })
}

/// Marks an expired pending invitation of this address `expired`, so the address can be
/// invited afresh. (Expired invitations of other addresses stay listed, to be resent or
/// revoked; they do not count against the pending limit.)
async fn expire_stale(
    conn: &mut AnyConnection,
    org_id: &OrgId,
    email: &EmailAddress,
    now: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE invitations SET status = 'expired', finished_at = $1 \
         WHERE org_id = $2 AND email_key = $3 AND status = 'pending' AND expires_at <= $1",
    )
    .bind(now.unix_millis())
    .bind(org_id.as_str())
    .bind(email.key())
    .execute(conn)
    .await?;
    Ok(())
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

/// Counts one mail against the administrator's limit, or says when they may send again.
async fn take_send(
    conn: &mut AnyConnection,
    actor: &str,
    now: Timestamp,
    rules: InviteRules,
) -> Result<Result<(), InviteRefused>, StoreError> {
    let since = now.unix_millis() - SEND_WINDOW_MS;
    let sends: Vec<(i64,)> = sqlx::query_as(
        "SELECT at FROM invitation_sends WHERE actor = $1 AND at > $2 ORDER BY at LIMIT $3",
    )
    .bind(actor)
    .bind(since)
    .bind(rules.per_minute)
    .fetch_all(&mut *conn)
    .await?;
    if sends.len() as i64 >= rules.per_minute {
        let oldest = sends.first().map_or(now.unix_millis(), |(at,)| *at);
        return Ok(Err(InviteRefused::RateLimited {
            free_at: oldest + SEND_WINDOW_MS,
        }));
    }
    sqlx::query("DELETE FROM invitation_sends WHERE actor = $1 AND at <= $2")
        .bind(actor)
        .bind(since)
        .execute(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO invitation_sends (actor, at) VALUES ($1, $2)")
        .bind(actor)
        .bind(now.unix_millis())
        .execute(&mut *conn)
        .await?;
    Ok(Ok(()))
}

/// Revokes the pending invitations `inviter` sent in the organisation (they were demoted or
/// removed: the invitations carried their authority), each recorded as `invitation.revoked`
/// with the reason. Returns how many.
pub(crate) async fn revoke_invitations_of(
    conn: &mut AnyConnection,
    org_id: &OrgId,
    inviter: &UserId,
    actor: &str,
    now: Timestamp,
    reason: &str,
) -> Result<usize, StoreError> {
    let pending: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT id, email, role FROM invitations \
         WHERE org_id = $1 AND invited_by = $2 AND status = 'pending' ORDER BY id",
    )
    .bind(org_id.as_str())
    .bind(inviter.as_str())
    .fetch_all(&mut *conn)
    .await?;
    for (id, email, role) in &pending {
        sqlx::query(
            "UPDATE invitations SET status = 'revoked', finished_at = $1 \
             WHERE id = $2 AND status = 'pending'",
        )
        .bind(now.unix_millis())
        .bind(id)
        .execute(&mut *conn)
        .await?;
        crate::audit::record(
            &mut *conn,
            AuditEntry {
                org_id: Some(org_id),
                at: now,
                actor,
                action: "invitation.revoked",
                target: Some(id),
                details: serde_json::json!({
                    "email": email, "role": role, "reason": reason,
                    "invited_by": inviter.as_str(),
                }),
            },
        )
        .await?;
    }
    Ok(pending.len())
}
