//! Admin: the people who use the box, the business's name and time zone
//! (Admin → Business, owners only), the box itself (Admin → System, owners
//! only: its name on the network, its version, updates), the audit log and
//! the egress log (what left the box), as pages under `/admin` and as
//! `/api/v1/users`, `/api/v1/audit` and `/api/v1/egress`. Admins and owners
//! only; the rules for who may change whom live in [`users`].
//!
//! Each capability's own admin pages live beside it (Admin → Assistant and
//! Models in `chat`, Collections and Access in `docs`) and share this
//! area's navigation (`templates/admin/nav.html`); see ARCHITECTURE.md.

mod audit_log;
pub mod business;
mod egress_log;
pub mod system;
pub mod users;

use axum::response::Redirect;

use crate::web::{Access, Routes};

pub fn routes() -> Routes {
    Routes::new()
        .get("/admin", Access::Admin, || async {
            Redirect::to("/admin/users")
        })
        .merge(business::routes())
        .merge(users::routes())
        .merge(audit_log::routes())
        .merge(egress_log::routes())
        .merge(system::routes())
}

pub fn api_doc() -> utoipa::openapi::OpenApi {
    let mut doc = users::api_doc();
    doc.merge(audit_log::api_doc());
    doc.merge(egress_log::api_doc());
    doc
}
