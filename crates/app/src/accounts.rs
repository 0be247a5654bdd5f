//! People signing in: passwords (argon2id), browser sessions, API tokens, throttling.
//!
//! Session and token values are 256-bit random strings shown once; only their SHA-256 is
//! stored, so a copy of the database grants nothing.

use crate::{App, AppError};
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use smartcore_domain::{EmailAddress, PersonName, UserId};
use smartcore_storage::{StoreError, UserRecord};

/// How long a browser session lasts without signing in again.
pub const SESSION_LIFETIME: time::Duration = time::Duration::hours(12);
/// Failed sign-ins allowed per address within [`THROTTLE_WINDOW`].
const MAX_FAILURES: i64 = 5;
const THROTTLE_WINDOW: time::Duration = time::Duration::minutes(15);
const MIN_PASSWORD_CHARS: usize = 10;

/// How long a resolved API token is remembered. Every API request presents its token, and
/// looking it up in the database was half the cost of a small request; remembered, a request
/// costs one round trip to the database, not two. A token is never remembered as unknown, so
/// a new one works at once. Its owner's staff flag reaches a running instance within this
/// time; organisation roles are not remembered (each use case reads them with its data).
pub const TOKEN_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(2);
/// At most this many tokens are remembered; the least used go first.
const TOKEN_CACHE_CAPACITY: u64 = 10_000;

/// Token hash → the actor it resolved to, for [`TOKEN_CACHE_TTL`].
#[derive(Clone)]
pub(crate) struct TokenCache(moka::sync::Cache<String, Actor>);

impl TokenCache {
    pub(crate) fn new() -> Self {
        Self(
            moka::sync::Cache::builder()
                .max_capacity(TOKEN_CACHE_CAPACITY)
                .time_to_live(TOKEN_CACHE_TTL)
                .build(),
        )
    }
}

/// Who is asking: a signed-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: UserId,
    pub is_staff: bool,
}

/// A session just created: the secret goes into the cookie, never into storage.
pub struct NewSession {
    pub token: String,
    pub actor: Actor,
}

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn hash_password(password: &str) -> Result<String, AppError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(format!("password hashing failed: {e}")))
}

fn password_matches(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// A hash of a random password, verified against when the address is unknown, so that a
/// sign-in for an unknown address takes as long as one with a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&random_secret()).unwrap_or_default())
}

impl App {
    /// Creates a person who can sign in (with a password) or be picked as a member (without).
    pub async fn create_user(
        &self,
        email: &str,
        name: Option<&str>,
        password: Option<&str>,
        is_staff: bool,
    ) -> Result<UserRecord, AppError> {
        let email = EmailAddress::parse(email)
            .map_err(|e| AppError::invalid("invalid_email", "email", e.to_string()))?;
        let name = match name {
            Some(n) => PersonName::parse(n)
                .map_err(|e| AppError::invalid("invalid_name", "name", e.to_string()))?,
            None => PersonName::parse(email.as_str().split('@').next().unwrap_or("user"))
                .map_err(|e| AppError::invalid("invalid_name", "name", e.to_string()))?,
        };
        let hash = match password {
            Some(p) => {
                if p.chars().count() < MIN_PASSWORD_CHARS {
                    return Err(AppError::invalid(
                        "invalid_password",
                        "password",
                        format!("A password needs at least {MIN_PASSWORD_CHARS} characters."),
                    ));
                }
                Some(hash_password(p)?)
            }
            None => None,
        };
        match self
            .store
            .create_user(&email, &name, hash.as_deref(), is_staff, self.now())
            .await
        {
            Err(StoreError::Duplicate) => Err(AppError::conflict(
                "user_exists",
                format!("A user with the address {email} already exists."),
            )),
            other => Ok(other?),
        }
    }

    pub async fn user_by_email(&self, email: &str) -> Result<UserRecord, AppError> {
        let email = EmailAddress::parse(email)
            .map_err(|e| AppError::invalid("invalid_email", "email", e.to_string()))?;
        match self.store.user_by_email(&email).await {
            Err(StoreError::NotFound) => Err(AppError::invalid(
                "user_not_found",
                "email",
                format!("There is no user with the address {email}."),
            )),
            other => Ok(other?),
        }
    }

    pub async fn user(&self, id: &UserId) -> Result<UserRecord, AppError> {
        Ok(self.store.user(id).await?)
    }

    /// Checks an e-mail address and password and opens a session. After five failures for
    /// an address within fifteen minutes, further attempts are refused until the window passes.
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<NewSession, AppError> {
        let wrong = || {
            AppError::invalid(
                "invalid_credentials",
                "password",
                "The e-mail address or password is not right.",
            )
        };
        let Ok(email) = EmailAddress::parse(email) else {
            return Err(wrong());
        };
        let now = self.now();
        let since = now.plus_millis(-(THROTTLE_WINDOW.whole_milliseconds() as i64));
        if self.store.login_failures_since(email.key(), since).await? >= MAX_FAILURES {
            return Err(AppError::RateLimited {
                retry_after_secs: THROTTLE_WINDOW.whole_seconds() as u64,
            });
        }
        let user = match self.store.user_by_email(&email).await {
            Ok(u) => Some(u),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        let password_ok = match user.as_ref().and_then(|u| u.password_hash.as_deref()) {
            Some(hash) => password_matches(password, hash),
            None => {
                let _ = password_matches(password, decoy_hash());
                false
            }
        };
        let Some(user) = user.filter(|_| password_ok) else {
            self.store.record_login_failure(email.key(), now).await?;
            return Err(wrong());
        };
        self.store.clear_login_failures(email.key()).await?;
        let token = random_secret();
        let expires = now.plus_millis(SESSION_LIFETIME.whole_milliseconds() as i64);
        self.store
            .create_session(&secret_hash(&token), &user.user_id(), now, expires)
            .await?;
        Ok(NewSession {
            token,
            actor: Actor {
                user_id: user.user_id(),
                is_staff: user.is_staff(),
            },
        })
    }

    /// The signed-in user behind a session cookie's value, if the session is live.
    pub async fn session_actor(&self, token: &str) -> Result<Option<Actor>, AppError> {
        let Some(session) = self.store.session(&secret_hash(token), self.now()).await? else {
            return Ok(None);
        };
        let user_id = UserId::parse(&session.user_id).ok_or(AppError::NotFound)?;
        let user = self.store.user(&user_id).await?;
        Ok(Some(Actor {
            user_id,
            is_staff: user.is_staff(),
        }))
    }

    pub async fn sign_out(&self, token: &str) -> Result<(), AppError> {
        Ok(self.store.delete_session(&secret_hash(token)).await?)
    }

    /// Creates an API token acting as the user with this address; the value is shown once.
    pub async fn create_api_token(&self, email: &str) -> Result<String, AppError> {
        let user = self.user_by_email(email).await?;
        let token = format!("sct_{}", random_secret());
        self.store
            .create_api_token(&secret_hash(&token), &user.user_id(), self.now())
            .await?;
        Ok(token)
    }

    /// The user an `Authorization: Bearer` token acts as.
    /// Remembered for [`TOKEN_CACHE_TTL`] once found.
    pub async fn bearer_actor(&self, token: &str) -> Result<Actor, AppError> {
        let hash = secret_hash(token);
        if let Some(actor) = self.tokens.0.get(&hash) {
            return Ok(actor);
        }
        let owner = self
            .store
            .api_token_owner(&hash)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let user_id = UserId::parse(&owner.user_id).ok_or(AppError::Unauthenticated)?;
        let actor = Actor {
            user_id,
            is_staff: owner.is_staff != 0,
        };
        self.tokens.0.insert(hash, actor.clone());
        Ok(actor)
    }

    /// Staff pages and the ops API: the operations team only. Others learn nothing (404).
    pub fn require_staff(&self, actor: &Actor) -> Result<(), AppError> {
        if actor.is_staff {
            Ok(())
        } else {
            Err(AppError::NotFound)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(password_matches("correct horse battery", &hash));
        assert!(!password_matches("correct horse batterY", &hash));
    }

    #[test]
    fn secrets_are_random_and_stored_only_as_hashes() {
        let (a, b) = (random_secret(), random_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(secret_hash(&a).len(), 64);
        assert_ne!(secret_hash(&a), secret_hash(&b));
    }
}
