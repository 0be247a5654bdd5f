//! `/api/v1/tokens`: the caller's own API tokens: create (the secret shown once), list,
//! revoke.

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiActor, ApiJson};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use serde::{Deserialize, Serialize};
use smartcore_app::ApiToken;
use smartcore_domain::TokenId;
use utoipa::ToSchema;

/// An API token, without its secret.
#[derive(Serialize, ToSchema)]
pub struct Token {
    #[schema(example = "tok_0192f3a4b5c67d8e9f0a1b2c3d4e5f60")]
    id: String,
    #[schema(example = "CI deploy")]
    name: String,
    created_at: String,
    /// Absent: the token never expires.
    expires_at: Option<String>,
    /// Updated at most once a minute.
    last_used_at: Option<String>,
    /// True once `expires_at` has passed: the token is refused.
    expired: bool,
}

impl Token {
    fn of(t: ApiToken, now: smartcore_domain::Timestamp) -> Self {
        Token {
            expired: t.expired(now),
            id: t.id,
            name: t.name,
            created_at: t.created_at.to_rfc3339(),
            expires_at: t.expires_at.map(|e| e.to_rfc3339()),
            last_used_at: t.last_used_at.map(|e| e.to_rfc3339()),
        }
    }
}

/// A token just created: `token` is its secret, shown this once (only its SHA-256 is kept).
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    info: Token,
    /// Send as `Authorization: Bearer <token>`.
    #[schema(example = "sct_3q2-7wEYbZ0mKk0dV6Q1c0Jt2yq2xg9dM1v0Y4a8s9A")]
    token: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenList {
    /// Oldest first.
    tokens: Vec<Token>,
    /// The most tokens one person can have.
    #[schema(example = 50)]
    limit: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What the token is for, 1–100 characters.
    #[schema(example = "CI deploy")]
    name: String,
    /// 1–3650; left out, the service's default (90 days unless configured otherwise).
    #[schema(example = 90)]
    expires_in_days: Option<i64>,
}

/// Create an API token for yourself. Its secret is in `token`, shown this once. Only with the
/// browser session: a request made with an API token is refused (403 `session_required`), so
/// that no token can make tokens that outlive it.
#[utoipa::path(post, path = "/api/v1/tokens", operation_id = "createApiToken", tag = "API tokens",
    request_body = NewToken,
    responses(
        (status = 201, body = CreatedToken),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "invalid_request"),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "unauthenticated"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "session_required: asked with an API token; tokens are created only when signed in"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "token_limit_reached (50 tokens)"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "invalid_token_name, invalid_expiry, invalid_request"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<NewToken>,
) -> Result<
    (
        StatusCode,
        [(header::HeaderName, String); 1],
        Json<CreatedToken>,
    ),
    ApiError,
> {
    // Out of range (negative, zero, huge) is the use case's `invalid_expiry`.
    let days = body.expires_in_days.map(|d| u32::try_from(d).unwrap_or(0));
    let created = state
        .app
        .accounts()
        .create_token(&actor, &body.name, days)
        .await?;
    let info = Token::of(created.info, state.app.now());
    let location = format!("/api/v1/tokens/{}", info.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(CreatedToken {
            info,
            token: created.token,
        }),
    ))
}

/// Your API tokens, oldest first (never their secrets).
#[utoipa::path(get, path = "/api/v1/tokens", operation_id = "listApiTokens", tag = "API tokens",
    responses(
        (status = 200, body = TokenList),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "unauthenticated"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<TokenList>, ApiError> {
    let now = state.app.now();
    let tokens = state.app.accounts().tokens(&actor).await?;
    Ok(Json(TokenList {
        tokens: tokens.into_iter().map(|t| Token::of(t, now)).collect(),
        limit: smartcore_app::MAX_TOKENS_PER_USER,
    }))
}

/// Revoke one of your API tokens: refused at once by this instance, within 2 seconds by every
/// other.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", operation_id = "revokeApiToken", tag = "API tokens",
    params(("id" = String, Path, description = "Token id (tok_…)")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "unauthenticated"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "not_found: no such token of yours"),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = TokenId::parse_or_unmatched(id.trim());
    state.app.accounts().revoke_token(&actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct RevokedAll {
    /// How many tokens were revoked.
    #[schema(example = 3)]
    revoked: usize,
}

/// Revoke all your API tokens at once (the one making the request too, if it is one): refused
/// at once by this instance, within 2 seconds by every other. Recorded as
/// `api_token.revoked_all`.
#[utoipa::path(post, path = "/api/v1/tokens/revoke-all", operation_id = "revokeAllApiTokens", tag = "API tokens",
    responses(
        (status = 200, body = RevokedAll),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "unauthenticated"),
    ))]
pub async fn revoke_all(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<RevokedAll>, ApiError> {
    let revoked = state.app.accounts().revoke_all_tokens(&actor).await?;
    Ok(Json(RevokedAll { revoked }))
}
