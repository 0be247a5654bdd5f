//! People signing in: passwords (argon2id), browser sessions, API tokens, throttling.
//!
//! Session and token values are 256-bit random strings shown once; only their SHA-256 is
//! stored, so a copy of the database grants nothing.

use crate::Accounts;
use crate::ErrorCode;
use crate::{App, AppError};
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use smartcore_domain::{AuditActor, EmailAddress, PersonName, Timestamp, UserId};
use smartcore_storage::{SignInFailures, StoreError, UserRecord};
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
pub(crate) const MIN_PASSWORD_CHARS: usize = 10;

/// Who is asking: a signed-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: UserId,
    pub is_staff: bool,
    /// The API token the request came with (`tok_…`); none for a browser session.
    pub token_id: Option<String>,
}

impl Actor {
    /// The user as the audit log records them.
    pub fn audit_actor(&self) -> AuditActor {
        AuditActor::User(self.user_id.clone())
    }
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

/// A session just created: the secret goes into the cookie, never into storage.
pub struct NewSession {
    pub token: String,
    pub actor: Actor,
}

pub(crate) fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub(crate) fn hash_password(password: &str) -> Result<String, AppError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AppError::internal_while("password hashing failed", e))
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

/// A user's account as shown to them (never their password's hash).
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub is_staff: bool,
    /// Unix milliseconds.
    pub created_at: i64,
    /// When the user was disabled (`smartcore user disable`); they cannot sign in.
    pub disabled_at: Option<i64>,
}

impl From<UserRecord> for User {
    fn from(r: UserRecord) -> Self {
        User {
            is_staff: r.is_staff(),
            id: r.id,
            email: r.email,
            name: r.name,
            created_at: r.created_at,
            disabled_at: r.disabled_at,
        }
    }
}

impl Accounts<'_> {
    /// Creates a person who can sign in (with a password) or be picked as a member (without).
    pub async fn create_user(
        &self,
        email: &str,
        name: Option<&str>,
        password: Option<&str>,
        is_staff: bool,
    ) -> Result<UserRecord, AppError> {
        let email = EmailAddress::parse(email)
            .map_err(|e| AppError::invalid(ErrorCode::InvalidEmail, "email", e.to_string()))?;
        let name = match name {
            Some(n) => PersonName::parse(n)
                .map_err(|e| AppError::invalid(ErrorCode::InvalidName, "name", e.to_string()))?,
            None => PersonName::parse(email.as_str().split('@').next().unwrap_or("user"))
                .map_err(|e| AppError::invalid(ErrorCode::InvalidName, "name", e.to_string()))?,
        };
        let hash = match password {
            Some(p) => {
                if p.chars().count() < MIN_PASSWORD_CHARS {
                    return Err(AppError::invalid(
                        ErrorCode::InvalidPassword,
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
                ErrorCode::UserExists,
                format!("A user with the address {email} already exists."),
            )),
            other => Ok(other?),
        }
    }

    pub async fn user_by_email(&self, email: &str) -> Result<UserRecord, AppError> {
        let email = EmailAddress::parse(email)
            .map_err(|e| AppError::invalid(ErrorCode::InvalidEmail, "email", e.to_string()))?;
        match self.store.user_by_email(&email).await {
            Err(StoreError::NotFound) => Err(AppError::invalid(
                ErrorCode::UserNotFound,
                "email",
                format!("There is no user with the address {email}."),
            )),
            other => Ok(other?),
        }
    }

    pub async fn user(&self, id: &UserId) -> Result<User, AppError> {
        Ok(self.store.user(id).await?.into())
    }

    /// Checks an e-mail address and password and opens a session, for a client whose
    /// address is unknown (all such clients count as one; see [`Accounts::sign_in_from`]).
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
                ErrorCode::InvalidCredentials,
                "password",
                "The e-mail address or password is not right.",
            )
        };
        let Ok(email) = EmailAddress::parse(email) else {
            return Err(wrong());
        };
        // Members of an organisation that requires SSO sign in through its identity provider;
        // the page sends them there (see `sso_sign_in`).
        if self.sso_sign_in().sso_required_for(&email).await? {
            return Err(AppError::invalid(
                ErrorCode::SsoRequired,
                "email",
                "Your organisation signs you in with Single Sign-On.",
            ));
        }
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
            self.metrics.limit_refusal("sign_in");
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
                ErrorCode::AccountDisabled,
                "email",
                "This account is disabled. Ask your organisation's administrator or the Smart Core Connect team to enable it.",
            ));
        }
        self.open_session(&user, "password").await
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
            token_id: None,
        }))
    }

    pub async fn sign_out(&self, token: &str) -> Result<(), AppError> {
        Ok(self.store.delete_session(&secret_hash(token)).await?)
    }

    /// `smartcore user disable`: the user can no longer sign in; their sessions end and their
    /// tokens are revoked (refused at once here, within [`TOKEN_CACHE_TTL`](crate::TOKEN_CACHE_TTL) elsewhere).
    pub async fn disable_user(&self, email: &str) -> Result<Disabled, AppError> {
        let user = self.user_by_email(email).await?;
        match self
            .store
            .disable_user(&user.user_id(), &AuditActor::Cli, self.now())
            .await?
        {
            Some(hashes) => {
                for hash in &hashes {
                    self.tokens.forget(hash);
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
            .enable_user(&user.user_id(), &AuditActor::Cli, self.now())
            .await?)
    }
}

impl App {
    /// A new browser session for `user`, who has just proven who they are (`method`:
    /// `password` or `sso`, recorded with the session).
    pub(crate) async fn open_session(
        &self,
        user: &UserRecord,
        method: &'static str,
    ) -> Result<NewSession, AppError> {
        let now = self.now();
        let token = random_secret();
        let expires = now.plus_millis(SESSION_LIFETIME.whole_milliseconds() as i64);
        self.store
            .create_session(&secret_hash(&token), &user.user_id(), now, expires, method)
            .await?;
        Ok(NewSession {
            token,
            actor: Actor {
                user_id: user.user_id(),
                is_staff: user.is_staff(),
                token_id: None,
            },
        })
    }
}

impl App {
    /// Staff pages and the ops API: the operations team only. Others learn nothing (404).
    pub fn require_staff(&self, actor: &Actor) -> Result<(), AppError> {
        if actor.is_staff {
            Ok(())
        } else {
            Err(AppError::NotFound)
        }
    }
}

pub(crate) fn disabled(user: &UserRecord) -> AppError {
    AppError::conflict(
        ErrorCode::UserDisabled,
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
}
