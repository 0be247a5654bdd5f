//! The client's network address, for the sign-in limits and the logs.
//!
//! The peer's address comes from axum's `ConnectInfo<SocketAddr>` in the request's extensions,
//! which is there when the server is served with our accept loop or
//! `into_make_service_with_connect_info::<SocketAddr>()`. Without it (or in tests that call the
//! router directly) the client is unknown, and the sign-in limits count all unknown clients as
//! one client (per address, with the growing wait).
//!
//! Behind a load balancer every connection comes from the balancer, so the client is named by
//! the forwarding headers it adds. Those are read only when the peer is one of
//! `SMARTCORE_TRUSTED_PROXIES` (addresses or CIDRs): anyone else could write any address there.
//! `Forwarded` (RFC 7239) is read when present, else `X-Forwarded-For`; the client is the
//! right-most address that is not itself a trusted proxy (each proxy appends the address it
//! received the request from, so the addresses to the left of that are the client's own claim
//! and not to be believed). An entry that is not an address (`unknown`, an obfuscated name)
//! ends the walk: the client is then the last trusted hop.

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

/// The client's IP address, when known: the peer, or what a trusted proxy says.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        if let Some(resolved) = parts.extensions.get::<ClientAddr>() {
            return Ok(*resolved);
        }
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip().to_canonical()),
        ))
    }
}

/// Parses `SMARTCORE_TRUSTED_PROXIES`: addresses or CIDRs, separated by commas or spaces.
pub fn parse_trusted_proxies(value: &str) -> Result<Vec<IpNet>, String> {
    value
        .split([',', ' ', '\t', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<IpNet>()
                .map(|n| n.trunc())
                .or_else(|_| p.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!("{p:?} is neither an IP address nor a CIDR (10.0.0.0/8, 2001:db8::/32)")
                })
        })
        .collect()
}

fn trusted(proxies: &[IpNet], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    proxies.iter().any(|n| n.contains(&ip))
}

/// The address of one `Forwarded` `for=` value or `X-Forwarded-For` entry: `1.2.3.4`,
/// `1.2.3.4:80`, `"[2001:db8::1]:4711"`, `2001:db8::1`; `None` for anything else.
fn forwarded_address(value: &str) -> Option<IpAddr> {
    let v = value.trim().trim_matches('"');
    if let Ok(ip) = v.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Some(rest) = v.strip_prefix('[') {
        let inside = rest.split(']').next()?;
        return inside.parse::<IpAddr>().ok().map(|ip| ip.to_canonical());
    }
    v.parse::<SocketAddr>().ok().map(|s| s.ip().to_canonical())
}

/// The chain of addresses the proxies recorded, oldest (the client's claim) first; `None`
/// entries could not be read.
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (name, value) = pair.split_once('=')?;
                    name.trim()
                        .eq_ignore_ascii_case("for")
                        .then(|| forwarded_address(value))
                })
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter(|e| !e.trim().is_empty())
        .map(forwarded_address)
        .collect()
}

/// The client of a request from `peer`, given the trusted proxies.
pub(crate) fn client_of(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    proxies: &[IpNet],
) -> Option<IpAddr> {
    let mut client = peer?.to_canonical();
    if !trusted(proxies, client) {
        return Some(client);
    }
    for hop in forwarded_chain(headers).into_iter().rev() {
        match hop {
            Some(ip) if trusted(proxies, ip) => client = ip,
            Some(ip) => return Some(ip),
            None => return Some(client),
        }
    }
    Some(client)
}

/// Resolves the client once, before anything logs or counts it, and leaves it in the
/// request's extensions for [`ClientAddr`] (called by [`crate::edge::arrive`]).
pub(crate) fn resolve(proxies: &[IpNet], request: &mut Request) {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let client = client_of(peer, request.headers(), proxies);
    request.extensions_mut().insert(ClientAddr(client));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let proxies = parse_trusted_proxies("10.0.0.0/8, 192.0.2.7 2001:db8::/32").unwrap();
        let xff = headers(&[("x-forwarded-for", "198.51.100.9, 203.0.113.5")]);
        // An untrusted peer's header is ignored.
        assert_eq!(
            client_of(ip("203.0.113.200"), &xff, &proxies),
            ip("203.0.113.200")
        );
        // A trusted peer: the right-most address not itself trusted.
        assert_eq!(client_of(ip("10.1.2.3"), &xff, &proxies), ip("203.0.113.5"));
        let through_two = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.5, 10.9.9.9")]);
        assert_eq!(
            client_of(ip("192.0.2.7"), &through_two, &proxies),
            ip("203.0.113.5")
        );
        // Forwarded wins over X-Forwarded-For; IPv6 in brackets with a port; mapped IPv4.
        let both = headers(&[
            ("x-forwarded-for", "198.51.100.1"),
            (
                "forwarded",
                "for=198.51.100.2;proto=https, for=\"[2001:db9::17]:4711\"",
            ),
        ]);
        assert_eq!(
            client_of(ip("::ffff:10.0.0.1"), &both, &proxies),
            ip("2001:db9::17")
        );
        // Nothing readable: the last trusted hop.
        let unknown = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(
            client_of(ip("10.0.0.1"), &unknown, &proxies),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_of(ip("10.0.0.1"), &HeaderMap::new(), &proxies),
            ip("10.0.0.1")
        );
        // No proxies trusted: the peer, always.
        assert_eq!(client_of(ip("10.0.0.1"), &xff, &[]), ip("10.0.0.1"));
        assert!(parse_trusted_proxies("10.0.0.0/33").is_err());
        assert!(parse_trusted_proxies("proxy.internal").is_err());
        assert!(parse_trusted_proxies("").unwrap().is_empty());
    }
}
