//! Flags on answers: anyone marks an answer in their own conversation as
//! good or wrong, and may write what it should have said. Wrong answers go
//! to Admin → Reviews (in `docs`, where a correction can become a house
//! fact); every flag is audited.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::{Form, Json};
use serde::Deserialize;

use crate::app::AppState;
use crate::audit::{self, Actor, Event, Target};
use crate::auth::CurrentUser;
use crate::error::{AppError, AppResult, ErrorEnvelope};
use crate::store::{ConversationId, Flag, FlagRating, MessageId, NewFlag, User};
use crate::web::layout::redirect_with_flash;
use crate::web::middleware::ClientIp;
use crate::web::{Access, Routes};

/// Longest correction, in characters.
const CORRECTION_CHARS: usize = 4000;

pub fn routes() -> Routes {
    Routes::new()
        .post(
            "/chat/{id}/messages/{message}/flag",
            Access::Staff,
            flag_submit,
        )
        .post(
            "/api/v1/conversations/{id}/messages/{message}/flag",
            Access::Staff,
            api_flag,
        )
}

/// A flag, from the page's buttons or the API.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct FlagInput {
    /// `up` (right) or `down` (wrong).
    pub rating: FlagRating,
    /// What the answer should have said (optional).
    #[serde(default)]
    pub correction: String,
}

/// Stores the flag and audits it.
async fn flag(
    state: &AppState,
    user: &User,
    ip: &str,
    conversation: ConversationId,
    message: MessageId,
    input: FlagInput,
) -> AppResult<Flag> {
    let correction = input.correction.trim();
    if correction.chars().count() > CORRECTION_CHARS {
        return Err(AppError::bad_request(format!(
            "A correction can be at most {CORRECTION_CHARS} characters."
        )));
    }
    let correction = crate::text::clean_name(correction);
    let flag = state
        .store
        .flag_answer(NewFlag {
            message,
            conversation,
            user: user.id,
            rating: input.rating,
            correction: correction.clone(),
        })
        .await?;
    let detail = match (input.rating, correction.is_empty()) {
        (FlagRating::Up, _) => "marked as right".to_string(),
        (FlagRating::Down, true) => "marked as wrong".to_string(),
        (FlagRating::Down, false) => format!("marked as wrong, with a correction: {correction}"),
    };
    audit::record(
        &state.store,
        Actor::User(user),
        ip,
        Event::ok("review.flagged", Target::Conversation(conversation)).detail(detail),
    )
    .await?;
    Ok(flag)
}

async fn flag_submit(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Path((id, message)): Path<(ConversationId, MessageId)>,
    Form(input): Form<FlagInput>,
) -> AppResult<Response> {
    let rating = input.rating;
    let with_correction = !input.correction.trim().is_empty();
    flag(&state, &user.user, &ip, id, message, input).await?;
    let said = match (rating, with_correction) {
        (FlagRating::Up, _) => "Thanks: marked as a good answer.",
        (FlagRating::Down, false) => {
            "Marked as wrong. An owner or admin will look at it; you can add what it should have said."
        }
        (FlagRating::Down, true) => {
            "Thanks: your correction goes to an owner or admin, who can make it a house fact the assistant uses."
        }
    };
    Ok(redirect_with_flash(
        &state,
        &format!("/chat/{}#message-{}", id.0, message.0),
        said,
    ))
}

/// Flags an answer in one of your conversations as right (`up`) or wrong
/// (`down`, optionally with a correction). Flagging again replaces your
/// open flag.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/messages/{message}/flag", tag = "chat",
    params(("id" = i64, Path, description = "Conversation id"), ("message" = i64, Path, description = "Answer id")),
    request_body = FlagInput,
    responses((status = 200, body = Flag), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn api_flag(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Path((id, message)): Path<(ConversationId, MessageId)>,
    Json(input): Json<FlagInput>,
) -> AppResult<Json<Flag>> {
    Ok(Json(
        flag(&state, &user.user, &ip, id, message, input).await?,
    ))
}

pub fn api_doc() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(api_flag), components(schemas(FlagInput, Flag, ErrorEnvelope)))]
    struct ApiDoc;
    <ApiDoc as utoipa::OpenApi>::openapi()
}
