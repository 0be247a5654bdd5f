//! The services per context (issue 22): one small view of the shared [`App`] per area an
//! administrator, the operations team or a worker deals with. Each is a borrowed newtype over
//! the one shared value (cheap, `Copy`), so `app.contacts().add_contact(…)` costs nothing and
//! every context sees the same store, clock, connectors, caches and counters. A context's use
//! cases live in that area's file (`impl Contacts<'_>` in `contacts.rs` and `sync.rs`, …); a
//! use case of one context that needs another's goes through that context's accessor
//! (`self.trust().notify_renewals(…)`), never round it.

use crate::App;

macro_rules! room {
    ($(#[$doc:meta])* $name:ident, $accessor:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy)]
        pub struct $name<'a>(&'a App);

        impl std::ops::Deref for $name<'_> {
            type Target = App;

            fn deref(&self) -> &App {
                self.0
            }
        }

        impl App {
            $(#[$doc])*
            pub fn $accessor(&self) -> $name<'_> {
                $name(self)
            }
        }
    };
}

room!(
    /// IT contacts and their identity-side sync: the list of an organisation's contacts,
    /// adding and removing them, member search, and the sync and removal passes.
    Contacts,
    contacts
);

room!(
    /// Members and invitations: who belongs to an organisation with which role, inviting,
    /// resending and revoking invitations, and accepting them.
    Members,
    members
);

room!(
    /// Domains and SSO settings: adding and verifying domains, the SSO configuration and its
    /// identity-provider metadata (fetched and refreshed from a URL), and setup links.
    Setup,
    setup
);

room!(
    /// Alerts and trust: certificate-expiry reminders and who they will go to, the welcome,
    /// "Not me" and re-confirmation links of IT contacts, and test alerts.
    Trust,
    trust
);

room!(
    /// The operations team and the installation: organisations and their import, the queue of
    /// identity-side removals, sync failures and drift, and the `/metrics` counters.
    Operations,
    operations
);

room!(
    /// Accounts and tokens: users, signing in and out, sessions, the organisations a user
    /// belongs to, and API tokens.
    Accounts,
    accounts
);

room!(
    /// Signing in with SSO: starting a sign-in, the assertion consumer service, the attempts
    /// log, response checks and the organisation's SSO policy.
    SsoSignIn,
    sso_sign_in
);

room!(
    /// The organisation's history: the audit log and the mail delivery attempts.
    History,
    history
);
