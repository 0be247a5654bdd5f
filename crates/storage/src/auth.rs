//! Browser sessions, API tokens and failed sign-ins. Secrets are never stored: only the
//! SHA-256 of a session or token value (computed by the caller) reaches the database.

use crate::audit::{self, AuditEntry};
use crate::{Store, StoreError};
use smartcore_domain::InvitationStatus;
use smartcore_domain::audit::{
    TokenCreated, TokenNamed, TokenRevoked, TokensRevoked, UserDisabled,
};
use smartcore_domain::{AuditActor, AuditDetails};
use smartcore_domain::{OrgId, SessionId, Timestamp, TokenId, UserId};
use sqlx::Row;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRecord {
    pub id: String,
    pub user_id: String,
    pub expires_at: i64,
}

/// Whose a session or token is.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenOwner {
    pub user_id: String,
    pub is_staff: i64,
    pub token_id: String,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

impl Store {
    pub async fn create_session(
        &self,
        token_hash: &str,
        user_id: &UserId,
        now: Timestamp,
        expires_at: Timestamp,
        method: &'static str,
    ) -> Result<SessionId, StoreError> {
        let id = SessionId::generate();
        sqlx::query(
            "INSERT INTO sessions (id, token_hash, user_id, created_at, expires_at, method) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.as_str())
        .bind(token_hash)
        .bind(user_id.as_str())
        .bind(now.unix_millis())
        .bind(expires_at.unix_millis())
        .bind(method)
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// The live session with this token hash, if any.
    pub async fn session(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError> {
        Ok(
            sqlx::query_as("SELECT id, user_id, expires_at FROM sessions WHERE token_hash = $1 AND expires_at > $2")
                .bind(token_hash)
                .bind(now.unix_millis())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn delete_expired_sessions(&self, now: Timestamp) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now.unix_millis())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Stores a token without a name, expiry or limit (tests and older callers).
    pub async fn create_api_token(
        &self,
        token_hash: &str,
        user_id: &UserId,
        now: Timestamp,
    ) -> Result<TokenId, StoreError> {
        let id = TokenId::generate();
        sqlx::query(
            "INSERT INTO api_tokens (id, token_hash, user_id, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id.as_str())
        .bind(token_hash)
        .bind(user_id.as_str())
        .bind(now.unix_millis())
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// Stores a named token unless its user already has `limit` tokens (then `None`), and
    /// records `api_token.created`. The user's row is the lock, so two creations at once
    /// cannot both take the last place.
    pub async fn create_named_api_token(
        &self,
        token: NewApiToken<'_>,
        limit: i64,
    ) -> Result<Option<ApiTokenRecord>, StoreError> {
        let mut tx = self.begin().await?;
        // A write to the user's row: on PostgreSQL it locks the row, on SQLite it takes the
        // database's write lock, so the count below is what the insert will see.
        let locked = sqlx::query("UPDATE users SET disabled_at = disabled_at WHERE id = $1")
            .bind(token.user_id.as_str())
            .execute(&mut *tx)
            .await?;
        if locked.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let held: i64 = sqlx::query("SELECT COUNT(*) FROM api_tokens WHERE user_id = $1")
            .bind(token.user_id.as_str())
            .fetch_one(&mut *tx)
            .await?
            .get(0);
        if held >= limit {
            return Ok(None);
        }
        let id = TokenId::generate();
        sqlx::query(
            "INSERT INTO api_tokens (id, token_hash, user_id, created_at, name, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.as_str())
        .bind(token.token_hash)
        .bind(token.user_id.as_str())
        .bind(token.now.unix_millis())
        .bind(token.name)
        .bind(token.expires_at.map(Timestamp::unix_millis))
        .execute(&mut *tx)
        .await?;
        audit::record_for_user(
            &mut tx,
            AuditEntry {
                org_id: None,
                at: token.now,
                actor: token.actor.clone(),
                target: Some(id.as_str()),
                details: AuditDetails::ApiTokenCreated(TokenCreated {
                    expires_at: token.expires_at.map(Timestamp::to_rfc3339),
                    name: token.name.to_owned(),
                    user_id: token.user_id.clone(),
                }),
            },
            token.user_id.as_str(),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(ApiTokenRecord {
            id: id.to_string(),
            name: token.name.to_owned(),
            created_at: token.now.unix_millis(),
            expires_at: token.expires_at.map(Timestamp::unix_millis),
            last_used_at: None,
        }))
    }

    /// A user's tokens, oldest first (never their secrets).
    pub async fn api_tokens_of(&self, user_id: &UserId) -> Result<Vec<ApiTokenRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, name, created_at, expires_at, last_used_at FROM api_tokens \
             WHERE user_id = $1 ORDER BY id",
        )
        .bind(user_id.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Deletes a token (only `owner`'s, when given) and records `api_token.revoked`; returns
    /// its hash, so that the caller can forget it at once. Someone else's token: `NotFound`.
    pub async fn revoke_api_token(
        &self,
        id: &str,
        owner: Option<&UserId>,
        actor: &AuditActor,
        now: Timestamp,
    ) -> Result<String, StoreError> {
        let mut tx = self.begin().await?;
        let row = sqlx::query("SELECT token_hash, user_id, name FROM api_tokens WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let (hash, user_id, name): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        if owner.is_some_and(|o| o.as_str() != user_id) {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM api_tokens WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        audit::record_for_user(
            &mut tx,
            AuditEntry {
                org_id: None,
                at: now,
                actor: actor.clone(),
                target: Some(id),
                details: AuditDetails::ApiTokenRevoked(TokenRevoked {
                    name,
                    user_id: user_id.clone(),
                }),
            },
            &user_id,
        )
        .await?;
        tx.commit().await?;
        Ok(hash)
    }

    /// Deletes every token of `user_id` and records `api_token.revoked_all` (with how many,
    /// even none: the owner asked); returns the deleted tokens' hashes, to forget them at once.
    pub async fn revoke_all_api_tokens(
        &self,
        user_id: &UserId,
        actor: &AuditActor,
        now: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query(
            "SELECT token_hash, id, name FROM api_tokens WHERE user_id = $1 ORDER BY id",
        )
        .bind(user_id.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let hashes: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        let tokens: Vec<TokenNamed> = rows
            .iter()
            .map(|r| TokenNamed {
                id: r.get(1),
                name: r.get(2),
            })
            .collect();
        sqlx::query("DELETE FROM api_tokens WHERE user_id = $1")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await?;
        audit::record_for_user(
            &mut tx,
            AuditEntry {
                org_id: None,
                at: now,
                actor: actor.clone(),
                target: Some(user_id.as_str()),
                details: AuditDetails::ApiTokenRevokedAll(TokensRevoked {
                    count: hashes.len(),
                    tokens,
                    user_id: user_id.clone(),
                }),
            },
            user_id.as_str(),
        )
        .await?;
        tx.commit().await?;
        Ok(hashes)
    }

    /// The token with this hash and its (enabled) owner. Expiry is the caller's to check.
    pub async fn api_token_owner(
        &self,
        token_hash: &str,
    ) -> Result<Option<TokenOwner>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT u.id AS user_id, u.is_staff, t.id AS token_id, t.expires_at, t.last_used_at \
             FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND u.disabled_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Records that a token was used now.
    pub async fn touch_api_token(&self, id: &str, now: Timestamp) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now.unix_millis())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Disables a user: ends their sessions, deletes their tokens, revokes the invitations they
    /// sent (`invitation.revoked`, reason `inviter_disabled`) and records `user.disabled`. Returns the deleted tokens' hashes (to forget them at once), or `None`
    /// when the user was disabled already.
    pub async fn disable_user(
        &self,
        user_id: &UserId,
        actor: &AuditActor,
        now: Timestamp,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let mut tx = self.begin().await?;
        let done =
            sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL")
                .bind(now.unix_millis())
                .bind(user_id.as_str())
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let hashes: Vec<String> =
            sqlx::query("SELECT token_hash FROM api_tokens WHERE user_id = $1")
                .bind(user_id.as_str())
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect();
        sqlx::query("DELETE FROM api_tokens WHERE user_id = $1")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await?;
        let sessions = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await?;
        // Issue 24: their pending invitations carried their authority, which ends here.
        let inviting: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT org_id FROM invitations WHERE invited_by = $1 AND status = $2 ORDER BY org_id",
        )
        .bind(user_id.as_str())
        .bind(InvitationStatus::Pending.as_str())
        .fetch_all(&mut *tx)
        .await?;
        for (org,) in inviting {
            if let Some(org_id) = OrgId::parse(&org) {
                crate::invitations::revoke_invitations_of(
                    &mut tx,
                    &org_id,
                    user_id,
                    actor,
                    now,
                    "inviter_disabled",
                )
                .await?;
            }
        }
        audit::record_for_user(
            &mut tx,
            AuditEntry {
                org_id: None,
                at: now,
                actor: actor.clone(),
                target: Some(user_id.as_str()),
                details: AuditDetails::UserDisabled(UserDisabled {
                    sessions_ended: sessions.rows_affected(),
                    tokens_revoked: hashes.len(),
                }),
            },
            user_id.as_str(),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(hashes))
    }

    /// Lets a disabled user sign in again (their old tokens stay revoked); records
    /// `user.enabled`. False when the user was not disabled.
    pub async fn enable_user(
        &self,
        user_id: &UserId,
        actor: &AuditActor,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE users SET disabled_at = NULL WHERE id = $1 AND disabled_at IS NOT NULL",
        )
        .bind(user_id.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        audit::record_for_user(
            &mut tx,
            AuditEntry {
                org_id: None,
                at: now,
                actor: actor.clone(),
                target: Some(user_id.as_str()),
                details: AuditDetails::UserEnabled,
            },
            user_id.as_str(),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Counts a sign-in attempt as failed before its password is checked (so that attempts
    /// at once cannot all pass the limits); `attempt` names the row. A right password then
    /// clears the pair's failures, a refused attempt removes its own row.
    pub async fn record_sign_in_attempt(
        &self,
        email_key: &str,
        client: &str,
        attempt: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO login_failures (email_key, client, id, at) VALUES ($1, $2, $3, $4)",
        )
        .bind(email_key)
        .bind(client)
        .bind(attempt)
        .bind(now.unix_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The failures other than `attempt` since `since`: for the (address, client) pair, with
    /// the latest one's time, and for the client alone.
    pub async fn sign_in_failures(
        &self,
        email_key: &str,
        client: &str,
        attempt: &str,
        since: Timestamp,
    ) -> Result<SignInFailures, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*), MAX(at) FROM login_failures \
             WHERE email_key = $1 AND client = $2 AND at > $3 AND (id IS NULL OR id <> $4)",
        )
        .bind(email_key)
        .bind(client)
        .bind(since.unix_millis())
        .bind(attempt)
        .fetch_one(&self.pool)
        .await?;
        let (pair, pair_latest) = (row.get::<i64, _>(0), row.get::<Option<i64>, _>(1));
        let by_client = if client.is_empty() {
            0
        } else {
            sqlx::query(
                "SELECT COUNT(*) FROM login_failures \
                 WHERE client = $1 AND at > $2 AND (id IS NULL OR id <> $3)",
            )
            .bind(client)
            .bind(since.unix_millis())
            .bind(attempt)
            .fetch_one(&self.pool)
            .await?
            .get::<i64, _>(0)
        };
        Ok(SignInFailures {
            pair,
            pair_latest,
            client: by_client,
        })
    }

    /// The time of the client's `n`-th most recent failure since `since` (1 = the latest).
    pub async fn client_failure_at(
        &self,
        client: &str,
        since: Timestamp,
        n: i64,
    ) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT at FROM login_failures WHERE client = $1 AND at > $2 \
             ORDER BY at DESC LIMIT 1 OFFSET $3",
        )
        .bind(client)
        .bind(since.unix_millis())
        .bind(n - 1)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.get::<i64, _>(0)))
    }

    /// Removes one attempt's row (it was refused before its password was checked).
    pub async fn forget_sign_in_attempt(&self, attempt: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_failures WHERE id = $1")
            .bind(attempt)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A right password: the pair's failures no longer count (and old rows go).
    pub async fn clear_login_failures(
        &self,
        email_key: &str,
        client: &str,
        before: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM login_failures WHERE (email_key = $1 AND client = $2) OR at <= $3",
        )
        .bind(email_key)
        .bind(client)
        .bind(before.unix_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// A token to store: only the hash of its secret.
pub struct NewApiToken<'a> {
    pub token_hash: &'a str,
    pub user_id: &'a UserId,
    pub name: &'a str,
    pub expires_at: Option<Timestamp>,
    pub now: Timestamp,
    /// Who creates it (its user, or `cli`), for the audit log.
    pub actor: &'a AuditActor,
}

/// A stored token, without its secret.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiTokenRecord {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// Failed sign-ins within the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInFailures {
    /// For this address from this client.
    pub pair: i64,
    /// When the latest of those was (Unix milliseconds).
    pub pair_latest: Option<i64>,
    /// From this client, for any address (0 when the client is unknown).
    pub client: i64,
}
