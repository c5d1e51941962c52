//! Admin → Assistant, and `/api/v1/assistant`: the system prompt, sampling,
//! answer length, context and parallel chats. Every change is a new version
//! of the setting (who, when), any earlier version can be restored, and
//! changes apply without a restart: prompts and sampling with the next
//! answer, context and parallel chats after a reload of the model that waits
//! for the answers in flight.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Form, Json};
use serde::Deserialize;

use super::assistant::{AssistantSettings, SETTING_KEY};
use crate::app::AppState;
use crate::audit::{self, Actor, Event, Target};
use crate::auth::AdminUser;
use crate::error::{AppError, AppResult, ErrorEnvelope};
use crate::llm::EngineStatus;
use crate::store::{SettingVersion, User};
use crate::web::layout::{Shell, redirect_with_flash, render_with_status};
use crate::web::middleware::ClientIp;
use crate::web::time::{Moment, Times};
use crate::web::{Access, Routes};

pub fn routes() -> Routes {
    Routes::new()
        .get("/admin/assistant", Access::Admin, page)
        .post("/admin/assistant", Access::Admin, save)
        .post("/admin/assistant/restore/{version}", Access::Admin, restore)
        .get("/api/v1/assistant", Access::Admin, api_get)
        .patch("/api/v1/assistant", Access::Admin, api_update)
}

/// Stores `settings` as a new version and applies them.
pub async fn apply(
    state: &AppState,
    by: &User,
    ip: &str,
    settings: AssistantSettings,
    note: &str,
) -> AppResult<i64> {
    if let Some(problem) = settings.problem() {
        return Err(AppError::BadRequest(problem));
    }
    let before = state.chat.assistant();
    let json = serde_json::to_string(&settings).map_err(|e| AppError::Internal(e.into()))?;
    let version = state
        .store
        .set_setting(SETTING_KEY, json, Some(by.id))
        .await?;
    let reload = before.context_per_chat != settings.context_per_chat
        || before.parallel != settings.parallel;
    state.chat.set_assistant(settings.clone());
    if reload {
        let model_path = state.chat.engine.config().model_path;
        state
            .chat
            .engine
            .reconfigure(settings.engine_config(&state.config, model_path));
    }
    audit::record(
        &state.store,
        Actor::User(by),
        ip,
        Event::ok("settings.changed", Target::Setting("assistant"))
            .detail(format!("version {version}{note}")),
    )
    .await?;
    Ok(version)
}

#[derive(Template)]
#[template(path = "chat/settings.html")]
pub struct AssistantPage {
    shell: Shell,
    settings: AssistantSettings,
    status: EngineStatus,
    history: Vec<SettingVersion>,
    error: Option<String>,
    times: Times,
}

impl AssistantPage {
    fn time(&self, unix: &i64) -> Moment {
        self.times.at(*unix)
    }

    fn state_label(&self) -> String {
        match &self.status.state {
            crate::llm::EngineState::Ready { model } => format!("Ready: {model}"),
            crate::llm::EngineState::Loading { model } => format!("Loading {model}…"),
            crate::llm::EngineState::Failed { model, error } => {
                format!("Not working ({model}): {error}")
            }
            crate::llm::EngineState::Stopped => "Stopped".into(),
        }
    }

    fn speeds(&self) -> String {
        if self.status.recent_tokens_per_second.is_empty() {
            return "no answers yet".into();
        }
        self.status
            .recent_tokens_per_second
            .iter()
            .take(10)
            .map(|t| format!("{t:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
            + " tokens/s"
    }

    fn summary(&self, version: &SettingVersion) -> String {
        match serde_json::from_str::<AssistantSettings>(&version.value) {
            Ok(s) => format!(
                "temperature {}, top-p {}, answers up to {} tokens, {} tokens of context, {} at a time",
                s.temperature, s.top_p, s.max_answer_tokens, s.context_per_chat, s.parallel
            ),
            Err(_) => "unreadable".into(),
        }
    }
}

async fn render_page(
    state: &AppState,
    shell: Shell,
    settings: AssistantSettings,
    status: StatusCode,
    error: Option<String>,
) -> AppResult<Response> {
    let page = AssistantPage {
        shell,
        settings,
        status: state.chat.engine.status(),
        history: state.store.setting_history(SETTING_KEY, 20).await?,
        error,
        times: Times::load(state).await?,
    };
    Ok(render_with_status(status, &page))
}

async fn page(State(state): State<AppState>, shell: Shell, _: AdminUser) -> AppResult<Response> {
    render_page(&state, shell, state.chat.assistant(), StatusCode::OK, None).await
}

#[derive(Deserialize)]
struct SettingsForm {
    system_prompt: String,
    temperature: String,
    top_p: String,
    max_answer_tokens: String,
    context_per_chat: String,
    parallel: String,
}

impl SettingsForm {
    fn parse(&self) -> Result<AssistantSettings, String> {
        fn number<T: std::str::FromStr>(value: &str, name: &str) -> Result<T, String> {
            value
                .trim()
                .parse()
                .map_err(|_| format!("{name} must be a number."))
        }
        Ok(AssistantSettings {
            system_prompt: self.system_prompt.replace("\r\n", "\n"),
            temperature: number(&self.temperature, "Temperature")?,
            top_p: number(&self.top_p, "Top-p")?,
            max_answer_tokens: number(&self.max_answer_tokens, "Longest answer")?,
            context_per_chat: number(&self.context_per_chat, "Context")?,
            parallel: number(&self.parallel, "Parallel chats")?,
        })
    }
}

async fn save(
    State(state): State<AppState>,
    shell: Shell,
    ClientIp(ip): ClientIp,
    AdminUser(by): AdminUser,
    Form(form): Form<SettingsForm>,
) -> AppResult<Response> {
    let settings = match form.parse() {
        Ok(settings) => settings,
        Err(message) => {
            let fallback = state.chat.assistant();
            return render_page(
                &state,
                shell,
                fallback,
                StatusCode::BAD_REQUEST,
                Some(message),
            )
            .await;
        }
    };
    match apply(&state, &by.user, &ip, settings.clone(), "").await {
        Ok(version) => Ok(redirect_with_flash(
            &state,
            "/admin/assistant",
            &format!("Saved as version {version}. New answers use it now."),
        )),
        Err(AppError::BadRequest(message)) => {
            render_page(
                &state,
                shell,
                settings,
                StatusCode::BAD_REQUEST,
                Some(message),
            )
            .await
        }
        Err(other) => Err(other),
    }
}

async fn restore(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    AdminUser(by): AdminUser,
    Path(version): Path<i64>,
) -> AppResult<Response> {
    let json = state.store.setting_version(SETTING_KEY, version).await?;
    let settings: AssistantSettings = serde_json::from_str(&json)
        .map_err(|_| AppError::bad_request("That version cannot be read any more."))?;
    let new = apply(
        &state,
        &by.user,
        &ip,
        settings,
        &format!(", restored from version {version}"),
    )
    .await?;
    Ok(redirect_with_flash(
        &state,
        "/admin/assistant",
        &format!("Restored version {version} (saved as version {new})."),
    ))
}

/// The assistant's settings.
#[utoipa::path(get, path = "/api/v1/assistant", tag = "assistant",
    responses((status = 200, body = AssistantSettings), (status = 403, body = ErrorEnvelope)))]
async fn api_get(State(state): State<AppState>, _: AdminUser) -> Json<AssistantSettings> {
    Json(state.chat.assistant())
}

/// Changes the assistant's settings; absent fields stay as they are.
#[utoipa::path(patch, path = "/api/v1/assistant", tag = "assistant", request_body = AssistantSettings,
    responses((status = 200, body = AssistantSettings), (status = 400, body = ErrorEnvelope)))]
async fn api_update(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    AdminUser(by): AdminUser,
    Json(change): Json<serde_json::Value>,
) -> AppResult<Json<AssistantSettings>> {
    let mut current =
        serde_json::to_value(state.chat.assistant()).map_err(|e| AppError::Internal(e.into()))?;
    let (Some(target), Some(fields)) = (current.as_object_mut(), change.as_object()) else {
        return Err(AppError::bad_request("send a JSON object of settings"));
    };
    for (key, value) in fields {
        if !target.contains_key(key) {
            return Err(AppError::BadRequest(format!("unknown setting {key:?}")));
        }
        target.insert(key.clone(), value.clone());
    }
    let settings: AssistantSettings = serde_json::from_value(current)
        .map_err(|e| AppError::BadRequest(format!("invalid settings: {e}")))?;
    apply(&state, &by.user, &ip, settings, "").await?;
    Ok(Json(state.chat.assistant()))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(api_get, api_update),
    components(schemas(AssistantSettings, ErrorEnvelope))
)]
pub struct ApiDoc;

pub fn api_doc() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}
