//! Settings → Organisation → Audit log: every change, newest first, a page at a time (D4), in
//! words (issue 23): who (name and address), what (one sentence per kind of action), the target
//! by name with its id at hand, one date format, and filters by kind.

use crate::AppState;
use crate::error::PageError;
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
use serde_json::Value;
use smartcore_app::{AuditEvent, MAX_AUDIT_PAGE, OrgSummary};
use smartcore_domain::Timestamp;
use std::collections::HashMap;

const PAGE_SIZE: usize = 50;
/// At most this many events are read to fill one filtered page.
const SCAN_LIMIT: usize = 2000;

pub fn routes() -> Router<AppState> {
    Router::new().route("/orgs/{org}/settings/audit-log", get(audit_log))
}

/// The kinds the log can be filtered by: (value, label, action prefixes).
const KINDS: [(&str, &str, &[&str]); 5] = [
    (
        "contacts",
        "IT contacts, test alerts and setup links",
        &[
            "it_contact.",
            "identity_removal.",
            "test_alert.",
            "setup_links.",
        ],
    ),
    (
        "members",
        "Members and invitations",
        &["member.", "invitation."],
    ),
    ("domains", "Domains", &["domain."]),
    ("sso", "Single Sign-On and sign-ins", &["sso."]),
    (
        "tokens",
        "API tokens and accounts",
        &["api_token.", "user."],
    ),
];

fn of_kind(action: &str, kind: &str) -> bool {
    KINDS
        .iter()
        .find(|(k, _, _)| *k == kind)
        .is_none_or(|(_, _, prefixes)| prefixes.iter().any(|p| action.starts_with(p)))
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
    action: String,
}

fn text(details: &Value, key: &str) -> Option<String> {
    details
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn count(details: &Value, key: &str) -> i64 {
    details.get(key).and_then(Value::as_i64).unwrap_or(0)
}

fn role_words(role: Option<String>) -> &'static str {
    match role.as_deref() {
        Some("admin") => "an administrator",
        _ => "a member",
    }
}

fn role_label(role: Option<String>) -> &'static str {
    match role.as_deref() {
        Some("admin") => "Administrator",
        _ => "Member",
    }
}

fn on_off(details: &Value, key: &str) -> &'static str {
    if details.get(key).and_then(Value::as_bool).unwrap_or(false) {
        "on"
    } else {
        "off"
    }
}

/// The sentence for an event; `names` knows the targets' names from other events and the
/// current lists.
fn sentence(e: &AuditEvent, names: &HashMap<String, String>) -> String {
    let d = &e.details;
    let target = e.target.as_deref().and_then(|t| names.get(t)).cloned();
    let email = text(d, "email");
    let person = || {
        text(d, "name")
            .or_else(|| email.clone())
            .or_else(|| target.clone())
            .unwrap_or_else(|| "someone".to_owned())
    };
    let contact = || {
        target
            .clone()
            .or_else(|| email.clone())
            .unwrap_or_else(|| "an IT contact".to_owned())
    };
    match e.action.as_str() {
        "it_contact.added" => format!("Added {} as an IT contact", person()),
        "it_contact.removed" => {
            let then = match text(d, "identity_removal").as_deref() {
                Some("flagged") => {
                    "; its removal on the identity side is flagged for the Smart Core Connect team"
                }
                Some("completed") => "; also removed on the identity side",
                _ => "",
            };
            format!("Removed {} as an IT contact{then}", contact())
        }
        "it_contact.synced" => format!("Registered {} to receive alerts (Synced)", contact()),
        "it_contact.sync_failed" => format!(
            "Could not register {} to receive alerts{}",
            contact(),
            text(d, "reason").map_or(String::new(), |r| format!(": {r}"))
        ),
        "it_contact.not_responsible" => format!(
            "The “Not me” link was used by {}: they say they are not responsible for sign-on",
            contact()
        ),
        "it_contact.kept" => format!(
            "Kept {} as an IT contact after they said they were not responsible",
            contact()
        ),
        "identity_removal.flagged" => format!(
            "Flagged the removal of {} on the identity side for the Smart Core Connect team",
            contact()
        ),
        "identity_removal.cancelled" => format!(
            "Cancelled the removal of {} on the identity side: the address was added again",
            contact()
        ),
        "identity_removal.completed" => {
            format!(
                "Completed the removal of {} on the identity side",
                contact()
            )
        }
        "test_alert.sent" => {
            let to = if e.target.as_deref().is_some_and(|t| t.starts_with("itc_")) {
                contact()
            } else {
                "all IT contacts".to_owned()
            };
            let (sent, deferred, rejected) =
                (count(d, "sent"), count(d, "deferred"), count(d, "rejected"));
            let mut parts = vec![format!("{sent} delivered")];
            if deferred > 0 {
                parts.push(format!("{deferred} not delivered yet"));
            }
            if rejected > 0 {
                parts.push(format!("{rejected} rejected"));
            }
            format!("Sent a test alert to {to} ({})", parts.join(", "))
        }
        "setup_links.sent" => {
            let n = count(d, "sent_to");
            format!(
                "Sent setup links to {n} IT {}",
                if n == 1 { "contact" } else { "contacts" }
            )
        }
        "member.role_changed" => format!(
            "Changed the role of {} from {} to {}",
            person(),
            role_label(text(d, "from")),
            role_label(text(d, "to"))
        ),
        "member.removed" => format!("Removed {} from the organisation", person()),
        "member.joined_with_sso" => format!(
            "Joined as a member at their first Single Sign-On sign-in ({})",
            person()
        ),
        "invitation.created" => format!("Invited {} as {}", person(), role_words(text(d, "role"))),
        "invitation.resent" => format!("Sent the invitation to {} again", person()),
        "invitation.revoked" => format!("Revoked the invitation to {}", person()),
        "invitation.accepted" => format!(
            "Accepted the invitation for {} and joined as {}",
            person(),
            role_words(text(d, "role"))
        ),
        "domain.added" => format!(
            "Added the domain {}",
            text(d, "domain").unwrap_or_else(|| "(unknown)".to_owned())
        ),
        "domain.verified" => format!(
            "Verified the domain {}",
            text(d, "domain").unwrap_or_else(|| "(unknown)".to_owned())
        ),
        "sso.configured" => {
            let from = match text(d, "source").as_deref() {
                Some("url") => " from its metadata URL",
                Some("metadata") => " from its metadata",
                _ => "",
            };
            format!(
                "Saved the identity provider settings{from}{}",
                text(d, "idp_entity_id").map_or(String::new(), |i| format!(" ({i})"))
            )
        }
        "sso.metadata_changed" => {
            "Picked up a change in the identity provider's metadata at its URL".to_owned()
        }
        "sso.enabled" => "Enabled Single Sign-On".to_owned(),
        "sso.policy_changed" => format!(
            "Changed the sign-in policy: members added at their first sign-in {}, sign-ins started from the identity provider {}, Single Sign-On required {}",
            on_off(d, "jit_members"),
            on_off(d, "idp_initiated"),
            on_off(d, "require_sso")
        ),
        "sso.signed_in" => format!(
            "Signed in with Single Sign-On{}",
            email.map_or(String::new(), |e| format!(" as {e}"))
        ),
        "sso.tested" => format!(
            "Test sign-in passed{}",
            email.map_or(String::new(), |e| format!(" for {e}"))
        ),
        "sso.sign_in_refused" => format!(
            "Refused a Single Sign-On sign-in{}{}",
            email
                .or_else(|| text(d, "name_id"))
                .map_or(String::new(), |e| format!(" for {e}")),
            text(d, "reason").map_or(String::new(), |r| format!(" (reason: {r})"))
        ),
        "sso.unknown_certificate" => format!(
            "Saw a sign-in signed with a certificate we do not know{}{}",
            text(d, "subject").map_or(String::new(), |s| format!(" ({s})")),
            if d.get("refetching").and_then(Value::as_bool) == Some(true) {
                "; fetching the identity provider's metadata again"
            } else {
                ""
            }
        ),
        "api_token.created" => format!(
            "Created the API token “{}”",
            text(d, "name").unwrap_or_default()
        ),
        "api_token.revoked" => format!(
            "Revoked the API token “{}”",
            text(d, "name").unwrap_or_default()
        ),
        "user.disabled" => format!("Disabled the account of {}", person()),
        "user.enabled" => format!("Enabled the account of {}", person()),
        other => other.replace(['_', '.'], " "),
    }
}

/// Names of targets, from the events themselves (an addition names its contact, an
/// invitation its address) and from who is in the organisation now.
fn target_names(events: &[AuditEvent]) -> HashMap<String, String> {
    let mut names = HashMap::new();
    for e in events {
        let Some(t) = &e.target else { continue };
        let d = &e.details;
        let name = match e.action.as_str() {
            a if a.starts_with("domain.") => text(d, "domain"),
            a if a.starts_with("api_token.") => text(d, "name").map(|n| format!("“{n}”")),
            "test_alert.sent"
            | "setup_links.sent"
            | "sso.configured"
            | "sso.enabled"
            | "sso.metadata_changed" => None,
            a if a.starts_with("sso.") => None,
            _ => match (text(d, "name"), text(d, "email")) {
                (Some(n), Some(m)) => Some(format!("{n} ({m})")),
                (Some(n), None) => Some(n),
                (None, Some(m)) => Some(m),
                (None, None) => None,
            },
        };
        if let Some(n) = name {
            names.entry(t.clone()).or_insert(n);
        }
    }
    names
}

impl EventRow {
    fn from_event(e: &AuditEvent, names: &HashMap<String, String>, now: Timestamp) -> Self {
        let at = time::OffsetDateTime::parse(&e.at, &time::format_description::well_known::Rfc3339)
            .map(Timestamp::from_datetime)
            .unwrap_or(now);
        let system = e.actor == "system";
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
            action: e.action.clone(),
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
    Path(org): Path<String>,
    Query(query): Query<AuditQuery>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let kind = query
        .kind
        .filter(|k| KINDS.iter().any(|(v, _, _)| v == k))
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
            if of_kind(&e.action, &kind) {
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
            kinds: KINDS.iter().map(|(v, l, _)| (*v, *l)).collect(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str, target: Option<&str>, details: Value) -> AuditEvent {
        AuditEvent {
            id: "evt_1".into(),
            at: "2026-12-03T06:28:00Z".into(),
            actor: "usr_1".into(),
            actor_name: Some("Ada Admin".into()),
            actor_email: Some("ada@acme.example".into()),
            action: action.into(),
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
        assert!(of_kind("invitation.created", "members"));
        assert!(!of_kind("invitation.created", "contacts"));
        assert!(of_kind("anything", ""));
    }
}
