//! The JSON API's description: one OpenAPI document, assembled from the
//! `#[utoipa::path]` annotations on the handlers themselves and served at
//! `/api/v1/openapi.json`. A test checks that every `/api/v1` route in the
//! route table is in the document and the other way round, so the two
//! cannot drift.

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{OpenApi, SecurityRequirement};

use crate::web::{Access, Routes};
use crate::{admin, auth, chat, docs, schedule};

pub fn routes() -> Routes {
    Routes::new().get("/api/v1/openapi.json", Access::Public, openapi_json)
}

/// The whole document.
pub fn openapi() -> OpenApi {
    let mut doc = utoipa::openapi::OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("Hearth API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Everything a person can do in Hearth's pages. Authenticate with a personal API key \
                     (`Authorization: Bearer hth_...`), created on your profile page. Errors are \
                     `{\"error\": {\"code\": ..., \"message\": ...}}` with a stable `code`.",
                ))
                .build(),
        )
        .build();
    doc.merge(auth::setup_api_doc());
    doc.merge(auth::profile_api_doc());
    doc.merge(admin::api_doc());
    doc.merge(chat::api_doc());
    doc.merge(docs::api_doc());
    doc.merge(schedule::api_doc());
    doc.merge(crate::changes::api_doc());
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "api_key",
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    doc.security = Some(vec![SecurityRequirement::new(
        "api_key",
        Vec::<String>::new(),
    )]);
    doc
}

async fn openapi_json() -> Json<OpenApi> {
    Json(openapi())
}
