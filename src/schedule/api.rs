//! Scheduling under `/api/v1`: appointments, availability and proposals.

use crate::web::Routes;

pub fn routes() -> Routes {
    Routes::new()
}

pub fn api_doc() -> utoipa::openapi::OpenApi {
    utoipa::openapi::OpenApiBuilder::new().build()
}
