//! Addresses and connections: where the service listens and is reached, the DNS server, the
//! per-client share of the connections, and where `/metrics` is served.

use super::ConfigError;
use super::sources::{Values, bad};
use std::net::SocketAddr;

pub(super) fn public_url(v: &Values) -> Result<String, ConfigError> {
    let public_url = v.required("PUBLIC_URL")?.trim_end_matches('/').to_owned();
    if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
        return Err(bad(
            "PUBLIC_URL",
            format!("{public_url:?} must start with http:// or https://"),
        ));
    }
    Ok(public_url)
}

pub(super) fn dns_server(v: &Values) -> Result<Option<SocketAddr>, ConfigError> {
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

pub(super) fn per_client(v: &Values, max_connections: usize) -> Result<Option<usize>, ConfigError> {
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

pub(super) fn metrics_token(v: &Values) -> Result<Option<String>, ConfigError> {
    let token = v.get("METRICS_TOKEN").map(|t| t.trim().to_owned());
    if token.as_ref().is_some_and(|t| t.len() < 16) {
        return Err(bad(
            "METRICS_TOKEN",
            "must be at least 16 characters (e.g. the output of `openssl rand -hex 16`)",
        ));
    }
    Ok(token)
}

pub(super) fn metrics_listen(
    v: &Values,
    listen: SocketAddr,
) -> Result<Option<SocketAddr>, ConfigError> {
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
    use super::super::Config;
    use super::super::tests::env;
    use super::resolve_listen;

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
}
