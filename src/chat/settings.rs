//! Admin → Assistant, and `/api/v1/assistant`: the system prompt, sampling,
//! answer length, context and parallel chats. Every change is a new version
//! of the setting (who, when), any earlier version can be restored, and
//! changes apply without a restart: prompts and sampling with the next
//! answer, context and parallel chats after a reload of the model that waits
//! for the answers in flight.
//!
//! The page leads with a choice of [`Preset`] and keeps the numbers under
//! "Advanced"; it works without JavaScript (the server applies a picked
//! preset on save; `static/settings.js` only fills the numbers at once). The
//! history says what each version changed ([`changes`]), and "Restore
//! factory settings" saves the defaults in code as a new version.

mod changes;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Form, Json};
use serde::Deserialize;

use self::changes::{Change, DiffLine};
use super::assistant::{AssistantSettings, Field, Preset, Problem, SETTING_KEY};
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

/// Versions the history shows, newest first.
const HISTORY_SHOWN: u32 = 20;

/// The preset radio's value for numbers of one's own.
const CUSTOM: &str = "custom";

pub fn routes() -> Routes {
    Routes::new()
        .get("/admin/assistant", Access::Admin, page)
        .post("/admin/assistant", Access::Admin, save)
        .post("/admin/assistant/restore/{version}", Access::Admin, restore)
        .post("/admin/assistant/factory", Access::Admin, restore_factory)
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
        return Err(AppError::BadRequest(problem.message));
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
    status: EngineStatus,
    presets: Vec<PresetChoice>,
    /// No preset is checked: the numbers are the owner's own.
    custom: bool,
    /// The preset the form shows, so a save can tell a preset just picked
    /// (it wins) from one left as it was (changed numbers win).
    preset_shown: &'static str,
    system_prompt: String,
    prompt_field: FieldView,
    numbers: Vec<FieldView>,
    advanced_open: bool,
    history: Vec<VersionView>,
    factory_in_use: bool,
    error: Option<String>,
    times: Times,
}

/// One preset's radio card.
struct PresetChoice {
    key: &'static str,
    label: &'static str,
    description: &'static str,
    temperature: f32,
    top_p: f32,
    checked: bool,
}

/// One field of the form, with its help and its error.
struct FieldView {
    name: &'static str,
    label: &'static str,
    value: String,
    min: String,
    max: String,
    step: &'static str,
    help: &'static str,
    safe: &'static str,
    allowed: String,
    error: Option<String>,
}

/// One version in the history: who, when, and what it changed from the
/// version before it (the first one: from the factory settings).
struct VersionView {
    version: i64,
    changed_at: i64,
    changed_by: String,
    current: bool,
    /// Equal to the factory settings.
    factory: bool,
    /// There is no earlier version: compared with the factory settings.
    first: bool,
    readable: bool,
    /// The version before cannot be read, so what changed is unknown.
    earlier_unreadable: bool,
    changes: Vec<Change>,
    prompt: Vec<DiffLine>,
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
}

/// What the form shows: settings, or what was typed when it could not be
/// saved.
struct FormValues {
    preset: Option<Preset>,
    system_prompt: String,
    /// In the order of [`Field::NUMBERS`].
    numbers: [String; 5],
}

impl FormValues {
    fn of(settings: &AssistantSettings) -> FormValues {
        FormValues {
            preset: settings.preset(),
            system_prompt: settings.system_prompt.clone(),
            numbers: [
                settings.temperature.to_string(),
                settings.top_p.to_string(),
                settings.max_answer_tokens.to_string(),
                settings.context_per_chat.to_string(),
                settings.parallel.to_string(),
            ],
        }
    }
}

/// A form that cannot be saved: the field at fault, if one, and why.
struct FormError {
    field: Option<Field>,
    message: String,
}

impl From<Problem> for FormError {
    fn from(problem: Problem) -> Self {
        FormError {
            field: Some(problem.field),
            message: problem.message,
        }
    }
}

async fn render_page(
    state: &AppState,
    shell: Shell,
    form: FormValues,
    status: StatusCode,
    error: Option<FormError>,
) -> AppResult<Response> {
    let error_field = error.as_ref().and_then(|e| e.field);
    let field = |field: Field, value: String| {
        let (min, max) = field.allowed();
        FieldView {
            name: field.name(),
            label: field.label(),
            value,
            min: min.to_string(),
            max: max.to_string(),
            step: field.step(),
            help: field.help(),
            safe: field.safe_range(),
            allowed: field.allowed_range(),
            error: error
                .as_ref()
                .filter(|_| error_field == Some(field))
                .map(|e| e.message.clone()),
        }
    };
    let numbers: Vec<FieldView> = Field::NUMBERS
        .into_iter()
        .zip(form.numbers)
        .map(|(f, value)| field(f, value))
        .collect();
    let presets = Preset::ALL
        .into_iter()
        .map(|preset| PresetChoice {
            key: preset.key(),
            label: preset.label(),
            description: preset.description(),
            temperature: preset.sampling().temperature,
            top_p: preset.sampling().top_p,
            checked: form.preset == Some(preset),
        })
        .collect();
    let factory = AssistantSettings::defaults(&state.config);
    let page = AssistantPage {
        presets,
        custom: form.preset.is_none(),
        preset_shown: form.preset.map_or(CUSTOM, Preset::key),
        prompt_field: field(Field::SystemPrompt, String::new()),
        system_prompt: form.system_prompt,
        numbers,
        advanced_open: form.preset.is_none()
            || error_field.is_some_and(|f| f != Field::SystemPrompt),
        factory_in_use: state.chat.assistant() == factory,
        history: history(
            &state
                .store
                .setting_history(SETTING_KEY, HISTORY_SHOWN + 1)
                .await?,
            &factory,
        ),
        status: state.chat.engine.status(),
        times: Times::load(state).await?,
        error: error.map(|e| e.message),
        shell,
    };
    Ok(render_with_status(status, &page))
}

/// The history's entries from `versions` (newest first, one more than shown
/// so the oldest shown has something to compare with).
fn history(versions: &[SettingVersion], factory: &AssistantSettings) -> Vec<VersionView> {
    let read = |v: &SettingVersion| serde_json::from_str::<AssistantSettings>(&v.value).ok();
    versions
        .iter()
        .take(HISTORY_SHOWN as usize)
        .enumerate()
        .map(|(i, v)| {
            let this = read(v);
            let earlier = versions.get(i + 1);
            let before = match earlier {
                Some(earlier) => read(earlier),
                None => Some(factory.clone()),
            };
            let (changes, prompt) = match (&before, &this) {
                (Some(before), Some(this)) => (
                    changes::changes(before, this),
                    changes::prompt_diff(&before.system_prompt, &this.system_prompt),
                ),
                _ => (Vec::new(), Vec::new()),
            };
            VersionView {
                version: v.version,
                changed_at: v.changed_at,
                changed_by: v.changed_by.clone(),
                current: i == 0,
                factory: this.as_ref() == Some(factory),
                first: earlier.is_none(),
                readable: this.is_some(),
                earlier_unreadable: before.is_none(),
                changes,
                prompt,
            }
        })
        .collect()
}

async fn page(State(state): State<AppState>, shell: Shell, _: AdminUser) -> AppResult<Response> {
    let form = FormValues::of(&state.chat.assistant());
    render_page(&state, shell, form, StatusCode::OK, None).await
}

#[derive(Deserialize)]
struct SettingsForm {
    /// A preset's key or `custom`; absent from clients that send numbers.
    #[serde(default)]
    preset: Option<String>,
    #[serde(default)]
    preset_shown: Option<String>,
    system_prompt: String,
    temperature: String,
    top_p: String,
    max_answer_tokens: String,
    context_per_chat: String,
    parallel: String,
}

impl SettingsForm {
    /// The settings this form asks for. A preset that was picked (one other
    /// than the form showed) sets the sampling: without JavaScript the
    /// numbers still show the earlier ones. A preset left as it was gives
    /// way to the numbers, so changing them under "Advanced" works too.
    fn settings(&self) -> Result<AssistantSettings, FormError> {
        fn number<T: std::str::FromStr>(value: &str, field: Field) -> Result<T, FormError> {
            value
                .trim()
                .parse()
                .map_err(|_| Problem::not_a_number(field).into())
        }
        let preset = match self.preset.as_deref() {
            None | Some(CUSTOM) => None,
            Some(key) => Some(Preset::from_key(key).ok_or_else(|| FormError {
                field: None,
                message: "Choose Precise, Balanced, Creative or Custom.".into(),
            })?),
        };
        let typed = AssistantSettings {
            system_prompt: self.system_prompt.replace("\r\n", "\n"),
            temperature: number(&self.temperature, Field::Temperature)?,
            top_p: number(&self.top_p, Field::TopP)?,
            max_answer_tokens: number(&self.max_answer_tokens, Field::MaxAnswerTokens)?,
            context_per_chat: number(&self.context_per_chat, Field::ContextPerChat)?,
            parallel: number(&self.parallel, Field::Parallel)?,
        };
        Ok(match preset {
            Some(preset) if self.preset_shown.as_deref() != Some(preset.key()) => {
                typed.with_preset(preset)
            }
            _ => typed,
        })
    }

    /// What was typed, to show again with an error.
    fn values(&self) -> FormValues {
        FormValues {
            preset: self.preset.as_deref().and_then(Preset::from_key),
            system_prompt: self.system_prompt.replace("\r\n", "\n"),
            numbers: [
                self.temperature.clone(),
                self.top_p.clone(),
                self.max_answer_tokens.clone(),
                self.context_per_chat.clone(),
                self.parallel.clone(),
            ],
        }
    }
}

async fn save(
    State(state): State<AppState>,
    shell: Shell,
    ClientIp(ip): ClientIp,
    AdminUser(by): AdminUser,
    Form(form): Form<SettingsForm>,
) -> AppResult<Response> {
    // Shown again after an error: the settings as the preset made them when
    // the numbers could be read, so saving again keeps the picked preset.
    let (shown, error) = match form.settings() {
        Ok(settings) => match settings.problem() {
            None => {
                let version = apply(&state, &by.user, &ip, settings, "").await?;
                return Ok(redirect_with_flash(
                    &state,
                    "/admin/assistant",
                    &format!("Saved as version {version}. New answers use it now."),
                ));
            }
            Some(problem) => (FormValues::of(&settings), FormError::from(problem)),
        },
        Err(error) => (form.values(), error),
    };
    render_page(&state, shell, shown, StatusCode::BAD_REQUEST, Some(error)).await
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

/// Saves the defaults in code as a new version, so going back to the
/// factory settings can itself be undone from the history.
async fn restore_factory(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    AdminUser(by): AdminUser,
) -> AppResult<Response> {
    let factory = AssistantSettings::defaults(&state.config);
    if state.chat.assistant() == factory {
        return Ok(redirect_with_flash(
            &state,
            "/admin/assistant",
            "The factory settings are already in use.",
        ));
    }
    let version = apply(&state, &by.user, &ip, factory, ", factory settings").await?;
    Ok(redirect_with_flash(
        &state,
        "/admin/assistant",
        &format!("Restored the factory settings (saved as version {version})."),
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
