//! Admin → Egress and `/api/v1/egress`: every request that left the box or
//! tried to (model downloads, update checks, questions for the cloud model),
//! newest first: when, for whom, where, how many bytes each way, what was
//! redacted, and how it ended. The entries are written by `egress` before
//! each request is sent, and chained and checkpointed like the audit log.

use askama::Template;
use axum::Json;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::app::AppState;
use crate::auth::AdminUser;
use crate::error::{AppResult, ErrorEnvelope};
use crate::store::{EgressOutcome, EgressPage, EgressPurpose, EgressRecord};
use crate::web::layout::{Shell, render};
use crate::web::time::{Moment, Times};
use crate::web::{Access, Paging, Routes};

/// Requests per page.
const PER_PAGE: u64 = 50;

pub fn routes() -> Routes {
    Routes::new()
        .get("/admin/egress", Access::Admin, egress_page)
        .get("/api/v1/egress", Access::Admin, api_egress)
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EgressQuery {
    /// 1-based page number.
    pub page: Option<u64>,
}

#[derive(Template)]
#[template(path = "admin/egress.html")]
pub struct EgressLogPage {
    shell: Shell,
    log: EgressPage,
    page: u64,
    pages: u64,
    times: Times,
}

impl EgressLogPage {
    fn time(&self, unix: &i64) -> Moment {
        self.times.at(*unix)
    }

    fn purpose(&self, purpose: &EgressPurpose) -> &'static str {
        purpose_label(*purpose)
    }

    fn outcome(&self, outcome: &EgressOutcome) -> &'static str {
        match outcome {
            EgressOutcome::Sending => "Under way, or cut off",
            EgressOutcome::Ok => "Done",
            EgressOutcome::Failed => "Failed",
            EgressOutcome::Interrupted => "Interrupted",
            EgressOutcome::Refused => "Refused, not sent",
        }
    }

    fn size(&self, bytes: &u64) -> String {
        crate::disk::human_size(*bytes)
    }

    fn redactions(&self, record: &EgressRecord) -> String {
        record
            .redactions
            .iter()
            .map(|(kind, n)| format!("{n} {kind}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What people call why the box reached out.
pub fn purpose_label(purpose: EgressPurpose) -> &'static str {
    match purpose {
        EgressPurpose::CloudChat => "Question for the cloud model",
        EgressPurpose::CloudTest => "Test of the cloud connection",
        EgressPurpose::ModelDownload => "Model download",
        EgressPurpose::UpdateCheck => "Check for updates",
        EgressPurpose::UpdateDownload => "Update download",
    }
}

async fn egress_page(
    State(state): State<AppState>,
    shell: Shell,
    times: Times,
    _admin: AdminUser,
    Query(query): Query<EgressQuery>,
) -> AppResult<Response> {
    let paging = Paging::new(query.page, PER_PAGE);
    let log = state
        .store
        .egress(paging.offset(), paging.per_page())
        .await?;
    let pages = paging.pages(log.total);
    render(&EgressLogPage {
        shell,
        log,
        page: paging.page(),
        pages,
        times,
    })
}

/// The egress log, newest first, 50 requests a page, with the totals of
/// bytes sent and received.
#[utoipa::path(get, path = "/api/v1/egress", tag = "audit", params(EgressQuery),
    responses((status = 200, body = EgressPage), (status = 403, body = ErrorEnvelope)))]
async fn api_egress(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(query): Query<EgressQuery>,
) -> AppResult<Json<EgressPage>> {
    let paging = Paging::new(query.page, PER_PAGE);
    Ok(Json(
        state
            .store
            .egress(paging.offset(), paging.per_page())
            .await?,
    ))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(api_egress),
    components(schemas(EgressPage, EgressRecord, EgressPurpose, EgressOutcome, ErrorEnvelope))
)]
pub struct ApiDoc;

pub fn api_doc() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}
