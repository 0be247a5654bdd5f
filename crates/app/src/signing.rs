//! The keys our mailed links are sealed with (`smartcore_domain::signed_link`): one random
//! 256-bit key per kind of link, made by whichever instance needs it first and kept in the
//! database, so every instance opens the links of every other.

use crate::{App, AppError};
use rand::RngCore;

/// The kinds of links, each with its own key.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LinkKind {
    /// Setup links for IT contacts.
    Setup,
    /// "Not me" and confirmation links in messages to IT contacts.
    Contact,
}

impl LinkKind {
    /// What a stored key that is not hex is called in the log.
    fn corrupt(self) -> &'static str {
        match self {
            LinkKind::Setup => "corrupt setup link key",
            LinkKind::Contact => "corrupt contact link key",
        }
    }

    fn secret_name(self) -> &'static str {
        match self {
            LinkKind::Setup => "setup_link_key",
            LinkKind::Contact => "contact_link_key",
        }
    }
}

impl App {
    /// The key of this kind of link.
    pub(crate) async fn link_key(&self, kind: LinkKind) -> Result<Vec<u8>, AppError> {
        let mut candidate = [0u8; 32];
        rand::rng().fill_bytes(&mut candidate);
        let value = self
            .store
            .secret(kind.secret_name(), &hex::encode(candidate))
            .await?;
        hex::decode(value).map_err(|e| AppError::internal_while(kind.corrupt(), e))
    }
}
