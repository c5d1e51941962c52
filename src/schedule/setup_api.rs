//! The office's setup under `/api/v1`: staff, services, resources, the
//! calendar settings, closures and time off. Every signed-in person may
//! read them (booking needs the lists); changing them is for admins and
//! owners, with the same rules and audit trail as Admin → Schedule
//! (`setup.rs`). Changes (`PATCH`, `PUT`) leave out what stays as it is.
//!
//! Hours are text per weekday, as people type them: "09:00-12:00,
//! 13:00-17:00" or "closed". Times are RFC 3339: with an offset
//! (`2026-03-29T09:00:00+02:00`, or `Z`) an exact instant, without one
//! (`2026-03-29T09:00`) local time in the business's zone; answers give
//! them in the business's zone.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::setup::{
    self, ClosureInput, ResourceInput, ServiceInput, SettingsInput, StaffInput, TimeOffInput, When,
};
use crate::app::AppState;
use crate::auth::{AdminUser, CurrentUser};
use crate::calendar::Settings;
use crate::error::{AppError, AppResult, ErrorEnvelope};
use crate::store::{
    Closure, ClosureId, Resource, ResourceId, Service, ServiceId, StaffId, StaffMember, TimeOff,
    TimeOffId, UserId,
};
use crate::web::middleware::ClientIp;
use crate::web::{Access, Routes};

pub fn routes() -> Routes {
    Routes::new()
        .get("/api/v1/staff", Access::Staff, staff_list)
        .post("/api/v1/staff", Access::Admin, staff_create)
        .patch("/api/v1/staff/{id}", Access::Admin, staff_update)
        .get("/api/v1/services", Access::Staff, service_list)
        .post("/api/v1/services", Access::Admin, service_create)
        .patch("/api/v1/services/{id}", Access::Admin, service_update)
        .get("/api/v1/resources", Access::Staff, resource_list)
        .post("/api/v1/resources", Access::Admin, resource_create)
        .patch("/api/v1/resources/{id}", Access::Admin, resource_update)
        .get("/api/v1/schedule/settings", Access::Staff, settings_read)
        .route(
            Method::PUT,
            "/api/v1/schedule/settings",
            Access::Admin,
            settings_update,
        )
        .get("/api/v1/closures", Access::Staff, closure_list)
        .post("/api/v1/closures", Access::Admin, closure_create)
        .delete("/api/v1/closures/{id}", Access::Admin, closure_delete)
        .get("/api/v1/time-off", Access::Staff, time_off_list)
        .post("/api/v1/time-off", Access::Admin, time_off_create)
        .delete("/api/v1/time-off/{id}", Access::Admin, time_off_delete)
}

/// A field of a change that can be set to null (`Some(None)`) as well as
/// left out (`None`).
fn set_or_clear<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Some(Option::deserialize(deserializer)?))
}

fn yes() -> bool {
    true
}

fn one() -> u32 {
    1
}

/// Each weekday's hours as text: "09:00-12:00, 13:00-17:00" or "closed".
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct WeekTexts {
    pub monday: String,
    pub tuesday: String,
    pub wednesday: String,
    pub thursday: String,
    pub friday: String,
    pub saturday: String,
    pub sunday: String,
}

impl WeekTexts {
    fn from_days(days: [String; 7]) -> WeekTexts {
        let [
            monday,
            tuesday,
            wednesday,
            thursday,
            friday,
            saturday,
            sunday,
        ] = days;
        WeekTexts {
            monday,
            tuesday,
            wednesday,
            thursday,
            friday,
            saturday,
            sunday,
        }
    }

    fn into_days(self) -> [String; 7] {
        [
            self.monday,
            self.tuesday,
            self.wednesday,
            self.thursday,
            self.friday,
            self.saturday,
            self.sunday,
        ]
    }
}

// -- staff --

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffView {
    pub id: StaffId,
    pub name: String,
    /// The account this person signs in with, if any.
    pub user_id: Option<UserId>,
    /// Their own working hours, within the opening hours; a day given as
    /// "" follows the opening hours that day. `null`: the opening hours
    /// every day.
    pub hours: Option<WeekTexts>,
    pub active: bool,
}

impl StaffView {
    fn of(member: StaffMember) -> StaffView {
        let texts = setup::hours_texts(&member.hours);
        StaffView {
            id: member.id,
            name: member.name,
            user_id: member.user_id,
            hours: (!setup::follows_opening_hours(&texts)).then(|| WeekTexts::from_days(texts)),
            active: member.active,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewStaff {
    pub name: String,
    #[serde(default)]
    pub user_id: Option<UserId>,
    /// `null` or left out: the opening hours.
    #[serde(default)]
    pub hours: Option<WeekTexts>,
    #[serde(default = "yes")]
    pub active: bool,
}

/// Changes to a staff member; what is left out stays as it is. `user_id`
/// and `hours` may be `null` (no account; the opening hours).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct StaffUpdate {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "set_or_clear")]
    #[schema(value_type = Option<i64>)]
    pub user_id: Option<Option<UserId>>,
    #[serde(default, deserialize_with = "set_or_clear")]
    #[schema(value_type = Option<WeekTexts>)]
    pub hours: Option<Option<WeekTexts>>,
    pub active: Option<bool>,
}

/// Every staff member, active first, by name.
#[utoipa::path(get, path = "/api/v1/staff", tag = "schedule",
    responses((status = 200, body = Vec<StaffView>)))]
async fn staff_list(
    State(state): State<AppState>,
    _: CurrentUser,
) -> AppResult<Json<Vec<StaffView>>> {
    let staff = state.store.staff().await?;
    Ok(Json(staff.into_iter().map(StaffView::of).collect()))
}

/// Adds a staff member (audited).
#[utoipa::path(post, path = "/api/v1/staff", tag = "schedule", request_body = NewStaff,
    responses((status = 201, body = StaffView), (status = 400, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 409, description = "The name or the account is taken", body = ErrorEnvelope)))]
async fn staff_create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    Json(body): Json<NewStaff>,
) -> AppResult<(StatusCode, Json<StaffView>)> {
    let input = StaffInput {
        name: body.name,
        user_id: body.user_id,
        hours: body.hours.map(WeekTexts::into_days).unwrap_or_default(),
        active: body.active,
    };
    let member = setup::create_staff(&state, &admin.user, &ip, &input).await?;
    Ok((StatusCode::CREATED, Json(StaffView::of(member))))
}

/// Changes a staff member (audited with before and after).
#[utoipa::path(patch, path = "/api/v1/staff/{id}", tag = "schedule", request_body = StaffUpdate,
    params(("id" = i64, Path, description = "Staff member id")),
    responses((status = 200, body = StaffView), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn staff_update(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<StaffId>,
    Json(body): Json<StaffUpdate>,
) -> AppResult<Json<StaffView>> {
    let mut input = StaffInput::of(&state.store.staff_member(id).await?);
    if let Some(name) = body.name {
        input.name = name;
    }
    if let Some(user_id) = body.user_id {
        input.user_id = user_id;
    }
    if let Some(hours) = body.hours {
        input.hours = hours.map(WeekTexts::into_days).unwrap_or_default();
    }
    if let Some(active) = body.active {
        input.active = active;
    }
    let member = setup::update_staff(&state, &admin.user, &ip, id, &input).await?;
    Ok(Json(StaffView::of(member)))
}

// -- services --

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewService {
    pub name: String,
    pub duration_minutes: u32,
    #[serde(default)]
    pub buffer_before: u32,
    #[serde(default)]
    pub buffer_after: u32,
    /// In cents (4500 is 45.00); `null` or left out: no price.
    #[serde(default)]
    pub price_cents: Option<i64>,
    /// Customers one slot holds (default 1).
    #[serde(default = "one")]
    pub capacity: u32,
    #[serde(default = "yes")]
    pub active: bool,
    /// Who can do it; empty or left out: anyone.
    #[serde(default)]
    pub staff: Vec<StaffId>,
    /// The resources it can use, any one; empty or left out: none needed.
    #[serde(default)]
    pub resources: Vec<ResourceId>,
}

/// Changes to a service; what is left out stays as it is. `price_cents`
/// may be `null` (no price).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ServiceUpdate {
    pub name: Option<String>,
    pub duration_minutes: Option<u32>,
    pub buffer_before: Option<u32>,
    pub buffer_after: Option<u32>,
    #[serde(default, deserialize_with = "set_or_clear")]
    #[schema(value_type = Option<i64>)]
    pub price_cents: Option<Option<i64>>,
    pub capacity: Option<u32>,
    pub active: Option<bool>,
    pub staff: Option<Vec<StaffId>>,
    pub resources: Option<Vec<ResourceId>>,
}

/// Every service, by name, with who can do it and what it can use.
#[utoipa::path(get, path = "/api/v1/services", tag = "schedule",
    responses((status = 200, body = Vec<Service>)))]
async fn service_list(
    State(state): State<AppState>,
    _: CurrentUser,
) -> AppResult<Json<Vec<Service>>> {
    Ok(Json(state.store.services().await?))
}

/// Adds a service (audited).
#[utoipa::path(post, path = "/api/v1/services", tag = "schedule", request_body = NewService,
    responses((status = 201, body = Service), (status = 400, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 409, description = "The name is taken", body = ErrorEnvelope)))]
async fn service_create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    Json(body): Json<NewService>,
) -> AppResult<(StatusCode, Json<Service>)> {
    let input = ServiceInput {
        name: body.name,
        duration_minutes: body.duration_minutes,
        buffer_before: body.buffer_before,
        buffer_after: body.buffer_after,
        price_cents: body.price_cents,
        capacity: body.capacity,
        active: body.active,
        staff: body.staff,
        resources: body.resources,
    };
    let service = setup::create_service(&state, &admin.user, &ip, &input).await?;
    Ok((StatusCode::CREATED, Json(service)))
}

/// Changes a service (audited with before and after).
#[utoipa::path(patch, path = "/api/v1/services/{id}", tag = "schedule", request_body = ServiceUpdate,
    params(("id" = i64, Path, description = "Service id")),
    responses((status = 200, body = Service), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn service_update(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<ServiceId>,
    Json(body): Json<ServiceUpdate>,
) -> AppResult<Json<Service>> {
    let mut input = ServiceInput::of(&state.store.service(id).await?);
    if let Some(name) = body.name {
        input.name = name;
    }
    if let Some(minutes) = body.duration_minutes {
        input.duration_minutes = minutes;
    }
    if let Some(minutes) = body.buffer_before {
        input.buffer_before = minutes;
    }
    if let Some(minutes) = body.buffer_after {
        input.buffer_after = minutes;
    }
    if let Some(price) = body.price_cents {
        input.price_cents = price;
    }
    if let Some(capacity) = body.capacity {
        input.capacity = capacity;
    }
    if let Some(active) = body.active {
        input.active = active;
    }
    if let Some(staff) = body.staff {
        input.staff = staff;
    }
    if let Some(resources) = body.resources {
        input.resources = resources;
    }
    Ok(Json(
        setup::update_service(&state, &admin.user, &ip, id, &input).await?,
    ))
}

// -- resources --

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewResource {
    pub name: String,
    /// What it is, in the office's words ("room", "chair", "van").
    #[serde(default)]
    pub kind: String,
    #[serde(default = "yes")]
    pub active: bool,
}

/// Changes to a resource; what is left out stays as it is.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ResourceUpdate {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub active: Option<bool>,
}

/// Every resource, active first, by name.
#[utoipa::path(get, path = "/api/v1/resources", tag = "schedule",
    responses((status = 200, body = Vec<Resource>)))]
async fn resource_list(
    State(state): State<AppState>,
    _: CurrentUser,
) -> AppResult<Json<Vec<Resource>>> {
    Ok(Json(state.store.resources().await?))
}

/// Adds a resource (audited).
#[utoipa::path(post, path = "/api/v1/resources", tag = "schedule", request_body = NewResource,
    responses((status = 201, body = Resource), (status = 400, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 409, description = "The name is taken", body = ErrorEnvelope)))]
async fn resource_create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    Json(body): Json<NewResource>,
) -> AppResult<(StatusCode, Json<Resource>)> {
    let input = ResourceInput {
        name: body.name,
        kind: body.kind,
        active: body.active,
    };
    let resource = setup::create_resource(&state, &admin.user, &ip, &input).await?;
    Ok((StatusCode::CREATED, Json(resource)))
}

/// Changes a resource (audited with before and after).
#[utoipa::path(patch, path = "/api/v1/resources/{id}", tag = "schedule", request_body = ResourceUpdate,
    params(("id" = i64, Path, description = "Resource id")),
    responses((status = 200, body = Resource), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn resource_update(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<ResourceId>,
    Json(body): Json<ResourceUpdate>,
) -> AppResult<Json<Resource>> {
    let mut input = ResourceInput::of(&state.store.resource(id).await?);
    if let Some(name) = body.name {
        input.name = name;
    }
    if let Some(kind) = body.kind {
        input.kind = kind;
    }
    if let Some(active) = body.active {
        input.active = active;
    }
    Ok(Json(
        setup::update_resource(&state, &admin.user, &ip, id, &input).await?,
    ))
}

// -- settings --

#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleSettings {
    /// The business's time zone (IANA, "Europe/Berlin").
    pub time_zone: String,
    /// Offered start times fall on multiples of this many minutes.
    pub slot_minutes: u32,
    pub opening_hours: WeekTexts,
}

impl ScheduleSettings {
    fn of(settings: &Settings) -> ScheduleSettings {
        ScheduleSettings {
            time_zone: settings.zone_name.clone(),
            slot_minutes: settings.step_minutes,
            opening_hours: WeekTexts::from_days(settings.opening.texts()),
        }
    }
}

/// Changes to the settings; what is left out stays as it is. Opening
/// hours, when given, name all seven days.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ScheduleSettingsUpdate {
    pub time_zone: Option<String>,
    /// 5 to 240.
    pub slot_minutes: Option<u32>,
    pub opening_hours: Option<WeekTexts>,
}

/// The business's time zone, slot step and opening hours.
#[utoipa::path(get, path = "/api/v1/schedule/settings", tag = "schedule",
    responses((status = 200, body = ScheduleSettings)))]
async fn settings_read(
    State(state): State<AppState>,
    _: CurrentUser,
) -> AppResult<Json<ScheduleSettings>> {
    let settings = Settings::load(&state.store).await?;
    Ok(Json(ScheduleSettings::of(&settings)))
}

/// Changes the settings; each one changed is a new version (audited).
#[utoipa::path(put, path = "/api/v1/schedule/settings", tag = "schedule", request_body = ScheduleSettingsUpdate,
    responses((status = 200, body = ScheduleSettings), (status = 400, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope)))]
async fn settings_update(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    Json(body): Json<ScheduleSettingsUpdate>,
) -> AppResult<Json<ScheduleSettings>> {
    let mut input = SettingsInput::of(&Settings::load(&state.store).await?);
    if let Some(zone) = body.time_zone {
        input.time_zone = zone;
    }
    if let Some(minutes) = body.slot_minutes {
        input.step_minutes = minutes;
    }
    if let Some(hours) = body.opening_hours {
        input.opening_hours = hours.into_days();
    }
    let settings = setup::save_settings(&state, &admin.user, &ip, &input).await?;
    Ok(Json(ScheduleSettings::of(&settings)))
}

// -- closures --

#[derive(Debug, Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct ClosureQuery {
    /// The first day (`YYYY-MM-DD`); default: today.
    from: Option<String>,
    /// The last day; default: no end.
    until: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewClosure {
    /// `YYYY-MM-DD`.
    pub first_day: String,
    /// `YYYY-MM-DD`; left out: the first day only.
    #[serde(default)]
    pub last_day: Option<String>,
    #[serde(default)]
    pub reason: String,
}

fn civil_day(what: &str, text: &str) -> AppResult<String> {
    text.trim()
        .parse::<jiff::civil::Date>()
        .map(|d| d.to_string())
        .map_err(|_| AppError::BadRequest(format!("`{what}` is a date like 2026-12-24.")))
}

/// Closures that touch the days asked for (default: from today on), in order.
#[utoipa::path(get, path = "/api/v1/closures", tag = "schedule", params(ClosureQuery),
    responses((status = 200, body = Vec<Closure>), (status = 400, body = ErrorEnvelope)))]
async fn closure_list(
    State(state): State<AppState>,
    _: CurrentUser,
    Query(query): Query<ClosureQuery>,
) -> AppResult<Json<Vec<Closure>>> {
    let first = match query.from.as_deref() {
        Some(day) => civil_day("from", day)?,
        None => {
            let settings = Settings::load(&state.store).await?;
            settings.local(setup::now(&state)).date().to_string()
        }
    };
    let last = match query.until.as_deref() {
        Some(day) => civil_day("until", day)?,
        None => "9999-12-31".to_string(),
    };
    Ok(Json(state.store.closures(first, last).await?))
}

/// Closes the office on some days (audited).
#[utoipa::path(post, path = "/api/v1/closures", tag = "schedule", request_body = NewClosure,
    responses((status = 201, body = Closure), (status = 400, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope)))]
async fn closure_create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    Json(body): Json<NewClosure>,
) -> AppResult<(StatusCode, Json<Closure>)> {
    let input = ClosureInput {
        first_day: body.first_day,
        last_day: body.last_day.unwrap_or_default(),
        reason: body.reason,
    };
    let closure = setup::add_closure(&state, &admin.user, &ip, &input).await?;
    Ok((StatusCode::CREATED, Json(closure)))
}

/// Removes a closure (audited).
#[utoipa::path(delete, path = "/api/v1/closures/{id}", tag = "schedule",
    params(("id" = i64, Path, description = "Closure id")),
    responses((status = 204), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn closure_delete(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<ClosureId>,
) -> AppResult<StatusCode> {
    setup::delete_closure(&state, &admin.user, &ip, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// -- time off --

#[derive(Debug, Serialize, ToSchema)]
pub struct TimeOffView {
    pub id: TimeOffId,
    pub staff_id: StaffId,
    pub staff: String,
    /// RFC 3339 in the business's zone.
    pub starts_at: String,
    pub ends_at: String,
    pub reason: String,
}

fn time_off_view(settings: &Settings, staff: &[StaffMember], t: TimeOff) -> TimeOffView {
    TimeOffView {
        id: t.id,
        staff_id: t.staff_id,
        staff: staff
            .iter()
            .find(|s| s.id == t.staff_id)
            .map_or_else(|| format!("#{}", t.staff_id), |s| s.name.clone()),
        starts_at: setup::rfc3339(settings, t.starts_at),
        ends_at: setup::rfc3339(settings, t.ends_at),
        reason: t.reason,
    }
}

#[derive(Debug, Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct TimeOffQuery {
    /// Only this staff member's (id).
    staff: Option<i64>,
    /// From this time on (RFC 3339, or local); default: now.
    from: Option<String>,
    /// Before this time; default: no end.
    until: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewTimeOff {
    pub staff_id: StaffId,
    /// RFC 3339 (`2026-03-29T09:00:00+02:00`), or local time in the
    /// business's zone (`2026-03-29T09:00`).
    pub starts_at: String,
    pub ends_at: String,
    #[serde(default)]
    pub reason: String,
}

/// An instant for a list's bound (a time the clocks skip counts from the
/// moment they skip to).
fn bound(settings: &Settings, what: &str, text: &str) -> AppResult<i64> {
    Ok(match setup::parse_when(what, text)? {
        When::At(at) => at.as_second(),
        When::Local(local) => settings
            .zone
            .to_ambiguous_timestamp(local)
            .compatible()
            .map_err(|_| AppError::BadRequest(format!("`{what}` is out of range.")))?
            .as_second(),
    })
}

/// Time off that overlaps the times asked for (default: from now on), by
/// start.
#[utoipa::path(get, path = "/api/v1/time-off", tag = "schedule", params(TimeOffQuery),
    responses((status = 200, body = Vec<TimeOffView>), (status = 400, body = ErrorEnvelope)))]
async fn time_off_list(
    State(state): State<AppState>,
    _: CurrentUser,
    Query(query): Query<TimeOffQuery>,
) -> AppResult<Json<Vec<TimeOffView>>> {
    let settings = Settings::load(&state.store).await?;
    let from = match query.from.as_deref() {
        Some(text) => bound(&settings, "from", text)?,
        None => state.store.now(),
    };
    let until = match query.until.as_deref() {
        Some(text) => bound(&settings, "until", text)?,
        None => i64::MAX,
    };
    let list = setup::time_off_between(&state, query.staff.map(StaffId), from, until).await?;
    let staff = state.store.staff().await?;
    Ok(Json(
        list.into_iter()
            .map(|t| time_off_view(&settings, &staff, t))
            .collect(),
    ))
}

/// Adds time off for a staff member (audited). A local time the clocks
/// skip is refused; of one they repeat, the start is the earlier and the
/// end the later instant.
#[utoipa::path(post, path = "/api/v1/time-off", tag = "schedule", request_body = NewTimeOff,
    responses((status = 201, body = TimeOffView), (status = 400, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope)))]
async fn time_off_create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    Json(body): Json<NewTimeOff>,
) -> AppResult<(StatusCode, Json<TimeOffView>)> {
    let input = TimeOffInput {
        staff: body.staff_id,
        from: setup::parse_when("start", &body.starts_at)?,
        until: setup::parse_when("end", &body.ends_at)?,
        reason: body.reason,
    };
    let time_off = setup::add_time_off(&state, &admin.user, &ip, &input).await?;
    let settings = Settings::load(&state.store).await?;
    let staff = state.store.staff().await?;
    Ok((
        StatusCode::CREATED,
        Json(time_off_view(&settings, &staff, time_off)),
    ))
}

/// Removes time off (audited).
#[utoipa::path(delete, path = "/api/v1/time-off/{id}", tag = "schedule",
    params(("id" = i64, Path, description = "Time off id")),
    responses((status = 204), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn time_off_delete(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<TimeOffId>,
) -> AppResult<StatusCode> {
    setup::delete_time_off(&state, &admin.user, &ip, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        staff_list,
        staff_create,
        staff_update,
        service_list,
        service_create,
        service_update,
        resource_list,
        resource_create,
        resource_update,
        settings_read,
        settings_update,
        closure_list,
        closure_create,
        closure_delete,
        time_off_list,
        time_off_create,
        time_off_delete
    ),
    components(schemas(
        WeekTexts,
        StaffView,
        NewStaff,
        StaffUpdate,
        Service,
        NewService,
        ServiceUpdate,
        Resource,
        NewResource,
        ResourceUpdate,
        ScheduleSettings,
        ScheduleSettingsUpdate,
        Closure,
        NewClosure,
        TimeOffView,
        NewTimeOff,
        StaffId,
        ServiceId,
        ResourceId,
        ClosureId,
        TimeOffId,
        UserId,
        ErrorEnvelope
    ))
)]
struct ApiDoc;

pub fn api_doc() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}
