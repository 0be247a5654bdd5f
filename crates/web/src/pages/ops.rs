//! The operations team's pages ("the Smart Core Connect team"): identity-side removals waiting
//! for them, with "Mark completed"; contacts whose sync failed for good; and, on request, the
//! drift between our records and the identity side. Staff only.

use crate::AppState;
use crate::error::{PageError, public_message};
use crate::extract::Id;
use crate::pages::{flash, page_actor, show};
use crate::render::render;
use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use smartcore_app::{Actor, AppError, Drift, Operator, RemovalRequest, SyncFailure};
use smartcore_domain::RemovalId;
use smartcore_domain::Timestamp;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ops", get(ops_page))
        .route("/ops/removals/{id}/complete", post(complete))
}

#[derive(Template)]
#[template(path = "ops.html")]
struct OpsPage {
    removals: Vec<RemovalRequest>,
    failures: Vec<SyncFailure>,
    drift: Option<Drift>,
    notice: Option<&'static str>,
    error: Option<String>,
}

impl OpsPage {
    /// A time recorded as RFC 3339, shown as every page shows times.
    fn at(&self, rfc3339: &str) -> String {
        let now = Timestamp::from_datetime(time::OffsetDateTime::now_utc());
        time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
            .map(|t| show::when(Timestamp::from_datetime(t), now).to_string())
            .unwrap_or_else(|_| rfc3339.to_owned())
    }
}

#[derive(Deserialize, Default)]
struct OpsQuery {
    drift: Option<String>,
    completed: Option<String>,
}

async fn load(state: &AppState, actor: &Actor, with_drift: bool) -> Result<OpsPage, PageError> {
    let who = Operator::Staff(actor);
    Ok(OpsPage {
        removals: state.app.operations().pending_removals(who).await?,
        failures: state.app.operations().sync_failures(who).await?,
        drift: if with_drift {
            Some(state.app.operations().drift(who).await?)
        } else {
            None
        },
        notice: None,
        error: None,
    })
}

async fn ops_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<OpsQuery>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let flash = flash::take(&headers, "/ops");
    let mut page = load(&state, &actor, query.drift.is_some()).await?;
    if query.completed.is_some() {
        page.notice = Some("Removal completed and recorded.");
    }
    page.error = flash.as_ref().and_then(|f| f.error.clone());
    Ok(flash::shown(render(StatusCode::OK, &page), &state, &flash))
}

#[derive(Deserialize)]
struct CompleteForm {
    /// "1": the team removed it on the identity side by hand; otherwise the connector deletes.
    #[serde(default)]
    by_hand: String,
}

async fn complete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(Id(id)): Path<Id<RemovalId>>,
    Form(form): Form<CompleteForm>,
) -> Result<Response, PageError> {
    let actor = page_actor(&headers, &state).await?;
    let by_hand = form.by_hand == "1";
    match state
        .app
        .operations()
        .complete_removal(Operator::Staff(&actor), &id, by_hand)
        .await
    {
        Ok(_) => Ok(Redirect::to("/ops?completed=1#notice").into_response()),
        // Said once at the top of the queue; nothing is left at the POST.
        Err(e @ (AppError::Conflict { .. } | AppError::Invalid { .. })) => Ok(flash::redirect(
            &headers,
            &state,
            "/ops#page-error",
            flash::Flash {
                path: "/ops".to_owned(),
                place: "top".to_owned(),
                error: Some(public_message(&e)),
                ..Default::default()
            },
        )),
        Err(e) => Err(e.into()),
    }
}
