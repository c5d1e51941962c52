//! The Schedule pages: the calendar (a day as a time grid with a column per
//! person or resource, a week as seven columns), booking from a form that
//! works without JavaScript (an empty cell of the grid fills it in), one
//! appointment's page (move, change, cancel, done, no-show), "find a slot",
//! and the printable day sheet. Dragging an appointment to another time is
//! `static/schedule.js` calling the same rules through the JSON API.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use jiff::civil::{Date, DateTime, Time};
use jiff::{Timestamp, ToSpan};
use serde::Deserialize;

use super::api::{Names, parse_day, parse_windows};
use super::book::{self, Booking, Change, Outcome, SlotSearch, SlotView, Start};
use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::calendar::hours::{clock, minute_of};
use crate::calendar::{Conflict, Settings};
use crate::error::{AppError, AppResult};
use crate::store::{
    Appointment, AppointmentFilter, AppointmentId, AppointmentStatus, CustomerId, Resource,
    ResourceId, Role, Service, ServiceId, StaffId, StaffMember, User,
};
use crate::web::layout::{Shell, redirect_with_flash, render, render_with_status};
use crate::web::middleware::ClientIp;
use crate::web::{Access, Routes};

pub fn routes() -> Routes {
    Routes::new()
        .get("/schedule", Access::Staff, calendar)
        .post("/schedule/book", Access::Staff, book_from_form)
        .get("/schedule/find", Access::Staff, find)
        .get("/schedule/sheet", Access::Staff, sheet)
        .get("/schedule/appointments/{id}", Access::Staff, appointment)
        .post(
            "/schedule/appointments/{id}",
            Access::Staff,
            change_from_form,
        )
        .post(
            "/schedule/appointments/{id}/status",
            Access::Staff,
            status_from_form,
        )
}

/// Rows of the day grid are this many minutes.
const ROW_MINUTES: u16 = 15;
/// The most columns the day grid shows (the CSS has classes for these).
const MAX_COLUMNS: usize = 30;

#[derive(Debug, Deserialize, Default)]
pub struct CalendarQuery {
    /// `day` (default) or `week`.
    view: Option<String>,
    date: Option<String>,
    /// `staff:ID` or `resource:ID`; empty: the whole office.
    show: Option<String>,
    /// Prefills the booking form (an empty cell of the grid links here).
    book_time: Option<String>,
    book_staff: Option<i64>,
    book_resource: Option<i64>,
}

/// Whose calendar is shown.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Show {
    Office,
    Staff(StaffId),
    Resource(ResourceId),
}

impl Show {
    fn parse(text: Option<&str>) -> Show {
        let text = text.unwrap_or("");
        if let Some(id) = text.strip_prefix("staff:").and_then(|i| i.parse().ok()) {
            Show::Staff(StaffId(id))
        } else if let Some(id) = text.strip_prefix("resource:").and_then(|i| i.parse().ok()) {
            Show::Resource(ResourceId(id))
        } else {
            Show::Office
        }
    }

    fn param(self) -> String {
        match self {
            Show::Office => String::new(),
            Show::Staff(id) => format!("staff:{id}"),
            Show::Resource(id) => format!("resource:{id}"),
        }
    }
}

/// One appointment drawn in the calendar.
pub struct Block {
    pub id: i64,
    pub time: String,
    pub title: String,
    pub customer: String,
    pub staff: String,
    pub resource: String,
    pub status: &'static str,
    /// CSS classes placing it in the day grid.
    pub place: String,
    /// Its start, for dragging (`YYYY-MM-DDTHH:MM`).
    pub start_local: String,
}

/// A column of the day grid.
pub struct Column {
    pub label: String,
    /// `staff` or `resource`, and its id, for booking links and dragging.
    pub kind: &'static str,
    pub id: i64,
    pub blocks: Vec<Block>,
    pub cells: Vec<Cell>,
}

/// An empty place in the grid that books when chosen.
pub struct Cell {
    pub place: String,
    pub time: String,
    pub href: String,
    /// Outside the opening hours (shaded; booking there is refused unless
    /// overridden).
    pub outside: bool,
}

pub struct TimeLabel {
    pub place: String,
    pub label: String,
}

pub struct WeekDay {
    pub label: String,
    pub date: String,
    pub closed: Option<String>,
    pub blocks: Vec<Block>,
    pub today: bool,
}

/// The booking form's values, kept when it is shown again.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BookForm {
    #[serde(default)]
    pub services: Vec<i64>,
    #[serde(default)]
    pub staff: String,
    #[serde(default)]
    pub resource: String,
    #[serde(default)]
    pub customer_id: String,
    #[serde(default)]
    pub customer_name: String,
    #[serde(default)]
    pub customer_phone: String,
    #[serde(default)]
    pub date: String,
    #[serde(default)]
    pub time: String,
    /// An exact instant (Unix seconds) from a slot that was offered.
    #[serde(default)]
    pub at: String,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub override_reason: String,
    /// Where to go back to.
    #[serde(default)]
    pub back: String,
    /// Repeat: day, week, 2weeks, month_by_weekday, month_by_day or empty.
    #[serde(default)]
    pub repeat: String,
    #[serde(default)]
    pub repeat_count: String,
    #[serde(default)]
    pub repeat_until: String,
}

#[derive(Template)]
#[template(path = "schedule/calendar.html")]
pub struct CalendarPage {
    shell: Shell,
    view: &'static str,
    date: String,
    title: String,
    prev: String,
    next: String,
    today: String,
    show: String,
    staff: Vec<StaffMember>,
    resources: Vec<Resource>,
    services: Vec<Service>,
    columns: Vec<Column>,
    grid_class: String,
    times: Vec<TimeLabel>,
    week: Vec<WeekDay>,
    closed: Option<String>,
    form: BookForm,
    errors: Vec<String>,
    may_override: bool,
    set_up: bool,
    zone: String,
}

impl CalendarPage {
    fn selected(&self, value: &str) -> bool {
        self.show == value
    }

    fn has_service(&self, id: &ServiceId) -> bool {
        self.form.services.contains(&id.0)
    }

    fn staff_param(&self, id: &StaffId) -> String {
        format!("staff:{id}")
    }

    fn resource_param(&self, id: &ResourceId) -> String {
        format!("resource:{id}")
    }
}

fn parse_date(text: Option<&str>, fallback: Date) -> Date {
    text.and_then(|t| t.trim().parse().ok()).unwrap_or(fallback)
}

fn today(state: &AppState, settings: &Settings) -> Date {
    settings
        .local(Timestamp::from_second(state.store.now()).unwrap_or_default())
        .date()
}

fn status_class(status: AppointmentStatus) -> &'static str {
    match status {
        AppointmentStatus::Booked => "booked",
        AppointmentStatus::Cancelled => "cancelled",
        AppointmentStatus::Done => "done",
        AppointmentStatus::NoShow => "no-show",
    }
}

fn block_of(names: &Names, a: &Appointment, place: String) -> Block {
    let settings = &names.settings;
    let start = settings.local(Timestamp::from_second(a.starts_at).unwrap_or_default());
    let end = settings.local(Timestamp::from_second(a.ends_at).unwrap_or_default());
    Block {
        id: a.id.0,
        time: format!("{}–{}", start.strftime("%H:%M"), end.strftime("%H:%M")),
        title: a.title.clone(),
        customer: a.customer_name.clone().unwrap_or_default(),
        staff: names.staff(a.staff_id),
        resource: a.resource_id.map(|r| names.resource(r)).unwrap_or_default(),
        status: status_class(a.status),
        place,
        start_local: start.strftime("%Y-%m-%dT%H:%M").to_string(),
    }
}

async fn calendar(
    State(state): State<AppState>,
    shell: Shell,
    user: CurrentUser,
    Query(query): Query<CalendarQuery>,
) -> AppResult<Response> {
    let settings = Settings::load(&state.store).await?;
    let today = today(&state, &settings);
    let date = parse_date(query.date.as_deref(), today);
    let form = BookForm {
        date: date.to_string(),
        time: query.book_time.clone().unwrap_or_default(),
        staff: query.book_staff.map(|s| s.to_string()).unwrap_or_default(),
        resource: query
            .book_resource
            .map(|r| r.to_string())
            .unwrap_or_default(),
        ..BookForm::default()
    };
    let page = calendar_page(&state, shell, &user.user, &query, date, form, Vec::new()).await?;
    render(&page)
}

#[allow(clippy::too_many_arguments)]
async fn calendar_page(
    state: &AppState,
    shell: Shell,
    user: &User,
    query: &CalendarQuery,
    date: Date,
    form: BookForm,
    errors: Vec<String>,
) -> AppResult<CalendarPage> {
    let names = Names::load(state).await?;
    let settings = names.settings.clone();
    let today = today(state, &settings);
    let show = Show::parse(query.show.as_deref());
    let week_view = query.view.as_deref() == Some("week");
    let staff = state.store.staff().await?;
    let resources = state.store.resources().await?;
    let services = state.store.services().await?;
    let (first, last) = if week_view {
        let monday = date.saturating_sub((date.weekday().to_monday_zero_offset() as i64).days());
        (monday, monday.saturating_add(6.days()))
    } else {
        (date, date)
    };
    let from = settings.day_start(first).as_second();
    let until = settings.day_start(last.saturating_add(1.day())).as_second();
    let filter = AppointmentFilter {
        staff: match show {
            Show::Staff(id) => Some(id),
            _ => None,
        },
        resource: match show {
            Show::Resource(id) => Some(id),
            _ => None,
        },
        include_cancelled: true,
        ..AppointmentFilter::default()
    };
    let appointments: Vec<Appointment> = state
        .store
        .appointments_between(from, until, filter)
        .await?
        .into_iter()
        .filter(|a| a.starts_at < until && a.ends_at > from)
        .collect();
    let closures = state
        .store
        .closures(first.to_string(), last.to_string())
        .await?;
    let closed_on = |day: Date| {
        let text = day.to_string();
        closures
            .iter()
            .find(|c| c.first_day <= text && text <= c.last_day)
            .map(|c| {
                if c.reason.is_empty() {
                    "Closed".to_string()
                } else {
                    format!("Closed: {}", c.reason)
                }
            })
    };
    let view_param = if week_view { "week" } else { "day" };
    let link = |day: Date| {
        format!(
            "/schedule?view={view_param}&date={day}&show={}",
            show.param()
        )
    };
    let step = if week_view { 7 } else { 1 };
    let mut page = CalendarPage {
        shell,
        view: view_param,
        date: date.to_string(),
        title: if week_view {
            format!(
                "Week of {} – {}",
                first.strftime("%-d %b"),
                last.strftime("%-d %b %Y")
            )
        } else {
            date.strftime("%A %-d %B %Y").to_string()
        },
        prev: link(date.saturating_sub(step.days())),
        next: link(date.saturating_add(step.days())),
        today: link(today),
        show: show.param(),
        staff: staff.clone(),
        resources: resources.clone(),
        services: services.clone(),
        columns: Vec::new(),
        grid_class: String::new(),
        times: Vec::new(),
        week: Vec::new(),
        closed: None,
        form,
        errors,
        may_override: user.role >= Role::Admin,
        set_up: !staff.is_empty() && !services.is_empty(),
        zone: settings.zone_name.clone(),
    };
    if week_view {
        let mut day = first;
        while day <= last {
            let start = settings.day_start(day).as_second();
            let end = settings.day_start(day.saturating_add(1.day())).as_second();
            page.week.push(WeekDay {
                label: day.strftime("%a %-d %b").to_string(),
                date: day.to_string(),
                closed: closed_on(day),
                blocks: appointments
                    .iter()
                    .filter(|a| a.starts_at >= start && a.starts_at < end)
                    .map(|a| block_of(&names, a, String::new()))
                    .collect(),
                today: day == today,
            });
            day = day.saturating_add(1.day());
        }
        return Ok(page);
    }

    page.closed = closed_on(date);
    // The grid spans the opening hours of the day (at least 8–18), widened
    // to show any appointment outside them.
    let opening = settings.opening.on(date.weekday());
    let mut first_minute = opening
        .iter()
        .map(|i| i.start)
        .min()
        .unwrap_or(8 * 60)
        .min(8 * 60);
    let mut last_minute = opening
        .iter()
        .map(|i| i.end)
        .max()
        .unwrap_or(18 * 60)
        .max(18 * 60);
    for a in &appointments {
        let start = settings.local(Timestamp::from_second(a.starts_at).unwrap_or_default());
        let end = settings.local(Timestamp::from_second(a.ends_at).unwrap_or_default());
        if start.date() == date {
            first_minute = first_minute.min(minute_of(start.time()));
        }
        last_minute = last_minute.max(if end.date() == date {
            minute_of(end.time())
        } else {
            1440
        });
    }
    first_minute -= first_minute % 60;
    last_minute = last_minute.div_ceil(60) * 60;
    let rows = (last_minute - first_minute) / ROW_MINUTES;
    let columns: Vec<(&'static str, i64, String)> = match show {
        Show::Office => staff
            .iter()
            .filter(|s| s.active)
            .map(|s| ("staff", s.id.0, s.name.clone()))
            .collect(),
        Show::Staff(id) => staff
            .iter()
            .filter(|s| s.id == id)
            .map(|s| ("staff", s.id.0, s.name.clone()))
            .collect(),
        Show::Resource(id) => resources
            .iter()
            .filter(|r| r.id == id)
            .map(|r| ("resource", r.id.0, r.name.clone()))
            .collect(),
    };
    let columns: Vec<_> = columns.into_iter().take(MAX_COLUMNS).collect();
    page.grid_class = format!("cal-grid cols-{}", columns.len().max(1));
    for row in 0..rows {
        let minute = first_minute + row * ROW_MINUTES;
        if minute.is_multiple_of(60) {
            page.times.push(TimeLabel {
                place: format!("r{} s4 c1", row + 2),
                label: clock(minute),
            });
        }
    }
    for (index, (kind, id, label)) in columns.into_iter().enumerate() {
        let col = index + 2;
        let mut column = Column {
            label,
            kind,
            id,
            blocks: Vec::new(),
            cells: Vec::new(),
        };
        for a in appointments.iter().filter(|a| match kind {
            "staff" => a.staff_id.0 == id,
            _ => a.resource_id.map(|r| r.0) == Some(id),
        }) {
            let start = settings.local(Timestamp::from_second(a.starts_at).unwrap_or_default());
            let end = settings.local(Timestamp::from_second(a.ends_at).unwrap_or_default());
            let start_minute = if start.date() < date {
                first_minute
            } else {
                minute_of(start.time())
            };
            let end_minute = if end.date() > date {
                last_minute
            } else {
                minute_of(end.time())
            };
            let row = (start_minute.max(first_minute) - first_minute) / ROW_MINUTES;
            let span = end_minute
                .saturating_sub(start_minute)
                .div_ceil(ROW_MINUTES)
                .clamp(1, rows.saturating_sub(row).max(1));
            let cancelled = a.status == AppointmentStatus::Cancelled;
            if cancelled {
                continue;
            }
            column
                .blocks
                .push(block_of(&names, a, format!("r{} s{span} c{col}", row + 2)));
        }
        if page.closed.is_none() {
            for row in 0..rows {
                let minute = first_minute + row * ROW_MINUTES;
                let time = clock(minute);
                let param = match kind {
                    "staff" => format!("book_staff={id}"),
                    _ => format!("book_resource={id}"),
                };
                column.cells.push(Cell {
                    outside: !opening
                        .iter()
                        .any(|i| i.contains(minute, minute + ROW_MINUTES)),
                    place: format!("r{} s1 c{col}", row + 2),
                    href: format!(
                        "/schedule?view=day&date={date}&show={}&book_time={time}&{param}#book",
                        show.param()
                    ),
                    time,
                });
            }
        }
        page.columns.push(column);
    }
    Ok(page)
}

/// Finds or creates the customer a form names: an id chosen from the list,
/// else the one customer with exactly that name, else a new customer.
async fn customer_of(
    state: &AppState,
    user: &User,
    ip: &str,
    form: &BookForm,
) -> AppResult<Option<CustomerId>> {
    if let Ok(id) = form.customer_id.trim().parse::<i64>() {
        return Ok(Some(state.store.customer(CustomerId(id)).await?.id));
    }
    let name = crate::text::clean_name(&form.customer_name);
    if name.is_empty() {
        return Ok(None);
    }
    if name.chars().count() > 200 {
        return Err(AppError::bad_request("A name has at most 200 characters."));
    }
    let same: Vec<_> = state
        .store
        .find_customers(name.clone(), 20)
        .await?
        .into_iter()
        .filter(|c| c.name.eq_ignore_ascii_case(&name))
        .collect();
    let phone = form.customer_phone.trim();
    let matching: Vec<_> = same
        .iter()
        .filter(|c| phone.is_empty() || digits(&c.phone) == digits(phone))
        .collect();
    match matching.as_slice() {
        [one] => Ok(Some(one.id)),
        [] if same.is_empty() || !phone.is_empty() => {
            let created = super::customers::create_customer(
                state,
                user,
                ip,
                &super::customers::CustomerInput {
                    name,
                    phone: phone.to_string(),
                    ..Default::default()
                },
            )
            .await?;
            Ok(Some(created.id))
        }
        _ => Err(AppError::bad_request(format!(
            "Several customers are called {name}: add their phone number, or pick one from the list."
        ))),
    }
}

fn digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

fn optional_id(text: &str) -> Option<i64> {
    text.trim().parse().ok()
}

fn start_of(form: &BookForm) -> AppResult<Start> {
    if let Ok(seconds) = form.at.trim().parse::<i64>() {
        return Timestamp::from_second(seconds)
            .map(Start::At)
            .map_err(|_| AppError::bad_request("That time is out of range."));
    }
    let date: Date = form
        .date
        .trim()
        .parse()
        .map_err(|_| AppError::bad_request("Give the date, like 2026-12-03."))?;
    let minute = crate::calendar::hours::parse_clock(&form.time)
        .filter(|m| *m < 1440)
        .ok_or_else(|| AppError::bad_request("Give the time, like 14:30."))?;
    let time = Time::new((minute / 60) as i8, (minute % 60) as i8, 0, 0)
        .map_err(|_| AppError::bad_request("Give the time, like 14:30."))?;
    Ok(Start::Local {
        local: DateTime::from_parts(date, time),
        later: false,
    })
}

fn messages(conflicts: &[Conflict]) -> Vec<String> {
    conflicts.iter().map(Conflict::message).collect()
}

/// A safe place to go back to after a form: only our own calendar views.
fn back_to(form: &BookForm, fallback: &str) -> String {
    let back = form.back.trim();
    if back.starts_with("/schedule") && !back.starts_with("//") && !back.contains(['\r', '\n']) {
        back.to_string()
    } else {
        fallback.to_string()
    }
}

async fn book_from_form(
    State(state): State<AppState>,
    shell: Shell,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let form = form_from_pairs(&pairs);
    let settings = Settings::load(&state.store).await?;
    let fallback_date = parse_date(Some(&form.date), today(&state, &settings));
    let attempt = async {
        let start = start_of(&form)?;
        let repeat = match start {
            Start::Local { local, .. } => super::book::RepeatChoice {
                every: form.repeat.clone(),
                interval: None,
                count: form.repeat_count.trim().parse().ok(),
                until: Some(form.repeat_until.clone()),
                rrule: None,
            }
            .rule(local)?,
            Start::At(_) => None,
        };
        let customer = customer_of(&state, &user.user, &ip, &form).await?;
        let booking = Booking {
            services: form.services.iter().map(|s| ServiceId(*s)).collect(),
            staff: optional_id(&form.staff).map(StaffId),
            resource: optional_id(&form.resource).map(ResourceId),
            customer,
            start,
            notes: form.notes.clone(),
            override_reason: Some(form.override_reason.trim().to_string())
                .filter(|r| !r.is_empty()),
            repeat,
        };
        book::book(&state, &user.user, &ip, booking).await
    };
    let errors = match attempt.await {
        Ok(Outcome::Done(appointments)) => {
            let first = appointments.first();
            let date = first
                .map(|a| {
                    settings
                        .local(Timestamp::from_second(a.starts_at).unwrap_or_default())
                        .date()
                })
                .unwrap_or(fallback_date);
            let message = first.map_or_else(String::new, |a| {
                format!(
                    "Booked: {} {}{}.",
                    settings.describe(Timestamp::from_second(a.starts_at).unwrap_or_default()),
                    a.title,
                    a.customer_name
                        .as_deref()
                        .map(|n| format!(" for {n}"))
                        .unwrap_or_default()
                )
            });
            let to = back_to(&form, &format!("/schedule?view=day&date={date}"));
            return Ok(redirect_with_flash(&state, &to, &message));
        }
        Ok(Outcome::Refused(conflicts)) => messages(&conflicts),
        Err(AppError::BadRequest(message)) | Err(AppError::Conflict(message)) => vec![message],
        Err(AppError::NotFound) => {
            vec!["That customer, staff member or resource no longer exists.".into()]
        }
        Err(other) => return Err(other),
    };
    let query = CalendarQuery {
        date: Some(fallback_date.to_string()),
        ..CalendarQuery::default()
    };
    let page = calendar_page(
        &state,
        shell,
        &user.user,
        &query,
        fallback_date,
        form,
        errors,
    )
    .await?;
    Ok(render_with_status(StatusCode::CONFLICT, &page))
}

/// Reads a form whose `services` field repeats.
fn form_from_pairs(pairs: &[(String, String)]) -> BookForm {
    let mut form = BookForm::default();
    for (key, value) in pairs {
        let value = value.clone();
        match key.as_str() {
            "services" => {
                if let Ok(id) = value.trim().parse() {
                    form.services.push(id);
                }
            }
            "staff" => form.staff = value,
            "resource" => form.resource = value,
            "customer_id" => form.customer_id = value,
            "customer_name" => form.customer_name = value,
            "customer_phone" => form.customer_phone = value,
            "date" => form.date = value,
            "time" => form.time = value,
            "at" => form.at = value,
            "notes" => form.notes = value,
            "override_reason" => form.override_reason = value,
            "back" => form.back = value,
            "repeat" => form.repeat = value,
            "repeat_count" => form.repeat_count = value,
            "repeat_until" => form.repeat_until = value,
            _ => {}
        }
    }
    form
}

#[derive(Template)]
#[template(path = "schedule/appointment.html")]
pub struct AppointmentPage {
    shell: Shell,
    appointment: Appointment,
    when: String,
    staff_name: String,
    resource_name: String,
    date: String,
    time: String,
    staff: Vec<StaffMember>,
    resources: Vec<Resource>,
    services: Vec<Service>,
    errors: Vec<String>,
    may_override: bool,
    history: Vec<String>,
}

impl AppointmentPage {
    fn has_service(&self, id: &ServiceId) -> bool {
        self.appointment.services.contains(id)
    }

    fn is_staff(&self, id: &StaffId) -> bool {
        self.appointment.staff_id == *id
    }

    fn is_resource(&self, id: &ResourceId) -> bool {
        self.appointment.resource_id == Some(*id)
    }

    fn booked(&self) -> bool {
        self.appointment.status == AppointmentStatus::Booked
    }

    fn status_words(&self) -> &'static str {
        book::status_words(self.appointment.status)
    }
}

async fn appointment_page(
    state: &AppState,
    shell: Shell,
    user: &User,
    id: AppointmentId,
    errors: Vec<String>,
) -> AppResult<AppointmentPage> {
    let appointment = state.store.appointment(id).await?;
    let names = Names::load(state).await?;
    let settings = &names.settings;
    let start = Timestamp::from_second(appointment.starts_at).unwrap_or_default();
    let end = Timestamp::from_second(appointment.ends_at).unwrap_or_default();
    let local = settings.local(start);
    let history = match appointment.customer_id {
        Some(customer) => state
            .store
            .appointments_of_customer(customer, 10)
            .await?
            .iter()
            .filter(|a| a.id != appointment.id)
            .map(|a| {
                format!(
                    "{} {} ({})",
                    settings.describe(Timestamp::from_second(a.starts_at).unwrap_or_default()),
                    a.title,
                    book::status_words(a.status)
                )
            })
            .collect(),
        None => Vec::new(),
    };
    Ok(AppointmentPage {
        when: format!(
            "{}–{}",
            settings.describe(start),
            settings.local(end).strftime("%H:%M")
        ),
        staff_name: names.staff(appointment.staff_id),
        resource_name: appointment
            .resource_id
            .map(|r| names.resource(r))
            .unwrap_or_default(),
        date: local.date().to_string(),
        time: local.strftime("%H:%M").to_string(),
        staff: state.store.staff().await?,
        resources: state.store.resources().await?,
        services: state.store.services().await?,
        errors,
        may_override: user.role >= Role::Admin,
        history,
        appointment,
        shell,
    })
}

async fn appointment(
    State(state): State<AppState>,
    shell: Shell,
    user: CurrentUser,
    Path(id): Path<AppointmentId>,
) -> AppResult<Response> {
    render(&appointment_page(&state, shell, &user.user, id, Vec::new()).await?)
}

async fn change_from_form(
    State(state): State<AppState>,
    shell: Shell,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<AppointmentId>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let form = form_from_pairs(&pairs);
    let attempt = async {
        let change = Change {
            services: (!form.services.is_empty())
                .then(|| form.services.iter().map(|s| ServiceId(*s)).collect()),
            staff: optional_id(&form.staff).map(StaffId),
            resource: Some(optional_id(&form.resource).map(ResourceId)),
            customer: None,
            start: Some(start_of(&form)?),
            notes: Some(form.notes.clone()),
            override_reason: Some(form.override_reason.trim().to_string())
                .filter(|r| !r.is_empty()),
            scope: scope_of(&pairs),
        };
        book::change(&state, &user.user, &ip, id, change).await
    };
    let errors = match attempt.await {
        Ok(Outcome::Done(_)) => {
            return Ok(redirect_with_flash(
                &state,
                &format!("/schedule/appointments/{id}"),
                "Changed.",
            ));
        }
        Ok(Outcome::Refused(conflicts)) => messages(&conflicts),
        Err(AppError::BadRequest(message)) | Err(AppError::Conflict(message)) => vec![message],
        Err(other) => return Err(other),
    };
    let page = appointment_page(&state, shell, &user.user, id, errors).await?;
    Ok(render_with_status(StatusCode::CONFLICT, &page))
}

#[derive(Debug, Deserialize)]
struct StatusForm {
    status: String,
    #[serde(default)]
    scope: String,
}

/// "This one" or "this and following" from a form.
fn scope_of(pairs: &[(String, String)]) -> book::Scope {
    match pairs
        .iter()
        .find(|(k, _)| k == "scope")
        .map(|(_, v)| v.as_str())
    {
        Some("following") => book::Scope::Following,
        _ => book::Scope::One,
    }
}

async fn status_from_form(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<AppointmentId>,
    Form(form): Form<StatusForm>,
) -> AppResult<Response> {
    let status: AppointmentStatus = form
        .status
        .parse()
        .map_err(|_| AppError::bad_request("Choose cancelled, done or no-show."))?;
    let appointment = if form.scope == "following" && status == AppointmentStatus::Cancelled {
        book::cancel_following(&state, &user.user, &ip, id)
            .await?
            .into_iter()
            .next()
            .ok_or(AppError::NotFound)?
    } else {
        book::set_status(&state, &user.user, &ip, id, status).await?
    };
    let message = match status {
        AppointmentStatus::Cancelled => "Cancelled.",
        AppointmentStatus::Done => "Marked as done.",
        AppointmentStatus::NoShow => "Marked as a no-show.",
        AppointmentStatus::Booked => "Booked.",
    };
    let _ = appointment;
    Ok(redirect_with_flash(
        &state,
        &format!("/schedule/appointments/{id}"),
        message,
    ))
}

#[derive(Debug, Deserialize, Default)]
pub struct FindQuery {
    #[serde(default)]
    services: Vec<i64>,
    staff: Option<String>,
    from: Option<String>,
    to: Option<String>,
    times: Option<String>,
    customer_name: Option<String>,
    customer_phone: Option<String>,
}

#[derive(Template)]
#[template(path = "schedule/find.html")]
pub struct FindPage {
    shell: Shell,
    services: Vec<Service>,
    staff: Vec<StaffMember>,
    chosen_services: Vec<i64>,
    chosen_staff: String,
    from: String,
    to: String,
    times: String,
    customer_name: String,
    customer_phone: String,
    slots: Vec<SlotView>,
    /// Unix seconds of each slot's start, for booking it exactly.
    starts: Vec<i64>,
    searched: bool,
    error: Option<String>,
}

impl FindPage {
    fn has_service(&self, id: &ServiceId) -> bool {
        self.chosen_services.contains(&id.0)
    }

    fn services_value(&self) -> Vec<i64> {
        self.chosen_services.clone()
    }
}

async fn find(
    State(state): State<AppState>,
    shell: Shell,
    _user: CurrentUser,
    axum_extra_query: axum::extract::RawQuery,
) -> AppResult<Response> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(axum_extra_query.0.as_deref().unwrap_or("")).unwrap_or_default();
    let mut query = FindQuery::default();
    for (key, value) in pairs {
        match key.as_str() {
            "services" => {
                if let Ok(id) = value.parse() {
                    query.services.push(id);
                }
            }
            "staff" => query.staff = Some(value),
            "from" => query.from = Some(value),
            "to" => query.to = Some(value),
            "times" => query.times = Some(value),
            "customer_name" => query.customer_name = Some(value),
            "customer_phone" => query.customer_phone = Some(value),
            _ => {}
        }
    }
    let mut page = FindPage {
        shell,
        services: state.store.services().await?,
        staff: state.store.staff().await?,
        chosen_services: query.services.clone(),
        chosen_staff: query.staff.clone().unwrap_or_default(),
        from: query.from.clone().unwrap_or_default(),
        to: query.to.clone().unwrap_or_default(),
        times: query.times.clone().unwrap_or_default(),
        customer_name: query.customer_name.clone().unwrap_or_default(),
        customer_phone: query.customer_phone.clone().unwrap_or_default(),
        slots: Vec::new(),
        starts: Vec::new(),
        searched: !query.services.is_empty(),
        error: None,
    };
    if page.searched {
        let search = async {
            let windows = match query.times.as_deref() {
                None | Some("") | Some("any") => Vec::new(),
                Some(times) => parse_windows(times)?,
            };
            book::find_slots(
                &state,
                SlotSearch {
                    services: query.services.iter().map(|s| ServiceId(*s)).collect(),
                    staff: query.staff.as_deref().and_then(optional_id).map(StaffId),
                    first_day: parse_day(query.from.as_deref(), "From")?,
                    last_day: parse_day(query.to.as_deref(), "To")?,
                    windows,
                    limit: 30,
                },
            )
            .await
        };
        match search.await {
            Ok((slots, office)) => {
                page.starts = slots.iter().map(|s| s.starts_at.as_second()).collect();
                page.slots = slots.iter().map(|s| SlotView::of(&office, s)).collect();
            }
            Err(AppError::BadRequest(message)) => page.error = Some(message),
            Err(other) => return Err(other),
        }
    }
    render(&page)
}

#[derive(Template)]
#[template(path = "schedule/sheet.html")]
pub struct SheetPage {
    shell: Shell,
    title: String,
    date: String,
    people: Vec<SheetPerson>,
}

pub struct SheetPerson {
    pub name: String,
    pub rows: Vec<SheetRow>,
}

pub struct SheetRow {
    pub time: String,
    pub customer: String,
    pub phone: String,
    pub what: String,
    pub resource: String,
    pub notes: String,
    pub status: &'static str,
}

#[derive(Debug, Deserialize, Default)]
struct SheetQuery {
    date: Option<String>,
    staff: Option<i64>,
}

/// The day of each staff member (or one), to print.
async fn sheet(
    State(state): State<AppState>,
    shell: Shell,
    _user: CurrentUser,
    Query(query): Query<SheetQuery>,
) -> AppResult<Response> {
    let names = Names::load(&state).await?;
    let settings = &names.settings;
    let date = parse_date(query.date.as_deref(), today(&state, settings));
    let from = settings.day_start(date).as_second();
    let until = settings.day_start(date.saturating_add(1.day())).as_second();
    let appointments = state
        .store
        .appointments_between(
            from,
            until,
            AppointmentFilter {
                staff: query.staff.map(StaffId),
                ..AppointmentFilter::default()
            },
        )
        .await?;
    let customers = state.store.customers().await?;
    let mut people = Vec::new();
    for member in state.store.staff().await? {
        if query.staff.is_some_and(|s| s != member.id.0) {
            continue;
        }
        let rows: Vec<SheetRow> = appointments
            .iter()
            .filter(|a| a.staff_id == member.id && a.starts_at >= from && a.starts_at < until)
            .map(|a| {
                let customer = a
                    .customer_id
                    .and_then(|c| customers.iter().find(|x| x.id == c));
                let start = settings.local(Timestamp::from_second(a.starts_at).unwrap_or_default());
                let end = settings.local(Timestamp::from_second(a.ends_at).unwrap_or_default());
                SheetRow {
                    time: format!("{}–{}", start.strftime("%H:%M"), end.strftime("%H:%M")),
                    customer: customer.map(|c| c.name.clone()).unwrap_or_default(),
                    phone: customer.map(|c| c.phone.clone()).unwrap_or_default(),
                    what: a.title.clone(),
                    resource: a.resource_id.map(|r| names.resource(r)).unwrap_or_default(),
                    notes: a.notes.clone(),
                    status: book::status_words(a.status),
                }
            })
            .collect();
        if member.active || !rows.is_empty() {
            people.push(SheetPerson {
                name: member.name.clone(),
                rows,
            });
        }
    }
    render(&SheetPage {
        shell,
        title: date.strftime("%A %-d %B %Y").to_string(),
        date: date.to_string(),
        people,
    })
}
