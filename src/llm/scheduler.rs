//! The [`Scheduler`]: serves one loaded model with `parallel` slots (KV-cache
//! sequences), one step at a time, in named phases:
//!
//! 1. **intake**: take commands (wait for one when idle);
//! 2. **sweep**: drop waiting requests whose client left, tell those that
//!    waited `max_wait` that the assistant is busy;
//! 3. **admit**: waiting requests take free slots, reusing the longest cached
//!    prefix (their slot's own, or another slot's copied over);
//! 4. **announce**: tell the ones still waiting their place;
//! 5. **retire** stopped answers (Stop, or a client that left);
//! 6. **build the batch**: one token for every answer being generated, then
//!    prompt chunks of newly admitted requests in the room left;
//! 7. **decode** the batch;
//! 8. **sample and send** the next token of every answer, retiring those
//!    that end.
//!
//! The decisions are pure functions in [`super::policy`]; the model is
//! behind [`Backend`] (llama.cpp in production, a script in tests), so the
//! scheduler runs without a model too (see the tests below and
//! [`super::fake`]). A panic or an error in a step fails the answers in
//! flight, recreates the context and goes on serving.

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Instant;

use super::policy::{self, AfterToken, Need, Reuse, Share, Waiting};
use super::worker::Next;
use super::{
    Command, EngineConfig, EngineError, Event, FinishReason, Finished, Job, Message, Request,
    Shared, model_name,
};

/// How many recent answer speeds the status keeps.
const RECENT_SPEEDS: usize = 20;

/// What the scheduler needs from a model and its context.
pub(super) trait Backend {
    type Token: Copy + PartialEq + std::fmt::Debug;
    type Sampler;
    /// Renders the messages with the chat template and tokenizes them.
    fn tokenize(&mut self, messages: &[&Message]) -> Result<Vec<Self::Token>, EngineError>;
    /// The request's sampler, with its grammar if it has one. A grammar that
    /// cannot be used fails the generation.
    fn sampler(&mut self, request: &Request) -> Result<Self::Sampler, EngineError>;
    /// Removes sequence `seq`'s cache from position `from` on (all of it for
    /// `None`). False when the cache cannot be cut there.
    fn clear_sequence(&mut self, seq: i32, from: Option<usize>) -> bool;
    /// Copies sequence `from`'s whole cache over sequence `to`'s.
    fn copy_sequence(&mut self, from: i32, to: i32);
    /// Evaluates the batch; afterwards, entries with `logits` can be sampled
    /// by their index in it.
    fn decode(&mut self, batch: &[BatchEntry<Self::Token>]) -> Result<(), String>;
    /// Picks the next token from the logits at `index` of the last batch. An
    /// error (the grammar allows no token at all) fails this answer alone.
    fn sample(
        &mut self,
        sampler: &mut Self::Sampler,
        index: usize,
    ) -> Result<Sampled<Self::Token>, EngineError>;
    /// Whether the token ends the answer (end of turn, end of text).
    fn is_end(&self, token: Self::Token) -> bool;
    /// The token's text, possibly part of a UTF-8 character.
    fn piece(&self, token: Self::Token) -> Vec<u8>;
    /// A fresh context with every sequence empty, after a step went wrong.
    fn reset(&mut self) -> Result<(), String>;
}

/// A sampled token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Sampled<T> {
    pub token: T,
    /// The token completes the request's grammar: it is the answer's last.
    pub completes: bool,
}

/// One token of a batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct BatchEntry<T> {
    pub token: T,
    pub position: usize,
    pub seq: i32,
    pub logits: bool,
}

/// Most tokens evaluated in one step: the configured batch, but never fewer
/// than one per slot (every answer gets its token each step) or 16.
pub(super) fn batch_size(config: &EngineConfig) -> usize {
    config.batch.max(config.parallel.max(1)).max(16) as usize
}

/// One KV-cache sequence.
struct Slot<B: Backend> {
    seq: i32,
    /// The tokens in the KV cache for this sequence, at positions 0..len.
    cache: Vec<B::Token>,
    last_used: Instant,
    active: Option<Active<B>>,
}

/// A generation running in a slot.
struct Active<B: Backend> {
    job: Box<Job>,
    sampler: B::Sampler,
    /// Prompt tokens still to evaluate.
    pending: VecDeque<B::Token>,
    prompt_tokens: usize,
    reused_tokens: usize,
    /// Most answer tokens.
    max_new: usize,
    generated: usize,
    /// The token sampled last, to be evaluated in the next step.
    next_token: Option<B::Token>,
    /// Bytes of a UTF-8 character split across tokens.
    partial: Vec<u8>,
    first_token_at: Option<Instant>,
    /// Index in the current batch whose logits this slot samples from.
    logits_index: Option<usize>,
    cancelled: bool,
    ignore_eos: bool,
}

/// Serves one loaded model until a reload or shutdown.
pub(super) struct Scheduler<'w, B: Backend> {
    backend: B,
    config: &'w EngineConfig,
    shared: &'w Shared,
    /// Requests waiting for a slot, oldest first; kept across reloads.
    waiting: &'w mut VecDeque<Box<Job>>,
    slots: Vec<Slot<B>>,
    batch: Vec<BatchEntry<B::Token>>,
    batch_size: usize,
    /// The model's file name, for the answers' numbers.
    model: String,
    /// New settings to load once the answers in flight finish.
    reconfigure: Option<EngineConfig>,
    /// What each waiting request was last told: (id, requests ahead).
    announced: Vec<(u64, usize)>,
    /// The request being admitted, so that a step that breaks while
    /// admitting it can still tell it.
    admitting: Option<tokio::sync::mpsc::UnboundedSender<Event>>,
}

impl<'w, B: Backend> Scheduler<'w, B> {
    pub fn new(
        backend: B,
        config: &'w EngineConfig,
        shared: &'w Shared,
        waiting: &'w mut VecDeque<Box<Job>>,
    ) -> Self {
        let parallel = config.parallel.max(1) as i32;
        Scheduler {
            backend,
            config,
            shared,
            waiting,
            slots: (0..parallel)
                .map(|seq| Slot {
                    seq,
                    cache: Vec::new(),
                    last_used: Instant::now(),
                    active: None,
                })
                .collect(),
            batch: Vec::new(),
            batch_size: batch_size(config),
            model: model_name(&config.model_path),
            reconfigure: None,
            announced: Vec::new(),
            admitting: None,
        }
    }

    /// Serves until a reload or shutdown. An error means this model cannot
    /// go on (its context could not be recreated).
    pub fn run(mut self, commands: &Receiver<Command>) -> Result<Next, String> {
        loop {
            if let Some(next) = self.intake(commands) {
                return Ok(next);
            }
            self.sweep();
            // Nothing a step does may take the thread down while the status
            // pages say "ready": a panic (a bug, or a bad assumption about
            // llama.cpp) fails the answers in flight and the step starts
            // again on a fresh context.
            let stepped = panic::catch_unwind(AssertUnwindSafe(|| self.step()));
            let broken = match stepped {
                Ok(Ok(())) => None,
                Ok(Err(error)) => Some(error),
                Err(payload) => Some(format!("it panicked: {}", panic_message(&*payload))),
            };
            if let Some(why) = broken {
                self.recover(&why)?;
            }
            if !self.busy()
                && let Some(new) = self.reconfigure.take()
            {
                return Ok(Next::Reconfigure(new));
            }
        }
    }

    /// One step: admit, announce, retire, build the batch, decode, sample
    /// and send.
    fn step(&mut self) -> Result<(), String> {
        // Not while a reload waits for the answers in flight to finish.
        if self.reconfigure.is_none() {
            self.admit_waiting()?;
        }
        self.announce();
        if !self.busy() {
            return Ok(());
        }
        self.retire_stopped();
        if self.build_batch() && self.decode()? {
            self.sample_and_send();
        }
        Ok(())
    }

    fn busy(&self) -> bool {
        self.slots.iter().any(|s| s.active.is_some())
    }

    /// Takes commands: waits for one when idle, otherwise takes only those
    /// already sent. Returns what ends serving, if a command does.
    fn intake(&mut self, commands: &Receiver<Command>) -> Option<Next> {
        let busy = self.busy();
        loop {
            let command = if !busy && self.waiting.is_empty() && self.reconfigure.is_none() {
                match commands.recv() {
                    Ok(c) => c,
                    Err(_) => return Some(Next::Shutdown),
                }
            } else {
                match commands.try_recv() {
                    Ok(c) => c,
                    Err(TryRecvError::Empty) => return None,
                    Err(TryRecvError::Disconnected) => return Some(Next::Shutdown),
                }
            };
            match command {
                Command::Generate(job) => self.waiting.push_back(job),
                Command::Cancel(id) => {
                    if let Some(active) = self
                        .slots
                        .iter_mut()
                        .filter_map(|s| s.active.as_mut())
                        .find(|a| a.job.id == id)
                    {
                        active.cancelled = true;
                    }
                    if let Some(index) = self.waiting.iter().position(|j| j.id == id) {
                        self.waiting.remove(index);
                        self.shared.waiting.fetch_sub(1, Ordering::AcqRel);
                    }
                }
                Command::Reconfigure(new) => self.reconfigure = Some(new),
                Command::Shutdown => {
                    self.fail_active(&EngineError::Unavailable(
                        "the server is shutting down".into(),
                    ));
                    return Some(Next::Shutdown);
                }
            }
            if !busy {
                return None;
            }
        }
    }

    /// Drops requests whose client went away before they started, and tells
    /// those that waited too long.
    fn sweep(&mut self) {
        let max_wait = self.config.max_wait;
        let shared = self.shared;
        self.waiting.retain(|job| {
            let verdict =
                policy::waiting_verdict(job.events.is_closed(), job.received.elapsed(), max_wait);
            if verdict != Waiting::Stays {
                shared.waiting.fetch_sub(1, Ordering::AcqRel);
            }
            if verdict == Waiting::Expired {
                let _ = job.events.send(Event::Failed(EngineError::Busy));
            }
            verdict == Waiting::Stays
        });
    }

    /// Admits waiting requests, oldest first, while slots are free.
    fn admit_waiting(&mut self) -> Result<(), String> {
        while let Some(free) = self.slots.iter().position(|s| s.active.is_none()) {
            let Some(job) = self.waiting.pop_front() else {
                break;
            };
            self.shared.waiting.fetch_sub(1, Ordering::AcqRel);
            self.admitting = Some(job.events.clone());
            self.admit(job, free)?;
            self.admitting = None;
        }
        Ok(())
    }

    /// Starts `job` in a free slot (`free` is one): renders and tokenizes its
    /// prompt (leaving out the oldest turns if it does not fit), reuses the
    /// longest cached prefix, and queues the rest of the prompt for
    /// evaluation.
    fn admit(&mut self, job: Box<Job>, free: usize) -> Result<(), String> {
        let context = self.config.context_per_chat as usize;
        let max_tokens = job.request.sampling.max_tokens as usize;
        let limit = policy::prompt_limit(max_tokens, context);
        let backend = &mut self.backend;
        let fitted =
            policy::fit_conversation(&job.request.messages, limit, |m| backend.tokenize(m));
        let (tokens, dropped) = match fitted {
            Ok(fitted) if !fitted.0.is_empty() => fitted,
            Ok(_) => {
                let error = EngineError::Failed("the prompt is empty".into());
                let _ = job.events.send(Event::Failed(error));
                return Ok(());
            }
            Err(error) => {
                let _ = job.events.send(Event::Failed(error));
                return Ok(());
            }
        };
        // Before any slot's cache is touched: a grammar that does not parse
        // fails this request and nothing else.
        let sampler = match self.backend.sampler(&job.request) {
            Ok(sampler) => sampler,
            Err(error) => {
                let _ = job.events.send(Event::Failed(error));
                return Ok(());
            }
        };

        let busy: Vec<bool> = self.slots.iter().map(|s| s.active.is_some()).collect();
        let prefixes: Vec<usize> = self
            .slots
            .iter()
            .map(|s| common_prefix(&s.cache, &tokens))
            .collect();
        let last_used: Vec<Instant> = self.slots.iter().map(|s| s.last_used).collect();
        let chosen = policy::choose_slot(&busy, &prefixes, &last_used).unwrap_or(free);
        let seq = self.slots[chosen].seq;
        let keep = match policy::plan_reuse(&prefixes, chosen, tokens.len()) {
            Reuse::Own { tokens } => tokens,
            Reuse::Copy { donor, tokens } => {
                // Streams are copied whole; the donor's tail is then dropped.
                self.clear_whole(chosen)?;
                self.backend.copy_sequence(self.slots[donor].seq, seq);
                self.slots[chosen].cache = self.slots[donor].cache.clone();
                tokens
            }
        };
        let reused = self.cut(chosen, keep)?;

        let _ = job.events.send(Event::Started {
            prompt_tokens: tokens.len(),
            reused_tokens: reused,
            dropped_messages: dropped,
        });
        let slot = &mut self.slots[chosen];
        slot.last_used = Instant::now();
        self.shared.active.fetch_add(1, Ordering::AcqRel);
        slot.active = Some(Active {
            sampler,
            pending: tokens[reused..].iter().copied().collect(),
            prompt_tokens: tokens.len(),
            reused_tokens: reused,
            max_new: policy::answer_limit(max_tokens, context, tokens.len()),
            generated: 0,
            next_token: None,
            partial: Vec::new(),
            first_token_at: None,
            logits_index: None,
            cancelled: false,
            // A grammar allows the end token only once it is complete, and
            // its answer ends there.
            ignore_eos: job.request.sampling.ignore_eos && job.request.grammar.is_none(),
            job,
        });
        Ok(())
    }

    /// Cuts slot `index`'s cache to its first `keep` tokens; returns how many
    /// it holds then: `keep`, or none on models whose cache cannot be cut in
    /// the middle (see [`policy::kept_after_cut`]).
    fn cut(&mut self, index: usize, keep: usize) -> Result<usize, String> {
        let seq = self.slots[index].seq;
        if keep >= self.slots[index].cache.len() {
            // Nothing to cut (and recurrent models, which cannot cut, keep
            // their state).
            return Ok(self.slots[index].cache.len());
        }
        let cut = self.backend.clear_sequence(seq, Some(keep));
        let kept = policy::kept_after_cut(cut, keep);
        if !cut {
            tracing::debug!(
                seq,
                keep,
                "the cache cannot be cut here; clearing the sequence"
            );
            self.clear_whole(index)?;
        }
        self.slots[index].cache.truncate(kept);
        Ok(kept)
    }

    /// Clears slot `index`'s whole sequence (which llama.cpp always can).
    fn clear_whole(&mut self, index: usize) -> Result<(), String> {
        let seq = self.slots[index].seq;
        self.slots[index].cache.clear();
        if self.backend.clear_sequence(seq, None) {
            Ok(())
        } else {
            Err(format!("the cache of sequence {seq} could not be cleared"))
        }
    }

    /// Tells the requests still waiting where they are, when that changed.
    fn announce(&mut self) {
        let queue: Vec<u64> = self.waiting.iter().map(|j| j.id).collect();
        for ahead in policy::places_to_announce(&self.announced, &queue) {
            let _ = self.waiting[ahead].events.send(Event::Queued { ahead });
        }
        self.announced = queue
            .into_iter()
            .enumerate()
            .map(|(a, id)| (id, a))
            .collect();
    }

    /// Finishes cancelled generations and those whose client is gone.
    fn retire_stopped(&mut self) {
        for slot in &mut self.slots {
            let stop = slot
                .active
                .as_ref()
                .is_some_and(|a| a.cancelled || a.job.events.is_closed());
            if stop {
                retire(slot, FinishReason::Cancelled, &self.model, self.shared);
            }
        }
    }

    /// Fills the batch as [`policy::plan_batch`] shares it out; false when
    /// there is nothing to evaluate.
    fn build_batch(&mut self) -> bool {
        let needs: Vec<Option<Need>> = self
            .slots
            .iter()
            .map(|s| {
                s.active.as_ref().map(|a| Need {
                    answering: a.next_token.is_some(),
                    pending: a.pending.len(),
                })
            })
            .collect();
        let shares = policy::plan_batch(&needs, self.batch_size);
        self.batch.clear();
        for (slot, share) in self.slots.iter_mut().zip(shares) {
            let Some(active) = slot.active.as_mut() else {
                continue;
            };
            active.logits_index = None;
            let (tokens, logits_on_last): (Vec<B::Token>, bool) = match share {
                Share::Nothing => continue,
                Share::Answer => (active.next_token.take().into_iter().collect(), true),
                Share::Prompt { tokens, last } => (active.pending.drain(..tokens).collect(), last),
            };
            let count = tokens.len();
            for (i, token) in tokens.into_iter().enumerate() {
                let logits = logits_on_last && i + 1 == count;
                if logits {
                    active.logits_index = Some(self.batch.len());
                }
                self.batch.push(BatchEntry {
                    token,
                    position: slot.cache.len(),
                    seq: slot.seq,
                    logits,
                });
                slot.cache.push(token);
            }
        }
        !self.batch.is_empty()
    }

    /// Evaluates the batch; false when that failed. The batch's tokens are
    /// then not reliably in the cache: every sequence is forgotten entirely
    /// and the answers in flight fail.
    fn decode(&mut self) -> Result<bool, String> {
        let Err(error) = self.backend.decode(&self.batch) else {
            return Ok(true);
        };
        tracing::error!(error, tokens = self.batch.len(), "decode failed");
        self.fail_active(&EngineError::Failed(format!(
            "the model could not continue ({error})"
        )));
        for index in 0..self.slots.len() {
            self.clear_whole(index)?;
        }
        Ok(false)
    }

    /// Samples the next token of every slot that has logits, sends its text,
    /// and retires the answers that end.
    fn sample_and_send(&mut self) {
        let context = self.config.context_per_chat as usize;
        for slot in &mut self.slots {
            let Some(active) = slot.active.as_mut() else {
                continue;
            };
            let Some(index) = active.logits_index else {
                continue;
            };
            let Sampled { token, completes } = match self.backend.sample(&mut active.sampler, index)
            {
                Ok(sampled) => sampled,
                Err(error) => {
                    // The slot's cache holds what was decoded; only this
                    // answer ends.
                    fail(slot, error, self.shared);
                    continue;
                }
            };
            if active.first_token_at.is_none() {
                active.first_token_at = Some(Instant::now());
            }
            let is_end = self.backend.is_end(token);
            if !is_end || active.ignore_eos {
                active.generated += 1;
                active.partial.extend(self.backend.piece(token));
                let text = policy::take_valid_utf8(&mut active.partial);
                if !text.is_empty() {
                    let _ = active.job.events.send(Event::Text(text));
                }
            }
            match policy::after_token(
                is_end,
                active.ignore_eos,
                completes,
                active.generated,
                active.max_new,
                slot.cache.len(),
                context,
            ) {
                AfterToken::End | AfterToken::Complete => {
                    retire(slot, FinishReason::Stop, &self.model, self.shared)
                }
                AfterToken::Last => retire(slot, FinishReason::Length, &self.model, self.shared),
                AfterToken::Next => active.next_token = Some(token),
            }
        }
    }

    /// Fails every answer in flight with `error`.
    fn fail_active(&mut self, error: &EngineError) {
        for slot in &mut self.slots {
            if let Some(active) = slot.active.take() {
                self.shared.active.fetch_sub(1, Ordering::AcqRel);
                let _ = active.job.events.send(Event::Failed(error.clone()));
            }
        }
    }

    /// After a step broke: fails the answers in flight and the one being
    /// admitted, recreates the context, and says so on the status pages.
    /// Errs only when the context cannot be recreated.
    fn recover(&mut self, why: &str) -> Result<(), String> {
        tracing::error!(
            model = self.model,
            why,
            "a step of the model broke; restarting its context"
        );
        let at = jiff::Zoned::now().strftime("%Y-%m-%d %H:%M");
        *self
            .shared
            .incident
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(format!(
            "answers in progress at {at} failed and the model was restarted ({why})"
        ));
        let error = EngineError::Failed(format!(
            "the model broke off and was restarted; please ask again ({why})"
        ));
        if let Some(events) = self.admitting.take() {
            let _ = events.send(Event::Failed(error.clone()));
        }
        self.fail_active(&error);
        for slot in &mut self.slots {
            slot.cache.clear();
        }
        self.backend.reset()?;
        Ok(())
    }
}

/// Ends the slot's generation with `error`.
fn fail<B: Backend>(slot: &mut Slot<B>, error: EngineError, shared: &Shared) {
    if let Some(active) = slot.active.take() {
        shared.active.fetch_sub(1, Ordering::AcqRel);
        slot.last_used = Instant::now();
        let _ = active.job.events.send(Event::Failed(error));
    }
}

/// Ends the slot's generation with `reason` and reports its numbers.
fn retire<B: Backend>(slot: &mut Slot<B>, reason: FinishReason, model: &str, shared: &Shared) {
    let Some(mut active) = slot.active.take() else {
        return;
    };
    shared.active.fetch_sub(1, Ordering::AcqRel);
    slot.last_used = Instant::now();
    let rest = String::from_utf8_lossy(&active.partial).to_string();
    if !rest.is_empty() {
        let _ = active.job.events.send(Event::Text(rest));
        active.partial.clear();
    }
    let now = Instant::now();
    let first = active.first_token_at.unwrap_or(now);
    let finished = Finished {
        reason,
        prompt_tokens: active.prompt_tokens,
        reused_tokens: active.reused_tokens,
        completion_tokens: active.generated,
        time_to_first_token: first.duration_since(active.job.received),
        generation_time: now.duration_since(first),
        model: model.to_string(),
    };
    if reason != FinishReason::Cancelled && finished.completion_tokens >= 8 {
        let mut recent = shared.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.push_front(finished.tokens_per_second());
        recent.truncate(RECENT_SPEEDS);
    }
    let _ = active.job.events.send(Event::Finished(finished));
}

fn common_prefix<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The text a panic was raised with.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

/// The scheduler on the scripted model ([`super::fake`]): every phase,
/// without a model.
#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::super::{
        Engine, EngineConfig, EngineError, EngineState, Event, FakeScript, FinishReason,
        Generation, Grammar, Message, Request, Role, Sampling,
    };

    fn config(parallel: u32) -> EngineConfig {
        EngineConfig {
            model_path: "/models/scripted.gguf".into(),
            fallback_model: None,
            threads: 1,
            parallel,
            context_per_chat: 512,
            batch: 64,
            max_queue: 4,
            max_wait: Duration::from_secs(30),
        }
    }

    /// Answers "echo" and the question's words, or a long story when asked
    /// for one.
    fn echo() -> FakeScript {
        FakeScript {
            reply: Arc::new(|request: &Request| {
                let asked = &request.messages.last().unwrap().content;
                if asked.contains("long") {
                    "and then ".repeat(500)
                } else {
                    format!("echo {asked}")
                }
            }),
            step: Duration::from_millis(2),
            ..FakeScript::default()
        }
    }

    fn ready(config: EngineConfig, script: FakeScript) -> Engine {
        let engine = Engine::fake(config, script);
        let mut states = engine.watch_state();
        while matches!(*states.borrow_and_update(), EngineState::Loading { .. }) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            engine.state(),
            EngineState::Ready {
                model: "scripted.gguf".into()
            }
        );
        engine
    }

    fn request(messages: &[(Role, &str)], max_tokens: u32) -> Request {
        Request {
            messages: messages
                .iter()
                .map(|(role, text)| Message::new(*role, *text))
                .collect(),
            sampling: Sampling {
                max_tokens,
                ..Sampling::default()
            },
            grammar: None,
        }
    }

    fn ask(engine: &Engine, question: &str) -> Generation {
        engine
            .generate(request(&[(Role::User, question)], 1000))
            .unwrap()
    }

    /// Every event up to the last (`Finished` or `Failed`).
    fn events(generation: &mut Generation) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some(event) = generation.events.blocking_recv() {
            let last = matches!(event, Event::Finished(_) | Event::Failed(_));
            events.push(event);
            if last {
                break;
            }
        }
        events
    }

    fn text(events: &[Event]) -> String {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    fn started(events: &[Event]) -> (usize, usize, usize) {
        events
            .iter()
            .find_map(|e| match e {
                Event::Started {
                    prompt_tokens,
                    reused_tokens,
                    dropped_messages,
                } => Some((*prompt_tokens, *reused_tokens, *dropped_messages)),
                _ => None,
            })
            .expect("started")
    }

    fn finish(events: &[Event]) -> Result<FinishReason, EngineError> {
        match events.last() {
            Some(Event::Finished(f)) => Ok(f.reason),
            Some(Event::Failed(e)) => Err(e.clone()),
            other => panic!("no end: {other:?}"),
        }
    }

    /// Waits for the generation's first piece of text.
    fn until_text(generation: &mut Generation) {
        while let Some(event) = generation.events.blocking_recv() {
            if matches!(event, Event::Text(_)) {
                return;
            }
            assert!(
                !matches!(event, Event::Finished(_) | Event::Failed(_)),
                "{event:?}"
            );
        }
    }

    #[test]
    fn answers_decode_together_and_each_gets_its_own_text() {
        let engine = ready(config(2), echo());
        let mut first = ask(&engine, "one two");
        let mut second = ask(&engine, "three");
        let (first, second) = (events(&mut first), events(&mut second));
        assert_eq!(text(&first), "echo one two");
        assert_eq!(text(&second), "echo three");
        assert_eq!(finish(&first), Ok(FinishReason::Stop));
        // A user marker, two words, the answer's marker.
        assert_eq!(started(&first), (4, 0, 0));
        assert_eq!(engine.status().active, 0);
    }

    #[test]
    fn answers_end_at_their_limit() {
        let engine = ready(config(1), echo());
        let mut generation = engine
            .generate(request(&[(Role::User, "a long one")], 5))
            .unwrap();
        let events = events(&mut generation);
        assert_eq!(text(&events), "and then and then and ");
        assert_eq!(finish(&events), Ok(FinishReason::Length));
    }

    #[test]
    fn a_follow_up_reuses_the_cache_unless_it_cannot_be_cut() {
        #[track_caller]
        fn check(partial_clear: bool, expected_reused: usize) {
            let engine = ready(
                config(1),
                FakeScript {
                    partial_clear,
                    ..echo()
                },
            );
            let system = (Role::System, "Be brief.");
            let mut first = engine
                .generate(request(&[system, (Role::User, "hello there")], 64))
                .unwrap();
            let first = events(&mut first);
            let (first_prompt, _, _) = started(&first);
            let follow_up = [
                system,
                (Role::User, "hello there"),
                (Role::Assistant, &text(&first)),
                (Role::User, "and again"),
            ];
            let mut second = engine.generate(request(&follow_up, 64)).unwrap();
            let second = events(&mut second);
            // Never an answer from stale context: the scripted model fails
            // a batch that does not continue what its cache holds.
            assert_eq!(finish(&second), Ok(FinishReason::Stop), "{second:?}");
            assert_eq!(text(&second), "echo and again");
            assert_eq!(started(&second).1, expected_reused, "{first_prompt}");
        }
        // The whole first prompt (system 3, user 3, the answer's marker).
        check(true, 7);
        // A model whose cache cannot be cut evaluates it all again.
        check(false, 0);
    }

    #[test]
    fn a_long_prefix_in_another_slot_is_copied() {
        let engine = ready(config(2), echo());
        let system = "word ".repeat(40);
        let mut busy = engine
            .generate(request(
                &[(Role::System, &system), (Role::User, "a long story")],
                400,
            ))
            .unwrap();
        until_text(&mut busy);
        let mut other = engine
            .generate(request(&[(Role::System, &system), (Role::User, "hi")], 64))
            .unwrap();
        let other = events(&mut other);
        // The system prompt (41 tokens) and the user's marker.
        assert_eq!(started(&other).1, 42);
        assert_eq!(text(&other), "echo hi");
        assert_eq!(finish(&other), Ok(FinishReason::Stop));
    }

    #[test]
    fn the_oldest_turns_are_left_out_and_a_message_too_long_is_refused() {
        let engine = ready(
            EngineConfig {
                context_per_chat: 64,
                ..config(1)
            },
            echo(),
        );
        // 48 tokens for the prompt: 64 less 16 for the answer.
        let note = "note ".repeat(20);
        let conversation = [
            (Role::User, note.as_str()),
            (Role::Assistant, "ok"),
            (Role::User, note.as_str()),
            (Role::Assistant, "ok"),
            (Role::User, "and now?"),
        ];
        let mut generation = engine.generate(request(&conversation, 16)).unwrap();
        assert_eq!(started(&events(&mut generation)), (27, 0, 2));
        let huge = "word ".repeat(100);
        let mut generation = engine
            .generate(request(&[(Role::User, &huge)], 16))
            .unwrap();
        assert_eq!(
            finish(&events(&mut generation)),
            Err(EngineError::TooLong {
                tokens: 102,
                limit: 48
            })
        );
    }

    #[test]
    fn a_full_queue_is_busy_and_a_request_that_waits_too_long_is_told() {
        let engine = ready(
            EngineConfig {
                max_queue: 1,
                max_wait: Duration::from_millis(300),
                ..config(1)
            },
            echo(),
        );
        let mut running = ask(&engine, "a long story");
        until_text(&mut running);
        let mut waiting = ask(&engine, "hi");
        assert_eq!(
            waiting.events.blocking_recv(),
            Some(Event::Queued { ahead: 0 })
        );
        assert!(matches!(
            engine.generate(request(&[(Role::User, "x")], 8)),
            Err(EngineError::Busy)
        ));
        let asked = std::time::Instant::now();
        assert_eq!(finish(&events(&mut waiting)), Err(EngineError::Busy));
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "{:?}",
            asked.elapsed()
        );
        assert_eq!(engine.status().queued, 0);
    }

    #[test]
    fn a_cancelled_answer_frees_its_slot_for_the_next() {
        let engine = ready(config(1), echo());
        let mut running = ask(&engine, "a long story");
        until_text(&mut running);
        let mut next = ask(&engine, "hi");
        running.cancel();
        assert_eq!(finish(&events(&mut running)), Ok(FinishReason::Cancelled));
        let next = events(&mut next);
        assert_eq!(text(&next), "echo hi");
        // A dropped generation is cancelled too.
        let mut dropped = ask(&engine, "a long story");
        until_text(&mut dropped);
        drop(dropped);
        assert_eq!(text(&events(&mut ask(&engine, "again"))), "echo again");
    }

    #[test]
    fn a_panic_in_a_step_fails_the_answers_in_flight_and_serving_goes_on() {
        let engine = ready(
            config(2),
            FakeScript {
                panic_on: Some("PANIC".into()),
                ..echo()
            },
        );
        let mut running = ask(&engine, "a long story");
        until_text(&mut running);
        let mut breaking = ask(&engine, "PANIC now");
        for events in [events(&mut running), events(&mut breaking)] {
            match finish(&events) {
                Err(EngineError::Failed(why)) => assert!(why.contains("restarted"), "{why}"),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(engine.state(), EngineState::Ready { .. }));
        let notice = engine.status().notice.unwrap_or_default();
        assert!(
            notice.contains("restarted") && notice.contains("panicked"),
            "{notice}"
        );
        assert_eq!(engine.status().active, 0);
        // The next answers come from a fresh context.
        let mut after = ask(&engine, "still there?");
        let after = events(&mut after);
        assert_eq!(text(&after), "echo still there?");
        assert_eq!(started(&after).1, 0);
    }

    #[test]
    fn a_grammar_that_cannot_be_parsed_fails_its_request_alone() {
        let engine = ready(config(2), echo());
        let mut running = ask(&engine, "a long story");
        until_text(&mut running);
        let broken = Request {
            grammar: Some(Grammar::from_gbnf("answer ::= \"yes\"")),
            ..request(&[(Role::User, "hi")], 8)
        };
        let mut broken = engine.generate(broken).unwrap();
        let broken = events(&mut broken);
        match finish(&broken) {
            Err(EngineError::Failed(why)) => assert!(why.contains("grammar"), "{why}"),
            other => panic!("{other:?}"),
        }
        // Refused before it took a slot: nothing started, nothing leaked.
        assert!(!broken.iter().any(|e| matches!(e, Event::Started { .. })));
        running.cancel();
        assert_eq!(finish(&events(&mut running)), Ok(FinishReason::Cancelled));
        assert_eq!(engine.status().active, 0);
        let parsed = Request {
            grammar: Some(Grammar::from_gbnf("root ::= \"echo\" .*")),
            ..request(&[(Role::User, "again")], 8)
        };
        let mut parsed = engine.generate(parsed).unwrap();
        assert_eq!(text(&events(&mut parsed)), "echo again");
    }

    #[test]
    fn a_reload_waits_for_the_answers_in_flight() {
        let engine = ready(config(1), echo());
        let mut running = engine
            .generate(request(&[(Role::User, "a long story")], 40))
            .unwrap();
        until_text(&mut running);
        let mut waiting = ask(&engine, "hi");
        engine.reconfigure(EngineConfig {
            context_per_chat: 1024,
            ..config(1)
        });
        assert_eq!(finish(&events(&mut running)), Ok(FinishReason::Length));
        // Served by the reloaded model.
        let waiting = events(&mut waiting);
        assert_eq!(text(&waiting), "echo hi");
        assert_eq!(engine.config().context_per_chat, 1024);
    }

    #[test]
    fn shutdown_fails_what_is_running_and_waiting() {
        let engine = ready(config(1), echo());
        let mut running = ask(&engine, "a long story");
        until_text(&mut running);
        let mut waiting = ask(&engine, "hi");
        let mut states = engine.watch_state();
        engine.shutdown();
        let shutting_down = Err(EngineError::Unavailable(
            "the server is shutting down".into(),
        ));
        assert_eq!(finish(&events(&mut running)), shutting_down);
        assert_eq!(finish(&events(&mut waiting)), shutting_down);
        while *states.borrow_and_update() != EngineState::Stopped {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[tokio::test]
    async fn collect_gathers_the_whole_answer_or_the_error() {
        let engine = Engine::fake(config(1), echo());
        let state = engine.wait_until_settled(Duration::from_secs(5)).await;
        assert!(matches!(state, EngineState::Ready { .. }), "{state:?}");
        let completion = ask(&engine, "one two").collect().await.unwrap();
        assert_eq!(completion.text, "echo one two");
        assert_eq!(completion.finished.reason, FinishReason::Stop);
        assert_eq!(completion.finished.completion_tokens, 3);
        assert_eq!(completion.finished.model, "scripted.gguf");
        let huge = "word ".repeat(1000);
        let refused = engine
            .generate(request(&[(Role::User, &huge)], 16))
            .unwrap()
            .collect()
            .await;
        assert!(
            matches!(refused, Err(EngineError::TooLong { .. })),
            "{refused:?}"
        );
        engine.shutdown();
        let mut states = engine.watch_state();
        let stopped = states.wait_for(|s| *s == EngineState::Stopped).await;
        assert!(stopped.is_ok());
    }
}
