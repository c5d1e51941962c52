//! Answering a message: one task per answer drives the engine's generation,
//! forwards its progress to whoever is listening (a browser's stream, an API
//! client, or a no-JavaScript form waiting for the end), and stores the
//! answer when it ends, also when the listener has gone away. A listener that
//! goes away stops the generation within one decode step.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use super::markdown;
use crate::app::AppState;
use crate::audit;
use crate::error::{AppError, AppResult};
use crate::llm::{EngineError, Event, FinishReason, Generation, Message, Role};
use crate::store::{ConversationId, MessageSource, NewAnswer, StoredMessage, User, UserId};

/// How often the browser gets a fresh rendering of the answer so far.
const HTML_INTERVAL: Duration = Duration::from_millis(60);

/// Generations running now, by conversation, so Stop can find them.
#[derive(Default)]
pub struct Running {
    by_conversation: Mutex<HashMap<ConversationId, u64>>,
}

impl Running {
    fn insert(&self, id: ConversationId, generation: u64) {
        self.by_conversation
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, generation);
    }

    fn remove(&self, id: ConversationId, generation: u64) {
        let mut map = self
            .by_conversation
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if map.get(&id) == Some(&generation) {
            map.remove(&id);
        }
    }

    /// Stops the answer being written in conversation `id`, if any.
    pub fn stop(&self, engine: &crate::llm::Engine, id: ConversationId) {
        if let Some(generation) = self.get(id) {
            engine.cancel(generation);
        }
    }

    pub fn get(&self, id: ConversationId) -> Option<u64> {
        self.by_conversation
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .copied()
    }
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
        status: &'static str,
        html: String,
        source: String,
        tokens_per_second: Option<f64>,
        /// The passages the answer was given (HTML list), if any.
        sources_html: String,
    },
    /// No answer: the message says why.
    Error { message: String },
}

/// Starts answering the conversation's latest message. Progress goes to the
/// returned receiver; the answer is stored whatever happens to it. When the
/// conversation answers from documents, the best passages the person may
/// see go to the model with the question, and the answer is stored with
/// them; when none match, the answer says so without asking the model.
pub async fn start(
    state: &AppState,
    user: &User,
    conversation: ConversationId,
) -> AppResult<(mpsc::Receiver<Progress>, oneshot::Receiver<StoredMessage>)> {
    let history = state.store.messages(user.id, conversation).await?;
    let mut messages: Vec<Message> = history
        .iter()
        .filter(|m| m.status != "failed" && !(m.role == "assistant" && m.content.is_empty()))
        .map(|m| {
            let role = if m.role == "user" {
                Role::User
            } else {
                Role::Assistant
            };
            Message::new(role, m.content.clone())
        })
        .collect();
    let first_answer = !history.iter().any(|m| m.role == "assistant");
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
            crate::docs::answer::ground(state, user, &picked, question).await?
        }
        _ => None,
    };
    let settings = state.assistant();
    let mut sources = Vec::new();
    if let Some(grounding) = grounding {
        if grounding.sources.is_empty() {
            let content = crate::docs::answer::nothing_found(&grounding.searched);
            return answer_directly(state, user.id, conversation, content, first_answer).await;
        }
        if let Some(last) = messages.last_mut() {
            last.content = grounding.prompt;
        }
        sources = grounding.sources;
    }
    let mut request = settings.request(&state.business_name(), messages);
    if !sources.is_empty() {
        let instructions = crate::docs::answer::INSTRUCTIONS;
        match request.messages.first_mut() {
            Some(system) if system.role == Role::System => {
                system.content = format!("{}\n\n{instructions}", system.content);
            }
            _ => request
                .messages
                .insert(0, Message::new(Role::System, instructions)),
        }
    }
    let generation = state.engine.generate(request).map_err(engine_error)?;
    state.running.insert(conversation, generation.id);
    let (progress, receiver) = mpsc::channel(256);
    let (stored, stored_receiver) = oneshot::channel();
    tokio::spawn(drive(
        state.clone(),
        user.id,
        conversation,
        generation,
        progress,
        stored,
        first_answer,
        sources,
    ));
    Ok((receiver, stored_receiver))
}

/// Stores `content` as the answer without the model (nothing was found in
/// the documents) and reports it as done.
async fn answer_directly(
    state: &AppState,
    user: UserId,
    conversation: ConversationId,
    content: String,
    first_answer: bool,
) -> AppResult<(mpsc::Receiver<Progress>, oneshot::Receiver<StoredMessage>)> {
    let saved = state
        .store
        .add_answer(
            user,
            conversation,
            NewAnswer {
                content,
                status: "done",
                source: "documents:none".into(),
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
        status: status_label(&saved.status),
        html: markdown::render(&saved.content),
        source: saved.source.clone(),
        tokens_per_second: None,
        sources_html: String::new(),
    });
    let _ = stored.send(saved);
    if first_answer {
        let state = state.clone();
        tokio::spawn(async move { name_conversation(&state, user, conversation).await });
    }
    Ok((receiver, stored_receiver))
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

/// Maps the engine's refusals to what a person or client can act on.
pub fn engine_error(err: EngineError) -> AppError {
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
        EngineError::Failed(why) => AppError::Internal(anyhow::anyhow!("generation failed: {why}")),
    }
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    state: AppState,
    user: UserId,
    conversation: ConversationId,
    mut generation: Generation,
    progress: mpsc::Sender<Progress>,
    stored: oneshot::Sender<StoredMessage>,
    first_answer: bool,
    sources: Vec<MessageSource>,
) {
    let mut text = String::new();
    let mut dropped = 0usize;
    let mut listening = true;
    let mut last_html = Instant::now() - HTML_INTERVAL;
    let mut outcome: Option<Result<crate::llm::Finished, EngineError>> = None;
    while let Some(event) = generation.events.recv().await {
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
                let html = (last_html.elapsed() >= HTML_INTERVAL).then(|| {
                    last_html = Instant::now();
                    markdown::render(&crate::docs::answer::link_citations(&text, &sources))
                });
                Progress::Token { text: piece, html }
            }
            Event::Finished(finished) => {
                outcome = Some(Ok(finished));
                break;
            }
            Event::Failed(err) => {
                outcome = Some(Err(err));
                break;
            }
        };
        if listening && progress.send(message).await.is_err() {
            // The listener left (closed tab, dropped connection): stop.
            listening = false;
            generation.cancel();
        }
    }
    state.running.remove(conversation, generation.id);
    drop(generation);

    let answer = match &outcome {
        Some(Ok(finished)) => NewAnswer {
            content: text.clone(),
            status: match finished.reason {
                FinishReason::Stop => "done",
                FinishReason::Length => "length",
                FinishReason::Cancelled => "stopped",
            },
            source: if sources.is_empty() {
                format!("local:{}", finished.model)
            } else {
                format!("documents+local:{}", finished.model)
            },
            prompt_tokens: finished.prompt_tokens as i64,
            completion_tokens: finished.completion_tokens as i64,
            tokens_per_second: Some(finished.tokens_per_second()).filter(|t| *t > 0.0),
            dropped_messages: dropped as i64,
        },
        Some(Err(err)) => {
            let message = engine_error(err.clone()).to_string();
            if listening {
                let _ = progress
                    .send(Progress::Error {
                        message: message.clone(),
                    })
                    .await;
            }
            NewAnswer {
                content: text.clone(),
                status: "failed",
                source: String::new(),
                prompt_tokens: 0,
                completion_tokens: 0,
                tokens_per_second: None,
                dropped_messages: dropped as i64,
            }
        }
        None => NewAnswer {
            content: text.clone(),
            status: "failed",
            source: String::new(),
            prompt_tokens: 0,
            completion_tokens: 0,
            tokens_per_second: None,
            dropped_messages: dropped as i64,
        },
    };
    let saved = match state.store.add_answer(user, conversation, answer).await {
        Ok(saved) => saved,
        Err(err) => {
            // The conversation was deleted while answering, or the disk failed.
            tracing::warn!(error = %err, conversation = conversation.0, "answer not stored");
            if listening {
                let _ = progress
                    .send(Progress::Error {
                        message: "The answer could not be saved.".into(),
                    })
                    .await;
            }
            return;
        }
    };
    if !sources.is_empty()
        && let Err(err) = state
            .store
            .add_message_sources(saved.id, sources.clone())
            .await
    {
        tracing::warn!(error = %err, "the answer's sources were not stored");
    }
    if listening {
        let _ = progress
            .send(Progress::Done {
                message_id: saved.id.0,
                status: status_label(&saved.status),
                html: markdown::render(&crate::docs::answer::link_citations(
                    &saved.content,
                    &sources,
                )),
                source: crate::chat::source_label(&saved.source),
                tokens_per_second: saved.tokens_per_second,
                sources_html: crate::docs::answer::render_sources(&sources),
            })
            .await;
    }
    let _ = stored.send(saved.clone());
    // The answer is complete: end the listener's stream now, not after the title.
    drop(progress);
    if first_answer && saved.status != "failed" {
        name_conversation(&state, user, conversation).await;
    }
}

pub fn status_label(status: &str) -> &'static str {
    match status {
        "done" => "done",
        "stopped" => "stopped",
        "length" => "length",
        _ => "failed",
    }
}

/// Asks the model for a short title from the first exchange. The title
/// replaces the automatic one only if nobody renamed the conversation.
async fn name_conversation(state: &AppState, user: UserId, conversation: ConversationId) {
    let Ok(history) = state.store.messages(user, conversation).await else {
        return;
    };
    let Some(first) = history.iter().find(|m| m.role == "user") else {
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
    };
    let Ok(mut generation) = state.engine.generate(request) else {
        return;
    };
    let mut title = String::new();
    while let Some(event) = generation.events.recv().await {
        match event {
            Event::Text(piece) => title.push_str(&piece),
            Event::Finished(_) | Event::Failed(_) => break,
            _ => {}
        }
    }
    let title = clean_title(&title);
    if title.is_empty() {
        return;
    }
    if let Err(err) = state
        .store
        .rename_conversation(user, conversation, title, true)
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
    truncate_words(line, 60)
}

/// The first words of `text` within `max` characters, with an ellipsis if cut.
pub fn truncate_words(text: &str, max: usize) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= max {
        return text;
    }
    let mut out = String::new();
    for word in text.split(' ') {
        if out.chars().count() + word.chars().count() + 1 > max.saturating_sub(1) {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.is_empty() {
        out = text.chars().take(max.saturating_sub(1)).collect();
    }
    out.push('…');
    out
}

/// Records a conversation-level event in the audit log.
pub async fn audit_conversation(
    state: &AppState,
    user: &crate::store::User,
    ip: &str,
    action: &str,
    conversation: ConversationId,
) -> AppResult<()> {
    audit::record(
        &state.store,
        audit::Actor::User(user),
        ip,
        audit::Event::ok(action, format!("conversation {}", conversation.0)),
    )
    .await
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
