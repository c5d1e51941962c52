//! Admin → Users, and `/api/v1/users`. The rules, the same for the page, the
//! API and the console: owners manage everyone; admins manage admins and
//! staff but cannot touch owners or make anyone an owner; nobody changes
//! their own role or disables themselves; the last owner stays an owner.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Form, Json};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::audit::{self, Actor, Event, Target};
use crate::auth::password;
use crate::auth::{AdminUser, CurrentUser};
use crate::error::{AppError, AppResult, ErrorEnvelope};
use crate::store::Role;
use crate::store::{NewUser, User, UserChange, UserId};
use crate::web::layout::{Shell, redirect_with_flash, render_with_status};
use crate::web::middleware::ClientIp;
use crate::web::time::{Moment, Times};
use crate::web::{Access, Routes};

pub fn routes() -> Routes {
    Routes::new()
        .get("/admin/users", Access::Admin, users_page)
        .post("/admin/users", Access::Admin, create_submit)
        .get("/admin/users/{id}", Access::Admin, user_page)
        .post("/admin/users/{id}", Access::Admin, update_submit)
        .post("/admin/users/{id}/password", Access::Admin, password_submit)
        .post("/admin/users/{id}/disable", Access::Admin, disable_submit)
        .post("/admin/users/{id}/enable", Access::Admin, enable_submit)
        .post(
            "/admin/users/{id}/two-factor/reset",
            Access::Admin,
            two_factor_reset_submit,
        )
        .get("/api/v1/users", Access::Admin, api_list)
        .post("/api/v1/users", Access::Admin, api_create)
        .get("/api/v1/users/{id}", Access::Admin, api_get)
        .patch("/api/v1/users/{id}", Access::Admin, api_update)
        .post("/api/v1/users/{id}/password", Access::Admin, api_password)
}

/// Who is making a change: a signed-in admin or owner, or the console (which
/// has owner powers: whoever has a shell on the box owns it anyway).
#[derive(Clone, Copy)]
pub enum Manager<'a> {
    User(&'a User),
    Console,
}

impl<'a> Manager<'a> {
    fn role(self) -> Role {
        match self {
            Manager::User(user) => user.role,
            Manager::Console => Role::Owner,
        }
    }

    fn actor(self) -> Actor<'a> {
        match self {
            Manager::User(user) => Actor::User(user),
            Manager::Console => Actor::Console,
        }
    }

    fn is(self, id: UserId) -> bool {
        matches!(self, Manager::User(user) if user.id == id)
    }

    /// Whether this manager may act on an account that has `role`.
    fn may_manage(self, role: Role) -> bool {
        self.role() == Role::Owner || role != Role::Owner
    }
}

/// A new account, from the form, the API or the console.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct NewUserInput {
    pub username: String,
    pub display_name: String,
    pub role: Option<Role>,
    pub password: String,
}

/// Changes to an account; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct UserUpdate {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct PasswordReset {
    pub password: String,
}

pub async fn create_user(
    state: &AppState,
    by: Manager<'_>,
    input: &NewUserInput,
    ip: &str,
) -> AppResult<User> {
    let role = input.role.unwrap_or(Role::Staff);
    if !by.may_manage(role) {
        return Err(AppError::Forbidden);
    }
    let username = crate::auth::validate_username(&input.username)?;
    let display_name = crate::auth::validate_display_name(&input.display_name)?;
    if let Some(problem) = password::policy_problem(
        &input.password,
        &username,
        state.config.auth.min_password_length,
    ) {
        return Err(AppError::BadRequest(problem));
    }
    let hash = password::hash(input.password.clone()).await?;
    let user = state
        .store
        .create_user(NewUser {
            username,
            display_name,
            role,
            password_hash: hash,
        })
        .await?;
    audit::record(
        &state.store,
        by.actor(),
        ip,
        Event::ok("user.created", Target::User(&user.username)).detail(format!("role {role}")),
    )
    .await?;
    Ok(user)
}

pub async fn update_user(
    state: &AppState,
    by: Manager<'_>,
    id: UserId,
    update: &UserUpdate,
    ip: &str,
) -> AppResult<User> {
    let before = state.store.user(id).await?;
    if !by.may_manage(before.role) || update.role.is_some_and(|r| !by.may_manage(r)) {
        return Err(AppError::Forbidden);
    }
    if by.is(id) && (update.role.is_some_and(|r| r != before.role) || update.disabled == Some(true))
    {
        return Err(AppError::Conflict(
            "You cannot change your own role or disable your own account; ask another owner or admin.".into(),
        ));
    }
    let display_name = update
        .display_name
        .as_deref()
        .map(crate::auth::validate_display_name)
        .transpose()?;
    let after = state
        .store
        .update_user(
            id,
            UserChange {
                display_name,
                role: update.role,
                disabled: update.disabled,
            },
        )
        .await?;
    let mut changes = Vec::new();
    if before.display_name != after.display_name {
        changes.push(format!(
            "name {:?} -> {:?}",
            before.display_name, after.display_name
        ));
    }
    if before.role != after.role {
        changes.push(format!("role {} -> {}", before.role, after.role));
    }
    let action = match (before.disabled, after.disabled) {
        (false, true) => Some("user.disabled"),
        (true, false) => Some("user.enabled"),
        _ => None,
    };
    if !changes.is_empty() {
        audit::record(
            &state.store,
            by.actor(),
            ip,
            Event::ok("user.updated", Target::User(&after.username)).detail(changes.join("; ")),
        )
        .await?;
    }
    if let Some(action) = action {
        audit::record(
            &state.store,
            by.actor(),
            ip,
            Event::ok(action, Target::User(&after.username)),
        )
        .await?;
    }
    Ok(after)
}

/// Sets a new password for someone else; all their sessions end.
pub async fn reset_password(
    state: &AppState,
    by: Manager<'_>,
    id: UserId,
    password: &str,
    ip: &str,
) -> AppResult<User> {
    let target = state.store.user(id).await?;
    if !by.may_manage(target.role) {
        return Err(AppError::Forbidden);
    }
    if let Some(problem) = password::policy_problem(
        password,
        &target.username,
        state.config.auth.min_password_length,
    ) {
        return Err(AppError::BadRequest(problem));
    }
    let hash = password::hash(password.to_string()).await?;
    state.store.set_password(id, hash, None).await?;
    audit::record(
        &state.store,
        by.actor(),
        ip,
        Event::ok("user.password_reset", Target::User(&target.username)),
    )
    .await?;
    Ok(target)
}

#[derive(Template)]
#[template(path = "admin/users.html")]
pub struct UsersPage {
    shell: Shell,
    users: Vec<User>,
    form: NewUserInput,
    assignable: Vec<Role>,
    error: Option<String>,
    times: Times,
    /// Whether owners and admins must use two-factor sign-in.
    two_factor_required: bool,
}

impl UsersPage {
    fn last_login(&self, user: &User) -> Moment {
        self.times.at_or(user.last_login_at, "Never")
    }

    fn selected(&self, role: &Role) -> bool {
        self.form.role.unwrap_or(Role::Staff) == *role
    }
}

fn assignable_roles(by: &CurrentUser) -> Vec<Role> {
    Role::ALL
        .into_iter()
        .filter(|r| Manager::User(&by.user).may_manage(*r))
        .collect()
}

async fn users_page(
    State(state): State<AppState>,
    shell: Shell,
    AdminUser(by): AdminUser,
) -> AppResult<Response> {
    let page = UsersPage {
        shell,
        users: state.store.users().await?,
        form: NewUserInput::default(),
        assignable: assignable_roles(&by),
        error: None,
        times: Times::load(&state).await?,
        two_factor_required: state.auth.two_factor_required(),
    };
    Ok(render_with_status(StatusCode::OK, &page))
}

async fn create_submit(
    State(state): State<AppState>,
    shell: Shell,
    ClientIp(ip): ClientIp,
    AdminUser(by): AdminUser,
    Form(mut form): Form<NewUserInput>,
) -> AppResult<Response> {
    match create_user(&state, Manager::User(&by.user), &form, &ip).await {
        Ok(user) => Ok(redirect_with_flash(
            &state,
            "/admin/users",
            &format!(
                "{} ({}) was added as {}.",
                user.display_name,
                user.username,
                user.role.label()
            ),
        )),
        Err(err @ (AppError::BadRequest(_) | AppError::Conflict(_))) => {
            form.password.clear();
            let page = UsersPage {
                shell,
                users: state.store.users().await?,
                form,
                assignable: assignable_roles(&by),
                error: Some(err.to_string()),
                times: Times::load(&state).await?,
                two_factor_required: state.auth.two_factor_required(),
            };
            Ok(render_with_status(StatusCode::BAD_REQUEST, &page))
        }
        Err(other) => Err(other),
    }
}

#[derive(Template)]
#[template(path = "admin/user.html")]
pub struct UserPage {
    shell: Shell,
    target: User,
    /// Whether the viewer may change this account at all.
    can_manage: bool,
    /// Whether the viewer is looking at their own account.
    is_self: bool,
    assignable: Vec<Role>,
    error: Option<String>,
    times: Times,
    /// Whether the person has two-factor sign-in on.
    two_factor: bool,
}

impl UserPage {
    fn created(&self) -> Moment {
        self.times.at(self.target.created_at)
    }

    fn last_login(&self) -> Moment {
        self.times.at_or(self.target.last_login_at, "Never")
    }
}

async fn render_user_page(
    state: &AppState,
    shell: Shell,
    by: &CurrentUser,
    id: UserId,
    status: StatusCode,
    error: Option<String>,
) -> AppResult<Response> {
    let target = state.store.user(id).await?;
    let page = UserPage {
        shell,
        can_manage: Manager::User(&by.user).may_manage(target.role),
        is_self: target.id == by.user.id,
        target,
        assignable: assignable_roles(by),
        error,
        times: Times::load(state).await?,
        two_factor: state.store.two_factor_enabled(id).await?,
    };
    Ok(render_with_status(status, &page))
}

async fn user_page(
    State(state): State<AppState>,
    shell: Shell,
    AdminUser(by): AdminUser,
    Path(id): Path<UserId>,
) -> AppResult<Response> {
    render_user_page(&state, shell, &by, id, StatusCode::OK, None).await
}

/// Runs a change from the user page: a flash and back to the page on
/// success, the page with the error otherwise.
async fn on_user_page<F>(
    state: &AppState,
    shell: Shell,
    by: &CurrentUser,
    id: UserId,
    done: &str,
    change: F,
) -> AppResult<Response>
where
    F: std::future::Future<Output = AppResult<User>>,
{
    match change.await {
        Ok(user) => Ok(redirect_with_flash(
            state,
            &format!("/admin/users/{}", id.0),
            &done.replace("{name}", &user.display_name),
        )),
        Err(err @ (AppError::BadRequest(_) | AppError::Conflict(_))) => {
            render_user_page(
                state,
                shell,
                by,
                id,
                StatusCode::BAD_REQUEST,
                Some(err.to_string()),
            )
            .await
        }
        Err(other) => Err(other),
    }
}

#[derive(Deserialize)]
struct UpdateForm {
    display_name: String,
    role: Option<Role>,
}

async fn update_submit(
    State(state): State<AppState>,
    shell: Shell,
    ClientIp(ip): ClientIp,
    AdminUser(by): AdminUser,
    Path(id): Path<UserId>,
    Form(form): Form<UpdateForm>,
) -> AppResult<Response> {
    let update = UserUpdate {
        display_name: Some(form.display_name),
        role: form.role,
        disabled: None,
    };
    on_user_page(
        &state,
        shell,
        &by,
        id,
        "Saved the changes to {name}.",
        update_user(&state, Manager::User(&by.user), id, &update, &ip),
    )
    .await
}

#[derive(Deserialize)]
struct ResetForm {
    password: String,
    password_confirm: String,
}

async fn password_submit(
    State(state): State<AppState>,
    shell: Shell,
    ClientIp(ip): ClientIp,
    AdminUser(by): AdminUser,
    Path(id): Path<UserId>,
    Form(form): Form<ResetForm>,
) -> AppResult<Response> {
    let change = async {
        if form.password != form.password_confirm {
            return Err(AppError::bad_request("The two passwords differ."));
        }
        reset_password(&state, Manager::User(&by.user), id, &form.password, &ip).await
    };
    on_user_page(
        &state,
        shell,
        &by,
        id,
        "Set a new password for {name}; they were signed out everywhere.",
        change,
    )
    .await
}

/// Turns off someone's two-factor sign-in (their phone and recovery codes
/// lost): they sign in with their password and can turn it on again.
async fn two_factor_reset_submit(
    State(state): State<AppState>,
    shell: Shell,
    ClientIp(ip): ClientIp,
    AdminUser(by): AdminUser,
    Path(id): Path<UserId>,
) -> AppResult<Response> {
    let change = async {
        let target = state.store.user(id).await?;
        if !Manager::User(&by.user).may_manage(target.role) || target.id == by.user.id {
            return Err(AppError::Forbidden);
        }
        if state.store.disable_two_factor(id).await? {
            audit::record(
                &state.store,
                Actor::User(&by.user),
                &ip,
                Event::ok("auth.two_factor_disabled", Target::User(&target.username))
                    .detail("reset: phone and recovery codes lost"),
            )
            .await?;
        }
        Ok(target)
    };
    on_user_page(
        &state,
        shell,
        &by,
        id,
        "Turned off two-factor sign-in for {name}: their password alone signs them in until they turn it on again.",
        change,
    )
    .await
}

async fn set_disabled(
    state: AppState,
    shell: Shell,
    ip: String,
    by: CurrentUser,
    id: UserId,
    disabled: bool,
) -> AppResult<Response> {
    let update = UserUpdate {
        disabled: Some(disabled),
        ..UserUpdate::default()
    };
    let done = if disabled {
        "{name} is disabled and was signed out everywhere."
    } else {
        "{name} can sign in again."
    };
    on_user_page(
        &state,
        shell,
        &by,
        id,
        done,
        update_user(&state, Manager::User(&by.user), id, &update, &ip),
    )
    .await
}

async fn disable_submit(
    State(state): State<AppState>,
    shell: Shell,
    ClientIp(ip): ClientIp,
    AdminUser(by): AdminUser,
    Path(id): Path<UserId>,
) -> AppResult<Response> {
    set_disabled(state, shell, ip, by, id, true).await
}

async fn enable_submit(
    State(state): State<AppState>,
    shell: Shell,
    ClientIp(ip): ClientIp,
    AdminUser(by): AdminUser,
    Path(id): Path<UserId>,
) -> AppResult<Response> {
    set_disabled(state, shell, ip, by, id, false).await
}

/// All users.
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = Vec<User>), (status = 403, body = ErrorEnvelope)))]
async fn api_list(State(state): State<AppState>, _: AdminUser) -> AppResult<Json<Vec<User>>> {
    Ok(Json(state.store.users().await?))
}

/// Adds a user (role defaults to staff).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUserInput,
    responses((status = 201, body = User), (status = 400, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn api_create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    AdminUser(by): AdminUser,
    Json(input): Json<NewUserInput>,
) -> AppResult<(StatusCode, Json<User>)> {
    let user = create_user(&state, Manager::User(&by.user), &input, &ip).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// One user.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = i64, Path, description = "User id")),
    responses((status = 200, body = User), (status = 404, body = ErrorEnvelope)))]
async fn api_get(
    State(state): State<AppState>,
    _: AdminUser,
    Path(id): Path<UserId>,
) -> AppResult<Json<User>> {
    Ok(Json(state.store.user(id).await?))
}

/// Changes a user's name, role or disabled state. Disabling ends their
/// sessions and stops their API keys at once.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", request_body = UserUpdate,
    params(("id" = i64, Path, description = "User id")),
    responses((status = 200, body = User), (status = 403, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn api_update(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    AdminUser(by): AdminUser,
    Path(id): Path<UserId>,
    Json(update): Json<UserUpdate>,
) -> AppResult<Json<User>> {
    Ok(Json(
        update_user(&state, Manager::User(&by.user), id, &update, &ip).await?,
    ))
}

/// Sets a new password for a user; their sessions end.
#[utoipa::path(post, path = "/api/v1/users/{id}/password", tag = "users", request_body = PasswordReset,
    params(("id" = i64, Path, description = "User id")),
    responses((status = 204), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)))]
async fn api_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    AdminUser(by): AdminUser,
    Path(id): Path<UserId>,
    Json(reset): Json<PasswordReset>,
) -> AppResult<StatusCode> {
    reset_password(&state, Manager::User(&by.user), id, &reset.password, &ip).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(api_list, api_create, api_get, api_update, api_password),
    components(schemas(User, NewUserInput, UserUpdate, PasswordReset, Role, ErrorEnvelope))
)]
pub struct ApiDoc;

pub fn api_doc() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}
