//! Fetching an identity provider's SAML metadata from a URL, safely.
//!
//! The URL is given by an organisation's administrator, so the service must not become a way
//! to reach what only it can reach (server-side request forgery). Every fetch:
//!
//! - is HTTPS only (see [`AllowPrivate`] for the one exception), without credentials in the URL;
//! - takes at most [`FETCH_TIMEOUT`] in total (connecting, redirects and the whole body);
//! - reads at most [`MAX_METADATA_BYTES`], counted while the body streams in (a declared
//!   `Content-Length` over the cap is refused before reading);
//! - follows at most [`MAX_REDIRECTS`] redirects, each re-checked like the first URL;
//! - connects only to public addresses. The check is made in the DNS resolver that the HTTP
//!   client connects with (`CheckedResolver`, hickory behind `reqwest::dns::Resolve`), so the
//!   address checked is the address connected to: a name that resolves to a public address for
//!   the check and to 127.0.0.1 for the connection (DNS rebinding) cannot get through. A URL
//!   whose host is an IP literal never reaches the resolver; it is checked with the URL. No
//!   proxy is used (a proxy would resolve names itself).
//!
//! Refused: loopback, private (RFC 1918), carrier-grade NAT, link-local, unique-local (fc00::/7),
//! site-local, unspecified, multicast, broadcast, reserved and benchmarking ranges, and IPv6
//! forms that embed such an IPv4 address (mapped, NAT64).

use crate::ErrorCode;
use smartcore_sso::saml::MAX_METADATA_BYTES;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// The longest a fetch may take, everything included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Redirects followed at most.
pub const MAX_REDIRECTS: usize = 3;

/// Which non-public addresses a metadata URL may reach (`SMARTCORE_METADATA_ALLOW_PRIVATE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowPrivate {
    /// Public addresses only, HTTPS only (the default).
    No,
    /// Any address (`true`; for tests and closed networks).
    All,
    /// Public addresses and these (a comma-separated list, e.g. an AD FS server on the
    /// internal network).
    Only(Vec<IpAddr>),
}

impl AllowPrivate {
    /// `false`, `true`, or a comma-separated list of IP addresses.
    pub fn parse(text: &str) -> Result<AllowPrivate, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "false" | "0" | "no" | "off" => Ok(AllowPrivate::No),
            "true" | "1" | "yes" | "on" => Ok(AllowPrivate::All),
            list => list
                .split(',')
                .map(|a| {
                    a.trim()
                        .parse::<IpAddr>()
                        .map_err(|_| format!("{a:?} is not an IP address"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(AllowPrivate::Only)
                .map_err(|e| {
                    format!("must be true, false or a comma-separated list of IP addresses ({e})")
                }),
        }
    }

    fn allows(&self, ip: IpAddr) -> bool {
        match self {
            AllowPrivate::All => true,
            AllowPrivate::No => is_public(ip),
            AllowPrivate::Only(list) => is_public(ip) || list.contains(&ip),
        }
    }

    /// Plain `http://` is accepted only where private addresses are: HTTPS cannot be served
    /// by a local test server without a certificate the service trusts, and an internal
    /// identity provider may have none. On the public internet, HTTPS only.
    fn allows_http(&self) -> bool {
        !matches!(self, AllowPrivate::No)
    }
}

/// True for addresses on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) embeds an IPv4 address.
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return is_public_v4(Ipv4Addr::new(a, b, c, d));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // unique-local fc00::/7
                || (s[0] & 0xfe00) == 0xfc00
                // link-local fe80::/10 and the old site-local fec0::/10
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                // IPv4-compatible ::a.b.c.d (deprecated) and documentation 2001:db8::/32
                || (s[0..6] == [0, 0, 0, 0, 0, 0])
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                // 6to4 2002::/16 and Teredo 2001::/32 tunnel to an IPv4 address carried in the
                // address (2002:0a00:0001:: reaches 10.0.0.1 through a relay): refused whole.
                || s[0] == 0x2002
                || (s[0] == 0x2001 && s[1] == 0))
        }
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    !(v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_multicast()
        || v4.is_broadcast()
        || v4.is_documentation()
        || a == 0
        // carrier-grade NAT 100.64.0.0/10
        || (a == 100 && (b & 0xc0) == 64)
        // IETF protocol assignments 192.0.0.0/24
        || (a == 192 && b == 0 && c == 0)
        // benchmarking 198.18.0.0/15
        || (a == 198 && (b & 0xfe) == 18)
        // reserved 240.0.0.0/4
        || a >= 240)
}

/// Why a metadata URL gave no usable document. Each has a stable code (the API's `code`) and a
/// message an administrator can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// Not a URL, not HTTPS, or with a user name or password in it.
    InvalidUrl(String),
    /// The host name has no address, or the DNS did not answer.
    Unresolvable {
        host: String,
        why: String,
    },
    /// The host is, or resolves to, an address that is not public.
    PrivateAddress {
        host: String,
        address: IpAddr,
    },
    /// The connection could not be made or broke off.
    Unreachable(String),
    TooManyRedirects,
    /// The server answered with an HTTP error.
    HttpStatus(u16),
    TooLarge,
    Timeout,
    /// The server's answer is not SAML metadata we accept.
    NotMetadata(String),
}

impl FetchError {
    pub fn code(&self) -> ErrorCode {
        match self {
            FetchError::InvalidUrl(_) => ErrorCode::InvalidMetadataUrl,
            FetchError::Unresolvable { .. } | FetchError::Unreachable(_) => {
                ErrorCode::MetadataUnreachable
            }
            FetchError::PrivateAddress { .. } => ErrorCode::MetadataPrivateAddress,
            FetchError::TooManyRedirects => ErrorCode::MetadataTooManyRedirects,
            FetchError::HttpStatus(_) => ErrorCode::MetadataHttpStatus,
            FetchError::TooLarge => ErrorCode::MetadataTooLarge,
            FetchError::Timeout => ErrorCode::MetadataTimeout,
            FetchError::NotMetadata(_) => ErrorCode::InvalidMetadata,
        }
    }
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::InvalidUrl(why) => write!(f, "The metadata URL cannot be used: {why}."),
            FetchError::Unresolvable { host, why } => write!(
                f,
                "The metadata URL could not be reached: the host name {host} was not found ({why}). Check the URL."
            ),
            FetchError::PrivateAddress { host, address } => write!(
                f,
                "The metadata URL leads to {host} at {address}, which is not a public internet address; for safety we only fetch metadata from public addresses. Use the URL your identity provider publishes on the internet, or upload the metadata file instead."
            ),
            FetchError::Unreachable(why) => write!(
                f,
                "The metadata URL could not be reached ({why}). Check the URL, and that the identity provider's server is up."
            ),
            FetchError::TooManyRedirects => write!(
                f,
                "The metadata URL redirected more than {MAX_REDIRECTS} times. Use the address it finally leads to."
            ),
            FetchError::HttpStatus(status) => write!(
                f,
                "The metadata URL answered with HTTP status {status} instead of the metadata. Check the URL, and that the metadata is published without signing in."
            ),
            FetchError::TooLarge => write!(
                f,
                "The metadata URL sent more than {} MiB; identity-provider metadata is far smaller. Check the URL.",
                MAX_METADATA_BYTES / (1024 * 1024)
            ),
            FetchError::Timeout => write!(
                f,
                "The metadata URL did not send the whole document within {} seconds. Try again later, or upload the metadata file instead.",
                FETCH_TIMEOUT.as_secs()
            ),
            FetchError::NotMetadata(why) => write!(
                f,
                "The metadata URL did not give SAML metadata we can use: {why}"
            ),
        }
    }
}

impl std::error::Error for FetchError {}

/// Checks a URL (the first or a redirect's target) before anything is sent to it.
fn check_url(policy: &AllowPrivate, url: &url::Url) -> Result<(), FetchError> {
    match url.scheme() {
        "https" => {}
        "http" if policy.allows_http() => {}
        "http" => {
            return Err(FetchError::InvalidUrl(
                "it must start with https:// (plain http:// could be read or changed on the way)"
                    .into(),
            ));
        }
        other => {
            return Err(FetchError::InvalidUrl(format!(
                "it must start with https://, not {other}:"
            )));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FetchError::InvalidUrl(
            "it must not contain a user name or password".into(),
        ));
    }
    let host = match url.host() {
        None => return Err(FetchError::InvalidUrl("it has no host name".into())),
        Some(h) => h,
    };
    let literal = match host {
        url::Host::Ipv4(a) => Some(IpAddr::V4(a)),
        url::Host::Ipv6(a) => Some(IpAddr::V6(a)),
        url::Host::Domain(_) => None,
    };
    if let Some(address) = literal
        && !policy.allows(address)
    {
        return Err(FetchError::PrivateAddress {
            host: address.to_string(),
            address,
        });
    }
    Ok(())
}

/// The HTTP client's resolver: hickory, then the address check. Refusing here means the
/// connection is only ever made to an address that passed the check.
struct CheckedResolver {
    resolver: hickory_resolver::TokioResolver,
    policy: Arc<AllowPrivate>,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = self.resolver.clone();
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let lookup = resolver.lookup_ip(host.as_str()).await.map_err(|e| {
                Box::new(FetchError::Unresolvable {
                    host: host.clone(),
                    why: e.to_string(),
                }) as Box<dyn std::error::Error + Send + Sync>
            })?;
            let addresses: Vec<IpAddr> = lookup.iter().collect();
            if addresses.is_empty() {
                return Err(Box::new(FetchError::Unresolvable {
                    host,
                    why: "no address".into(),
                })
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            // One refused address refuses the name: a connection attempt may use any of them.
            if let Some(&address) = addresses.iter().find(|a| !policy.allows(**a)) {
                return Err(Box::new(FetchError::PrivateAddress { host, address })
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            let addrs: reqwest::dns::Addrs =
                Box::new(addresses.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// Fetches metadata documents under the rules of this module. Cheap to share.
pub struct MetadataFetcher {
    client: reqwest::Client,
    policy: Arc<AllowPrivate>,
}

impl MetadataFetcher {
    /// Builds the client; rustls' crypto provider must be installed first (the service does
    /// that at start-up).
    pub fn new(policy: AllowPrivate) -> Result<MetadataFetcher, String> {
        let policy = Arc::new(policy);
        let resolver = hickory_resolver::TokioResolver::builder_tokio()
            .map_err(|e| format!("the DNS resolver cannot be set up: {e}"))?
            .build()
            .map_err(|e| format!("the DNS resolver cannot be set up: {e}"))?;
        let redirect_policy = policy.clone();
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            .no_proxy()
            .user_agent("SmartCoreConnect-metadata/1")
            .dns_resolver(Arc::new(CheckedResolver {
                resolver,
                policy: policy.clone(),
            }))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                // `previous` holds the first URL and every redirect followed so far.
                if attempt.previous().len() > MAX_REDIRECTS {
                    return attempt.error(FetchError::TooManyRedirects);
                }
                match check_url(&redirect_policy, attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(e) => attempt.error(e),
                }
            }))
            .build()
            .map_err(|e| format!("the HTTP client cannot be set up: {e}"))?;
        Ok(MetadataFetcher { client, policy })
    }

    /// Checks a URL as given by an administrator, without fetching it.
    pub fn check(&self, url: &str) -> Result<url::Url, FetchError> {
        let trimmed = url.trim();
        if trimmed.len() > smartcore_sso::saml::MAX_URL_LENGTH {
            return Err(FetchError::InvalidUrl(format!(
                "it is longer than {} characters",
                smartcore_sso::saml::MAX_URL_LENGTH
            )));
        }
        let parsed = url::Url::parse(trimmed)
            .map_err(|e| FetchError::InvalidUrl(format!("it is not a URL ({e})")))?;
        check_url(&self.policy, &parsed)?;
        Ok(parsed)
    }

    /// Fetches the document at `url`: its bytes, at most [`MAX_METADATA_BYTES`].
    pub async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let url = self.check(url)?;
        match tokio::time::timeout(FETCH_TIMEOUT, self.fetch_checked(url)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout),
        }
    }

    async fn fetch_checked(&self, url: url::Url) -> Result<Vec<u8>, FetchError> {
        let mut response = self
            .client
            .get(url)
            .header(
                reqwest::header::ACCEPT,
                "application/samlmetadata+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1",
            )
            .send()
            .await
            .map_err(classify)?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::HttpStatus(status.as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_METADATA_BYTES as u64)
        {
            return Err(FetchError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > MAX_METADATA_BYTES {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Turns the HTTP client's error into ours: a refusal made by the resolver or the redirect
/// policy is found among its sources.
fn classify(e: reqwest::Error) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    let mut innermost = e.to_string();
    while let Some(s) = source {
        if let Some(ours) = s.downcast_ref::<FetchError>() {
            return ours.clone();
        }
        innermost = s.to_string();
        source = s.source();
    }
    if e.is_timeout() {
        FetchError::Timeout
    } else if e.is_redirect() {
        FetchError::TooManyRedirects
    } else {
        FetchError::Unreachable(innermost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::1",
            "2002:5db8:d822::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        ] {
            assert!(!is_public(a.parse().unwrap()), "{a}");
        }
        for a in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "2001:4860:4860::8888",
        ] {
            assert!(is_public(a.parse().unwrap()), "{a}");
        }
    }

    #[test]
    fn the_setting_parses() {
        assert_eq!(AllowPrivate::parse("false"), Ok(AllowPrivate::No));
        assert_eq!(AllowPrivate::parse("TRUE"), Ok(AllowPrivate::All));
        assert_eq!(
            AllowPrivate::parse("10.0.0.5, ::1"),
            Ok(AllowPrivate::Only(vec![
                "10.0.0.5".parse().unwrap(),
                "::1".parse().unwrap()
            ]))
        );
        assert!(AllowPrivate::parse("intranet").is_err());
    }

    fn fetcher(policy: AllowPrivate) -> MetadataFetcher {
        let _ = rustls::crypto::ring::default_provider().install_default();
        MetadataFetcher::new(policy).unwrap()
    }

    #[tokio::test]
    async fn urls_are_checked_before_anything_is_sent() {
        let f = fetcher(AllowPrivate::No);
        for (url, code) in [
            ("http://idp.example.com/metadata", "invalid_metadata_url"),
            ("ftp://idp.example.com/metadata", "invalid_metadata_url"),
            ("https://user:pw@idp.example.com/m", "invalid_metadata_url"),
            ("not a url", "invalid_metadata_url"),
            ("https://127.0.0.1/metadata", "metadata_private_address"),
            ("https://[::1]:8443/metadata", "metadata_private_address"),
            ("https://169.254.169.254/latest", "metadata_private_address"),
        ] {
            assert_eq!(f.fetch(url).await.unwrap_err().code(), code, "{url}");
        }
        // http:// is accepted where private addresses are.
        assert!(
            fetcher(AllowPrivate::All)
                .check("http://127.0.0.1/m")
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused_by_the_resolver() {
        // `localhost` comes from the hosts file through hickory, so no network is needed: the
        // refusal is made in the resolver the client connects with.
        let f = fetcher(AllowPrivate::No);
        let e = f.fetch("https://localhost:1/metadata").await.unwrap_err();
        assert!(
            matches!(e, FetchError::PrivateAddress { ref host, .. } if host == "localhost"),
            "{e:?}"
        );
        assert!(
            e.to_string().contains("not a public internet address"),
            "{e}"
        );
    }
}
