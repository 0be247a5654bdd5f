//! The identity provider's settings: its metadata (uploaded or pasted), the fields typed in
//! by hand, or the metadata URL fetched now and kept current.

use super::{Entered, again, back, given_back};
use crate::AppState;
use crate::error::{PageError, public_message};
use crate::extract::Id;
use crate::pages::page_actor;
use axum::Router;
use axum::extract::{Form, FromRequest, Multipart, Path, Request, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use serde::Deserialize;
use smartcore_app::{AppError, ErrorCode, SsoInput};
use smartcore_domain::OrgId;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
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
    Path(Id(org)): Path<Id<OrgId>>,
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
    Path(Id(org)): Path<Id<OrgId>>,
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
