//! Who is asking: roles, the one authentication path, and the pages and API
//! endpoints for setup, login, logout and a person's own profile (password,
//! API keys, sessions).
//!
//! A request is authenticated by exactly one of: its `Authorization: Bearer`
//! API key, or its session cookie ([`authenticate`]). No other header, query
//! parameter or cookie can sign anyone in.

pub mod device;
mod login;
pub mod password;
mod profile;
mod setup;
mod state;
pub mod throttle;
pub mod token;
pub mod two_factor;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::store::{ApiKeyId, Role, SessionId, User};
use crate::web::Routes;

pub use login::{validate_display_name, validate_username};
pub use profile::issue_api_key;
pub use setup::{MAX_BUSINESS_NAME, SetupCode, clean_business_name};
pub use state::{AuthState, BUSINESS_NAME_SETTING};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "hearth_session";
/// Name of the cookie that carries the CSRF token of a visitor who is not
/// signed in (the login and setup forms need one too).
pub const PRE_SESSION_COOKIE: &str = "hearth_csrf";
/// Prefix of every API key, so leaked keys are recognisable (and scannable).
pub const API_KEY_PREFIX: &str = "hth_";

/// How the current request was authenticated.
#[derive(Debug, Clone)]
pub enum AuthMethod {
    Session { id: SessionId, csrf_token: String },
    ApiKey { id: ApiKeyId },
}

/// The signed-in user of this request. As a handler parameter it refuses
/// anonymous requests (401, or a redirect to the login page).
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: User,
    pub method: AuthMethod,
}

impl CurrentUser {
    pub fn session_id(&self) -> Option<SessionId> {
        match &self.method {
            AuthMethod::Session { id, .. } => Some(*id),
            AuthMethod::ApiKey { .. } => None,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.user.role >= Role::Admin
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CurrentUser>()
            .cloned()
            .ok_or(AppError::Unauthenticated)
    }
}

impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for CurrentUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<CurrentUser>().cloned())
    }
}

/// A signed-in admin or owner. The route table already enforces roles; this
/// states the precondition in the handler's signature as well.
#[derive(Debug, Clone)]
pub struct AdminUser(pub CurrentUser);

impl<S: Send + Sync> FromRequestParts<S> for AdminUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        if user.is_admin() {
            Ok(AdminUser(user))
        } else {
            Err(AppError::Forbidden)
        }
    }
}

/// A signed-in owner (business settings). Like [`AdminUser`], the route
/// table enforces it first.
#[derive(Debug, Clone)]
pub struct OwnerUser(pub CurrentUser);

impl<S: Send + Sync> FromRequestParts<S> for OwnerUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        if user.user.role == Role::Owner {
            Ok(OwnerUser(user))
        } else {
            Err(AppError::Forbidden)
        }
    }
}

/// The result of looking at a request's credentials.
pub enum Authentication {
    Anonymous,
    /// The request carried a session cookie that is no longer valid; the
    /// browser should drop it.
    StaleSession,
    User(CurrentUser),
}

/// The one authentication path: the Bearer key if an `Authorization` header
/// is present (and then nothing else), otherwise the session cookie.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> AppResult<Authentication> {
    if let Some(value) = headers.get(axum::http::header::AUTHORIZATION) {
        let key = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|k| k.starts_with(API_KEY_PREFIX) && k.len() < 200)
            .ok_or(AppError::Unauthenticated)?;
        let Some((id, user, last_used)) = state.store.api_key_user(token::sha256(key)).await?
        else {
            return Err(AppError::Unauthenticated);
        };
        // Last use is shown with minute precision; skip the write otherwise.
        // Best effort: a full disk must not lock people out.
        if last_used.is_none_or(|t| state.store.now() - t >= 60)
            && let Err(err) = state.store.touch_api_key(id).await
        {
            tracing::warn!(error = %err, "cannot record an API key's last use");
        }
        return Ok(Authentication::User(CurrentUser {
            user,
            method: AuthMethod::ApiKey { id },
        }));
    }

    let jar = CookieJar::from_headers(headers);
    let Some(cookie) = jar.get(SESSION_COOKIE) else {
        return Ok(Authentication::Anonymous);
    };
    let token_value = cookie.value();
    if token_value.len() > 100 {
        return Ok(Authentication::StaleSession);
    }
    let Some(session) = state
        .store
        .session_by_token(token::sha256(token_value))
        .await?
    else {
        return Ok(Authentication::StaleSession);
    };
    let auth = &state.config.auth;
    let at = state.store.now();
    let idle_limit = (auth.session_idle_minutes * 60) as i64;
    let absolute_limit = (auth.session_max_hours * 3600) as i64;
    if at - session.last_seen_at > idle_limit || at - session.created_at > absolute_limit {
        state.store.delete_session(session.id).await?;
        return Ok(Authentication::StaleSession);
    }
    if at - session.last_seen_at >= 60
        && let Err(err) = state.store.touch_session(session.id).await
    {
        tracing::warn!(error = %err, "cannot record a session's last activity");
    }
    Ok(Authentication::User(CurrentUser {
        user: session.user,
        method: AuthMethod::Session {
            id: session.id,
            csrf_token: session.csrf_token,
        },
    }))
}

/// A cookie with Hearth's attributes: HttpOnly, SameSite=Lax, path `/`, and
/// Secure when configured.
pub fn cookie(state: &AppState, name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.auth.cookie_secure)
        .path("/")
        .build()
}

/// A cookie that tells the browser to forget `name`.
pub fn removal_cookie(state: &AppState, name: &'static str) -> Cookie<'static> {
    let mut c = cookie(state, name, String::new());
    c.make_removal();
    c
}

/// Only same-site relative paths are followed after login, so a crafted link
/// cannot bounce a user to another site.
pub fn safe_next(next: &str) -> &str {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control() || c == '\\');
    if ok { next } else { "/" }
}

pub fn routes() -> Routes {
    Routes::new()
        .merge(setup::routes())
        .merge(login::routes())
        .merge(profile::routes())
        .merge(two_factor::routes())
}

pub use profile::api_doc as profile_api_doc;
pub use setup::api_doc as setup_api_doc;
