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
use smartcore_domain::{EmailAddress, PersonName, Timestamp, UserId};
use smartcore_storage::{ApiTokenRecord, NewApiToken, SignInFailures, StoreError, UserRecord};
use std::net::IpAddr;

/// How long a browser session lasts without signing in again.
pub const SESSION_LIFETIME: time::Duration = time::Duration::hours(12);
/// Failed sign-ins counted within this window.
pub const SIGN_IN_WINDOW: time::Duration = time::Duration::minutes(15);
/// Failures for one address from one client within [`SIGN_IN_WINDOW`] before that client
/// must wait before trying that address again: 30 s, doubling with every further failure, at
/// most the window. Other clients are not slowed: the account is never locked for everyone.
pub const PAIR_FAILURES: i64 = 5;
/// Failures from one client (for any addresses) within [`SIGN_IN_WINDOW`] before that client
/// is refused until the oldest of them is out of the window (password spraying).
pub const CLIENT_FAILURES: i64 = 30;
const FIRST_PAIR_DELAY_MS: i64 = 30_000;
/// A user holds at most this many API tokens.
pub const MAX_TOKENS_PER_USER: i64 = 50;
/// The longest expiry a token can be given (about ten years); without one it never expires.
pub const MAX_TOKEN_DAYS: u32 = 3650;
const MAX_TOKEN_NAME_CHARS: usize = 100;
/// `last_used_at` is written at most this often per token.
const LAST_USED_EVERY_MS: i64 = 60_000;
const MIN_PASSWORD_CHARS: usize = 10;

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

/// Token hash → the actor it resolved to and the token's expiry (Unix milliseconds), for
/// [`TOKEN_CACHE_TTL`]. The expiry is checked at every use, so an expired token is refused at
/// once; a revoked one is forgotten at once on the instance that revoked it.
#[derive(Clone)]
pub(crate) struct TokenCache(moka::sync::Cache<String, (Actor, Option<i64>)>);

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

/// What disabling a user ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disabled {
    pub tokens_revoked: usize,
    /// False when the user was disabled already (nothing changed).
    pub changed: bool,
}

/// The key sign-in failures are counted under for a client: its IP address, IPv6 by its /64
/// (one host usually has a whole /64); empty when unknown.
fn client_key(client: Option<IpAddr>) -> String {
    match client.map(|ip| ip.to_canonical()) {
        None => String::new(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// How long the pair must wait after `failures` failures (at least [`PAIR_FAILURES`]).
fn pair_delay_ms(failures: i64) -> i64 {
    let doublings = (failures - PAIR_FAILURES).clamp(0, 20) as u32;
    (FIRST_PAIR_DELAY_MS << doublings).min(SIGN_IN_WINDOW.whole_milliseconds() as i64)
}

fn whole_seconds_until(from: Timestamp, until_millis: i64) -> u64 {
    let ms = (until_millis - from.unix_millis()).max(1000) as u64;
    ms.div_ceil(1000)
}

fn token_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    let invalid = |m: String| AppError::invalid("invalid_token_name", "name", m);
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
    Ok(name.to_owned())
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

    /// Checks an e-mail address and password and opens a session, for a client whose
    /// address is unknown (all such clients count as one; see [`App::sign_in_from`]).
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<NewSession, AppError> {
        self.sign_in_from(email, password, None).await
    }

    /// Checks an e-mail address and password from `client` and opens a session.
    ///
    /// Failures are counted in the database per (address, client) and per client, never per
    /// address alone, so nobody can keep someone else out: after [`PAIR_FAILURES`] failures
    /// for an address within [`SIGN_IN_WINDOW`], that client waits before trying that address
    /// again (30 s, doubling with each further failure); after [`CLIENT_FAILURES`] failures
    /// for any addresses, that client is refused until they age out. The right password from
    /// another client still signs in.
    pub async fn sign_in_from(
        &self,
        email: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<NewSession, AppError> {
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
        let client = client_key(client);
        let now = self.now();
        let since = now.plus_millis(-(SIGN_IN_WINDOW.whole_milliseconds() as i64));
        // The attempt counts as a failure from the start, so that attempts at once cannot all
        // pass the limits; a refused attempt takes its row back, a right password clears them.
        let attempt = random_secret();
        self.store
            .record_sign_in_attempt(email.key(), &client, &attempt, now)
            .await?;
        let failures = self
            .store
            .sign_in_failures(email.key(), &client, &attempt, since)
            .await?;
        if let Some(retry_after_secs) = self.sign_in_wait(&client, failures, now, since).await? {
            self.store.forget_sign_in_attempt(&attempt).await?;
            return Err(AppError::RateLimited { retry_after_secs });
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
            return Err(wrong());
        };
        self.store
            .clear_login_failures(email.key(), &client, since)
            .await?;
        if user.is_disabled() {
            return Err(AppError::invalid(
                "account_disabled",
                "email",
                "This account is disabled. Ask your organisation's administrator or the Smart Core Connect team to enable it.",
            ));
        }
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

    /// How many seconds this client must wait before trying, if it must.
    async fn sign_in_wait(
        &self,
        client: &str,
        failures: SignInFailures,
        now: Timestamp,
        since: Timestamp,
    ) -> Result<Option<u64>, AppError> {
        let mut free_at = None::<i64>;
        if failures.pair >= PAIR_FAILURES
            && let Some(latest) = failures.pair_latest
        {
            let at = latest + pair_delay_ms(failures.pair);
            if at > now.unix_millis() {
                free_at = Some(at);
            }
        }
        if failures.client >= CLIENT_FAILURES {
            // This attempt's own row is the latest; the client is free again once the
            // CLIENT_FAILURES-th latest other failure leaves the window.
            if let Some(at) = self
                .store
                .client_failure_at(client, since, CLIENT_FAILURES + 1)
                .await?
            {
                let at = at + SIGN_IN_WINDOW.whole_milliseconds() as i64;
                free_at = Some(free_at.map_or(at, |f| f.max(at)));
            }
        }
        Ok(free_at.map(|at| whole_seconds_until(now, at)))
    }

    /// The signed-in user behind a session cookie's value, if the session is live.
    pub async fn session_actor(&self, token: &str) -> Result<Option<Actor>, AppError> {
        let Some(session) = self.store.session(&secret_hash(token), self.now()).await? else {
            return Ok(None);
        };
        let user_id = UserId::parse(&session.user_id).ok_or(AppError::NotFound)?;
        let user = self.store.user(&user_id).await?;
        if user.is_disabled() {
            return Ok(None);
        }
        Ok(Some(Actor {
            user_id,
            is_staff: user.is_staff(),
        }))
    }

    pub async fn sign_out(&self, token: &str) -> Result<(), AppError> {
        Ok(self.store.delete_session(&secret_hash(token)).await?)
    }

    /// Creates an API token acting as the user with this address, named "CLI token", without
    /// expiry; the value is shown once.
    pub async fn create_api_token(&self, email: &str) -> Result<String, AppError> {
        Ok(self.create_token_for(email, "CLI token", None).await?.token)
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
        self.new_token(&user.user_id(), "cli", name, expires_in_days)
            .await
    }

    /// A new token for the signed-in user (`POST /api/v1/tokens`, the account page).
    pub async fn create_token(
        &self,
        actor: &Actor,
        name: &str,
        expires_in_days: Option<u32>,
    ) -> Result<CreatedToken, AppError> {
        self.new_token(
            &actor.user_id,
            actor.user_id.as_str(),
            name,
            expires_in_days,
        )
        .await
    }

    async fn new_token(
        &self,
        user_id: &UserId,
        by: &str,
        name: &str,
        expires_in_days: Option<u32>,
    ) -> Result<CreatedToken, AppError> {
        let name = token_name(name)?;
        let now = self.now();
        let expires_at = match expires_in_days {
            None => None,
            Some(d) if (1..=MAX_TOKEN_DAYS).contains(&d) => {
                Some(now.plus_millis(i64::from(d) * 86_400_000))
            }
            Some(_) => {
                return Err(AppError::invalid(
                    "invalid_expiry",
                    "expires_in_days",
                    format!(
                        "A token expires after 1 to {MAX_TOKEN_DAYS} days, or never (leave it out)."
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
                    "token_limit_reached",
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
    pub async fn revoke_token(&self, actor: &Actor, id: &str) -> Result<(), AppError> {
        let hash = self
            .store
            .revoke_api_token(
                id.trim(),
                Some(&actor.user_id),
                actor.user_id.as_str(),
                self.now(),
            )
            .await?;
        self.tokens.0.invalidate(&hash);
        Ok(())
    }

    /// `smartcore token revoke`: revokes any token by its id.
    pub async fn revoke_token_by_id(&self, id: &str) -> Result<(), AppError> {
        let hash = match self
            .store
            .revoke_api_token(id.trim(), None, "cli", self.now())
            .await
        {
            Err(StoreError::NotFound) => {
                return Err(AppError::invalid(
                    "token_not_found",
                    "id",
                    format!("There is no API token {}.", id.trim()),
                ));
            }
            other => other?,
        };
        self.tokens.0.invalidate(&hash);
        Ok(())
    }

    /// `smartcore user disable`: the user can no longer sign in; their sessions end and their
    /// tokens are revoked (refused at once here, within [`TOKEN_CACHE_TTL`] elsewhere).
    pub async fn disable_user(&self, email: &str) -> Result<Disabled, AppError> {
        let user = self.user_by_email(email).await?;
        match self
            .store
            .disable_user(&user.user_id(), "cli", self.now())
            .await?
        {
            Some(hashes) => {
                for hash in &hashes {
                    self.tokens.0.invalidate(hash);
                }
                Ok(Disabled {
                    tokens_revoked: hashes.len(),
                    changed: true,
                })
            }
            None => Ok(Disabled {
                tokens_revoked: 0,
                changed: false,
            }),
        }
    }

    /// `smartcore user enable`: a disabled user can sign in again (their old tokens stay
    /// revoked). False when they were not disabled.
    pub async fn enable_user(&self, email: &str) -> Result<bool, AppError> {
        let user = self.user_by_email(email).await?;
        Ok(self
            .store
            .enable_user(&user.user_id(), "cli", self.now())
            .await?)
    }

    /// The user an `Authorization: Bearer` token acts as.
    /// Remembered for [`TOKEN_CACHE_TTL`] once found, with its expiry, which is checked at
    /// every use.
    pub async fn bearer_actor(&self, token: &str) -> Result<Actor, AppError> {
        let hash = secret_hash(token);
        let now = self.now();
        if let Some((actor, expires_at)) = self.tokens.0.get(&hash) {
            if expires_at.is_some_and(|e| e <= now.unix_millis()) {
                self.tokens.0.invalidate(&hash);
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
        };
        self.tokens
            .0
            .insert(hash, (actor.clone(), owner.expires_at));
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

fn disabled(user: &UserRecord) -> AppError {
    AppError::conflict(
        "user_disabled",
        format!("The user {} is disabled.", user.email),
    )
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

#[cfg(test)]
mod limit_tests {
    use super::*;

    #[test]
    fn clients_are_keyed_by_address_and_ipv6_by_its_64() {
        assert_eq!(client_key(None), "");
        assert_eq!(client_key(Some("192.0.2.7".parse().unwrap())), "192.0.2.7");
        assert_eq!(
            client_key(Some("::ffff:192.0.2.7".parse().unwrap())),
            "192.0.2.7"
        );
        assert_eq!(
            client_key(Some("2001:db8:1:2:aaaa::1".parse().unwrap())),
            client_key(Some("2001:db8:1:2:bbbb::9".parse().unwrap()))
        );
        assert_eq!(
            client_key(Some("2001:db8:1:2::1".parse().unwrap())),
            "2001:db8:1:2::/64"
        );
    }

    #[test]
    fn the_wait_grows_from_30_seconds_to_the_window() {
        assert_eq!(pair_delay_ms(5), 30_000);
        assert_eq!(pair_delay_ms(6), 60_000);
        assert_eq!(pair_delay_ms(7), 120_000);
        assert_eq!(pair_delay_ms(10), 900_000);
        assert_eq!(pair_delay_ms(1000), 900_000);
    }

    #[test]
    fn token_names_are_trimmed_and_bounded() {
        assert_eq!(token_name("  CI deploy ").unwrap(), "CI deploy");
        assert!(token_name("   ").is_err());
        assert!(token_name(&"x".repeat(101)).is_err());
        assert!(token_name("a\nb").is_err());
    }
}
