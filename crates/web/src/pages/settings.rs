//! Settings → Organisation → Authentication: the checklist before Single Sign-On and the
//! "IT contacts" section of the help article (list, "Add contact", the delete icon).
//!
//! Without JavaScript the "Add contact" dialog is the same markup rendered open by the server
//! (`?add=1`, a member search `?q=…`, or an error after a POST), and the delete icon leads to a
//! confirmation page; `app.js` turns both into modal dialogs without reloads.

use crate::AppState;
use crate::error::{PageError, public_message};
use crate::extract::Id;
use crate::pages::show::{When, when};
use crate::pages::{flash, org_context, page_actor};
use crate::render::render;
use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use smartcore_app::ErrorCode;
use smartcore_app::{
    Actor, AddContact, AppError, AuthenticationOverview, MemberSearch, MemberSearchHit, OrgSummary,
};
use smartcore_domain::{ContactId, OrgId};
use smartcore_domain::{ContactSource, IdentityRemoval, ItContact, SyncStatus};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/orgs/{org}/settings/authentication", get(authentication))
        .route(
            "/orgs/{org}/settings/authentication/it-contacts",
            axum::routing::post(add_contact),
        )
        .route(
            "/orgs/{org}/settings/authentication/it-contacts/{contact}/remove",
            get(confirm_removal).post(remove_contact),
        )
}

/// One row of the IT contacts list, as the page shows it.
pub(crate) struct ContactRow {
    pub id: String,
    /// The name, or the address when there is none.
    pub label: String,
    pub email: String,
    pub has_name: bool,
    pub member: bool,
    /// A member contact whose person has left the organisation (D3).
    pub left: bool,
    /// `pending`, `synced` or `failed`: the badge's class.
    pub status: SyncStatus,
    pub status_label: &'static str,
    pub detail: Option<String>,
    /// Why the mail server refused the last message to this contact, if it did.
    pub mail_rejected: Option<String>,
    /// Issue 16: what the administrator may trust about this contact.
    pub trust: TrustBadges,
}

/// The issue-16 badges of a contact row.
#[derive(Default)]
pub(crate) struct TrustBadges {
    /// "Says they are not responsible" since this time.
    pub not_responsible_at: Option<When>,
    pub confirmed_at: Option<When>,
    /// Asked 30 days ago or more without an answer.
    pub overdue: bool,
    pub awaiting: bool,
    /// The last test alert: its status and when.
    pub test_status: Option<smartcore_domain::DeliveryStatus>,
    pub test_error: Option<String>,
}

impl TrustBadges {
    /// The last test alert was delivered.
    pub fn test_sent(&self) -> bool {
        self.test_status == Some(smartcore_domain::DeliveryStatus::Sent)
    }

    /// The last test alert was refused for good.
    pub fn test_rejected(&self) -> bool {
        self.test_status == Some(smartcore_domain::DeliveryStatus::Rejected)
    }

    fn of(t: Option<&smartcore_app::ContactTrust>, now: smartcore_domain::Timestamp) -> Self {
        let Some(t) = t else {
            return TrustBadges::default();
        };
        let day = |at: smartcore_domain::Timestamp| when(at, now);
        TrustBadges {
            not_responsible_at: t.not_responsible_at.map(day),
            confirmed_at: t
                .confirmed_at
                .filter(|_| t.confirmation == smartcore_app::Confirmation::Confirmed)
                .map(day),
            overdue: t.confirmation == smartcore_app::Confirmation::Overdue,
            awaiting: t.confirmation == smartcore_app::Confirmation::Awaiting,
            test_status: t.last_test_alert.as_ref().map(|a| a.status),
            test_error: t.last_test_alert.as_ref().and_then(|a| a.error.clone()),
        }
    }
}

impl ContactRow {
    fn from_contact(c: &ItContact) -> Self {
        let name = c.name.as_ref().map(|n| n.as_str().to_owned());
        ContactRow {
            id: c.id.to_string(),
            has_name: name.is_some(),
            label: name.unwrap_or_else(|| c.email.to_string()),
            email: c.email.to_string(),
            member: c.source == ContactSource::Member,
            left: c.source == ContactSource::Member && !c.still_member,
            status: c.status,
            status_label: status_label(c.status),
            detail: c.status_detail.clone(),
            mail_rejected: c.mail_rejected.as_ref().map(|r| r.reason.clone()),
            trust: TrustBadges::default(),
        }
    }
}

pub(crate) fn status_label(s: SyncStatus) -> &'static str {
    match s {
        SyncStatus::Pending => "Pending",
        SyncStatus::Synced => "Synced",
        SyncStatus::Failed => "Sync failed",
    }
}

/// The "Add contact" dialog: what was typed or searched, and what went wrong, field by field.
#[derive(Default)]
struct AddDialog {
    /// Rendered open (no JavaScript, or an error to show).
    open: bool,
    q: String,
    searched: bool,
    results: Vec<MemberSearchHit>,
    member_error: Option<String>,
    email: String,
    name: String,
    email_error: Option<String>,
    name_error: Option<String>,
    /// An error about the list as a whole (the limit).
    form_error: Option<String>,
    /// Members matching, counted up to 1,000.
    total: i64,
    /// More than `total` match.
    more: bool,
}

impl AddDialog {
    /// "Showing 20 of 53: type more to narrow." when more match than are shown.
    fn narrow(&self) -> Option<String> {
        narrow_text(self.results.len(), self.total, self.more)
    }

    /// The field that should take the focus when the dialog opens.
    fn focus(&self) -> &'static str {
        if self.email_error.is_some() {
            "email"
        } else if self.name_error.is_some() {
            "name"
        } else {
            "member-q"
        }
    }

    /// The way shown first when JavaScript shows one at a time: `manual` after an error there.
    fn way(&self) -> ContactSource {
        if self.email_error.is_some() || self.name_error.is_some() {
            ContactSource::Manual
        } else {
            ContactSource::Member
        }
    }
}

/// The best [`SHOWN`] members for `q`, and how many match.
async fn search(
    state: &AppState,
    actor: &Actor,
    org: &OrgId,
    q: &str,
) -> Result<MemberSearch, AppError> {
    state
        .app
        .contacts()
        .search_members(actor, org, q, Some(SHOWN as i64))
        .await
}

/// "Showing 20 of 53: type more to narrow." (or "of more than 1,000") when a search matched
/// more members than it shows.
pub(crate) fn narrow_text(shown: usize, total: i64, more: bool) -> Option<String> {
    if !more && shown as i64 >= total {
        return None;
    }
    let total = thousands(total);
    Some(if more {
        format!("Showing {shown} of more than {total}: type more to narrow.")
    } else {
        format!("Showing {shown} of {total}: type more to narrow.")
    })
}

/// 1000 as "1,000".
fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// How many members the picker shows at once.
const SHOWN: usize = 20;

#[derive(Template)]
#[template(path = "authentication.html")]
struct AuthenticationPage {
    org: OrgSummary,
    orgs: Vec<OrgSummary>,
    contacts: Vec<ContactRow>,
    limit: usize,
    below_recommended: bool,
    at_limit: bool,
    overview: AuthenticationOverview,
    /// Issue 16: "2 of 3 contacts confirmed", and how many alerts can reach.
    confirmed: usize,
    unreachable: usize,
    notice: Option<&'static str>,
    page_error: Option<String>,
    add: AddDialog,
    /// Since when Single Sign-On is on, when it is.
    sso_on: bool,
    sso_since: Option<When>,
}

impl AuthenticationPage {
    fn base(&self) -> String {
        format!("/orgs/{}/settings/authentication", self.org.id)
    }
}

#[derive(Deserialize, Default)]
struct PageQuery {
    add: Option<String>,
    q: Option<String>,
    added: Option<String>,
    removed: Option<String>,
    tested: Option<String>,
    kept: Option<String>,
}

const TESTED: &str =
    "Test alert sent. What the mail server did with it is shown on each contact below.";
const KEPT: &str = "The contact stays, and the \"not responsible\" note has been cleared.";

const ADDED: &str = "IT contact added. It shows as Pending until it has been registered to receive alerts; the green Synced badge then appears by itself. There's nothing more for you to do.";
const REMOVED_FLAGGED: &str = "IT contact removed. They had been registered to receive alerts, so they have been flagged for removal on the identity side. That final step is completed for you by the Smart Core Connect team, so you don't need to do anything else.";
const REMOVED_COMPLETED: &str = "IT contact removed. They have also been removed on the identity side, so they no longer receive alerts. Nothing more is needed.";
const REMOVED_NOT_NEEDED: &str = "IT contact removed. They had not been registered to receive alerts yet, so nothing more is needed.";

async fn load_page(
    state: &AppState,
    actor: &Actor,
    org: &OrgId,
    add: AddDialog,
) -> Result<AuthenticationPage, PageError> {
    let list = state.app.contacts().list_contacts(actor, org).await?;
    let overview = state
        .app
        .contacts()
        .authentication_overview(actor, org)
        .await?;
    let trust = state.app.trust().trust_of_listed(&list).await?;
    let (current, orgs) = org_context(state, actor, org).await?;
    Ok(AuthenticationPage {
        org: current,
        orgs,
        contacts: list
            .contacts
            .iter()
            .map(|c| ContactRow {
                trust: TrustBadges::of(trust.of(c.id.as_str()), state.app.now()),
                ..ContactRow::from_contact(c)
            })
            .collect(),
        limit: list.limit,
        // Issue 16: the advice counts only the contacts alerts can reach.
        below_recommended: list.below_recommended()
            || list.contacts.len().saturating_sub(trust.unreachable) < list.recommended_minimum,
        unreachable: trust.unreachable,
        confirmed: trust.confirmed,
        at_limit: list.at_limit(),
        sso_on: overview.sso_status == smartcore_domain::SsoStatus::Enabled,
        sso_since: None,
        overview,
        notice: None,
        page_error: None,
        add,
    })
}

async fn authentication(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(Id(org)): Path<Id<OrgId>>,
    Query(query): Query<PageQuery>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let flash = flash::take(&headers, &format!("/orgs/{org}/settings/authentication"));
    let mut add = AddDialog {
        open: query.add.is_some() || query.q.is_some(),
        ..AddDialog::default()
    };
    // A form given back: the error next to its field, what was typed kept.
    if let Some(f) = flash.as_ref().filter(|f| f.place != "top") {
        add.open = true;
        add.email = f.field("email");
        add.name = f.field("name");
        let error = f.error.clone();
        match f.place.as_str() {
            "add" => add.form_error = error,
            "name" => add.name_error = error,
            "email" => add.email_error = error,
            _ => add.member_error = error,
        }
    }
    let mut status = StatusCode::OK;
    if let Some(q) = query.q.as_deref().map(str::trim) {
        add.q = q.to_owned();
        add.searched = true;
        match search(&state, &actor, &org, q).await {
            Ok(found) => {
                add.results = found.hits;
                add.total = found.total;
                add.more = found.more;
            }
            Err(e @ AppError::Invalid { .. }) => {
                status = StatusCode::UNPROCESSABLE_ENTITY;
                add.member_error.get_or_insert(e.to_string());
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut page = load_page(&state, &actor, &org, add).await?;
    page.notice = if query.added.is_some() {
        Some(ADDED)
    } else if query.tested.is_some() {
        Some(TESTED)
    } else if query.kept.is_some() {
        Some(KEPT)
    } else {
        match query.removed.as_deref() {
            Some("flagged") => Some(REMOVED_FLAGGED),
            Some("completed") => Some(REMOVED_COMPLETED),
            Some("not_needed") => Some(REMOVED_NOT_NEEDED),
            _ => None,
        }
    };
    page.page_error = flash
        .as_ref()
        .filter(|f| f.place == "top")
        .and_then(|f| f.error.clone());
    if page.sso_on {
        page.sso_since = crate::pages::sso::enabled_since(&state, &actor, &org).await;
    }
    Ok(flash::shown(render(status, &page), &state, &flash))
}

#[derive(Deserialize)]
struct AddForm {
    /// `member` or `manual`: which half of the dialog was used.
    way: String,
    #[serde(default)]
    member_id: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    /// The member search that led here, to show its results again after an error.
    #[serde(default)]
    q: String,
}

async fn add_contact(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(Id(org)): Path<Id<OrgId>>,
    Form(form): Form<AddForm>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    // Anything but picking a member (the way missing or unknown) is an address typed in.
    let manual = form.way.parse() != Ok(ContactSource::Member);
    let request = if manual {
        AddContact::Manual {
            email: form.email.clone(),
            name: Some(form.name.clone()).filter(|n| !n.trim().is_empty()),
        }
    } else {
        AddContact::Member {
            member_id: form.member_id.clone(),
        }
    };
    match state
        .app
        .contacts()
        .add_contact(&actor, &org, request)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!(
            "/orgs/{org}/settings/authentication?added=1#notice"
        ))
        .into_response()),
        Err(
            e @ (AppError::Invalid { .. } | AppError::Conflict { .. } | AppError::Throttled { .. }),
        ) => Ok(add_refused(&headers, &state, &org, &form, manual, &e)),
        Err(e) => Err(e.into()),
    }
}

/// Where the add dialog shows a refusal: at the top of the dialog, or beside the field at fault.
fn refusal_place(error: &AppError, manual: bool) -> &'static str {
    match (error, manual) {
        (
            AppError::Conflict {
                code: ErrorCode::ContactLimitReached,
                ..
            },
            _,
        ) => "add",
        (AppError::Throttled { .. }, _) => "add",
        (
            AppError::Invalid {
                field: Some("name"),
                ..
            },
            true,
        ) => "name",
        (_, true) => "email",
        (_, false) => "member",
    }
}

/// Back to the page (303), the dialog open, the error next to the field and the input kept
/// (through a one-time flash): nothing is left at the POST.
fn add_refused(
    headers: &HeaderMap,
    state: &AppState,
    org: &OrgId,
    form: &AddForm,
    manual: bool,
    error: &AppError,
) -> Response {
    let place = refusal_place(error, manual);
    let path = format!("/orgs/{org}/settings/authentication");
    let q = form.q.trim();
    let search = if manual || q.is_empty() {
        String::new()
    } else {
        format!(
            "&q={}",
            url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
        )
    };
    let mut fields = std::collections::BTreeMap::new();
    fields.insert("email".to_owned(), flash::kept(&form.email));
    fields.insert("name".to_owned(), flash::kept(&form.name));
    flash::redirect(
        headers,
        state,
        // The fragment names the field at fault, which the browser then focuses (with or
        // without JavaScript); its error is right below it and describes it.
        &format!(
            "{path}?add=1{search}#{}",
            match place {
                "add" => "add-error",
                "member" => "member-q",
                field => field,
            }
        ),
        flash::Flash {
            path,
            place: place.to_owned(),
            error: Some(public_message(error)),
            fields,
            ..Default::default()
        },
    )
}

#[derive(Template)]
#[template(path = "remove_contact.html")]
struct ConfirmRemovalPage {
    org: OrgSummary,
    orgs: Vec<OrgSummary>,
    contact: ContactRow,
}

/// The confirmation step without JavaScript (with it, a dialog on the list asks the same).
async fn confirm_removal(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((Id(org), Id(contact))): Path<(Id<OrgId>, Id<ContactId>)>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let found = state.app.contacts().contact(&actor, &org, &contact).await?;
    let (current, orgs) = org_context(&state, &actor, &org).await?;
    Ok(render(
        StatusCode::OK,
        &ConfirmRemovalPage {
            org: current,
            orgs,
            contact: ContactRow::from_contact(&found),
        },
    ))
}

async fn remove_contact(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((Id(org), Id(contact))): Path<(Id<OrgId>, Id<ContactId>)>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    match state
        .app
        .contacts()
        .remove_contact(&actor, &org, &contact)
        .await
    {
        Ok(removal) => {
            let kind = match removal.identity_removal {
                IdentityRemoval::NotNeeded => "not_needed",
                IdentityRemoval::Flagged => "flagged",
                IdentityRemoval::Completed => "completed",
            };
            Ok(Redirect::to(&format!(
                "/orgs/{org}/settings/authentication?removed={kind}#notice"
            ))
            .into_response())
        }
        // Said once at the top of the page; nothing is left at the POST.
        Err(e @ AppError::Conflict { .. }) => {
            let path = format!("/orgs/{org}/settings/authentication");
            Ok(flash::redirect(
                &headers,
                &state,
                &format!("{path}#page-error"),
                flash::Flash {
                    path,
                    place: "top".to_owned(),
                    error: Some(public_message(&e)),
                    ..Default::default()
                },
            ))
        }
        Err(e) => Err(e.into()),
    }
}
