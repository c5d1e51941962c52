//! The request pipeline around every route, outermost first:
//! [`check_host`] (DNS-rebinding defence), [`render_errors`] (friendly pages
//! and JSON errors), [`authenticate`] (who is asking, CSRF token, flash
//! message), [`require_setup`] (everything waits for `/setup` on a new box)
//! and [`check_csrf`] (state-changing requests must come from our own pages).

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;

use crate::app::AppState;
use crate::auth::{self, AuthMethod, Authentication, CurrentUser, token};
use crate::error::{AppError, ErrorBody, ErrorEnvelope};
use crate::web::layout::{CsrfToken, ErrorPage, FLASH_COOKIE, Flash, Shell, render_with_status};

/// The names and addresses this server answers to.
pub struct HostAllowlist {
    names: HashSet<String>,
    /// The name announced by multicast DNS (`hearth`): `hearth.local`, and
    /// the `hearth-2.local` a name clash may have made of it.
    mdns_name: String,
}

impl HostAllowlist {
    /// `<mdns_name>.local` (and `-2`, `-3`... after a clash), `localhost`,
    /// the machine's host name (also with `.local`), every address of its
    /// interfaces (also those DHCP gives it later), loopback, and the
    /// configured extras.
    pub fn for_this_machine(extra: &[String], listen: SocketAddr, mdns_name: &str) -> Self {
        let mut names: HashSet<String> = ["localhost", "127.0.0.1", "::1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if let Ok(hostname) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
            let hostname = hostname.trim().to_lowercase();
            if !hostname.is_empty() {
                names.insert(format!("{hostname}.local"));
                names.insert(hostname);
            }
        }
        if let Ok(interfaces) = if_addrs::get_if_addrs() {
            names.extend(interfaces.iter().map(|i| i.ip().to_string()));
        }
        if !listen.ip().is_unspecified() {
            names.insert(listen.ip().to_string());
        }
        names.extend(
            extra
                .iter()
                .map(|h| h.trim_matches(['[', ']']).to_lowercase()),
        );
        HostAllowlist {
            names,
            mdns_name: mdns_name.to_lowercase(),
        }
    }

    /// Whether a `Host` header value (with or without port) names us.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim().to_lowercase();
        let name = if let Some(rest) = host.strip_prefix('[') {
            // [v6]:port
            rest.split(']').next().unwrap_or_default().to_string()
        } else if host.parse::<IpAddr>().is_ok() {
            host.clone()
        } else {
            host.rsplit_once(':')
                .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
                .map_or(host.as_str(), |(name, _)| name)
                .to_string()
        };
        let name = name.trim_end_matches('.');
        self.names.contains(name) || self.is_mdns_name(name) || is_own_address(name)
    }

    fn is_mdns_name(&self, name: &str) -> bool {
        let Some(rest) = name
            .strip_suffix(".local")
            .and_then(|n| n.strip_prefix(self.mdns_name.as_str()))
        else {
            return false;
        };
        rest.is_empty()
            || rest.strip_prefix('-').is_some_and(|n| {
                !n.is_empty() && n.len() <= 3 && n.chars().all(|c| c.is_ascii_digit())
            })
    }
}

/// Whether `name` is an address one of the box's interfaces has now: the
/// address DHCP gave the box after Hearth started is ours too.
fn is_own_address(name: &str) -> bool {
    let Ok(ip) = name.parse::<IpAddr>() else {
        return false;
    };
    if_addrs::get_if_addrs().is_ok_and(|interfaces| interfaces.iter().any(|i| i.ip() == ip))
}

/// Refuses requests whose `Host` is not one of ours. A web page on another
/// site could otherwise point its own domain at this box's address and read
/// our responses (DNS rebinding).
pub async fn check_host(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    match host {
        Some(host) if state.hosts.allows(host) => next.run(req).await,
        other => {
            tracing::warn!(host = ?other, "refused a request for an unknown host name");
            (
                StatusCode::MISDIRECTED_REQUEST,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "This Hearth does not answer to that host name. Open it by its own name \
                 (http://hearth.local) or address, or add the name to server.allowed_hosts.\n",
            )
                .into_response()
        }
    }
}

/// Gives every request body `server.request_timeout_secs` between pieces.
/// A client that stalls gets 408 "the request stalled", whatever the handler
/// made of the broken body (a form or JSON extractor says 400, a multipart
/// reader 413 or 500): the body records that it timed out, and this turns
/// the error response into the right one.
pub async fn time_bodies(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let timeout = std::time::Duration::from_secs(state.config.server.request_timeout_secs);
    let stalled = Arc::new(AtomicBool::new(false));
    let (parts, body) = req.into_parts();
    let body = Body::new(StallWatch {
        inner: Box::pin(tower_http::timeout::TimeoutBody::new(timeout, body)),
        stalled: stalled.clone(),
    });
    let response = next.run(Request::from_parts(parts, body)).await;
    if stalled.load(Ordering::Acquire)
        && (response.status().is_client_error() || response.status().is_server_error())
    {
        tracing::info!("a request body stalled");
        return AppError::Timeout.into_response();
    }
    response
}

/// A body that remembers whether it ended by timing out.
struct StallWatch {
    inner: std::pin::Pin<Box<tower_http::timeout::TimeoutBody<Body>>>,
    stalled: Arc<AtomicBool>,
}

impl http_body::Body for StallWatch {
    type Data = bytes::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = self.inner.as_mut().poll_frame(cx);
        if let std::task::Poll::Ready(Some(Err(err))) = &polled
            && err
                .downcast_ref::<tower_http::timeout::TimeoutError>()
                .is_some()
        {
            self.stalled.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Marks an error response whose body its handler wrote for its readers
/// (the plain-text `/readyz` answer): [`render_errors`] leaves it alone.
#[derive(Debug, Clone, Copy)]
pub struct AsWritten;

fn is_api_path(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/v1/")
}

/// Turns error responses into what the client can use: for `/api` and `/v1`
/// (or a client that asks for JSON) a JSON error with a stable code; for pages a friendly HTML page, or for
/// "please sign in" a redirect to the login page. Responses a handler
/// rendered itself (an HTML form with its error, a JSON body) pass untouched.
pub async fn render_errors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or_else(|| path.clone(), |p| p.to_string());
    let method = req.method().clone();
    // A client that sends a Bearer key is a program, not a browser: it gets
    // a JSON error, never a redirect to the sign-in page (where the same
    // key would be refused again, for ever).
    let wants_json = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"))
        || req.headers().contains_key(header::AUTHORIZATION);
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    if response.extensions().get::<AsWritten>().is_some() {
        return response;
    }
    let described = response.extensions().get::<ErrorBody>().cloned();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let api = is_api_path(&path) || wants_json;
    if described.is_none()
        && (content_type.starts_with("text/html") || content_type.starts_with("application/json"))
    {
        return response;
    }
    if status.is_server_error() && described.is_none() {
        tracing::error!(%status, path, "request failed");
    }
    let body = described.unwrap_or_else(|| ErrorBody::for_status(status));
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);

    if api {
        if status == StatusCode::UNAUTHORIZED {
            parts
                .headers
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        let json = axum::Json(ErrorEnvelope { error: body }).into_response();
        let (json_parts, json_body) = json.into_parts();
        parts.headers.insert(
            header::CONTENT_TYPE,
            json_parts.headers[header::CONTENT_TYPE].clone(),
        );
        return Response::from_parts(parts, json_body);
    }

    if status == StatusCode::UNAUTHORIZED {
        // After login, only a GET can be repeated; a form post starts over.
        let next = if method == Method::GET {
            path_and_query.as_str()
        } else {
            "/"
        };
        let target = format!("/login?next={}", percent_encode(next));
        let mut redirect = Redirect::to(&target).into_response();
        for cookie in parts.headers.get_all(header::SET_COOKIE) {
            redirect
                .headers_mut()
                .append(header::SET_COOKIE, cookie.clone());
        }
        return redirect;
    }

    let shell = Shell::from_extensions(&state, &parts.extensions, &path);
    let page = ErrorPage {
        shell,
        status: status.as_u16(),
        title: error_title(status),
        message: body.message,
    };
    let rendered = render_with_status(status, &page);
    let (page_parts, page_body) = rendered.into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        page_parts
            .headers
            .get(header::CONTENT_TYPE)
            .cloned()
            .unwrap_or(HeaderValue::from_static("text/html; charset=utf-8")),
    );
    Response::from_parts(parts, page_body)
}

fn error_title(status: StatusCode) -> &'static str {
    match status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Page not found",
        StatusCode::TOO_MANY_REQUESTS => "Please wait",
        StatusCode::PAYLOAD_TOO_LARGE => "Too large",
        StatusCode::REQUEST_TIMEOUT => "The request stalled",
        StatusCode::INSUFFICIENT_STORAGE => "The disk is full",
        StatusCode::SERVICE_UNAVAILABLE => "Not available right now",
        s if s.is_server_error() => "Something went wrong",
        _ => "That did not work",
    }
}

/// Percent-encodes everything but unreserved characters and `/`.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Resolves the request's user (see [`auth::authenticate`]) and CSRF token
/// into request extensions, picks up a flash message, and sets or clears the
/// cookies that go with them.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    // `/metrics` checks its own token (a monitoring token is not a
    // person's key), so its Bearer header is not a sign-in attempt.
    let authentication = if req.uri().path() == "/metrics" {
        Authentication::Anonymous
    } else {
        match auth::authenticate(&state, req.headers()).await {
            Ok(a) => a,
            Err(err) => return err.into_response(),
        }
    };
    let jar = CookieJar::from_headers(req.headers());
    let mut set_cookies = Vec::new();
    let csrf = match &authentication {
        Authentication::User(CurrentUser {
            method: AuthMethod::Session { csrf_token, .. },
            ..
        }) => csrf_token.clone(),
        _ => match jar.get(auth::PRE_SESSION_COOKIE).map(|c| c.value()) {
            Some(value) if value.len() == 43 => value.to_string(),
            _ => {
                let fresh = token::random_token(32);
                set_cookies.push(auth::cookie(
                    &state,
                    auth::PRE_SESSION_COOKIE,
                    fresh.clone(),
                ));
                fresh
            }
        },
    };
    if matches!(authentication, Authentication::StaleSession) {
        set_cookies.push(auth::removal_cookie(&state, auth::SESSION_COOKIE));
    }
    let flash = jar.get(FLASH_COOKIE).and_then(|c| Flash::decode(c.value()));
    if let Authentication::User(user) = authentication {
        // An owner or admin who must use two-factor sign-in and has not
        // turned it on yet goes to do that first (API keys are not
        // sign-ins and keep working).
        if user.session_id().is_some()
            && auth::two_factor::required_for(&state, &user.user)
            && !auth::two_factor::allowed_before_enrolment(req.uri().path())
            && !state
                .store
                .two_factor_enabled(user.user.id)
                .await
                .unwrap_or(false)
        {
            return if req.uri().path().starts_with("/api/") {
                AppError::TwoFactorRequired.into_response()
            } else {
                axum::response::Redirect::to("/profile/two-factor").into_response()
            };
        }
        req.extensions_mut().insert(user);
    }
    req.extensions_mut().insert(CsrfToken(csrf));
    let had_flash = flash.is_some();
    if let Some(flash) = flash {
        req.extensions_mut().insert(flash);
    }

    let frame_user = req.extensions().get::<CurrentUser>().cloned();
    let frame_csrf = req.extensions().get::<CsrfToken>().cloned();
    let mut response = next.run(req).await;
    // The error renderer sits outside this layer; these let its pages keep
    // the signed-in frame (navigation, Sign out).
    if let Some(user) = frame_user {
        response.extensions_mut().insert(user);
    }
    if let Some(csrf) = frame_csrf {
        response.extensions_mut().insert(csrf);
    }
    let sets_flash = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| v.as_bytes().starts_with(FLASH_COOKIE.as_bytes()));
    if had_flash && !sets_flash && response.status() == StatusCode::OK {
        set_cookies.push(auth::removal_cookie(&state, FLASH_COOKIE));
    }
    for cookie in set_cookies {
        if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// Until an owner exists, every page leads to `/setup` and the API answers
/// `setup_required`.
pub async fn require_setup(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let always_open = path == "/setup"
        || path == "/setup/restore"
        || path == "/api/v1/setup"
        || path == "/api/v1/openapi.json"
        || path == "/healthz"
        || path == "/readyz"
        || path.starts_with("/static/");
    if always_open {
        return next.run(req).await;
    }
    match state.auth.is_set_up(&state.store).await {
        Ok(true) => next.run(req).await,
        Ok(false) if is_api_path(path) => AppError::SetupRequired.into_response(),
        Ok(false) => Redirect::to("/setup").into_response(),
        Err(err) => AppError::from(err).into_response(),
    }
}

/// Records in the audit log each request the route table refused to a
/// signed-in person for their role (staff opening an admin page), once per
/// person and path within `audit.repeat_window_minutes`. The answer stays
/// 403 even if recording fails (that is logged).
pub async fn record_refusals(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let user = req
        .extensions()
        .get::<CurrentUser>()
        .map(|u| u.user.clone());
    let path: String = req.uri().path().chars().take(200).collect();
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    let response = next.run(req).await;
    if response
        .extensions()
        .get::<super::routes::RefusedForRole>()
        .is_some()
        && let Some(user) = user
    {
        let recorded = crate::audit::record_once(
            &state.store,
            crate::audit::Actor::User(&user),
            &ip,
            crate::audit::Event::refused("access.refused", crate::audit::Target::Page(&path)),
            state.config.audit.repeat_window(),
        )
        .await;
        if let Err(err) = recorded {
            tracing::warn!(error = %err, %path, "a refused request could not be audited");
        }
    }
    response
}

/// Cross-site request forgery defence for every POST, PUT, PATCH and DELETE
/// that relies on a cookie: the request must not come from another site
/// (`Sec-Fetch-Site`, `Origin`) and must carry the session's CSRF token, in
/// the `csrf` form field or the `X-CSRF-Token` header. Requests authenticated
/// by an API key, and anonymous API calls, carry no ambient credential and
/// need neither.
pub async fn check_csrf(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    match req.extensions().get::<CurrentUser>() {
        Some(CurrentUser {
            method: AuthMethod::ApiKey { .. },
            ..
        }) => return next.run(req).await,
        // An anonymous API call carries no credential to abuse, and its JSON
        // body cannot be sent from another site without CORS, which Hearth
        // never allows; it gets the route's own answer (401 for most).
        None if is_api_path(req.uri().path()) => return next.run(req).await,
        _ => {}
    }
    if let Err(reason) = check_origin(req.headers()) {
        tracing::warn!(
            reason,
            path = req.uri().path(),
            "refused a cross-site request"
        );
        return AppError::Csrf.into_response();
    }
    let expected = req
        .extensions()
        .get::<CsrfToken>()
        .map(|t| t.0.clone())
        .unwrap_or_default();
    let header_token = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| multipart_query_token(&req));
    let (req, provided) = match header_token {
        Some(token) => (req, Some(token)),
        None => match form_token(req, state.config.server.max_request_bytes).await {
            Ok(pair) => pair,
            Err(response) => return response,
        },
    };
    match provided {
        Some(token) if !expected.is_empty() && token::same_secret(&token, &expected) => {
            next.run(req).await
        }
        _ => {
            tracing::warn!(
                path = req.uri().path(),
                "refused a request without a valid CSRF token"
            );
            AppError::Csrf.into_response()
        }
    }
}

/// Same-origin checks that need no token: browsers tell us where a request
/// came from, and a request from another site is refused outright.
fn check_origin(headers: &HeaderMap) -> Result<(), &'static str> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && site != "same-origin"
        && site != "none"
    {
        return Err("Sec-Fetch-Site says the request came from another site");
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let same = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|rest| rest.eq_ignore_ascii_case(host));
        if !same {
            return Err("the Origin header names another site");
        }
    }
    Ok(())
}

/// A file-upload form (multipart, which this layer does not buffer) carries
/// its token in the form's action URL instead.
fn multipart_query_token(req: &Request) -> Option<String> {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("multipart/form-data"));
    if !multipart {
        return None;
    }
    form_urlencoded_field(req.uri().query()?.as_bytes(), "csrf")
}

/// Reads the `csrf` field of a URL-encoded form body and puts the body back.
async fn form_token(req: Request, limit: usize) -> Result<(Request, Option<String>), Response> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Ok((req, None));
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(_) => return Err(StatusCode::PAYLOAD_TOO_LARGE.into_response()),
    };
    let token = form_urlencoded_field(&bytes, "csrf");
    Ok((Request::from_parts(parts, Body::from(bytes)), token))
}

fn form_urlencoded_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// The client's address as seen on the socket. Hearth is served directly on
/// the office network, so forwarded-for headers are not trusted.
pub struct ClientIp(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string())
                .unwrap_or_default(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_allowlist() {
        let hosts = HostAllowlist::for_this_machine(
            &["box.example".into()],
            "0.0.0.0:80".parse().unwrap(),
            "hearth",
        );
        for ok in [
            "hearth.local",
            "hearth-2.local",
            "hearth-12.local:8080",
            "HEARTH.local:8080",
            "localhost:80",
            "127.0.0.1:9",
            "[::1]:8080",
            "box.example",
            "hearth.local.",
        ] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "hearth.local.evil.example",
            "hearth-.local",
            "hearth-2x.local",
            "hearthx.local",
            "",
            "127.0.0.2",
            "[::2]:80",
        ] {
            assert!(!hosts.allows(bad), "{bad}");
        }
    }

    #[test]
    fn percent_encoding_keeps_paths_readable() {
        assert_eq!(
            percent_encode("/admin/users?x=1&y"),
            "/admin/users%3Fx%3D1%26y"
        );
    }
}
