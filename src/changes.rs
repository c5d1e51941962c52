//! Admin → Changes and `/api/v1/changes`: one history of everything the
//! owner and admins set — the assistant, the model in use, cloud fallback,
//! the business's name, the schedule's time zone, step and opening hours,
//! who may create collections, and each collection's name and access —
//! newest first, each change with its author, time and a readable diff, and
//! any version restorable (the restore is itself a version, so it can be
//! undone the same way). Every setting keeps its versions in one table
//! (`settings_history`); restoring hands the old value to the capability
//! that owns the setting, so it applies as a save would (the engine
//! reloads for a model, the collection's access changes) and is audited.
//!
//! Wiring, not a capability: it knows every capability's settings.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::{Form, Json};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::audit::Actor;
use crate::auth::AdminUser;
use crate::error::{AppError, AppResult, ErrorEnvelope};
use crate::store::{CollectionId, Role, SettingChange, User};
use crate::web::layout::{Shell, redirect_with_flash, render};
use crate::web::middleware::ClientIp;
use crate::web::time::{Moment, Times};
use crate::web::{Access, Paging, Routes};

/// Changes per page.
const PER_PAGE: u64 = 50;

/// Longest value shown in a diff, in characters.
const SHOWN_CHARS: usize = 240;

pub fn routes() -> Routes {
    Routes::new()
        .get("/admin/changes", Access::Admin, page)
        .post(
            "/admin/changes/{key}/{version}/restore",
            Access::Admin,
            restore_submit,
        )
        .get("/api/v1/changes", Access::Admin, api_list)
        .post(
            "/api/v1/changes/{key}/{version}/restore",
            Access::Admin,
            api_restore,
        )
}

/// The settings this history covers, and who may restore them. A per-person
/// preference (the home page's checklist) is not the office's setting.
fn kind(key: &str) -> Option<(&'static str, Role)> {
    use crate::calendar::office::{HOURS_SETTING, STEP_SETTING, TIME_ZONE_SETTING};
    Some(match key {
        k if k == crate::chat::assistant::SETTING_KEY => ("The assistant's settings", Role::Admin),
        k if k == crate::chat::assistant::MODEL_SETTING_KEY => ("The model in use", Role::Admin),
        k if k == crate::cloud::SETTING_KEY => ("Cloud fallback", Role::Owner),
        k if k == crate::auth::BUSINESS_NAME_SETTING => ("The business's name", Role::Owner),
        k if k == crate::backup::plan::SETTING_KEY => ("The backup plan", Role::Owner),
        k if k == crate::auth::two_factor::REQUIRED_SETTING => {
            ("Two-factor sign-in for owners and admins", Role::Owner)
        }
        k if k == TIME_ZONE_SETTING => ("The time zone", Role::Admin),
        k if k == STEP_SETTING => ("The booking step", Role::Admin),
        k if k == HOURS_SETTING => ("Opening hours", Role::Admin),
        k if k == crate::docs::STAFF_COLLECTIONS_SETTING => {
            ("Whether staff may create collections", Role::Owner)
        }
        k if k.starts_with("collection:") => ("Collection", Role::Admin),
        _ => return None,
    })
}

/// One change as people read it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChangeView {
    pub key: String,
    /// What people call the setting ("Opening hours", "Collection HR").
    pub what: String,
    pub version: i64,
    pub changed_at: i64,
    pub changed_by: String,
    /// Each value that changed: (field, before, after); a first version
    /// lists its values with an empty "before".
    pub diff: Vec<(String, String, String)>,
    /// Whether the reader may restore it (and it is not the current one).
    pub restorable: bool,
    /// The element id on the page: `change-<key>-<version>`, with `.` and
    /// `:` made `-`.
    pub anchor: String,
}

/// The fields of a stored value: a JSON object flattened to dotted names,
/// anything else as one value.
fn fields(value: &str) -> Vec<(String, String)> {
    fn walk(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let name = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&name, v, out);
                }
            }
            serde_json::Value::String(s) => out.push((prefix.to_string(), s.clone())),
            other => out.push((prefix.to_string(), other.to_string())),
        }
    }
    match serde_json::from_str::<serde_json::Value>(value) {
        Ok(json @ serde_json::Value::Object(_)) => {
            let mut out = Vec::new();
            walk("", &json, &mut out);
            out
        }
        _ => vec![("value".to_string(), value.to_string())],
    }
}

/// What people call a stored field; unknown ones keep their stored name.
fn field_label(field: &str) -> String {
    match field {
        "value" => "Value",
        "system_prompt" => "System prompt",
        "temperature" => "Temperature",
        "top_p" => "Top-p",
        "max_answer_tokens" => "Longest answer (tokens)",
        "context_per_chat" => "Context per chat (tokens)",
        "parallel" => "Chats answered at once",
        "policy" => "Policy",
        "base_url" => "Address",
        "model" => "Model",
        "allow_lan" => "Endpoint on the office network",
        "roles" => "Roles",
        "users" => "People",
        "people" => "People by name",
        "key_fingerprint" => "API key (fingerprint)",
        "timeout_secs" => "Wait for answers (seconds)",
        "name" => "Name",
        "description" => "Description",
        "local_only" => "Local only",
        other => return other.replace('_', " "),
    }
    .to_string()
}

fn shown(text: &str) -> String {
    crate::text::truncate_words(text, SHOWN_CHARS)
}

/// What differs between two stored values, field by field.
pub fn diff(before: Option<&str>, after: &str) -> Vec<(String, String, String)> {
    let old = before.map(fields).unwrap_or_default();
    let new = fields(after);
    let mut out = Vec::new();
    for (name, value) in &new {
        let was = old.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        if was != Some(value.as_str()) {
            out.push((field_label(name), shown(was.unwrap_or("")), shown(value)));
        }
    }
    for (name, value) in &old {
        if !new.iter().any(|(n, _)| n == name) {
            out.push((field_label(name), shown(value), String::new()));
        }
    }
    out
}

async fn views(
    state: &AppState,
    reader: &User,
    changes: Vec<SettingChange>,
) -> AppResult<Vec<ChangeView>> {
    let mut out = Vec::new();
    for change in changes {
        let Some((label, role)) = kind(&change.key) else {
            continue;
        };
        let what = match change.key.strip_prefix("collection:") {
            Some(id) => {
                let name = match id.parse::<i64>() {
                    Ok(id) => state
                        .store
                        .collection(CollectionId(id))
                        .await
                        .map(|c| c.name)
                        .unwrap_or_else(|_| "(deleted)".into()),
                    Err(_) => "(unknown)".into(),
                };
                format!("{label} {name}")
            }
            None => label.to_string(),
        };
        out.push(ChangeView {
            diff: diff(change.before.as_deref(), &change.value),
            restorable: reader.role >= role && !change.current,
            anchor: format!(
                "change-{}-{}",
                change.key.replace([':', '.'], "-"),
                change.version
            ),
            what,
            key: change.key,
            version: change.version,
            changed_at: change.changed_at,
            changed_by: change.changed_by,
        });
    }
    Ok(out)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// 1-based page number.
    pub page: Option<u64>,
}

#[derive(Template)]
#[template(path = "admin/changes.html")]
pub struct ChangesPage {
    shell: Shell,
    changes: Vec<ChangeView>,
    page: u64,
    pages: u64,
    times: Times,
}

impl ChangesPage {
    fn time(&self, unix: &i64) -> Moment {
        self.times.at(*unix)
    }
}

async fn list(
    state: &AppState,
    reader: &User,
    page: Option<u64>,
) -> AppResult<(Vec<ChangeView>, u64, u64)> {
    let paging = Paging::new(page, PER_PAGE);
    let (changes, total) = state
        .store
        .all_setting_versions(paging.offset() as u32, paging.per_page() as u32)
        .await?;
    Ok((
        views(state, reader, changes).await?,
        paging.page(),
        paging.pages(total),
    ))
}

async fn page(
    State(state): State<AppState>,
    shell: Shell,
    times: Times,
    AdminUser(reader): AdminUser,
    Query(query): Query<ChangesQuery>,
) -> AppResult<Response> {
    let (changes, page, pages) = list(&state, &reader.user, query.page).await?;
    render(&ChangesPage {
        shell,
        changes,
        page,
        pages,
        times,
    })
}

/// Puts `key` back as version `version` had it, through the capability
/// that owns it; returns what to tell the person.
async fn restore(
    state: &AppState,
    by: &User,
    ip: &str,
    key: &str,
    version: i64,
) -> AppResult<String> {
    use crate::calendar::office::{HOURS_SETTING, STEP_SETTING, TIME_ZONE_SETTING};
    let Some((label, role)) = kind(key) else {
        return Err(AppError::NotFound);
    };
    if by.role < role {
        return Err(AppError::NotAllowed(format!(
            "Only an owner may restore {}.",
            label.to_lowercase()
        )));
    }
    let value = state
        .store
        .versioned_value(key.to_string(), version)
        .await?;
    let note = format!(", restored from version {version}");
    let unreadable = || AppError::bad_request("That version cannot be read any more.");
    match key {
        k if k == crate::chat::assistant::SETTING_KEY => {
            let settings = serde_json::from_str(&value).map_err(|_| unreadable())?;
            crate::chat::settings::apply(state, by, ip, settings, &note).await?;
        }
        k if k == crate::cloud::SETTING_KEY => {
            crate::chat::cloud::restore_version(state, by, ip, &value, version).await?;
        }
        k if k == crate::chat::assistant::MODEL_SETTING_KEY => {
            crate::chat::models::activate(state, Actor::User(by), Some(by), &value, ip).await?;
        }
        k if k == crate::auth::BUSINESS_NAME_SETTING => {
            let zone = crate::calendar::office::Settings::load(&state.store)
                .await?
                .zone_name;
            crate::admin::business::save(
                state,
                by,
                ip,
                &crate::admin::business::BusinessForm {
                    business_name: value,
                    time_zone: zone,
                },
            )
            .await?;
        }
        k if k == TIME_ZONE_SETTING || k == STEP_SETTING || k == HOURS_SETTING => {
            let current = crate::calendar::office::Settings::load(&state.store).await?;
            let mut input = crate::schedule::setup::SettingsInput::of(&current);
            if k == TIME_ZONE_SETTING {
                input.time_zone = value;
            } else if k == STEP_SETTING {
                input.step_minutes = value.trim().parse().map_err(|_| unreadable())?;
            } else {
                input.opening_hours = crate::calendar::hours::WeekHours::from_json(&value)
                    .map_err(|_| unreadable())?
                    .texts();
            }
            crate::schedule::setup::save_settings(state, by, ip, &input).await?;
        }
        k if k == crate::docs::STAFF_COLLECTIONS_SETTING => {
            crate::docs::collections::set_staff_create(state, by, ip, value.trim() == "true")
                .await?;
        }
        k if k == crate::auth::two_factor::REQUIRED_SETTING => {
            crate::auth::two_factor::set_required(state, by, ip, value == "admins", &note).await?;
        }
        k if k == crate::backup::plan::SETTING_KEY => {
            let plan: crate::backup::plan::Plan =
                serde_json::from_str(&value).map_err(|_| unreadable())?;
            if let Some(problem) = plan.problem(&state.config) {
                return Err(AppError::BadRequest(problem));
            }
            crate::backups::save_plan(state, by, ip, &plan, &note).await?;
        }
        k => {
            let id = k
                .strip_prefix("collection:")
                .and_then(|id| id.parse().ok())
                .ok_or(AppError::NotFound)?;
            crate::docs::collections::restore_version(
                state,
                by,
                ip,
                CollectionId(id),
                &value,
                version,
            )
            .await?;
        }
    }
    Ok(format!(
        "Restored version {version} of {}.",
        label.to_lowercase()
    ))
}

async fn restore_submit(
    State(state): State<AppState>,
    AdminUser(by): AdminUser,
    ClientIp(ip): ClientIp,
    Path((key, version)): Path<(String, i64)>,
    Form(_): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let message = restore(&state, &by.user, &ip, &key, version).await?;
    Ok(redirect_with_flash(&state, "/admin/changes", &message))
}

/// A page of changes to the office's settings, newest first, each with
/// what changed.
#[utoipa::path(get, path = "/api/v1/changes", tag = "settings", params(ChangesQuery),
    responses((status = 200, body = Vec<ChangeView>), (status = 403, body = ErrorEnvelope)))]
async fn api_list(
    State(state): State<AppState>,
    AdminUser(reader): AdminUser,
    Query(query): Query<ChangesQuery>,
) -> AppResult<Json<Vec<ChangeView>>> {
    Ok(Json(list(&state, &reader.user, query.page).await?.0))
}

#[derive(Serialize, utoipa::ToSchema)]
struct Restored {
    message: String,
}

/// Restores a version of a setting (owners only for the cloud, the
/// business's name and who may create collections); the restore is itself
/// a new version.
#[utoipa::path(post, path = "/api/v1/changes/{key}/{version}/restore", tag = "settings",
    params(("key" = String, Path, description = "The setting"), ("version" = i64, Path, description = "Its version")),
    responses((status = 200, body = Restored), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn api_restore(
    State(state): State<AppState>,
    AdminUser(by): AdminUser,
    ClientIp(ip): ClientIp,
    Path((key, version)): Path<(String, i64)>,
) -> AppResult<Json<Restored>> {
    Ok(Json(Restored {
        message: restore(&state, &by.user, &ip, &key, version).await?,
    }))
}

pub fn api_doc() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(
        paths(api_list, api_restore),
        components(schemas(ChangeView, Restored, ErrorEnvelope))
    )]
    struct ApiDoc;
    <ApiDoc as utoipa::OpenApi>::openapi()
}
