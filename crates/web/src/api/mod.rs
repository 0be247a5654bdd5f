//! The JSON API under `/api/v1`. Every route is registered through utoipa-axum's
//! `OpenApiRouter`, so the OpenAPI document is generated from the handlers themselves and
//! cannot drift from them.

mod answers;
mod audit;
mod contacts;
mod document;
mod invitations;
mod members;
mod ops;
mod orgs;
mod overview;
mod setup;
mod sso_sign_in;
mod tokens;
mod trust;

use crate::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The largest JSON body accepted.
pub const MAX_BODY: usize = 64 * 1024;
/// The largest body of `PUT /sso`: identity providers' metadata documents run to 300 KB and
/// more (AD FS, Entra ID) and may be 1 MiB (checked by
/// the parser); JSON escaping can grow a document, hence twice that.
pub const MAX_METADATA_BODY: usize = 2 * 1024 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Smart Core Connect sign-on settings",
        description = "IT contacts, domains, SSO configuration and the operations team's queue. \
                       Errors are application/problem+json with a stable `code`.",
    ),
    modifiers(&BearerAuth),
    components(schemas(crate::error::Problem)),
    security(("bearer" = [])),
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(orgs::list))
        .routes(routes!(contacts::list, contacts::add))
        .routes(routes!(contacts::remove))
        .routes(routes!(trust::send_one))
        .routes(routes!(trust::send_all))
        .routes(routes!(trust::keep))
        .routes(routes!(trust::upcoming))
        .routes(routes!(members::search))
        .routes(routes!(members::set_role, members::remove))
        .routes(routes!(invitations::create, invitations::list))
        .routes(routes!(invitations::revoke))
        .routes(routes!(invitations::resend))
        .routes(routes!(overview::show))
        .routes(routes!(audit::list))
        .routes(routes!(audit::mail_deliveries))
        .routes(routes!(audit::mine))
        .routes(routes!(setup::add_domain, setup::list_domains))
        .routes(routes!(setup::verify_domain))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(setup::put_sso, setup::get_sso))
                // Inside the router-wide limit, so it wins for these routes.
                .layer(DefaultBodyLimit::max(MAX_METADATA_BODY)),
        )
        .merge(
            OpenApiRouter::new()
                .routes(routes!(sso_sign_in::check_response))
                .layer(DefaultBodyLimit::max(MAX_METADATA_BODY)),
        )
        .routes(routes!(sso_sign_in::attempts))
        .routes(routes!(sso_sign_in::get_policy, sso_sign_in::put_policy))
        .routes(routes!(setup::enable_sso))
        .routes(routes!(setup::send_setup_links))
        .routes(routes!(ops::removals))
        .routes(routes!(ops::complete))
        .routes(routes!(ops::drift))
        .routes(routes!(ops::sync_failures))
        .routes(routes!(tokens::create, tokens::list))
        .routes(routes!(tokens::revoke))
        .routes(routes!(tokens::revoke_all))
}

/// The OpenAPI 3 document of the whole API.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let mut doc = api().split_for_parts().1;
    answers::add_common_answers(&mut doc);
    document::finish(&mut doc);
    doc
}

pub fn routes() -> Router<AppState> {
    let (router, mut doc) = api().split_for_parts();
    answers::add_common_answers(&mut doc);
    document::finish(&mut doc);
    let doc = std::sync::Arc::new(doc);
    router.layer(DefaultBodyLimit::max(MAX_BODY)).route(
        "/api/openapi.json",
        get(move || async move { axum::Json(doc.as_ref().clone()) }),
    )
}
