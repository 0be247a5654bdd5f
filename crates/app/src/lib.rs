//! The use cases of Smart Core Connect's sign-on settings: what administrators, the operations
//! team, the CLI and the background workers can do. Each checks who is asking, applies the
//! domain's rules and asks storage to remember the result.
//!
//! They are grouped in services per context (the rooms), each a view of the one shared [`App`]
//! reached through its accessor:
//!
//! - [`App::contacts`] ([`Contacts`]): IT contacts, member search, and the identity-side sync
//!   and removal passes;
//! - [`App::members`] ([`Members`]): members, their roles, and invitations;
//! - [`App::setup`] ([`Setup`]): domains, SSO settings, identity-provider metadata, setup links;
//! - [`App::trust`] ([`Trust`]): certificate reminders, the welcome, "Not me" and
//!   re-confirmation links, test alerts;
//! - [`App::operations`] ([`Operations`]): organisations and imports, the removal queue, sync
//!   failures, drift and the `/metrics` counters;
//! - [`App::accounts`] ([`Accounts`]): users, sign-in, sessions and API tokens;
//! - [`App::sso_sign_in`] ([`SsoSignIn`]): signing in with SSO and its attempts log;
//! - [`App::history`] ([`History`]): the audit log and mail deliveries.
//!
//! A context's use cases sit in its area's files (`impl Contacts<'_>` in `contacts.rs` and
//! `sync.rs`, …); what several contexts share (the organisation's access check, the mail
//! budget, quotas, signing keys, lease renewal) stays on [`App`] as crate-private helpers. A use
//! case that needs another context's goes through that context's accessor.
//!
//! Nothing here knows about HTTP or HTML; the web layer calls these methods and renders what
//! they return, and maps [`AppError`] to answers in one place.

mod accounts;
mod alerts;
mod audit;
mod clock;
mod contacts;
mod error;
mod error_code;
mod invitations;
mod limits;
mod links;
mod list_changes;
mod members;
pub mod metadata_fetch;
mod metadata_parse;
pub mod metadata_refresh;
mod metrics;
mod ops;
mod orgs;
mod rooms;
mod setup;
mod setup_links;
mod signing;
mod sso_sign_in;
mod sync;
mod test_alerts;
mod tokens;
mod trust;
mod upcoming;

pub use accounts::{
    Actor, CLIENT_FAILURES, Disabled, NewSession, PAIR_FAILURES, SESSION_LIFETIME, SIGN_IN_WINDOW,
    User,
};
pub use alerts::SweepReport;
pub use audit::{AuditEvent, MAIL_DELIVERIES_SHOWN, MAX_AUDIT_PAGE, MailDelivery};
pub use clock::{Clock, ManualClock, SystemClock};
pub use contacts::{
    AddContact, AuthenticationOverview, ContactListView, MemberSearch, MemberSearchHit, Removal,
    SEARCH_COUNT_CAP,
};
pub use error::{AppError, BoxError, Chain, wait_in_words};
pub use error_code::ErrorCode;
pub use invitations::{
    Accepted, INVITATION_LIFETIME, INVITATIONS_PER_MINUTE, InvitationLink, InvitationPreview,
    InvitationView, MAX_PENDING_INVITATIONS, MailStatus, RESENDS_PER_DAY, SentInvitation,
};
pub use links::Links;
pub use list_changes::CONTACT_ADDITIONS_PER_HOUR;
pub use members::{ChangedMember, MEMBERS_PAGE, MatchCount, MemberPage, MemberView};
pub use metadata_fetch::AllowPrivate;
pub use metadata_refresh::{MetadataRefresh, MetadataSettings, MetadataSourceView, RefreshReport};
pub use metrics::{
    COUNTED_METHODS, METRICS_CONTENT_TYPE, Metrics, PROMETHEUS_TEXT_CONTENT_TYPE, method_label,
    to_prometheus_text,
};
pub use ops::{Drift, DriftEntry, DriftKind, Operator, RemovalRequest, SyncFailure};
pub use orgs::{ImportReport, MemberRow, OrgSummary};
pub use rooms::{Accounts, Contacts, History, Members, Operations, Setup, SsoSignIn, Trust};
pub use setup::{CertificateView, DomainView, SsoInput, SsoView};
pub use setup_links::{
    LinkRefused, SETUP_LINK_LIFETIME, SETUP_LINK_SEND_WINDOW, SETUP_LINK_SENDS, SetupDetails,
    SetupLink,
};
pub use smartcore_domain::AcceptRefused;
pub use smartcore_sso::sign_in::{Refusal as SsoRefusal, SsoPolicy};
use smartcore_storage::{RemovalMode, Store};
pub use sso_sign_in::{
    ATTEMPTS_SHOWN, AcsOutcome, CertificateUseView, CheckView, Completion, ResponseVerdict,
    SsoAttempt, SsoRedirect, SsoSession, SsoSignInOverview, SsoStart, SubjectView,
};
pub use sync::SyncSettings;
pub use test_alerts::{TEST_ALERT_WINDOW, TEST_ALERTS_PER_WINDOW, TestAlertReport};
pub use tokens::{
    ApiToken, CreatedToken, MAX_TOKEN_DAYS, MAX_TOKENS_PER_USER, TOKEN_CACHE_TTL, no_such_token,
};
pub use trust::{
    CONTACT_LINK_LIFETIME, Confirmation, ContactLinkPage, ContactLinkRefused, ContactLinkView,
    ContactTrust, DEFAULT_RECONFIRM_DAYS, LinkPurpose, TestAlertOutcome, TrustOverview,
    UNCONFIRMED_AFTER,
};
pub use upcoming::{PlannedCertificate, PlannedRecipient, PlannedThreshold, Upcoming};

use smartcore_dns::TxtVerifier;
use smartcore_identity::{ConnectorKind, IdentityConnector};
use smartcore_mail::Mailer;
use std::sync::Arc;

/// The outside parts the use cases work with, built once from configuration.
pub struct Services {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    /// Where IT contacts are registered (builtin or WorkOS).
    pub identity: Arc<dyn IdentityConnector>,
    /// Complete identity-side removals without the operations team, where the connector can
    /// delete (SMARTCORE_IDENTITY_AUTO_REMOVE).
    pub auto_remove: bool,
    pub mailer: Arc<Mailer>,
    pub dns: Arc<TxtVerifier>,
    /// Where the pages linked to from e-mails and metadata are (given by the web layer).
    pub links: Arc<dyn Links>,
    /// Fetching identity-provider metadata from URLs, and how often to refresh it.
    pub metadata: Arc<MetadataRefresh>,
}

/// Everything the use cases need, shared by every request and worker. Cheap to clone.
#[derive(Clone)]
pub struct App {
    store: Store,
    clock: Arc<dyn Clock>,
    identity: Arc<dyn IdentityConnector>,
    removal_mode: RemovalMode,
    mailer: Arc<Mailer>,
    dns: Arc<TxtVerifier>,
    links: Arc<dyn Links>,
    /// Who each recently presented API token acts as (see [`tokens::TOKEN_CACHE_TTL`]).
    tokens: tokens::TokenCache,
    /// This instance's counters for `/metrics`.
    metrics: Metrics,
    metadata: Arc<MetadataRefresh>,
    /// Days between re-confirmation requests (SMARTCORE_RECONFIRM_DAYS, see [`trust`]).
    reconfirm_days: u32,
    /// The expiry of an API token created without one (SMARTCORE_TOKEN_DEFAULT_DAYS).
    token_default_days: u32,
    /// How long a background claim (a reminder or welcome being sent, a domain being
    /// re-checked) holds its row without a renewal (SMARTCORE_SYNC_LEASE_S).
    lease: std::time::Duration,
    /// Woken when the sync claims a welcome, so that the welcome worker sends it at once.
    welcomes_due: Arc<tokio::sync::Notify>,
}

/// The default of [`App::with_lease`], as `SMARTCORE_SYNC_LEASE_S`.
pub const DEFAULT_LEASE: std::time::Duration = smartcore_domain::Lease::DEFAULT_LENGTH;

impl App {
    pub fn new(services: Services) -> Self {
        // How a registered contact's removal reaches the identity side: at once with the
        // builtin connector, otherwise through the removal queue (worked automatically when
        // configured and the connector can delete, else by the operations team).
        let removal_mode = match services.identity.kind() {
            ConnectorKind::Builtin => RemovalMode::CompletedNow,
            ConnectorKind::WorkOs => RemovalMode::Queue {
                automatic: services.auto_remove && services.identity.can_delete(),
            },
        };
        Self {
            store: services.store,
            clock: services.clock,
            identity: services.identity,
            removal_mode,
            mailer: services.mailer,
            dns: services.dns,
            links: services.links,
            tokens: tokens::TokenCache::new(),
            metrics: Metrics::new(),
            metadata: services.metadata,
            reconfirm_days: trust::DEFAULT_RECONFIRM_DAYS,
            token_default_days: tokens::DEFAULT_TOKEN_DAYS,
            lease: DEFAULT_LEASE,
            welcomes_due: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Sets the days between re-confirmation requests (SMARTCORE_RECONFIRM_DAYS, at least 1).
    pub fn with_reconfirm_days(mut self, days: u32) -> Self {
        self.reconfirm_days = days.max(1);
        self
    }

    /// Sets the expiry, in days, of API tokens created without one
    /// (SMARTCORE_TOKEN_DEFAULT_DAYS, 1 to [`MAX_TOKEN_DAYS`]).
    pub fn with_token_default_days(mut self, days: u32) -> Self {
        self.token_default_days = days.clamp(1, tokens::MAX_TOKEN_DAYS);
        self
    }

    /// The expiry, in days, of API tokens created without one.
    pub fn token_default_days(&self) -> u32 {
        self.token_default_days
    }

    /// Sets how long the background claims of reminders, welcomes and domain re-checks hold
    /// their rows without a renewal (SMARTCORE_SYNC_LEASE_S, at least 1 ms). A live holder
    /// renews every third of it; a killed one's rows are taken over once it has run out.
    pub fn with_lease(mut self, lease: std::time::Duration) -> Self {
        self.lease = smartcore_domain::Lease::length(lease);
        self
    }

    pub fn dns(&self) -> &TxtVerifier {
        &self.dns
    }

    /// The address users reach the service at, without a trailing slash.
    pub fn public_url(&self) -> &str {
        self.links.public_url()
    }

    pub fn now(&self) -> smartcore_domain::Timestamp {
        self.clock.now()
    }

    /// Closes the database: work under way finishes, and every later use case fails as the
    /// database being unavailable (the end of a benchmark; `/readyz` when it is gone).
    pub async fn close(&self) {
        self.store.close().await;
    }

    /// For `/readyz`: the database takes a write now (see [`Store::check_writable`]).
    pub async fn ready(&self) -> Result<(), AppError> {
        self.store
            .check_writable(self.clock.now().unix_millis())
            .await
            .map_err(|e| AppError::Unavailable { message: e.0 })
    }
}
