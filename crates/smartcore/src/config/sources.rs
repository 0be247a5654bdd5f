//! Where the values come from: the keys and their defaults, the TOML file (checked against the
//! keys, with a suggestion for a misspelt one) and the environment over it, read as text.

use super::ConfigError;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Every key, its default, in the order of SPEC.md's table.
pub(super) const KEYS: &[(&str, Option<&str>)] = &[
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

/// The values read, by key without `SMARTCORE_`: the file's, then the environment's over them.
pub(super) struct Values(pub(super) BTreeMap<&'static str, String>);

impl Values {
    /// The value of `key`, else its default; blank counts as unset.
    pub(super) fn get(&self, key: &str) -> Option<String> {
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

    pub(super) fn required(&self, key: &str) -> Result<String, ConfigError> {
        self.get(key).ok_or_else(|| bad(key, "must not be empty"))
    }

    /// A whole number within `range`, else `why`.
    pub(super) fn number<T: std::str::FromStr + PartialOrd>(
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

    pub(super) fn seconds(&self, key: &str, min: u64, max: u64) -> Result<Duration, ConfigError> {
        let why = format!("must be a whole number of seconds from {min} to {max}");
        self.number(key, min..=max, &why).map(Duration::from_secs)
    }
}

/// An error naming the variable: `SMARTCORE_{key}: {why}`.
pub(super) fn bad(key: &str, why: impl std::fmt::Display) -> ConfigError {
    ConfigError(format!("SMARTCORE_{key}: {why}"))
}

/// The keys of the TOML `file`, checked against the known ones.
pub(super) fn file_values(path: &Path) -> Result<BTreeMap<&'static str, String>, ConfigError> {
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

pub(super) fn parse_bool(s: &str) -> Option<bool> {
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

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::super::tests::env;
    use std::time::Duration;

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
