//! The Single Sign-On page as it stands: the domains, the identity provider's settings and
//! certificates (with their recent use), the metadata URL's fetches, the reminders to come and
//! the "Signing in" section, put into words for the template.

use super::{AttemptRow, CertificateRow, Entered, SignInSection, SourceRow, SsoPage};
use crate::AppState;
use crate::error::PageError;
use crate::pages::org_context;
use crate::pages::show::{self, fingerprint_groups, subject_parts, subject_short, when};
use smartcore_app::{
    Actor, CertificateView, MetadataSourceView, SsoAttempt, SsoSignInOverview, SsoView,
};
use smartcore_domain::{OrgId, SsoAttemptResult, Timestamp};

/// The page for `org`, with `notice` at the top and the forms as `entered` (what is not
/// entered shows the current settings).
pub(super) async fn load(
    state: &AppState,
    actor: &Actor,
    org: &OrgId,
    notice: Option<String>,
    entered: Entered,
) -> Result<SsoPage, PageError> {
    let (current, orgs) = org_context(state, actor, org).await?;
    let domains = state.app.setup().domains(actor, org).await?;
    let sso = state.app.setup().sso(actor, org).await?;
    let contacts = state.app.contacts().list_contacts(actor, org).await?;
    let now = state.app.now();
    let overview = state
        .app
        .sso_sign_in()
        .sso_sign_in_overview(actor, org)
        .await?;
    let source = sso.metadata_url.clone().map(|m| source_row(m, now));
    let entered = with_settings(entered, &sso);
    Ok(SsoPage {
        org: current,
        orgs,
        domains,
        configured: sso.idp_entity_id.is_some(),
        status: sso.status,
        certificates: sso
            .certificates
            .into_iter()
            .map(|c| certificate_row(c, &overview, now))
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
        sign_in: sign_in_section(overview, now),
        sign_in_error: None,
    })
}

/// The forms as entered; where nothing was, the settings as they are.
fn with_settings(mut entered: Entered, sso: &SsoView) -> Entered {
    if entered.metadata_url.is_empty() && entered.url_error.is_none() {
        entered.metadata_url = sso
            .metadata_url
            .as_ref()
            .map(|m| m.url.clone())
            .unwrap_or_default();
    }
    if entered.entity_id.is_empty() && entered.sso_url.is_empty() {
        entered.entity_id = sso.idp_entity_id.clone().unwrap_or_default();
        entered.sso_url = sso.idp_sso_url.clone().unwrap_or_default();
    }
    entered
}

fn source_row(m: MetadataSourceView, now: Timestamp) -> SourceRow {
    SourceRow {
        last_good: when(m.last_good_at, now),
        next_fetch: when(m.next_fetch_at, now),
        failing: m
            .failing_since
            .map(|since| (when(since, now), m.last_error.clone().unwrap_or_default())),
        url: m.url,
    }
}

fn certificate_row(
    c: CertificateView,
    overview: &SsoSignInOverview,
    now: Timestamp,
) -> CertificateRow {
    let soon = now.plus_millis(60 * 86_400_000).unix_millis();
    CertificateRow {
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
    }
}

fn sign_in_section(overview: SsoSignInOverview, now: Timestamp) -> SignInSection {
    SignInSection {
        attempts: overview
            .attempts
            .iter()
            .map(|a| attempt_row(a, now))
            .collect(),
        sp_entity_id: overview.sp_entity_id,
        acs_url: overview.acs_url,
        metadata_url: overview.metadata_url,
        login_url: overview.login_url,
        policy: overview.policy,
        sha1_in_use: overview.sha1_in_use,
    }
}

fn attempt_row(a: &SsoAttempt, now: Timestamp) -> AttemptRow {
    AttemptRow {
        at: when(a.at, now),
        result_label: match a.result {
            SsoAttemptResult::SignedIn => "Signed in",
            SsoAttemptResult::Tested => "Test passed",
            SsoAttemptResult::Refused => "Refused",
        },
        result: a.result,
        who: a
            .email
            .clone()
            .or_else(|| a.name_id.clone())
            .unwrap_or_else(|| "unknown".to_owned()),
        reason: a.reason_in_words().map(str::to_owned),
        code: a.reason.clone(),
    }
}
