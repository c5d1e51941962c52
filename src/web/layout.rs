//! What every page shares: [`Shell`] (business name, signed-in user,
//! navigation, CSRF token, flash message) as used by `templates/base.html`,
//! and the helpers that render a page or redirect with a message.

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::app::AppState;
use crate::auth::{self, CurrentUser};
use crate::error::AppError;
use crate::store::Role;
use crate::store::User;
use crate::web::assets;

/// Name of the cookie that carries a one-time message to the next page.
pub const FLASH_COOKIE: &str = "hearth_flash";

/// The CSRF token forms of this request must carry.
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

/// A one-time message shown at the top of the next page ("Alice was added").
#[derive(Debug, Clone)]
pub struct Flash(pub String);

impl Flash {
    pub fn decode(value: &str) -> Option<Flash> {
        let bytes = URL_SAFE_NO_PAD.decode(value).ok()?;
        String::from_utf8(bytes).ok().map(Flash)
    }
}

/// A 303 redirect that shows `message` on the page it leads to.
pub fn redirect_with_flash(state: &AppState, to: &str, message: &str) -> Response {
    let message: String = message.chars().take(300).collect();
    let cookie = auth::cookie(state, FLASH_COOKIE, URL_SAFE_NO_PAD.encode(message));
    let mut response = Redirect::to(to).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// The frame around every page.
#[derive(Debug, Clone)]
pub struct Shell {
    pub business_name: String,
    pub user: Option<User>,
    pub csrf_token: String,
    /// The navigation entry to highlight: `chat`, `search`, `schedule`,
    /// `admin`, `profile`, or empty.
    pub section: &'static str,
    pub flash: Option<String>,
    /// For admins and owners: the data directory's disk is nearly full.
    pub disk_warning: Option<String>,
    /// For owners: the last backup failed (not on Admin → Backups, which
    /// says so itself).
    pub backup_warning: Option<String>,
}

/// What admins are told on every page while the disk is under its floor.
pub fn disk_warning(state: &AppState) -> Option<String> {
    let disk = state.config.disk().status();
    disk.low().then(|| {
        format!(
            "The box's disk is nearly full ({} free): uploads are refused until there is room. \
             Delete documents or unused models (Admin → Models) to make room.",
            crate::disk::human_size(disk.free)
        )
    })
}

impl Shell {
    pub fn from_extensions(state: &AppState, extensions: &Extensions, path: &str) -> Shell {
        let section = [
            "chat",
            "documents",
            "collections",
            "search",
            "schedule",
            "admin",
            "profile",
        ]
        .into_iter()
        .find(|s| {
            path.strip_prefix('/')
                .and_then(|p| p.strip_prefix(s))
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
        .map(|s| if s == "collections" { "documents" } else { s })
        .unwrap_or("");
        let user = extensions.get::<CurrentUser>().map(|u| u.user.clone());
        let disk_warning = user
            .as_ref()
            .filter(|u| u.role >= Role::Admin)
            .and_then(|_| disk_warning(state));
        let backup_warning = user
            .as_ref()
            .filter(|u| u.role == Role::Owner && !path.starts_with("/admin/backups"))
            .and_then(|_| crate::backups::failure_notice(state));
        Shell {
            business_name: state.auth.business_name(),
            user,
            disk_warning,
            backup_warning,
            csrf_token: extensions
                .get::<CsrfToken>()
                .map(|t| t.0.clone())
                .unwrap_or_default(),
            section,
            flash: extensions.get::<Flash>().map(|f| f.0.clone()),
        }
    }

    /// The URL of a static asset, with its content hash, for long caching.
    pub fn asset(&self, name: &str) -> String {
        assets::url(name)
    }

    pub fn is_admin(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.role >= Role::Admin)
    }

    pub fn is_owner(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.role == Role::Owner)
    }

    pub fn current(&self, section: &str) -> &'static str {
        if self.section == section {
            "page"
        } else {
            "false"
        }
    }
}

impl FromRequestParts<AppState> for Shell {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Shell::from_extensions(
            state,
            &parts.extensions,
            parts.uri.path(),
        ))
    }
}

/// The page for errors that reach the browser.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub shell: Shell,
    pub status: u16,
    pub title: &'static str,
    pub message: String,
}

/// Renders a page with status 200.
pub fn render(page: &impl Template) -> Result<Response, AppError> {
    let html = page
        .render()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("template failed: {e}")))?;
    Ok(Html(html).into_response())
}

/// Renders a page with another status (a form shown again with its error).
/// A template failure here is logged and becomes a plain 500.
pub fn render_with_status(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// Formats Unix seconds for people, in the server's local zone.
pub fn format_time(unix: i64) -> String {
    match jiff::Timestamp::from_second(unix) {
        Ok(ts) => ts
            .to_zoned(jiff::tz::TimeZone::system())
            .strftime("%Y-%m-%d %H:%M %Z")
            .to_string(),
        Err(_) => "-".to_string(),
    }
}

/// [`format_time`] for optional times, with `Never` for none.
pub fn format_time_or_never(unix: &Option<i64>) -> String {
    unix.map_or_else(|| "Never".to_string(), format_time)
}
