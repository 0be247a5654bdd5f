//! The members page itself: the members (searched, a page at a time), the pending
//! invitations, the invitation form and the notices after a change.

use super::{query_value, role_label, when};
use crate::AppState;
use crate::error::{PageError, public_message, retry_after, status_of};
use crate::extract::Id;
use crate::pages::show::When;
use crate::pages::{org_context, page_actor};
use crate::render::render;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use smartcore_app::{AppError, InvitationView, MEMBERS_PAGE, MemberView, OrgSummary};
use smartcore_domain::{InvitationStatus, OrgId, Role};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/orgs/{org}/settings/members", get(members))
}

struct MemberRow {
    id: String,
    name: String,
    email: String,
    role: &'static str,
    admin: bool,
    joined: When,
    is_it_contact: bool,
}

impl From<MemberView> for MemberRow {
    fn from(m: MemberView) -> Self {
        MemberRow {
            role: role_label(m.role),
            admin: m.role == Role::Admin,
            joined: when(m.joined_at),
            id: m.id,
            name: m.name,
            email: m.email,
            is_it_contact: m.is_it_contact,
        }
    }
}

struct InvitationRow {
    id: String,
    email: String,
    role: &'static str,
    invited_by: String,
    expires: When,
    expired: bool,
}

impl From<InvitationView> for InvitationRow {
    fn from(i: InvitationView) -> Self {
        InvitationRow {
            role: role_label(i.role),
            invited_by: i
                .invited_by_name
                .unwrap_or_else(|| "Smart Core Connect team".to_owned()),
            expires: when(i.expires_at),
            expired: i.status == InvitationStatus::Expired,
            id: i.id,
            email: i.email,
        }
    }
}

#[derive(Template)]
#[template(path = "members.html")]
pub(super) struct MembersPage {
    org: OrgSummary,
    orgs: Vec<OrgSummary>,
    notice: Option<String>,
    page_error: Option<String>,
    invite_email: String,
    invite_admin: bool,
    invite_error: Option<String>,
    invitations: Vec<InvitationRow>,
    q: String,
    search_error: Option<String>,
    members: Vec<MemberRow>,
    /// A search's count: "3 members match." or "Showing 50 of 53: type more to narrow."
    search_status: Option<String>,
    paged: bool,
    first_href: String,
    next_href: Option<String>,
}

impl MembersPage {
    fn base(&self) -> String {
        format!("/orgs/{}/settings/members", self.org.id)
    }
}

#[derive(Deserialize, Default)]
struct MembersQuery {
    #[serde(default)]
    q: String,
    after: Option<String>,
    done: Option<String>,
    email: Option<String>,
}

/// The page's notices after a redirect, by a fixed key (nothing typed is echoed from the URL
/// except the invited address, which is escaped like everything else).
fn notice_for(done: &str, email: Option<&str>) -> Option<String> {
    let who = email.unwrap_or("them");
    Some(match done {
        "invited" => format!("Invitation sent to {who}. The link works once, for 7 days."),
        "invited_unsent" => format!(
            "Invitation created for {who}, but the mail could not be sent just now. Resend it below."
        ),
        "resent" => format!("Invitation sent again to {who}, with a new link valid for 7 days."),
        "revoked" => format!("Invitation to {who} revoked. Its link no longer works."),
        "role" => format!("Role of {who} changed."),
        "removed" => format!(
            "{who} is no longer a member. If they were an IT contact, they stay one and show as no longer a member."
        ),
        _ => return None,
    })
}

/// The invitation form as given back: what was typed, and what went wrong.
pub(super) struct InviteForm {
    pub(super) email: String,
    pub(super) admin: bool,
    pub(super) error: Option<String>,
}

pub(super) async fn members_page(
    state: &AppState,
    actor: &smartcore_app::Actor,
    org: &OrgId,
    q: &str,
    after: Option<&str>,
    invite: InviteForm,
) -> Result<(StatusCode, MembersPage), PageError> {
    let invitations = state.app.members().invitations(actor, org).await?;
    let (current, orgs) = org_context(state, actor, org).await?;
    let mut status = StatusCode::OK;
    let mut search_error = None;
    let page = match state
        .app
        .members()
        .list_members(actor, org, q, after, Some(MEMBERS_PAGE))
        .await
    {
        Ok(p) => p,
        Err(e @ AppError::Invalid { .. }) => {
            status = StatusCode::UNPROCESSABLE_ENTITY;
            search_error = Some(e.to_string());
            smartcore_app::MemberPage {
                members: Vec::new(),
                next: None,
                matches: None,
            }
        }
        Err(e) => return Err(e.into()),
    };
    let base = format!("/orgs/{}/settings/members", current.id);
    let first_href = if q.is_empty() {
        base.clone()
    } else {
        format!("{base}?q={}", query_value(q))
    };
    let search_status = page.matches.map(|m| {
        crate::pages::settings::narrow_text(page.members.len(), m.total, m.more).unwrap_or_else(
            || match m.total {
                1 => "1 member matches.".to_owned(),
                n => format!("{n} members match."),
            },
        )
    });
    let next_href = page
        .next
        .map(|n| format!("{base}?q={}&after={}", query_value(q), query_value(&n)));
    if invite.error.is_some() {
        status = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok((
        status,
        MembersPage {
            org: current,
            orgs,
            notice: None,
            page_error: None,
            invite_email: invite.email,
            invite_admin: invite.admin,
            invite_error: invite.error,
            invitations: invitations.into_iter().map(InvitationRow::from).collect(),
            q: q.to_owned(),
            search_error,
            members: page.members.into_iter().map(MemberRow::from).collect(),
            search_status,
            paged: after.is_some_and(|a| !a.is_empty()),
            first_href,
            next_href,
        },
    ))
}

async fn members(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(Id(org)): Path<Id<OrgId>>,
    Query(query): Query<MembersQuery>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let q = query.q.trim();
    let (status, mut page) = members_page(
        &state,
        &actor,
        &org,
        q,
        query.after.as_deref(),
        InviteForm {
            email: String::new(),
            admin: false,
            error: None,
        },
    )
    .await?;
    page.notice = query
        .done
        .as_deref()
        .and_then(|d| notice_for(d, query.email.as_deref()));
    Ok(render(status, &page))
}

/// A refusal shown on the members page itself (a rate limit, a last administrator).
pub(super) async fn members_with_error(
    state: &AppState,
    actor: &smartcore_app::Actor,
    org: &OrgId,
    e: AppError,
) -> Result<Response, PageError> {
    let (_, mut page) = members_page(
        state,
        actor,
        org,
        "",
        None,
        InviteForm {
            email: String::new(),
            admin: false,
            error: None,
        },
    )
    .await?;
    page.page_error = Some(public_message(&e));
    let mut response = render(status_of(&e), &page);
    retry_after(&mut response, &e);
    Ok(response)
}
