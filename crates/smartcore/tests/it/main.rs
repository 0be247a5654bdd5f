//! Integration tests: the real service on a real database (SQLite and PostgreSQL), over
//! real HTTP. One test binary, so the service's code is linked once.

#[macro_use]
mod support;

mod access;
mod alerts;
mod budgets;
mod cli;
mod contacts;
mod contract;
mod faults;
mod foundation;
mod member_search;
mod members;
mod metadata_url;
mod metrics;
mod orgs;
mod orphans;
mod request_ids;
mod saml_conformance;
mod saml_idp;
mod saml_idp_self_test;
mod setup;
mod setup_links;
mod sso_conformance;
mod sso_sign_in;
mod stalls;
mod sync;
mod tokens;
mod trust;
