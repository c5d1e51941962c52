//! Scheduling under `/api/v1`: appointments (book, list, change, cancel,
//! done, no-show) and availability. Times are RFC 3339: a time with an
//! offset (`2026-12-03T14:00:00-05:00`, or `Z`) is that instant; one without
//! (`2026-12-03T14:00`) is local time in the business's zone. A booking that
//! conflicts is answered 409 with `code: "schedule_conflict"` and every
//! conflict, each with its own stable `code`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::book::{
    self, Booking, Change, Outcome, RepeatChoice, Scope, SlotSearch, SlotView, Start,
};
use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::calendar::{Conflict, Interval, Settings};
use crate::error::{AppError, AppResult, ErrorEnvelope};
use crate::store::{
    Appointment, AppointmentFilter, AppointmentId, AppointmentStatus, CustomerId, ResourceId,
    ServiceId, StaffId,
};
use crate::web::middleware::ClientIp;
use crate::web::{Access, Routes};

pub fn routes() -> Routes {
    Routes::new()
        .get("/api/v1/appointments", Access::Staff, list)
        .post("/api/v1/appointments", Access::Staff, create)
        .get("/api/v1/appointments/{id}", Access::Staff, read)
        .patch("/api/v1/appointments/{id}", Access::Staff, update)
        .post("/api/v1/appointments/{id}/status", Access::Staff, status)
        .get("/api/v1/availability", Access::Staff, availability)
}

/// An appointment as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppointmentView {
    pub id: AppointmentId,
    pub uid: String,
    /// RFC 3339 in the business's zone.
    pub starts_at: String,
    pub ends_at: String,
    pub status: AppointmentStatus,
    pub title: String,
    pub services: Vec<ServiceId>,
    pub staff_id: StaffId,
    pub staff: String,
    pub resource_id: Option<ResourceId>,
    pub resource: Option<String>,
    pub customer_id: Option<CustomerId>,
    pub customer: Option<String>,
    pub notes: String,
    pub series_id: Option<i64>,
    /// Set when conflicts were overridden: why.
    pub override_reason: Option<String>,
    /// Bumped at every change.
    pub sequence: i64,
    /// A series just booked: its other occurrences.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(no_recursion)]
    pub occurrences: Vec<AppointmentView>,
}

/// Names for ids, loaded once per response.
pub struct Names {
    pub settings: Settings,
    staff: Vec<(StaffId, String)>,
    resources: Vec<(ResourceId, String)>,
}

impl Names {
    pub async fn load(state: &AppState) -> AppResult<Names> {
        let settings = Settings::load(&state.store).await?;
        let staff = state.store.staff().await?;
        let resources = state.store.resources().await?;
        Ok(Names {
            settings,
            staff: staff.into_iter().map(|s| (s.id, s.name)).collect(),
            resources: resources.into_iter().map(|r| (r.id, r.name)).collect(),
        })
    }

    pub fn staff(&self, id: StaffId) -> String {
        self.staff
            .iter()
            .find(|(s, _)| *s == id)
            .map_or_else(|| format!("#{id}"), |(_, name)| name.clone())
    }

    pub fn resource(&self, id: ResourceId) -> String {
        self.resources
            .iter()
            .find(|(r, _)| *r == id)
            .map_or_else(|| format!("#{id}"), |(_, name)| name.clone())
    }

    pub fn rfc3339(&self, seconds: i64) -> String {
        Timestamp::from_second(seconds)
            .unwrap_or_default()
            .to_zoned(self.settings.zone.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
    }

    /// "Mon 4 Jan 12:00–12:45 Cleaning for Maria Ortiz with Dr Lee in
    /// Chair 1", for messages people read (the audit log keeps ids).
    pub fn describe(&self, a: &Appointment) -> String {
        let settings = &self.settings;
        let start = Timestamp::from_second(a.starts_at).unwrap_or_default();
        let end = Timestamp::from_second(a.ends_at).unwrap_or_default();
        format!(
            "{}–{} {}{} with {}{}",
            settings.describe(start),
            settings.local(end).strftime("%H:%M"),
            a.title,
            a.customer_name
                .as_deref()
                .map(|n| format!(" for {n}"))
                .unwrap_or_default(),
            self.staff(a.staff_id),
            a.resource_id
                .map(|r| format!(" in {}", self.resource(r)))
                .unwrap_or_default()
        )
    }

    pub fn view(&self, a: &Appointment) -> AppointmentView {
        AppointmentView {
            id: a.id,
            uid: a.uid.clone(),
            starts_at: self.rfc3339(a.starts_at),
            ends_at: self.rfc3339(a.ends_at),
            status: a.status,
            title: a.title.clone(),
            services: a.services.clone(),
            staff_id: a.staff_id,
            staff: self.staff(a.staff_id),
            resource_id: a.resource_id,
            resource: a.resource_id.map(|r| self.resource(r)),
            customer_id: a.customer_id,
            customer: a.customer_name.clone(),
            notes: a.notes.clone(),
            series_id: a.series_id.map(|s| s.0),
            override_reason: a.override_reason.clone(),
            sequence: a.sequence,
            occurrences: Vec::new(),
        }
    }
}

/// A refusal: 409 with every conflict.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConflictEnvelope {
    pub error: ConflictBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConflictBody {
    /// Always `schedule_conflict`.
    pub code: &'static str,
    pub message: String,
    pub conflicts: Vec<ConflictView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConflictView {
    #[serde(flatten)]
    pub conflict: Conflict,
    pub message: String,
    /// Whether an owner or admin may book anyway (`override_reason`).
    pub can_override: bool,
}

pub fn refused(conflicts: &[Conflict]) -> Response {
    let message = conflicts
        .iter()
        .map(Conflict::message)
        .collect::<Vec<_>>()
        .join(" ");
    (
        StatusCode::CONFLICT,
        Json(ConflictEnvelope {
            error: ConflictBody {
                code: "schedule_conflict",
                message,
                conflicts: conflicts
                    .iter()
                    .map(|c| ConflictView {
                        conflict: c.clone(),
                        message: c.message(),
                        can_override: c.can_override(),
                    })
                    .collect(),
            },
        }),
    )
        .into_response()
}

/// Reads an API time: with an offset it is that instant, without one it is
/// local time in the business's zone.
pub fn parse_start(text: &str, later: bool) -> AppResult<Start> {
    let text = text.trim();
    if let Ok(at) = text.parse::<Timestamp>() {
        return Ok(Start::At(at));
    }
    text.parse::<DateTime>()
        .map(|local| Start::Local { local, later })
        .map_err(|_| {
            AppError::bad_request(format!(
                "“{text}” is not a time: use 2026-12-03T14:00 (local) or 2026-12-03T14:00:00Z"
            ))
        })
}

#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// First day (local, YYYY-MM-DD); default today.
    from: Option<String>,
    /// Last day (local, YYYY-MM-DD); default a week after `from`.
    to: Option<String>,
    staff: Option<i64>,
    resource: Option<i64>,
    customer: Option<i64>,
    /// Also cancelled ones (default false).
    include_cancelled: Option<bool>,
}

/// An optional day (`YYYY-MM-DD`) from a query or a form; empty is none.
pub fn parse_day(text: Option<&str>, name: &str) -> AppResult<Option<Date>> {
    text.filter(|t| !t.trim().is_empty())
        .map(|t| {
            t.trim()
                .parse::<Date>()
                .map_err(|_| AppError::bad_request(format!("{name} is a date like 2026-12-03")))
        })
        .transpose()
}

/// The appointments on some days, by start.
#[utoipa::path(get, path = "/api/v1/appointments", tag = "schedule", params(ListQuery),
    responses((status = 200, body = [AppointmentView]), (status = 400, body = ErrorEnvelope)))]
async fn list(
    State(state): State<AppState>,
    _user: CurrentUser,
    Query(query): Query<ListQuery>,
) -> AppResult<Json<Vec<AppointmentView>>> {
    let names = Names::load(&state).await?;
    let today = names
        .settings
        .local(Timestamp::from_second(state.store.now()).unwrap_or_default())
        .date();
    let first = parse_day(query.from.as_deref(), "from")?.unwrap_or(today);
    let last = parse_day(query.to.as_deref(), "to")?
        .unwrap_or_else(|| first.saturating_add(jiff::ToSpan::days(6)));
    if last < first || (last - first).get_days() > 366 {
        return Err(AppError::bad_request(
            "to must be on or after from, and at most 366 days later",
        ));
    }
    let from = names.settings.day_start(first).as_second();
    let until = names
        .settings
        .day_start(last.saturating_add(jiff::ToSpan::days(1)))
        .as_second();
    let appointments = state
        .store
        .appointments_between(
            from,
            until,
            AppointmentFilter {
                staff: query.staff.map(StaffId),
                resource: query.resource.map(ResourceId),
                customer: query.customer.map(CustomerId),
                include_cancelled: query.include_cancelled.unwrap_or(false),
            },
        )
        .await?;
    Ok(Json(
        appointments
            .iter()
            .filter(|a| a.starts_at < until && a.ends_at > from)
            .map(|a| names.view(a))
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateRequest {
    /// The services, done back to back.
    pub services: Vec<ServiceId>,
    /// Who; default: the first free person who can do them.
    pub staff: Option<StaffId>,
    /// Which resource; default: any free one the services can use.
    pub resource: Option<ResourceId>,
    pub customer: Option<CustomerId>,
    /// When it starts (see above).
    pub start: String,
    /// In a repeated hour (clocks going back), the second one.
    #[serde(default)]
    pub later: bool,
    #[serde(default)]
    pub notes: String,
    /// Owners and admins: book despite conflicts, saying why.
    pub override_reason: Option<String>,
    /// Repeat it: the whole series is booked, or none of it.
    pub repeat: Option<RepeatChoice>,
}

/// Books an appointment; 409 with the conflicts when the time is not free.
#[utoipa::path(post, path = "/api/v1/appointments", tag = "schedule", request_body = CreateRequest,
    responses((status = 201, body = AppointmentView),
        (status = 409, description = "Not free: every conflict", body = ConflictEnvelope),
        (status = 400, body = ErrorEnvelope)))]
async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Json(request): Json<CreateRequest>,
) -> AppResult<Response> {
    let start = parse_start(&request.start, request.later)?;
    let repeat = match &request.repeat {
        Some(choice) => {
            let settings = Settings::load(&state.store).await?;
            let first = match start {
                Start::At(at) => settings.local(at),
                Start::Local { local, .. } => local,
            };
            choice.rule(first)?
        }
        None => None,
    };
    let booking = Booking {
        services: request.services,
        staff: request.staff,
        resource: request.resource,
        customer: request.customer,
        start,
        notes: request.notes,
        override_reason: request.override_reason,
        repeat,
    };
    match book::book(&state, &user.user, &ip, booking).await? {
        Outcome::Done(appointments) => {
            let names = Names::load(&state).await?;
            let mut view = appointments
                .first()
                .map(|a| names.view(a))
                .ok_or_else(|| anyhow::anyhow!("a booking wrote nothing"))?;
            view.occurrences = appointments.iter().skip(1).map(|a| names.view(a)).collect();
            Ok((StatusCode::CREATED, Json(view)).into_response())
        }
        Outcome::Refused(conflicts) => Ok(refused(&conflicts)),
    }
}

#[utoipa::path(get, path = "/api/v1/appointments/{id}", tag = "schedule",
    params(("id" = i64, Path)),
    responses((status = 200, body = AppointmentView), (status = 404, body = ErrorEnvelope)))]
async fn read(
    State(state): State<AppState>,
    _user: CurrentUser,
    Path(id): Path<AppointmentId>,
) -> AppResult<Json<AppointmentView>> {
    let appointment = state.store.appointment(id).await?;
    Ok(Json(Names::load(&state).await?.view(&appointment)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateRequest {
    pub services: Option<Vec<ServiceId>>,
    pub staff: Option<StaffId>,
    /// `null` to need none, an id, or leave out to keep.
    #[serde(default, deserialize_with = "some_nullable")]
    #[schema(value_type = Option<i64>)]
    pub resource: Option<Option<ResourceId>>,
    #[serde(default, deserialize_with = "some_nullable")]
    #[schema(value_type = Option<i64>)]
    pub customer: Option<Option<CustomerId>>,
    /// A new start (moves it).
    pub start: Option<String>,
    #[serde(default)]
    pub later: bool,
    pub notes: Option<String>,
    pub override_reason: Option<String>,
    /// For a series: `one` (default) or `following` (this and every later
    /// occurrence not changed on its own).
    #[serde(default)]
    pub scope: Scope,
}

/// A present field (even `null`) is `Some`; a missing one is `None`.
fn some_nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Changes an appointment: move it, give it to someone else, change its
/// services, customer or notes. 409 with the conflicts when not free.
#[utoipa::path(patch, path = "/api/v1/appointments/{id}", tag = "schedule",
    params(("id" = i64, Path)), request_body = UpdateRequest,
    responses((status = 200, body = AppointmentView),
        (status = 409, description = "Not free, or not booked any more", body = ConflictEnvelope),
        (status = 404, body = ErrorEnvelope)))]
async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<AppointmentId>,
    Json(request): Json<UpdateRequest>,
) -> AppResult<Response> {
    let change = Change {
        services: request.services,
        staff: request.staff,
        resource: request.resource,
        customer: request.customer,
        start: request
            .start
            .as_deref()
            .map(|s| parse_start(s, request.later))
            .transpose()?,
        notes: request.notes,
        override_reason: request.override_reason,
        scope: request.scope,
    };
    match book::change(&state, &user.user, &ip, id, change).await? {
        Outcome::Done(appointments) => {
            let names = Names::load(&state).await?;
            let view = appointments
                .first()
                .map(|a| names.view(a))
                .ok_or_else(|| anyhow::anyhow!("a change wrote nothing"))?;
            Ok(Json(view).into_response())
        }
        Outcome::Refused(conflicts) => Ok(refused(&conflicts)),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct StatusRequest {
    /// `cancelled`, `done` or `no_show`.
    pub status: AppointmentStatus,
    /// Cancelling an occurrence of a series: `one` (default) or `following`.
    #[serde(default)]
    pub scope: Scope,
}

/// Cancels an appointment or marks it done or a no-show.
#[utoipa::path(post, path = "/api/v1/appointments/{id}/status", tag = "schedule",
    params(("id" = i64, Path)), request_body = StatusRequest,
    responses((status = 200, body = AppointmentView), (status = 409, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
async fn status(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<AppointmentId>,
    Json(request): Json<StatusRequest>,
) -> AppResult<Json<AppointmentView>> {
    let appointment =
        if request.scope == Scope::Following && request.status == AppointmentStatus::Cancelled {
            book::cancel_following(&state, &user.user, &ip, id)
                .await?
                .into_iter()
                .next()
                .ok_or(AppError::NotFound)?
        } else {
            book::set_status(&state, &user.user, &ip, id, request.status).await?
        };
    Ok(Json(Names::load(&state).await?.view(&appointment)))
}

#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct AvailabilityQuery {
    /// Service ids, comma-separated, done back to back.
    services: String,
    /// Only this staff member.
    staff: Option<i64>,
    /// First day (YYYY-MM-DD, local); default today.
    from: Option<String>,
    /// Last day; default two weeks after `from`.
    to: Option<String>,
    /// Times of day a start may fall in, comma-separated: `morning`
    /// (8–12), `afternoon` (12–17), `evening` (17–21) or `HH:MM-HH:MM`.
    times: Option<String>,
    /// At most this many (default 20, at most 200).
    limit: Option<usize>,
}

/// Reads "morning", "afternoon", "evening" or "13:00-15:30".
pub fn parse_windows(text: &str) -> AppResult<Vec<Interval>> {
    let mut windows = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let window = match part.to_ascii_lowercase().as_str() {
            "morning" | "mornings" => Interval::new(8 * 60, 12 * 60),
            "afternoon" | "afternoons" => Interval::new(12 * 60, 17 * 60),
            "evening" | "evenings" => Interval::new(17 * 60, 21 * 60),
            other => crate::calendar::hours::parse_day(other)
                .ok()
                .and_then(|d| (d.len() == 1).then(|| d[0])),
        };
        windows.push(window.ok_or_else(|| {
            AppError::bad_request(format!(
                "“{part}” is not a time of day: use morning, afternoon, evening or 13:00-15:30"
            ))
        })?);
    }
    Ok(windows)
}

/// The next free slots for some services: the one source of truth for
/// availability (the assistant's proposals come from here too).
#[utoipa::path(get, path = "/api/v1/availability", tag = "schedule", params(AvailabilityQuery),
    responses((status = 200, body = [SlotView]), (status = 400, body = ErrorEnvelope)))]
async fn availability(
    State(state): State<AppState>,
    _user: CurrentUser,
    Query(query): Query<AvailabilityQuery>,
) -> AppResult<Json<Vec<SlotView>>> {
    let services = parse_ids(&query.services)?;
    let (slots, office) = book::find_slots(
        &state,
        SlotSearch {
            services,
            staff: query.staff.map(StaffId),
            first_day: parse_day(query.from.as_deref(), "from")?,
            last_day: parse_day(query.to.as_deref(), "to")?,
            windows: parse_windows(query.times.as_deref().unwrap_or(""))?,
            limit: query.limit.unwrap_or(20),
        },
    )
    .await?;
    Ok(Json(
        slots.iter().map(|s| SlotView::of(&office, s)).collect(),
    ))
}

pub fn parse_ids(text: &str) -> AppResult<Vec<ServiceId>> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse()
                .map(ServiceId)
                .map_err(|_| AppError::bad_request("services are ids separated by commas"))
        })
        .collect()
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list, create, read, update, status, availability),
    components(schemas(
        AppointmentView,
        CreateRequest,
        UpdateRequest,
        StatusRequest,
        SlotView,
        ConflictEnvelope,
        ConflictBody,
        ConflictView,
        Conflict,
        RepeatChoice,
        Scope
    ))
)]
struct ApiDoc;

pub fn api_doc() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}
