//! The builtin connector: the service's own alert engine is the identity side, so there is
//! nothing to call. Registration is immediate and removal always succeeds.

use crate::connector::{
    ConnectorError, ConnectorKind, IdentityConnector, Registered, Registration, RemoteContact,
};

/// Prefix of the identity-side ids the builtin connector hands out.
pub const BUILTIN_ID_PREFIX: &str = "bltn_";

/// The service's own alert engine as the identity side.
///
/// Putting the contact on the organisation's alert recipients is the application's own data,
/// so this connector performs no I/O: `register` returns `bltn_` + the idempotency key (our
/// contact id), `remove` succeeds, and `list` is empty (there is no remote side to drift from).
#[derive(Debug, Clone, Copy, Default)]
pub struct BuiltinConnector;

#[async_trait::async_trait]
impl IdentityConnector for BuiltinConnector {
    fn kind(&self) -> ConnectorKind {
        ConnectorKind::Builtin
    }

    fn can_delete(&self) -> bool {
        true
    }

    fn requires_identity_org(&self) -> bool {
        false
    }

    async fn register(&self, registration: &Registration) -> Result<Registered, ConnectorError> {
        Ok(Registered {
            identity_contact_id: format!("{BUILTIN_ID_PREFIX}{}", registration.idempotency_key),
            adopted: false,
        })
    }

    async fn remove(
        &self,
        _identity_org_id: Option<&str>,
        _identity_contact_id: &str,
    ) -> Result<(), ConnectorError> {
        Ok(())
    }

    async fn list(
        &self,
        _identity_org_id: Option<&str>,
    ) -> Result<Vec<RemoteContact>, ConnectorError> {
        Ok(Vec::new())
    }
}
