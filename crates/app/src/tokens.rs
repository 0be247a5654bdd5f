//! API tokens: named, optionally expiring, revocable, at most [`MAX_TOKENS_PER_USER`] a user;
//! only their SHA-256 is stored, and a resolved token is remembered for [`TOKEN_CACHE_TTL`].

use crate::Accounts;
use crate::AppError;
use crate::ErrorCode;
use crate::accounts::{Actor, disabled, random_secret, secret_hash};
use smartcore_domain::{AuditActor, Timestamp, TokenId, UserId};
use smartcore_storage::{ApiTokenRecord, NewApiToken, StoreError};

/// A user holds at most this many API tokens.
pub const MAX_TOKENS_PER_USER: i64 = 50;
/// The expiry of a token created without one, unless configured otherwise
/// (SMARTCORE_TOKEN_DEFAULT_DAYS).
pub const DEFAULT_TOKEN_DAYS: u32 = 90;
/// The longest expiry a token can be given (about ten years); without one it never expires.
pub const MAX_TOKEN_DAYS: u32 = 3650;
const MAX_TOKEN_NAME_CHARS: usize = 100;
/// `last_used_at` is written at most this often per token.
const LAST_USED_EVERY_MS: i64 = 60_000;
/// How long a resolved API token is remembered. Every API request presents its token, and
/// looking it up in the database was half the cost of a small request; remembered, a request
/// costs one round trip to the database, not two. A token is never remembered as unknown, so
/// a new one works at once. It is remembered with its expiry, checked at every use. A revoked
/// token (or one of a disabled user) is forgotten at once by the instance that revoked it and
/// refused by every other within this time, as is a change of its owner's staff flag;
/// organisation roles are not remembered (each use case reads them with its data).
pub const TOKEN_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(2);
/// At most this many tokens are remembered; the least used go first.
const TOKEN_CACHE_CAPACITY: u64 = 10_000;

/// Token hash → the actor it resolved to, the token's expiry and when it was remembered (Unix
/// milliseconds), for [`TOKEN_CACHE_TTL`] of the application's clock, so that a test moving its
/// clock moves the cache's time too. The expiry is checked at every use, so an expired token is
/// refused at once; a revoked one is forgotten at once on the instance that revoked it.
#[derive(Clone)]
pub(crate) struct TokenCache(moka::sync::Cache<String, Remembered>);

/// What the cache holds for a token.
#[derive(Clone)]
pub(crate) struct Remembered {
    actor: Actor,
    expires_at: Option<i64>,
    at: i64,
}

impl TokenCache {
    pub(crate) fn new() -> Self {
        // No time-to-live of the cache's own (moka's runs on the real time): an entry older
        // than TOKEN_CACHE_TTL on the application's clock is forgotten when it is next looked
        // up, and the capacity bounds what is kept.
        Self(
            moka::sync::Cache::builder()
                .max_capacity(TOKEN_CACHE_CAPACITY)
                .build(),
        )
    }

    /// The actor and expiry remembered for `hash`, unless remembered [`TOKEN_CACHE_TTL`] or
    /// longer before `now` (or after it: a clock set back), which is then forgotten.
    fn get(&self, hash: &str, now: Timestamp) -> Option<(Actor, Option<i64>)> {
        let r = self.0.get(hash)?;
        let age = now.unix_millis() - r.at;
        let ttl = i64::try_from(TOKEN_CACHE_TTL.as_millis()).unwrap_or(i64::MAX);
        if (0..ttl).contains(&age) {
            Some((r.actor, r.expires_at))
        } else {
            self.forget(hash);
            None
        }
    }

    /// Remembers what `hash` resolved to at `now`.
    fn remember(&self, hash: String, actor: Actor, expires_at: Option<i64>, now: Timestamp) {
        self.0.insert(
            hash,
            Remembered {
                actor,
                expires_at,
                at: now.unix_millis(),
            },
        );
    }

    /// Forgets a token at once on this instance (revoked, or its user disabled).
    pub(crate) fn forget(&self, hash: &str) {
        self.0.invalidate(hash);
    }
}

/// An API token as its owner sees it: never its secret.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
}

impl ApiToken {
    pub fn expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }
}

impl From<ApiTokenRecord> for ApiToken {
    fn from(r: ApiTokenRecord) -> Self {
        ApiToken {
            id: r.id,
            name: r.name,
            created_at: Timestamp::from_unix_millis(r.created_at),
            expires_at: r.expires_at.map(Timestamp::from_unix_millis),
            last_used_at: r.last_used_at.map(Timestamp::from_unix_millis),
        }
    }
}

/// A token just created: `token` is its secret, shown this once.
#[derive(Debug, Clone)]
pub struct CreatedToken {
    pub token: String,
    pub info: ApiToken,
}

fn token_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    let invalid = |m: String| AppError::invalid(ErrorCode::InvalidTokenName, "name", m);
    if name.is_empty() {
        return Err(invalid(
            "Give the token a name, e.g. what uses it.".to_owned(),
        ));
    }
    if name.chars().count() > MAX_TOKEN_NAME_CHARS {
        return Err(invalid(format!(
            "A token name has at most {MAX_TOKEN_NAME_CHARS} characters."
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(
            "A token name cannot contain control characters.".to_owned(),
        ));
    }
    // Issue 24: the same rules as people's names (no U+202E reversing what follows it, no
    // zero-width or blank-looking name).
    if let Err(e) = smartcore_domain::check_label(name) {
        return Err(invalid(e.to_string().replacen("A name", "A token name", 1)));
    }
    Ok(name.to_owned())
}

impl Accounts<'_> {
    /// Creates an API token acting as the user with this address, named "CLI token", without
    /// expiry; the value is shown once. For tests and benchmarks in the same process (whose
    /// clocks may run months ahead); nothing a user or operator reaches calls it: the CLI's
    /// `token create` is [`Accounts::create_token_for`], with the default expiry.
    pub async fn create_api_token(&self, email: &str) -> Result<String, AppError> {
        let user = self.user_by_email(email).await?;
        if user.is_disabled() {
            return Err(disabled(&user));
        }
        Ok(self
            .new_token(&user.user_id(), &AuditActor::Cli, "CLI token", None, false)
            .await?
            .token)
    }

    /// `smartcore token create`: a named token for the user with this address.
    pub async fn create_token_for(
        &self,
        email: &str,
        name: &str,
        expires_in_days: Option<u32>,
    ) -> Result<CreatedToken, AppError> {
        let user = self.user_by_email(email).await?;
        if user.is_disabled() {
            return Err(disabled(&user));
        }
        self.new_token(
            &user.user_id(),
            &AuditActor::Cli,
            name,
            expires_in_days,
            true,
        )
        .await
    }

    /// A new token for the signed-in user (`POST /api/v1/tokens`, the account page). Only a
    /// browser session may create one: a token creating tokens would let a leaked token
    /// outlive its own revocation (403 `session_required`).
    pub async fn create_token(
        &self,
        actor: &Actor,
        name: &str,
        expires_in_days: Option<u32>,
    ) -> Result<CreatedToken, AppError> {
        if actor.token_id.is_some() {
            return Err(AppError::Refused {
                code: ErrorCode::SessionRequired,
                message: "API tokens are created only when signed in (on the Your account page, or with the session's cookie), not with another API token.".to_owned(),
            });
        }
        self.new_token(
            &actor.user_id,
            &actor.audit_actor(),
            name,
            expires_in_days,
            true,
        )
        .await
    }

    async fn new_token(
        &self,
        user_id: &UserId,
        by: &AuditActor,
        name: &str,
        expires_in_days: Option<u32>,
        default_expiry: bool,
    ) -> Result<CreatedToken, AppError> {
        let name = token_name(name)?;
        let now = self.now();
        let expires_at = match expires_in_days {
            None if !default_expiry => None,
            None => Some(now.plus_millis(i64::from(self.token_default_days) * 86_400_000)),
            Some(d) if (1..=MAX_TOKEN_DAYS).contains(&d) => {
                Some(now.plus_millis(i64::from(d) * 86_400_000))
            }
            Some(_) => {
                return Err(AppError::invalid(
                    ErrorCode::InvalidExpiry,
                    "expires_in_days",
                    format!(
                        "A token expires after 1 to {MAX_TOKEN_DAYS} days (leave it out for the default, {} days).",
                        self.token_default_days
                    ),
                ));
            }
        };
        let token = format!("sct_{}", random_secret());
        let stored = self
            .store
            .create_named_api_token(
                NewApiToken {
                    token_hash: &secret_hash(&token),
                    user_id,
                    name: &name,
                    expires_at,
                    now,
                    actor: by,
                },
                MAX_TOKENS_PER_USER,
            )
            .await?
            .ok_or_else(|| {
                AppError::conflict(
                    ErrorCode::TokenLimitReached,
                    format!(
                        "You have {MAX_TOKENS_PER_USER} API tokens, the most one person can have. Revoke one you no longer use first."
                    ),
                )
            })?;
        Ok(CreatedToken {
            token,
            info: stored.into(),
        })
    }

    /// The signed-in user's tokens, oldest first.
    pub async fn tokens(&self, actor: &Actor) -> Result<Vec<ApiToken>, AppError> {
        let tokens = self.store.api_tokens_of(&actor.user_id).await?;
        Ok(tokens.into_iter().map(ApiToken::from).collect())
    }

    /// `smartcore token list`: the tokens of the user with this address.
    pub async fn tokens_of(&self, email: &str) -> Result<Vec<ApiToken>, AppError> {
        let user = self.user_by_email(email).await?;
        let tokens = self.store.api_tokens_of(&user.user_id()).await?;
        Ok(tokens.into_iter().map(ApiToken::from).collect())
    }

    /// Revokes one of the signed-in user's tokens; someone else's is not found. Refused at
    /// once here, and within [`TOKEN_CACHE_TTL`] on every other instance.
    pub async fn revoke_token(&self, actor: &Actor, id: &TokenId) -> Result<(), AppError> {
        let hash = self
            .store
            .revoke_api_token(
                id.as_str(),
                Some(&actor.user_id),
                &actor.audit_actor(),
                self.now(),
            )
            .await?;
        self.tokens.forget(&hash);
        Ok(())
    }

    /// Revokes every token of the signed-in user ("revoke all my tokens"), whichever way they
    /// ask (a token included, which then stops working too); returns how many. Refused at once
    /// here, and within [`TOKEN_CACHE_TTL`] on every other instance.
    pub async fn revoke_all_tokens(&self, actor: &Actor) -> Result<usize, AppError> {
        let hashes = self
            .store
            .revoke_all_api_tokens(&actor.user_id, &actor.audit_actor(), self.now())
            .await?;
        for hash in &hashes {
            self.tokens.forget(hash);
        }
        Ok(hashes.len())
    }

    /// The signed-in user's own account events (tokens created and revoked, disabled,
    /// enabled), newest first; `before` is the last id of the previous page.
    pub async fn account_events(
        &self,
        actor: &Actor,
        before: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Vec<crate::AuditEvent>, AppError> {
        let before = crate::audit::check_before(before)?;
        let limit = crate::audit::check_limit(limit)?;
        let records = self
            .store
            .account_events(&actor.user_id, before, limit)
            .await?;
        Ok(records
            .into_iter()
            .map(crate::audit::AuditEvent::from)
            .collect())
    }

    /// `smartcore token revoke`: revokes any token by its id.
    pub async fn revoke_token_by_id(&self, id: &TokenId) -> Result<(), AppError> {
        let hash = match self
            .store
            .revoke_api_token(id.as_str(), None, &AuditActor::Cli, self.now())
            .await
        {
            Err(StoreError::NotFound) => return Err(no_such_token(id.as_str())),
            other => other?,
        };
        self.tokens.forget(&hash);
        Ok(())
    }

    /// The user an `Authorization: Bearer` token acts as.
    /// Remembered for [`TOKEN_CACHE_TTL`] once found, with its expiry, which is checked at
    /// every use.
    pub async fn bearer_actor(&self, token: &str) -> Result<Actor, AppError> {
        let hash = secret_hash(token);
        let now = self.now();
        if let Some((actor, expires_at)) = self.tokens.get(&hash, now) {
            if expires_at.is_some_and(|e| e <= now.unix_millis()) {
                self.tokens.forget(&hash);
                return Err(AppError::Unauthenticated);
            }
            return Ok(actor);
        }
        let owner = self
            .store
            .api_token_owner(&hash)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        if owner.expires_at.is_some_and(|e| e <= now.unix_millis()) {
            return Err(AppError::Unauthenticated);
        }
        let user_id = UserId::parse(&owner.user_id).ok_or(AppError::Unauthenticated)?;
        if owner
            .last_used_at
            .is_none_or(|at| now.unix_millis() - at >= LAST_USED_EVERY_MS)
        {
            self.store.touch_api_token(&owner.token_id, now).await?;
        }
        let actor = Actor {
            user_id,
            is_staff: owner.is_staff != 0,
            token_id: Some(owner.token_id.clone()),
        };
        self.tokens
            .remember(hash, actor.clone(), owner.expires_at, now);
        Ok(actor)
    }
}

/// `token_not_found`, for `smartcore token revoke`: no token has the id `id` (an unknown one,
/// or one that is not a token id at all).
pub fn no_such_token(id: &str) -> AppError {
    AppError::invalid(
        ErrorCode::TokenNotFound,
        "id",
        format!("There is no API token {id}."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_remembered_for_the_ttl_of_the_application_clock() {
        let cache = TokenCache::new();
        let actor = Actor {
            user_id: UserId::generate(),
            is_staff: false,
            token_id: None,
        };
        let at = Timestamp::from_unix_millis(1_800_000_000_000);
        let later = |ms: i64| Timestamp::from_unix_millis(at.unix_millis() + ms);
        let ttl = i64::try_from(TOKEN_CACHE_TTL.as_millis()).unwrap();
        cache.remember("h".into(), actor.clone(), Some(5), at);
        assert!(cache.get("h", at).is_some());
        assert_eq!(
            cache.get("h", later(ttl - 1)).map(|(_, e)| e),
            Some(Some(5))
        );
        assert!(
            cache.get("h", later(ttl)).is_none(),
            "forgotten after the TTL"
        );
        assert!(cache.get("h", at).is_none(), "and not remembered again");
        cache.remember("h".into(), actor, None, at);
        assert!(
            cache.get("h", later(-1)).is_none(),
            "a clock set back forgets it"
        );
    }

    #[test]
    fn token_names_are_trimmed_and_bounded() {
        assert_eq!(token_name("  CI deploy ").unwrap(), "CI deploy");
        assert!(token_name("   ").is_err());
        assert!(token_name(&"x".repeat(101)).is_err());
        assert!(token_name("a\nb").is_err());
        let bidi = token_name("CI \u{202E}kcatta").unwrap_err().to_string();
        assert!(
            bidi.contains("U+202E") && bidi.starts_with("A token name"),
            "{bidi}"
        );
        assert!(token_name("\u{3164}\u{3164}").is_err());
        assert!(token_name("\u{200B}").is_err());
        assert_eq!(
            token_name("Deploy \u{1F469}\u{200D}\u{1F4BB}").unwrap(),
            "Deploy \u{1F469}\u{200D}\u{1F4BB}"
        );
    }
}
