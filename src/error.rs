//! One error type for the web layer. Each variant is a case a caller or a
//! person can act on, with a stable machine-readable code; everything else is
//! [`AppError::Internal`], whose details go to the log and never to the client.
//!
//! A handler's error becomes a response carrying an [`ErrorBody`] extension;
//! `web::middleware::render_errors` then renders it as a friendly HTML page, a JSON error, or a
//! redirect to the login page, depending on where the request was going.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is malformed or a value is out of range; the message says which.
    #[error("{0}")]
    BadRequest(String),
    /// No valid session or API key.
    #[error("Please sign in.")]
    Unauthenticated,
    /// Signed in, but this needs a higher role.
    #[error("You do not have permission to do that.")]
    Forbidden,
    /// Not allowed, for a reason people should read (the owner's policy).
    #[error("{0}")]
    NotAllowed(String),
    /// The request lacked a valid CSRF token or came from another site.
    #[error("This form has expired or came from another site. Reload the page and try again.")]
    Csrf,
    #[error("Not found.")]
    NotFound,
    /// An OpenAI-style request named a model this box does not serve.
    #[error("The model `{requested}` does not exist here; this Hearth serves `{serving}`.")]
    ModelNotFound { requested: String, serving: String },
    /// The request (or an upload in it) is larger than a limit; the message names it.
    #[error("{0}")]
    TooLarge(String),
    /// The client stopped sending the request body.
    #[error("The request stalled: nothing arrived for too long. Try again.")]
    Timeout,
    /// The data directory's disk is full (or below its free-space floor):
    /// nothing was stored.
    #[error("{0}")]
    DiskFull(String),
    /// The action conflicts with the current state (a taken username, say).
    #[error("{0}")]
    Conflict(String),
    /// Too many attempts; try again after the given number of seconds.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: u64,
    },
    /// The box has no owner yet: everything waits for `/setup`.
    #[error("Hearth is not set up yet. Open /setup in a browser.")]
    SetupRequired,
    /// The owner requires two-factor sign-in for this person's role, and
    /// they have not turned it on yet.
    #[error(
        "Two-factor sign-in is required for owners and admins: turn it on at /profile/two-factor first."
    )]
    TwoFactorRequired,
    /// A part of Hearth is busy or down; try again later.
    #[error("{message}")]
    Unavailable {
        message: String,
        retry_after_secs: u64,
    },
    /// A bug or an environmental failure; details are logged, not shown.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

/// What a client is told about an error: a stable code and a readable message.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable: `bad_request`, `unauthenticated`, `forbidden`,
    /// `csrf_failed`, `not_found`, `model_not_found`, `conflict`, `rate_limited`,
    /// `setup_required`, `unavailable`, `payload_too_large`, `timeout`,
    /// `disk_full`, `method_not_allowed`, `nothing_accepted`, `internal`.
    pub code: &'static str,
    /// For people; may change between versions.
    pub message: String,
    /// The error's class in OpenAI's terms (`invalid_request_error`,
    /// `authentication_error`, ...), so OpenAI client libraries read our errors.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// OpenAI's error class for one of our codes.
fn kind_of(code: &str) -> &'static str {
    match code {
        "unauthenticated" => "authentication_error",
        "forbidden" | "csrf_failed" => "permission_error",
        "not_found" => "not_found_error",
        "rate_limited" => "rate_limit_error",
        "unavailable" | "setup_required" | "internal" | "disk_full" => "server_error",
        _ => "invalid_request_error",
    }
}

/// The JSON envelope of every API error: `{"error": {"code": ..., "message": ...}}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

/// What people are told when the disk is full.
pub const DISK_FULL_MESSAGE: &str = "The box's disk is full, so nothing was stored. \
    An administrator can make room by deleting documents or unused models.";

impl AppError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        AppError::BadRequest(message.into())
    }

    pub fn disk_full() -> Self {
        AppError::DiskFull(DISK_FULL_MESSAGE.to_string())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
            AppError::Forbidden
            | AppError::NotAllowed(_)
            | AppError::Csrf
            | AppError::TwoFactorRequired => StatusCode::FORBIDDEN,
            AppError::NotFound | AppError::ModelNotFound { .. } => StatusCode::NOT_FOUND,
            AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Timeout => StatusCode::REQUEST_TIMEOUT,
            AppError::DiskFull(_) => StatusCode::INSUFFICIENT_STORAGE,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::SetupRequired | AppError::Unavailable { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest(_) => "bad_request",
            AppError::Unauthenticated => "unauthenticated",
            AppError::Forbidden => "forbidden",
            AppError::NotAllowed(_) => "not_allowed",
            AppError::Csrf => "csrf_failed",
            AppError::NotFound => "not_found",
            AppError::ModelNotFound { .. } => "model_not_found",
            AppError::TooLarge(_) => "payload_too_large",
            AppError::Timeout => "timeout",
            AppError::DiskFull(_) => "disk_full",
            AppError::Conflict(_) => "conflict",
            AppError::TooManyRequests { .. } => "rate_limited",
            AppError::SetupRequired => "setup_required",
            AppError::TwoFactorRequired => "two_factor_required",
            AppError::Unavailable { .. } => "unavailable",
            AppError::Internal(_) => "internal",
        }
    }
}

impl ErrorBody {
    /// The body for an error response that no handler described (a 404 from
    /// the router, a 413 from the body limit).
    pub fn for_status(status: StatusCode) -> ErrorBody {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => ("not_found", "This page does not exist."),
            StatusCode::METHOD_NOT_ALLOWED => {
                ("method_not_allowed", "That method is not allowed here.")
            }
            StatusCode::PAYLOAD_TOO_LARGE => (
                "payload_too_large",
                "The request is larger than this server accepts.",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE | StatusCode::UNPROCESSABLE_ENTITY => {
                ("bad_request", "The request could not be understood.")
            }
            StatusCode::REQUEST_TIMEOUT => ("timeout", "The request took too long."),
            s if s.is_client_error() => ("bad_request", "The request could not be handled."),
            _ => (
                "internal",
                "Something went wrong on our side. It has been logged.",
            ),
        };
        ErrorBody {
            code,
            message: message.to_string(),
            kind: kind_of(code),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let AppError::Internal(err) = &self {
            tracing::error!(error = format!("{err:#}"), "internal error");
        } else {
            tracing::debug!(code = self.code(), "request refused: {self}");
        }
        let message = match &self {
            AppError::Internal(_) => {
                "Something went wrong on our side. It has been logged.".to_string()
            }
            other => {
                let text = other.to_string();
                let mut chars = text.chars();
                match chars.next() {
                    Some(first) => first.to_uppercase().chain(chars).collect(),
                    None => text,
                }
            }
        };
        let body = ErrorBody {
            code: self.code(),
            message,
            kind: kind_of(self.code()),
        };
        let mut response = (
            status,
            axum::Json(ErrorEnvelope {
                error: body.clone(),
            }),
        )
            .into_response();
        if let AppError::TooManyRequests {
            retry_after_secs, ..
        }
        | AppError::Unavailable {
            retry_after_secs, ..
        } = &self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        response.extensions_mut().insert(body);
        response
    }
}

/// Handlers return this.
pub type AppResult<T> = Result<T, AppError>;

// Every domain error meets the web layer here, and only here: engines and
// capabilities return their own errors, and these say what each means for a
// client. Internals are logged (by `into_response`), never shown.

impl From<crate::store::StoreError> for AppError {
    fn from(err: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match err {
            StoreError::NotFound => AppError::NotFound,
            StoreError::Conflict(message) => AppError::Conflict(message),
            StoreError::DiskFull => AppError::disk_full(),
            StoreError::Other(err) => AppError::Internal(err),
        }
    }
}

/// The engine's refusals, as a person or client can act on them.
impl From<crate::llm::EngineError> for AppError {
    fn from(err: crate::llm::EngineError) -> Self {
        use crate::llm::EngineError;
        match err {
            EngineError::Busy => AppError::Unavailable {
                message: "The assistant is busy. Try again in a few seconds.".into(),
                retry_after_secs: 5,
            },
            EngineError::Unavailable(why) => AppError::Unavailable {
                message: format!("The assistant is unavailable right now ({why})."),
                retry_after_secs: 30,
            },
            EngineError::TooLong { tokens, limit } => AppError::BadRequest(format!(
                "That message is too long for the model: it is {tokens} tokens and at most {limit} fit. Shorten it or split it up."
            )),
            EngineError::Failed(why) => {
                AppError::Internal(anyhow::anyhow!("generation failed: {why}"))
            }
        }
    }
}

impl From<crate::search::SearchError> for AppError {
    fn from(err: crate::search::SearchError) -> Self {
        use crate::search::SearchError;
        match err {
            SearchError::BadQuery(message) => AppError::BadRequest(message),
            SearchError::Busy => AppError::Unavailable {
                message: "Search is busy; try again in a moment.".into(),
                retry_after_secs: 2,
            },
            other => AppError::Internal(anyhow::anyhow!("search failed: {other}")),
        }
    }
}

/// Why an upload could not be stored, for the whole request. (Uploads of
/// several files turn a single file's refusal into a per-file result first.)
impl From<crate::disk::SpoolError> for AppError {
    fn from(err: crate::disk::SpoolError) -> Self {
        use crate::disk::{SpoolError, human_size};
        match err {
            SpoolError::TooLarge { limit } => AppError::TooLarge(format!(
                "The file is larger than the limit of {}.",
                human_size(limit)
            )),
            SpoolError::Empty => AppError::bad_request("The file is empty."),
            SpoolError::Interrupted { stalled: true, .. } => AppError::Timeout,
            SpoolError::Interrupted { .. } => {
                AppError::bad_request("The upload was interrupted; send it again.")
            }
            SpoolError::DiskFull => AppError::disk_full(),
            SpoolError::Io(err) => AppError::Internal(err.into()),
        }
    }
}

/// A multipart body that could not be read: a stalled client (408), a body
/// over its limit (413), or anything else (400).
impl From<axum::extract::multipart::MultipartError> for AppError {
    fn from(err: axum::extract::multipart::MultipartError) -> Self {
        let message = err.body_text();
        if crate::disk::is_stall(&message) {
            AppError::Timeout
        } else if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::TooLarge("The upload is larger than this server accepts.".into())
        } else {
            AppError::BadRequest(format!("The upload could not be read: {message}"))
        }
    }
}
