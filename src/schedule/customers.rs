//! Customers: the domain (create, change, history of appointments, checked
//! and audited the same way for the pages and `/api/v1/customers`), and the
//! pages: `/schedule/customers`, found while typing (a plain GET form
//! without JavaScript; `static/customers.js` asks the API as people type
//! and replaces the list), and one customer's details, edit form and
//! appointments. Every signed-in person may read, add and edit customers:
//! the front desk does it all day.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::setup::{self, MAX_NAME, clean_required_name, sentence};
use crate::app::AppState;
use crate::audit::{self, Actor, Event, Target};
use crate::auth::CurrentUser;
use crate::calendar::Settings;
use crate::error::{AppError, AppResult};
use crate::store::{
    AppointmentId, AppointmentStatus, Customer, CustomerChange, CustomerId, StaffId, User,
};
use crate::web::layout::{Shell, redirect_with_flash, render_with_status};
use crate::web::middleware::ClientIp;
use crate::web::{Access, Routes};

pub fn routes() -> Routes {
    Routes::new()
        .get("/schedule/customers", Access::Staff, list_page)
        .post("/schedule/customers", Access::Staff, create_submit)
        .get("/schedule/customers/{id}", Access::Staff, customer_page)
        .post("/schedule/customers/{id}", Access::Staff, update_submit)
}

/// The longest phone number, e-mail address and notes.
const MAX_PHONE: usize = 50;
const MAX_EMAIL: usize = 254;
const MAX_NOTES: usize = 4000;
/// How many customers a list shows; typing more narrows it.
pub const LIST_LIMIT: u32 = 50;
/// How many appointments a customer's history shows, newest first.
pub const HISTORY_LIMIT: u32 = 200;

// -- the domain --

/// A customer as people type them.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct CustomerInput {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub notes: String,
}

impl CustomerInput {
    pub fn of(customer: &Customer) -> CustomerInput {
        CustomerInput {
            name: customer.name.clone(),
            phone: customer.phone.clone(),
            email: customer.email.clone(),
            notes: customer.notes.clone(),
        }
    }
}

/// Whether `text` looks like an e-mail address: one `@` with something on
/// each side, a dot in the domain, no spaces. (Only sending mail proves
/// more, and nothing is sent.)
fn plausible_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text.chars().any(char::is_whitespace)
}

/// Notes keep their lines; other control and direction characters go.
fn clean_notes(text: &str) -> String {
    text.replace("\r\n", "\n")
        .chars()
        .filter(|c| {
            *c == '\n' || *c == '\t' || !(c.is_control() || crate::text::is_bidi_control(*c))
        })
        .collect::<String>()
        .trim()
        .to_string()
}

fn customer_change(input: &CustomerInput) -> AppResult<CustomerChange> {
    let name = clean_required_name("customer", &input.name)?;
    let phone = crate::text::clean_name(&input.phone);
    if phone.chars().count() > MAX_PHONE {
        return Err(AppError::BadRequest(format!(
            "The phone number is longer than {MAX_PHONE} characters."
        )));
    }
    let email = crate::text::clean_name(&input.email);
    if email.chars().count() > MAX_EMAIL || (!email.is_empty() && !plausible_email(&email)) {
        return Err(AppError::BadRequest(format!(
            "“{email}” is not an e-mail address like name@example.com."
        )));
    }
    let notes = clean_notes(&input.notes);
    if notes.chars().count() > MAX_NOTES {
        return Err(AppError::BadRequest(format!(
            "Notes are limited to {MAX_NOTES} characters."
        )));
    }
    Ok(CustomerChange {
        name,
        phone,
        email,
        notes,
    })
}

pub async fn create_customer(
    state: &AppState,
    user: &User,
    ip: &str,
    input: &CustomerInput,
) -> AppResult<Customer> {
    let customer = state.store.create_customer(customer_change(input)?).await?;
    audit::record(
        &state.store,
        Actor::User(user),
        ip,
        Event::ok("schedule.customer.created", Target::Customer(customer.id)).detail(format!(
            "none → name {:?}, phone {:?}, e-mail {:?}{}",
            customer.name,
            customer.phone,
            customer.email,
            if customer.notes.is_empty() {
                ""
            } else {
                ", with notes"
            }
        )),
    )
    .await?;
    Ok(customer)
}

pub async fn update_customer(
    state: &AppState,
    user: &User,
    ip: &str,
    id: CustomerId,
    input: &CustomerInput,
) -> AppResult<Customer> {
    let before = state.store.customer(id).await?;
    let after = state
        .store
        .update_customer(id, customer_change(input)?)
        .await?;
    let mut changes = Vec::new();
    for (what, b, a) in [
        ("name", &before.name, &after.name),
        ("phone", &before.phone, &after.phone),
        ("e-mail", &before.email, &after.email),
    ] {
        if b != a {
            changes.push(format!("{what} {b:?} → {a:?}"));
        }
    }
    // Notes can hold what a customer confided (a dental history, say); the
    // audit log, which every admin reads, says that they changed, not what
    // they say.
    if before.notes != after.notes {
        changes.push(format!(
            "notes changed ({} → {} characters)",
            before.notes.chars().count(),
            after.notes.chars().count()
        ));
    }
    if !changes.is_empty() {
        audit::record(
            &state.store,
            Actor::User(user),
            ip,
            Event::ok("schedule.customer.updated", Target::Customer(id)).detail(changes.join("; ")),
        )
        .await?;
    }
    Ok(after)
}

/// One appointment in a customer's history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerAppointment {
    pub id: AppointmentId,
    /// RFC 3339 in the business's zone.
    pub starts_at: String,
    pub ends_at: String,
    /// The start for people ("Tue 1 Dec 14:00"), in the business's zone.
    pub when: String,
    pub status: AppointmentStatus,
    pub title: String,
    pub staff_id: StaffId,
    pub staff: String,
}

/// A customer and their appointments, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerDetail {
    pub customer: Customer,
    pub appointments: Vec<CustomerAppointment>,
}

/// A customer's appointments, newest first, with local times and staff names.
pub async fn history(state: &AppState, id: CustomerId) -> AppResult<Vec<CustomerAppointment>> {
    let appointments = state
        .store
        .appointments_of_customer(id, HISTORY_LIMIT)
        .await?;
    if appointments.is_empty() {
        return Ok(Vec::new());
    }
    let settings = Settings::load(&state.store).await?;
    let staff = state.store.staff().await?;
    Ok(appointments
        .into_iter()
        .map(|a| CustomerAppointment {
            id: a.id,
            starts_at: setup::rfc3339(&settings, a.starts_at),
            ends_at: setup::rfc3339(&settings, a.ends_at),
            when: settings.describe(Timestamp::from_second(a.starts_at).unwrap_or_default()),
            status: a.status,
            title: a.title,
            staff_id: a.staff_id,
            staff: staff
                .iter()
                .find(|s| s.id == a.staff_id)
                .map_or_else(|| format!("#{}", a.staff_id), |s| s.name.clone()),
        })
        .collect())
}

pub async fn detail(state: &AppState, id: CustomerId) -> AppResult<CustomerDetail> {
    Ok(CustomerDetail {
        customer: state.store.customer(id).await?,
        appointments: history(state, id).await?,
    })
}

/// Customers whose name, phone (digits) or e-mail contains `text`.
pub async fn find(state: &AppState, text: &str, limit: u32) -> AppResult<Vec<Customer>> {
    let text: String = text.chars().take(MAX_NAME).collect();
    Ok(state
        .store
        .find_customers(text, limit.clamp(1, 500))
        .await?)
}

/// A status as people read it.
pub fn status_label(status: AppointmentStatus) -> &'static str {
    match status {
        AppointmentStatus::Booked => "Booked",
        AppointmentStatus::Cancelled => "Cancelled",
        AppointmentStatus::Done => "Done",
        AppointmentStatus::NoShow => "No-show",
    }
}

// -- the pages --

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
}

#[derive(Template)]
#[template(path = "schedule/customers.html")]
pub struct CustomersPage {
    shell: Shell,
    query: String,
    customers: Vec<Customer>,
    /// The list stopped at its limit: typing more narrows it.
    more: bool,
    form: CustomerInput,
    error: Option<String>,
}

async fn render_list(
    state: &AppState,
    shell: Shell,
    status: StatusCode,
    query: String,
    form: CustomerInput,
    error: Option<String>,
) -> AppResult<Response> {
    let mut customers = find(state, &query, LIST_LIMIT + 1).await?;
    let more = customers.len() > LIST_LIMIT as usize;
    customers.truncate(LIST_LIMIT as usize);
    let page = CustomersPage {
        shell,
        query,
        customers,
        more,
        form,
        error,
    };
    Ok(render_with_status(status, &page))
}

async fn list_page(
    State(state): State<AppState>,
    shell: Shell,
    _: CurrentUser,
    Query(query): Query<ListQuery>,
) -> AppResult<Response> {
    render_list(
        &state,
        shell,
        StatusCode::OK,
        query.q,
        CustomerInput::default(),
        None,
    )
    .await
}

async fn create_submit(
    State(state): State<AppState>,
    shell: Shell,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Form(form): Form<CustomerInput>,
) -> AppResult<Response> {
    match create_customer(&state, &user.user, &ip, &form).await {
        Ok(customer) => Ok(redirect_with_flash(
            &state,
            &format!("/schedule/customers/{}", customer.id),
            &format!("Added {}.", customer.name),
        )),
        Err(err @ (AppError::BadRequest(_) | AppError::Conflict(_))) => {
            let error = Some(sentence(&err));
            render_list(&state, shell, err.status(), String::new(), form, error).await
        }
        Err(other) => Err(other),
    }
}

#[derive(Template)]
#[template(path = "schedule/customer.html")]
pub struct CustomerPage {
    shell: Shell,
    customer: Customer,
    appointments: Vec<CustomerAppointment>,
    form: CustomerInput,
    error: Option<String>,
}

impl CustomerPage {
    fn status(&self, appointment: &CustomerAppointment) -> &'static str {
        status_label(appointment.status)
    }
}

async fn render_customer(
    state: &AppState,
    shell: Shell,
    id: CustomerId,
    status: StatusCode,
    form: Option<CustomerInput>,
    error: Option<String>,
) -> AppResult<Response> {
    let detail = detail(state, id).await?;
    let page = CustomerPage {
        shell,
        form: form.unwrap_or_else(|| CustomerInput::of(&detail.customer)),
        customer: detail.customer,
        appointments: detail.appointments,
        error,
    };
    Ok(render_with_status(status, &page))
}

async fn customer_page(
    State(state): State<AppState>,
    shell: Shell,
    _: CurrentUser,
    Path(id): Path<CustomerId>,
) -> AppResult<Response> {
    render_customer(&state, shell, id, StatusCode::OK, None, None).await
}

async fn update_submit(
    State(state): State<AppState>,
    shell: Shell,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<CustomerId>,
    Form(form): Form<CustomerInput>,
) -> AppResult<Response> {
    match update_customer(&state, &user.user, &ip, id, &form).await {
        Ok(customer) => Ok(redirect_with_flash(
            &state,
            &format!("/schedule/customers/{id}"),
            &format!("Saved {}.", customer.name),
        )),
        Err(err @ (AppError::BadRequest(_) | AppError::Conflict(_))) => {
            let error = Some(sentence(&err));
            render_customer(&state, shell, id, err.status(), Some(form), error).await
        }
        Err(other) => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_addresses_are_checked_loosely() {
        for good in ["a@b.co", "dana.smith+dentist@example.org"] {
            assert!(plausible_email(good), "{good}");
        }
        for bad in [
            "dana",
            "@example.org",
            "dana@",
            "dana@example",
            "da na@x.org",
            "a@b@c.org",
            "a@.org",
        ] {
            assert!(!plausible_email(bad), "{bad}");
        }
    }

    #[test]
    fn notes_keep_their_lines_only() {
        assert_eq!(
            clean_notes("  allergic to latex\r\nprefers mornings\u{202E}\u{7}  "),
            "allergic to latex\nprefers mornings"
        );
    }
}
