//! The use cases of Smart Core Connect's sign-on settings: what administrators, the operations
//! team, the CLI and the background workers can do. Each is a method of [`App`], which checks
//! who is asking, applies the domain's rules and asks storage to remember the result.
//!
//! Nothing here knows about HTTP or HTML; the web layer calls these methods and renders what
//! they return, and maps [`AppError`] to answers in one place.

mod accounts;
mod audit;
mod clock;
mod contacts;
mod error;
mod orgs;

pub use accounts::{Actor, NewSession, SESSION_LIFETIME};
pub use audit::{AuditEvent, MAX_AUDIT_PAGE};
pub use clock::{Clock, ManualClock, SystemClock};
pub use contacts::{AddContact, AuthenticationOverview, ContactListView, MemberSearchHit, Removal};
pub use error::AppError;
pub use orgs::{ImportReport, MemberRow, OrgSummary};
pub use smartcore_storage::{RemovalMode, Store};

use std::sync::Arc;

/// Everything the use cases need, shared by every request and worker. Cheap to clone.
#[derive(Clone)]
pub struct App {
    store: Store,
    clock: Arc<dyn Clock>,
    removal_mode: RemovalMode,
}

impl App {
    /// `removal_mode` says how a registered contact's removal reaches the identity side: at
    /// once (the builtin connector), or through the removal queue.
    pub fn new(store: Store, clock: Arc<dyn Clock>, removal_mode: RemovalMode) -> Self {
        Self {
            store,
            clock,
            removal_mode,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn now(&self) -> smartcore_domain::Timestamp {
        self.clock.now()
    }

    /// For `/readyz`: the database answers.
    pub async fn ready(&self) -> Result<(), AppError> {
        Ok(self.store.ping().await?)
    }
}
