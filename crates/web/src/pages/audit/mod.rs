//! Settings → Organisation → Audit log: every change, newest first, a page at a time (D4), in
//! words (issue 23): who (name and address), what (one sentence per kind of action), the target
//! by name with its id at hand, one date format, and filters by kind.

mod words;

use crate::AppState;
use crate::error::PageError;
use crate::extract::Id;
use crate::pages::show::{Email, When, when};
use crate::pages::{org_context, page_actor};
use crate::render::render;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use smartcore_app::{AuditEvent, MAX_AUDIT_PAGE, OrgSummary};
use smartcore_domain::{AuditAction, AuditActor, OrgId, Timestamp};
use std::collections::HashMap;
use words::{Family, sentence, target_names};

const PAGE_SIZE: usize = 50;
/// At most this many events are read to fill one filtered page.
const SCAN_LIMIT: usize = 2000;

pub fn routes() -> Router<AppState> {
    Router::new().route("/orgs/{org}/settings/audit-log", get(audit_log))
}

/// The kinds the log can be filtered by: (value, label); an action's family says its kind.
const KINDS: [(&str, &str); 5] = [
    ("contacts", "IT contacts, test alerts and setup links"),
    ("members", "Members and invitations"),
    ("domains", "Domains"),
    ("sso", "Single Sign-On and sign-ins"),
    ("tokens", "API tokens and accounts"),
];

/// Whether `action` is of the filter's `kind` (every action is when no kind is chosen).
fn of_kind(action: AuditAction, kind: &str) -> bool {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .is_none_or(|(k, _)| Family::of(action).kind() == *k)
}

/// Who did it.
struct Who {
    name: Option<String>,
    email: Option<Email>,
    /// The service itself (background work, the identity provider).
    system: bool,
}

/// One event as the table shows it.
struct EventRow {
    at: When,
    who: Who,
    /// One sentence: "Added Ada Lovelace as an IT contact".
    what: String,
    /// The target by name, and its id.
    target_name: Option<String>,
    target_id: Option<String>,
    action: AuditAction,
}

impl EventRow {
    fn from_event(e: &AuditEvent, names: &HashMap<String, String>, now: Timestamp) -> Self {
        let at = time::OffsetDateTime::parse(&e.at, &time::format_description::well_known::Rfc3339)
            .map(Timestamp::from_datetime)
            .unwrap_or(now);
        let system = e.actor == AuditActor::System;
        EventRow {
            at: when(at, now),
            who: Who {
                name: e.actor_name.clone(),
                email: e.actor_email.clone().map(Email),
                system,
            },
            what: sentence(e, names),
            target_name: e.target.as_deref().and_then(|t| names.get(t)).cloned(),
            target_id: e.target.clone(),
            action: e.action,
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
    kind: String,
    kinds: Vec<(&'static str, &'static str)>,
}

impl AuditLogPage {
    fn is_kind(&self, value: &str) -> bool {
        self.kind == value
    }

    fn kind_query(&self) -> String {
        if self.kind.is_empty() {
            String::new()
        } else {
            format!("kind={}&", self.kind)
        }
    }
}

#[derive(Deserialize, Default)]
struct AuditQuery {
    before: Option<String>,
    kind: Option<String>,
}

async fn audit_log(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(Id(org)): Path<Id<OrgId>>,
    Query(query): Query<AuditQuery>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let kind = query
        .kind
        .filter(|k| KINDS.iter().any(|(v, _)| v == k))
        .unwrap_or_default();
    let first = query.before.filter(|b| !b.is_empty());
    let paged = first.is_some();
    // Read in batches until a page of the chosen kind is full or the log ends.
    let mut before = first;
    let mut scanned: Vec<AuditEvent> = Vec::new();
    let mut shown: Vec<usize> = Vec::new();
    let older;
    loop {
        let batch = state
            .app
            .history()
            .audit_log(&actor, &org, before.as_deref(), Some(MAX_AUDIT_PAGE))
            .await?;
        let full = batch.len() as i64 == MAX_AUDIT_PAGE;
        for e in batch {
            if shown.len() == PAGE_SIZE {
                break;
            }
            if of_kind(e.action, &kind) {
                shown.push(scanned.len());
            }
            scanned.push(e);
        }
        before = scanned.last().map(|e| e.id.clone());
        if shown.len() == PAGE_SIZE {
            older = before.clone();
            break;
        }
        if !full || scanned.len() >= SCAN_LIMIT {
            older = full.then(|| before.clone()).flatten();
            break;
        }
    }
    let (current, orgs) = org_context(&state, &actor, &org).await?;
    let mut names = target_names(&scanned);
    // Contacts and members by their current names too.
    if let Ok(list) = state.app.contacts().list_contacts(&actor, &org).await {
        for c in &list.contacts {
            let label = match &c.name {
                Some(n) => format!("{} ({})", n.as_str(), c.email),
                None => c.email.to_string(),
            };
            names.entry(c.id.to_string()).or_insert(label);
        }
    }
    let now = state.app.now();
    let events = shown
        .into_iter()
        .map(|i| EventRow::from_event(&scanned[i], &names, now))
        .collect();
    Ok(render(
        StatusCode::OK,
        &AuditLogPage {
            org: current,
            orgs,
            events,
            older,
            paged,
            kind,
            kinds: KINDS.to_vec(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn event(action: &str, target: Option<&str>, details: Value) -> AuditEvent {
        AuditEvent {
            id: "evt_1".into(),
            at: "2026-12-03T06:28:00Z".into(),
            actor: "usr_1".parse().unwrap(),
            actor_name: Some("Ada Admin".into()),
            actor_email: Some("ada@acme.example".into()),
            action: action.parse().unwrap(),
            target: target.map(str::to_owned),
            details,
        }
    }

    #[test]
    fn every_action_in_words() {
        let names = HashMap::new();
        let added = event(
            "it_contact.added",
            Some("itc_1"),
            serde_json::json!({ "email": "ada@lovelace.example", "name": "Ada Lovelace" }),
        );
        assert_eq!(
            sentence(&added, &names),
            "Added Ada Lovelace as an IT contact"
        );
        let names = target_names(std::slice::from_ref(&added));
        let test = event(
            "test_alert.sent",
            Some("itc_1"),
            serde_json::json!({ "sent": 1, "deferred": 0, "rejected": 0 }),
        );
        assert_eq!(
            sentence(&test, &names),
            "Sent a test alert to Ada Lovelace (ada@lovelace.example) (1 delivered)"
        );
        for action in [
            "it_contact.removed",
            "it_contact.synced",
            "it_contact.sync_failed",
            "it_contact.not_responsible",
            "it_contact.kept",
            "identity_removal.flagged",
            "identity_removal.cancelled",
            "identity_removal.completed",
            "setup_links.sent",
            "member.role_changed",
            "member.removed",
            "member.joined_with_sso",
            "invitation.created",
            "invitation.resent",
            "invitation.revoked",
            "invitation.accepted",
            "domain.added",
            "domain.verified",
            "sso.configured",
            "sso.metadata_changed",
            "sso.enabled",
            "sso.policy_changed",
            "sso.signed_in",
            "sso.tested",
            "sso.sign_in_refused",
            "sso.unknown_certificate",
            "api_token.created",
            "api_token.revoked",
            "user.disabled",
            "user.enabled",
        ] {
            let s = sentence(&event(action, None, serde_json::json!({})), &HashMap::new());
            assert!(
                s.chars().next().is_some_and(char::is_uppercase) && !s.contains('_'),
                "{action}: {s}"
            );
        }
        assert!(of_kind(AuditAction::InvitationCreated, "members"));
        assert!(!of_kind(AuditAction::InvitationCreated, "contacts"));
        assert!(AuditAction::ALL.iter().all(|a| of_kind(*a, "")));
    }
}
