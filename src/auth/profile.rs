//! A person's own account: the profile page and `/api/v1/me/...`. Everyone
//! can change their password, create and revoke personal API keys, and see
//! and end their own sessions.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Form, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{API_KEY_PREFIX, CurrentUser, password, token};
use crate::app::AppState;
use crate::audit::{self, Actor, Event, Target};
use crate::error::{AppError, AppResult, ErrorEnvelope};
use crate::store::{ApiKey, ApiKeyId, SessionId, SessionInfo, User};
use crate::web::layout::{Shell, redirect_with_flash, render_with_status};
use crate::web::middleware::ClientIp;
use crate::web::time::{Moment, Times};
use crate::web::{Access, Routes};

/// Most live API keys one person may hold.
pub const MAX_API_KEYS: usize = 50;

pub fn routes() -> Routes {
    Routes::new()
        .get("/profile", Access::Staff, profile_page)
        .post("/profile/password", Access::Staff, password_submit)
        .post("/profile/api-keys", Access::Staff, api_key_submit)
        .post(
            "/profile/api-keys/{id}/revoke",
            Access::Staff,
            api_key_revoke,
        )
        .post(
            "/profile/sessions/{id}/revoke",
            Access::Staff,
            session_revoke,
        )
        .get("/api/v1/me", Access::Staff, api_me)
        .post("/api/v1/me/password", Access::Staff, api_password)
        .get("/api/v1/me/api-keys", Access::Staff, api_keys_list)
        .post("/api/v1/me/api-keys", Access::Staff, api_keys_create)
        .delete("/api/v1/me/api-keys/{id}", Access::Staff, api_keys_revoke)
        .get("/api/v1/me/sessions", Access::Staff, api_sessions_list)
        .delete(
            "/api/v1/me/sessions/{id}",
            Access::Staff,
            api_sessions_revoke,
        )
}

#[derive(Template)]
#[template(path = "auth/profile.html")]
pub struct ProfilePage {
    shell: Shell,
    user: User,
    api_keys: Vec<ApiKey>,
    sessions: Vec<SessionInfo>,
    current_session: Option<SessionId>,
    /// A key just created: shown this once.
    new_key: Option<String>,
    password_error: Option<String>,
    key_error: Option<String>,
    times: Times,
    /// Two-factor sign-in: on (and recovery codes left), or off.
    two_factor: Option<i64>,
}

impl ProfilePage {
    fn time(&self, unix: &i64) -> Moment {
        self.times.at(*unix)
    }

    fn maybe_time(&self, unix: &Option<i64>) -> Moment {
        self.times.at_or(*unix, "Never")
    }

    /// "Firefox on Windows", for the session's user agent.
    fn device(&self, session: &SessionInfo) -> String {
        super::device::describe(&session.user_agent)
    }

    fn is_current(&self, id: &SessionId) -> bool {
        self.current_session == Some(*id)
    }
}

async fn load_page(state: &AppState, shell: Shell, user: &CurrentUser) -> AppResult<ProfilePage> {
    Ok(ProfilePage {
        shell,
        user: user.user.clone(),
        api_keys: state.store.api_keys_of(user.user.id).await?,
        sessions: state.store.sessions_of(user.user.id).await?,
        current_session: user.session_id(),
        new_key: None,
        password_error: None,
        key_error: None,
        times: Times::load(state).await?,
        two_factor: state
            .store
            .two_factor(user.user.id)
            .await?
            .filter(|t| t.enabled_at.is_some())
            .map(|t| t.recovery_left),
    })
}

async fn profile_page(
    State(state): State<AppState>,
    shell: Shell,
    user: CurrentUser,
) -> AppResult<Response> {
    let page = load_page(&state, shell, &user).await?;
    Ok(render_with_status(StatusCode::OK, &page))
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
    /// Required in the browser form only.
    #[serde(default)]
    #[schema(ignore)]
    pub new_password_confirm: Option<String>,
}

async fn password_submit(
    State(state): State<AppState>,
    shell: Shell,
    ClientIp(ip): ClientIp,
    user: CurrentUser,
    Form(form): Form<PasswordChange>,
) -> AppResult<Response> {
    let result = if form.new_password_confirm.as_deref() != Some(form.new_password.as_str()) {
        Err(AppError::bad_request("The two new passwords differ."))
    } else {
        change_password(&state, &user, &form, &ip).await
    };
    match result {
        Ok(()) => Ok(redirect_with_flash(
            &state,
            "/profile",
            "Your password was changed. Your other sessions were signed out.",
        )),
        Err(AppError::BadRequest(message)) => {
            let mut page = load_page(&state, shell, &user).await?;
            page.password_error = Some(message);
            Ok(render_with_status(StatusCode::BAD_REQUEST, &page))
        }
        Err(other) => Err(other),
    }
}

/// Checks the current password and the policy, stores the new hash, and
/// signs out every other session of the user.
async fn change_password(
    state: &AppState,
    user: &CurrentUser,
    change: &PasswordChange,
    ip: &str,
) -> AppResult<()> {
    let stored = state.store.password_hash(user.user.id).await?;
    if !password::verify(change.current_password.clone(), stored).await? {
        audit::record(
            &state.store,
            Actor::User(&user.user),
            ip,
            Event::failed("user.password_changed", Target::User(&user.user.username))
                .detail("wrong current password"),
        )
        .await?;
        return Err(AppError::bad_request("The current password is not right."));
    }
    if let Some(problem) = password::policy_problem(
        &change.new_password,
        &user.user.username,
        state.config.auth.min_password_length,
    ) {
        return Err(AppError::BadRequest(problem));
    }
    let hash = password::hash(change.new_password.clone()).await?;
    state
        .store
        .set_password(user.user.id, hash, user.session_id())
        .await?;
    audit::record(
        &state.store,
        Actor::User(&user.user),
        ip,
        Event::ok("user.password_changed", Target::User(&user.user.username)),
    )
    .await?;
    Ok(())
}

#[derive(Deserialize, ToSchema)]
pub struct NewApiKey {
    /// What the key is for, e.g. "invoice script".
    pub name: String,
}

/// A key just created. `key` is shown only in this response.
#[derive(Serialize, ToSchema)]
pub struct CreatedApiKey {
    pub key: String,
    pub api_key: ApiKey,
}

/// Creates a personal API key for `user`. Also used by `hearth user api-key`.
pub async fn issue_api_key(
    state: &AppState,
    user: &User,
    name: &str,
    actor: Actor<'_>,
    ip: &str,
) -> AppResult<CreatedApiKey> {
    let name = crate::text::clean_name(name);
    let name = name.as_str();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(AppError::bad_request(
            "Give the key a name of 1 to 64 characters, so you can tell your keys apart.",
        ));
    }
    let live = state
        .store
        .api_keys_of(user.id)
        .await?
        .iter()
        .filter(|k| k.revoked_at.is_none())
        .count();
    if live >= MAX_API_KEYS {
        return Err(AppError::bad_request(format!(
            "You already have {MAX_API_KEYS} keys; revoke one you no longer use first."
        )));
    }
    let key = format!("{API_KEY_PREFIX}{}", token::random_token(32));
    let prefix: String = key.chars().take(API_KEY_PREFIX.len() + 6).collect();
    let api_key = state
        .store
        .create_api_key(user.id, name.to_string(), token::sha256(&key), prefix)
        .await?;
    audit::record(
        &state.store,
        actor,
        ip,
        Event::ok("api_key.created", Target::User(&user.username)).detail(name),
    )
    .await?;
    Ok(CreatedApiKey { key, api_key })
}

async fn api_key_submit(
    State(state): State<AppState>,
    shell: Shell,
    ClientIp(ip): ClientIp,
    user: CurrentUser,
    Form(form): Form<NewApiKey>,
) -> AppResult<Response> {
    let created = issue_api_key(&state, &user.user, &form.name, Actor::User(&user.user), &ip).await;
    let mut page = load_page(&state, shell, &user).await?;
    match created {
        Ok(created) => {
            page.new_key = Some(created.key);
            Ok(render_with_status(StatusCode::OK, &page))
        }
        Err(AppError::BadRequest(message)) => {
            page.key_error = Some(message);
            Ok(render_with_status(StatusCode::BAD_REQUEST, &page))
        }
        Err(other) => Err(other),
    }
}

async fn revoke_key(
    state: &AppState,
    user: &CurrentUser,
    id: ApiKeyId,
    ip: &str,
) -> AppResult<String> {
    let name = state
        .store
        .revoke_api_key(user.user.id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    audit::record(
        &state.store,
        Actor::User(&user.user),
        ip,
        Event::ok("api_key.revoked", Target::User(&user.user.username)).detail(name.clone()),
    )
    .await?;
    Ok(name)
}

async fn api_key_revoke(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    user: CurrentUser,
    Path(id): Path<ApiKeyId>,
) -> AppResult<Response> {
    let name = revoke_key(&state, &user, id, &ip).await?;
    Ok(redirect_with_flash(
        &state,
        "/profile",
        &format!("The key \u{201c}{name}\u{201d} was revoked."),
    ))
}

async fn end_session(
    state: &AppState,
    user: &CurrentUser,
    id: SessionId,
    ip: &str,
) -> AppResult<()> {
    if !state.store.delete_user_session(user.user.id, id).await? {
        return Err(AppError::NotFound);
    }
    audit::record(
        &state.store,
        Actor::User(&user.user),
        ip,
        Event::ok("auth.session_ended", Target::User(&user.user.username)),
    )
    .await?;
    Ok(())
}

async fn session_revoke(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    user: CurrentUser,
    Path(id): Path<SessionId>,
) -> AppResult<Response> {
    end_session(&state, &user, id, &ip).await?;
    let to = if user.session_id() == Some(id) {
        "/login"
    } else {
        "/profile"
    };
    Ok(redirect_with_flash(
        &state,
        to,
        "The session was signed out.",
    ))
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = "me",
    responses((status = 200, body = User), (status = 401, body = ErrorEnvelope)))]
async fn api_me(user: CurrentUser) -> Json<User> {
    Json(user.user)
}

/// Changes the signed-in user's password; their other sessions end.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "me", request_body = PasswordChange,
    responses((status = 204), (status = 400, body = ErrorEnvelope)))]
async fn api_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    user: CurrentUser,
    Json(change): Json<PasswordChange>,
) -> AppResult<StatusCode> {
    change_password(&state, &user, &change, &ip).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user's API keys (never the keys themselves).
#[utoipa::path(get, path = "/api/v1/me/api-keys", tag = "me",
    responses((status = 200, body = Vec<ApiKey>)))]
async fn api_keys_list(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<Json<Vec<ApiKey>>> {
    Ok(Json(state.store.api_keys_of(user.user.id).await?))
}

/// Creates an API key; the key is in this response only.
#[utoipa::path(post, path = "/api/v1/me/api-keys", tag = "me", request_body = NewApiKey,
    responses((status = 201, body = CreatedApiKey), (status = 400, body = ErrorEnvelope)))]
async fn api_keys_create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    user: CurrentUser,
    Json(new): Json<NewApiKey>,
) -> AppResult<(StatusCode, Json<CreatedApiKey>)> {
    let created =
        issue_api_key(&state, &user.user, &new.name, Actor::User(&user.user), &ip).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Revokes one of the signed-in user's API keys.
#[utoipa::path(delete, path = "/api/v1/me/api-keys/{id}", tag = "me",
    params(("id" = i64, Path, description = "API key id")),
    responses((status = 204), (status = 404, body = ErrorEnvelope)))]
async fn api_keys_revoke(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    user: CurrentUser,
    Path(id): Path<ApiKeyId>,
) -> AppResult<StatusCode> {
    revoke_key(&state, &user, id, &ip).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user's browser sessions.
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "me",
    responses((status = 200, body = Vec<SessionInfo>)))]
async fn api_sessions_list(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<Json<Vec<SessionInfo>>> {
    Ok(Json(state.store.sessions_of(user.user.id).await?))
}

/// Signs one of the signed-in user's sessions out.
#[utoipa::path(delete, path = "/api/v1/me/sessions/{id}", tag = "me",
    params(("id" = i64, Path, description = "Session id")),
    responses((status = 204), (status = 404, body = ErrorEnvelope)))]
async fn api_sessions_revoke(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    user: CurrentUser,
    Path(id): Path<SessionId>,
) -> AppResult<StatusCode> {
    end_session(&state, &user, id, &ip).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        api_me,
        api_password,
        api_keys_list,
        api_keys_create,
        api_keys_revoke,
        api_sessions_list,
        api_sessions_revoke
    ),
    components(schemas(
        User,
        ApiKey,
        CreatedApiKey,
        NewApiKey,
        PasswordChange,
        SessionInfo,
        ErrorEnvelope
    ))
)]
pub struct ApiDoc;

pub fn api_doc() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}
