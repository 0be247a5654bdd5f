//! TXT record lookups for domain verification.
//!
//! A [`TxtVerifier`] asks a real DNS resolver (hickory) for the TXT records of a name. It never
//! answers from a cache: an administrator who has just published the record and presses
//! "verify now" must not be told "not found" because an earlier failed lookup was remembered.
//! The resolver's response cache is bypassed by clearing the entry before every lookup and by
//! capping every cached TTL, positive and negative, at zero.
//!
//! Outcomes: records found → their values; NXDOMAIN or no TXT records → `Ok(vec![])`; timeouts,
//! refused connections and server failures → [`DnsError::Unavailable`], so callers can tell
//! "the record is not there" from "we could not ask".

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};

/// Default time allowed for one attempt at one server.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a TXT lookup could not be answered.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DnsError {
    /// The resolver configuration could not be read or built.
    #[error("DNS resolver configuration error: {0}")]
    Config(String),
    /// The name to look up is not a valid DNS name.
    #[error("not a valid DNS name: {0}")]
    InvalidName(String),
    /// The DNS servers could not give an answer (timeout, refused connection, SERVFAIL, ...).
    /// Try again later: this says nothing about whether the record exists.
    #[error("DNS lookup failed: {0}")]
    Unavailable(String),
}

/// Looks up TXT records without serving cached answers.
#[derive(Clone)]
pub struct TxtVerifier {
    resolver: TokioResolver,
}

impl std::fmt::Debug for TxtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxtVerifier").finish_non_exhaustive()
    }
}

impl TxtVerifier {
    /// `None`: use the system resolver configuration (`/etc/resolv.conf`). `Some(addr)`: ask only
    /// that server, over UDP and TCP (what `SMARTCORE_DNS_SERVER` configures).
    pub fn new(server: Option<SocketAddr>) -> Result<Self, DnsError> {
        Self::with_timeout(server, DEFAULT_TIMEOUT)
    }

    /// Like [`TxtVerifier::new`] with a chosen time per attempt (two attempts are made), e.g. a
    /// short one in tests of an unreachable server.
    pub fn with_timeout(server: Option<SocketAddr>, timeout: Duration) -> Result<Self, DnsError> {
        let provider = TokioRuntimeProvider::default();
        let mut builder = match server {
            None => {
                TokioResolver::builder(provider).map_err(|e| DnsError::Config(e.to_string()))?
            }
            Some(addr) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                let server = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
                let config = ResolverConfig::from_parts(None, vec![], vec![server]);
                TokioResolver::builder_with_config(config, provider)
            }
        };
        let opts: &mut ResolverOpts = builder.options_mut();
        opts.timeout = timeout;
        opts.attempts = 2;
        // Nothing is remembered between lookups: see the module documentation.
        opts.positive_max_ttl = Some(Duration::ZERO);
        opts.negative_max_ttl = Some(Duration::ZERO);
        opts.positive_min_ttl = None;
        opts.negative_min_ttl = None;
        let resolver = builder
            .build()
            .map_err(|e| DnsError::Config(e.to_string()))?;
        Ok(TxtVerifier { resolver })
    }

    /// The TXT records of `name` (each record's character-strings concatenated), asked of the DNS
    /// now. `Ok(vec![])` when the name does not exist or has no TXT records.
    pub async fn lookup_txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        let fqdn = to_fqdn(name)?;
        self.resolver
            .clear_lookup_cache(fqdn.as_str(), RecordType::TXT);
        match self.resolver.txt_lookup(fqdn.as_str()).await {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    RData::TXT(txt) => Some(
                        txt.txt_data
                            .iter()
                            .map(|part| String::from_utf8_lossy(part))
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect()),
            Err(e) if e.is_nx_domain() || e.is_no_records_found() => Ok(Vec::new()),
            Err(e) => Err(DnsError::Unavailable(describe(&e))),
        }
    }
}

fn to_fqdn(name: &str) -> Result<String, DnsError> {
    let trimmed = name.trim().trim_end_matches('.');
    if trimmed.is_empty() || trimmed.len() > 253 || trimmed.chars().any(char::is_whitespace) {
        return Err(DnsError::InvalidName(name.to_string()));
    }
    // A trailing dot makes the name absolute: no search domains are tried.
    Ok(format!("{trimmed}."))
}

fn describe(e: &NetError) -> String {
    match e {
        NetError::Timeout => "the DNS server did not answer in time".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_absolute_and_checked() {
        assert_eq!(to_fqdn("a.example").unwrap(), "a.example.");
        assert_eq!(to_fqdn(" a.example. ").unwrap(), "a.example.");
        assert!(matches!(to_fqdn(""), Err(DnsError::InvalidName(_))));
        assert!(matches!(
            to_fqdn("a b.example"),
            Err(DnsError::InvalidName(_))
        ));
        assert!(matches!(
            to_fqdn(&"a".repeat(254)),
            Err(DnsError::InvalidName(_))
        ));
    }
}
