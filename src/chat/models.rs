//! Admin → Models: every GGUF in the data directory's `models/`, with what
//! its header says and whether it fits this machine; adding one by upload
//! from the browser (streamed to disk, resumable, checked before use) or
//! `hearth model add`; switching the active model without a restart;
//! removing one; and a "try it" prompt. The default model is always kept: it
//! is loaded instead when the chosen model cannot be. Above them, the
//! catalog of good models for this box ([`catalog`]) with a download that
//! runs in the background ([`download`]), and a plain warning while the
//! small demonstration model is the one answering.

pub mod catalog;
pub mod download;

use std::path::{Path as FsPath, PathBuf};

use askama::Template;
use axum::Form;
use axum::Json;
use axum::body::Body;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::assistant::MODEL_SETTING_KEY;
use crate::app::AppState;
use crate::audit::{self, Actor, Event, Target};
use crate::auth::AdminUser;
use crate::config::DEFAULT_MODEL_FILE;
use crate::disk::{self, SpoolError};
use crate::error::{AppError, AppResult};
use crate::llm::gguf::{self, GgufInfo};
use crate::llm::{Completion, EngineState, Message, Request, Role, Sampling, hardware};
use crate::store::User;
use crate::web::layout::{Shell, redirect_with_flash, render_with_status};
use crate::web::middleware::ClientIp;
use crate::web::{Access, Routes};

pub fn routes() -> Routes {
    Routes::new()
        .get("/admin/models", Access::Admin, page)
        .post(
            "/admin/models/{name}/activate",
            Access::Admin,
            activate_submit,
        )
        .post("/admin/models/{name}/delete", Access::Admin, delete_submit)
        .post("/admin/models/try", Access::Admin, try_submit)
        .get("/admin/models/upload", Access::Admin, upload_status)
        .route_with_own_limit(
            axum::http::Method::PUT,
            "/admin/models/upload",
            Access::Admin,
            upload_chunk,
        )
        .delete("/admin/models/upload", Access::Admin, upload_abort)
        .get("/admin/models/download", Access::Admin, download_status)
        .post("/admin/models/download", Access::Admin, download_submit)
        .post(
            "/admin/models/download/cancel",
            Access::Admin,
            download_cancel,
        )
        .route_with_own_limit(
            axum::http::Method::POST,
            "/admin/models/upload",
            Access::Admin,
            upload_form,
        )
}

/// A model file as listed.
pub struct ModelEntry {
    pub file_name: String,
    pub info: Result<GgufInfo, String>,
    pub active: bool,
    pub is_default: bool,
    pub size: String,
    /// "Fits" or why not.
    pub fit: String,
    pub fits: bool,
}

/// File names Hearth accepts for models: letters, digits, `.`, `_`, `-`,
/// ending in `.gguf`, not starting with a dot.
pub fn valid_model_name(name: &str) -> AppResult<String> {
    let ok = name.len() <= 128
        && name.to_lowercase().ends_with(".gguf")
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(name.to_string())
    } else {
        Err(AppError::bad_request(
            "A model's file name has letters, digits, '.', '_' or '-' only and ends in .gguf (at most 128 characters).",
        ))
    }
}

/// Names being uploaded right now: two requests appending to the same
/// partial file at once would corrupt it.
static UPLOADING: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

struct UploadLock(String);

impl UploadLock {
    fn take(name: &str) -> Option<UploadLock> {
        let mut names = UPLOADING.lock().unwrap_or_else(|p| p.into_inner());
        if names.iter().any(|n| n == name) {
            return None;
        }
        names.push(name.to_string());
        Some(UploadLock(name.to_string()))
    }
}

impl Drop for UploadLock {
    fn drop(&mut self) {
        UPLOADING
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|n| *n != self.0);
    }
}

fn partial_path(models: &FsPath, name: &str) -> PathBuf {
    models.join(format!(".upload-{name}.part"))
}

/// Lists the models directory.
pub fn list_models(state: &AppState) -> Vec<ModelEntry> {
    let models = state.config.models_dir();
    let active = state.chat.engine.config().model_path;
    let available = hardware::available_memory();
    let mut entries: Vec<ModelEntry> = std::fs::read_dir(&models)
        .map(|dir| dir.filter_map(Result::ok).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with('.') || !name.to_lowercase().ends_with(".gguf") {
                return None;
            }
            let path = entry.path();
            let info = gguf::inspect(&path).map_err(|e| e.to_string());
            let size = info.as_ref().map_or_else(
                |_| std::fs::metadata(&path).map_or(0, |m| m.len()),
                |i| i.file_size,
            );
            let is_active = path == active;
            // The active model's memory is already in use and would be freed by a switch.
            let (fits, fit) = match available {
                Some(free) => {
                    let budget = if is_active { free + size } else { free };
                    let needed = size + size / 10;
                    if needed <= budget {
                        (
                            true,
                            format!("Fits ({} free)", hardware::format_bytes(free)),
                        )
                    } else {
                        (
                            false,
                            format!(
                                "Too large: needs about {}, {} free",
                                hardware::format_bytes(needed),
                                hardware::format_bytes(free)
                            ),
                        )
                    }
                }
                None => (true, "Unknown".to_string()),
            };
            Some(ModelEntry {
                is_default: name == DEFAULT_MODEL_FILE,
                file_name: name,
                size: hardware::format_bytes(size),
                info,
                active: is_active,
                fit,
                fits,
            })
        })
        .collect();
    entries.sort_by(|a, b| b.active.cmp(&a.active).then(a.file_name.cmp(&b.file_name)));
    entries
}

#[derive(Template)]
#[template(path = "chat/models.html")]
pub struct ModelsPage {
    shell: Shell,
    models: Vec<ModelEntry>,
    /// The catalog judged for this box.
    catalog: Vec<catalog::Judged>,
    /// The small demonstration model is answering.
    demonstration: bool,
    /// "16.7 GB/s measured" or why there is no speed estimate.
    bandwidth: String,
    /// Context the memory estimates assume.
    context_tokens: u64,
    download: download::Progress,
    engine: String,
    speeds: String,
    error: Option<String>,
    prompt: String,
    answer: Option<String>,
    answer_stats: String,
    /// The CPU's vector extensions and the engine's, and the quantizations
    /// that suit them.
    cpu: crate::llm::hardware::CpuFeatures,
}

impl ModelsPage {
    fn recommended(&self) -> Option<&catalog::Judged> {
        self.catalog.iter().find(|j| j.recommended)
    }

    fn speed(&self, judged: &catalog::Judged) -> String {
        match judged.tokens_per_second {
            Some(t) if t >= 10.0 => format!("about {t:.0} tokens/s"),
            Some(t) => format!("about {t:.1} tokens/s"),
            None => "unknown".into(),
        }
    }

    fn memory(&self, judged: &catalog::Judged) -> String {
        format!("needs about {}", hardware::format_bytes(judged.needed))
    }

    fn file_size(&self, judged: &catalog::Judged) -> String {
        hardware::format_bytes(judged.entry.source.size_bytes)
    }

    fn context(&self, judged: &catalog::Judged) -> String {
        match judged.entry.source.context_length {
            0 => "unknown".into(),
            c => format!("{}K", c / 1024),
        }
    }

    fn label(&self, entry: &ModelEntry) -> String {
        match &entry.info {
            Ok(info) => format!(
                "{} · {} · {} parameters · {} context",
                info.architecture
                    .as_deref()
                    .unwrap_or("unknown architecture"),
                info.quantization,
                info.parameters_label(),
                info.context_length
                    .map_or("unknown".to_string(), |c| format!("{c}-token"))
            ),
            Err(error) => format!("Unusable: {error}"),
        }
    }

    fn display_name(&self, entry: &ModelEntry) -> String {
        entry
            .info
            .as_ref()
            .ok()
            .and_then(|i| i.name.clone())
            .unwrap_or_else(|| entry.file_name.clone())
    }
}

async fn render_page(
    state: &AppState,
    shell: Shell,
    status: StatusCode,
    error: Option<String>,
    prompt: String,
    answer: Option<(String, String)>,
) -> AppResult<Response> {
    let engine = state.chat.engine.status();
    let settings = state.chat.assistant();
    let bandwidth = catalog::bandwidth().await;
    let page = ModelsPage {
        shell,
        models: list_models(state),
        catalog: catalog::judged(state).await,
        demonstration: catalog::demonstration_in_use(state),
        bandwidth: match bandwidth {
            Some(b) => format!("{:.1} GB/s measured on this box", b / 1e9),
            None => "memory speed could not be measured".into(),
        },
        context_tokens: u64::from(settings.context_per_chat) * u64::from(settings.parallel),
        download: download::progress(state),
        engine: match &engine.state {
            EngineState::Ready { model } => match &engine.notice {
                Some(notice) => format!("{model} is answering. Note: {notice}."),
                None => format!("{model} is answering."),
            },
            EngineState::Loading { model } => format!("{model} is loading…"),
            EngineState::Failed { model, error } => format!("{model} is not working: {error}"),
            EngineState::Stopped => "The assistant is stopped.".into(),
        },
        speeds: if engine.recent_tokens_per_second.is_empty() {
            "No answers yet.".into()
        } else {
            format!(
                "Recent answers: {} tokens/s.",
                engine
                    .recent_tokens_per_second
                    .iter()
                    .take(10)
                    .map(|t| format!("{t:.0}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        error,
        prompt,
        answer_stats: answer.as_ref().map(|a| a.1.clone()).unwrap_or_default(),
        answer: answer.map(|a| a.0),
        cpu: crate::llm::hardware::CpuFeatures::detect(),
    };
    Ok(render_with_status(status, &page))
}

/// The page again with `message` at the top.
async fn error_page(
    state: &AppState,
    shell: Shell,
    status: StatusCode,
    message: String,
) -> AppResult<Response> {
    render_page(state, shell, status, Some(message), String::new(), None).await
}

async fn page(State(state): State<AppState>, shell: Shell, _: AdminUser) -> AppResult<Response> {
    render_page(&state, shell, StatusCode::OK, None, String::new(), None).await
}

/// Makes `name` the active model: the engine reloads once the answers in
/// flight are finished.
pub async fn activate(
    state: &AppState,
    by: Actor<'_>,
    by_id: Option<&User>,
    name: &str,
    ip: &str,
) -> AppResult<()> {
    let name = valid_model_name(name)?;
    let path = state.config.models_dir().join(&name);
    if !path.is_file() {
        return Err(AppError::NotFound);
    }
    gguf::inspect(&path)
        .map_err(|e| AppError::BadRequest(format!("{name} cannot be used: {e}")))?;
    state
        .store
        .set_setting(MODEL_SETTING_KEY, name.clone(), by_id.map(|u| u.id))
        .await?;
    let settings = state.chat.assistant();
    state
        .chat
        .engine
        .reconfigure(settings.engine_config(&state.config, path));
    audit::record(
        &state.store,
        by,
        ip,
        Event::ok("model.activated", Target::Model(&name)),
    )
    .await?;
    Ok(())
}

async fn activate_submit(
    State(state): State<AppState>,
    shell: Shell,
    ClientIp(ip): ClientIp,
    AdminUser(by): AdminUser,
    Path(name): Path<String>,
) -> AppResult<Response> {
    match activate(&state, Actor::User(&by.user), Some(&by.user), &name, &ip).await {
        Ok(()) => Ok(redirect_with_flash(
            &state,
            "/admin/models",
            &format!("Switching to {name}. Answers being written finish on the old model first."),
        )),
        Err(AppError::BadRequest(message)) => {
            error_page(&state, shell, StatusCode::BAD_REQUEST, message).await
        }
        Err(other) => Err(other),
    }
}

async fn delete_submit(
    State(state): State<AppState>,
    shell: Shell,
    ClientIp(ip): ClientIp,
    AdminUser(by): AdminUser,
    Path(name): Path<String>,
) -> AppResult<Response> {
    let name = valid_model_name(&name)?;
    let path = state.config.models_dir().join(&name);
    let refusal = if name == DEFAULT_MODEL_FILE {
        Some("The default model stays: it is the fallback when others fail.")
    } else if path == state.chat.engine.config().model_path
        || state.store.setting(MODEL_SETTING_KEY).await?.as_deref() == Some(name.as_str())
    {
        Some("This model is in use. Switch to another model first.")
    } else {
        None
    };
    if let Some(message) = refusal {
        return error_page(&state, shell, StatusCode::CONFLICT, message.into()).await;
    }
    tokio::fs::remove_file(&path)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => AppError::NotFound,
            _ => AppError::Internal(e.into()),
        })?;
    audit::record(
        &state.store,
        Actor::User(&by.user),
        &ip,
        Event::ok("model.removed", Target::Model(&name)),
    )
    .await?;
    Ok(redirect_with_flash(
        &state,
        "/admin/models",
        &format!("Removed {name}."),
    ))
}

#[derive(Deserialize)]
struct TryForm {
    prompt: String,
}

async fn try_submit(
    State(state): State<AppState>,
    shell: Shell,
    _: AdminUser,
    Form(form): Form<TryForm>,
) -> AppResult<Response> {
    let prompt = form.prompt.trim().chars().take(2000).collect::<String>();
    if prompt.is_empty() {
        return render_page(
            &state,
            shell,
            StatusCode::BAD_REQUEST,
            Some("Type a prompt to try.".into()),
            prompt,
            None,
        )
        .await;
    }
    let request = Request {
        messages: vec![Message::new(Role::User, prompt.clone())],
        sampling: Sampling {
            max_tokens: 128,
            ..state.chat.assistant().sampling()
        },
        grammar: None,
    };
    let outcome = match state.chat.engine.generate(request) {
        Ok(generation) => generation.collect().await,
        Err(err) => Err(err),
    };
    let (text, stats) = match outcome {
        Ok(Completion { text, finished }) => {
            let stats = format!(
                "{} · {} tokens · first token after {} ms · {:.0} tokens/s",
                finished.model,
                finished.completion_tokens,
                finished.time_to_first_token.as_millis(),
                finished.tokens_per_second()
            );
            (text, stats)
        }
        Err(err) => {
            let message = AppError::from(err).to_string();
            return render_page(
                &state,
                shell,
                StatusCode::SERVICE_UNAVAILABLE,
                Some(message),
                prompt,
                None,
            )
            .await;
        }
    };
    render_page(
        &state,
        shell,
        StatusCode::OK,
        None,
        prompt,
        Some((crate::web::markdown::render(&text), stats)),
    )
    .await
}

#[derive(Deserialize)]
struct UploadQuery {
    name: String,
    /// Where this chunk starts; must equal the bytes already received.
    #[serde(default)]
    offset: u64,
    /// The whole file's size; the upload completes when it is reached.
    #[serde(default)]
    total: Option<u64>,
}

#[derive(Serialize)]
struct UploadState {
    name: String,
    received: u64,
    complete: bool,
}

/// How much of an upload has arrived, so a broken upload can resume.
async fn upload_status(
    State(state): State<AppState>,
    _: AdminUser,
    Query(query): Query<UploadQuery>,
) -> AppResult<Json<UploadState>> {
    let name = valid_model_name(&query.name)?;
    let models = state.config.models_dir();
    let received = tokio::fs::metadata(partial_path(&models, &name))
        .await
        .map_or(0, |m| m.len());
    let complete = models.join(&name).is_file();
    Ok(Json(UploadState {
        name,
        received,
        complete,
    }))
}

/// Throws away a partial upload.
async fn upload_abort(
    State(state): State<AppState>,
    _: AdminUser,
    Query(query): Query<UploadQuery>,
) -> AppResult<StatusCode> {
    let name = valid_model_name(&query.name)?;
    let _ = tokio::fs::remove_file(partial_path(&state.config.models_dir(), &name)).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Appends the request body to the partial upload at `offset`; when `total`
/// bytes have arrived, checks the file and makes it available.
async fn upload_chunk(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    AdminUser(by): AdminUser,
    Query(query): Query<UploadQuery>,
    body: Body,
) -> AppResult<Response> {
    let name = valid_model_name(&query.name)?;
    let limit = state.config.llm.max_model_bytes;
    let total = query
        .total
        .ok_or_else(|| AppError::bad_request("give the file's total size"))?;
    if total > limit {
        return Err(AppError::BadRequest(format!(
            "That file is {}; the limit is {} (llm.max_model_bytes).",
            hardware::format_bytes(total),
            hardware::format_bytes(limit)
        )));
    }
    let models = state.config.models_dir();
    if models.join(&name).exists() {
        return Err(AppError::Conflict(format!(
            "A model named {name} already exists; remove it first or rename the file."
        )));
    }
    let Some(_upload) = UploadLock::take(&name) else {
        return Err(AppError::Conflict(format!(
            "{name} is already being uploaded; wait for that upload or cancel it."
        )));
    };
    let partial = partial_path(&models, &name);
    let received = tokio::fs::metadata(&partial).await.map_or(0, |m| m.len());
    if query.offset != received {
        return Err(AppError::Conflict(format!(
            "The upload is at byte {received}, not {}; resume from there.",
            query.offset
        )));
    }
    let disk = state.config.disk();
    disk.check_room(total - received)
        .map_err(|_| AppError::disk_full())?;
    let spooled = disk::spool(
        disk::SpoolTarget {
            disk: &disk,
            partial: &partial,
            limit: total,
            append: true,
        },
        body.into_data_stream(),
    )
    .await;
    let written = match spooled {
        Ok(spooled) => spooled.size,
        Err(SpoolError::TooLarge { .. }) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(AppError::bad_request(
                "more data arrived than the file's size; start again",
            ));
        }
        // A part with no bytes changes nothing.
        Err(SpoolError::Empty) => received,
        Err(err) => return Err(spool_error(err, &partial).await),
    };
    if written < total {
        return Ok(Json(UploadState {
            name,
            received: written,
            complete: false,
        })
        .into_response());
    }
    finish_upload(&state, &by.user, &ip, &partial, &name).await?;
    Ok(Json(UploadState {
        name,
        received: written,
        complete: true,
    })
    .into_response())
}

/// The answer for a model upload that could not be written. A full disk
/// also removes what was received, to give the room back.
async fn spool_error(err: SpoolError, partial: &FsPath) -> AppError {
    if matches!(err, SpoolError::DiskFull) {
        let _ = tokio::fs::remove_file(partial).await;
    }
    err.into()
}

/// Checks a fully received file and moves it into place; a file that is not
/// a usable GGUF is deleted with the reason.
async fn finish_upload(
    state: &AppState,
    by: &User,
    ip: &str,
    partial: &FsPath,
    name: &str,
) -> AppResult<GgufInfo> {
    let check = partial.to_path_buf();
    let info = tokio::task::spawn_blocking(move || gguf::inspect(&check))
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    let info = match info {
        Ok(info) => info,
        Err(err) => {
            let _ = tokio::fs::remove_file(partial).await;
            audit::record(
                &state.store,
                Actor::User(by),
                ip,
                Event::failed("model.added", Target::Model(name)).detail(err.to_string()),
            )
            .await?;
            return Err(AppError::BadRequest(format!(
                "{name} was not added: {err}."
            )));
        }
    };
    disk::commit(partial, &state.config.models_dir().join(name))
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    audit::record(
        &state.store,
        Actor::User(by),
        ip,
        Event::ok("model.added", Target::Model(name)).detail(format!(
            "{}, {}",
            info.quantization,
            info.parameters_label()
        )),
    )
    .await?;
    Ok(info)
}

/// The form upload for browsers without JavaScript (multipart, one file).
async fn upload_form(
    State(state): State<AppState>,
    shell: Shell,
    ClientIp(ip): ClientIp,
    AdminUser(by): AdminUser,
    mut multipart: Multipart,
) -> AppResult<Response> {
    let models = state.config.models_dir();
    let limit = state.config.llm.max_model_bytes;
    while let Some(field) = multipart.next_field().await.map_err(AppError::from)? {
        if field.name() != Some("file") {
            continue;
        }
        let name = match valid_model_name(field.file_name().unwrap_or_default()) {
            Ok(name) => name,
            Err(err) => {
                return error_page(&state, shell, StatusCode::BAD_REQUEST, err.to_string()).await;
            }
        };
        if models.join(&name).exists() {
            let message =
                format!("A model named {name} already exists; remove it first or rename the file.");
            return error_page(&state, shell, StatusCode::CONFLICT, message).await;
        }
        let partial = partial_path(&models, &name);
        let disk = state.config.disk();
        let spooled = disk::spool(
            disk::SpoolTarget {
                disk: &disk,
                partial: &partial,
                limit,
                append: false,
            },
            field,
        )
        .await;
        match spooled {
            Ok(_) => {}
            Err(SpoolError::TooLarge { .. }) => {
                let message = format!(
                    "The file is larger than the limit of {}.",
                    hardware::format_bytes(limit)
                );
                return error_page(&state, shell, StatusCode::PAYLOAD_TOO_LARGE, message).await;
            }
            Err(SpoolError::Empty) => {
                let message = "The file is empty.".to_string();
                return error_page(&state, shell, StatusCode::BAD_REQUEST, message).await;
            }
            Err(err) => return Err(spool_error(err, &partial).await),
        }
        return match finish_upload(&state, &by.user, &ip, &partial, &name).await {
            Ok(_) => Ok(redirect_with_flash(
                &state,
                "/admin/models",
                &format!("Added {name}."),
            )),
            Err(AppError::BadRequest(message)) => {
                error_page(&state, shell, StatusCode::BAD_REQUEST, message).await
            }
            Err(other) => Err(other),
        };
    }
    error_page(
        &state,
        shell,
        StatusCode::BAD_REQUEST,
        "Choose a .gguf file to upload.".into(),
    )
    .await
}

/// `hearth model add <file>`: checks and copies a model into `models/`
/// (from a USB stick, say). Returns the name it was stored under.
pub async fn add_from_file(
    state: &AppState,
    source: &FsPath,
) -> anyhow::Result<(String, GgufInfo)> {
    let file_name = source
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let name = valid_model_name(&file_name).map_err(|e| anyhow::anyhow!("{e}"))?;
    let info = gguf::inspect(source).map_err(|e| anyhow::anyhow!("{}: {e}", source.display()))?;
    let models = state.config.models_dir();
    let target = models.join(&name);
    if target.exists() {
        anyhow::bail!("a model named {name} is already in {}", models.display());
    }
    let partial = partial_path(&models, &name);
    tokio::fs::copy(source, &partial)
        .await
        .map_err(|e| anyhow::anyhow!("cannot copy {}: {e}", source.display()))?;
    tokio::fs::rename(&partial, &target).await?;
    audit::record(
        &state.store,
        Actor::Console,
        "",
        Event::ok("model.added", Target::Model(&name)).detail(format!(
            "{}, {}",
            info.quantization,
            info.parameters_label()
        )),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((name, info))
}

#[derive(Deserialize)]
struct DownloadForm {
    /// A catalog entry's id…
    #[serde(default)]
    entry: String,
    /// …or a pasted URL.
    #[serde(default)]
    url: String,
}

/// Starts a download (a catalog entry or a pasted URL) in the background;
/// the page then shows its progress.
async fn download_submit(
    State(state): State<AppState>,
    shell: Shell,
    ClientIp(ip): ClientIp,
    AdminUser(by): AdminUser,
    Form(form): Form<DownloadForm>,
) -> AppResult<Response> {
    let source = match (form.entry.trim(), form.url.trim()) {
        ("", "") => {
            let message = "Choose a model from the catalog or paste the address of a .gguf file.";
            return error_page(&state, shell, StatusCode::BAD_REQUEST, message.into()).await;
        }
        ("", url) => download::Source::Url(url.to_string()),
        (entry, _) => download::Source::Catalog(entry.to_string()),
    };
    match download::start(&state, &by.user, &ip, source) {
        Ok(job) => Ok(redirect_with_flash(
            &state,
            "/admin/models#download",
            &format!(
                "Downloading {}. It continues if you close this page.",
                job.label
            ),
        )),
        Err(AppError::BadRequest(message)) => {
            error_page(&state, shell, StatusCode::BAD_REQUEST, message).await
        }
        Err(AppError::Conflict(message)) => {
            error_page(&state, shell, StatusCode::CONFLICT, message).await
        }
        Err(other) => Err(other),
    }
}

/// The latest download's progress, for models.js.
async fn download_status(
    State(state): State<AppState>,
    _: AdminUser,
) -> AppResult<Json<download::Progress>> {
    Ok(Json(download::progress(&state)))
}

/// Stops the running download and removes what it fetched.
async fn download_cancel(
    State(state): State<AppState>,
    shell: Shell,
    _: AdminUser,
) -> AppResult<Response> {
    if !download::cancel(&state) {
        let message = "No download is running.".to_string();
        return error_page(&state, shell, StatusCode::CONFLICT, message).await;
    }
    Ok(redirect_with_flash(
        &state,
        "/admin/models#download",
        "Cancelling the download; what it fetched is removed.",
    ))
}
