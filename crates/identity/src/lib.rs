//! The identity side of contact sync: where an IT contact is registered so that it receives the
//! identity provider's alerts, and from where it is removed again (SPEC.md, "The identity side").
//!
//! Two connectors implement [`IdentityConnector`]:
//!
//! - [`BuiltinConnector`]: the service's own alert engine is the identity side. Registering
//!   needs no network call; the id it hands back is derived from our contact id.
//! - [`WorkOsClient`]: the WorkOS IT Contacts API (create, list, delete) or any server that
//!   speaks it, such as the `workos-fake` crate used by the tests.
//!
//! Errors are classified once, here, into what the sync worker needs to decide: retry later
//! ([`ConnectorError::Retryable`], with [`retry_delay`] for the back-off), give up and show the
//! reason ([`ConnectorError::Permanent`]), or wait for the organisation to be linked
//! ([`ConnectorError::NotLinked`]).
//!
//! # Why a thin reqwest client and not the official `workos` crate
//!
//! The official crate (`workos` 1.x, generated from the OpenAPI description) covers the whole
//! WorkOS API: over a thousand generated source files, plus `hmac`, `sha2`, `aes-gcm`,
//! `subtle`, `rand`, `url`, `serde_urlencoded`, `futures-util` and `bytes` for helpers we do not
//! use (webhook signatures, sealed sessions). Its transport is `reqwest` **0.12**, so it would put
//! a second major version of reqwest, hyper-rustls and tokio-rustls into a graph that already
//! has reqwest 0.13, and its `rustls-tls` default feature selects its own crypto provider
//! (`native-tls` would pull openssl). We need three calls on one resource and precise control
//! of what counts as retryable (status, `Retry-After`, timeouts, dropped connections) and of
//! the 409 `it_contact_already_exists` adoption. About 300 lines over the reqwest 0.13 the
//! workspace already compiles is cheaper to build, to audit and to keep on one crypto provider
//! (rustls on ring, see [`install_crypto_provider`]). The wire shapes follow the WorkOS API
//! reference and the crate's models: the `it_contact` object, list envelopes
//! `{"data": [...], "list_metadata": {"before", "after"}}` newest first, and error bodies
//! `{"code", "message", "errors"?}`.

mod backoff;
mod builtin;
mod connector;
mod workos;

pub use backoff::{MAX_RETRY_AFTER, MAX_RETRY_DELAY, RETRY_BASE_DELAY, retry_delay};
pub use builtin::{BUILTIN_ID_PREFIX, BuiltinConnector};
pub use connector::{
    ConnectorError, ConnectorKind, IdentityConnector, Registered, Registration, RemoteContact,
    UnknownConnectorKind,
};
pub use workos::{ClientBuildError, WorkOsClient};

/// Installs rustls' ring crypto provider as the process default.
///
/// Call it once at start-up (and in test set-up) before any HTTPS client is built. Calling it
/// again, or after another part of the program installed ring, is harmless: the error that says
/// "already installed" is ignored.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
