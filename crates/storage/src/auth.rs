//! Browser sessions, API tokens and failed sign-ins. Secrets are never stored: only the
//! SHA-256 of a session or token value (computed by the caller) reaches the database.

use crate::{Store, StoreError};
use smartcore_domain::{SessionId, Timestamp, TokenId, UserId};
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
}

impl Store {
    pub async fn create_session(
        &self,
        token_hash: &str,
        user_id: &UserId,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<SessionId, StoreError> {
        let id = SessionId::generate();
        sqlx::query(
            "INSERT INTO sessions (id, token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id.as_str())
        .bind(token_hash)
        .bind(user_id.as_str())
        .bind(now.unix_millis())
        .bind(expires_at.unix_millis())
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

    pub async fn api_token_owner(
        &self,
        token_hash: &str,
    ) -> Result<Option<TokenOwner>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT u.id AS user_id, u.is_staff FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn record_login_failure(
        &self,
        email_key: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO login_failures (email_key, at) VALUES ($1, $2)")
            .bind(email_key)
            .bind(now.unix_millis())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn login_failures_since(
        &self,
        email_key: &str,
        since: Timestamp,
    ) -> Result<i64, StoreError> {
        let row =
            sqlx::query("SELECT COUNT(*) FROM login_failures WHERE email_key = $1 AND at > $2")
                .bind(email_key)
                .bind(since.unix_millis())
                .fetch_one(&self.pool)
                .await?;
        Ok(row.get::<i64, _>(0))
    }

    pub async fn clear_login_failures(&self, email_key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_failures WHERE email_key = $1")
            .bind(email_key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
