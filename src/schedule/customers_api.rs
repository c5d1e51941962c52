//! Customers under `/api/v1`: find while typing (`?q=` matches any part of
//! the name or e-mail, and the phone number's digits however it is
//! written), add, read with their appointments, change. Every signed-in
//! person may do all of it, with the rules and audit trail of the
//! Customers pages (`customers.rs`).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::customers::{self, CustomerAppointment, CustomerDetail, CustomerInput};
use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::error::{AppResult, ErrorEnvelope};
use crate::store::{AppointmentId, AppointmentStatus, Customer, CustomerId, StaffId};
use crate::web::middleware::ClientIp;
use crate::web::{Access, Routes};

pub fn routes() -> Routes {
    Routes::new()
        .get("/api/v1/customers", Access::Staff, list)
        .post("/api/v1/customers", Access::Staff, create)
        .get("/api/v1/customers/{id}", Access::Staff, read)
        .patch("/api/v1/customers/{id}", Access::Staff, update)
}

#[derive(Debug, Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct FindQuery {
    /// Part of the name, phone number or e-mail; empty: everyone.
    #[serde(default)]
    q: String,
    /// At most this many (default 50, at most 500).
    limit: Option<u32>,
}

/// Changes to a customer; what is left out stays as it is.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CustomerUpdate {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub notes: Option<String>,
}

/// Customers whose name, phone or e-mail contains `q`, names that start
/// with it first.
#[utoipa::path(get, path = "/api/v1/customers", tag = "schedule", params(FindQuery),
    responses((status = 200, body = Vec<Customer>)))]
async fn list(
    State(state): State<AppState>,
    _: CurrentUser,
    Query(query): Query<FindQuery>,
) -> AppResult<Json<Vec<Customer>>> {
    let limit = query.limit.unwrap_or(customers::LIST_LIMIT);
    Ok(Json(customers::find(&state, &query.q, limit).await?))
}

/// Adds a customer (audited).
#[utoipa::path(post, path = "/api/v1/customers", tag = "schedule", request_body = CustomerInput,
    responses((status = 201, body = Customer), (status = 400, body = ErrorEnvelope)))]
async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Json(input): Json<CustomerInput>,
) -> AppResult<(StatusCode, Json<Customer>)> {
    let customer = customers::create_customer(&state, &user.user, &ip, &input).await?;
    Ok((StatusCode::CREATED, Json(customer)))
}

/// One customer with their appointments, newest first.
#[utoipa::path(get, path = "/api/v1/customers/{id}", tag = "schedule",
    params(("id" = i64, Path, description = "Customer id")),
    responses((status = 200, body = CustomerDetail), (status = 404, body = ErrorEnvelope)))]
async fn read(
    State(state): State<AppState>,
    _: CurrentUser,
    Path(id): Path<CustomerId>,
) -> AppResult<Json<CustomerDetail>> {
    Ok(Json(customers::detail(&state, id).await?))
}

/// Changes a customer (audited with before and after); answers the
/// customer with their appointments.
#[utoipa::path(patch, path = "/api/v1/customers/{id}", tag = "schedule", request_body = CustomerUpdate,
    params(("id" = i64, Path, description = "Customer id")),
    responses((status = 200, body = CustomerDetail), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<CustomerId>,
    Json(body): Json<CustomerUpdate>,
) -> AppResult<Json<CustomerDetail>> {
    let mut input = CustomerInput::of(&state.store.customer(id).await?);
    if let Some(name) = body.name {
        input.name = name;
    }
    if let Some(phone) = body.phone {
        input.phone = phone;
    }
    if let Some(email) = body.email {
        input.email = email;
    }
    if let Some(notes) = body.notes {
        input.notes = notes;
    }
    customers::update_customer(&state, &user.user, &ip, id, &input).await?;
    Ok(Json(customers::detail(&state, id).await?))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list, create, read, update),
    components(schemas(
        Customer,
        CustomerId,
        CustomerInput,
        CustomerUpdate,
        CustomerDetail,
        CustomerAppointment,
        AppointmentId,
        AppointmentStatus,
        StaffId,
        ErrorEnvelope
    ))
)]
struct ApiDoc;

pub fn api_doc() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}
