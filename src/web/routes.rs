//! The route table. Every route is added through [`Routes`] with the
//! [`Access`] it requires, and that declaration is what guards it: the
//! builder wraps each handler in a check of the signed-in user's role. The
//! declarations are also listed by [`crate::app::route_table`], and a test
//! proves each role's access to each route, failing when a route is missing
//! from its expectations.

use axum::Router;
use axum::extract::Request;
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use serde::Serialize;

use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::store::Role;

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Anyone, signed in or not (login, setup, health checks, assets).
    Public,
    /// Any signed-in user.
    Staff,
    /// Admins and owners.
    Admin,
    /// Owners only.
    Owner,
}

impl Access {
    pub fn allows(self, role: Role) -> bool {
        match self {
            Access::Public | Access::Staff => true,
            Access::Admin => role >= Role::Admin,
            Access::Owner => role == Role::Owner,
        }
    }
}

/// One entry of the route table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteSpec {
    pub method: String,
    pub path: &'static str,
    pub access: Access,
}

/// A router whose every route declares its access.
pub struct Routes {
    router: Router<AppState>,
    specs: Vec<RouteSpec>,
}

impl Default for Routes {
    fn default() -> Self {
        Routes::new()
    }
}

impl Routes {
    pub fn new() -> Self {
        Routes {
            router: Router::new(),
            specs: Vec::new(),
        }
    }

    pub fn route<H, T>(self, method: Method, path: &'static str, access: Access, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(method, path, access, handler, false)
    }

    /// A route whose handler reads a large body itself (uploads): the
    /// ordinary request-size limit does not apply, so the handler must
    /// enforce its own.
    pub fn route_with_own_limit<H, T>(
        self,
        method: Method,
        path: &'static str,
        access: Access,
        handler: H,
    ) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(method, path, access, handler, true)
    }

    fn add<H, T>(
        mut self,
        method: Method,
        path: &'static str,
        access: Access,
        handler: H,
        own_limit: bool,
    ) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).expect("routes use standard methods");
        let mut endpoint = on(filter, handler);
        if own_limit {
            endpoint = endpoint.layer(axum::extract::DefaultBodyLimit::disable());
        }
        let endpoint = endpoint.route_layer(from_fn(move |req: Request, next: Next| {
            require(access, req, next)
        }));
        self.router = self.router.route(path, endpoint);
        self.specs.push(RouteSpec {
            method: method.to_string(),
            path,
            access,
        });
        self
    }

    pub fn get<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        access: Access,
        handler: H,
    ) -> Self {
        self.route(Method::GET, path, access, handler)
    }

    pub fn post<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        access: Access,
        handler: H,
    ) -> Self {
        self.route(Method::POST, path, access, handler)
    }

    pub fn patch<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        access: Access,
        handler: H,
    ) -> Self {
        self.route(Method::PATCH, path, access, handler)
    }

    pub fn delete<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        access: Access,
        handler: H,
    ) -> Self {
        self.route(Method::DELETE, path, access, handler)
    }

    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.specs.extend(other.specs);
        self
    }

    pub fn into_parts(self) -> (Router<AppState>, Vec<RouteSpec>) {
        (self.router, self.specs)
    }
}

/// Marks a response the route table refused to a signed-in person for
/// their role, so that `middleware::record_refusals` audits it.
#[derive(Debug, Clone, Copy)]
pub struct RefusedForRole;

/// The guard every route gets: anonymous requests to protected routes are
/// unauthenticated (401 or a redirect to login); signed-in users without the
/// role are forbidden (and the refusal is recorded).
async fn require(access: Access, req: Request, next: Next) -> Response {
    if access == Access::Public {
        return next.run(req).await;
    }
    match req.extensions().get::<CurrentUser>() {
        None => AppError::Unauthenticated.into_response(),
        Some(user) if !access.allows(user.user.role) => {
            let mut response = AppError::Forbidden.into_response();
            response.extensions_mut().insert(RefusedForRole);
            response
        }
        Some(_) => next.run(req).await,
    }
}
