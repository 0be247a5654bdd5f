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

use secrecy::SecretString;
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

/// Every key, its default, in the order of SPEC.md's table.
const KEYS: &[(&str, Option<&str>)] = &[
    ("DATABASE_URL", Some("sqlite://smartcore-data/smartcore.db")),
    ("LISTEN", Some("127.0.0.1:8080")),
    ("PUBLIC_URL", Some("http://127.0.0.1:8080")),
    ("IDENTITY", Some("builtin")),
    ("WORKOS_BASE_URL", Some("https://api.workos.com")),
    ("WORKOS_API_KEY", None),
    ("IDENTITY_AUTO_REMOVE", Some("false")),
    ("MAIL", Some("outbox")),
    ("OUTBOX_DIR", Some("smartcore-data/outbox")),
    ("SMTP_URL", None),
    // Derived from PUBLIC_URL when not set: see `default_sender`.
    ("MAIL_FROM", None),
    ("DNS_SERVER", None),
    ("SYNC_INTERVAL_MS", Some("1000")),
    ("ALERT_INTERVAL_S", Some("3600")),
    ("SYNC_LEASE_S", Some("10")),
    ("SYNC_CONCURRENCY", Some("16")),
    ("HEADER_TIMEOUT_S", Some("10")),
    ("BODY_TIMEOUT_S", Some("30")),
    ("MAX_CONNECTIONS", Some("10000")),
    ("MAX_CONNECTIONS_PER_CLIENT", None),
    ("SHUTDOWN_GRACE_S", Some("10")),
    ("METRICS_TOKEN", None),
    ("METRICS_LISTEN", None),
    ("METADATA_REFRESH_S", Some("86400")),
    ("METADATA_ALLOW_PRIVATE", Some("false")),
    ("RECONFIRM_DAYS", Some("180")),
    ("TOKEN_DEFAULT_DAYS", Some("90")),
    ("TRUSTED_PROXIES", None),
];

/// The host of a public URL (`https://sso.example.com:8443/x` → `sso.example.com`), lower-cased,
/// without user information or port; IPv6 literals keep their brackets.
pub fn public_host(public_url: &str) -> Option<String> {
    let rest = public_url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host_port.starts_with('[') {
        &host_port[..=host_port.find(']')?]
    } else {
        host_port.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Whether `host` is a host name mail can come from: not an IP address and not `localhost`.
fn is_mail_host_name(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_err()
        && !host.starts_with('[')
        && host != "localhost"
        && !host.ends_with(".localhost")
        && host.contains('.')
}

/// The sender when `SMARTCORE_MAIL_FROM` is not set: `Smart Core Connect <no-reply@HOST>` when
/// the public URL's host is a host name (`https://sso.example.com` → `no-reply@sso.example.com`),
/// else `Smart Core Connect <no-reply@localhost>` (an IP address or `localhost`: trying out).
pub fn default_sender(public_url: &str) -> String {
    let host = public_host(public_url)
        .filter(|h| is_mail_host_name(h))
        .unwrap_or_else(|| "localhost".to_owned());
    format!("Smart Core Connect <no-reply@{host}>")
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
        let mut values: BTreeMap<&str, String> = BTreeMap::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError(format!(
                    "cannot read the configuration file {}: {e}",
                    path.display()
                ))
            })?;
            let table: toml::Table = text.parse().map_err(|e| {
                ConfigError(format!(
                    "the configuration file {} is not valid TOML: {e}",
                    path.display()
                ))
            })?;
            for (key, value) in table {
                let known = KEYS
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&key))
                    .ok_or_else(|| unknown_key(&key, path))?;
                let value = match value {
                    toml::Value::String(s) => s,
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Boolean(b) => b.to_string(),
                    other => {
                        return Err(ConfigError(format!(
                            "{key} in {}: {other} is not a string, number or boolean",
                            path.display()
                        )));
                    }
                };
                values.insert(known.0, value);
            }
        }
        for (key, _) in KEYS {
            if let Some(v) = env(&format!("SMARTCORE_{key}")) {
                values.insert(key, v);
            }
        }
        let get = |key: &str| -> Option<String> {
            values
                .get(key)
                .cloned()
                .or_else(|| {
                    KEYS.iter()
                        .find(|(k, _)| *k == key)
                        .and_then(|(_, d)| d.map(str::to_owned))
                })
                .filter(|v| !v.trim().is_empty())
        };
        let bad = |key: &str, why: String| ConfigError(format!("SMARTCORE_{key}: {why}"));
        let required = |key: &str| get(key).ok_or_else(|| bad(key, "must not be empty".into()));

        let database_url = required("DATABASE_URL")?;
        if smartcore_storage::Dialect::of_url(&database_url).is_none() {
            return Err(bad(
                "DATABASE_URL",
                format!("{database_url:?} is neither sqlite://… nor postgres://…"),
            ));
        }
        let listen = resolve_listen(&required("LISTEN")?).map_err(|why| bad("LISTEN", why))?;
        let public_url = required("PUBLIC_URL")?.trim_end_matches('/').to_owned();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(bad(
                "PUBLIC_URL",
                format!("{public_url:?} must start with http:// or https://"),
            ));
        }
        let identity = match required("IDENTITY")?.as_str() {
            "builtin" => IdentityKind::Builtin,
            "workos" => IdentityKind::WorkOs,
            other => {
                return Err(bad(
                    "IDENTITY",
                    format!("{other:?} is not one of builtin, workos"),
                ));
            }
        };
        let workos_base_url = required("WORKOS_BASE_URL")?
            .trim_end_matches('/')
            .to_owned();
        let workos_api_key = get("WORKOS_API_KEY");
        if identity == IdentityKind::WorkOs && workos_api_key.is_none() {
            return Err(bad(
                "WORKOS_API_KEY",
                "is required when SMARTCORE_IDENTITY=workos".into(),
            ));
        }
        let identity_auto_remove = parse_bool(&required("IDENTITY_AUTO_REMOVE")?)
            .ok_or_else(|| bad("IDENTITY_AUTO_REMOVE", "must be true or false".into()))?;
        let mail = match required("MAIL")?.as_str() {
            "outbox" => MailKind::Outbox,
            "smtp" => MailKind::Smtp,
            other => return Err(bad("MAIL", format!("{other:?} is not one of outbox, smtp"))),
        };
        let smtp_url = get("SMTP_URL");
        if mail == MailKind::Smtp {
            match &smtp_url {
                None => {
                    return Err(bad(
                        "SMTP_URL",
                        "is required when SMARTCORE_MAIL=smtp".into(),
                    ));
                }
                Some(u) if !(u.starts_with("smtp://") || u.starts_with("smtps://")) => {
                    return Err(bad(
                        "SMTP_URL",
                        format!("{u:?} must start with smtp:// or smtps://"),
                    ));
                }
                Some(_) => {}
            }
        }
        let dns_server = match get("DNS_SERVER") {
            None => None,
            Some(s) => Some(s.parse().map_err(|_| {
                bad(
                    "DNS_SERVER",
                    format!("{s:?} is not an address like 127.0.0.1:53"),
                )
            })?),
        };
        let sync_ms: u64 = required("SYNC_INTERVAL_MS")?
            .parse()
            .ok()
            .filter(|v| *v >= 10)
            .ok_or_else(|| {
                bad(
                    "SYNC_INTERVAL_MS",
                    "must be a whole number of milliseconds, at least 10".into(),
                )
            })?;
        let alert_s: u64 = required("ALERT_INTERVAL_S")?
            .parse()
            .ok()
            .filter(|v| *v >= 1)
            .ok_or_else(|| {
                bad(
                    "ALERT_INTERVAL_S",
                    "must be a whole number of seconds, at least 1".into(),
                )
            })?;
        let sync_lease_s: u64 = required("SYNC_LEASE_S")?
            .parse()
            .ok()
            .filter(|v| *v >= 1)
            .ok_or_else(|| {
                bad(
                    "SYNC_LEASE_S",
                    "must be a whole number of seconds, at least 1".into(),
                )
            })?;
        let sync_concurrency: usize = required("SYNC_CONCURRENCY")?
            .parse()
            .ok()
            .filter(|v| (1..=256).contains(v))
            .ok_or_else(|| {
                bad(
                    "SYNC_CONCURRENCY",
                    "must be a whole number from 1 to 256".into(),
                )
            })?;
        let seconds = |key: &str, min: u64, max: u64| -> Result<Duration, ConfigError> {
            required(key)?
                .parse()
                .ok()
                .filter(|v| (min..=max).contains(v))
                .map(Duration::from_secs)
                .ok_or_else(|| {
                    bad(
                        key,
                        format!("must be a whole number of seconds from {min} to {max}"),
                    )
                })
        };
        let header_timeout = seconds("HEADER_TIMEOUT_S", 1, 30)?;
        let body_timeout = seconds("BODY_TIMEOUT_S", 1, 3600)?;
        let shutdown_grace = seconds("SHUTDOWN_GRACE_S", 0, 3600)?;
        let max_connections: usize = required("MAX_CONNECTIONS")?
            .parse()
            .ok()
            .filter(|v| (1..=1_000_000).contains(v))
            .ok_or_else(|| {
                bad(
                    "MAX_CONNECTIONS",
                    "must be a whole number from 1 to 1000000".into(),
                )
            })?;
        let max_connections_per_client = match get("MAX_CONNECTIONS_PER_CLIENT") {
            None => None,
            Some(v) => Some(
                v.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=max_connections).contains(n))
                    .ok_or_else(|| {
                        bad(
                            "MAX_CONNECTIONS_PER_CLIENT",
                            format!("must be a whole number from 1 to SMARTCORE_MAX_CONNECTIONS ({max_connections})"),
                        )
                    })?,
            ),
        };
        let metrics_token = get("METRICS_TOKEN").map(|t| t.trim().to_owned());
        if metrics_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(bad(
                "METRICS_TOKEN",
                "must be at least 16 characters (e.g. the output of `openssl rand -hex 16`)".into(),
            ));
        }
        let metrics_listen = match get("METRICS_LISTEN") {
            None => None,
            Some(l) => Some(resolve_listen(&l).map_err(|why| bad("METRICS_LISTEN", why))?),
        };
        if metrics_listen.is_some_and(|m| m == listen) {
            return Err(bad(
                "METRICS_LISTEN",
                "must differ from SMARTCORE_LISTEN (use SMARTCORE_METRICS_TOKEN to serve /metrics there)".into(),
            ));
        }
        let metadata_refresh = seconds("METADATA_REFRESH_S", 60, 30 * 86_400)?;
        let metadata_allow_private =
            smartcore_app::AllowPrivate::parse(&required("METADATA_ALLOW_PRIVATE")?)
                .map_err(|why| bad("METADATA_ALLOW_PRIVATE", why))?;
        let trusted_proxies =
            smartcore_web::parse_trusted_proxies(&get("TRUSTED_PROXIES").unwrap_or_default())
                .map_err(|why| bad("TRUSTED_PROXIES", why))?;
        let token_default_days: u32 = required("TOKEN_DEFAULT_DAYS")?
            .parse()
            .ok()
            .filter(|v| (1..=smartcore_app::MAX_TOKEN_DAYS).contains(v))
            .ok_or_else(|| {
                bad(
                    "TOKEN_DEFAULT_DAYS",
                    "must be a whole number of days from 1 to 3650".into(),
                )
            })?;
        let reconfirm_days: u32 = required("RECONFIRM_DAYS")?
            .parse()
            .ok()
            .filter(|v| (1..=3650).contains(v))
            .ok_or_else(|| {
                bad(
                    "RECONFIRM_DAYS",
                    "must be a whole number of days from 1 to 3650".into(),
                )
            })?;
        let mail_from = get("MAIL_FROM").unwrap_or_else(|| default_sender(&public_url));
        Ok(Config {
            database_url: database_url.into(),
            listen,
            public_url,
            identity,
            workos_base_url,
            workos_api_key: workos_api_key.map(SecretString::from),
            identity_auto_remove,
            mail,
            outbox_dir: PathBuf::from(required("OUTBOX_DIR")?),
            smtp_url: smtp_url.map(SecretString::from),
            mail_from,
            dns_server,
            sync_interval: Duration::from_millis(sync_ms),
            sync_lease: Duration::from_secs(sync_lease_s),
            sync_concurrency,
            alert_interval: Duration::from_secs(alert_s),
            header_timeout,
            body_timeout,
            max_connections,
            max_connections_per_client,
            shutdown_grace,
            metrics_token: metrics_token.map(SecretString::from),
            metrics_listen,
            metadata_refresh,
            metadata_allow_private,
            reconfirm_days,
            token_default_days,
            trusted_proxies,
        })
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// "unknown key …", with the closest known key when one is near and the list of them all.
fn unknown_key(key: &str, path: &Path) -> ConfigError {
    let lower = key.to_ascii_lowercase();
    let known: Vec<String> = KEYS.iter().map(|(k, _)| k.to_ascii_lowercase()).collect();
    let closest = known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(&lower, k), k))
        .filter(|(distance, k)| *distance <= (k.len() / 3).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, k)| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default();
    ConfigError(format!(
        "unknown key {key:?} in {}{closest}; known keys: {}",
        path.display(),
        known.join(", ")
    ))
}

/// An address to listen on: `127.0.0.1:8080`, `[::1]:8080` or a host name with a port
/// (`localhost:8081`), resolved now; the first address the name resolves to is used. The
/// error names the value.
pub fn resolve_listen(value: &str) -> Result<SocketAddr, String> {
    let value = value.trim();
    if let Ok(addr) = value.parse() {
        return Ok(addr);
    }
    let Some((host, port)) = value.rsplit_once(':') else {
        return Err(format!(
            "{value:?} is not an address like 127.0.0.1:8080 or localhost:8080 (the port is missing)"
        ));
    };
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(format!(
            "{value:?} is not an address like 127.0.0.1:8080 or localhost:8080"
        ));
    }
    use std::net::ToSocketAddrs;
    match value.to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| format!("the host name in {value:?} resolves to no address")),
        Err(e) => Err(format!("cannot resolve the host name in {value:?}: {e}")),
    }
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

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn the_default_sender_and_message_id_host_come_from_the_public_url() {
        let sender = |url: &'static str| {
            let pairs: &'static [(&str, &str)] =
                Box::leak(Box::new([("SMARTCORE_PUBLIC_URL", url)]));
            Config::from_sources(None, env(pairs)).unwrap().mail_from
        };
        assert_eq!(
            sender("https://sso.example.com"),
            "Smart Core Connect <no-reply@sso.example.com>"
        );
        assert_eq!(
            sender("https://user@SSO.Example.com:8443/base/"),
            "Smart Core Connect <no-reply@sso.example.com>"
        );
        for local in [
            "http://127.0.0.1:8080",
            "http://localhost:8080",
            "http://[::1]:8080",
        ] {
            assert_eq!(
                sender(local),
                "Smart Core Connect <no-reply@localhost>",
                "{local}"
            );
        }
        let set = Config::from_sources(
            None,
            env(&[
                ("SMARTCORE_PUBLIC_URL", "https://sso.example.com"),
                ("SMARTCORE_MAIL_FROM", "Acme SSO <sso@acme.example>"),
            ]),
        )
        .unwrap();
        assert_eq!(
            set.mail_from, "Acme SSO <sso@acme.example>",
            "a set sender wins"
        );
        assert_eq!(public_host("http://[::1]:8080/x").as_deref(), Some("[::1]"));
        assert_eq!(
            public_host("https://sso.example.com").as_deref(),
            Some("sso.example.com")
        );
    }

    #[test]
    fn listen_accepts_host_names_and_names_the_value_it_cannot_resolve() {
        let c = Config::from_sources(None, env(&[("SMARTCORE_LISTEN", "localhost:8081")])).unwrap();
        assert!(c.listen.ip().is_loopback(), "{}", c.listen);
        assert_eq!(c.listen.port(), 8081);
        assert_eq!(resolve_listen("[::1]:80").unwrap().to_string(), "[::1]:80");
        for bad in [
            "no-such-host.invalid:8080",
            "localhost",
            "localhost:http",
            ":8080",
        ] {
            let e = resolve_listen(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
        let e = Config::from_sources(
            None,
            env(&[("SMARTCORE_LISTEN", "no-such-host.invalid:8080")]),
        )
        .unwrap_err()
        .0;
        assert!(
            e.starts_with(
                "SMARTCORE_LISTEN: cannot resolve the host name in \"no-such-host.invalid:8080\""
            ),
            "{e}"
        );
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

    #[test]
    fn the_file_sets_keys_and_the_environment_wins() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("smartcore.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nsync_interval_ms = 250\nidentity = \"builtin\"\n",
        )
        .unwrap();
        let c = Config::from_sources(Some(&file), env(&[("SMARTCORE_LISTEN", "127.0.0.1:9001")]))
            .unwrap();
        assert_eq!(c.listen.port(), 9001);
        assert_eq!(c.sync_interval, Duration::from_millis(250));
        std::fs::write(&file, "colour = \"blue\"\n").unwrap();
        let e = Config::from_sources(Some(&file), env(&[])).unwrap_err().0;
        assert!(e.starts_with("unknown key \"colour\" in "), "{e}");
        assert!(!e.contains("did you mean"), "{e}");
        assert!(
            e.ends_with("; known keys: database_url, listen, public_url, identity, workos_base_url, \
                         workos_api_key, identity_auto_remove, mail, outbox_dir, smtp_url, mail_from, \
                         dns_server, sync_interval_ms, alert_interval_s, sync_lease_s, sync_concurrency, \
                         header_timeout_s, body_timeout_s, max_connections, max_connections_per_client, \
                         shutdown_grace_s, \
                         metrics_token, metrics_listen, metadata_refresh_s, metadata_allow_private, \
                         reconfirm_days, token_default_days, trusted_proxies"),
            "{e}"
        );
        std::fs::write(&file, "lisen = \"127.0.0.1:9000\"\n").unwrap();
        let e = Config::from_sources(Some(&file), env(&[])).unwrap_err().0;
        assert!(
            e.contains("(did you mean `listen`?); known keys: database_url, listen,"),
            "{e}"
        );
        std::fs::write(&file, "database-url = \"sqlite://x.db\"\n").unwrap();
        let e = Config::from_sources(Some(&file), env(&[])).unwrap_err().0;
        assert!(e.contains("did you mean `database_url`?"), "{e}");
    }
}
