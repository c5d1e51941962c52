//! First-run setup: the first visitor names the business and creates the
//! owner account, but only with the one-time setup code the server printed to
//! its console, so nobody else on the office network can claim the box first.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use serde::Deserialize;
use tokio::sync::Mutex;
use utoipa::ToSchema;

use super::BUSINESS_NAME_SETTING;
use super::{Role, login, password, token};
use crate::app::AppState;
use crate::audit::{self, Actor, Event, Target};
use crate::error::{AppError, AppResult, ErrorEnvelope};
use crate::store::{NewUser, User};
use crate::web::layout::{Shell, render_with_status};
use crate::web::middleware::ClientIp;
use crate::web::{Access, Routes};

/// The code printed at start while the box has no owner.
pub struct SetupCode {
    code: Option<String>,
    /// Serialises setup attempts, so two browsers cannot both become owner.
    lock: Mutex<()>,
}

impl SetupCode {
    pub fn new(needed: bool) -> Self {
        SetupCode {
            code: needed.then(token::human_code),
            lock: Mutex::new(()),
        }
    }

    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }
}

pub fn routes() -> Routes {
    Routes::new()
        .get("/setup", Access::Public, setup_page)
        .post("/setup", Access::Public, setup_submit)
        .route_with_own_limit(
            axum::http::Method::POST,
            "/setup/restore",
            Access::Public,
            restore_submit,
        )
        .post("/api/v1/setup", Access::Public, api_setup)
}

#[derive(Template)]
#[template(path = "auth/setup.html")]
pub struct SetupPage {
    shell: Shell,
    form: SetupForm,
    error: Option<String>,
    /// Why a restore from a backup was refused (the restore form opens).
    restore_error: Option<String>,
    max_upload: String,
}

/// What setup asks for, from the form or the API.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct SetupForm {
    /// The code printed on the server's console.
    pub setup_code: String,
    pub business_name: String,
    /// The owner's full name.
    pub display_name: String,
    pub username: String,
    pub password: String,
    /// Required in the browser form; the API does not ask for it twice.
    #[serde(default)]
    #[schema(ignore)]
    pub password_confirm: Option<String>,
}

async fn setup_page(State(state): State<AppState>, shell: Shell) -> AppResult<Response> {
    if state.auth.is_set_up(&state.store).await? {
        return Ok(Redirect::to("/login").into_response());
    }
    let page = SetupPage {
        shell,
        form: SetupForm::default(),
        error: None,
        restore_error: None,
        max_upload: crate::disk::human_size(state.config.storage.max_restore_upload_bytes),
    };
    Ok(render_with_status(StatusCode::OK, &page))
}

async fn setup_submit(
    State(state): State<AppState>,
    shell: Shell,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Form(form): Form<SetupForm>,
) -> AppResult<Response> {
    if form.password_confirm.as_deref() != Some(form.password.as_str()) {
        return Ok(setup_error(
            &state,
            shell,
            form,
            StatusCode::BAD_REQUEST,
            "The two passwords differ.".into(),
        ));
    }
    match complete_setup(&state, &form, &ip).await {
        Ok(user) => Ok(login::start_session(&state, &user, None, &headers, &ip, "/").await?),
        Err(AppError::BadRequest(message)) => Ok(setup_error(
            &state,
            shell,
            form,
            StatusCode::BAD_REQUEST,
            message,
        )),
        Err(AppError::TooManyRequests { message, .. }) => Ok(setup_error(
            &state,
            shell,
            form,
            StatusCode::TOO_MANY_REQUESTS,
            message,
        )),
        Err(AppError::Conflict(_)) => Ok(Redirect::to("/login").into_response()),
        Err(other) => Err(other),
    }
}

fn setup_error(
    state: &AppState,
    shell: Shell,
    mut form: SetupForm,
    status: StatusCode,
    message: String,
) -> Response {
    form.password.clear();
    form.password_confirm = None;
    form.setup_code.clear();
    render_with_status(
        status,
        &SetupPage {
            shell,
            form,
            error: Some(message),
            restore_error: None,
            max_upload: crate::disk::human_size(state.config.storage.max_restore_upload_bytes),
        },
    )
}

/// "Restore from a backup instead": a fresh box takes an uploaded backup
/// (with the setup code, so nobody else on the network can fill the box
/// first), checks it whole, and restarts into it.
async fn restore_submit(
    State(state): State<AppState>,
    shell: Shell,
    ClientIp(ip): ClientIp,
    multipart: axum::extract::Multipart,
) -> AppResult<Response> {
    let refuse = |status: StatusCode, message: String| {
        tracing::warn!(reason = %message, "a restore on the setup page was refused");
        render_with_status(
            status,
            &SetupPage {
                shell: shell.clone(),
                form: SetupForm::default(),
                error: None,
                restore_error: Some(message),
                max_upload: crate::disk::human_size(state.config.storage.max_restore_upload_bytes),
            },
        )
    };
    let _guard = state.auth.setup.lock.lock().await;
    if state.auth.is_set_up(&state.store).await? {
        return Ok(Redirect::to("/login").into_response());
    }
    let request = match crate::backups::read_restore_form(&state, multipart).await {
        Ok(r) => r,
        Err(message) => return Ok(refuse(StatusCode::BAD_REQUEST, message)),
    };
    let field = |name: &str| request.fields.get(name).cloned().unwrap_or_default();
    let discard = || async {
        if let Some(path) = &request.uploaded {
            let _ = tokio::fs::remove_file(path).await;
        }
    };
    match check_code(&state, &field("setup_code"), "", &ip).await {
        Ok(()) => {}
        Err(AppError::BadRequest(message)) => {
            discard().await;
            return Ok(refuse(StatusCode::BAD_REQUEST, message));
        }
        Err(AppError::TooManyRequests { message, .. }) => {
            discard().await;
            return Ok(refuse(StatusCode::TOO_MANY_REQUESTS, message));
        }
        Err(other) => {
            discard().await;
            return Err(other);
        }
    }
    let Some(archive) = request.uploaded.clone() else {
        return Ok(refuse(
            StatusCode::BAD_REQUEST,
            "Choose the backup file (a .hearthbackup file) to restore.".into(),
        ));
    };
    let outcome =
        crate::backups::stage_and_restart(&state, archive, field("passphrase"), false).await;
    discard().await;
    match outcome {
        Ok(()) => Ok(render_with_status(
            StatusCode::OK,
            &crate::backups::RestartingPage {
                shell,
                next: "/login",
                instance: crate::app::instance_id(),
            },
        )),
        Err(message) => Ok(refuse(StatusCode::BAD_REQUEST, message)),
    }
}

/// Completes setup through the API (for scripted installs). Needs the setup code.
#[utoipa::path(
    post, path = "/api/v1/setup", tag = "setup",
    request_body = SetupForm,
    responses(
        (status = 201, description = "The owner was created", body = User),
        (status = 400, description = "A field is invalid or the code is wrong", body = ErrorEnvelope),
        (status = 409, description = "Setup is already complete", body = ErrorEnvelope),
        (status = 429, description = "Too many wrong codes", body = ErrorEnvelope),
    )
)]
async fn api_setup(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(form): Json<SetupForm>,
) -> AppResult<(StatusCode, Json<User>)> {
    let user = complete_setup(&state, &form, &ip).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// The longest business name, in characters.
pub const MAX_BUSINESS_NAME: usize = 100;

/// The business name people typed, cleaned (`text::clean_name`): the one
/// rule of setup and of Admin → Business.
pub fn clean_business_name(text: &str) -> AppResult<String> {
    let name = crate::text::clean_name(text);
    if name.is_empty() || name.chars().count() > MAX_BUSINESS_NAME {
        return Err(AppError::BadRequest(format!(
            "Give the business a name of 1 to {MAX_BUSINESS_NAME} characters."
        )));
    }
    Ok(name)
}

/// Checks the setup code, counting wrong ones against the address.
async fn check_code(state: &AppState, code: &str, claimed: &str, ip: &str) -> AppResult<()> {
    let throttle_key = format!("setup-ip:{ip}");
    if let Err(wait) = state.auth.throttle.check(&[&throttle_key]) {
        return Err(AppError::TooManyRequests {
            message: format!(
                "Too many wrong setup codes. Try again in {}.",
                crate::text::wait(wait.as_secs())
            ),
            retry_after_secs: wait.as_secs().max(1),
        });
    }
    let expected = state
        .auth
        .setup
        .code()
        .map(token::normalise_code)
        .unwrap_or_default();
    let given = token::normalise_code(code);
    if expected.is_empty() || !token::same_secret(&given, &expected) {
        state.auth.throttle.fail(&[&throttle_key]);
        audit::record(
            &state.store,
            Actor::Anonymous(claimed),
            ip,
            Event::failed("setup.completed", Target::Nothing).detail("wrong setup code"),
        )
        .await?;
        return Err(AppError::bad_request(
            "That setup code is not right. It is printed in the server's console or log when Hearth starts.",
        ));
    }
    state.auth.throttle.succeed(&[&throttle_key]);
    Ok(())
}

/// Checks the code and the fields, creates the owner, names the business.
async fn complete_setup(state: &AppState, form: &SetupForm, ip: &str) -> AppResult<User> {
    let _guard = state.auth.setup.lock.lock().await;
    if state.auth.is_set_up(&state.store).await? {
        return Err(AppError::Conflict(
            "Hearth is already set up; sign in instead.".into(),
        ));
    }
    check_code(state, &form.setup_code, &form.username, ip).await?;
    let business_name = clean_business_name(&form.business_name)?;
    let business_name = business_name.as_str();
    let username = super::login::validate_username(&form.username)?;
    let display_name = super::login::validate_display_name(&form.display_name)?;
    if let Some(problem) = password::policy_problem(
        &form.password,
        &username,
        state.config.auth.min_password_length,
    ) {
        return Err(AppError::BadRequest(problem));
    }
    let hash = password::hash(form.password.clone()).await?;
    let user = state
        .store
        .create_user(NewUser {
            username,
            display_name,
            role: Role::Owner,
            password_hash: hash,
        })
        .await?;
    state
        .store
        .set_setting(
            BUSINESS_NAME_SETTING,
            business_name.to_string(),
            Some(user.id),
        )
        .await?;
    state.auth.set_business_name(business_name.to_string());
    audit::record(
        &state.store,
        Actor::User(&user),
        ip,
        Event::ok("setup.completed", Target::Business(business_name)),
    )
    .await?;
    state.auth.is_set_up(&state.store).await?;
    tracing::info!(owner = user.username, "setup complete");
    Ok(user)
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(api_setup), components(schemas(SetupForm, User, Role)))]
pub struct ApiDoc;

pub fn api_doc() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}
