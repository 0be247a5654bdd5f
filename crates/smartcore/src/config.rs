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

/// The values read, by key without `SMARTCORE_`: the file's, then the environment's over them.
struct Values(BTreeMap<&'static str, String>);

impl Values {
    /// The value of `key`, else its default; blank counts as unset.
    fn get(&self, key: &str) -> Option<String> {
        self.0
            .get(key)
            .cloned()
            .or_else(|| {
                KEYS.iter()
                    .find(|(k, _)| *k == key)
                    .and_then(|(_, d)| d.map(str::to_owned))
            })
            .filter(|v| !v.trim().is_empty())
    }

    fn required(&self, key: &str) -> Result<String, ConfigError> {
        self.get(key).ok_or_else(|| bad(key, "must not be empty"))
    }

    /// A whole number within `range`, else `why`.
    fn number<T: std::str::FromStr + PartialOrd>(
        &self,
        key: &str,
        range: std::ops::RangeInclusive<T>,
        why: &str,
    ) -> Result<T, ConfigError> {
        self.required(key)?
            .parse()
            .ok()
            .filter(|v| range.contains(v))
            .ok_or_else(|| bad(key, why))
    }

    fn seconds(&self, key: &str, min: u64, max: u64) -> Result<Duration, ConfigError> {
        let why = format!("must be a whole number of seconds from {min} to {max}");
        self.number(key, min..=max, &why).map(Duration::from_secs)
    }
}

/// An error naming the variable: `SMARTCORE_{key}: {why}`.
fn bad(key: &str, why: impl std::fmt::Display) -> ConfigError {
    ConfigError(format!("SMARTCORE_{key}: {why}"))
}

/// The keys of the TOML `file`, checked against the known ones.
fn file_values(path: &Path) -> Result<BTreeMap<&'static str, String>, ConfigError> {
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
    let mut values = BTreeMap::new();
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
    Ok(values)
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

fn public_url(v: &Values) -> Result<String, ConfigError> {
    let public_url = v.required("PUBLIC_URL")?.trim_end_matches('/').to_owned();
    if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
        return Err(bad(
            "PUBLIC_URL",
            format!("{public_url:?} must start with http:// or https://"),
        ));
    }
    Ok(public_url)
}

fn identity(v: &Values) -> Result<IdentityKind, ConfigError> {
    match v.required("IDENTITY")?.as_str() {
        "builtin" => Ok(IdentityKind::Builtin),
        "workos" => Ok(IdentityKind::WorkOs),
        other => Err(bad(
            "IDENTITY",
            format!("{other:?} is not one of builtin, workos"),
        )),
    }
}

fn mail_kind(v: &Values) -> Result<MailKind, ConfigError> {
    match v.required("MAIL")?.as_str() {
        "outbox" => Ok(MailKind::Outbox),
        "smtp" => Ok(MailKind::Smtp),
        other => Err(bad("MAIL", format!("{other:?} is not one of outbox, smtp"))),
    }
}

fn workos_api_key(v: &Values, identity: IdentityKind) -> Result<Option<String>, ConfigError> {
    let key = v.get("WORKOS_API_KEY");
    if identity == IdentityKind::WorkOs && key.is_none() {
        return Err(bad(
            "WORKOS_API_KEY",
            "is required when SMARTCORE_IDENTITY=workos",
        ));
    }
    Ok(key)
}

fn smtp_url(v: &Values, mail: MailKind) -> Result<Option<String>, ConfigError> {
    let smtp_url = v.get("SMTP_URL");
    if mail == MailKind::Smtp {
        match &smtp_url {
            None => return Err(bad("SMTP_URL", "is required when SMARTCORE_MAIL=smtp")),
            Some(u) if !(u.starts_with("smtp://") || u.starts_with("smtps://")) => {
                return Err(bad(
                    "SMTP_URL",
                    format!("{u:?} must start with smtp:// or smtps://"),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(smtp_url)
}

fn dns_server(v: &Values) -> Result<Option<SocketAddr>, ConfigError> {
    v.get("DNS_SERVER")
        .map(|s| {
            s.parse().map_err(|_| {
                bad(
                    "DNS_SERVER",
                    format!("{s:?} is not an address like 127.0.0.1:53"),
                )
            })
        })
        .transpose()
}

fn per_client(v: &Values, max_connections: usize) -> Result<Option<usize>, ConfigError> {
    v.get("MAX_CONNECTIONS_PER_CLIENT")
        .map(|n| {
            n.trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=max_connections).contains(n))
                .ok_or_else(|| {
                    bad(
                        "MAX_CONNECTIONS_PER_CLIENT",
                        format!("must be a whole number from 1 to SMARTCORE_MAX_CONNECTIONS ({max_connections})"),
                    )
                })
        })
        .transpose()
}

fn metrics_token(v: &Values) -> Result<Option<String>, ConfigError> {
    let token = v.get("METRICS_TOKEN").map(|t| t.trim().to_owned());
    if token.as_ref().is_some_and(|t| t.len() < 16) {
        return Err(bad(
            "METRICS_TOKEN",
            "must be at least 16 characters (e.g. the output of `openssl rand -hex 16`)",
        ));
    }
    Ok(token)
}

fn metrics_listen(v: &Values, listen: SocketAddr) -> Result<Option<SocketAddr>, ConfigError> {
    let metrics_listen = v
        .get("METRICS_LISTEN")
        .map(|l| resolve_listen(&l).map_err(|why| bad("METRICS_LISTEN", why)))
        .transpose()?;
    if metrics_listen.is_some_and(|m| m == listen) {
        return Err(bad(
            "METRICS_LISTEN",
            "must differ from SMARTCORE_LISTEN (use SMARTCORE_METRICS_TOKEN to serve /metrics there)",
        ));
    }
    Ok(metrics_listen)
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
