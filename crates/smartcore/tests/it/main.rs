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
mod saml_conformance;
mod setup;
mod setup_links;
mod stalls;
mod sync;
mod tokens;
mod trust;
