//! Signing in and out. Failed logins are throttled per address and per
//! account and written to the audit log; a login for an unknown user costs
//! as much time as a real one, so timing does not reveal who has an account.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{CurrentUser, SESSION_COOKIE, password, safe_next, token};
use crate::app::AppState;
use crate::audit::{self, Actor, Event, Outcome, Target};
use crate::error::{AppError, AppResult};
use crate::store::{NewSession, SessionId, User};
use crate::web::layout::{Shell, redirect_with_flash, render_with_status};
use crate::web::middleware::ClientIp;
use crate::web::{Access, Routes};

pub fn routes() -> Routes {
    Routes::new()
        .get("/login", Access::Public, login_page)
        .post("/login", Access::Public, login_submit)
        .post("/logout", Access::Staff, logout)
}

#[derive(Template)]
#[template(path = "auth/login.html")]
pub struct LoginPage {
    shell: Shell,
    username: String,
    next: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

async fn login_page(
    shell: Shell,
    current: Option<CurrentUser>,
    Query(query): Query<NextQuery>,
) -> Response {
    let next = safe_next(&query.next).to_string();
    if current.is_some() {
        return Redirect::to(&next).into_response();
    }
    render_with_status(
        StatusCode::OK,
        &LoginPage {
            shell,
            username: String::new(),
            next,
            error: None,
        },
    )
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    next: String,
}

async fn login_submit(
    State(state): State<AppState>,
    shell: Shell,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    current: Option<CurrentUser>,
    Form(form): Form<LoginForm>,
) -> AppResult<Response> {
    let username: String = form
        .username
        .trim()
        .to_lowercase()
        .chars()
        .take(64)
        .collect();
    let next = safe_next(&form.next).to_string();
    let again = |status: StatusCode, message: String| {
        render_with_status(
            status,
            &LoginPage {
                shell: shell.clone(),
                username: username.clone(),
                next: next.clone(),
                error: Some(message),
            },
        )
    };
    let ip_key = format!("login-ip:{ip}");
    let user_key = format!("login-user:{username}");
    let keys = [ip_key.as_str(), user_key.as_str()];

    if let Err(wait) = state.auth.throttle.check(&keys) {
        let secs = wait.as_secs().max(1);
        audit::record(
            &state.store,
            Actor::Anonymous(&username),
            &ip,
            Event {
                outcome: Outcome::Denied,
                ..Event::failed("auth.login", Target::User(&username))
            }
            .detail("throttled after repeated failures"),
        )
        .await?;
        let mut response = again(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many failed sign-in attempts. Wait {}, then try again.",
                crate::text::wait(secs)
            ),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return Ok(response);
    }

    let found = state.store.user_by_username(&username).await?;
    let verified = match &found {
        Some(found) => password::verify(form.password.clone(), found.password_hash.clone()).await?,
        None => {
            // Spend the same time as a real check; the answer is no regardless.
            let _ = password::verify(form.password.clone(), password::DUMMY_HASH.clone()).await;
            false
        }
    };
    let Some(found) = found.filter(|_| verified) else {
        let wait = state.auth.throttle.fail(&keys);
        audit::record(
            &state.store,
            Actor::Anonymous(&username),
            &ip,
            Event::failed("auth.login", Target::User(&username))
                .detail("wrong username or password"),
        )
        .await?;
        tracing::info!(username, ip, delay_secs = wait.as_secs(), "failed login");
        return Ok(again(
            StatusCode::UNAUTHORIZED,
            "Wrong username or password.".to_string(),
        ));
    };
    let user = found.user;
    if user.disabled {
        audit::record(
            &state.store,
            Actor::User(&user),
            &ip,
            Event::failed("auth.login", Target::User(&user.username)).detail("account disabled"),
        )
        .await?;
        return Ok(again(
            StatusCode::FORBIDDEN,
            "This account is disabled. Ask an administrator to enable it.".to_string(),
        ));
    }
    state.auth.throttle.succeed(&keys);
    if let Some(ask) = super::two_factor::ask_code_if_enabled(&state, &shell, &user, &next).await? {
        return Ok(ask);
    }
    let previous = current.and_then(|c| c.session_id());
    start_session(&state, &user, previous, &headers, &ip, &next).await
}

/// Signs `user` in with a fresh session (ending `previous`, so a session id
/// never survives a login), and redirects to `next`.
pub(super) async fn start_session(
    state: &AppState,
    user: &User,
    previous: Option<SessionId>,
    headers: &HeaderMap,
    ip: &str,
    next: &str,
) -> AppResult<Response> {
    start_session_noting(state, user, previous, headers, ip, next, "").await
}

/// [`start_session`], with `how` ("with a two-factor code") in the audit
/// entry.
pub(super) async fn start_session_noting(
    state: &AppState,
    user: &User,
    previous: Option<SessionId>,
    headers: &HeaderMap,
    ip: &str,
    next: &str,
    how: &str,
) -> AppResult<Response> {
    if let Some(previous) = previous {
        state.store.delete_session(previous).await?;
    }
    let session_token = token::random_token(32);
    let user_agent: String = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect();
    state
        .store
        .create_session(NewSession {
            token_hash: token::sha256(&session_token),
            user_id: user.id,
            csrf_token: token::random_token(32),
            ip: ip.to_string(),
            user_agent,
        })
        .await?;
    audit::record(
        &state.store,
        Actor::User(user),
        ip,
        Event::ok("auth.login", Target::User(&user.username)).detail(how),
    )
    .await?;
    let mut response = Redirect::to(next).into_response();
    let cookie = super::cookie(state, SESSION_COOKIE, session_token);
    response.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie.to_string()).map_err(|e| AppError::Internal(e.into()))?,
    );
    Ok(response)
}

async fn logout(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    user: CurrentUser,
) -> AppResult<Response> {
    let Some(session) = user.session_id() else {
        return Err(AppError::bad_request(
            "Requests made with an API key have no session to end; revoke the key on your profile page instead.",
        ));
    };
    state.store.delete_session(session).await?;
    audit::record(
        &state.store,
        Actor::User(&user.user),
        &ip,
        Event::ok("auth.logout", Target::User(&user.user.username)),
    )
    .await?;
    let mut response = redirect_with_flash(&state, "/login", "You are signed out.");
    let removal = super::removal_cookie(&state, SESSION_COOKIE);
    if let Ok(value) = HeaderValue::from_str(&removal.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// Usernames: 1 to 32 characters of lower-case letters, digits, `.`, `_`, `-`,
/// starting with a letter or digit. Returned lower-cased.
pub fn validate_username(username: &str) -> AppResult<String> {
    let username = username.trim().to_lowercase();
    let valid = !username.is_empty()
        && username.len() <= 32
        && username.starts_with(|c: char| c.is_ascii_alphanumeric())
        && username
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if valid {
        Ok(username)
    } else {
        Err(AppError::bad_request(
            "A username has 1 to 32 characters: letters, digits, '.', '_' or '-', starting with a letter or digit.",
        ))
    }
}

/// Full names: 1 to 100 characters, without control or bidirectional
/// characters (see [`crate::text::clean_name`]).
pub fn validate_display_name(name: &str) -> AppResult<String> {
    let name = crate::text::clean_name(name);
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::bad_request("Give a name of 1 to 100 characters."));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["alice", "Bob", "a.b-c_d", "x1"] {
            assert!(validate_username(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-alice", "al ice", "élodie", &"a".repeat(33), "a/b"] {
            assert!(validate_username(bad).is_err(), "{bad}");
        }
    }
}
