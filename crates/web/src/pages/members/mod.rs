//! Settings → Organisation → Members (administrators only): the members in pages of 50,
//! search, invitations, role changes and removals, each confirmed on a page of its own. Every
//! form is a plain POST (or GET for searches and confirmations) followed by a redirect:
//! nothing needs JavaScript.

mod changes;
mod invitations;
mod list;

use crate::AppState;
use crate::pages::show::When;
use askama::Template;
use axum::Router;
use smartcore_app::OrgSummary;
use smartcore_domain::Role;

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(list::routes())
        .merge(invitations::routes())
        .merge(changes::routes())
}

/// Percent-encodes a query-string value (everything but unreserved characters).
fn query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn when(t: smartcore_domain::Timestamp) -> When {
    crate::pages::show::when(
        t,
        smartcore_domain::Timestamp::from_datetime(time::OffsetDateTime::now_utc()),
    )
}

fn role_label(r: Role) -> &'static str {
    match r {
        Role::Admin => "Administrator",
        Role::Member => "Member",
    }
}

/// A confirmation step of its own (revoking an invitation, changing a role, removing a
/// member), with the refusal when the change could not be made.
#[derive(Template)]
#[template(path = "member_confirm.html")]
struct ConfirmPage {
    org: OrgSummary,
    orgs: Vec<OrgSummary>,
    title: String,
    question: String,
    note: Option<String>,
    action: String,
    role: Option<&'static str>,
    button: String,
    danger: bool,
    error: Option<String>,
}
