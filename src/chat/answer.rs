//! Answering a message: one task per answer drives the engine's generation,
//! forwards its progress to whoever is listening (the browser's stream that
//! asked, pages that come back to the conversation later, an API client, or
//! a no-JavaScript form waiting for the end), and stores the answer when it
//! ends. An answer keeps going when its listeners go away (another
//! conversation opened, the tab closed): only Stop stops it, and coming back
//! shows it, streaming again while it is still being written.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::llm::{EngineError, Event, FinishReason, Generation, Message, Role};
use crate::store::{
    AnswerSource, ConversationId, DocumentsMode, MessageId, MessageRole, MessageSource,
    MessageStatus, NewAnswer, StoredMessage, User, UserId,
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
    /// What stops the generation, once there is one.
    generation: Option<crate::llm::Stopper>,
    /// Stop was pressed before the generation started.
    stop_requested: bool,
    /// The answer so far, for pages that come back to the conversation.
    follow: Arc<Follow>,
}

/// Events after this many unread ones are dropped for a slow follower,
/// which then gets the whole answer so far again instead.
const FOLLOW_BUFFER: usize = 512;

/// An answer being written, as pages that come back to its conversation see
/// it: the text so far and where it is in the queue, and every event after.
/// The text and the events change under one lock, so a follower that joins
/// gets exactly the events after its snapshot.
pub struct Follow {
    inner: Mutex<FollowState>,
}

struct FollowState {
    text: String,
    /// Answers ahead in the queue, while it waits.
    ahead: Option<usize>,
    sources: Vec<MessageSource>,
    /// The stored message the answer is written into, once it exists.
    message: Option<MessageId>,
    events: broadcast::Sender<Progress>,
}

impl Default for Follow {
    fn default() -> Self {
        Follow {
            inner: Mutex::new(FollowState {
                text: String::new(),
                ahead: None,
                sources: Vec::new(),
                message: None,
                events: broadcast::channel(FOLLOW_BUFFER).0,
            }),
        }
    }
}

/// A page following an answer: what was written before it came, then the
/// events after.
pub struct Following {
    pub snapshot: Vec<Progress>,
    pub events: broadcast::Receiver<Progress>,
    pub message: Option<MessageId>,
}

impl Follow {
    fn lock(&self) -> std::sync::MutexGuard<'_, FollowState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the answer over `text` (an answer being continued) with its sources.
    fn begin(&self, message: MessageId, text: &str, sources: &[MessageSource]) {
        let mut state = self.lock();
        state.message = Some(message);
        state.text = text.to_string();
        state.sources = sources.to_vec();
    }

    /// Records `progress` and passes it to the followers.
    fn publish(&self, progress: &Progress) {
        let mut state = self.lock();
        match progress {
            Progress::Queued { ahead } => state.ahead = Some(*ahead),
            Progress::Started { .. } => state.ahead = None,
            Progress::Token { text, .. } => state.text.push_str(text),
            _ => {}
        }
        // No receiver is not an error: nobody came back (yet).
        let _ = state.events.send(progress.clone());
    }

    fn has_followers(&self) -> bool {
        self.lock().events.receiver_count() > 0
    }

    /// The answer so far as events (its queue place, then its text as HTML),
    /// and a receiver for the events after them.
    pub fn join(&self) -> Following {
        let state = self.lock();
        Following {
            snapshot: Self::snapshot_of(&state),
            events: state.events.subscribe(),
            message: state.message,
        }
    }

    /// The answer so far, for a follower that fell behind.
    pub fn snapshot(&self) -> Vec<Progress> {
        Self::snapshot_of(&self.lock())
    }

    fn snapshot_of(state: &FollowState) -> Vec<Progress> {
        let mut events = Vec::new();
        if let Some(ahead) = state.ahead {
            events.push(Progress::Queued { ahead });
        }
        if !state.text.is_empty() {
            events.push(Progress::Token {
                text: String::new(),
                html: Some(markdown::render(&crate::chat::grounding::link_citations(
                    &state.text,
                    &state.sources,
                ))),
            });
        }
        events
    }
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
    /// What pages that come back to the conversation follow.
    fn follow(&self) -> Arc<Follow> {
        let mut map = self.running.lock();
        map.entry(self.conversation).or_default().follow.clone()
    }

    /// Records the generation so Stop can find it; false when Stop was
    /// pressed before it started (the caller cancels it then).
    fn started(&self, generation: crate::llm::Stopper) -> bool {
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
    pub fn stop(&self, id: ConversationId) {
        let generation = {
            let mut map = self.lock();
            let Some(entry) = map.get_mut(&id) else {
                return;
            };
            entry.stop_requested = true;
            entry.generation.clone()
        };
        if let Some(generation) = generation {
            generation.stop();
        }
    }

    /// Whether an answer is being written in conversation `id`.
    pub fn is_answering(&self, id: ConversationId) -> bool {
        self.lock().contains_key(&id)
    }

    /// The conversations (of everyone) with an answer being written now.
    pub fn answering(&self) -> Vec<ConversationId> {
        self.lock().keys().copied().collect()
    }

    /// Follows the answer being written in conversation `id`, if any.
    pub fn follow(&self, id: ConversationId) -> Option<Arc<Follow>> {
        self.lock().get(&id).map(|entry| entry.follow.clone())
    }
}

/// Who is waiting for an answer. Neither stops it by going away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// Follows the progress events (a browser's stream, a streamed API call).
    Stream,
    /// Waits for the stored answer only (a form without JavaScript, a
    /// non-streamed API call).
    Wait,
}

/// What a new answer does in its conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Turn {
    /// Answers the latest question.
    Next,
    /// Answers the latest question again, replacing the last answer.
    Regenerate,
    /// Replaces the latest question with this text and answers it; the old
    /// answer goes.
    Edit(String),
    /// Writes more of the last answer, which was cut off.
    Continue,
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
        /// The answer as the model wrote it (for "Copy as Markdown").
        markdown: String,
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
    /// The question answered (an edited question keeps its id).
    pub question: MessageId,
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

/// The messages a turn answers, read from the stored conversation.
struct Plan {
    /// What the model reads, oldest first: ending with the question, or
    /// with the answer being continued.
    messages: Vec<Message>,
    /// The question answered.
    question: StoredMessage,
    /// The answer being continued.
    continued: Option<StoredMessage>,
    /// No answer came before this one (the conversation gets its title after it).
    first_answer: bool,
}

impl Plan {
    /// Checks that `turn` fits the conversation (a regenerated answer is the
    /// last message, an edited question the latest, a continued answer was
    /// cut off) and that `seen`, the message the page acted on, is still
    /// that one; gathers what the model reads.
    fn of(history: &[StoredMessage], turn: &Turn, seen: Option<MessageId>) -> AppResult<Plan> {
        let last = history.last();
        if let Some(seen) = seen {
            let latest = match turn {
                Turn::Edit(_) => history.iter().rfind(|m| m.role == MessageRole::User),
                _ => last,
            };
            if latest.map(|m| m.id) != Some(seen) {
                return Err(AppError::Conflict(
                    "This conversation has changed since the page was shown. Reload it and try again."
                        .into(),
                ));
            }
        }
        let answered_last = last.is_some_and(|m| m.role == MessageRole::Assistant);
        let question_at = history
            .iter()
            .rposition(|m| m.role == MessageRole::User)
            .ok_or_else(|| AppError::bad_request("This conversation has no question yet."))?;
        match turn {
            Turn::Next if answered_last => {
                return Err(AppError::bad_request(
                    "The latest message is already answered.",
                ));
            }
            Turn::Regenerate if !answered_last => {
                return Err(AppError::bad_request("There is no answer to write again."));
            }
            Turn::Continue => {
                let cut_off = last.is_some_and(|m| {
                    m.role == MessageRole::Assistant
                        && !m.content.is_empty()
                        && matches!(
                            m.status,
                            MessageStatus::Stopped
                                | MessageStatus::Length
                                | MessageStatus::Interrupted
                        )
                });
                if !cut_off {
                    return Err(AppError::bad_request(
                        "Only an answer that was cut off (stopped, or at the length limit) can be continued.",
                    ));
                }
            }
            _ => {}
        }
        let mut question = history[question_at].clone();
        if let Turn::Edit(content) = turn {
            question.content = content.clone();
        }
        let continued = (*turn == Turn::Continue).then(|| history[history.len() - 1].clone());
        let read_up_to = if continued.is_some() {
            history.len()
        } else {
            question_at + 1
        };
        let mut messages: Vec<Message> = history[..read_up_to]
            .iter()
            .map(|m| if m.id == question.id { &question } else { m })
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
        // A continued answer's question is the last user message.
        if messages.is_empty() {
            messages.push(Message::new(Role::User, question.content.clone()));
        }
        let first_answer = continued.is_none()
            && !history[..question_at]
                .iter()
                .any(|m| m.role == MessageRole::Assistant);
        Ok(Plan {
            messages,
            question,
            continued,
            first_answer,
        })
    }

    /// Gives the question its passages (and the model its instructions).
    fn ground(&mut self, prompt: String) {
        let position = self.messages.iter().rposition(|m| m.role == Role::User);
        if let Some(question) = position.and_then(|i| self.messages.get_mut(i)) {
            question.content = prompt;
        }
    }
}

/// Starts an answer in the conversation, as `turn` says, holding `claim`
/// until the answer is stored. Progress goes to the returned receiver (for
/// [`Listener::Stream`]) and to pages that follow the conversation; the
/// answer is stored whatever happens to its listeners, and saved as it is
/// written. Documents are used as the conversation's mode says: in `auto`
/// mode when the question finds good passages, in `only` mode always (and
/// when none match the answer says so without asking the model).
pub async fn start(
    state: &AppState,
    user: &User,
    conversation: ConversationId,
    claim: Claim,
    listener: Listener,
    turn: Turn,
    seen: Option<MessageId>,
) -> AppResult<Answer> {
    start_with(
        state,
        user,
        conversation,
        claim,
        listener,
        turn,
        seen,
        Source::Local,
    )
    .await
}

/// Who writes an answer.
pub enum Source {
    /// The local model (or, with the automatic cloud policy, the cloud
    /// model when the local one cannot).
    Local,
    /// The cloud model, already asked (a person confirmed what was sent).
    Cloud(Generation),
}

/// [`start`], with the answer's writer chosen.
#[allow(clippy::too_many_arguments)]
pub async fn start_with(
    state: &AppState,
    user: &User,
    conversation: ConversationId,
    claim: Claim,
    listener: Listener,
    turn: Turn,
    seen: Option<MessageId>,
    source: Source,
) -> AppResult<Answer> {
    let history = state.store.messages(user.id, conversation).await?;
    let mut plan = Plan::of(&history, &turn, seen)?;
    let mut sources = Vec::new();
    let asked = match source {
        Source::Cloud(generation) => Some(generation),
        Source::Local => None,
    };
    if asked.is_some() {
        // What the cloud model reads was prepared and shown already.
    } else if let Some(continued) = &plan.continued {
        // More of an answer from documents reads the same passages.
        sources = state
            .store
            .conversation_sources(user.id, conversation)
            .await?
            .into_iter()
            .filter(|(message, _)| *message == continued.id)
            .map(|(_, source)| source)
            .collect();
        if !sources.is_empty() {
            plan.ground(crate::chat::grounding::prompt(
                &sources,
                &plan.question.content,
            ));
        }
    } else {
        let (mode, picked) = state
            .store
            .conversation_documents(user.id, conversation)
            .await?;
        let question = plan.question.content.clone();
        let grounding =
            crate::chat::grounding::ground(state, user, &picked, &question, mode).await?;
        if let Some(grounding) = grounding {
            if grounding.sources.is_empty() {
                if mode == DocumentsMode::Only {
                    let content = crate::chat::grounding::nothing_found(&grounding.searched);
                    return answer_directly(state, user.id, conversation, &plan, &turn, content)
                        .await;
                }
            } else {
                plan.ground(grounding.prompt);
                sources = grounding.sources;
            }
        }
    }
    let settings = state.chat.assistant();
    let mut request = settings.request(&state.auth.business_name(), plan.messages.clone());
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
    let (generation, cloud) = match asked {
        Some(generation) => (generation, true),
        None => match state.chat.engine.generate(request) {
            Ok(generation) => (generation, false),
            Err(err @ (EngineError::Busy | EngineError::Unavailable(_))) => {
                match super::cloud::fallback(
                    state,
                    user,
                    conversation,
                    &plan.question.content,
                    &sources,
                )
                .await?
                {
                    Some((generation, kept)) => {
                        // Only passages that may leave were sent.
                        sources = kept;
                        (generation, true)
                    }
                    None => return Err(err.into()),
                }
            }
            Err(err) => return Err(err.into()),
        },
    };
    let draft = match begin(state, user.id, conversation, &plan, &turn).await {
        Ok(draft) => draft,
        Err(err) => {
            generation.cancel();
            return Err(err);
        }
    };
    if !claim.started(generation.stopper()) {
        generation.cancel();
    }
    let follow = claim.follow();
    follow.begin(draft.id, &draft.content, &sources);
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
            prior: plan.continued.clone(),
            progress: listening,
            follow,
            stored,
            first_answer: plan.first_answer,
            sources,
            cloud,
            _claim: claim,
        }
        .run(generation),
    );
    Ok(Answer {
        question: plan.question.id,
        progress: receiver,
        stored: stored_receiver,
    })
}

/// Stores the `writing` message the answer goes into: a new one after the
/// question, one replacing the old answer (and the question's text, for an
/// edit), or the cut-off answer reopened.
async fn begin(
    state: &AppState,
    user: UserId,
    conversation: ConversationId,
    plan: &Plan,
    turn: &Turn,
) -> AppResult<StoredMessage> {
    let store = &state.store;
    Ok(match turn {
        Turn::Next => store.begin_answer(user, conversation).await?,
        Turn::Regenerate => {
            store
                .begin_answer_again(user, conversation, plan.question.id, None)
                .await?
        }
        Turn::Edit(content) => {
            store
                .begin_answer_again(user, conversation, plan.question.id, Some(content.clone()))
                .await?
        }
        Turn::Continue => {
            let answer = plan
                .continued
                .as_ref()
                .map(|m| m.id)
                .ok_or_else(|| AppError::bad_request("There is no answer to continue."))?;
            store.reopen_answer(user, conversation, answer).await?
        }
    })
}

/// Stores `content` as the answer without the model (nothing was found in
/// the documents) and reports it as done.
async fn answer_directly(
    state: &AppState,
    user: UserId,
    conversation: ConversationId,
    plan: &Plan,
    turn: &Turn,
    content: String,
) -> AppResult<Answer> {
    let draft = begin(state, user, conversation, plan, turn).await?;
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
    let _ = progress.try_send(Progress::done(&saved, &[]));
    let _ = stored.send(saved);
    if plan.first_answer {
        let state = state.clone();
        tokio::spawn(async move { name_conversation(&state, user, conversation).await });
    }
    Ok(Answer {
        question: plan.question.id,
        progress: receiver,
        stored: stored_receiver,
    })
}

impl Progress {
    /// The `done` event of a stored answer.
    pub fn done(saved: &StoredMessage, sources: &[MessageSource]) -> Progress {
        Progress::Done {
            message_id: saved.id.0,
            status: saved.status,
            html: markdown::render(&crate::chat::grounding::link_citations(
                &saved.content,
                sources,
            )),
            markdown: saved.content.clone(),
            source: saved.source.label(),
            tokens_per_second: saved.tokens_per_second,
            sources_html: crate::chat::grounding::render_sources(sources),
        }
    }
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
    /// The cut-off answer this one continues (its text comes first).
    prior: Option<StoredMessage>,
    /// Where progress goes, while the listener that asked follows it.
    progress: Option<mpsc::Sender<Progress>>,
    /// Pages that came back to the conversation.
    follow: Arc<Follow>,
    stored: oneshot::Sender<StoredMessage>,
    first_answer: bool,
    sources: Vec<MessageSource>,
    /// The cloud model writes it.
    cloud: bool,
    /// Held until the answer is stored.
    _claim: Claim,
}

impl Driver {
    async fn run(mut self, mut generation: Generation) {
        let mut text = self
            .prior
            .as_ref()
            .map(|m| m.content.clone())
            .unwrap_or_default();
        let mut dropped = 0usize;
        let mut last_html = Instant::now() - HTML_INTERVAL;
        let mut saved_draft = Instant::now();
        let mut draft_dirty = false;
        // Only Stop (which cancels the generation) ends an answer early:
        // listeners that go away just stop hearing about it.
        let outcome = loop {
            let Some(event) = generation.events.recv().await else {
                break None;
            };
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
                    let listened = self.progress.is_some() || self.follow.has_followers();
                    let html = (listened && last_html.elapsed() >= HTML_INTERVAL).then(|| {
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
            self.send(message).await;
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
        let earlier_tokens = self
            .prior
            .as_ref()
            .and_then(|m| m.completion_tokens)
            .unwrap_or(0);
        match outcome {
            Some(Ok(finished)) => NewAnswer {
                // The cloud's pieces are not tokens: no speed to show.
                tokens_per_second: Some(finished.tokens_per_second())
                    .filter(|t| *t > 0.0 && !self.cloud),
                content: text,
                status: match finished.reason {
                    FinishReason::Stop => MessageStatus::Done,
                    FinishReason::Length => MessageStatus::Length,
                    FinishReason::Cancelled => MessageStatus::Stopped,
                },
                source: match (self.cloud, self.sources.is_empty()) {
                    (false, true) => AnswerSource::Local {
                        model: finished.model,
                    },
                    (false, false) => AnswerSource::DocumentsAndLocal {
                        model: finished.model,
                    },
                    (true, true) => AnswerSource::Cloud {
                        model: finished.model,
                    },
                    (true, false) => AnswerSource::DocumentsAndCloud {
                        model: finished.model,
                    },
                },
                prompt_tokens: finished.prompt_tokens as i64,
                completion_tokens: earlier_tokens + finished.completion_tokens as i64,
                dropped_messages: dropped as i64,
            },
            // A continued answer that fails keeps what it had, as it was.
            Some(Err(err)) => {
                let message = AppError::from(err).to_string();
                self.send(Progress::Error { message }).await;
                self.prior.as_ref().map_or(failed, |prior| NewAnswer {
                    content: text,
                    status: prior.status,
                    source: prior.source.clone(),
                    prompt_tokens: prior.prompt_tokens.unwrap_or(0),
                    completion_tokens: earlier_tokens,
                    tokens_per_second: prior.tokens_per_second,
                    dropped_messages: prior.dropped_messages,
                })
            }
            None => failed,
        }
    }

    /// Tells the listener that asked (while it listens) and the pages that
    /// follow the conversation.
    async fn send(&mut self, progress: Progress) {
        self.follow.publish(&progress);
        if let Some(sender) = &self.progress
            && sender.send(progress).await.is_err()
        {
            // The listener left (another conversation, a closed tab): the
            // answer goes on, and the page shows it when it comes back.
            self.progress = None;
        }
    }

    /// Stores the finished answer and its sources, tells the listeners, and
    /// names a new conversation.
    async fn store(mut self, answer: NewAnswer) {
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
        // A continued answer's passages are stored already.
        if !self.sources.is_empty()
            && self.prior.is_none()
            && let Err(err) = self
                .state
                .store
                .add_message_sources(saved.id, self.sources.clone())
                .await
        {
            tracing::warn!(error = %err, "the answer's sources were not stored");
        }
        self.send(Progress::done(&saved, &self.sources)).await;
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

/// Longest automatic title, in characters.
const TITLE_CHARS: usize = 60;

/// What a title may be: up to 60 characters on one line, closing the quote
/// the answer was opened with (`Title: "`), so the model can write neither
/// a preamble on its own line nor an explanation after the title.
const TITLE_GRAMMAR: &str = r#"root ::= [^"\n\r]{1,60} "\"""#;

/// Asks the model for a short title from the first exchange. The answer is
/// begun for the model (`Title: "`) and held to [`TITLE_GRAMMAR`], then
/// cleaned ([`clean_title`]); a title that is still not one keeps the
/// first words of the question. The title replaces the automatic one only
/// if nobody renamed the conversation.
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
                "You name conversations. A title has two to six words and says what the conversation is about.",
            ),
            Message::new(
                Role::User,
                format!("Name the conversation that begins with this message:\n\n{excerpt}"),
            ),
            Message::new(Role::Assistant, "Title: \""),
        ],
        sampling: crate::llm::Sampling {
            temperature: 0.0,
            max_tokens: 24,
            ..Default::default()
        },
        grammar: Some(crate::llm::Grammar::from_gbnf(TITLE_GRAMMAR)),
    };
    let Ok(generation) = state.chat.engine.generate(request) else {
        return;
    };
    let Ok(answer) = generation.collect().await else {
        return;
    };
    let title = clean_title(&answer.text);
    if title.is_empty() {
        // The placeholder (the first words of the question) stays.
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

/// Openings that introduce a title instead of being one, lower-case.
const PREAMBLES: &[&str] = &[
    "here's a possible title for the conversation",
    "here is a possible title for the conversation",
    "here's a possible title",
    "here is a possible title",
    "here's a title for the conversation",
    "here is a title for the conversation",
    "here's a title",
    "here is a title",
    "here's a short title",
    "here is a short title",
    "a possible title",
    "possible title",
    "suggested title",
    "conversation title",
    "the title is",
    "title",
];

/// The title in a generated answer: the first line, without a preamble
/// ("Here's a possible title for the conversation:", "Sure!", "Title:"),
/// Markdown marks, quotes or a final full stop, at most 60 characters. Empty
/// when nothing title-like is left (then the question's first words stay).
pub fn clean_title(raw: &str) -> String {
    // A preamble on a line of its own is followed by the title.
    raw.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(3)
        .map(clean_title_line)
        .find(|title| !title.is_empty())
        .unwrap_or_default()
}

fn clean_title_line(line: &str) -> String {
    let mut line = line.to_string();
    // Strip marks and preambles until neither changes the line.
    loop {
        let before = line.clone();
        let trimmed = line
            .trim_start_matches(|c: char| {
                matches!(
                    c,
                    '#' | '*' | '_' | '`' | '"' | '\'' | '“' | '”' | '«' | '»' | '-'
                ) || c.is_whitespace()
            })
            .trim_end_matches(|c: char| {
                matches!(
                    c,
                    '*' | '_' | '`' | '"' | '\'' | '“' | '”' | '«' | '»' | '.' | ':'
                ) || c.is_whitespace()
            })
            .to_string();
        line = trimmed;
        for opening in ["sure", "certainly", "of course", "okay", "ok"] {
            if let Some(rest) = strip_prefix_ignoring_case(&line, opening)
                && rest.starts_with(['!', ',', '.', ' ', ':'])
            {
                line = rest
                    .trim_start_matches(['!', ',', '.', ':', ' '])
                    .to_string();
            }
        }
        for preamble in PREAMBLES {
            if let Some(rest) = strip_prefix_ignoring_case(&line, preamble) {
                let rest = rest.trim_start();
                // "Title: X", "Here's a title - X"; a bare "Title" is no title.
                if let Some(after) = rest.strip_prefix([':', '-', '–', '—']) {
                    line = after.trim().to_string();
                } else if rest.is_empty() {
                    line.clear();
                }
            }
        }
        if line == before {
            break;
        }
    }
    // An answer that only announces a title, or talks about the question
    // instead of naming it, is not a title.
    let lower = line.to_lowercase();
    let announces = [
        "here's",
        "here is",
        "i would",
        "i'd ",
        "this conversation",
        "a title",
    ]
    .iter()
    .any(|p| lower.starts_with(p));
    if announces || !line.chars().any(char::is_alphanumeric) {
        return String::new();
    }
    crate::text::truncate_words(&line, TITLE_CHARS)
}

fn strip_prefix_ignoring_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
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
        check("Booking a cleaning\"", "Booking a cleaning");
        check("Title: Opening hours.\nMore text", "Opening hours");
        check("Title:\nOpening hours", "Opening hours");
        check("  ## **Invoice question**  ", "Invoice question");
        check("", "");
        check(
            &"word ".repeat(40),
            "word word word word word word word word word word word word…",
        );
    }

    /// Issue 12: the model wrote "Here's a possible title for the conversation:".
    #[test]
    fn preambles_are_not_titles() {
        check(
            "Here's a possible title for the conversation:\n\n\"Refund policy\"",
            "Refund policy",
        );
        check(
            "Here's a possible title for the conversation: \"Refund policy\"",
            "Refund policy",
        );
        check(
            "Here is a title: Sterilising instruments",
            "Sterilising instruments",
        );
        check("Sure! Title: Invoice reminder", "Invoice reminder");
        check("Certainly, here's a title - Staff rota", "Staff rota");
        check("Possible title: “Holiday cover”", "Holiday cover");
        check("Title", "");
        check("Here's a possible title", "");
        check("This conversation is about fees", "");
        check("\"\"", "");
        // Words that merely begin like a preamble stay.
        check("Titles of patient letters", "Titles of patient letters");
        check(
            "Surety bonds for contractors",
            "Surety bonds for contractors",
        );
    }
}
