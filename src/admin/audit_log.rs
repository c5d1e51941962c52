//! Admin → Audit log and `/api/v1/audit`: the append-only record of who did
//! what, newest first, filtered by person, action, outcome and dates.

use askama::Template;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::app::AppState;
use crate::auth::AdminUser;
use crate::error::{AppError, AppResult, ErrorEnvelope};
use crate::store::{AuditFilter, AuditPage, AuditRecord};
use crate::web::layout::{Shell, render_with_status};
use crate::web::middleware::percent_encode;
use crate::web::time::{Moment, Times};
use crate::web::{Access, Paging, Routes};

/// Records per page.
const PER_PAGE: u64 = 50;

pub fn routes() -> Routes {
    Routes::new()
        .get("/admin/audit", Access::Admin, audit_page)
        .get("/api/v1/audit", Access::Admin, api_audit)
}

/// Filters, from the page's form or the API's query string.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Username, exactly (any case).
    #[serde(default)]
    pub actor: String,
    /// An action or its prefix: `auth` matches `auth.login` and `auth.logout`.
    #[serde(default)]
    pub action: String,
    /// `ok`, `failed` or `denied`.
    #[serde(default)]
    pub outcome: String,
    /// First day, `YYYY-MM-DD`, in the server's time zone.
    #[serde(default)]
    pub since: String,
    /// Last day, `YYYY-MM-DD`, inclusive.
    #[serde(default)]
    pub until: String,
    /// 1-based page number.
    pub page: Option<u64>,
}

impl AuditQuery {
    fn to_filter(&self) -> AppResult<AuditFilter> {
        let paging = Paging::new(self.page, PER_PAGE);
        let outcome = match self.outcome.as_str() {
            "" => None,
            word => Some(
                word.parse::<crate::store::AuditOutcome>()
                    .map_err(|_| AppError::bad_request("outcome must be ok, failed or denied"))?,
            ),
        };
        Ok(AuditFilter {
            actor: Some(self.actor.trim().to_string()),
            action: Some(self.action.trim().to_string()),
            outcome,
            since: day_start(&self.since, 0)?,
            until: day_start(&self.until, 1)?,
            offset: paging.offset(),
            limit: paging.per_page(),
        })
    }

    /// The query string for another page with the same filters.
    fn link(&self, page: u64) -> String {
        format!(
            "?actor={}&action={}&outcome={}&since={}&until={}&page={page}",
            percent_encode(&self.actor),
            percent_encode(&self.action),
            percent_encode(&self.outcome),
            percent_encode(&self.since),
            percent_encode(&self.until),
        )
    }
}

/// Unix seconds at the start of `date` plus `days_later` days, local time.
fn day_start(date: &str, days_later: i64) -> AppResult<Option<i64>> {
    let date = date.trim();
    if date.is_empty() {
        return Ok(None);
    }
    let parsed: jiff::civil::Date = date
        .parse()
        .map_err(|_| AppError::bad_request(format!("{date:?} is not a date; use YYYY-MM-DD")))?;
    let day = parsed
        .checked_add(jiff::Span::new().days(days_later))
        .map_err(|_| AppError::bad_request("date out of range"))?;
    let zoned = day
        .to_zoned(jiff::tz::TimeZone::system())
        .map_err(|_| AppError::bad_request("date out of range"))?;
    Ok(Some(zoned.timestamp().as_second()))
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
pub struct AuditLogPage {
    shell: Shell,
    query: AuditQuery,
    records: Vec<AuditRecord>,
    total: u64,
    page: u64,
    pages: u64,
    error: Option<String>,
    times: Times,
}

impl AuditLogPage {
    fn time(&self, unix: &i64) -> Moment {
        self.times.at(*unix)
    }

    fn link(&self, page: u64) -> String {
        self.query.link(page)
    }
}

async fn audit_page(
    State(state): State<AppState>,
    shell: Shell,
    times: Times,
    _: AdminUser,
    Query(query): Query<AuditQuery>,
) -> AppResult<Response> {
    let paging = Paging::new(query.page, PER_PAGE);
    let page = paging.page();
    let (result, error) = match query.to_filter() {
        Ok(filter) => (state.store.audit(filter).await?, None),
        Err(AppError::BadRequest(message)) => (
            AuditPage {
                records: Vec::new(),
                total: 0,
            },
            Some(message),
        ),
        Err(other) => return Err(other),
    };
    let pages = paging.pages(result.total);
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let view = AuditLogPage {
        shell,
        query,
        records: result.records,
        total: result.total,
        page,
        pages,
        error,
        times,
    };
    Ok(render_with_status(status, &view))
}

/// The audit log, newest first, 50 records a page.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)))]
async fn api_audit(
    State(state): State<AppState>,
    _: AdminUser,
    Query(query): Query<AuditQuery>,
) -> AppResult<Json<AuditPage>> {
    Ok(Json(state.store.audit(query.to_filter()?).await?))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(api_audit),
    components(schemas(AuditPage, AuditRecord, ErrorEnvelope))
)]
pub struct ApiDoc;

pub fn api_doc() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}
