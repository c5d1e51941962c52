//! Chat with the local model: the chat page (conversation list, the current
//! conversation, streaming answers), the conversations API under `/api/v1`,
//! and the OpenAI-compatible `/v1` API for other office tools.
//!
//! Everyone sees only their own conversations: every query names the owner.
//! Answers stream as server-sent events from the POST that asked, so a
//! closed tab stops the generation; without JavaScript the same form waits
//! for the whole answer and then shows the page.

pub mod answer;
mod api;
pub mod assistant;
pub mod conversations;
pub mod grounding;
pub mod models;
mod openai;
mod settings;
mod state;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::Event as SseEvent;
use axum::response::{IntoResponse, Redirect, Response};
use futures::StreamExt;
use serde::Deserialize;
use tokio_stream::wrappers::ReceiverStream;

use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::error::{AppError, AppResult};
use crate::llm::EngineState;
use crate::store::{Conversation, ConversationId, MessageRole, StoredMessage, Viewer};
use crate::web::layout::{Shell, format_time, redirect_with_flash, render_with_status};
use crate::web::middleware::ClientIp;
use crate::web::{Access, Routes};

pub use answer::Running;
pub use state::ChatState;

pub use conversations::MAX_MESSAGE_CHARS;
/// Conversations listed in the sidebar.
const LIST_LIMIT: u32 = 200;

pub fn routes() -> Routes {
    Routes::new()
        .get("/chat", Access::Staff, chat_home)
        .post("/chat/new", Access::Staff, new_conversation)
        .get("/chat/{id}", Access::Staff, conversation_page)
        .post("/chat/{id}/messages", Access::Staff, post_message)
        .post("/chat/{id}/stop", Access::Staff, stop)
        .post("/chat/{id}/rename", Access::Staff, rename)
        .post("/chat/{id}/delete", Access::Staff, delete)
        .merge(api::routes())
        .merge(openai::routes())
        .merge(settings::routes())
        .merge(models::routes())
}

/// The chat capability's part of the OpenAPI document.
pub fn api_doc() -> utoipa::openapi::OpenApi {
    let mut doc = api::api_doc();
    doc.merge(settings::api_doc());
    doc
}

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    q: String,
}

/// For a message that reads like a scheduling request, the scheduling
/// assistant with it filled in.
fn scheduling_link(content: &str) -> Option<String> {
    crate::calendar::intent::looks_like_scheduling(content, &jiff::Zoned::now()).then(|| {
        format!(
            "/schedule/assistant?{}",
            serde_urlencoded::to_string([("text", content)]).unwrap_or_default()
        )
    })
}

/// One rendered message of the conversation view.
pub struct MessageView {
    pub id: i64,
    pub is_user: bool,
    pub text: String,
    /// Sanitised HTML of an answer.
    pub html: String,
    /// The status word (`stopped`, ...), also the message's CSS class.
    pub status: &'static str,
    pub source: String,
    pub speed: String,
    pub dropped: i64,
    pub time: String,
    /// The passages an answer from documents was given (HTML list).
    pub sources_html: String,
    /// For a message that reads like a scheduling request: the scheduling
    /// assistant with it filled in (it proposes; a person confirms there).
    pub scheduling: Option<String>,
}

impl MessageView {
    fn from_stored(message: &StoredMessage, sources: &[crate::store::MessageSource]) -> Self {
        let is_user = message.role == MessageRole::User;
        let scheduling = if is_user {
            scheduling_link(&message.content)
        } else {
            None
        };
        MessageView {
            scheduling,
            id: message.id.0,
            is_user,
            html: if is_user {
                String::new()
            } else {
                crate::web::markdown::render(&crate::chat::grounding::link_citations(
                    &message.content,
                    sources,
                ))
            },
            text: message.content.clone(),
            status: message.status.as_str(),
            source: message.source.label(),
            speed: message
                .tokens_per_second
                .map(|t| {
                    if t < 10.0 {
                        format!("{t:.1} tokens/s")
                    } else {
                        format!("{t:.0} tokens/s")
                    }
                })
                .unwrap_or_default(),
            dropped: message.dropped_messages,
            time: format_time(message.created_at),
            sources_html: crate::chat::grounding::render_sources(sources),
        }
    }
}

#[derive(Template)]
#[template(path = "chat/index.html")]
pub struct ChatPage {
    shell: Shell,
    conversations: Vec<Conversation>,
    query: String,
    current: Option<Conversation>,
    messages: Vec<MessageView>,
    /// Text to put back in the box after an error.
    draft: String,
    error: Option<String>,
    /// Why the assistant cannot answer now, if it cannot.
    unavailable: Option<String>,
    max_message_chars: usize,
    /// Collections the person may see (the picker), and the conversation's choice.
    collections: Vec<crate::store::Collection>,
    documents_on: bool,
    picked: Option<i64>,
}

impl ChatPage {
    fn is_current(&self, conversation: &Conversation) -> bool {
        self.current
            .as_ref()
            .is_some_and(|c| c.id == conversation.id)
    }

    fn form_action(&self) -> String {
        match &self.current {
            Some(c) => format!("/chat/{}/messages", c.id.0),
            None => "/chat/new".to_string(),
        }
    }
}

fn unavailable_reason(state: &AppState) -> Option<String> {
    match state.chat.engine.state() {
        EngineState::Ready { .. } => None,
        EngineState::Loading { model } => Some(format!(
            "The assistant is starting ({model} is loading). It will answer in a moment."
        )),
        EngineState::Failed { error, .. } => Some(format!(
            "The assistant is unavailable: {error}. An administrator can choose another model under Admin → Models."
        )),
        EngineState::Stopped => Some("The assistant is switched off.".into()),
    }
}

async fn page(
    state: &AppState,
    shell: Shell,
    user: &CurrentUser,
    current: Option<ConversationId>,
    query: String,
    draft: String,
    error: Option<String>,
) -> AppResult<ChatPage> {
    let conversations = state
        .store
        .conversations(user.user.id, Some(query.clone()), LIST_LIMIT)
        .await?;
    let (current, messages) = match current {
        Some(id) => {
            let conversation = state.store.conversation(user.user.id, id).await?;
            let messages = state.store.messages(user.user.id, id).await?;
            let sources = state.store.conversation_sources(user.user.id, id).await?;
            let views = messages
                .iter()
                .map(|m| {
                    let own: Vec<_> = sources
                        .iter()
                        .filter(|(message, _)| *message == m.id)
                        .map(|(_, s)| s.clone())
                        .collect();
                    MessageView::from_stored(m, &own)
                })
                .collect();
            (Some(conversation), views)
        }
        None => (None, Vec::new()),
    };
    let collections = state
        .store
        .visible_collections(Viewer::of(&user.user))
        .await?
        .into_iter()
        .filter(|c| c.document_count > 0)
        .collect();
    let (documents_on, picked) = match &current {
        Some(c) => {
            let (on, picked) = state
                .store
                .conversation_documents(user.user.id, c.id)
                .await?;
            (on, picked.first().map(|p| p.0))
        }
        None => (true, None),
    };
    Ok(ChatPage {
        collections,
        documents_on,
        picked,
        shell,
        conversations,
        query,
        current,
        messages,
        draft,
        error,
        unavailable: unavailable_reason(state),
        max_message_chars: MAX_MESSAGE_CHARS,
    })
}

async fn chat_home(
    State(state): State<AppState>,
    shell: Shell,
    user: CurrentUser,
    Query(query): Query<ListQuery>,
) -> AppResult<Response> {
    let view = page(&state, shell, &user, None, query.q, String::new(), None).await?;
    Ok(render_with_status(StatusCode::OK, &view))
}

async fn conversation_page(
    State(state): State<AppState>,
    shell: Shell,
    user: CurrentUser,
    Path(id): Path<ConversationId>,
    Query(query): Query<ListQuery>,
) -> AppResult<Response> {
    let view = page(&state, shell, &user, Some(id), query.q, String::new(), None).await?;
    Ok(render_with_status(StatusCode::OK, &view))
}

#[derive(Deserialize)]
struct MessageForm {
    content: String,
    /// Present when the form shows the documents toggle.
    #[serde(default)]
    documents_form: Option<String>,
    /// The "Answer from documents" checkbox.
    #[serde(default)]
    documents: Option<String>,
    /// One collection to answer from; empty: all the person may see.
    #[serde(default)]
    collection: Option<String>,
}

impl MessageForm {
    /// The conversation's documents choice, if the form carried one.
    fn documents_choice(&self) -> Option<conversations::DocumentsChoice> {
        self.documents_form.as_ref()?;
        let collections = self
            .collection
            .as_deref()
            .and_then(|c| c.trim().parse().ok())
            .map(crate::store::CollectionId)
            .into_iter()
            .collect();
        Some(conversations::DocumentsChoice {
            on: self.documents.is_some(),
            collections,
        })
    }
}

fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/event-stream"))
}

async fn new_conversation(
    State(state): State<AppState>,
    shell: Shell,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<MessageForm>,
) -> AppResult<Response> {
    let content = match conversations::validate_message(&form.content) {
        Ok(content) => content,
        Err(err) => {
            return form_error(&state, shell, &user, None, form.content, err, &headers).await;
        }
    };
    let conversation = conversations::create(
        &state,
        &user.user,
        &ip,
        conversations::Title::Automatic(&content),
    )
    .await?;
    respond(
        &state,
        shell,
        &user,
        conversation.id,
        content,
        &headers,
        true,
        form.documents_choice(),
    )
    .await
}

async fn post_message(
    State(state): State<AppState>,
    shell: Shell,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<ConversationId>,
    Form(form): Form<MessageForm>,
) -> AppResult<Response> {
    state.store.conversation(user.user.id, id).await?;
    let content = match conversations::validate_message(&form.content) {
        Ok(content) => content,
        Err(err) => {
            return form_error(&state, shell, &user, Some(id), form.content, err, &headers).await;
        }
    };
    let choice = form.documents_choice();
    respond(&state, shell, &user, id, content, &headers, false, choice).await
}

/// A refused message: the page again with the text kept, or a JSON error for scripts.
async fn form_error(
    state: &AppState,
    shell: Shell,
    user: &CurrentUser,
    current: Option<ConversationId>,
    draft: String,
    err: AppError,
    headers: &HeaderMap,
) -> AppResult<Response> {
    if wants_stream(headers) {
        return Err(err);
    }
    let status = err.status();
    let view = page(
        state,
        shell,
        user,
        current,
        String::new(),
        draft,
        Some(err.to_string()),
    )
    .await?;
    Ok(render_with_status(status, &view))
}

/// Stores the message and answers it: as a stream of events for the page's
/// script, or by waiting for the whole answer and redirecting for a plain form.
#[allow(clippy::too_many_arguments)]
async fn respond(
    state: &AppState,
    shell: Shell,
    user: &CurrentUser,
    id: ConversationId,
    content: String,
    headers: &HeaderMap,
    new: bool,
    documents: Option<conversations::DocumentsChoice>,
) -> AppResult<Response> {
    let listener = if wants_stream(headers) {
        answer::Listener::Stream
    } else {
        answer::Listener::Wait
    };
    let started = conversations::send(state, &user.user, id, &content, listener, documents).await;
    let answer = match started {
        Ok(answer) => answer,
        // Nothing was stored: the page again, with the message kept.
        Err(err @ AppError::Conflict(_)) => {
            return form_error(state, shell, user, Some(id), content, err, headers).await;
        }
        Err(err @ (AppError::Unavailable { .. } | AppError::BadRequest(_)))
            if !wants_stream(headers) =>
        {
            let view = page(
                state,
                shell,
                user,
                Some(id),
                String::new(),
                String::new(),
                Some(err.to_string()),
            )
            .await?;
            return Ok(render_with_status(err.status(), &view));
        }
        Err(err) => return Err(err),
    };
    if wants_stream(headers) {
        let opening = new.then(|| {
            SseEvent::default().event("conversation").data(
                serde_json::json!({ "id": id.0, "url": format!("/chat/{}", id.0) }).to_string(),
            )
        });
        // A scheduling request: the page offers the scheduling assistant
        // under it, as a reloaded page would.
        let scheduling = scheduling_link(&content).map(|link| {
            SseEvent::default()
                .event("scheduling")
                .data(serde_json::json!({ "text": content, "link": link }).to_string())
        });
        let opening = opening.into_iter().chain(scheduling).map(Ok);
        let events = ReceiverStream::new(answer.progress).map(|p| {
            let name = match &p {
                answer::Progress::Queued { .. } => "queued",
                answer::Progress::Started { .. } => "started",
                answer::Progress::Token { .. } => "token",
                answer::Progress::Done { .. } => "done",
                answer::Progress::Error { .. } => "error",
            };
            Ok::<_, std::convert::Infallible>(
                SseEvent::default()
                    .event(name)
                    .data(serde_json::to_string(&p).unwrap_or_default()),
            )
        });
        let stream = futures::stream::iter(opening.collect::<Vec<_>>()).chain(events);
        return Ok(answer::event_stream(stream));
    }
    // No JavaScript: wait for the whole answer.
    let saved = answer.stored().await;
    let anchor = saved
        .map(|m| format!("#message-{}", m.id.0))
        .unwrap_or_default();
    Ok(Redirect::to(&format!("/chat/{}{anchor}", id.0)).into_response())
}

async fn stop(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<ConversationId>,
) -> AppResult<Response> {
    conversations::stop(&state, &user.user, id).await?;
    if headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"))
    {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    Ok(Redirect::to(&format!("/chat/{}", id.0)).into_response())
}

#[derive(Deserialize)]
struct RenameForm {
    title: String,
}

async fn rename(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<ConversationId>,
    Form(form): Form<RenameForm>,
) -> AppResult<Response> {
    conversations::rename(&state, &user.user, id, &form.title).await?;
    Ok(redirect_with_flash(
        &state,
        &format!("/chat/{}", id.0),
        "Renamed.",
    ))
}

async fn delete(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<ConversationId>,
) -> AppResult<Response> {
    let conversation = conversations::delete(&state, &user.user, &ip, id).await?;
    Ok(redirect_with_flash(
        &state,
        "/chat",
        &format!("Deleted \u{201c}{}\u{201d}.", conversation.title),
    ))
}
