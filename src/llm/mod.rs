//! The local language model: the only module that imports `llama_cpp_2`
//! (in [`llama`] and [`bench`], compiled with the `llama` cargo feature, on
//! by default).
//!
//! One named worker thread (`hearth-llm`, see [`worker`]) owns the llama.cpp
//! backend, the model and its context. The rest of Hearth holds an [`Engine`]
//! handle and talks to the worker through a closed set of [`Command`]s; each
//! generation streams [`Event`]s back on its own channel. Dropping the
//! [`Generation`] (a closed browser tab, a dropped API connection) or calling
//! [`Generation::cancel`] frees its slot within one decode step. The
//! engine's state is published on a watch channel ([`Engine::watch_state`]).
//!
//! Several conversations decode together in one batch (one sequence each,
//! `parallel` slots, see [`scheduler`]): a new request joins between decode
//! steps instead of waiting for the others to finish. A follow-up turn reuses
//! the slot that still holds the conversation's prefix in the KV cache, so
//! only the new tokens are evaluated. The scheduling rules are pure functions
//! in [`policy`]; [`Engine::fake`] runs the same worker and scheduler on a
//! scripted model, for tests.
//!
//! A [`Request`] may carry a [`Grammar`] (GBNF, usually made from a JSON
//! schema): its answer is then valid by construction.

pub mod bench;
mod fake;
pub mod gguf;
mod grammar;
pub mod hardware;
#[cfg(feature = "llama")]
mod kernels;
#[cfg(feature = "llama")]
mod llama;
// Used by the llama.cpp engine alone; tested in every build.
#[cfg_attr(not(feature = "llama"), allow(dead_code))]
mod pick;
mod policy;
mod scheduler;
mod worker;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

pub use fake::FakeScript;
pub use grammar::Grammar;

/// Why a build without the `llama` feature runs no model.
pub const WITHOUT_LLAMA: &str =
    "this Hearth was built without llama.cpp (the `llama` cargo feature), so it cannot run a model";

/// How the engine runs; changing any of these reloads the model.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// The GGUF file to load.
    pub model_path: PathBuf,
    /// Loaded instead when `model_path` cannot be (the default model).
    pub fallback_model: Option<PathBuf>,
    /// Threads for both prompt processing and generation.
    pub threads: u32,
    /// Conversations decoded together (KV-cache sequences).
    pub parallel: u32,
    /// Tokens of context each conversation may use (prompt plus answer).
    pub context_per_chat: u32,
    /// Most tokens evaluated in one decode step.
    pub batch: u32,
    /// Requests that may wait for a free slot; more are refused as busy.
    pub max_queue: usize,
    /// Longest a request waits for a free slot. Past it, the request is told
    /// the assistant is busy instead of waiting on until its client gives up.
    pub max_wait: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Message {
            role,
            content: content.into(),
        }
    }
}

/// How to pick tokens. Temperature 0 means greedy.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    pub temperature: f32,
    pub top_p: f32,
    pub top_k: i32,
    pub min_p: f32,
    pub repeat_penalty: f32,
    pub seed: Option<u32>,
    /// Most tokens in the answer.
    pub max_tokens: u32,
    /// Keep generating past the model's end-of-answer token (benchmarks
    /// measure a fixed number of tokens this way).
    pub ignore_eos: bool,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            temperature: 0.7,
            top_p: 0.9,
            top_k: 40,
            min_p: 0.05,
            repeat_penalty: 1.1,
            seed: None,
            max_tokens: 512,
            ignore_eos: false,
        }
    }
}

/// One generation: the whole conversation so far (system prompt first) and
/// how to sample the answer.
#[derive(Debug, Clone)]
pub struct Request {
    pub messages: Vec<Message>,
    pub sampling: Sampling,
    /// What the answer must conform to, if anything. A constrained answer
    /// ends (reason `Stop`) as soon as the grammar is complete, and its end
    /// token is allowed only then; `Sampling::ignore_eos` does not apply. An
    /// answer cut at `max_tokens` (reason `Length`) is incomplete.
    pub grammar: Option<Grammar>,
}

/// Why an answer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FinishReason {
    /// The model ended its answer.
    Stop,
    /// The answer reached its token limit or the context filled up.
    Length,
    /// Someone stopped it.
    Cancelled,
}

/// The numbers of a finished answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub reason: FinishReason,
    /// Tokens in the prompt (all of them, reused or not).
    pub prompt_tokens: usize,
    /// Prompt tokens that were already in the KV cache and not evaluated again.
    pub reused_tokens: usize,
    pub completion_tokens: usize,
    /// From the request reaching the engine to the first answer token.
    pub time_to_first_token: Duration,
    /// From the first answer token to the last.
    pub generation_time: Duration,
    /// File name of the model that answered.
    pub model: String,
}

impl Finished {
    /// Answer tokens per second after the first, or 0 for short answers.
    pub fn tokens_per_second(&self) -> f64 {
        let secs = self.generation_time.as_secs_f64();
        if self.completion_tokens < 2 || secs <= 0.0 {
            0.0
        } else {
            (self.completion_tokens - 1) as f64 / secs
        }
    }
}

/// What a generation reports, in order: maybe `Queued` (repeatedly, as the
/// queue moves), `Started`, `Text` pieces, then exactly one of `Finished` or
/// `Failed`.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Waiting for a free slot, with this many requests ahead.
    Queued {
        ahead: usize,
    },
    /// The prompt is being evaluated. `dropped_messages` older messages were
    /// left out because the conversation no longer fits the context window.
    Started {
        prompt_tokens: usize,
        reused_tokens: usize,
        dropped_messages: usize,
    },
    /// The next piece of the answer (valid UTF-8, possibly several tokens).
    Text(String),
    Finished(Finished),
    Failed(EngineError),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// The queue is full; try again shortly.
    #[error("the assistant is busy; try again in a few seconds")]
    Busy,
    /// No model is loaded (missing, broken, too large, or loading).
    #[error("the assistant is unavailable: {0}")]
    Unavailable(String),
    /// Even the latest message alone does not fit the context window.
    #[error("the message is too long for the model ({tokens} tokens; at most {limit} fit)")]
    TooLong { tokens: usize, limit: usize },
    #[error("the assistant failed: {0}")]
    Failed(String),
}

/// What the engine is doing, for status pages and readiness.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum EngineState {
    Loading { model: String },
    Ready { model: String },
    Failed { model: String, error: String },
    Stopped,
}

/// A snapshot of the engine for status pages.
#[derive(Debug, Clone, Serialize)]
pub struct EngineStatus {
    #[serde(flatten)]
    pub state: EngineState,
    /// Set when the chosen model failed and the fallback answers instead.
    pub notice: Option<String>,
    pub parallel: u32,
    pub context_per_chat: u32,
    pub threads: u32,
    /// Generations decoding now.
    pub active: usize,
    /// Generations waiting for a slot.
    pub queued: usize,
    /// Answer speed of recent answers, newest first (tokens per second).
    pub recent_tokens_per_second: Vec<f64>,
}

/// The closed set of things the worker can be asked.
pub(crate) enum Command {
    Generate(Box<Job>),
    Cancel(u64),
    /// Load another model or apply new settings once the answers in flight finish.
    Reconfigure(EngineConfig),
    Shutdown,
}

/// A request on its way to the worker.
pub(crate) struct Job {
    pub id: u64,
    pub request: Request,
    pub events: mpsc::UnboundedSender<Event>,
    pub received: std::time::Instant,
}

/// State shared between the handle and the worker.
pub(crate) struct Shared {
    /// What the engine is doing; every change is published to its receivers.
    pub state: watch::Sender<EngineState>,
    /// Set when the chosen model failed and the fallback answers instead.
    pub notice: Mutex<Option<String>>,
    /// Set when a step broke and the context was restarted; cleared by the
    /// next load.
    pub incident: Mutex<Option<String>>,
    pub config: Mutex<EngineConfig>,
    pub active: AtomicUsize,
    /// Requests sent to the worker and not yet admitted to a slot.
    pub waiting: AtomicUsize,
    pub recent: Mutex<VecDeque<f64>>,
}

impl Shared {
    fn new(state: EngineState, config: EngineConfig) -> Arc<Shared> {
        Arc::new(Shared {
            state: watch::Sender::new(state),
            notice: Mutex::new(None),
            incident: Mutex::new(None),
            config: Mutex::new(config),
            active: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            recent: Mutex::new(VecDeque::new()),
        })
    }

    pub fn set_state(&self, state: EngineState) {
        self.state.send_replace(state);
    }

    pub fn state(&self) -> EngineState {
        self.state.borrow().clone()
    }
}

/// A cheap-to-clone handle on the worker.
#[derive(Clone)]
pub struct Engine {
    commands: std::sync::mpsc::Sender<Command>,
    shared: Arc<Shared>,
    next_id: Arc<AtomicU64>,
}

/// A running generation. Dropping it cancels the generation.
pub struct Generation {
    pub id: u64,
    pub events: mpsc::UnboundedReceiver<Event>,
    stopper: Stopper,
}

/// What stops a generation: the local engine's worker, or (for an answer
/// written elsewhere, the cloud model) a token its task watches.
#[derive(Clone)]
pub enum Stopper {
    Engine { engine: Engine, id: u64 },
    Token(tokio_util::sync::CancellationToken),
}

impl Stopper {
    /// Stops the generation; a `Finished` event with reason `Cancelled`
    /// (or nothing more, for one already over) follows.
    pub fn stop(&self) {
        match self {
            Stopper::Engine { engine, id } => engine.cancel(*id),
            Stopper::Token(token) => token.cancel(),
        }
    }
}

/// A whole answer, gathered by [`Generation::collect`].
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    pub finished: Finished,
}

impl Generation {
    /// A generation produced outside the local engine (the cloud model):
    /// its task sends `events` and watches `token`.
    pub fn remote(
        events: mpsc::UnboundedReceiver<Event>,
        token: tokio_util::sync::CancellationToken,
    ) -> Generation {
        static NEXT: AtomicU64 = AtomicU64::new(1 << 62);
        Generation {
            id: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            events,
            stopper: Stopper::Token(token),
        }
    }

    /// Stops the generation; a `Finished` event with reason `Cancelled` follows.
    pub fn cancel(&self) {
        self.stopper.stop();
    }

    /// What Stop uses, kept after the generation is handed on.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Waits for the whole answer: its text and numbers, or why it failed.
    /// Dropping the future (a client that hung up) cancels the generation.
    pub async fn collect(mut self) -> Result<Completion, EngineError> {
        let mut text = String::new();
        while let Some(event) = self.events.recv().await {
            match event {
                Event::Text(piece) => text.push_str(&piece),
                Event::Finished(finished) => return Ok(Completion { text, finished }),
                Event::Failed(error) => return Err(error),
                Event::Queued { .. } | Event::Started { .. } => {}
            }
        }
        Err(EngineError::Failed(
            "the generation ended without a result".into(),
        ))
    }
}

impl Drop for Generation {
    fn drop(&mut self) {
        self.stopper.stop();
    }
}

impl Engine {
    /// Starts the worker thread, which loads the model in the background.
    /// Built without the `llama` feature, the model file is still checked
    /// but never loaded: the engine fails, saying why.
    pub fn start(config: EngineConfig) -> Engine {
        #[cfg(feature = "llama")]
        let runtime = llama::Llama;
        #[cfg(not(feature = "llama"))]
        let runtime = worker::WithoutLlama;
        Engine::spawn(config, runtime)
    }

    /// Starts the worker thread with `runtime`.
    fn spawn(config: EngineConfig, runtime: impl worker::Runtime) -> Engine {
        let (commands, receiver) = std::sync::mpsc::channel();
        let shared = Shared::new(
            EngineState::Loading {
                model: model_name(&config.model_path),
            },
            config.clone(),
        );
        let worker_shared = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("hearth-llm".into())
            .spawn(move || worker::run(runtime, config, receiver, worker_shared));
        if let Err(err) = spawned {
            shared.set_state(EngineState::Failed {
                model: String::new(),
                error: format!("cannot start the model thread: {err}"),
            });
        }
        Engine {
            commands,
            shared,
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }

    /// A handle with no worker, for console commands that never generate.
    pub fn stopped(config: EngineConfig) -> Engine {
        let (commands, _) = std::sync::mpsc::channel();
        Engine {
            commands,
            shared: Shared::new(EngineState::Stopped, config),
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }

    /// Queues a generation. Refused at once when the queue is full or no
    /// model is loaded, so callers can answer "busy" instead of hanging.
    pub fn generate(&self, request: Request) -> Result<Generation, EngineError> {
        match self.state() {
            EngineState::Ready { .. } => {}
            EngineState::Loading { model } => {
                return Err(EngineError::Unavailable(format!(
                    "the model {model} is still loading"
                )));
            }
            EngineState::Failed { error, .. } => return Err(EngineError::Unavailable(error)),
            EngineState::Stopped => {
                return Err(EngineError::Unavailable("the engine has stopped".into()));
            }
        }
        let max_queue = self.config().max_queue;
        let waiting = self.shared.waiting.fetch_add(1, Ordering::AcqRel);
        let free_slots = (self.config().parallel as usize)
            .saturating_sub(self.shared.active.load(Ordering::Acquire));
        if waiting >= max_queue + free_slots {
            self.shared.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(EngineError::Busy);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (events, receiver) = mpsc::unbounded_channel();
        let job = Job {
            id,
            request,
            events,
            received: std::time::Instant::now(),
        };
        if self
            .commands
            .send(Command::Generate(Box::new(job)))
            .is_err()
        {
            self.shared.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(EngineError::Unavailable("the engine has stopped".into()));
        }
        Ok(Generation {
            id,
            events: receiver,
            stopper: Stopper::Engine {
                engine: self.clone(),
                id,
            },
        })
    }

    pub fn cancel(&self, id: u64) {
        let _ = self.commands.send(Command::Cancel(id));
    }

    /// Applies new settings or another model. Answers in flight finish on the
    /// old model first; queued requests wait and are served by the new one.
    pub fn reconfigure(&self, config: EngineConfig) {
        let _ = self.commands.send(Command::Reconfigure(config));
    }

    pub fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown);
    }

    pub fn state(&self) -> EngineState {
        self.shared.state()
    }

    /// The engine's state now and every change after, for whoever must
    /// wait for one (a model that finishes loading, a reload).
    pub fn watch_state(&self) -> watch::Receiver<EngineState> {
        self.shared.state.subscribe()
    }

    pub fn config(&self) -> EngineConfig {
        self.shared
            .config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn status(&self) -> EngineStatus {
        let config = self.config();
        EngineStatus {
            state: self.state(),
            notice: self.notice(),
            parallel: config.parallel,
            context_per_chat: config.context_per_chat,
            threads: config.threads,
            active: self.shared.active.load(Ordering::Acquire),
            queued: self.shared.waiting.load(Ordering::Acquire),
            recent_tokens_per_second: self
                .shared
                .recent
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .copied()
                .collect(),
        }
    }

    /// What the status pages should say besides the state: that the
    /// default model answers instead of the chosen one, that a step broke
    /// and the context was restarted, or both.
    fn notice(&self) -> Option<String> {
        let notice = self
            .shared
            .notice
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let incident = self
            .shared
            .incident
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match (notice, incident) {
            (Some(notice), Some(incident)) => Some(format!("{notice}; {incident}")),
            (notice, incident) => notice.or(incident),
        }
    }

    /// Waits until the model has loaded or failed, up to `timeout`.
    pub async fn wait_until_settled(&self, timeout: Duration) -> EngineState {
        let mut states = self.watch_state();
        let settled = tokio::time::timeout(
            timeout,
            states.wait_for(|state| !matches!(state, EngineState::Loading { .. })),
        )
        .await;
        match settled {
            Ok(Ok(state)) => state.clone(),
            // Timed out, or the worker is gone: the state as it stands.
            _ => self.state(),
        }
    }
}

/// The vector extensions llama.cpp's CPU kernels in this process use (by
/// the names people know), and the CPU generation of the library they were
/// loaded from in the dispatching build. None and `None` without llama.cpp
/// or when the kernels could not load. See [`hardware::CpuFeatures`].
pub fn engine_kernels() -> (Vec<&'static str>, Option<String>) {
    #[cfg(feature = "llama")]
    {
        match kernels::kernels() {
            Ok(kernels) => {
                let uses = hardware::VECTOR_EXTENSIONS
                    .iter()
                    .filter(|(_, ggml, _)| kernels.features.iter().any(|f| f == ggml))
                    .map(|(_, _, name)| *name)
                    .collect();
                (uses, kernels.variant.clone())
            }
            Err(_) => (Vec::new(), None),
        }
    }
    #[cfg(not(feature = "llama"))]
    {
        (Vec::new(), None)
    }
}

/// The llama.cpp libraries this binary runs with, for packaging it: empty
/// when llama.cpp is linked in (or left out).
pub fn engine_library_files() -> Result<Vec<std::path::PathBuf>, String> {
    #[cfg(feature = "llama")]
    {
        kernels::library_files()
    }
    #[cfg(not(feature = "llama"))]
    {
        Ok(Vec::new())
    }
}

/// The file name of a model, for display.
pub fn model_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}
