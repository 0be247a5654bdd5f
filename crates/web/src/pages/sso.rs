//! Settings → Organisation → Single Sign-On: the domains to verify (with the TXT record to
//! publish), the identity provider's SAML settings, setup links for the IT contacts and
//! finishing setup (R8, D7). Every form posts and redirects back with a notice, or shows the
//! page again with the error next to the form and what was typed kept.

use crate::AppState;
use crate::error::{PageError, public_message, status_of};
use crate::pages::{org_context, page_actor, show};
use crate::render::render;
use askama::Template;
use axum::Router;
use axum::extract::{Form, FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use smartcore_app::ErrorCode;
use smartcore_app::{Actor, AppError, DomainView, OrgSummary, SsoInput};
use smartcore_domain::Timestamp;
use smartcore_domain::{DomainStatus, SsoStatus};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/orgs/{org}/settings/sso", get(show))
        .route("/orgs/{org}/settings/sso/domains", post(add_domain))
        .route(
            "/orgs/{org}/settings/sso/domains/{domain}/verify",
            post(verify_domain),
        )
        .route(
            "/orgs/{org}/settings/sso/configuration",
            // A 1 MiB document, url-encoded, can take three times its size.
            post(configure).layer(axum::extract::DefaultBodyLimit::max(
                CONFIGURATION_FORM_LIMIT,
            )),
        )
        .route(
            "/orgs/{org}/settings/sso/metadata-url",
            post(configure_from_url),
        )
        .route(
            "/orgs/{org}/settings/sso/setup-links",
            post(send_setup_links),
        )
        .route("/orgs/{org}/settings/sso/enable", post(enable))
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
    result: String,
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

use crate::pages::flash::{self, Flash};
use crate::pages::show::{NamePart, When, fingerprint_groups, subject_parts, subject_short, when};

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

async fn load(
    state: &AppState,
    actor: &Actor,
    org: &str,
    notice: Option<String>,
    entered: Entered,
) -> Result<SsoPage, PageError> {
    let (current, orgs) = org_context(state, actor, org).await?;
    let domains = state.app.setup().domains(actor, org).await?;
    let sso = state.app.setup().sso(actor, org).await?;
    let contacts = state.app.contacts().list_contacts(actor, org).await?;
    let now = state.app.now();
    let soon = now.plus_millis(60 * 86_400_000).unix_millis();
    let overview = state
        .app
        .sso_sign_in()
        .sso_sign_in_overview(actor, org)
        .await?;
    let mut entered = entered;
    let source = sso.metadata_url.clone().map(|m| SourceRow {
        last_good: when(m.last_good_at, now),
        next_fetch: when(m.next_fetch_at, now),
        failing: m
            .failing_since
            .map(|since| (when(since, now), m.last_error.clone().unwrap_or_default())),
        url: m.url,
    });
    if entered.metadata_url.is_empty() && entered.url_error.is_none() {
        entered.metadata_url = sso.metadata_url.map(|m| m.url).unwrap_or_default();
    }
    if entered.entity_id.is_empty() && entered.sso_url.is_empty() {
        entered.entity_id = sso.idp_entity_id.clone().unwrap_or_default();
        entered.sso_url = sso.idp_sso_url.clone().unwrap_or_default();
    }
    Ok(SsoPage {
        org: current,
        orgs,
        domains,
        configured: sso.idp_entity_id.is_some(),
        status: sso.status,
        certificates: sso
            .certificates
            .into_iter()
            .map(|c| CertificateRow {
                expiring: c.not_after <= soon,
                expired: c.not_after <= now.unix_millis(),
                usage: match overview.certificate_use.get(&c.fingerprint_sha256) {
                    Some(u) if u.sign_ins > 0 => format!(
                        "Still in use: {} {} in 7 days, last on {}",
                        u.sign_ins,
                        if u.sign_ins == 1 {
                            "sign-in"
                        } else {
                            "sign-ins"
                        },
                        u.last_at.map(show::date_time_text).unwrap_or_default()
                    ),
                    _ => "No sign-in verified with it in 7 days".to_owned(),
                },
                not_after: when(Timestamp::from_unix_millis(c.not_after), now),
                name: subject_short(&c.subject),
                subject: subject_parts(&c.subject),
                fingerprint_groups: fingerprint_groups(&c.fingerprint_sha256),
                fingerprint: c.fingerprint_sha256,
            })
            .collect(),
        contact_count: contacts.contacts.len(),
        notice,
        notice_place: "top",
        enabled_since: None,
        entered,
        source,
        upcoming: crate::pages::trust::upcoming_rows(
            state.app.trust().upcoming_reminders(actor, org).await?,
            now,
        ),
        sign_in: SignInSection {
            attempts: overview
                .attempts
                .iter()
                .map(|a| AttemptRow {
                    at: when(a.at, now),
                    result_label: match a.result.as_str() {
                        "signed_in" => "Signed in",
                        "tested" => "Test passed",
                        _ => "Refused",
                    },
                    result: a.result.to_string(),
                    who: a
                        .email
                        .clone()
                        .or_else(|| a.name_id.clone())
                        .unwrap_or_else(|| "unknown".to_owned()),
                    reason: a.reason_in_words().map(str::to_owned),
                    code: a.reason.clone(),
                })
                .collect(),
            sp_entity_id: overview.sp_entity_id,
            acs_url: overview.acs_url,
            metadata_url: overview.metadata_url,
            login_url: overview.login_url,
            policy: overview.policy,
            sha1_in_use: overview.sha1_in_use,
        },
        sign_in_error: None,
    })
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

fn page_path(org: &str) -> String {
    format!("/orgs/{org}/settings/sso")
}

/// Since when Single Sign-On is on: the newest `sso.enabled` among the last 200 events.
pub(crate) async fn enabled_since(state: &AppState, actor: &Actor, org: &str) -> Option<When> {
    let events = state
        .app
        .history()
        .audit_log(actor, org, None, Some(smartcore_app::MAX_AUDIT_PAGE))
        .await
        .ok()?;
    let at = events.iter().find(|e| e.action == "sso.enabled")?;
    let at =
        time::OffsetDateTime::parse(&at.at, &time::format_description::well_known::Rfc3339).ok()?;
    Some(when(Timestamp::from_datetime(at), state.app.now()))
}

async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
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
fn back(org: &str, done: &str) -> Response {
    Redirect::to(&format!("/orgs/{org}/settings/sso?done={done}#notice")).into_response()
}

/// Back to the page with a one-field form given back: the error beside the field (whose id is
/// `{place}-error`), what was typed kept.
fn given_back(
    headers: &HeaderMap,
    state: &AppState,
    org: &str,
    place: &str,
    (name, value): (&str, &str),
    error: String,
) -> Response {
    let path = page_path(org);
    flash::redirect(
        headers,
        state,
        &format!("{path}#{place}-error"),
        Flash {
            path,
            place: place.to_owned(),
            error: Some(error),
            fields: [(name.to_owned(), flash::kept(value))].into(),
            ..Flash::default()
        },
    )
}

/// Back to the page with a refusal shown once beside the control that caused it.
fn refused(
    headers: &HeaderMap,
    state: &AppState,
    org: &str,
    place: &str,
    anchor: &str,
    error: String,
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
            ..Flash::default()
        },
    )
}

/// The page again with `entered` (its error set), answered with the error's status.
async fn again(
    state: &AppState,
    actor: &Actor,
    org: &str,
    error: &AppError,
    entered: Entered,
) -> Result<Response, PageError> {
    let page = load(state, actor, org, None, entered).await?;
    Ok(render(status_of(error), &page))
}

#[derive(Deserialize)]
struct DomainForm {
    domain: String,
}

async fn add_domain(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    Form(form): Form<DomainForm>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    match state
        .app
        .setup()
        .add_domain(&actor, &org, &form.domain)
        .await
    {
        Ok(_) => Ok(back(&org, "domain_added")),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => Ok(given_back(
            &headers,
            &state,
            &org,
            "domain",
            ("domain", &form.domain),
            public_message(&e),
        )),
        Err(e) => Err(e.into()),
    }
}

async fn verify_domain(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, domain)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    match state.app.setup().verify_domain(&actor, &org, &domain).await {
        Ok(checked) if checked.status == DomainStatus::Verified => Ok(back(&org, "verified")),
        Ok(_) => Ok(back(&org, "not_yet")),
        // Not found yet, a different value, or verified by another organisation: say so.
        Err(e @ AppError::Conflict { .. }) => Ok(refused(
            &headers,
            &state,
            &org,
            "domains",
            "verify-error",
            public_message(&e),
        )),
        Err(e) => Err(e.into()),
    }
}

/// The largest identity-provider form accepted: metadata of 1 MiB, url-encoded or uploaded.
const CONFIGURATION_FORM_LIMIT: usize = 4 * 1024 * 1024;

#[derive(Deserialize, Default)]
struct ConfigForm {
    #[serde(default)]
    metadata_xml: String,
    #[serde(default)]
    idp_entity_id: String,
    #[serde(default)]
    idp_sso_url: String,
    #[serde(default)]
    idp_certificate_pem: String,
}

/// Reads the identity-provider form: url-encoded (pasted metadata or fields), or multipart when
/// the metadata comes as a file (`metadata_file`, which wins over pasted text). Works without
/// JavaScript either way.
async fn read_config_form(request: Request) -> Result<ConfigForm, PageError> {
    let unreadable = |why: String| {
        PageError(AppError::invalid(
            ErrorCode::InvalidRequest,
            "metadata_file",
            format!("The form could not be read: {why}"),
        ))
    };
    let multipart = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !multipart {
        let Form(form) = Form::<ConfigForm>::from_request(request, &())
            .await
            .map_err(|e| unreadable(e.body_text()))?;
        return Ok(form);
    }
    let mut parts = Multipart::from_request(request, &())
        .await
        .map_err(|e| unreadable(e.body_text()))?;
    let mut form = ConfigForm::default();
    let mut file = String::new();
    while let Some(field) = parts
        .next_field()
        .await
        .map_err(|e| unreadable(e.body_text()))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = field.bytes().await.map_err(|e| unreadable(e.body_text()))?;
        // The document's own bytes; a BOM or a broken encoding is reported by the parser.
        let text = String::from_utf8_lossy(&bytes).into_owned();
        match name.as_str() {
            "metadata_file" => file = text,
            "metadata_xml" => form.metadata_xml = text,
            "idp_entity_id" => form.idp_entity_id = text,
            "idp_sso_url" => form.idp_sso_url = text,
            "idp_certificate_pem" => form.idp_certificate_pem = text,
            _ => {}
        }
    }
    if !file.trim().is_empty() {
        form.metadata_xml = file;
    }
    Ok(form)
}

async fn configure(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    request: Request,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let form = read_config_form(request).await?;
    // Metadata, when given, wins: it carries every field and certificate at once.
    let input = if form.metadata_xml.trim().is_empty() {
        SsoInput::Fields {
            entity_id: form.idp_entity_id.clone(),
            sso_url: form.idp_sso_url.clone(),
            certificate_pem: form.idp_certificate_pem.clone(),
        }
    } else {
        SsoInput::Metadata {
            xml: form.metadata_xml.clone(),
        }
    };
    match state.app.setup().configure_sso(&actor, &org, input).await {
        Ok(_) => Ok(back(&org, "configured")),
        Err(e @ AppError::Invalid { .. }) => {
            let entered = Entered {
                entity_id: form.idp_entity_id,
                sso_url: form.idp_sso_url,
                certificate_pem: form.idp_certificate_pem,
                metadata_xml: form.metadata_xml,
                config_error: Some(public_message(&e)),
                ..Entered::default()
            };
            again(&state, &actor, &org, &e, entered).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct UrlForm {
    #[serde(default)]
    metadata_url: String,
}

/// The metadata URL form: fetched now; on failure the page again with why, the URL kept.
async fn configure_from_url(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    Form(form): Form<UrlForm>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let input = SsoInput::Url {
        url: form.metadata_url.clone(),
    };
    match state.app.setup().configure_sso(&actor, &org, input).await {
        Ok(_) => Ok(back(&org, "fetched")),
        Err(e @ AppError::Invalid { .. }) => Ok(given_back(
            &headers,
            &state,
            &org,
            "metadata-url",
            ("metadata_url", &form.metadata_url),
            public_message(&e),
        )),
        Err(e) => Err(e.into()),
    }
}

async fn send_setup_links(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let sent = match state.app.setup().send_setup_links(&actor, &org).await {
        Ok(sent) => sent,
        Err(AppError::RateLimited { retry_after_secs }) => {
            return Ok(refused(
                &headers,
                &state,
                &org,
                "setup-links",
                "links-error",
                format!(
                    "Setup links have been sent {} times in the last hour, the most for one organisation. You can send them again in {}.",
                    smartcore_app::SETUP_LINK_SENDS,
                    smartcore_app::wait_in_words(retry_after_secs)
                ),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Redirect::to(&format!(
        "/orgs/{org}/settings/sso?done=links_sent&sent={sent}#notice"
    ))
    .into_response())
}

async fn enable(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    match state.app.setup().enable_sso(&actor, &org).await {
        Ok(_) => Ok(back(&org, "enabled")),
        Err(e @ AppError::Conflict { .. }) => Ok(refused(
            &headers,
            &state,
            &org,
            "finish",
            "enable-error",
            public_message(&e),
        )),
        Err(e) => Err(e.into()),
    }
}
