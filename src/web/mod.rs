//! HTTP plumbing shared by all capabilities: the route table with per-route
//! access ([`routes`]), the middleware pipeline ([`middleware`]), the page
//! frame and rendering helpers ([`layout`]), instants as people read them
//! ([`time`]) and embedded assets ([`assets`]).
//! Capabilities own their handlers; nothing here knows about chat or users.

pub mod assets;
pub mod layout;
pub mod markdown;
pub mod middleware;
pub mod paging;
pub mod routes;
pub mod serve;
pub mod time;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Request, header};
use axum::middleware::from_fn_with_state;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use paging::Paging;
pub use routes::{Access, RouteSpec, Routes};

use crate::app::AppState;

/// The Content-Security-Policy of every response: our own scripts and styles
/// only, no inline script, no remote images (a Markdown image pointing
/// elsewhere is a classic way to leak data), no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// Wraps the capabilities' routes in the middleware pipeline.
pub fn finish(router: Router<AppState>, state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let limits = &state.config.server;
    let app_layers = ServiceBuilder::new()
        .layer(from_fn_with_state(state.clone(), middleware::check_host))
        .layer(from_fn_with_state(state.clone(), middleware::render_errors))
        .layer(from_fn_with_state(state.clone(), middleware::time_bodies))
        .layer(from_fn_with_state(state.clone(), middleware::authenticate))
        .layer(from_fn_with_state(state.clone(), middleware::require_setup))
        .layer(from_fn_with_state(state.clone(), middleware::check_csrf))
        .layer(from_fn_with_state(
            state.clone(),
            middleware::record_refusals,
        ))
        .layer(DefaultBodyLimit::max(limits.max_request_bytes));
    let http_layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                tracing::info_span!("request", id, method = %req.method(), path = req.uri().path())
            }),
        )
        .layer(PropagateRequestIdLayer::new(request_id))
        .layer(security_header(
            header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY,
        ))
        .layer(security_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(security_header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(security_header(header::REFERRER_POLICY, "same-origin"))
        .layer(security_header(
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ))
        .layer(security_header(
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), payment=()",
        ))
        .layer(CompressionLayer::new());
    router
        .layer(app_layers)
        .with_state(state)
        .layer(http_layers)
}

fn security_header(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}
