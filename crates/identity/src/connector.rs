//! The connector interface: what any identity side must offer, and the errors it may answer.

use std::{fmt, str::FromStr, time::Duration};

/// Which identity side a connector talks to (configuration value `SMARTCORE_IDENTITY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectorKind {
    /// The service's own alert engine (`builtin`, the default).
    Builtin,
    /// The WorkOS IT Contacts API (`workos`).
    WorkOs,
}

impl ConnectorKind {
    /// The configuration spelling: `builtin` or `workos`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectorKind::Builtin => "builtin",
            ConnectorKind::WorkOs => "workos",
        }
    }
}

impl fmt::Display for ConnectorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A configuration value that names no connector.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown identity connector {0:?}: expected \"builtin\" or \"workos\"")]
pub struct UnknownConnectorKind(pub String);

impl FromStr for ConnectorKind {
    type Err = UnknownConnectorKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "builtin" => Ok(ConnectorKind::Builtin),
            "workos" => Ok(ConnectorKind::WorkOs),
            _ => Err(UnknownConnectorKind(s.to_owned())),
        }
    }
}

/// One contact to register on the identity side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The organisation's id on the identity side; `None` while the organisation is not linked.
    pub identity_org_id: Option<String>,
    /// Stable per contact (our contact id): a repeated registration after a crash or a timeout
    /// is recognised by the identity side and creates nothing twice.
    pub idempotency_key: String,
    pub email: String,
}

/// The identity side's answer to a registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// The identity side's id for the contact, stored with our contact.
    pub identity_contact_id: String,
    /// True when the address was already registered there (409 `it_contact_already_exists`)
    /// and that existing contact was adopted.
    pub adopted: bool,
}

/// A contact as the identity side lists it (for adoption and the drift check).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct RemoteContact {
    pub id: String,
    pub email: String,
    pub created_at: String,
}

/// Why a connector call did not succeed, classified for the sync worker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// The organisation has no identity-side id yet (`smartcore org link-identity`).
    #[error("the organisation is not linked to an identity-side organisation")]
    NotLinked,
    /// Try again later: 429, 5xx, a timeout or a connection error. `retry_after` is the
    /// server's `Retry-After` when it sent one.
    #[error("identity side temporarily unavailable: {reason}")]
    Retryable {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Retrying will not help (other 4xx); `reason` is the server's message, for the admin.
    #[error("identity side refused the request: {reason}")]
    Permanent {
        status: Option<u16>,
        code: Option<String>,
        reason: String,
    },
}

impl ConnectorError {
    /// True for [`ConnectorError::Retryable`].
    pub fn is_retryable(&self) -> bool {
        matches!(self, ConnectorError::Retryable { .. })
    }

    /// The server's `Retry-After`, if this is a retryable error that carried one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ConnectorError::Retryable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The reason as shown to an admin (same as `Display`).
    pub fn reason(&self) -> String {
        self.to_string()
    }
}

/// An identity side that contacts can be registered with and removed from.
///
/// Object safe: the application holds an `Arc<dyn IdentityConnector>` chosen by configuration.
#[async_trait::async_trait]
pub trait IdentityConnector: Send + Sync + 'static {
    fn kind(&self) -> ConnectorKind;

    /// Whether removals can be completed through the connector (otherwise only by hand).
    fn can_delete(&self) -> bool;

    /// Whether an organisation must be linked (have an identity-side id) before its contacts
    /// can sync.
    fn requires_identity_org(&self) -> bool;

    /// Registers a contact. Safe to repeat with the same idempotency key.
    async fn register(&self, registration: &Registration) -> Result<Registered, ConnectorError>;

    /// Removes a contact. A contact that is already gone counts as removed.
    async fn remove(
        &self,
        identity_org_id: Option<&str>,
        identity_contact_id: &str,
    ) -> Result<(), ConnectorError>;

    /// Lists the organisation's contacts on the identity side, newest first.
    async fn list(
        &self,
        identity_org_id: Option<&str>,
    ) -> Result<Vec<RemoteContact>, ConnectorError>;
}
