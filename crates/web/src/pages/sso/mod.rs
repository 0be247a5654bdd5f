//! Settings → Organisation → Single Sign-On: the domains to verify (with the TXT record to
//! publish), the identity provider's SAML settings, setup links for the IT contacts and
//! finishing setup (R8, D7). Every form posts and redirects back with a notice, or shows the
//! page again with the error next to the form and what was typed kept.

mod configuration;
mod domains;
mod finish;
mod load;

use crate::AppState;
use crate::error::{PageError, status_of};
use crate::extract::Id;
use crate::pages::flash::{self, Flash};
use crate::pages::page_actor;
use crate::pages::show::{NamePart, When, when};
use crate::render::render;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use load::load;
use serde::Deserialize;
use smartcore_app::{Actor, AppError, DomainView, OrgSummary};
use smartcore_domain::{AuditAction, DomainStatus, OrgId, SsoAttemptResult, SsoStatus, Timestamp};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/orgs/{org}/settings/sso", get(show))
        .merge(domains::routes())
        .merge(configuration::routes())
        .merge(finish::routes())
}

/// A certificate of the identity provider, as the page shows it.
struct CertificateRow {
    /// The common name (or the whole subject when there is none).
    name: String,
    /// Every attribute of the subject by name, in the certificate's order.
    subject: Vec<NamePart>,
    /// Colon-separated hex, as stored (copied whole).
    fingerprint: String,
    /// The same in groups of 4 pairs, for reading.
    fingerprint_groups: Vec<String>,
    not_after: When,
    /// Expired, or expiring within 60 days (the first reminder).
    expiring: bool,
    /// Already expired (sign-in still works: the configuration is what is trusted).
    expired: bool,
    /// "Still in use: 47 sign-ins in 7 days, last on …", or that none was seen.
    usage: String,
}

/// What the forms were given, and what went wrong with them.
#[derive(Default)]
struct Entered {
    domain: String,
    domain_error: Option<String>,
    verify_error: Option<String>,
    entity_id: String,
    sso_url: String,
    certificate_pem: String,
    metadata_xml: String,
    config_error: Option<String>,
    metadata_url: String,
    url_error: Option<String>,
    enable_error: Option<String>,
    links_error: Option<String>,
}

#[derive(Template)]
#[template(path = "sso.html")]
struct SsoPage {
    org: OrgSummary,
    orgs: Vec<OrgSummary>,
    domains: Vec<DomainView>,
    status: SsoStatus,
    configured: bool,
    certificates: Vec<CertificateRow>,
    contact_count: usize,
    notice: Option<String>,
    /// The section the notice belongs to (`domains`, `configuration`, `setup-links`,
    /// `finish`, `sign-in`): it is shown there, beside what was done.
    notice_place: &'static str,
    /// Since when Single Sign-On is on, if it is.
    enabled_since: Option<When>,
    entered: Entered,
    /// The metadata URL the configuration is kept current from, as shown.
    source: Option<SourceRow>,
    /// Issue 16: who will be mailed, when (see [`crate::pages::trust::UpcomingRow`]).
    upcoming: Vec<crate::pages::trust::UpcomingRow>,
    /// Signing in with SSO: our addresses, the policy, recent attempts.
    sign_in: SignInSection,
    /// The refusal of the policy form or the Test sign-in.
    sign_in_error: Option<String>,
}

/// The "Signing in" section, in words.
struct SignInSection {
    sp_entity_id: String,
    acs_url: String,
    metadata_url: String,
    login_url: String,
    policy: smartcore_app::SsoPolicy,
    attempts: Vec<AttemptRow>,
    sha1_in_use: bool,
}

/// A recent sign-in attempt as the page lists it.
struct AttemptRow {
    at: When,
    result: SsoAttemptResult,
    result_label: &'static str,
    who: String,
    reason: Option<String>,
    code: Option<String>,
}

/// The metadata URL and how its fetches went, in words.
struct SourceRow {
    url: String,
    last_good: When,
    next_fetch: When,
    /// "since …" and the last error, while fetches fail.
    failing: Option<(When, String)>,
}

impl SsoPage {
    fn base(&self) -> String {
        format!("/orgs/{}/settings/sso", self.org.id)
    }

    fn status_label(&self) -> &'static str {
        match self.status {
            SsoStatus::Enabled => "Enabled",
            SsoStatus::Configured => "Configured, not yet enabled",
            SsoStatus::NotConfigured => "Not set up",
        }
    }

    /// The notice, when it belongs in the section `place`.
    fn notice_at(&self, place: &str) -> Option<&str> {
        self.notice
            .as_deref()
            .filter(|_| self.notice_place == place)
    }
}

#[derive(Deserialize, Default)]
struct ShowQuery {
    done: Option<String>,
    sent: Option<usize>,
    error: Option<String>,
}

/// The words of a refusal the policy form or the Test sign-in redirected back with.
fn sign_in_error(q: &ShowQuery) -> Option<String> {
    Some(match q.error.as_deref()? {
        "sso_untested" => "Requiring Single Sign-On needs a successful SSO sign-in or Test sign-in in the last 24 hours, so nobody is sent to a sign-in that does not work. Use Test sign-in first.".to_owned(),
        "sso_not_configured" => "Add the identity provider's settings first: Test sign-in needs somewhere to go.".to_owned(),
        _ => "That could not be done.".to_owned(),
    })
}

fn notice(q: &ShowQuery) -> Option<String> {
    Some(match q.done.as_deref()? {
        "domain_added" => "Domain added. Publish the TXT record below at your DNS provider, then choose Verify. We also check again in the background.".to_owned(),
        "verified" => "Domain verified.".to_owned(),
        "not_yet" => "The TXT record was not found yet. DNS changes can take a while to appear; we keep checking in the background.".to_owned(),
        "configured" => "Identity provider settings saved.".to_owned(),
        "fetched" => "Metadata fetched and saved. We fetch it again every day, so a new signing certificate is picked up without you doing anything.".to_owned(),
        "enabled" => "Single Sign-On is enabled.".to_owned(),
        "policy" => "Sign-in policy saved.".to_owned(),
        "links_sent" => match q.sent.unwrap_or(0) {
            0 => "No setup link could be sent. See the IT contacts for addresses the mail server refused.".to_owned(),
            1 => "Setup link sent to 1 IT contact.".to_owned(),
            n => format!("Setup links sent to {n} IT contacts."),
        },
        _ => return None,
    })
}

/// The section a notice belongs to.
fn notice_place(done: &str) -> &'static str {
    match done {
        "domain_added" | "verified" | "not_yet" => "domains",
        "configured" | "fetched" => "configuration",
        "links_sent" => "setup-links",
        "enabled" => "finish",
        "policy" | "policy_refused" | "not_configured" => "sign-in",
        _ => "top",
    }
}

fn page_path(org: &OrgId) -> String {
    format!("/orgs/{org}/settings/sso")
}

/// Since when Single Sign-On is on: the newest `sso.enabled` among the last 200 events.
pub(crate) async fn enabled_since(state: &AppState, actor: &Actor, org: &OrgId) -> Option<When> {
    let events = state
        .app
        .history()
        .audit_log(actor, org, None, Some(smartcore_app::MAX_AUDIT_PAGE))
        .await
        .ok()?;
    let at = events
        .iter()
        .find(|e| e.action == AuditAction::SsoEnabled)?;
    let at =
        time::OffsetDateTime::parse(&at.at, &time::format_description::well_known::Rfc3339).ok()?;
    Some(when(Timestamp::from_datetime(at), state.app.now()))
}

async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(Id(org)): Path<Id<OrgId>>,
    Query(q): Query<ShowQuery>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let flash = flash::take(&headers, &page_path(&org));
    let mut entered = Entered::default();
    if let Some(f) = &flash {
        match f.place.as_str() {
            "domains" => entered.verify_error = f.error.clone(),
            "finish" => entered.enable_error = f.error.clone(),
            "setup-links" => entered.links_error = f.error.clone(),
            "domain" => {
                entered.domain = f.field("domain");
                entered.domain_error = f.error.clone();
            }
            "metadata-url" => {
                entered.metadata_url = f.field("metadata_url");
                entered.url_error = f.error.clone();
            }
            _ => {}
        }
    }
    let mut page = load(&state, &actor, &org, notice(&q), entered).await?;
    page.notice_place = q.done.as_deref().map_or("top", notice_place);
    page.sign_in_error = sign_in_error(&q);
    if page.status == SsoStatus::Enabled {
        page.enabled_since = enabled_since(&state, &actor, &org).await;
    }
    Ok(flash::shown(render(StatusCode::OK, &page), &state, &flash))
}

/// Back to the page, scrolled to the notice in the section of what was done.
fn back(org: &OrgId, done: &str) -> Response {
    Redirect::to(&format!("/orgs/{org}/settings/sso?done={done}#notice")).into_response()
}

/// Back to the page with a one-field form given back: the error beside the field (whose id is
/// `{place}-error`), what was typed kept.
fn given_back(
    headers: &HeaderMap,
    state: &AppState,
    org: &OrgId,
    place: &str,
    (name, value): (&str, &str),
    error: String,
) -> Response {
    let fields = [(name.to_owned(), flash::kept(value))].into();
    let anchor = format!("{place}-error");
    back_with_error(headers, state, org, (place, &anchor), error, fields)
}

/// Back to the page with a refusal shown once beside the control that caused it.
fn refused(
    headers: &HeaderMap,
    state: &AppState,
    org: &OrgId,
    place: &str,
    anchor: &str,
    error: String,
) -> Response {
    back_with_error(
        headers,
        state,
        org,
        (place, anchor),
        error,
        Default::default(),
    )
}

/// Back to the page at `#anchor` with `error` shown once in `place`, and `fields` as typed.
fn back_with_error(
    headers: &HeaderMap,
    state: &AppState,
    org: &OrgId,
    (place, anchor): (&str, &str),
    error: String,
    fields: std::collections::BTreeMap<String, String>,
) -> Response {
    let path = page_path(org);
    flash::redirect(
        headers,
        state,
        &format!("{path}#{anchor}"),
        Flash {
            path,
            place: place.to_owned(),
            error: Some(error),
            fields,
            ..Flash::default()
        },
    )
}

/// The page again with `entered` (its error set), answered with the error's status.
async fn again(
    state: &AppState,
    actor: &Actor,
    org: &OrgId,
    error: &AppError,
    entered: Entered,
) -> Result<Response, PageError> {
    let page = load(state, actor, org, None, entered).await?;
    Ok(render(status_of(error), &page))
}
