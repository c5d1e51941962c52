//! Admin → Schedule: the business's time zone, slot step and opening hours
//! with its closures (`/admin/schedule`), staff with their working hours
//! and time off, services, and resources. Each form sends what people
//! typed; the rules are `setup.rs`'s, and a refusal shows the same page
//! again with the message beside the form and the values kept.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::setup::{
    self, ClosureInput, ResourceInput, ServiceInput, SettingsInput, StaffInput, TimeOffInput,
};
use crate::app::AppState;
use crate::auth::AdminUser;
use crate::calendar::Settings;
use crate::calendar::hours::DAY_NAMES;
use crate::error::{AppError, AppResult};
use crate::store::{
    Closure, ClosureId, Resource, ResourceId, Service, ServiceId, StaffId, StaffMember, TimeOff,
    TimeOffId, User, UserId,
};
use crate::web::layout::{Shell, redirect_with_flash, render_with_status};
use crate::web::middleware::ClientIp;
use crate::web::{Access, Routes};

pub fn routes() -> Routes {
    Routes::new()
        .get("/admin/schedule", Access::Admin, hours_page)
        .post("/admin/schedule/settings", Access::Admin, settings_submit)
        .post("/admin/schedule/closures", Access::Admin, closure_submit)
        .post(
            "/admin/schedule/closures/{id}/delete",
            Access::Admin,
            closure_delete_submit,
        )
        .get("/admin/schedule/staff", Access::Admin, staff_list_page)
        .post("/admin/schedule/staff", Access::Admin, staff_create_submit)
        .get("/admin/schedule/staff/{id}", Access::Admin, staff_page)
        .post(
            "/admin/schedule/staff/{id}",
            Access::Admin,
            staff_update_submit,
        )
        .post(
            "/admin/schedule/staff/{id}/time-off",
            Access::Admin,
            time_off_submit,
        )
        .post(
            "/admin/schedule/time-off/{id}/delete",
            Access::Admin,
            time_off_delete_submit,
        )
        .get("/admin/schedule/services", Access::Admin, services_page)
        .post(
            "/admin/schedule/services",
            Access::Admin,
            service_create_submit,
        )
        .get("/admin/schedule/services/{id}", Access::Admin, service_page)
        .post(
            "/admin/schedule/services/{id}",
            Access::Admin,
            service_update_submit,
        )
        .get("/admin/schedule/resources", Access::Admin, resources_page)
        .post(
            "/admin/schedule/resources",
            Access::Admin,
            resource_create_submit,
        )
        .get(
            "/admin/schedule/resources/{id}",
            Access::Admin,
            resource_page,
        )
        .post(
            "/admin/schedule/resources/{id}",
            Access::Admin,
            resource_update_submit,
        )
}

/// The form fields of the seven weekdays, Monday first.
pub const DAY_FIELDS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// A form's fields as sent; checkboxes repeat a name once per box ticked.
struct Fields(Vec<(String, String)>);

impl Fields {
    fn get(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn checked(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    fn days(&self) -> [String; 7] {
        DAY_FIELDS.map(|field| self.get(field))
    }
}

/// A whole number typed into a field, or a sentence naming the field.
fn number(what: &str, text: &str) -> AppResult<u32> {
    let text = text.trim();
    text.parse()
        .map_err(|_| AppError::BadRequest(format!("The {what} “{text}” is not a whole number.")))
}

/// The seven weekdays for a form: (label, field, value).
fn day_rows(values: &[String; 7]) -> Vec<(&'static str, &'static str, String)> {
    (0..7)
        .map(|i| (DAY_NAMES[i], DAY_FIELDS[i], values[i].clone()))
        .collect()
}

/// Whether an error is the person's to fix (shown beside the form) rather
/// than the page's to report.
fn is_for_the_form(err: &AppError) -> bool {
    matches!(err, AppError::BadRequest(_) | AppError::Conflict(_))
}

// -- hours and closures --

/// The settings form as typed.
#[derive(Debug, Clone, Default)]
pub struct SettingsForm {
    pub time_zone: String,
    pub step_minutes: String,
    pub hours: [String; 7],
}

impl SettingsForm {
    fn of(settings: &Settings) -> SettingsForm {
        let input = SettingsInput::of(settings);
        SettingsForm {
            time_zone: input.time_zone,
            step_minutes: input.step_minutes.to_string(),
            hours: input.opening_hours,
        }
    }

    fn input(&self) -> AppResult<SettingsInput> {
        Ok(SettingsInput {
            time_zone: self.time_zone.clone(),
            step_minutes: number("slot step", &self.step_minutes)?,
            opening_hours: self.hours.clone(),
        })
    }
}

#[derive(Template)]
#[template(path = "schedule/setup_hours.html")]
pub struct HoursPage {
    shell: Shell,
    zones: &'static [String],
    form: SettingsForm,
    settings_error: Option<String>,
    closures: Vec<Closure>,
    closure_form: ClosureInput,
    closure_error: Option<String>,
}

impl HoursPage {
    fn days(&self) -> Vec<(&'static str, &'static str, String)> {
        day_rows(&self.form.hours)
    }

    fn closure_text(&self, closure: &Closure) -> String {
        setup::describe_closure(closure)
    }

    /// Whether the stored zone is missing from the list (then it is shown
    /// first, so saving the form does not change it unasked).
    fn zone_unlisted(&self) -> bool {
        !self.zones.contains(&self.form.time_zone)
    }
}

struct HoursErrors {
    form: Option<SettingsForm>,
    settings: Option<String>,
    closure_form: Option<ClosureInput>,
    closure: Option<String>,
}

async fn render_hours(
    state: &AppState,
    shell: Shell,
    status: StatusCode,
    errors: HoursErrors,
) -> AppResult<Response> {
    let settings = Settings::load(&state.store).await?;
    let page = HoursPage {
        shell,
        zones: setup::time_zones(),
        form: errors.form.unwrap_or_else(|| SettingsForm::of(&settings)),
        settings_error: errors.settings,
        closures: setup::upcoming_closures(state, &settings).await?,
        closure_form: errors.closure_form.unwrap_or_default(),
        closure_error: errors.closure,
    };
    Ok(render_with_status(status, &page))
}

async fn hours_page(
    State(state): State<AppState>,
    shell: Shell,
    _: AdminUser,
) -> AppResult<Response> {
    let none = HoursErrors {
        form: None,
        settings: None,
        closure_form: None,
        closure: None,
    };
    render_hours(&state, shell, StatusCode::OK, none).await
}

async fn settings_submit(
    State(state): State<AppState>,
    shell: Shell,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let fields = Fields(pairs);
    let form = SettingsForm {
        time_zone: fields.get("time_zone"),
        step_minutes: fields.get("step_minutes"),
        hours: fields.days(),
    };
    let saved = match form.input() {
        Ok(input) => setup::save_settings(&state, &admin.user, &ip, &input).await,
        Err(err) => Err(err),
    };
    match saved {
        Ok(_) => Ok(redirect_with_flash(
            &state,
            "/admin/schedule",
            "Saved the time zone, slot step and opening hours.",
        )),
        Err(err) if is_for_the_form(&err) => {
            let errors = HoursErrors {
                form: Some(form),
                settings: Some(setup::sentence(&err)),
                closure_form: None,
                closure: None,
            };
            render_hours(&state, shell, err.status(), errors).await
        }
        Err(other) => Err(other),
    }
}

async fn closure_submit(
    State(state): State<AppState>,
    shell: Shell,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let fields = Fields(pairs);
    let input = ClosureInput {
        first_day: fields.get("first_day"),
        last_day: fields.get("last_day"),
        reason: fields.get("reason"),
    };
    match setup::add_closure(&state, &admin.user, &ip, &input).await {
        Ok(closure) => Ok(redirect_with_flash(
            &state,
            "/admin/schedule",
            &format!("Closed on {}.", setup::describe_closure(&closure)),
        )),
        Err(err) if is_for_the_form(&err) => {
            let errors = HoursErrors {
                form: None,
                settings: None,
                closure_form: Some(input),
                closure: Some(setup::sentence(&err)),
            };
            render_hours(&state, shell, err.status(), errors).await
        }
        Err(other) => Err(other),
    }
}

async fn closure_delete_submit(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<ClosureId>,
) -> AppResult<Response> {
    let closure = setup::delete_closure(&state, &admin.user, &ip, id).await?;
    Ok(redirect_with_flash(
        &state,
        "/admin/schedule",
        &format!("Removed the closure {}.", setup::describe_closure(&closure)),
    ))
}

// -- staff --

/// The staff form as typed.
#[derive(Debug, Clone)]
pub struct StaffForm {
    pub name: String,
    /// The linked account's id, or empty.
    pub user: String,
    pub hours: [String; 7],
    pub active: bool,
}

impl Default for StaffForm {
    fn default() -> Self {
        StaffForm {
            name: String::new(),
            user: String::new(),
            hours: Default::default(),
            active: true,
        }
    }
}

impl StaffForm {
    fn of(member: &StaffMember) -> StaffForm {
        let input = StaffInput::of(member);
        StaffForm {
            name: input.name,
            user: input.user_id.map(|u| u.0.to_string()).unwrap_or_default(),
            hours: input.hours,
            active: input.active,
        }
    }

    fn from_fields(fields: &Fields) -> StaffForm {
        StaffForm {
            name: fields.get("name"),
            user: fields.get("user"),
            hours: fields.days(),
            active: fields.checked("active"),
        }
    }

    fn input(&self) -> AppResult<StaffInput> {
        let user_id = match self.user.trim() {
            "" => None,
            id => Some(UserId(id.parse().map_err(|_| {
                AppError::bad_request("That account does not exist.")
            })?)),
        };
        Ok(StaffInput {
            name: self.name.clone(),
            user_id,
            hours: self.hours.clone(),
            active: self.active,
        })
    }
}

/// What the staff pages share: the accounts a staff member can be linked to.
fn account_label(users: &[User], id: Option<UserId>) -> String {
    match id {
        None => String::new(),
        Some(id) => users
            .iter()
            .find(|u| u.id == id)
            .map_or_else(|| format!("#{}", id.0), |u| u.username.clone()),
    }
}

#[derive(Template)]
#[template(path = "schedule/setup_staff.html")]
pub struct StaffListPage {
    shell: Shell,
    staff: Vec<StaffMember>,
    users: Vec<User>,
    form: StaffForm,
    error: Option<String>,
}

impl StaffListPage {
    fn days(&self) -> Vec<(&'static str, &'static str, String)> {
        day_rows(&self.form.hours)
    }

    fn account(&self, member: &StaffMember) -> String {
        account_label(&self.users, member.user_id)
    }

    fn hours(&self, member: &StaffMember) -> &'static str {
        if setup::follows_opening_hours(&setup::hours_texts(&member.hours)) {
            "Opening hours"
        } else {
            "Own hours"
        }
    }

    fn user_selected(&self, user: &User) -> bool {
        self.form.user == user.id.0.to_string()
    }
}

async fn render_staff_list(
    state: &AppState,
    shell: Shell,
    status: StatusCode,
    form: StaffForm,
    error: Option<String>,
) -> AppResult<Response> {
    let page = StaffListPage {
        shell,
        staff: state.store.staff().await?,
        users: state.store.users().await?,
        form,
        error,
    };
    Ok(render_with_status(status, &page))
}

async fn staff_list_page(
    State(state): State<AppState>,
    shell: Shell,
    _: AdminUser,
) -> AppResult<Response> {
    render_staff_list(&state, shell, StatusCode::OK, StaffForm::default(), None).await
}

async fn staff_create_submit(
    State(state): State<AppState>,
    shell: Shell,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let form = StaffForm::from_fields(&Fields(pairs));
    let created = match form.input() {
        Ok(input) => setup::create_staff(&state, &admin.user, &ip, &input).await,
        Err(err) => Err(err),
    };
    match created {
        Ok(member) => Ok(redirect_with_flash(
            &state,
            "/admin/schedule/staff",
            &format!("Added {}.", member.name),
        )),
        Err(err) if is_for_the_form(&err) => {
            let error = Some(setup::sentence(&err));
            render_staff_list(&state, shell, err.status(), form, error).await
        }
        Err(other) => Err(other),
    }
}

/// A time off as the staff page lists it.
pub struct TimeOffRow {
    pub id: TimeOffId,
    pub from: String,
    pub until: String,
    pub reason: String,
}

/// The time off form as typed: local date-times (`2026-03-29T09:00`).
#[derive(Debug, Clone, Default)]
pub struct TimeOffForm {
    pub from: String,
    pub until: String,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "schedule/setup_staff_member.html")]
pub struct StaffPage {
    shell: Shell,
    member: StaffMember,
    users: Vec<User>,
    form: StaffForm,
    error: Option<String>,
    zone_name: String,
    time_off: Vec<TimeOffRow>,
    time_off_form: TimeOffForm,
    time_off_error: Option<String>,
}

impl StaffPage {
    fn days(&self) -> Vec<(&'static str, &'static str, String)> {
        day_rows(&self.form.hours)
    }

    fn user_selected(&self, user: &User) -> bool {
        self.form.user == user.id.0.to_string()
    }
}

struct StaffErrors {
    form: Option<StaffForm>,
    error: Option<String>,
    time_off_form: Option<TimeOffForm>,
    time_off_error: Option<String>,
}

impl StaffErrors {
    fn none() -> StaffErrors {
        StaffErrors {
            form: None,
            error: None,
            time_off_form: None,
            time_off_error: None,
        }
    }
}

async fn render_staff(
    state: &AppState,
    shell: Shell,
    id: StaffId,
    status: StatusCode,
    errors: StaffErrors,
) -> AppResult<Response> {
    let member = state.store.staff_member(id).await?;
    let settings = Settings::load(&state.store).await?;
    let describe = |s: i64| settings.describe(jiff::Timestamp::from_second(s).unwrap_or_default());
    let now = state.store.now();
    let time_off = setup::time_off_between(state, Some(id), now, i64::MAX)
        .await?
        .into_iter()
        .map(|t: TimeOff| TimeOffRow {
            id: t.id,
            from: describe(t.starts_at),
            until: describe(t.ends_at),
            reason: t.reason,
        })
        .collect();
    let page = StaffPage {
        shell,
        form: errors.form.unwrap_or_else(|| StaffForm::of(&member)),
        member,
        users: state.store.users().await?,
        error: errors.error,
        zone_name: settings.zone_name.clone(),
        time_off,
        time_off_form: errors.time_off_form.unwrap_or_default(),
        time_off_error: errors.time_off_error,
    };
    Ok(render_with_status(status, &page))
}

async fn staff_page(
    State(state): State<AppState>,
    shell: Shell,
    _: AdminUser,
    Path(id): Path<StaffId>,
) -> AppResult<Response> {
    render_staff(&state, shell, id, StatusCode::OK, StaffErrors::none()).await
}

async fn staff_update_submit(
    State(state): State<AppState>,
    shell: Shell,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<StaffId>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let form = StaffForm::from_fields(&Fields(pairs));
    let updated = match form.input() {
        Ok(input) => setup::update_staff(&state, &admin.user, &ip, id, &input).await,
        Err(err) => Err(err),
    };
    match updated {
        Ok(member) => Ok(redirect_with_flash(
            &state,
            &format!("/admin/schedule/staff/{id}"),
            &format!("Saved {}.", member.name),
        )),
        Err(err) if is_for_the_form(&err) => {
            let errors = StaffErrors {
                form: Some(form),
                error: Some(setup::sentence(&err)),
                ..StaffErrors::none()
            };
            render_staff(&state, shell, id, err.status(), errors).await
        }
        Err(other) => Err(other),
    }
}

async fn time_off_submit(
    State(state): State<AppState>,
    shell: Shell,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<StaffId>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let fields = Fields(pairs);
    let form = TimeOffForm {
        from: fields.get("from"),
        until: fields.get("until"),
        reason: fields.get("reason"),
    };
    let added = async {
        let input = TimeOffInput {
            staff: id,
            from: setup::parse_when("start", &form.from)?,
            until: setup::parse_when("end", &form.until)?,
            reason: form.reason.clone(),
        };
        setup::add_time_off(&state, &admin.user, &ip, &input).await
    }
    .await;
    match added {
        Ok(_) => Ok(redirect_with_flash(
            &state,
            &format!("/admin/schedule/staff/{id}"),
            "Added the time off.",
        )),
        Err(err) if is_for_the_form(&err) => {
            let errors = StaffErrors {
                time_off_form: Some(form),
                time_off_error: Some(setup::sentence(&err)),
                ..StaffErrors::none()
            };
            render_staff(&state, shell, id, err.status(), errors).await
        }
        Err(other) => Err(other),
    }
}

async fn time_off_delete_submit(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<TimeOffId>,
) -> AppResult<Response> {
    let time_off = setup::delete_time_off(&state, &admin.user, &ip, id).await?;
    Ok(redirect_with_flash(
        &state,
        &format!("/admin/schedule/staff/{}", time_off.staff_id),
        "Removed the time off.",
    ))
}

// -- services --

/// The service form as typed.
#[derive(Debug, Clone)]
pub struct ServiceForm {
    pub name: String,
    pub duration: String,
    pub buffer_before: String,
    pub buffer_after: String,
    pub price: String,
    pub capacity: String,
    pub active: bool,
    pub staff: Vec<String>,
    pub resources: Vec<String>,
}

impl Default for ServiceForm {
    fn default() -> Self {
        ServiceForm {
            name: String::new(),
            duration: "30".into(),
            buffer_before: "0".into(),
            buffer_after: "0".into(),
            price: String::new(),
            capacity: "1".into(),
            active: true,
            staff: Vec::new(),
            resources: Vec::new(),
        }
    }
}

impl ServiceForm {
    fn of(service: &Service) -> ServiceForm {
        let input = ServiceInput::of(service);
        ServiceForm {
            name: input.name,
            duration: input.duration_minutes.to_string(),
            buffer_before: input.buffer_before.to_string(),
            buffer_after: input.buffer_after.to_string(),
            price: setup::format_price(input.price_cents),
            capacity: input.capacity.to_string(),
            active: input.active,
            staff: input.staff.iter().map(ToString::to_string).collect(),
            resources: input.resources.iter().map(ToString::to_string).collect(),
        }
    }

    fn from_fields(fields: &Fields) -> ServiceForm {
        ServiceForm {
            name: fields.get("name"),
            duration: fields.get("duration"),
            buffer_before: fields.get("buffer_before"),
            buffer_after: fields.get("buffer_after"),
            price: fields.get("price"),
            capacity: fields.get("capacity"),
            active: fields.checked("active"),
            staff: fields.all("staff"),
            resources: fields.all("resource"),
        }
    }

    fn input(&self) -> AppResult<ServiceInput> {
        let ids = |values: &[String], what: &str| -> AppResult<Vec<i64>> {
            values
                .iter()
                .map(|v| {
                    v.trim()
                        .parse()
                        .map_err(|_| AppError::BadRequest(format!("There is no {what} “{v}”.")))
                })
                .collect()
        };
        Ok(ServiceInput {
            name: self.name.clone(),
            duration_minutes: number("duration", &self.duration)?,
            buffer_before: number("buffer before", &self.buffer_before)?,
            buffer_after: number("buffer after", &self.buffer_after)?,
            price_cents: setup::parse_price(&self.price)?,
            capacity: number("capacity", &self.capacity)?,
            active: self.active,
            staff: ids(&self.staff, "staff member")?
                .into_iter()
                .map(StaffId)
                .collect(),
            resources: ids(&self.resources, "resource")?
                .into_iter()
                .map(ResourceId)
                .collect(),
        })
    }
}

/// What the service pages share: the staff and resources to tick.
struct Choices {
    staff: Vec<StaffMember>,
    resources: Vec<Resource>,
}

impl Choices {
    async fn load(state: &AppState) -> AppResult<Choices> {
        Ok(Choices {
            staff: state.store.staff().await?,
            resources: state.store.resources().await?,
        })
    }

    fn staff_names(&self, service: &Service) -> String {
        if service.staff.is_empty() {
            return "Anyone".to_string();
        }
        self.staff
            .iter()
            .filter(|s| service.staff.contains(&s.id))
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn resource_names(&self, service: &Service) -> String {
        if service.resources.is_empty() {
            return "None".to_string();
        }
        self.resources
            .iter()
            .filter(|r| service.resources.contains(&r.id))
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[derive(Template)]
#[template(path = "schedule/setup_services.html")]
pub struct ServicesPage {
    shell: Shell,
    services: Vec<Service>,
    choices: Choices,
    form: ServiceForm,
    error: Option<String>,
}

impl ServicesPage {
    fn who(&self, service: &Service) -> String {
        self.choices.staff_names(service)
    }

    fn uses(&self, service: &Service) -> String {
        self.choices.resource_names(service)
    }

    fn price(&self, service: &Service) -> String {
        setup::format_price(service.price_cents)
    }

    fn staff_checked(&self, member: &StaffMember) -> bool {
        self.form.staff.contains(&member.id.to_string())
    }

    fn resource_checked(&self, resource: &Resource) -> bool {
        self.form.resources.contains(&resource.id.to_string())
    }
}

async fn render_services(
    state: &AppState,
    shell: Shell,
    status: StatusCode,
    form: ServiceForm,
    error: Option<String>,
) -> AppResult<Response> {
    let page = ServicesPage {
        shell,
        services: state.store.services().await?,
        choices: Choices::load(state).await?,
        form,
        error,
    };
    Ok(render_with_status(status, &page))
}

async fn services_page(
    State(state): State<AppState>,
    shell: Shell,
    _: AdminUser,
) -> AppResult<Response> {
    render_services(&state, shell, StatusCode::OK, ServiceForm::default(), None).await
}

async fn service_create_submit(
    State(state): State<AppState>,
    shell: Shell,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let form = ServiceForm::from_fields(&Fields(pairs));
    let created = match form.input() {
        Ok(input) => setup::create_service(&state, &admin.user, &ip, &input).await,
        Err(err) => Err(err),
    };
    match created {
        Ok(service) => Ok(redirect_with_flash(
            &state,
            "/admin/schedule/services",
            &format!("Added {}.", service.name),
        )),
        Err(err) if is_for_the_form(&err) => {
            let error = Some(setup::sentence(&err));
            render_services(&state, shell, err.status(), form, error).await
        }
        Err(other) => Err(other),
    }
}

#[derive(Template)]
#[template(path = "schedule/setup_service.html")]
pub struct ServicePage {
    shell: Shell,
    service: Service,
    choices: Choices,
    form: ServiceForm,
    error: Option<String>,
}

impl ServicePage {
    fn staff_checked(&self, member: &StaffMember) -> bool {
        self.form.staff.contains(&member.id.to_string())
    }

    fn resource_checked(&self, resource: &Resource) -> bool {
        self.form.resources.contains(&resource.id.to_string())
    }
}

async fn render_service(
    state: &AppState,
    shell: Shell,
    id: ServiceId,
    status: StatusCode,
    form: Option<ServiceForm>,
    error: Option<String>,
) -> AppResult<Response> {
    let service = state.store.service(id).await?;
    let page = ServicePage {
        shell,
        form: form.unwrap_or_else(|| ServiceForm::of(&service)),
        service,
        choices: Choices::load(state).await?,
        error,
    };
    Ok(render_with_status(status, &page))
}

async fn service_page(
    State(state): State<AppState>,
    shell: Shell,
    _: AdminUser,
    Path(id): Path<ServiceId>,
) -> AppResult<Response> {
    render_service(&state, shell, id, StatusCode::OK, None, None).await
}

async fn service_update_submit(
    State(state): State<AppState>,
    shell: Shell,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<ServiceId>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let form = ServiceForm::from_fields(&Fields(pairs));
    let updated = match form.input() {
        Ok(input) => setup::update_service(&state, &admin.user, &ip, id, &input).await,
        Err(err) => Err(err),
    };
    match updated {
        Ok(service) => Ok(redirect_with_flash(
            &state,
            &format!("/admin/schedule/services/{id}"),
            &format!("Saved {}.", service.name),
        )),
        Err(err) if is_for_the_form(&err) => {
            let error = Some(setup::sentence(&err));
            render_service(&state, shell, id, err.status(), Some(form), error).await
        }
        Err(other) => Err(other),
    }
}

// -- resources --

#[derive(Template)]
#[template(path = "schedule/setup_resources.html")]
pub struct ResourcesPage {
    shell: Shell,
    resources: Vec<Resource>,
    kinds: [&'static str; 4],
    form: ResourceInput,
    error: Option<String>,
}

fn resource_form(fields: &Fields) -> ResourceInput {
    ResourceInput {
        name: fields.get("name"),
        kind: fields.get("kind"),
        active: fields.checked("active"),
    }
}

async fn render_resources(
    state: &AppState,
    shell: Shell,
    status: StatusCode,
    form: ResourceInput,
    error: Option<String>,
) -> AppResult<Response> {
    let page = ResourcesPage {
        shell,
        resources: state.store.resources().await?,
        kinds: setup::RESOURCE_KINDS,
        form,
        error,
    };
    Ok(render_with_status(status, &page))
}

async fn resources_page(
    State(state): State<AppState>,
    shell: Shell,
    _: AdminUser,
) -> AppResult<Response> {
    let form = ResourceInput {
        active: true,
        ..ResourceInput::default()
    };
    render_resources(&state, shell, StatusCode::OK, form, None).await
}

async fn resource_create_submit(
    State(state): State<AppState>,
    shell: Shell,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let form = resource_form(&Fields(pairs));
    match setup::create_resource(&state, &admin.user, &ip, &form).await {
        Ok(resource) => Ok(redirect_with_flash(
            &state,
            "/admin/schedule/resources",
            &format!("Added {}.", resource.name),
        )),
        Err(err) if is_for_the_form(&err) => {
            let error = Some(setup::sentence(&err));
            render_resources(&state, shell, err.status(), form, error).await
        }
        Err(other) => Err(other),
    }
}

#[derive(Template)]
#[template(path = "schedule/setup_resource.html")]
pub struct ResourcePage {
    shell: Shell,
    resource: Resource,
    kinds: [&'static str; 4],
    form: ResourceInput,
    error: Option<String>,
}

async fn render_resource(
    state: &AppState,
    shell: Shell,
    id: ResourceId,
    status: StatusCode,
    form: Option<ResourceInput>,
    error: Option<String>,
) -> AppResult<Response> {
    let resource = state.store.resource(id).await?;
    let page = ResourcePage {
        shell,
        form: form.unwrap_or_else(|| ResourceInput::of(&resource)),
        resource,
        kinds: setup::RESOURCE_KINDS,
        error,
    };
    Ok(render_with_status(status, &page))
}

async fn resource_page(
    State(state): State<AppState>,
    shell: Shell,
    _: AdminUser,
    Path(id): Path<ResourceId>,
) -> AppResult<Response> {
    render_resource(&state, shell, id, StatusCode::OK, None, None).await
}

async fn resource_update_submit(
    State(state): State<AppState>,
    shell: Shell,
    AdminUser(admin): AdminUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<ResourceId>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let form = resource_form(&Fields(pairs));
    match setup::update_resource(&state, &admin.user, &ip, id, &form).await {
        Ok(resource) => Ok(redirect_with_flash(
            &state,
            &format!("/admin/schedule/resources/{id}"),
            &format!("Saved {}.", resource.name),
        )),
        Err(err) if is_for_the_form(&err) => {
            let error = Some(setup::sentence(&err));
            render_resource(&state, shell, id, err.status(), Some(form), error).await
        }
        Err(other) => Err(other),
    }
}
