//! The client's network address, for the sign-in limits.
//!
//! Read from axum's `ConnectInfo<SocketAddr>` in the request's extensions, which is there when
//! the server is served with `into_make_service_with_connect_info::<SocketAddr>()`. Without it
//! (or in tests that call the router directly) the client is unknown, and the sign-in limits
//! count all unknown clients as one client (per address, with the growing wait). Forwarded
//! headers are not read: behind a proxy every client would share the proxy's address, and
//! trusting `X-Forwarded-For` needs a trusted-proxy setting first.

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

/// The peer's IP address, when the server provides it.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip()),
        ))
    }
}
