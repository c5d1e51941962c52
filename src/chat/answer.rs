//! Answering a message: one task per answer drives the engine's generation,
//! forwards its progress to whoever is listening (a browser's stream, an API
//! client, or a no-JavaScript form waiting for the end), and stores the
//! answer when it ends, also when the listener has gone away. A listener that
//! goes away stops the generation within one decode step.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::llm::{EngineError, Event, FinishReason, Generation, Message, Role};
use crate::store::{
    AnswerSource, ConversationId, MessageId, MessageRole, MessageSource, MessageStatus, NewAnswer,
    StoredMessage, User, UserId,
};
use crate::web::markdown;

/// How often the browser gets a fresh rendering of the answer so far.
const HTML_INTERVAL: Duration = Duration::from_millis(60);

/// How often the text of an answer being written is saved, so that a crash
/// (power cut, kill -9) loses at most this much of it. One small write per
/// answer per second costs nothing next to generating it.
const DRAFT_INTERVAL: Duration = Duration::from_secs(1);

/// Answers being written now, by conversation: at most one per
/// conversation, and Stop finds it here.
#[derive(Default)]
pub struct Running {
    by_conversation: Mutex<HashMap<ConversationId, Entry>>,
}

#[derive(Default)]
struct Entry {
    /// The engine's generation, once it has one.
    generation: Option<u64>,
    /// Stop was pressed before the generation started.
    stop_requested: bool,
}

/// The right to answer in one conversation, taken atomically by
/// [`Running::claim`] and given back when dropped.
pub struct Claim {
    running: Arc<Running>,
    conversation: ConversationId,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.running.lock().remove(&self.conversation);
    }
}

impl Claim {
    /// Records the generation so Stop can find it; false when Stop was
    /// pressed before it started (the caller cancels it then).
    fn started(&self, generation: u64) -> bool {
        let mut map = self.running.lock();
        let entry = map.entry(self.conversation).or_default();
        entry.generation = Some(generation);
        !entry.stop_requested
    }
}

impl Running {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ConversationId, Entry>> {
        self.by_conversation
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the conversation for one answer, or refuses when an answer is
    /// already being written there. Check and take are one step, so two
    /// messages sent at the same instant cannot both start answers.
    pub fn claim(self: &Arc<Self>, conversation: ConversationId) -> Option<Claim> {
        let mut map = self.lock();
        if map.contains_key(&conversation) {
            return None;
        }
        map.insert(conversation, Entry::default());
        Some(Claim {
            running: self.clone(),
            conversation,
        })
    }

    /// Stops the answer being written in conversation `id`, if any.
    pub fn stop(&self, engine: &crate::llm::Engine, id: ConversationId) {
        let generation = {
            let mut map = self.lock();
            let Some(entry) = map.get_mut(&id) else {
                return;
            };
            entry.stop_requested = true;
            entry.generation
        };
        if let Some(generation) = generation {
            engine.cancel(generation);
        }
    }

    /// Whether an answer is being written in conversation `id`.
    pub fn is_answering(&self, id: ConversationId) -> bool {
        self.lock().contains_key(&id)
    }
}

/// Who is waiting for an answer, which decides when it stops early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// Follows the progress events (a browser's stream, a streamed API
    /// call); the answer stops when the stream is dropped.
    Stream,
    /// Waits for the stored answer only (a form without JavaScript, a
    /// non-streamed API call); the answer stops when the waiter goes away.
    Wait,
}

/// What a listener hears about an answer in progress.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Progress {
    /// Waiting for the model, with this many answers ahead.
    Queued { ahead: usize },
    /// The model is reading the conversation; `dropped` older messages did not fit.
    Started { dropped: usize },
    /// A new piece of text, and (at most every 60 ms) the whole answer so far
    /// as sanitised HTML.
    Token { text: String, html: Option<String> },
    /// The answer is stored.
    Done {
        message_id: i64,
        status: MessageStatus,
        html: String,
        source: String,
        tokens_per_second: Option<f64>,
        /// The passages the answer was given (HTML list), if any.
        sources_html: String,
    },
    /// No answer: the message says why.
    Error { message: String },
}

/// An answer on its way: progress for a [`Listener::Stream`] (closed at
/// once for [`Listener::Wait`]), and the stored answer when it ends.
pub struct Answer {
    pub progress: mpsc::Receiver<Progress>,
    pub stored: oneshot::Receiver<StoredMessage>,
}

impl Answer {
    /// Waits for the stored answer. Dropping this future stops an answer
    /// started for [`Listener::Wait`].
    pub async fn stored(self) -> AppResult<StoredMessage> {
        drop(self.progress);
        self.stored
            .await
            .map_err(|_| AppError::Internal(anyhow::anyhow!("the answer was not stored")))
    }
}

/// Starts answering the conversation's latest message, holding `claim` until
/// the answer is stored. Progress goes to the returned receiver (for
/// [`Listener::Stream`]); the answer is stored whatever happens to it, and
/// saved as it is written. When the conversation answers from documents, the
/// best passages the person may see go to the model with the question, and
/// the answer is stored with them; when none match, the answer says so
/// without asking the model.
pub async fn start(
    state: &AppState,
    user: &User,
    conversation: ConversationId,
    claim: Claim,
    listener: Listener,
) -> AppResult<Answer> {
    let history = state.store.messages(user.id, conversation).await?;
    let mut messages: Vec<Message> = history
        .iter()
        .filter(|m| {
            let unfinished = matches!(m.status, MessageStatus::Failed | MessageStatus::Writing);
            let empty_answer = m.role == MessageRole::Assistant && m.content.is_empty();
            !unfinished && !empty_answer
        })
        .map(|m| {
            let role = if m.role == MessageRole::User {
                Role::User
            } else {
                Role::Assistant
            };
            Message::new(role, m.content.clone())
        })
        .collect();
    let first_answer = !history.iter().any(|m| m.role == MessageRole::Assistant);
    let (use_documents, picked) = state
        .store
        .conversation_documents(user.id, conversation)
        .await?;
    let question = messages
        .last()
        .filter(|m| m.role == Role::User)
        .map(|m| m.content.clone());
    let grounding = match (&question, use_documents) {
        (Some(question), true) => {
            crate::chat::grounding::ground(state, user, &picked, question).await?
        }
        _ => None,
    };
    let settings = state.chat.assistant();
    let mut sources = Vec::new();
    if let Some(grounding) = grounding {
        if grounding.sources.is_empty() {
            let content = crate::chat::grounding::nothing_found(&grounding.searched);
            return answer_directly(state, user.id, conversation, content, first_answer).await;
        }
        if let Some(last) = messages.last_mut() {
            last.content = grounding.prompt;
        }
        sources = grounding.sources;
    }
    let mut request = settings.request(&state.auth.business_name(), messages);
    if !sources.is_empty() {
        let instructions = crate::chat::grounding::INSTRUCTIONS;
        match request.messages.first_mut() {
            Some(system) if system.role == Role::System => {
                system.content = format!("{}\n\n{instructions}", system.content);
            }
            _ => request
                .messages
                .insert(0, Message::new(Role::System, instructions)),
        }
    }
    let generation = state.chat.engine.generate(request)?;
    let draft = match state.store.begin_answer(user.id, conversation).await {
        Ok(draft) => draft,
        Err(err) => {
            generation.cancel();
            return Err(err.into());
        }
    };
    if !claim.started(generation.id) {
        generation.cancel();
    }
    let (progress, receiver) = mpsc::channel(256);
    let (stored, stored_receiver) = oneshot::channel();
    let listening = match listener {
        Listener::Stream => Some(progress),
        Listener::Wait => None,
    };
    tokio::spawn(
        Driver {
            state: state.clone(),
            user: user.id,
            conversation,
            message: draft.id,
            progress: listening,
            stored,
            first_answer,
            sources,
            _claim: claim,
        }
        .run(generation),
    );
    Ok(Answer {
        progress: receiver,
        stored: stored_receiver,
    })
}

/// Stores `content` as the answer without the model (nothing was found in
/// the documents) and reports it as done.
async fn answer_directly(
    state: &AppState,
    user: UserId,
    conversation: ConversationId,
    content: String,
    first_answer: bool,
) -> AppResult<Answer> {
    let draft = state.store.begin_answer(user, conversation).await?;
    let saved = state
        .store
        .finish_answer(
            draft.id,
            NewAnswer {
                content,
                status: MessageStatus::Done,
                source: AnswerSource::NothingFoundInDocuments,
                prompt_tokens: 0,
                completion_tokens: 0,
                tokens_per_second: None,
                dropped_messages: 0,
            },
        )
        .await?;
    let (progress, receiver) = mpsc::channel(4);
    let (stored, stored_receiver) = oneshot::channel();
    let _ = progress.try_send(Progress::Done {
        message_id: saved.id.0,
        status: saved.status,
        html: markdown::render(&saved.content),
        source: saved.source.label(),
        tokens_per_second: None,
        sources_html: String::new(),
    });
    let _ = stored.send(saved);
    if first_answer {
        let state = state.clone();
        tokio::spawn(async move { name_conversation(&state, user, conversation).await });
    }
    Ok(Answer {
        progress: receiver,
        stored: stored_receiver,
    })
}

/// A server-sent event stream response: kept alive, never cached.
pub fn event_stream<S>(events: S) -> axum::response::Response
where
    S: futures::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>
        + Send
        + 'static,
{
    use axum::response::IntoResponse;
    let mut response = axum::response::sse::Sse::new(events)
        .keep_alive(axum::response::sse::KeepAlive::default())
        .into_response();
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-cache"),
    );
    response
}

/// The task that follows one generation to its end and stores the answer.
struct Driver {
    state: AppState,
    user: UserId,
    conversation: ConversationId,
    /// The `writing` message the answer is saved into.
    message: MessageId,
    /// Where progress goes, while someone follows it.
    progress: Option<mpsc::Sender<Progress>>,
    stored: oneshot::Sender<StoredMessage>,
    first_answer: bool,
    sources: Vec<MessageSource>,
    /// Held until the answer is stored.
    _claim: Claim,
}

impl Driver {
    async fn run(mut self, mut generation: Generation) {
        let mut text = String::new();
        let mut dropped = 0usize;
        let mut last_html = Instant::now() - HTML_INTERVAL;
        let mut saved_draft = Instant::now();
        let mut draft_dirty = false;
        let mut cancelled = false;
        let outcome = loop {
            let event = tokio::select! {
                event = generation.events.recv() => event,
                // A waiter that goes away (a closed connection) stops the answer.
                _ = self.stored.closed(), if self.progress.is_none() && !cancelled => {
                    cancelled = true;
                    generation.cancel();
                    continue;
                }
            };
            let Some(event) = event else { break None };
            let message = match event {
                Event::Queued { ahead } => Progress::Queued { ahead },
                Event::Started {
                    dropped_messages, ..
                } => {
                    dropped = dropped_messages;
                    Progress::Started { dropped }
                }
                Event::Text(piece) => {
                    text.push_str(&piece);
                    draft_dirty = true;
                    let html = (self.progress.is_some() && last_html.elapsed() >= HTML_INTERVAL)
                        .then(|| {
                            last_html = Instant::now();
                            markdown::render(&crate::chat::grounding::link_citations(
                                &text,
                                &self.sources,
                            ))
                        });
                    Progress::Token { text: piece, html }
                }
                Event::Finished(finished) => break Some(Ok(finished)),
                Event::Failed(err) => break Some(Err(err)),
            };
            if draft_dirty && saved_draft.elapsed() >= DRAFT_INTERVAL {
                saved_draft = Instant::now();
                draft_dirty = false;
                self.save_draft(&text, dropped).await;
            }
            if let Some(progress) = &self.progress
                && progress.send(message).await.is_err()
            {
                // The listener left (closed tab, dropped connection): stop.
                self.progress = None;
                cancelled = true;
                generation.cancel();
            }
        };
        drop(generation);
        let answer = self.answer(text, dropped, outcome).await;
        self.store(answer).await;
    }

    async fn save_draft(&self, text: &str, dropped: usize) {
        if let Err(err) = self
            .state
            .store
            .save_answer_draft(self.message, text.to_string(), dropped as i64)
            .await
        {
            tracing::debug!(error = %err, message = self.message.0, "answer draft not saved");
        }
    }

    /// The answer to store for how the generation ended.
    async fn answer(
        &mut self,
        text: String,
        dropped: usize,
        outcome: Option<Result<crate::llm::Finished, EngineError>>,
    ) -> NewAnswer {
        let failed = NewAnswer {
            content: text.clone(),
            status: MessageStatus::Failed,
            source: AnswerSource::None,
            prompt_tokens: 0,
            completion_tokens: 0,
            tokens_per_second: None,
            dropped_messages: dropped as i64,
        };
        match outcome {
            Some(Ok(finished)) => NewAnswer {
                tokens_per_second: Some(finished.tokens_per_second()).filter(|t| *t > 0.0),
                content: text,
                status: match finished.reason {
                    FinishReason::Stop => MessageStatus::Done,
                    FinishReason::Length => MessageStatus::Length,
                    FinishReason::Cancelled => MessageStatus::Stopped,
                },
                source: if self.sources.is_empty() {
                    AnswerSource::Local {
                        model: finished.model,
                    }
                } else {
                    AnswerSource::DocumentsAndLocal {
                        model: finished.model,
                    }
                },
                prompt_tokens: finished.prompt_tokens as i64,
                completion_tokens: finished.completion_tokens as i64,
                dropped_messages: dropped as i64,
            },
            Some(Err(err)) => {
                let message = AppError::from(err).to_string();
                self.send(Progress::Error { message }).await;
                failed
            }
            None => failed,
        }
    }

    async fn send(&self, progress: Progress) {
        if let Some(sender) = &self.progress {
            let _ = sender.send(progress).await;
        }
    }

    /// Stores the finished answer and its sources, tells the listener, and
    /// names a new conversation.
    async fn store(self, answer: NewAnswer) {
        let saved = match self.state.store.finish_answer(self.message, answer).await {
            Ok(saved) => saved,
            Err(err) => {
                // The conversation was deleted while answering, or the disk failed.
                tracing::warn!(error = %err, conversation = self.conversation.0, "answer not stored");
                self.send(Progress::Error {
                    message: "The answer could not be saved.".into(),
                })
                .await;
                return;
            }
        };
        if !self.sources.is_empty()
            && let Err(err) = self
                .state
                .store
                .add_message_sources(saved.id, self.sources.clone())
                .await
        {
            tracing::warn!(error = %err, "the answer's sources were not stored");
        }
        self.send(Progress::Done {
            message_id: saved.id.0,
            status: saved.status,
            html: markdown::render(&crate::chat::grounding::link_citations(
                &saved.content,
                &self.sources,
            )),
            source: saved.source.label(),
            tokens_per_second: saved.tokens_per_second,
            sources_html: crate::chat::grounding::render_sources(&self.sources),
        })
        .await;
        let Driver {
            state,
            user,
            conversation,
            progress,
            stored,
            first_answer,
            _claim,
            ..
        } = self;
        let _ = stored.send(saved.clone());
        // The answer is complete: end the listener's stream and free the
        // conversation now, not after the title.
        drop(progress);
        drop(_claim);
        if first_answer && saved.status != MessageStatus::Failed {
            name_conversation(&state, user, conversation).await;
        }
    }
}

/// Asks the model for a short title from the first exchange. The title
/// replaces the automatic one only if nobody renamed the conversation.
async fn name_conversation(state: &AppState, user: UserId, conversation: ConversationId) {
    let Ok(history) = state.store.messages(user, conversation).await else {
        return;
    };
    let Some(first) = history.iter().find(|m| m.role == MessageRole::User) else {
        return;
    };
    let excerpt: String = first.content.chars().take(600).collect();
    let request = crate::llm::Request {
        messages: vec![
            Message::new(
                Role::System,
                "You write short, specific titles. Reply with the title only.",
            ),
            Message::new(
                Role::User,
                format!(
                    "Write a title of at most six words for a conversation that begins with this message:\n\n{excerpt}"
                ),
            ),
        ],
        sampling: crate::llm::Sampling {
            temperature: 0.0,
            max_tokens: 20,
            ..Default::default()
        },
        grammar: None,
    };
    let Ok(generation) = state.chat.engine.generate(request) else {
        return;
    };
    let Ok(answer) = generation.collect().await else {
        return;
    };
    let title = clean_title(&answer.text);
    if title.is_empty() {
        return;
    }
    if let Err(err) = state
        .store
        .rename_conversation(user, conversation, title, crate::store::TitleBy::Model)
        .await
    {
        tracing::debug!(error = %err, "automatic title not stored");
    }
}

/// The first line of a generated title, without quotes, "Title:" or a final
/// full stop, at most 60 characters.
pub fn clean_title(raw: &str) -> String {
    let line = raw
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    let line = line
        .trim_start_matches(|c: char| c == '#' || c == '*' || c.is_whitespace())
        .trim_start_matches("Title:")
        .trim_start_matches("title:")
        .trim()
        .trim_matches(|c: char| c == '"' || c == '\'' || c == '*' || c == '`')
        .trim_end_matches('.')
        .trim();
    crate::text::truncate_words(line, 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str, expected: &str) {
        assert_eq!(clean_title(raw), expected, "{raw:?}");
    }

    #[test]
    fn titles_are_cleaned() {
        check("\"Booking a cleaning\"", "Booking a cleaning");
        check("Title: Opening hours.\nMore text", "Opening hours");
        check("  ## **Invoice question**  ", "Invoice question");
        check("", "");
        check(
            &"word ".repeat(40),
            "word word word word word word word word word word word word…",
        );
    }
}
