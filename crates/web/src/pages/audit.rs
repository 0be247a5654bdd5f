//! Settings → Organisation → Audit log: every change, newest first, a page at a time (D4).

use crate::AppState;
use crate::error::PageError;
use crate::pages::{org_context, page_actor, render};
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use smartcore_app::{AuditEvent, OrgSummary};

const PAGE_SIZE: i64 = 50;

pub fn routes() -> Router<AppState> {
    Router::new().route("/orgs/{org}/settings/audit-log", get(audit_log))
}

/// One event as the table shows it.
struct EventRow {
    at: String,
    /// "Name <email>", or `system`.
    actor: String,
    action: String,
    target: String,
    details: String,
}

impl EventRow {
    fn from_event(e: &AuditEvent) -> Self {
        let details = match &e.details {
            serde_json::Value::Null => String::new(),
            serde_json::Value::Object(m) if m.is_empty() => String::new(),
            serde_json::Value::Object(m) => m
                .iter()
                .map(|(k, v)| match v {
                    serde_json::Value::String(s) => format!("{k}: {s}"),
                    other => format!("{k}: {other}"),
                })
                .collect::<Vec<_>>()
                .join(", "),
            other => other.to_string(),
        };
        EventRow {
            at: e.at.replace('T', " ").replace('Z', " UTC"),
            actor: e.actor_label(),
            action: e.action.replace('_', " "),
            target: e.target.clone().unwrap_or_default(),
            details,
        }
    }
}

#[derive(Template)]
#[template(path = "audit_log.html")]
struct AuditLogPage {
    org: OrgSummary,
    orgs: Vec<OrgSummary>,
    events: Vec<EventRow>,
    /// The `before` of the next (older) page, when there may be one.
    older: Option<String>,
    paged: bool,
}

#[derive(Deserialize, Default)]
struct AuditQuery {
    before: Option<String>,
}

async fn audit_log(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    Query(query): Query<AuditQuery>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let before = query.before.as_deref().filter(|b| !b.is_empty());
    let events = state
        .app
        .audit_log(&actor, &org, before, Some(PAGE_SIZE))
        .await?;
    let (current, orgs) = org_context(&state, &actor, &org).await?;
    let older = (events.len() as i64 == PAGE_SIZE)
        .then(|| events.last().map(|e| e.id.clone()))
        .flatten();
    Ok(render(
        StatusCode::OK,
        &AuditLogPage {
            org: current,
            orgs,
            events: events.iter().map(EventRow::from_event).collect(),
            older,
            paged: before.is_some(),
        },
    ))
}
