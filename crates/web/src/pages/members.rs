//! Settings (the index every signed-in page links to), Settings → Organisation, General,
//! Members (administrators only: the members in pages of 50, search, invitations, role
//! changes and removals, each confirmed on a page of its own) and the invitation link's
//! accept page. Every form is a plain POST (or GET for searches and confirmations) followed
//! by a redirect: nothing needs JavaScript.

use crate::error::{PageError, public_message, status_of};
use crate::pages::show::When;
use crate::pages::{org_context, page_actor};
use crate::render::render;
use crate::{AppState, ClientAddr, session};
use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use smartcore_app::ErrorCode;
use smartcore_app::{
    AcceptRefused, Accepted, AppError, InvitationLink, InvitationPreview, InvitationView,
    MEMBERS_PAGE, MailStatus, MemberView, OrgSummary,
};
use smartcore_domain::Role;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/settings", get(settings_home))
        .route("/orgs/{org}/settings", get(index))
        .route("/orgs/{org}/settings/organisation", get(organisation))
        .route("/orgs/{org}/settings/general", get(general))
        .route("/orgs/{org}/settings/members", get(members))
        .route("/orgs/{org}/settings/members/invitations", post(invite))
        .route(
            "/orgs/{org}/settings/members/invitations/{id}/resend",
            post(resend),
        )
        .route(
            "/orgs/{org}/settings/members/invitations/{id}/revoke",
            get(confirm_revoke).post(revoke),
        )
        .route(
            "/orgs/{org}/settings/members/{id}/role",
            get(confirm_role).post(set_role),
        )
        .route(
            "/orgs/{org}/settings/members/{id}/remove",
            get(confirm_remove).post(remove),
        )
        .route("/invitations/{token}", get(open_link).post(accept))
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

/// `/settings`: the Settings index of the first organisation the user administers (else of
/// their first); the operations team without an organisation go to their queue.
async fn settings_home(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let orgs = state.app.accounts().organisations_of(&actor).await?;
    let first = orgs.iter().find(|o| o.role == Role::Admin).or(orgs.first());
    match first {
        Some(org) => Ok(Redirect::to(&format!("/orgs/{}/settings", org.id)).into_response()),
        None if actor.is_staff => Ok(Redirect::to("/ops").into_response()),
        None => Err(PageError(AppError::NotFound)),
    }
}

#[derive(Template)]
#[template(path = "settings_index.html")]
struct IndexPage {
    org: OrgSummary,
    orgs: Vec<OrgSummary>,
    admin: bool,
}

#[derive(Template)]
#[template(path = "settings_organisation.html")]
struct OrganisationPage {
    org: OrgSummary,
    orgs: Vec<OrgSummary>,
    admin: bool,
}

#[derive(Template)]
#[template(path = "settings_general.html")]
struct GeneralPage {
    org: OrgSummary,
    orgs: Vec<OrgSummary>,
    admin: bool,
}

/// Settings: its sections are links (Organisation: General, Members, Authentication, Single
/// Sign-On, Audit log; and the user's own account). Any member may see it.
async fn index(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let (org, orgs) = org_context(&state, &actor, &org).await?;
    let admin = org.role == Role::Admin;
    Ok(render(StatusCode::OK, &IndexPage { org, orgs, admin }))
}

async fn organisation(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let (org, orgs) = org_context(&state, &actor, &org).await?;
    let admin = org.role == Role::Admin;
    Ok(render(
        StatusCode::OK,
        &OrganisationPage { org, orgs, admin },
    ))
}

async fn general(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let (org, orgs) = org_context(&state, &actor, &org).await?;
    let admin = org.role == Role::Admin;
    Ok(render(StatusCode::OK, &GeneralPage { org, orgs, admin }))
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

fn role_label(r: Role) -> &'static str {
    match r {
        Role::Admin => "Administrator",
        Role::Member => "Member",
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
            expired: i.status == "expired",
            id: i.id,
            email: i.email,
        }
    }
}

#[derive(Template)]
#[template(path = "members.html")]
struct MembersPage {
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

struct InviteForm {
    email: String,
    admin: bool,
    error: Option<String>,
}

async fn members_page(
    state: &AppState,
    actor: &smartcore_app::Actor,
    org: &str,
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
    Path(org): Path<String>,
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

#[derive(Deserialize, Default)]
struct InviteBody {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

async fn invite(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    Form(form): Form<InviteBody>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let role = if form.role.is_empty() {
        "member"
    } else {
        form.role.as_str()
    };
    match state
        .app
        .members()
        .invite(&actor, &org, &form.email, role)
        .await
    {
        Ok(sent) => {
            let done = if sent.mail == MailStatus::Sent {
                "invited"
            } else {
                "invited_unsent"
            };
            Ok(Redirect::to(&format!(
                "/orgs/{org}/settings/members?done={done}&email={}#notice",
                query_value(&sent.invitation.email)
            ))
            .into_response())
        }
        Err(
            e @ (AppError::Invalid { .. }
            | AppError::Conflict { .. }
            | AppError::RateLimited { .. }),
        ) => {
            let (mut status, page) = members_page(
                &state,
                &actor,
                &org,
                "",
                None,
                InviteForm {
                    email: form.email.trim().to_owned(),
                    admin: role == "admin",
                    error: Some(public_message(&e)),
                },
            )
            .await?;
            if matches!(e, AppError::RateLimited { .. } | AppError::Conflict { .. }) {
                status = status_of(&e);
            }
            let mut response = render(status, &page);
            if let Some(secs) = e.retry_after_secs() {
                response.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from(secs),
                );
            }
            Ok(response)
        }
        Err(e) => Err(e.into()),
    }
}

/// A refusal shown on the members page itself (a rate limit, a last administrator).
async fn members_with_error(
    state: &AppState,
    actor: &smartcore_app::Actor,
    org: &str,
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
    if let Some(secs) = e.retry_after_secs() {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(secs),
        );
    }
    Ok(response)
}

async fn resend(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    match state
        .app
        .members()
        .resend_invitation(&actor, &org, &id)
        .await
    {
        Ok(sent) => Ok(Redirect::to(&format!(
            "/orgs/{org}/settings/members?done={}&email={}#notice",
            if sent.mail == MailStatus::Sent {
                "resent"
            } else {
                "invited_unsent"
            },
            query_value(&sent.invitation.email)
        ))
        .into_response()),
        Err(e @ (AppError::RateLimited { .. } | AppError::Throttled { .. })) => {
            members_with_error(&state, &actor, &org, e).await
        }
        Err(e) => Err(e.into()),
    }
}

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

async fn confirm_revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let invitation = state
        .app
        .members()
        .pending_invitation(&actor, &org, &id)
        .await?;
    let (current, orgs) = org_context(&state, &actor, &org).await?;
    Ok(render(
        StatusCode::OK,
        &ConfirmPage {
            title: "Revoke invitation".to_owned(),
            question: format!(
                "Revoke the invitation to {}? Its link will stop working.",
                invitation.email
            ),
            note: None,
            action: format!(
                "/orgs/{}/settings/members/invitations/{}/revoke",
                current.id, invitation.id
            ),
            role: None,
            button: "Revoke".to_owned(),
            danger: true,
            error: None,
            org: current,
            orgs,
        },
    ))
}

async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let revoked = state
        .app
        .members()
        .revoke_invitation(&actor, &org, &id)
        .await?;
    Ok(Redirect::to(&format!(
        "/orgs/{org}/settings/members?done=revoked&email={}#notice",
        query_value(&revoked.email)
    ))
    .into_response())
}

#[derive(Deserialize, Default)]
struct RoleBody {
    #[serde(default)]
    role: String,
}

fn role_page(
    org: OrgSummary,
    orgs: Vec<OrgSummary>,
    member: &MemberView,
    role: Role,
    error: Option<String>,
) -> ConfirmPage {
    let (title, question, note) = match role {
        Role::Admin => (
            "Make administrator",
            format!(
                "Make {} ({}) an administrator of {}?",
                member.name, member.email, org.name
            ),
            "Administrators manage members, IT contacts, domains and Single Sign-On.",
        ),
        Role::Member => (
            "Make member",
            format!(
                "Make {} ({}) a member of {} without administrator permissions?",
                member.name, member.email, org.name
            ),
            "They lose access to these settings at once.",
        ),
    };
    ConfirmPage {
        title: title.to_owned(),
        question,
        note: Some(note.to_owned()),
        action: format!("/orgs/{}/settings/members/{}/role", org.id, member.id),
        role: Some(role.as_str()),
        button: title.to_owned(),
        danger: role == Role::Member,
        error,
        org,
        orgs,
    }
}

async fn confirm_role(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, id)): Path<(String, String)>,
    Query(query): Query<RoleBody>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let member = state.app.members().member_of_org(&actor, &org, &id).await?;
    let role = match query.role.as_str() {
        "admin" => Role::Admin,
        "member" => Role::Member,
        _ => {
            return Err(PageError(AppError::invalid(
                ErrorCode::InvalidRole,
                "role",
                "The role must be administrator or member.",
            )));
        }
    };
    let (current, orgs) = org_context(&state, &actor, &org).await?;
    Ok(render(
        StatusCode::OK,
        &role_page(current, orgs, &member, role, None),
    ))
}

async fn set_role(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, id)): Path<(String, String)>,
    Form(form): Form<RoleBody>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    match state
        .app
        .members()
        .set_member_role(&actor, &org, &id, &form.role)
        .await
    {
        Ok(m) => Ok(Redirect::to(&format!(
            "/orgs/{org}/settings/members?done=role&email={}#notice",
            query_value(&m.email)
        ))
        .into_response()),
        Err(e @ AppError::Conflict { .. }) => {
            let member = state.app.members().member_of_org(&actor, &org, &id).await?;
            let (current, orgs) = org_context(&state, &actor, &org).await?;
            let role = if form.role == "admin" {
                Role::Admin
            } else {
                Role::Member
            };
            Ok(render(
                StatusCode::CONFLICT,
                &role_page(current, orgs, &member, role, Some(e.to_string())),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

fn remove_page(
    org: OrgSummary,
    orgs: Vec<OrgSummary>,
    member: &MemberView,
    error: Option<String>,
) -> ConfirmPage {
    ConfirmPage {
        title: "Remove member".to_owned(),
        question: format!(
            "Remove {} ({}) from {}? They lose access at once.",
            member.name, member.email, org.name
        ),
        note: member.is_it_contact.then(|| {
            "They are an IT contact: they stay one (IT contacts are about communication) and show as no longer a member.".to_owned()
        }),
        action: format!("/orgs/{}/settings/members/{}/remove", org.id, member.id),
        role: None,
        button: "Remove".to_owned(),
        danger: true,
        error,
        org,
        orgs,
    }
}

async fn confirm_remove(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let member = state.app.members().member_of_org(&actor, &org, &id).await?;
    let (current, orgs) = org_context(&state, &actor, &org).await?;
    Ok(render(
        StatusCode::OK,
        &remove_page(current, orgs, &member, None),
    ))
}

async fn remove(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    match state.app.members().remove_member(&actor, &org, &id).await {
        Ok(m) => {
            // Removing oneself: nothing here is theirs any more.
            if m.user_id == actor.user_id.as_str() {
                return Ok(Redirect::to("/").into_response());
            }
            Ok(Redirect::to(&format!(
                "/orgs/{org}/settings/members?done=removed&email={}#notice",
                query_value(&m.email)
            ))
            .into_response())
        }
        Err(e @ AppError::Conflict { .. }) => {
            let member = state.app.members().member_of_org(&actor, &org, &id).await?;
            let (current, orgs) = org_context(&state, &actor, &org).await?;
            Ok(render(
                StatusCode::CONFLICT,
                &remove_page(current, orgs, &member, Some(e.to_string())),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "invitation.html")]
struct InvitationPage {
    title: String,
    token: String,
    preview: Option<InvitationPreview>,
    admin: bool,
    name: String,
    error: Option<String>,
    message: String,
}

fn refused_page(refused: AcceptRefused) -> Response {
    let (status, title, message) = match refused {
        AcceptRefused::Unknown => (
            StatusCode::NOT_FOUND,
            "Invitation not found",
            "This invitation link is not one we sent. Check that it was copied in full.",
        ),
        AcceptRefused::Replaced => (
            StatusCode::GONE,
            "This link has been replaced",
            "The invitation was sent again with a new link: use the newest e-mail.",
        ),
        AcceptRefused::Expired => (
            StatusCode::GONE,
            "This invitation has expired",
            "Invitation links work for 7 days. Ask an administrator of the organisation to send it again.",
        ),
        AcceptRefused::Revoked => (
            StatusCode::GONE,
            "This invitation has been revoked",
            "An administrator of the organisation revoked it. Ask them if you should have access.",
        ),
        AcceptRefused::Used => (
            StatusCode::GONE,
            "This invitation has been used",
            "Invitation links work once, and this one has been used already. Sign in if it was you.",
        ),
        AcceptRefused::InviterNotAdmin => (
            StatusCode::GONE,
            "This invitation is no longer valid",
            "The administrator who sent it is no longer an administrator of the organisation. Ask a current administrator to invite you again.",
        ),
        AcceptRefused::AccountExists | AcceptRefused::NoAccount => (
            StatusCode::CONFLICT,
            "Please open the link again",
            "The account for this address changed while you were joining. Open the invitation link again.",
        ),
    };
    render(
        status,
        &InvitationPage {
            title: title.to_owned(),
            token: String::new(),
            preview: None,
            admin: false,
            name: String::new(),
            error: None,
            message: message.to_owned(),
        },
    )
}

async fn open_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    match state.app.members().open_invitation(&token).await? {
        InvitationLink::Open(preview) => Ok(render(
            StatusCode::OK,
            &InvitationPage {
                title: format!("Join {}", preview.org_name),
                admin: preview.role == Role::Admin,
                token,
                preview: Some(preview),
                name: String::new(),
                error: None,
                message: String::new(),
            },
        )),
        InvitationLink::Refused(refused) => Ok(refused_page(refused)),
    }
}

#[derive(Deserialize, Default)]
struct AcceptBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

async fn accept(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    jar: CookieJar,
    Path(token): Path<String>,
    Form(form): Form<AcceptBody>,
) -> Result<Response, PageError> {
    let preview = match state.app.members().open_invitation(&token).await? {
        InvitationLink::Open(p) => p,
        InvitationLink::Refused(refused) => return Ok(refused_page(refused)),
    };
    let result = if preview.account_exists {
        state
            .app
            .members()
            .accept_as_existing(&token, &form.password, client)
            .await
    } else {
        state
            .app
            .members()
            .accept_as_new(
                &token,
                preview.needs_name.then_some(form.name.as_str()),
                &form.password,
            )
            .await
    };
    match result {
        Ok(Accepted::Joined {
            session: new,
            org_id,
        }) => {
            if let Some(old) = jar.get(session::COOKIE_NAME) {
                let _ = state.app.accounts().sign_out(old.value()).await;
            }
            let jar = jar.add(session::session_cookie(new.token, &state));
            Ok((jar, Redirect::to(&format!("/orgs/{org_id}/settings"))).into_response())
        }
        Ok(Accepted::Refused(refused)) => Ok(refused_page(refused)),
        Err(e @ (AppError::Invalid { .. } | AppError::RateLimited { .. })) => {
            let status = status_of(&e);
            let mut response = render(
                status,
                &InvitationPage {
                    title: format!("Join {}", preview.org_name),
                    admin: preview.role == Role::Admin,
                    token,
                    preview: Some(preview),
                    name: form.name.trim().to_owned(),
                    error: Some(public_message(&e)),
                    message: String::new(),
                },
            );
            if let Some(secs) = e.retry_after_secs() {
                response.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from(secs),
                );
            }
            Ok(response)
        }
        Err(e) => Err(e.into()),
    }
}
