//! Cloud fallback, the owner's choice (off by default): Admin → Cloud and
//! `/api/v1/cloud` (owners only) set the endpoint, model, key, policy and
//! who may use it, each change a version with a readable diff that can be
//! restored; and in a conversation, "Ask the cloud model" shows exactly
//! what would be sent (after redaction) and sends it only when confirmed.
//! With the automatic policy, an answer the local model cannot give (not
//! loaded, queue full) goes to the cloud model by itself (`answer::start`).
//!
//! Nothing from a local-only collection is sent in any mode: its passages
//! are not offered to the cloud model, and earlier answers drawn from them
//! are left out of the conversation it reads ([`cloud_messages`]).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Form, Json};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::audit::{self, Actor, Event, Target};
use crate::auth::{CurrentUser, OwnerUser};
use crate::cloud::{CloudSettings, OutgoingMessage, Policy, Prepared, SETTING_KEY};
use crate::egress::{Outbound, Sender};
use crate::error::{AppError, AppResult, ErrorEnvelope};
use crate::llm::{Message, Role};
use crate::redact::{KnownNames, Placeholders, Redactor};
use crate::store::{
    ConversationId, EgressOutcome, EgressPurpose, MessageRole, Role as UserRole, SettingVersion,
    User,
};
use crate::web::layout::{Shell, redirect_with_flash, render_with_status};
use crate::web::middleware::ClientIp;
use crate::web::time::{Moment, Times};
use crate::web::{Access, Routes};

/// Versions the history shows.
const HISTORY_SHOWN: u32 = 20;

pub fn routes() -> Routes {
    Routes::new()
        .get("/admin/cloud", Access::Owner, page)
        .post("/admin/cloud", Access::Owner, save)
        .post("/admin/cloud/test", Access::Owner, test_connection)
        .post("/admin/cloud/restore/{version}", Access::Owner, restore)
        .get("/api/v1/cloud", Access::Owner, api_get)
        .patch("/api/v1/cloud", Access::Owner, api_put)
        .get("/chat/{id}/cloud", Access::Staff, preview_page)
        .post("/chat/{id}/cloud", Access::Staff, confirm)
}

/// Stores `settings` as a new version (the key, when given, in its file
/// first) and applies them at once; audited.
async fn apply(
    state: &AppState,
    by: &User,
    ip: &str,
    mut settings: CloudSettings,
    key: KeyChange,
    note: &str,
) -> AppResult<i64> {
    let keys = crate::cloud::key_file(&state.config.data_dir);
    match &key {
        KeyChange::Keep => {
            settings.key_fingerprint = keys
                .read()
                .map(|k| crate::cloud::fingerprint(&k))
                .unwrap_or_default();
        }
        KeyChange::Set(new) => {
            keys.write(new).map_err(|e| AppError::Internal(e.into()))?;
            settings.key_fingerprint = crate::cloud::fingerprint(new);
        }
        KeyChange::Remove => {
            keys.remove().map_err(|e| AppError::Internal(e.into()))?;
            settings.key_fingerprint = String::new();
        }
    }
    if let Some(problem) = settings.problem() {
        return Err(AppError::BadRequest(problem));
    }
    let before = state.chat.cloud();
    let json = serde_json::to_string(&settings).map_err(|e| AppError::Internal(e.into()))?;
    let version = state
        .store
        .set_setting(SETTING_KEY, json, Some(by.id))
        .await?;
    let detail = changes(&before, &settings)
        .iter()
        .map(|c| format!("{}: {} → {}", c.what, c.before, c.after))
        .collect::<Vec<_>>()
        .join("; ");
    state.chat.set_cloud(settings);
    audit::record(
        &state.store,
        Actor::User(by),
        ip,
        Event::ok("settings.changed", Target::Setting(SETTING_KEY))
            .detail(format!("version {version}{note}: {detail}")),
    )
    .await?;
    Ok(version)
}

/// Restores an earlier version (Admin → Changes), keeping the key in use.
pub async fn restore_version(
    state: &AppState,
    by: &User,
    ip: &str,
    json: &str,
    version: i64,
) -> AppResult<i64> {
    let settings: CloudSettings = serde_json::from_str(json)
        .map_err(|_| AppError::bad_request("That version cannot be read any more."))?;
    apply(
        state,
        by,
        ip,
        settings,
        KeyChange::Keep,
        &format!(", restored from version {version}"),
    )
    .await
}

/// What happens to the stored API key.
enum KeyChange {
    Keep,
    Set(String),
    Remove,
}

/// One value that changed between two versions, as people read it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub what: &'static str,
    pub before: String,
    pub after: String,
}

fn policy_label(policy: Policy) -> &'static str {
    match policy {
        Policy::Never => "Never",
        Policy::Ask => "When a person asks",
        Policy::Auto => "Also automatically when the local model cannot answer",
    }
}

fn roles_label(roles: &[UserRole]) -> String {
    if roles.is_empty() {
        return "nobody by role".into();
    }
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Everything that differs, the key only as "replaced" or "removed".
pub fn changes(before: &CloudSettings, after: &CloudSettings) -> Vec<Change> {
    let mut out = Vec::new();
    let mut push = |what: &'static str, b: String, a: String| {
        if b != a {
            out.push(Change {
                what,
                before: b,
                after: a,
            });
        }
    };
    push(
        "Policy",
        policy_label(before.policy).into(),
        policy_label(after.policy).into(),
    );
    push("Address", before.base_url.clone(), after.base_url.clone());
    push("Model", before.model.clone(), after.model.clone());
    push(
        "Endpoint on the office network",
        yes_no(before.allow_lan),
        yes_no(after.allow_lan),
    );
    push(
        "Roles",
        roles_label(&before.roles),
        roles_label(&after.roles),
    );
    push("People", before.users.join(", "), after.users.join(", "));
    push(
        "Wait for answers",
        format!("{} s", before.timeout_secs),
        format!("{} s", after.timeout_secs),
    );
    if before.key_fingerprint != after.key_fingerprint {
        let (b, a) = match (
            before.key_fingerprint.is_empty(),
            after.key_fingerprint.is_empty(),
        ) {
            (true, false) => ("none", "set"),
            (false, true) => ("set", "removed"),
            _ => ("set", "replaced"),
        };
        push("API key", b.into(), a.into());
    }
    out
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.into()
}

/// One version in the history.
pub struct VersionView {
    version: i64,
    changed_at: i64,
    changed_by: String,
    changes: Vec<Change>,
    current: bool,
}

#[derive(Template)]
#[template(path = "admin/cloud.html")]
pub struct CloudPage {
    shell: Shell,
    settings: CloudSettings,
    users_text: String,
    key_set: bool,
    history: Vec<VersionView>,
    times: Times,
    error: Option<String>,
    /// What the last "Test the connection" found.
    test: Option<(bool, String)>,
}

impl CloudPage {
    fn time(&self, unix: &i64) -> Moment {
        self.times.at(*unix)
    }

    fn policy_is(&self, key: &str) -> bool {
        policy_key(self.settings.policy) == key
    }

    fn role_checked(&self, role: &str) -> bool {
        self.settings.roles.iter().any(|r| r.as_str() == role)
    }
}

fn policy_key(policy: Policy) -> &'static str {
    match policy {
        Policy::Never => "never",
        Policy::Ask => "ask",
        Policy::Auto => "auto",
    }
}

fn history(versions: &[SettingVersion]) -> Vec<VersionView> {
    let read = |v: &SettingVersion| serde_json::from_str::<CloudSettings>(&v.value).ok();
    versions
        .iter()
        .take(HISTORY_SHOWN as usize)
        .enumerate()
        .map(|(i, v)| {
            let after = read(v).unwrap_or_default();
            let before = versions.get(i + 1).and_then(read).unwrap_or_default();
            VersionView {
                version: v.version,
                changed_at: v.changed_at,
                changed_by: v.changed_by.clone(),
                changes: changes(&before, &after),
                current: i == 0,
            }
        })
        .collect()
}

async fn render_page(
    state: &AppState,
    shell: Shell,
    settings: CloudSettings,
    status: StatusCode,
    error: Option<String>,
    test: Option<(bool, String)>,
) -> AppResult<Response> {
    let page = CloudPage {
        users_text: settings.users.join(", "),
        settings,
        key_set: crate::cloud::key_file(&state.config.data_dir)
            .read()
            .is_some(),
        history: history(
            &state
                .store
                .setting_history(SETTING_KEY, HISTORY_SHOWN + 1)
                .await?,
        ),
        times: Times::load(state).await?,
        error,
        test,
        shell,
    };
    Ok(render_with_status(status, &page))
}

async fn page(State(state): State<AppState>, shell: Shell, _: OwnerUser) -> AppResult<Response> {
    let settings = state.chat.cloud();
    render_page(&state, shell, settings, StatusCode::OK, None, None).await
}

#[derive(Deserialize)]
struct CloudForm {
    policy: String,
    #[serde(default)]
    base_url: String,
    #[serde(default)]
    model: String,
    /// Empty keeps the stored key.
    #[serde(default)]
    api_key: String,
    #[serde(default)]
    remove_key: Option<String>,
    #[serde(default)]
    allow_lan: Option<String>,
    #[serde(default)]
    role_owner: Option<String>,
    #[serde(default)]
    role_admin: Option<String>,
    #[serde(default)]
    role_staff: Option<String>,
    #[serde(default)]
    users: String,
    #[serde(default)]
    timeout_secs: String,
}

impl CloudForm {
    fn settings(&self) -> Result<(CloudSettings, KeyChange), String> {
        let policy = match self.policy.as_str() {
            "never" => Policy::Never,
            "ask" => Policy::Ask,
            "auto" => Policy::Auto,
            _ => return Err("Choose when the cloud model may be used.".into()),
        };
        let timeout_secs = self
            .timeout_secs
            .trim()
            .parse()
            .map_err(|_| "The time to wait must be a whole number of seconds.".to_string())?;
        let mut roles = Vec::new();
        for (on, role) in [
            (&self.role_owner, UserRole::Owner),
            (&self.role_admin, UserRole::Admin),
            (&self.role_staff, UserRole::Staff),
        ] {
            if on.is_some() {
                roles.push(role);
            }
        }
        let users = self
            .users
            .split([',', '\n'])
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_string)
            .collect();
        let key = if self.remove_key.is_some() {
            KeyChange::Remove
        } else if self.api_key.trim().is_empty() {
            KeyChange::Keep
        } else if self
            .api_key
            .trim()
            .chars()
            .any(|c| c.is_control() || c == ' ')
        {
            return Err("The API key must be one word without spaces.".into());
        } else {
            KeyChange::Set(self.api_key.trim().to_string())
        };
        Ok((
            CloudSettings {
                policy,
                base_url: self.base_url.trim().to_string(),
                model: self.model.trim().to_string(),
                allow_lan: self.allow_lan.is_some(),
                roles,
                users,
                key_fingerprint: String::new(),
                timeout_secs,
            },
            key,
        ))
    }
}

async fn save(
    State(state): State<AppState>,
    shell: Shell,
    ClientIp(ip): ClientIp,
    OwnerUser(by): OwnerUser,
    Form(form): Form<CloudForm>,
) -> AppResult<Response> {
    let (settings, key) = match form.settings() {
        Ok(parsed) => parsed,
        Err(message) => {
            let shown = state.chat.cloud();
            return render_page(
                &state,
                shell,
                shown,
                StatusCode::BAD_REQUEST,
                Some(message),
                None,
            )
            .await;
        }
    };
    match apply(&state, &by.user, &ip, settings.clone(), key, "").await {
        Ok(version) => Ok(redirect_with_flash(
            &state,
            "/admin/cloud",
            &format!("Saved as version {version}."),
        )),
        Err(AppError::BadRequest(message)) => {
            render_page(
                &state,
                shell,
                settings,
                StatusCode::BAD_REQUEST,
                Some(message),
                None,
            )
            .await
        }
        Err(other) => Err(other),
    }
}

async fn restore(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    OwnerUser(by): OwnerUser,
    Path(version): Path<i64>,
) -> AppResult<Response> {
    let json = state.store.setting_version(SETTING_KEY, version).await?;
    // The key is not in the history: restoring keeps the key there is now.
    let new = restore_version(&state, &by.user, &ip, &json, version).await?;
    Ok(redirect_with_flash(
        &state,
        "/admin/cloud",
        &format!(
            "Restored version {version} (saved as version {new}). The API key in use was kept."
        ),
    ))
}

/// Sends a one-line question to the configured endpoint (logged as a test
/// in the egress log) and says what came back.
async fn test_connection(
    State(state): State<AppState>,
    shell: Shell,
    OwnerUser(by): OwnerUser,
) -> AppResult<Response> {
    let settings = state.chat.cloud();
    let outcome = ask_test(&state, &by.user, &settings).await;
    let status = if outcome.0 {
        StatusCode::OK
    } else {
        StatusCode::BAD_GATEWAY
    };
    render_page(&state, shell, settings, status, None, Some(outcome)).await
}

async fn ask_test(state: &AppState, by: &User, settings: &CloudSettings) -> (bool, String) {
    let url = match settings.endpoint() {
        Ok(url) => url,
        Err(why) => return (false, why),
    };
    let body = serde_json::json!({
        "model": settings.model,
        "messages": [{"role": "user", "content": "Reply with the word OK."}],
        "max_tokens": 5,
    });
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::CONTENT_TYPE,
        reqwest::header::HeaderValue::from_static("application/json"),
    );
    if let Some(key) = crate::cloud::key_file(&state.config.data_dir).read()
        && let Ok(mut value) = reqwest::header::HeaderValue::from_str(&format!("Bearer {key}"))
    {
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    let sent = state
        .egress
        .send(Outbound {
            purpose: EgressPurpose::CloudTest,
            sender: Sender::person(by),
            method: reqwest::Method::POST,
            url,
            headers,
            body: Some(serde_json::to_vec(&body).unwrap_or_default()),
            model: settings.model.clone(),
            conversation: None,
            redactions: Default::default(),
            reach: settings.reach(),
            follow_redirects: false,
            connect_timeout: std::time::Duration::from_secs(10),
            read_timeout: std::time::Duration::from_secs(settings.timeout_secs),
        })
        .await;
    let sent = match sent {
        Ok(sent) => sent,
        Err(err) => {
            return (
                false,
                format!("The cloud model could not be reached: {err}."),
            );
        }
    };
    let mut ticket = sent.ticket;
    let status = sent.response.status();
    let text = sent.response.text().await.unwrap_or_default();
    ticket.received(text.len() as u64);
    if status.is_success() {
        ticket.finish(EgressOutcome::Ok, "").await;
        (
            true,
            format!(
                "{} answered ({status}). The connection works.",
                settings.model
            ),
        )
    } else {
        ticket
            .finish(EgressOutcome::Failed, &format!("HTTP {status}"))
            .await;
        let quoted: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
        (
            false,
            format!("The cloud model answered {status}: {quoted}"),
        )
    }
}

/// The settings and whether a key is stored (never the key).
#[derive(Serialize, utoipa::ToSchema)]
struct CloudView {
    #[serde(flatten)]
    settings: CloudSettings,
    key_set: bool,
}

/// The cloud settings (owners only). The API key is never returned.
#[utoipa::path(get, path = "/api/v1/cloud", tag = "cloud",
    responses((status = 200, body = CloudView), (status = 403, body = ErrorEnvelope)))]
async fn api_get(State(state): State<AppState>, _: OwnerUser) -> Json<CloudView> {
    Json(CloudView {
        settings: state.chat.cloud(),
        key_set: crate::cloud::key_file(&state.config.data_dir)
            .read()
            .is_some(),
    })
}

/// New cloud settings, as a new version.
#[derive(Deserialize, utoipa::ToSchema)]
struct CloudUpdate {
    #[serde(flatten)]
    settings: CloudSettings,
    /// A new API key; absent keeps the stored one, "" removes it.
    api_key: Option<String>,
}

/// Replaces the cloud settings (owners only); answers the new settings.
#[utoipa::path(patch, path = "/api/v1/cloud", tag = "cloud", request_body = CloudUpdate,
    responses((status = 200, body = CloudView), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)))]
async fn api_put(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    OwnerUser(by): OwnerUser,
    Json(update): Json<CloudUpdate>,
) -> AppResult<Json<CloudView>> {
    let key = match update.api_key {
        None => KeyChange::Keep,
        Some(k) if k.trim().is_empty() => KeyChange::Remove,
        Some(k) => KeyChange::Set(k),
    };
    apply(&state, &by.user, &ip, update.settings, key, "").await?;
    Ok(api_get(State(state), OwnerUser(by)).await)
}

/// The office's own names, which are always replaced: everyone with an
/// account, and the staff and customers of the schedule.
pub async fn known_names(state: &AppState) -> AppResult<KnownNames> {
    let mut names: Vec<String> = state
        .store
        .users()
        .await?
        .into_iter()
        .map(|u| u.display_name)
        .collect();
    names.extend(state.store.office_people_names().await?);
    names.retain(|n| n.split_whitespace().count() >= 1 && n.chars().count() >= 2);
    Ok(KnownNames::new(names))
}

/// What the cloud model reads for the conversation's latest question: the
/// assistant's system prompt and the conversation, without answers that
/// drew on local-only collections.
async fn cloud_messages(
    state: &AppState,
    user: &User,
    conversation: ConversationId,
) -> AppResult<Vec<Message>> {
    let history = state.store.messages(user.id, conversation).await?;
    let withheld = state
        .store
        .local_only_answers(user.id, conversation)
        .await?;
    let question_at = history
        .iter()
        .rposition(|m| m.role == MessageRole::User)
        .ok_or_else(|| AppError::bad_request("This conversation has no question yet."))?;
    let messages: Vec<Message> = history[..=question_at]
        .iter()
        .filter(|m| !withheld.contains(&m.id))
        .filter(|m| !(m.role == MessageRole::Assistant && m.content.is_empty()))
        .map(|m| {
            let role = if m.role == MessageRole::User {
                Role::User
            } else {
                Role::Assistant
            };
            Message::new(role, m.content.clone())
        })
        .collect();
    let settings = state.chat.assistant();
    Ok(settings
        .request(&state.auth.business_name(), messages)
        .messages)
}

/// With the automatic policy, the cloud model answers what the local model
/// cannot (not loaded, queue full), for people allowed to use it: the
/// conversation without answers from local-only collections, `question`
/// grounded in the passages that may leave. The generation and those
/// passages; `None` when the policy or the person's permission says no.
pub async fn fallback(
    state: &AppState,
    user: &User,
    conversation: ConversationId,
    question: &str,
    sources: &[crate::store::MessageSource],
) -> AppResult<Option<(crate::llm::Generation, Vec<crate::store::MessageSource>)>> {
    let settings = state.chat.cloud();
    if settings.policy != Policy::Auto || !settings.permits(user) {
        return Ok(None);
    }
    let local_only = state
        .store
        .local_only_documents(sources.iter().map(|s| s.document_id).collect())
        .await?;
    let kept: Vec<_> = sources
        .iter()
        .filter(|s| !local_only.contains(&s.document_id))
        .cloned()
        .collect();
    let mut messages = cloud_messages(state, user, conversation).await?;
    if let Some(last) = messages.iter_mut().rfind(|m| m.role == Role::User) {
        last.content = if kept.is_empty() {
            question.to_string()
        } else {
            super::grounding::prompt(&kept, question)
        };
    }
    if !kept.is_empty() {
        let instructions = super::grounding::INSTRUCTIONS;
        match messages.first_mut() {
            Some(system) if system.role == Role::System => {
                system.content = format!("{}\n\n{instructions}", system.content);
            }
            _ => messages.insert(0, Message::new(Role::System, instructions)),
        }
    }
    let prepared = prepare(state, &messages).await?;
    tracing::info!(
        conversation = conversation.0,
        "the local model cannot answer; asking the cloud model"
    );
    let generation = send(state, &settings, prepared, user, Some(conversation));
    Ok(Some((generation, kept)))
}

/// The request for `messages`, redacted with the office's names, with the
/// assistant's answer length and temperature.
async fn prepare(state: &AppState, messages: &[Message]) -> AppResult<Prepared> {
    let assistant = state.chat.assistant();
    prepare_with(
        state,
        messages,
        assistant.max_answer_tokens as usize,
        assistant.temperature,
    )
    .await
}

/// The request for `messages`, redacted with the office's names, with
/// these sampling numbers (a `/v1` client's own).
pub async fn prepare_with(
    state: &AppState,
    messages: &[Message],
    max_tokens: usize,
    temperature: f32,
) -> AppResult<Prepared> {
    let redactor = Redactor::new(known_names(state).await?);
    Ok(crate::cloud::prepare(
        &state.chat.cloud(),
        messages,
        max_tokens,
        temperature,
        &redactor,
        Placeholders::default(),
    ))
}

/// Sends `prepared` for `user` with the stored key: the answer, as a
/// generation the chat stores like a local one.
pub fn send(
    state: &AppState,
    settings: &CloudSettings,
    prepared: Prepared,
    user: &User,
    conversation: Option<ConversationId>,
) -> crate::llm::Generation {
    crate::cloud::stream(
        &state.egress,
        settings,
        crate::cloud::key_file(&state.config.data_dir).read(),
        prepared,
        Sender::person(user),
        conversation,
    )
}

#[derive(Template)]
#[template(path = "chat/cloud.html")]
pub struct PreviewPage {
    shell: Shell,
    conversation: ConversationId,
    model: String,
    endpoint: String,
    messages: Vec<OutgoingMessage>,
    redactions: Vec<(String, usize)>,
    digest: String,
    bytes: usize,
    withheld: usize,
}

/// The id of the conversation's last message (0 for none).
async fn last_message(
    state: &AppState,
    user: &User,
    conversation: ConversationId,
) -> AppResult<i64> {
    Ok(state
        .store
        .messages(user.id, conversation)
        .await?
        .last()
        .map_or(0, |m| m.id.0))
}

/// Refuses unless the person may use the cloud model now.
fn check_permitted(state: &AppState, user: &User) -> AppResult<CloudSettings> {
    let settings = state.chat.cloud();
    if settings.policy == Policy::Never {
        return Err(AppError::NotAllowed(
            "The owner has not allowed the cloud model: nothing leaves this box.".into(),
        ));
    }
    if !settings.permits(user) {
        return Err(AppError::NotAllowed(
            "You are not among the people the owner allowed to use the cloud model.".into(),
        ));
    }
    Ok(settings)
}

/// What "Ask the cloud model" would send for the conversation now, and the
/// digest its confirmation must carry: the body and the conversation's last
/// message as the person saw them, so a second press after the answer came
/// does not send again.
struct Ask {
    settings: CloudSettings,
    prepared: Prepared,
    digest: String,
}

async fn ask_now(state: &AppState, user: &User, conversation: ConversationId) -> AppResult<Ask> {
    state.store.conversation(user.id, conversation).await?;
    let settings = check_permitted(state, user)?;
    let messages = cloud_messages(state, user, conversation).await?;
    let seen = last_message(state, user, conversation).await?;
    let prepared = prepare(state, &messages).await?;
    let digest = format!("{}-{seen}", prepared.digest());
    Ok(Ask {
        settings,
        prepared,
        digest,
    })
}

/// Exactly what "Ask the cloud model" would send, before anything is sent.
async fn preview_page(
    State(state): State<AppState>,
    shell: Shell,
    current: CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let user = current.user;
    let conversation = ConversationId(id);
    let Ask {
        settings,
        prepared,
        digest,
    } = ask_now(&state, &user, conversation).await?;
    let withheld = state
        .store
        .local_only_answers(user.id, conversation)
        .await?
        .len();
    let page = PreviewPage {
        shell,
        conversation,
        model: settings.model.clone(),
        endpoint: settings
            .endpoint()
            .map(|u| crate::egress::endpoint(&u))
            .unwrap_or_default(),
        digest,
        bytes: prepared.body.len(),
        redactions: prepared.redactions.clone().into_iter().collect(),
        messages: prepared.messages,
        withheld,
    };
    Ok(render_with_status(StatusCode::OK, &page))
}

#[derive(Deserialize)]
struct ConfirmForm {
    /// The digest of the request the person saw.
    digest: String,
}

/// Sends what the preview showed (refused if the conversation changed
/// since) and answers the latest question again with the cloud model.
async fn confirm(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<i64>,
    Form(form): Form<ConfirmForm>,
) -> AppResult<Response> {
    let user = current.user;
    let conversation = ConversationId(id);
    let Ask {
        settings,
        prepared,
        digest,
    } = ask_now(&state, &user, conversation).await?;
    if digest != form.digest {
        return Err(AppError::Conflict(
            "The conversation changed since you saw what would be sent. Look again before sending."
                .into(),
        ));
    }
    // The latest question is answered again, or for the first time.
    let history = state.store.messages(user.id, conversation).await?;
    let turn = if history
        .last()
        .is_some_and(|m| m.role == MessageRole::Assistant)
    {
        super::answer::Turn::Regenerate
    } else {
        super::answer::Turn::Next
    };
    let claim = state.chat.running.claim(conversation).ok_or_else(|| {
        AppError::Conflict(
            "An answer is being written in this conversation; wait for it or stop it.".into(),
        )
    })?;
    let generation = send(&state, &settings, prepared, &user, Some(conversation));
    super::answer::start_with(
        &state,
        &user,
        conversation,
        claim,
        super::answer::Listener::Stream,
        turn,
        None,
        super::answer::Source::Cloud(generation),
    )
    .await?;
    Ok(axum::response::Redirect::to(&format!("/chat/{id}")).into_response())
}

use axum::response::IntoResponse;

pub fn api_doc() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(
        paths(api_get, api_put),
        components(schemas(CloudView, CloudUpdate, CloudSettings, Policy, ErrorEnvelope))
    )]
    struct ApiDoc;
    <ApiDoc as utoipa::OpenApi>::openapi()
}
