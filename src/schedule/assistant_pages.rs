//! The assistant on the Schedule page and under `/api/v1`: type a request,
//! see what was understood as a form you can correct, and the options;
//! confirm one with a click (or dismiss it). Nothing changes before that.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde::Deserialize;

use super::assistant::{self, Answer, Confirmed, Terms};
use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::error::{AppError, AppResult, ErrorEnvelope};
use crate::store::{
    Customer, CustomerId, Proposal, ProposalId, Service, ServiceId, StaffId, StaffMember, User,
};
use crate::web::layout::{Shell, redirect_with_flash, render, render_with_status};
use crate::web::middleware::ClientIp;
use crate::web::{Access, Routes};

pub fn routes() -> Routes {
    Routes::new()
        .get("/schedule/assistant", Access::Staff, page)
        .post("/schedule/assistant", Access::Staff, ask_from_form)
        .post(
            "/schedule/assistant/refine",
            Access::Staff,
            refine_from_form,
        )
        .post(
            "/schedule/proposals/{id}/confirm",
            Access::Staff,
            confirm_from_form,
        )
        .post(
            "/schedule/proposals/{id}/dismiss",
            Access::Staff,
            dismiss_from_form,
        )
        .post("/api/v1/schedule/assistant", Access::Staff, ask_api)
        .post("/api/v1/schedule/proposals", Access::Staff, refine_api)
        .get("/api/v1/proposals/{id}", Access::Staff, proposal_api)
        .post("/api/v1/proposals/{id}/confirm", Access::Staff, confirm_api)
        .post("/api/v1/proposals/{id}/dismiss", Access::Staff, dismiss_api)
}

/// The customers the correction form lists (a select); beyond this, the
/// request itself has to name them.
const LISTED_CUSTOMERS: usize = 500;

#[derive(Template)]
#[template(path = "schedule/assistant.html")]
pub struct AssistantPage {
    shell: Shell,
    text: String,
    answer: Option<Answer>,
    error: Option<String>,
    customers: Vec<Customer>,
    services: Vec<Service>,
    staff: Vec<StaffMember>,
    model_ready: bool,
}

impl AssistantPage {
    fn is_action(&self, action: &str) -> bool {
        self.answer
            .as_ref()
            .is_some_and(|a| a.terms.action == action)
    }

    fn is_customer(&self, id: &CustomerId) -> bool {
        self.answer.as_ref().and_then(|a| a.terms.customer) == Some(*id)
    }

    fn is_service(&self, id: &ServiceId) -> bool {
        self.answer.as_ref().and_then(|a| a.terms.service) == Some(*id)
    }

    fn is_staff(&self, id: &StaffId) -> bool {
        self.answer.as_ref().and_then(|a| a.terms.staff) == Some(*id)
    }

    fn first_day(&self) -> String {
        self.answer
            .as_ref()
            .and_then(|a| a.terms.first_day.clone())
            .unwrap_or_default()
    }

    fn last_day(&self) -> String {
        self.answer
            .as_ref()
            .and_then(|a| a.terms.last_day.clone())
            .unwrap_or_default()
    }

    fn times(&self) -> String {
        self.answer
            .as_ref()
            .map(|a| a.terms.times.clone())
            .unwrap_or_default()
    }

    fn current_day(&self) -> String {
        self.answer
            .as_ref()
            .and_then(|a| a.terms.current_day.clone())
            .unwrap_or_default()
    }

    fn reader(&self) -> &'static str {
        match self.answer.as_ref().map(|a| a.terms.reader.as_str()) {
            Some("model") => "Understood by the assistant's model.",
            Some("model_corrected") => {
                "Understood by the assistant's model, corrected where your words said otherwise."
            }
            Some("rules") => "Understood by Hearth's rules (no model is loaded).",
            _ => "As you set it.",
        }
    }
}

async fn assistant_page(
    state: &AppState,
    shell: Shell,
    text: String,
    answer: Option<Answer>,
    error: Option<String>,
) -> AppResult<AssistantPage> {
    let mut customers = state.store.customers().await?;
    customers.truncate(LISTED_CUSTOMERS);
    Ok(AssistantPage {
        shell,
        text,
        answer,
        error,
        customers,
        services: state.store.services().await?,
        staff: state.store.staff().await?,
        model_ready: matches!(
            state.chat.engine.state(),
            crate::llm::EngineState::Ready { .. }
        ),
    })
}

async fn page(
    State(state): State<AppState>,
    shell: Shell,
    _user: CurrentUser,
) -> AppResult<Response> {
    render(&assistant_page(&state, shell, String::new(), None, None).await?)
}

#[derive(Debug, Deserialize)]
struct AskForm {
    #[serde(default)]
    text: String,
}

/// Turns an error a person can fix into a message on the page.
fn message_of(error: AppError) -> Result<String, AppError> {
    match error {
        AppError::BadRequest(m) | AppError::TooLarge(m) | AppError::Conflict(m) => Ok(m),
        AppError::NotFound => Ok("That no longer exists.".into()),
        other => Err(other),
    }
}

async fn ask_from_form(
    State(state): State<AppState>,
    shell: Shell,
    user: CurrentUser,
    Form(form): Form<AskForm>,
) -> AppResult<Response> {
    match assistant::ask(&state, &user.user, &form.text).await {
        Ok(answer) => render(&assistant_page(&state, shell, form.text, Some(answer), None).await?),
        Err(error) => {
            let message = message_of(error)?;
            let page = assistant_page(&state, shell, form.text, None, Some(message)).await?;
            Ok(render_with_status(StatusCode::BAD_REQUEST, &page))
        }
    }
}

/// The correction form's fields.
#[derive(Debug, Deserialize, Default)]
struct TermsForm {
    #[serde(default)]
    text: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    customer: String,
    #[serde(default)]
    service: String,
    #[serde(default)]
    staff: String,
    #[serde(default)]
    first_day: String,
    #[serde(default)]
    last_day: String,
    #[serde(default)]
    times: String,
    #[serde(default)]
    current_day: String,
    #[serde(default)]
    appointment: String,
}

fn some_text(text: &str) -> Option<String> {
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

impl TermsForm {
    fn terms(&self) -> Terms {
        let id = |t: &str| t.trim().parse::<i64>().ok();
        Terms {
            action: self.action.clone(),
            customer: id(&self.customer).map(CustomerId),
            service: id(&self.service).map(ServiceId),
            staff: id(&self.staff).map(StaffId),
            first_day: some_text(&self.first_day),
            last_day: some_text(&self.last_day),
            times: self.times.clone(),
            current_day: some_text(&self.current_day),
            reader: "form".into(),
            appointment: id(&self.appointment).map(crate::store::AppointmentId),
        }
    }
}

async fn refine_from_form(
    State(state): State<AppState>,
    shell: Shell,
    user: CurrentUser,
    Form(form): Form<TermsForm>,
) -> AppResult<Response> {
    match assistant::propose(&state, &user.user, &form.text, form.terms()).await {
        Ok(answer) => render(&assistant_page(&state, shell, form.text, Some(answer), None).await?),
        Err(error) => {
            let message = message_of(error)?;
            let page = assistant_page(&state, shell, form.text, None, Some(message)).await?;
            Ok(render_with_status(StatusCode::BAD_REQUEST, &page))
        }
    }
}

async fn confirm_from_form(
    State(state): State<AppState>,
    shell: Shell,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<ProposalId>,
) -> AppResult<Response> {
    match assistant::confirm(&state, &user.user, &ip, id).await {
        Ok(Confirmed::Done {
            message,
            appointment,
        }) => Ok(redirect_with_flash(
            &state,
            &format!("/schedule/appointments/{}", appointment.id),
            &message,
        )),
        Ok(Confirmed::Refused { message }) => {
            let page = assistant_page(&state, shell, String::new(), None, Some(message)).await?;
            Ok(render_with_status(StatusCode::CONFLICT, &page))
        }
        Err(error) => {
            let message = message_of(error)?;
            let page = assistant_page(&state, shell, String::new(), None, Some(message)).await?;
            Ok(render_with_status(StatusCode::CONFLICT, &page))
        }
    }
}

async fn dismiss_from_form(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<ProposalId>,
) -> AppResult<Response> {
    assistant::dismiss(&state, &user.user, id).await?;
    Ok(redirect_with_flash(
        &state,
        "/schedule/assistant",
        "Dismissed; nothing was changed.",
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AskRequest {
    /// The request in plain words ("book Mrs Ortiz for a cleaning next
    /// week, afternoons, with Dr Lee").
    pub text: String,
}

/// Reads a request: what was understood, and proposals (or one question).
/// Nothing is booked, moved or cancelled: confirm a proposal for that.
#[utoipa::path(post, path = "/api/v1/schedule/assistant", tag = "schedule",
    request_body = AskRequest,
    responses((status = 200, body = Answer), (status = 400, body = ErrorEnvelope)))]
async fn ask_api(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(request): Json<AskRequest>,
) -> AppResult<Json<Answer>> {
    Ok(Json(
        assistant::ask(&state, &user.user, &request.text).await?,
    ))
}

/// Proposals for terms set (or corrected) by hand, without the model.
#[utoipa::path(post, path = "/api/v1/schedule/proposals", tag = "schedule",
    request_body = Terms,
    responses((status = 200, body = Answer), (status = 400, body = ErrorEnvelope)))]
async fn refine_api(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(terms): Json<Terms>,
) -> AppResult<Json<Answer>> {
    Ok(Json(
        assistant::propose(
            &state,
            &user.user,
            "",
            Terms {
                reader: "form".into(),
                ..terms
            },
        )
        .await?,
    ))
}

/// Only the person a proposal was made for (or an owner or admin) sees it.
fn visible(proposal: &Proposal, user: &User) -> bool {
    proposal.created_by == user.id || user.role >= crate::store::Role::Admin
}

#[utoipa::path(get, path = "/api/v1/proposals/{id}", tag = "schedule",
    params(("id" = i64, Path)),
    responses((status = 200, body = Proposal), (status = 404, body = ErrorEnvelope)))]
async fn proposal_api(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<ProposalId>,
) -> AppResult<Json<Proposal>> {
    let proposal = state.store.proposal(id).await?;
    if !visible(&proposal, &user.user) {
        return Err(AppError::NotFound);
    }
    Ok(Json(proposal))
}

/// Confirms a proposal: the change is made (and audited with who
/// confirmed), or refused when the time was taken meanwhile (409).
#[utoipa::path(post, path = "/api/v1/proposals/{id}/confirm", tag = "schedule",
    params(("id" = i64, Path)),
    responses((status = 200, body = super::api::AppointmentView),
        (status = 409, description = "Taken meanwhile, or already decided", body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
async fn confirm_api(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<ProposalId>,
) -> AppResult<Response> {
    match assistant::confirm(&state, &user.user, &ip, id).await? {
        Confirmed::Done { appointment, .. } => {
            let names = super::api::Names::load(&state).await?;
            Ok(Json(names.view(&appointment)).into_response())
        }
        Confirmed::Refused { message } => Err(AppError::Conflict(message)),
    }
}

#[utoipa::path(post, path = "/api/v1/proposals/{id}/dismiss", tag = "schedule",
    params(("id" = i64, Path)),
    responses((status = 204), (status = 409, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn dismiss_api(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<ProposalId>,
) -> AppResult<StatusCode> {
    assistant::dismiss(&state, &user.user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(ask_api, refine_api, proposal_api, confirm_api, dismiss_api),
    components(schemas(
        AskRequest,
        Answer,
        Terms,
        assistant::Offer,
        assistant::ChoiceView,
        Proposal
    ))
)]
struct ApiDoc;

pub fn api_doc() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}
