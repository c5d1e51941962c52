//! Admin: users, the assistant's settings, models and the audit log, as
//! pages under `/admin` and as `/api/v1/users`, `/api/v1/assistant` and
//! `/api/v1/audit`. Admins and owners only; the
//! rules for who may change whom live in [`users`].

pub mod assistant;
mod audit_log;
pub mod models;
pub mod users;

use axum::response::Redirect;

use crate::web::{Access, Routes};

pub fn routes() -> Routes {
    Routes::new()
        .get("/admin", Access::Admin, || async {
            Redirect::to("/admin/users")
        })
        .merge(users::routes())
        .merge(assistant::routes())
        .merge(models::routes())
        .merge(audit_log::routes())
}

pub fn api_doc() -> utoipa::openapi::OpenApi {
    let mut doc = users::api_doc();
    doc.merge(audit_log::api_doc());
    doc.merge(assistant::api_doc());
    doc
}
