//! The answers every operation can give besides its own, added to the OpenAPI document in one
//! place after the routes are collected, so no operation can forget them: 401, 403 and 404
//! where they apply (no 404 for `GET /api/v1/orgs`, which every caller may use), 400 and 422 for operations that read input, 429 where a rate limit
//! applies, and 503 `unavailable` (the database cannot be reached), each as problem+json.
//! An operation that documents one of these statuses itself keeps its own wording.

use super::document::operations_mut;
use std::collections::BTreeMap;
use utoipa::openapi::header::Header;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{Object, Type};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response};

/// Operations whose requests are rate limited (429 `rate_limited` with `Retry-After`).
const RATE_LIMITED: &[&str] = &[
    "createItContact",
    "sendSetupLinks",
    "createInvitation",
    "resendInvitation",
    "sendItContactTestAlert",
    "sendTestAlertsToAllItContacts",
];

fn problem(description: &str) -> Response {
    let mut response = Response::new(description);
    response.content.insert(
        "application/problem+json".to_owned(),
        RefOr::T(Content::new(Some(Ref::from_schema_name("Problem")))),
    );
    response
}

fn integer_header(description: &str) -> Header {
    let mut header = Header::new(Object::with_type(Type::Integer));
    header.description = Some(description.to_owned());
    header
}

fn string_header(description: &str) -> Header {
    let mut header = Header::new(Object::with_type(Type::String));
    header.description = Some(description.to_owned());
    header
}

fn with_header(mut response: Response, name: &str, header: Header) -> Response {
    response.headers.insert(name.to_owned(), RefOr::T(header));
    response
}

fn retry_after(response: Response) -> Response {
    with_header(
        response,
        "Retry-After",
        integer_header("Seconds to wait before trying again."),
    )
}

/// Adds the common answers to every operation of `doc`, and a description to every answer
/// that has none (OpenAPI 3.1 requires one).
pub fn add_common_answers(doc: &mut OpenApi) {
    for (path, op) in operations_mut(doc) {
        add_to_operation(op, path);
    }
}

/// Adds the common answers to `op` (served at `path`), keeping the ones it documents itself.
fn add_to_operation(op: &mut Operation, path: &str) {
    let common = common_answers(op, path);
    let responses = &mut op.responses.responses;
    for (status, response) in common {
        responses
            .entry(status.to_owned())
            .or_insert(RefOr::T(response));
    }
    add_unavailable(responses);
    describe_every_answer(responses);
}

/// The answers `op` can give besides its own: 400 and 422 where it reads input, 401, 403 and
/// 404 by where it is, 429 where a rate limit applies.
fn common_answers(op: &Operation, path: &str) -> Vec<(&'static str, Response)> {
    let org_scoped = path.starts_with("/api/v1/orgs/");
    let params = op.parameters.as_deref().unwrap_or_default();
    let reads_query = params
        .iter()
        .any(|p| matches!(p, RefOr::T(p) if matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query)));
    let reads_input = !params.is_empty() || op.request_body.is_some();
    let rate_limited = op
        .operation_id
        .as_deref()
        .is_some_and(|id| RATE_LIMITED.contains(&id));
    let mut common: Vec<(&str, Response)> = Vec::new();
    if reads_input {
        common.push((
            "400",
            problem("`invalid_request`: a parameter or the body cannot be read."),
        ));
    }
    common.push((
        "401",
        with_header(
            problem("`unauthenticated`: no valid bearer token or session was given."),
            "WWW-Authenticate",
            string_header("`Bearer`"),
        ),
    ));
    if org_scoped {
        common.push((
            "403",
            problem("`forbidden`: a member of the organisation who is not an administrator."),
        ));
        common.push((
            "404",
            problem("`not_found`: no such organisation for this user, or no such item in it."),
        ));
    } else if path == "/api/v1/orgs" {
        // Every signed-in caller may list their own organisations: no 404.
    } else {
        common.push((
            "404",
            problem(
                "`not_found`: the operations team only (everyone else gets 404), or no such item.",
            ),
        ));
    }
    if op.request_body.is_some() || reads_query {
        common.push((
            "422",
            problem("`invalid_request` or a validation code naming the `field` at fault."),
        ));
    }
    if rate_limited {
        common.push((
            "429",
            retry_after(problem(
                "`rate_limited`, or the limit's own code (`contact_additions_limited`, `invitation_resends_limited`): too many requests; wait `Retry-After` seconds.",
            )),
        ));
    }
    common
}

/// 503 `unavailable` with `Retry-After`; an operation's own 503 says so besides its own cause.
fn add_unavailable(responses: &mut BTreeMap<String, RefOr<Response>>) {
    let unavailable = "`unavailable`: the database cannot be reached just now; try again after \
                       `Retry-After` seconds.";
    match responses.get_mut("503") {
        Some(RefOr::T(existing)) => {
            if existing.description.is_empty() {
                existing.description = "Something the operation depends on does not answer.".into();
            }
            existing.description = format!("{}; or {unavailable}", existing.description);
            let header = integer_header("Seconds to wait before trying again.");
            existing
                .headers
                .entry("Retry-After".to_owned())
                .or_insert(RefOr::T(header));
        }
        Some(RefOr::Ref(_)) => {}
        None => {
            responses.insert(
                "503".to_owned(),
                RefOr::T(retry_after(problem(unavailable))),
            );
        }
    }
}

/// A description for every answer that has none: its status's reason phrase.
fn describe_every_answer(responses: &mut BTreeMap<String, RefOr<Response>>) {
    for (status, response) in responses.iter_mut() {
        if let RefOr::T(r) = response
            && r.description.is_empty()
        {
            r.description = status
                .parse::<u16>()
                .ok()
                .and_then(|s| axum::http::StatusCode::from_u16(s).ok())
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Answer")
                .to_owned();
        }
    }
}
