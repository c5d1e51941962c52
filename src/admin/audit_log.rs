//! Admin → Audit log and `/api/v1/audit`: the append-only record of who did
//! what, newest first, each entry a sentence for its reader ("Tom downloaded
//! Refund policy.pdf"; see `audit::summarise`), filtered by person, kind of
//! action, outcome and dates; and its proof against tampering: a check of
//! the hash chain and signed checkpoints (`audit::chain`) on demand, and the
//! checkpoints to download and keep elsewhere.

use askama::Template;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use crate::app::AppState;
use crate::audit::chain::Verdict;
use crate::audit::{self, Action, Actor, KINDS, Names};
use crate::auth::AdminUser;
use crate::error::{AppError, AppResult, ErrorEnvelope};
use crate::store::{AuditFilter, AuditOutcome, AuditRecord, User, UserId};
use crate::web::layout::{Shell, render_with_status};
use crate::web::middleware::{ClientIp, percent_encode};
use crate::web::time::{Moment, Times};
use crate::web::{Access, Paging, Routes};

/// Records per page.
const PER_PAGE: u64 = 50;

pub fn routes() -> Routes {
    Routes::new()
        .get("/admin/audit", Access::Admin, audit_page)
        .post("/admin/audit/verify", Access::Admin, verify_submit)
        .get(
            "/admin/audit/checkpoints",
            Access::Admin,
            download_checkpoints,
        )
        .get("/api/v1/audit", Access::Admin, api_audit)
        .post("/api/v1/audit/verify", Access::Admin, api_verify)
        .get(
            "/api/v1/audit/checkpoints",
            Access::Admin,
            download_checkpoints,
        )
}

/// Filters, from the page's form or the API's query string.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Username, exactly (any case).
    #[serde(default)]
    pub actor: String,
    /// An action or its prefix (a kind): `auth` matches `auth.login` and
    /// `auth.logout`, `docs.downloaded` only itself.
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
    /// The filter, with From/To dates read as whole days in `zone` (the
    /// business's, the one the log's times are shown in).
    fn to_filter(&self, zone: &jiff::tz::TimeZone) -> AppResult<AuditFilter> {
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
            since: day_start(&self.since, 0, zone)?,
            until: day_start(&self.until, 1, zone)?,
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

/// Unix seconds at the start of `date` plus `days_later` days in `zone`.
fn day_start(date: &str, days_later: i64, zone: &jiff::tz::TimeZone) -> AppResult<Option<i64>> {
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
        .to_zoned(zone.clone())
        .map_err(|_| AppError::bad_request("date out of range"))?;
    Ok(Some(zoned.timestamp().as_second()))
}

/// One entry as the API answers it: the stored fields, and the sentence.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    pub actor_id: Option<UserId>,
    /// The username at the time, or `console` / `anonymous`.
    pub actor: String,
    /// A dotted name such as `auth.login` or `docs.downloaded`.
    pub action: String,
    pub target: String,
    /// `ok`, `failed` or `denied` (refused).
    pub outcome: AuditOutcome,
    pub ip: String,
    /// Empty when it would name a document the reader may not see.
    pub detail: String,
    /// The entry in words, for the reader: "Tom downloaded Refund
    /// policy.pdf"; a document the reader may not see is not named.
    pub summary: String,
}

impl AuditEntry {
    fn new(record: AuditRecord, summary: audit::Summary) -> AuditEntry {
        AuditEntry {
            id: record.id,
            at: record.at,
            actor_id: record.actor_id,
            actor: record.actor,
            action: record.action,
            target: record.target,
            outcome: record.outcome,
            ip: record.ip,
            detail: summary.detail,
            summary: summary.sentence,
        }
    }
}

/// A page of the log.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntries {
    pub records: Vec<AuditEntry>,
    /// How many records match the filter in all.
    pub total: u64,
}

/// A page of entries as `reader` may read them.
async fn entries(state: &AppState, reader: &User, filter: AuditFilter) -> AppResult<AuditEntries> {
    let page = state.store.audit(filter).await?;
    let summaries = audit::summarise(&state.store, reader, &page.records).await?;
    Ok(AuditEntries {
        records: page
            .records
            .into_iter()
            .zip(summaries)
            .map(|(record, summary)| AuditEntry::new(record, summary))
            .collect(),
        total: page.total,
    })
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
pub struct AuditLogPage {
    shell: Shell,
    query: AuditQuery,
    records: Vec<AuditEntry>,
    total: u64,
    page: u64,
    pages: u64,
    error: Option<String>,
    times: Times,
    /// People to filter by: (username, label).
    people: Vec<(String, String)>,
    kinds: Vec<KindChoice>,
    repeat_window_minutes: u64,
    /// The result of "Check the log now", on the page that answers it.
    verdict: Option<Verdict>,
    /// This box's checkpoint key, as a fingerprint.
    fingerprint: String,
    checkpoint_minutes: u64,
}

impl AuditLogPage {
    fn time(&self, unix: &i64) -> Moment {
        self.times.at(*unix)
    }

    fn link(&self, page: u64) -> String {
        self.query.link(page)
    }

    fn outcome_label(&self, outcome: &AuditOutcome) -> &'static str {
        match outcome {
            AuditOutcome::Ok => "done",
            AuditOutcome::Failed => "failed",
            AuditOutcome::Denied => "refused",
        }
    }

    /// Whether the person filter names someone not in the list (a
    /// username typed into the address, or one no longer there).
    fn actor_unlisted(&self) -> bool {
        !self.query.actor.is_empty()
            && !self
                .people
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case(&self.query.actor))
    }
}

/// A kind of action to filter by, and its actions.
pub struct KindChoice {
    /// The actions' common prefix (`docs`).
    prefix: &'static str,
    label: &'static str,
    /// Each action's name and what it says ("downloaded …").
    actions: Vec<(&'static str, String)>,
}

/// The filter's kinds, each with its actions described ("downloaded …").
fn kinds() -> Vec<KindChoice> {
    KINDS
        .iter()
        .map(|&(prefix, label)| {
            let actions = Action::ALL
                .iter()
                .filter(|a| a.kind() == prefix)
                .map(|a| {
                    let said = audit::sentence(
                        Some(*a),
                        a.name(),
                        AuditOutcome::Ok,
                        Names {
                            who: "",
                            what: "…",
                            place: "…",
                        },
                    );
                    (a.name(), said.trim().to_string())
                })
                .collect();
            KindChoice {
                prefix,
                label,
                actions,
            }
        })
        .collect()
}

async fn audit_page(
    State(state): State<AppState>,
    shell: Shell,
    times: Times,
    AdminUser(reader): AdminUser,
    Query(query): Query<AuditQuery>,
) -> AppResult<Response> {
    page(&state, shell, times, &reader.user, query, None).await
}

/// "Check the log now": the whole chain and every checkpoint, the result
/// shown above the (unfiltered) log, the check itself recorded in it.
async fn verify_submit(
    State(state): State<AppState>,
    shell: Shell,
    times: Times,
    AdminUser(reader): AdminUser,
    ClientIp(ip): ClientIp,
) -> AppResult<Response> {
    let verdict = state
        .ledger
        .verify_recorded(&state.store, Actor::User(&reader.user), &ip)
        .await
        .map_err(AppError::Internal)?;
    if !verdict.intact() {
        tracing::error!(problems = ?verdict.sentences, "the audit log was found altered");
    }
    page(
        &state,
        shell,
        times,
        &reader.user,
        AuditQuery::default(),
        Some(verdict),
    )
    .await
}

async fn page(
    state: &AppState,
    shell: Shell,
    times: Times,
    reader: &User,
    query: AuditQuery,
    verdict: Option<Verdict>,
) -> AppResult<Response> {
    let paging = Paging::new(query.page, PER_PAGE);
    let page = paging.page();
    let (result, error) = match query.to_filter(times.zone()) {
        Ok(filter) => (entries(state, reader, filter).await?, None),
        Err(AppError::BadRequest(message)) => (
            AuditEntries {
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
    let mut people: Vec<(String, String)> = state
        .store
        .users()
        .await?
        .into_iter()
        .map(|u| {
            let label = format!("{} ({})", u.display_name, u.username);
            (u.username, label)
        })
        .collect();
    people.sort_by_key(|(_, label)| label.to_lowercase());
    people.push(("console".into(), "Someone at the console".into()));
    let view = AuditLogPage {
        shell,
        query,
        records: result.records,
        total: result.total,
        page,
        pages,
        error,
        times,
        people,
        kinds: kinds(),
        repeat_window_minutes: state.config.audit.repeat_window_minutes,
        verdict,
        fingerprint: crate::audit::chain::fingerprint(&state.ledger.public_key()),
        checkpoint_minutes: state.config.audit.checkpoint_minutes,
    };
    Ok(render_with_status(status, &view))
}

/// The audit log, newest first, 50 records a page, each with its sentence.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditEntries), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)))]
async fn api_audit(
    State(state): State<AppState>,
    AdminUser(reader): AdminUser,
    Query(query): Query<AuditQuery>,
) -> AppResult<Json<AuditEntries>> {
    Ok(Json(
        entries(
            &state,
            &reader.user,
            query.to_filter(Times::load(&state).await?.zone())?,
        )
        .await?,
    ))
}

/// Checks every entry of the audit log against its hash chain and the
/// signed checkpoints; the check is recorded in the log (`audit.verified`).
/// `problems` is empty when the log is intact; otherwise its first element
/// names the first altered or missing entry.
#[utoipa::path(post, path = "/api/v1/audit/verify", tag = "audit",
    responses((status = 200, body = Verdict), (status = 403, body = ErrorEnvelope)))]
async fn api_verify(
    State(state): State<AppState>,
    AdminUser(reader): AdminUser,
    ClientIp(ip): ClientIp,
) -> AppResult<Json<Verdict>> {
    let verdict = state
        .ledger
        .verify_recorded(&state.store, Actor::User(&reader.user), &ip)
        .await
        .map_err(AppError::Internal)?;
    Ok(Json(verdict))
}

/// The signed checkpoints (JSON lines), to keep a copy away from the box:
/// `hearth audit verify` on a copy of the database compares with them.
#[utoipa::path(get, path = "/api/v1/audit/checkpoints", tag = "audit",
    responses((status = 200, content_type = "application/x-ndjson", body = String), (status = 403, body = ErrorEnvelope)))]
async fn download_checkpoints(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> AppResult<Response> {
    // Sign the head first, so the copy covers everything up to now.
    state
        .ledger
        .checkpoint(&state.store)
        .await
        .map_err(AppError::Internal)?;
    let body = tokio::fs::read(state.ledger.checkpoints().path())
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "application/x-ndjson"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"hearth-audit-checkpoints.jsonl\"",
            ),
        ],
        body,
    )
        .into_response())
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(api_audit, api_verify, download_checkpoints),
    components(schemas(
        AuditEntries,
        AuditEntry,
        ErrorEnvelope,
        Verdict,
        crate::audit::chain::Problem
    ))
)]
pub struct ApiDoc;

pub fn api_doc() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}
