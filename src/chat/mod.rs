//! Chat with the local model: the chat page (conversation list, the current
//! conversation, streaming answers), the conversations API under `/api/v1`,
//! and the OpenAI-compatible `/v1` API for other office tools.
//!
//! Everyone sees only their own conversations: every query names the owner.
//! Answers stream as server-sent events from the POST that asked; they keep
//! going when the page goes away (only Stop stops them), and a page that
//! comes back follows the answer again (`/chat/{id}/stream`). Without
//! JavaScript the same forms wait for the whole answer and show the page.
//! Every answer can be copied, the last one written again (Regenerate) or,
//! when cut off, continued; the latest question can be edited and sent again.

pub mod answer;
mod api;
pub mod assistant;
pub mod cloud;
pub mod conversations;
mod flags;
pub mod grounding;
pub mod models;
mod openai;
pub mod settings;
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
use crate::store::{
    Conversation, ConversationId, DocumentsMode, MessageId, MessageRole, MessageStatus,
    StoredMessage, Viewer,
};
use crate::web::layout::{Shell, redirect_with_flash, render_with_status};
use crate::web::middleware::ClientIp;
use crate::web::time::{Moment, Times};
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
        .get("/chat/{id}/stream", Access::Staff, follow)
        .post(
            "/chat/{id}/messages/{message}/regenerate",
            Access::Staff,
            regenerate,
        )
        .post("/chat/{id}/messages/{message}/edit", Access::Staff, edit)
        .post(
            "/chat/{id}/messages/{message}/continue",
            Access::Staff,
            continue_answer,
        )
        .post("/chat/{id}/stop", Access::Staff, stop)
        .post("/chat/{id}/rename", Access::Staff, rename)
        .post("/chat/{id}/delete", Access::Staff, delete)
        .merge(api::routes())
        .merge(openai::routes())
        .merge(settings::routes())
        .merge(cloud::routes())
        .merge(flags::routes())
        .merge(models::routes())
}

/// The chat capability's part of the OpenAPI document.
pub fn api_doc() -> utoipa::openapi::OpenApi {
    let mut doc = api::api_doc();
    doc.merge(settings::api_doc());
    doc.merge(cloud::api_doc());
    doc.merge(flags::api_doc());
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
    /// When it was sent or written, as people read it ("today 14:05").
    pub time: Moment,
    /// The passages an answer from documents was given (HTML list).
    pub sources_html: String,
    /// For a message that reads like a scheduling request: the scheduling
    /// assistant with it filled in (it proposes; a person confirms there).
    pub scheduling: Option<String>,
    /// The conversation's last answer (it can be written again).
    pub last_answer: bool,
    /// The latest question (it can be edited and sent again).
    pub last_question: bool,
    /// A cut-off last answer (it can be continued).
    pub can_continue: bool,
    /// Being written now: the page follows it.
    pub following: bool,
    /// How the reader marked this answer: `up`, `down` or empty.
    pub flag: &'static str,
}

impl MessageView {
    fn from_stored(
        message: &StoredMessage,
        sources: &[crate::store::MessageSource],
        times: &Times,
    ) -> Self {
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
            time: times.at(message.created_at),
            sources_html: crate::chat::grounding::render_sources(sources),
            last_answer: false,
            last_question: false,
            can_continue: false,
            following: false,
            flag: "",
        }
    }

    /// Marks what can be done with the last question and answer of a
    /// conversation (`answering`: an answer is being written there now).
    fn mark_latest(views: &mut [MessageView], stored: &[StoredMessage], answering: bool) {
        let Some(last) = stored.last() else {
            return;
        };
        if let Some(question) = stored.iter().rposition(|m| m.role == MessageRole::User)
            && !answering
        {
            views[question].last_question = true;
        }
        if last.role == MessageRole::Assistant
            && let Some(view) = views.last_mut()
        {
            if answering {
                view.following = last.status == MessageStatus::Writing;
            } else {
                view.last_answer = true;
                view.can_continue = !last.content.is_empty()
                    && matches!(
                        last.status,
                        MessageStatus::Stopped | MessageStatus::Length | MessageStatus::Interrupted
                    );
            }
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
    documents_mode: DocumentsMode,
    picked: Option<i64>,
    /// Conversations with an answer being written now.
    answering: Vec<ConversationId>,
    /// The reader may ask the cloud model (the owner allows it, for them).
    cloud: bool,
}

impl ChatPage {
    fn is_current(&self, conversation: &Conversation) -> bool {
        self.current
            .as_ref()
            .is_some_and(|c| c.id == conversation.id)
    }

    /// The latest question has no answer (the local model could not give
    /// one): the page offers the cloud model, when the reader may use it.
    fn unanswered(&self) -> bool {
        self.messages.last().is_some_and(|m| m.is_user)
            && !self
                .current
                .as_ref()
                .is_some_and(|c| self.answering.contains(&c.id))
    }

    /// The open conversation's id (messages are shown only inside one).
    fn current_id(&self) -> i64 {
        self.current.as_ref().map_or(0, |c| c.id.0)
    }

    fn is_answering(&self, conversation: &Conversation) -> bool {
        self.answering.contains(&conversation.id)
    }

    /// The documents choices offered with each message.
    fn documents_modes(&self) -> [(&'static str, &'static str, bool); 3] {
        let mode = self.documents_mode;
        [
            (
                "auto",
                "Automatic: documents when they match",
                mode == DocumentsMode::Auto,
            ),
            ("only", "Only from documents", mode == DocumentsMode::Only),
            ("off", "Without documents", mode == DocumentsMode::Off),
        ]
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
            let times = Times::load(state).await?;
            let mut views: Vec<MessageView> = messages
                .iter()
                .map(|m| {
                    let own: Vec<_> = sources
                        .iter()
                        .filter(|(message, _)| *message == m.id)
                        .map(|(_, s)| s.clone())
                        .collect();
                    MessageView::from_stored(m, &own, &times)
                })
                .collect();
            let answering = state.chat.running.is_answering(id);
            MessageView::mark_latest(&mut views, &messages, answering);
            for (message, rating) in state.store.my_flags(user.user.id, id).await? {
                if let Some(view) = views.iter_mut().find(|v| v.id == message.0) {
                    view.flag = rating.as_str();
                }
            }
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
    let (documents_mode, picked) = match &current {
        Some(c) => {
            let (mode, picked) = state
                .store
                .conversation_documents(user.user.id, c.id)
                .await?;
            (mode, picked.first().map(|p| p.0))
        }
        None => (DocumentsMode::Auto, None),
    };
    let answering = state.chat.running.answering();
    Ok(ChatPage {
        cloud: state.chat.cloud().permits(&user.user),
        collections,
        documents_mode,
        picked,
        answering,
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
    /// Present when the form shows the documents choice.
    #[serde(default)]
    documents_form: Option<String>,
    /// `auto`, `only` or `off` (`on`, from an older page, is `auto`).
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
        let mode = match self.documents.as_deref().map(str::trim) {
            None | Some("off") => DocumentsMode::Off,
            Some("only") => DocumentsMode::Only,
            Some(_) => DocumentsMode::Auto,
        };
        Some(conversations::DocumentsChoice { mode, collections })
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

/// Stores the message and answers it (see [`answer_response`]).
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
    let listener = listener_for(headers);
    let started = conversations::send(state, &user.user, id, &content, listener, documents).await;
    let opening = Opening {
        new,
        question: Some(content),
    };
    answer_response(state, shell, user, id, headers, started, opening).await
}

fn listener_for(headers: &HeaderMap) -> answer::Listener {
    if wants_stream(headers) {
        answer::Listener::Stream
    } else {
        answer::Listener::Wait
    }
}

/// What a stream says before the answer's own events.
struct Opening {
    /// The conversation was just created (the page learns its address).
    new: bool,
    /// The question as sent: kept in the box after a refusal, and offered
    /// to the scheduling assistant when it reads like a booking.
    question: Option<String>,
}

/// The response to a started answer: a stream of events for the page's
/// script, or (no JavaScript) the page after the whole answer. A refusal
/// stores nothing and shows the page again with the question kept.
async fn answer_response(
    state: &AppState,
    shell: Shell,
    user: &CurrentUser,
    id: ConversationId,
    headers: &HeaderMap,
    started: AppResult<answer::Answer>,
    opening: Opening,
) -> AppResult<Response> {
    let answer = match started {
        Ok(answer) => answer,
        Err(err @ (AppError::Conflict(_) | AppError::BadRequest(_))) if !wants_stream(headers) => {
            let draft = opening.question.unwrap_or_default();
            return form_error(state, shell, user, Some(id), draft, err, headers).await;
        }
        Err(err @ AppError::Unavailable { .. }) if !wants_stream(headers) => {
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
        let created = opening.new.then(|| {
            SseEvent::default().event("conversation").data(
                serde_json::json!({ "id": id.0, "url": format!("/chat/{}", id.0) }).to_string(),
            )
        });
        // A scheduling request: the page offers the scheduling assistant
        // under it, as a reloaded page would.
        let scheduling = opening.question.as_deref().and_then(|question| {
            scheduling_link(question).map(|link| {
                SseEvent::default()
                    .event("scheduling")
                    .data(serde_json::json!({ "text": question, "link": link }).to_string())
            })
        });
        // The question's id, so the page can offer to edit it.
        let question = SseEvent::default()
            .event("question")
            .data(serde_json::json!({ "id": answer.question.0 }).to_string());
        let opening = created
            .into_iter()
            .chain(scheduling)
            .chain([question])
            .map(Ok);
        let events = ReceiverStream::new(answer.progress).map(|p| Ok(progress_event(&p)));
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

/// One answer event for the page's script.
fn progress_event(progress: &answer::Progress) -> SseEvent {
    let name = match progress {
        answer::Progress::Queued { .. } => "queued",
        answer::Progress::Started { .. } => "started",
        answer::Progress::Token { .. } => "token",
        answer::Progress::Done { .. } => "done",
        answer::Progress::Error { .. } => "error",
    };
    SseEvent::default()
        .event(name)
        .data(serde_json::to_string(progress).unwrap_or_default())
}

/// The answer being written in a conversation, for a page that comes back
/// to it: what was written so far, then the rest as it comes, then `done`.
/// When no answer is being written, just the last answer's `done`.
async fn follow(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<ConversationId>,
) -> AppResult<Response> {
    state.store.conversation(user.user.id, id).await?;
    // The question's id, so the page can offer to edit it afterwards.
    let question = state
        .store
        .messages(user.user.id, id)
        .await?
        .iter()
        .rfind(|m| m.role == MessageRole::User)
        .map(|m| {
            SseEvent::default()
                .event("question")
                .data(serde_json::json!({ "id": m.id.0 }).to_string())
        });
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        if follow_answer(&state, id, &sender).await {
            return;
        }
        // Finished before (or while) this page joined: the stored answer.
        let messages = state.store.messages(user.user.id, id).await;
        let sources = state.store.conversation_sources(user.user.id, id).await;
        if let (Ok(messages), Ok(sources)) = (messages, sources)
            && let Some(last) = messages
                .iter()
                .rev()
                .find(|m| m.role == MessageRole::Assistant)
        {
            let own: Vec<_> = sources
                .into_iter()
                .filter(|(message, _)| *message == last.id)
                .map(|(_, s)| s)
                .collect();
            let _ = sender.send(answer::Progress::done(last, &own)).await;
        }
    });
    let events = ReceiverStream::new(receiver).map(|p| Ok(progress_event(&p)));
    let opening = futures::stream::iter(question.into_iter().map(Ok));
    Ok(answer::event_stream(opening.chain(events)))
}

/// Passes the running answer's events to `sender` until `done`; false when
/// no answer is running or it ended without this page seeing `done`.
async fn follow_answer(
    state: &AppState,
    id: ConversationId,
    sender: &tokio::sync::mpsc::Sender<answer::Progress>,
) -> bool {
    use tokio::sync::broadcast::error::RecvError;
    let Some(following) = state.chat.running.follow(id).map(|f| f.join()) else {
        return false;
    };
    for progress in following.snapshot {
        if sender.send(progress).await.is_err() {
            return true;
        }
    }
    let mut events = following.events;
    loop {
        let progress = match events.recv().await {
            Ok(progress) => progress,
            // Too slow to keep up: the whole answer so far again.
            Err(RecvError::Lagged(_)) => {
                let Some(follow) = state.chat.running.follow(id) else {
                    return false;
                };
                events = events.resubscribe();
                for progress in follow.snapshot() {
                    if sender.send(progress).await.is_err() {
                        return true;
                    }
                }
                continue;
            }
            Err(RecvError::Closed) => return false,
        };
        let done = matches!(progress, answer::Progress::Done { .. });
        if sender.send(progress).await.is_err() || done {
            return true;
        }
    }
}

#[derive(Deserialize)]
struct EditForm {
    content: String,
}

/// The answer (or, for an edit, the question) a page acted on.
struct Again {
    user: CurrentUser,
    id: ConversationId,
    message: MessageId,
}

impl Again {
    /// Answers again as `turn` says, and responds as a new answer does.
    async fn respond(
        self,
        state: &AppState,
        shell: Shell,
        headers: &HeaderMap,
        turn: answer::Turn,
    ) -> AppResult<Response> {
        // An edited question goes back in the box if it is refused.
        let question = match &turn {
            answer::Turn::Edit(content) => Some(content.clone()),
            _ => None,
        };
        let Again { user, id, message } = self;
        let listener = listener_for(headers);
        let started =
            conversations::answer_again(state, &user.user, id, message, turn, listener).await;
        let opening = Opening {
            new: false,
            question,
        };
        answer_response(state, shell, &user, id, headers, started, opening).await
    }
}

/// Writes the last answer again.
async fn regenerate(
    State(state): State<AppState>,
    shell: Shell,
    user: CurrentUser,
    headers: HeaderMap,
    Path((id, message)): Path<(ConversationId, MessageId)>,
) -> AppResult<Response> {
    let again = Again { user, id, message };
    again
        .respond(&state, shell, &headers, answer::Turn::Regenerate)
        .await
}

/// Replaces the latest question and answers it again.
async fn edit(
    State(state): State<AppState>,
    shell: Shell,
    user: CurrentUser,
    headers: HeaderMap,
    Path((id, message)): Path<(ConversationId, MessageId)>,
    Form(form): Form<EditForm>,
) -> AppResult<Response> {
    let again = Again { user, id, message };
    again
        .respond(&state, shell, &headers, answer::Turn::Edit(form.content))
        .await
}

/// Writes more of a cut-off answer.
async fn continue_answer(
    State(state): State<AppState>,
    shell: Shell,
    user: CurrentUser,
    headers: HeaderMap,
    Path((id, message)): Path<(ConversationId, MessageId)>,
) -> AppResult<Response> {
    let again = Again { user, id, message };
    again
        .respond(&state, shell, &headers, answer::Turn::Continue)
        .await
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
