//! What the OpenAPI document says about itself and its operations beyond what the handlers
//! declare, added in one place after the routes are collected (issue 23): the server (`/`,
//! the service itself), the licence, every tag with its description, a description on every
//! operation (its handler's doc comment) and the `Location` header of every 201 answer.

use std::collections::BTreeSet;
use utoipa::openapi::header::Header;
use utoipa::openapi::info::{Contact, License};
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{Object, Type};
use utoipa::openapi::server::Server;
use utoipa::openapi::tag::Tag;
use utoipa::openapi::{OpenApi, RefOr};

/// Every tag, with what its operations are about. A tag an operation uses must be here, and
/// each one here is used (checked by the contract test and Spectral).
pub const TAGS: &[(&str, &str)] = &[
    (
        "Organisations",
        "The organisations the caller belongs to, with their ids for the other paths.",
    ),
    (
        "IT contacts",
        "The organisation's IT contacts: who receives setup links and certificate reminders, their sync with the identity side, test alerts.",
    ),
    (
        "Members",
        "The organisation's people: search, roles, removal.",
    ),
    (
        "Invitations",
        "Invitations to join the organisation, mailed as single-use links.",
    ),
    (
        "Authentication",
        "The Authentication settings at a glance, with the checklist for enabling SSO.",
    ),
    (
        "Domains",
        "The organisation's domains and their DNS TXT verification.",
    ),
    (
        "SSO",
        "The identity provider's SAML settings, enabling SSO, setup links, sign-in attempts, the policy and upcoming reminders.",
    ),
    (
        "Audit log",
        "What happened in the organisation, and which mail went out.",
    ),
    ("API tokens", "The caller's own API tokens."),
    (
        "Operations",
        "The operations team's queue: identity-side removals, sync failures and drift.",
    ),
];

/// Every operation of `doc` with its path, in the document's order (by path, then GET, PUT,
/// POST, DELETE, PATCH).
pub(super) fn operations_mut(doc: &mut OpenApi) -> impl Iterator<Item = (&str, &mut Operation)> {
    doc.paths.paths.iter_mut().flat_map(|(path, item)| {
        [
            item.get.as_mut(),
            item.put.as_mut(),
            item.post.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
        ]
        .into_iter()
        .flatten()
        .map(move |op| (path.as_str(), op))
    })
}

/// Adds the server, licence, tags, operation descriptions and `Location` headers to `doc`.
pub fn finish(doc: &mut OpenApi) {
    doc.servers = Some(vec![{
        let mut server = Server::new("/");
        server.description =
            Some("This service (paths are relative to its public URL).".to_owned());
        server
    }]);
    // No licence in Cargo.toml: the code is not published.
    doc.info.license = Some(License::new("Proprietary"));
    let mut contact = Contact::new();
    contact.name = Some("Smart Core Connect operations team".to_owned());
    doc.info.contact = Some(contact);
    let mut used = BTreeSet::new();
    for (path, op) in operations_mut(doc) {
        used.extend(op.tags.iter().flatten().cloned());
        // utoipa takes the doc comment's first line as the summary and the rest as the
        // description: a one-sentence doc comment gives a summary only.
        if op.description.as_deref().is_none_or(str::is_empty) {
            op.description = op.summary.clone();
        }
        if let Some(RefOr::T(created)) = op.responses.responses.get_mut("201") {
            let mut header = Header::new(Object::with_type(Type::String));
            header.description = Some(format!(
                "The path of the resource created, under `{path}/`."
            ));
            created
                .headers
                .insert("Location".to_owned(), RefOr::T(header));
        }
    }
    doc.tags = Some(
        TAGS.iter()
            .filter(|(name, _)| used.contains(*name))
            .map(|(name, description)| {
                let mut tag = Tag::new(*name);
                tag.description = Some((*description).to_owned());
                tag
            })
            .collect(),
    );
}
