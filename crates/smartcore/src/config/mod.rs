//! Configuration: one typed struct, read once at start-up from the environment (and an
//! optional TOML file with the same keys), then passed down. Nothing reads the environment
//! later. An invalid value stops start-up with a message naming the variable.
//!
//! In the TOML file a key is the variable's name without `SMARTCORE_`, in lower case
//! (`database_url = "postgres://…"`). The environment wins over the file.
//!
//! Values that may hold a secret (the database URL with its password, the WorkOS API key, the
//! SMTP URL with its password, the metrics token) are [`SecretString`]s: `{:?}` of the
//! configuration prints `[REDACTED]` for them, and they are wiped from memory when dropped.

mod identity;
mod mail;
mod network;
mod sources;

pub use mail::{default_sender, public_host};
pub use network::resolve_listen;

use identity::{identity, workos_api_key};
use mail::{mail_kind, smtp_url};
use network::{dns_server, metrics_listen, metrics_token, per_client, public_url};
use secrecy::SecretString;
use sources::{KEYS, Values, bad, file_values, parse_bool};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityKind {
    /// The service's own alert engine is the identity side.
    Builtin,
    /// The WorkOS IT Contacts API, or any server that speaks it.
    WorkOs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    Outbox,
    Smtp,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// May hold the database's password (`postgres://app:password@…`).
    pub database_url: SecretString,
    pub listen: SocketAddr,
    pub public_url: String,
    pub identity: IdentityKind,
    pub workos_base_url: String,
    pub workos_api_key: Option<SecretString>,
    pub identity_auto_remove: bool,
    pub mail: MailKind,
    pub outbox_dir: PathBuf,
    /// May hold the mail server's password (`smtps://user:password@…`).
    pub smtp_url: Option<SecretString>,
    pub mail_from: String,
    pub dns_server: Option<SocketAddr>,
    pub sync_interval: Duration,
    /// How long any background claim (a contact being synced, a removal, a metadata refresh, a
    /// reminder or welcome being sent, a domain re-check) stays held by a worker that stopped
    /// renewing it before another may take it over (beyond SPEC).
    pub sync_lease: Duration,
    /// Requests to the identity side in flight at once, per worker (beyond SPEC).
    pub sync_concurrency: usize,
    pub alert_interval: Duration,
    /// How long a client may take to send a request's line and headers, and how long a
    /// kept-alive connection may sit idle before its next request (beyond SPEC).
    pub header_timeout: Duration,
    /// How long a client may take to send a request's whole body (beyond SPEC).
    pub body_timeout: Duration,
    /// Connections open at once; more wait in the listen queue (beyond SPEC).
    pub max_connections: usize,
    /// Connections one client (its address; IPv6 by its /64) may hold at once; `None`: a tenth
    /// of `max_connections`. Trusted proxies are not held to it.
    pub max_connections_per_client: Option<usize>,
    /// How long shutdown waits for requests under way before dropping them (beyond SPEC).
    pub shutdown_grace: Duration,
    /// `/metrics` on the service's address, to requests bearing this token.
    pub metrics_token: Option<SecretString>,
    /// `/metrics` alone on this address, without a token.
    pub metrics_listen: Option<SocketAddr>,
    /// How often identity-provider metadata from a URL is fetched again (with ±10 % jitter).
    pub metadata_refresh: Duration,
    /// Which non-public addresses a metadata URL may reach (and whether http:// is accepted).
    pub metadata_allow_private: smartcore_app::AllowPrivate,
    /// Days between "are you still the right person?" requests to IT contacts (issue 16).
    pub reconfirm_days: u32,
    /// The expiry of an API token created without one (issue 24), in days.
    pub token_default_days: u32,
    /// Peers (load balancers) whose `Forwarded` / `X-Forwarded-For` name the client.
    pub trusted_proxies: Vec<smartcore_web::IpNet>,
}

/// Why the configuration cannot be used; the message names the variable at fault.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads the configuration from `file` (if given) and the process environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Self::from_sources(file, |k| std::env::var(k).ok())
    }

    /// Reads the configuration from `file` (if given) and `env`; `env` is a parameter so that
    /// tests need not change the process environment.
    pub fn from_sources(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut values = match file {
            Some(path) => file_values(path)?,
            None => BTreeMap::new(),
        };
        for (key, _) in KEYS {
            if let Some(v) = env(&format!("SMARTCORE_{key}")) {
                values.insert(key, v);
            }
        }
        Self::from_values(&Values(values))
    }

    fn from_values(v: &Values) -> Result<Config, ConfigError> {
        let listen = resolve_listen(&v.required("LISTEN")?).map_err(|why| bad("LISTEN", why))?;
        let public_url = public_url(v)?;
        let (identity, mail) = (identity(v)?, mail_kind(v)?);
        let max_connections = v.number(
            "MAX_CONNECTIONS",
            1..=1_000_000,
            "must be a whole number from 1 to 1000000",
        )?;
        let days = "must be a whole number of days from 1 to 3650";
        let at_least_one_second = "must be a whole number of seconds, at least 1";
        Ok(Config {
            database_url: database_url(v)?.into(),
            listen,
            identity,
            workos_base_url: v
                .required("WORKOS_BASE_URL")?
                .trim_end_matches('/')
                .to_owned(),
            workos_api_key: workos_api_key(v, identity)?.map(SecretString::from),
            identity_auto_remove: parse_bool(&v.required("IDENTITY_AUTO_REMOVE")?)
                .ok_or_else(|| bad("IDENTITY_AUTO_REMOVE", "must be true or false"))?,
            mail,
            smtp_url: smtp_url(v, mail)?.map(SecretString::from),
            dns_server: dns_server(v)?,
            sync_interval: Duration::from_millis(v.number(
                "SYNC_INTERVAL_MS",
                10..=u64::MAX,
                "must be a whole number of milliseconds, at least 10",
            )?),
            alert_interval: Duration::from_secs(v.number(
                "ALERT_INTERVAL_S",
                1..=u64::MAX,
                at_least_one_second,
            )?),
            sync_lease: Duration::from_secs(v.number(
                "SYNC_LEASE_S",
                1..=u64::MAX,
                at_least_one_second,
            )?),
            sync_concurrency: v.number(
                "SYNC_CONCURRENCY",
                1..=256,
                "must be a whole number from 1 to 256",
            )?,
            header_timeout: v.seconds("HEADER_TIMEOUT_S", 1, 30)?,
            body_timeout: v.seconds("BODY_TIMEOUT_S", 1, 3600)?,
            shutdown_grace: v.seconds("SHUTDOWN_GRACE_S", 0, 3600)?,
            max_connections,
            max_connections_per_client: per_client(v, max_connections)?,
            metrics_token: metrics_token(v)?.map(SecretString::from),
            metrics_listen: metrics_listen(v, listen)?,
            metadata_refresh: v.seconds("METADATA_REFRESH_S", 60, 30 * 86_400)?,
            metadata_allow_private: smartcore_app::AllowPrivate::parse(
                &v.required("METADATA_ALLOW_PRIVATE")?,
            )
            .map_err(|why| bad("METADATA_ALLOW_PRIVATE", why))?,
            trusted_proxies: smartcore_web::parse_trusted_proxies(
                &v.get("TRUSTED_PROXIES").unwrap_or_default(),
            )
            .map_err(|why| bad("TRUSTED_PROXIES", why))?,
            token_default_days: v.number(
                "TOKEN_DEFAULT_DAYS",
                1..=smartcore_app::MAX_TOKEN_DAYS,
                days,
            )?,
            reconfirm_days: v.number("RECONFIRM_DAYS", 1..=3650, days)?,
            mail_from: v
                .get("MAIL_FROM")
                .unwrap_or_else(|| default_sender(&public_url)),
            outbox_dir: PathBuf::from(v.required("OUTBOX_DIR")?),
            public_url,
        })
    }
}

fn database_url(v: &Values) -> Result<String, ConfigError> {
    let database_url = v.required("DATABASE_URL")?;
    if smartcore_storage::Dialect::of_url(&database_url).is_none() {
        return Err(bad(
            "DATABASE_URL",
            format!("{database_url:?} is neither sqlite://… nor postgres://…"),
        ));
    }
    Ok(database_url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn secrets_print_redacted() {
        let c = Config::from_sources(
            None,
            env(&[
                (
                    "SMARTCORE_DATABASE_URL",
                    "postgres://app:db-password-1@db.internal/smartcore",
                ),
                ("SMARTCORE_IDENTITY", "workos"),
                ("SMARTCORE_WORKOS_API_KEY", "sk_live_workos-key-2"),
                ("SMARTCORE_MAIL", "smtp"),
                (
                    "SMARTCORE_SMTP_URL",
                    "smtps://mailer:smtp-password-3@mail.example.com",
                ),
                ("SMARTCORE_METRICS_TOKEN", "metrics-token-4-0123456789"),
            ]),
        )
        .unwrap();
        let shown = format!("{c:?} {c:#?}");
        for secret in [
            "db-password-1",
            "workos-key-2",
            "smtp-password-3",
            "metrics-token-4",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert_eq!(shown.matches("[REDACTED]").count(), 8, "{shown}");
        assert!(
            shown.contains("public_url: \"http://127.0.0.1:8080\""),
            "{shown}"
        );
        assert_eq!(
            c.workos_api_key.as_ref().map(|k| k.expose_secret()),
            Some("sk_live_workos-key-2")
        );
    }

    pub(super) fn env(
        pairs: &'static [(&'static str, &'static str)],
    ) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn defaults_follow_the_spec() {
        let c = Config::from_sources(None, env(&[])).unwrap();
        assert_eq!(
            c.database_url.expose_secret(),
            "sqlite://smartcore-data/smartcore.db"
        );
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.identity, IdentityKind::Builtin);
        assert_eq!(c.mail, MailKind::Outbox);
        assert_eq!(c.sync_interval, Duration::from_millis(1000));
        assert_eq!(c.alert_interval, Duration::from_secs(3600));
        assert!(!c.identity_auto_remove);
        assert_eq!(c.header_timeout, Duration::from_secs(10));
        assert_eq!(c.body_timeout, Duration::from_secs(30));
        assert_eq!(c.max_connections, 10_000);
        assert_eq!(c.shutdown_grace, Duration::from_secs(10));
        assert_eq!(c.metadata_refresh, Duration::from_secs(86_400));
        assert_eq!(c.metadata_allow_private, smartcore_app::AllowPrivate::No);
    }

    #[test]
    fn invalid_values_name_their_variable() {
        let cases: &[(&'static [(&'static str, &'static str)], &str)] = &[
            (&[("SMARTCORE_LISTEN", "nowhere")], "SMARTCORE_LISTEN"),
            (
                &[("SMARTCORE_METRICS_TOKEN", "short")],
                "SMARTCORE_METRICS_TOKEN",
            ),
            (
                &[("SMARTCORE_METRICS_LISTEN", "127.0.0.1:8080")],
                "SMARTCORE_METRICS_LISTEN",
            ),
            (
                &[("SMARTCORE_DATABASE_URL", "mysql://x")],
                "SMARTCORE_DATABASE_URL",
            ),
            (&[("SMARTCORE_IDENTITY", "okta")], "SMARTCORE_IDENTITY"),
            (
                &[("SMARTCORE_IDENTITY", "workos")],
                "SMARTCORE_WORKOS_API_KEY",
            ),
            (&[("SMARTCORE_MAIL", "smtp")], "SMARTCORE_SMTP_URL"),
            (
                &[("SMARTCORE_SYNC_INTERVAL_MS", "soon")],
                "SMARTCORE_SYNC_INTERVAL_MS",
            ),
            (
                &[("SMARTCORE_IDENTITY_AUTO_REMOVE", "maybe")],
                "SMARTCORE_IDENTITY_AUTO_REMOVE",
            ),
            (
                &[("SMARTCORE_DNS_SERVER", "dns.example")],
                "SMARTCORE_DNS_SERVER",
            ),
            (
                &[("SMARTCORE_HEADER_TIMEOUT_S", "60")],
                "SMARTCORE_HEADER_TIMEOUT_S",
            ),
            (
                &[("SMARTCORE_BODY_TIMEOUT_S", "0")],
                "SMARTCORE_BODY_TIMEOUT_S",
            ),
            (
                &[("SMARTCORE_MAX_CONNECTIONS", "0")],
                "SMARTCORE_MAX_CONNECTIONS",
            ),
            (
                &[("SMARTCORE_SHUTDOWN_GRACE_S", "-1")],
                "SMARTCORE_SHUTDOWN_GRACE_S",
            ),
        ];
        for (pairs, name) in cases {
            let err = Config::from_sources(None, env(pairs)).unwrap_err();
            assert!(err.0.starts_with(name), "{err}");
        }
    }
}
