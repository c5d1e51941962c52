//! Conversations under `/api/v1`: everything the chat page does, for
//! scripts. Posting a message answers with a stream of server-sent events
//! (`queued`, `started`, `token`, `done` or `error`, each with a JSON body)
//! when asked with `"stream": true`, or with the stored answer otherwise.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::Event as SseEvent;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_stream::wrappers::ReceiverStream;
use utoipa::{IntoParams, ToSchema};

use super::answer;
use super::conversations::{self, Title};
use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::error::{AppResult, ErrorEnvelope};
use crate::store::{CollectionId, Conversation, ConversationId, DocumentsMode, StoredMessage};
use crate::web::middleware::ClientIp;
use crate::web::{Access, Routes};

pub fn routes() -> Routes {
    Routes::new()
        .get("/api/v1/conversations", Access::Staff, list)
        .post("/api/v1/conversations", Access::Staff, create)
        .get("/api/v1/conversations/{id}", Access::Staff, read)
        .patch("/api/v1/conversations/{id}", Access::Staff, rename)
        .delete("/api/v1/conversations/{id}", Access::Staff, delete)
        .post(
            "/api/v1/conversations/{id}/messages",
            Access::Staff,
            post_message,
        )
        .post("/api/v1/conversations/{id}/stop", Access::Staff, stop)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only conversations whose title or messages contain this text.
    q: Option<String>,
}

/// Your conversations, most recent first.
#[utoipa::path(get, path = "/api/v1/conversations", tag = "chat", params(ListQuery),
    responses((status = 200, body = Vec<Conversation>)))]
async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<ListQuery>,
) -> AppResult<Json<Vec<Conversation>>> {
    Ok(Json(
        state
            .store
            .conversations(user.user.id, query.q, 1000)
            .await?,
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct NewConversation {
    /// Optional; set automatically from the first exchange otherwise.
    #[serde(default)]
    pub title: Option<String>,
}

/// Starts an empty conversation.
#[utoipa::path(post, path = "/api/v1/conversations", tag = "chat", request_body = NewConversation,
    responses((status = 201, body = Conversation), (status = 400, body = ErrorEnvelope)))]
async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Json(new): Json<NewConversation>,
) -> AppResult<(StatusCode, Json<Conversation>)> {
    let title = match new.title.as_deref() {
        Some(title) => Title::Chosen(title),
        None => Title::Automatic(""),
    };
    let conversation = conversations::create(&state, &user.user, &ip, title).await?;
    Ok((StatusCode::CREATED, Json(conversation)))
}

#[derive(Serialize, ToSchema)]
pub struct ConversationWithMessages {
    pub conversation: Conversation,
    pub messages: Vec<StoredMessage>,
}

/// One of your conversations with its messages.
#[utoipa::path(get, path = "/api/v1/conversations/{id}", tag = "chat",
    params(("id" = i64, Path, description = "Conversation id")),
    responses((status = 200, body = ConversationWithMessages), (status = 404, body = ErrorEnvelope)))]
async fn read(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<ConversationId>,
) -> AppResult<Json<ConversationWithMessages>> {
    let conversation = state.store.conversation(user.user.id, id).await?;
    let messages = state.store.messages(user.user.id, id).await?;
    Ok(Json(ConversationWithMessages {
        conversation,
        messages,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct Rename {
    pub title: String,
}

/// Renames one of your conversations.
#[utoipa::path(patch, path = "/api/v1/conversations/{id}", tag = "chat", request_body = Rename,
    params(("id" = i64, Path, description = "Conversation id")),
    responses((status = 200, body = Conversation), (status = 404, body = ErrorEnvelope)))]
async fn rename(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<ConversationId>,
    Json(body): Json<Rename>,
) -> AppResult<Json<Conversation>> {
    Ok(Json(
        conversations::rename(&state, &user.user, id, &body.title).await?,
    ))
}

/// Deletes one of your conversations and its messages.
#[utoipa::path(delete, path = "/api/v1/conversations/{id}", tag = "chat",
    params(("id" = i64, Path, description = "Conversation id")),
    responses((status = 204), (status = 404, body = ErrorEnvelope)))]
async fn delete(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<ConversationId>,
) -> AppResult<StatusCode> {
    conversations::delete(&state, &user.user, &ip, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct PostMessage {
    pub content: String,
    /// Answer as server-sent events instead of one JSON body at the end.
    #[serde(default)]
    pub stream: bool,
    /// Whether this and later answers in the conversation draw on the
    /// office's documents: `auto` (when the question finds good passages;
    /// the default), `only` (say so when nothing matches), or `off`. The
    /// conversation keeps its choice when this is left out.
    #[serde(default)]
    pub documents: Option<DocumentsMode>,
    /// With `documents`: the collections to answer from (none: all the
    /// person may see).
    #[serde(default)]
    pub collections: Vec<i64>,
}

/// Sends a message and answers it. With `stream`, the answer arrives as
/// server-sent events: `queued` `{"ahead": n}`, `started` `{"dropped": n}`,
/// `token` `{"text": "..."}`, then `done` (with `message_id` and `status`) or `error`.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/messages", tag = "chat", request_body = PostMessage,
    params(("id" = i64, Path, description = "Conversation id")),
    responses(
        (status = 200, description = "The stored answer, or an event stream", body = StoredMessage),
        (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
        (status = 409, description = "An answer is already being written here", body = ErrorEnvelope),
        (status = 503, description = "Busy or no model; see Retry-After", body = ErrorEnvelope),
    ))]
async fn post_message(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<ConversationId>,
    Json(body): Json<PostMessage>,
) -> AppResult<Response> {
    let listener = if body.stream {
        answer::Listener::Stream
    } else {
        answer::Listener::Wait
    };
    let documents = body.documents.map(|mode| conversations::DocumentsChoice {
        mode,
        collections: body.collections.iter().copied().map(CollectionId).collect(),
    });
    let answer =
        conversations::send(&state, &user.user, id, &body.content, listener, documents).await?;
    if body.stream {
        let events = ReceiverStream::new(answer.progress).map(|p| {
            let (name, data) = match &p {
                answer::Progress::Queued { ahead } => {
                    ("queued", serde_json::json!({ "ahead": ahead }))
                }
                answer::Progress::Started { dropped } => {
                    ("started", serde_json::json!({ "dropped": dropped }))
                }
                answer::Progress::Token { text, .. } => {
                    ("token", serde_json::json!({ "text": text }))
                }
                answer::Progress::Done {
                    message_id, status, ..
                } => (
                    "done",
                    serde_json::json!({ "message_id": message_id, "status": status }),
                ),
                answer::Progress::Error { message } => {
                    ("error", serde_json::json!({ "message": message }))
                }
            };
            Ok::<_, std::convert::Infallible>(
                SseEvent::default().event(name).data(data.to_string()),
            )
        });
        return Ok(answer::event_stream(events));
    }
    Ok(Json(answer.stored().await?).into_response())
}

/// Stops the answer being written in this conversation, if any.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/stop", tag = "chat",
    params(("id" = i64, Path, description = "Conversation id")),
    responses((status = 204), (status = 404, body = ErrorEnvelope)))]
async fn stop(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<ConversationId>,
) -> AppResult<StatusCode> {
    conversations::stop(&state, &user.user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list, create, read, rename, delete, post_message, stop),
    components(schemas(
        Conversation,
        StoredMessage,
        ConversationWithMessages,
        NewConversation,
        Rename,
        PostMessage,
        ErrorEnvelope
    ))
)]
pub struct ApiDoc;

pub fn api_doc() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}
