//! `/account`: the signed-in user's own API tokens: create one (its secret shown once, through
//! a one-time flash on the page the form redirects to: a reload shows it no more and creates
//! nothing), see when each was used, revoke. Plain forms, no JavaScript.

use crate::AppState;
use crate::error::{PageError, public_message};
use crate::pages::flash::{self, Flash};
use crate::pages::page_actor;
use crate::pages::show::{self, When, when};
use crate::render::render;
use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use smartcore_app::ErrorCode;
use smartcore_app::{Actor, AppError, MAX_TOKEN_DAYS, MAX_TOKENS_PER_USER};
use smartcore_domain::{AuditAction, AuditActor, TokenId};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/account", get(show))
        .route("/account/tokens", post(create))
        .route("/account/tokens/{id}/revoke", post(revoke))
        .route("/account/tokens/revoke-all", post(revoke_all))
}

struct TokenRow {
    id: String,
    name: String,
    created: When,
    last_used: Option<When>,
    expires: Option<When>,
    expired: bool,
}

struct EventRow {
    at: String,
    what: String,
    by: String,
}

/// The words for an account event on the page.
fn event_words(e: &smartcore_app::AuditEvent) -> String {
    let name = e.details["name"].as_str().unwrap_or("");
    match e.action {
        AuditAction::ApiTokenCreated => format!("API token \"{name}\" created"),
        AuditAction::ApiTokenRevoked => format!("API token \"{name}\" revoked"),
        AuditAction::ApiTokenRevokedAll => match e.details["count"].as_u64().unwrap_or(0) {
            1 => "All API tokens revoked (1 token)".to_owned(),
            n => format!("All API tokens revoked ({n} tokens)"),
        },
        AuditAction::UserDisabled => "Account disabled".to_owned(),
        AuditAction::UserEnabled => "Account enabled again".to_owned(),
        other => other.as_str().to_owned(),
    }
}

/// How many of the account's latest events the page shows.
const EVENTS_SHOWN: i64 = 20;

struct Created {
    token: String,
    expires: Option<String>,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    email: String,
    tokens: Vec<TokenRow>,
    limit: i64,
    max_days: u32,
    at_limit: bool,
    created: Option<Created>,
    notice: Option<&'static str>,
    error: Option<String>,
    name: String,
    days: String,
    default_days: u32,
    events: Vec<EventRow>,
}

async fn load(state: &AppState, actor: &Actor) -> Result<AccountPage, PageError> {
    let user = state.app.accounts().user(&actor.user_id).await?;
    let now = state.app.now();
    let tokens: Vec<TokenRow> = state
        .app
        .accounts()
        .tokens(actor)
        .await?
        .into_iter()
        .map(|t| TokenRow {
            expired: t.expired(now),
            created: when(t.created_at, now),
            last_used: t.last_used_at.map(|t| when(t, now)),
            expires: t.expires_at.map(|t| when(t, now)),
            id: t.id,
            name: t.name,
        })
        .collect();
    let events = state
        .app
        .accounts()
        .account_events(actor, None, Some(EVENTS_SHOWN))
        .await?
        .into_iter()
        .map(|e| EventRow {
            what: event_words(&e),
            at: time::OffsetDateTime::parse(&e.at, &time::format_description::well_known::Rfc3339)
                .map_or_else(
                    |_| e.at.clone(),
                    |t| show::date_time_text(smartcore_domain::Timestamp::from_datetime(t)),
                ),
            by: match &e.actor {
                AuditActor::Cli => "the command line".to_owned(),
                AuditActor::User(id) if *id == actor.user_id => "you".to_owned(),
                _ => e.actor_label(),
            },
        })
        .collect();
    Ok(AccountPage {
        default_days: state.app.token_default_days(),
        events,
        email: user.email,
        at_limit: tokens.len() as i64 >= MAX_TOKENS_PER_USER,
        tokens,
        limit: MAX_TOKENS_PER_USER,
        max_days: MAX_TOKEN_DAYS,
        created: None,
        notice: None,
        error: None,
        name: String::new(),
        days: String::new(),
    })
}

#[derive(Deserialize, Default)]
struct ShowQuery {
    done: Option<String>,
}

async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ShowQuery>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let flash = flash::take(&headers, "/account");
    let mut page = load(&state, &actor).await?;
    page.notice = match q.done.as_deref() {
        Some("revoked") => Some("Token revoked. It no longer works."),
        Some("revoked_all") => {
            Some("All your API tokens have been revoked. None of them works any more.")
        }
        _ => None,
    };
    if let Some(f) = flash.as_ref().filter(|f| f.place == "create-token") {
        page.error = f.error.clone();
        page.name = f.field("name");
        page.days = f.field("days");
    }
    if let Some(f) = &flash
        && let Some(token) = &f.secret
    {
        page.created = Some(Created {
            token: token.clone(),
            expires: f.secret_expires.clone(),
        });
        page.notice = Some("Token created.");
    }
    Ok(flash::shown(render(StatusCode::OK, &page), &state, &flash))
}

#[derive(Deserialize)]
struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    expires_in_days: String,
}

async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CreateForm>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let days = form.expires_in_days.trim();
    let parsed = if days.is_empty() {
        Ok(None)
    } else {
        days.parse::<u32>().map(Some).map_err(|_| {
            AppError::invalid(
                ErrorCode::InvalidExpiry,
                "expires_in_days",
                format!(
                    "Enter a whole number of days from 1 to {MAX_TOKEN_DAYS}, or leave it empty."
                ),
            )
        })
    };
    let result = match parsed {
        Ok(days) => {
            state
                .app
                .accounts()
                .create_token(&actor, &form.name, days)
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        // Shown once on the page this redirects to; a reload there creates nothing.
        Ok(created) => Ok(flash::redirect(
            &headers,
            &state,
            "/account#new-token",
            Flash {
                path: "/account".to_owned(),
                place: "new-token".to_owned(),
                secret: Some(created.token),
                secret_expires: created.info.expires_at.map(show::date_time_text),
                ..Flash::default()
            },
        )),
        // Back to the page: the error beside the form, what was typed kept.
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => Ok(flash::redirect(
            &headers,
            &state,
            "/account#token-error",
            Flash {
                path: "/account".to_owned(),
                place: "create-token".to_owned(),
                error: Some(public_message(&e)),
                fields: [
                    ("name".to_owned(), flash::kept(&form.name)),
                    ("days".to_owned(), flash::kept(days)),
                ]
                .into(),
                ..Flash::default()
            },
        )),
        Err(e) => Err(e.into()),
    }
}

async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = TokenId::parse_or_unmatched(id.trim());
    let actor = page_actor(&headers, &state).await?;
    state.app.accounts().revoke_token(&actor, &id).await?;
    Ok(Redirect::to("/account?done=revoked#notice").into_response())
}

async fn revoke_all(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    state.app.accounts().revoke_all_tokens(&actor).await?;
    Ok(Redirect::to("/account?done=revoked_all").into_response())
}
