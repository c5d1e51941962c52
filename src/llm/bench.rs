//! The engine's ceiling for `hearth bench`: a bare decode loop through
//! llama.cpp on the same model, threads and prompt as the HTTP measurements,
//! with no server, scheduler or channels around it. One sequence, the whole
//! prompt in one batch, greedy sampling, a fixed number of answer tokens.
//! For the aggregate figures it also runs several conversations at once, one
//! sequence each, every step one batch: llama.cpp's own ceiling for
//! concurrent chats on this machine.
//!
//! The loop lives on its own thread with the model loaded for the whole
//! benchmark, so `hearth bench` can interleave reference runs with HTTP runs:
//! on a shared or thermally throttled machine the speed drifts by 10–20 %
//! over a minute, and only measurements taken side by side compare fairly.
//!
//! It also measures what a grammar costs ([`BareLoop::run_grammar`]): the
//! same constrained answer sampled the naive way (the grammar applied to the
//! whole vocabulary for every token), llama.cpp's way (the model's own pick
//! checked, the naive way when it does not fit) and the engine's (the model's
//! own pick checked, the best candidates when it does not fit), against free
//! decoding of as many tokens.
//!
//! Without the `llama` feature there is nothing to measure: [`BareLoop::start`]
//! says so.

use std::time::Duration;

/// One run of the bare loop.
#[derive(Debug, Clone)]
pub struct BareRun {
    pub prompt_tokens: usize,
    /// Evaluating the prompt (one decode of the whole batch).
    pub prompt_time: Duration,
    /// From before templating and tokenizing to the first sampled token.
    pub time_to_first_token: Duration,
    pub generated: usize,
    /// From the first sampled token to the last.
    pub generation_time: Duration,
}

impl BareRun {
    pub fn prompt_tokens_per_second(&self) -> f64 {
        self.prompt_tokens as f64 / self.prompt_time.as_secs_f64().max(1e-9)
    }

    pub fn generation_tokens_per_second(&self) -> f64 {
        self.generated.saturating_sub(1) as f64 / self.generation_time.as_secs_f64().max(1e-9)
    }
}

/// Several conversations run together by the bare loop.
#[derive(Debug, Clone)]
pub struct BareParallelRun {
    /// Answer tokens of all conversations together.
    pub generated: usize,
    /// From before tokenizing to the last token of the last conversation.
    pub total_time: Duration,
}

impl BareParallelRun {
    pub fn tokens_per_second(&self) -> f64 {
        self.generated as f64 / self.total_time.as_secs_f64().max(1e-9)
    }
}

/// One constrained answer, timed on the same prompt: free decoding (no
/// grammar, as many tokens), then the grammar consulted naively, llama.cpp's
/// way and the engine's way (see `llama::Way`). Each time runs from the
/// first sampling after the prompt to the last token (every token's sampling
/// and the decoding of all but the last), the fastest of three runs.
#[derive(Debug, Clone)]
pub struct GrammarRun {
    /// Tokens of the constrained answer (and of the free one).
    pub tokens: usize,
    pub free: Duration,
    /// The grammar on the whole vocabulary for every token.
    pub naive: Duration,
    /// The model's pick checked; the whole vocabulary when it is refused.
    pub rejection: Duration,
    /// The model's pick checked; the best candidates when it is refused
    /// (the engine's way).
    pub shortlist: Duration,
    /// Tokens whose free pick the grammar refused.
    pub refused: usize,
    /// Tokens for which the engine's way checked the whole vocabulary.
    pub whole_vocabulary: usize,
    /// Whether every way wrote the same answer (they must, sampling greedily).
    pub same_answer: bool,
    /// Whether the answer completed its grammar within the token limit.
    pub complete: bool,
    /// The constrained answer.
    pub text: String,
}

impl GrammarRun {
    fn per_token(&self, time: Duration) -> f64 {
        time.as_secs_f64() * 1e3 / self.tokens.max(1) as f64
    }

    pub fn free_ms_per_token(&self) -> f64 {
        self.per_token(self.free)
    }

    pub fn naive_ms_per_token(&self) -> f64 {
        self.per_token(self.naive)
    }

    pub fn rejection_ms_per_token(&self) -> f64 {
        self.per_token(self.rejection)
    }

    pub fn shortlist_ms_per_token(&self) -> f64 {
        self.per_token(self.shortlist)
    }
}

#[cfg(feature = "llama")]
pub use with_llama::BareLoop;

/// A build without llama.cpp has no bare loop to measure.
#[cfg(not(feature = "llama"))]
pub struct BareLoop {
    never: std::convert::Infallible,
}

#[cfg(not(feature = "llama"))]
impl BareLoop {
    pub fn start(_model: &std::path::Path, _threads: u32) -> Result<BareLoop, String> {
        Err(super::WITHOUT_LLAMA.into())
    }

    pub fn run(&self, _messages: &[super::Message], _tokens: usize) -> Result<BareRun, String> {
        match self.never {}
    }

    pub fn run_together(
        &self,
        _conversations: Vec<Vec<super::Message>>,
        _tokens: usize,
    ) -> Result<BareParallelRun, String> {
        match self.never {}
    }

    pub fn run_grammar(
        &self,
        _messages: &[super::Message],
        _grammar: &super::Grammar,
        _max_tokens: usize,
    ) -> Result<GrammarRun, String> {
        match self.never {}
    }
}

#[cfg(feature = "llama")]
mod with_llama {
    use std::num::NonZeroU32;
    use std::path::{Path, PathBuf};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use llama_cpp_2::context::LlamaContext;
    use llama_cpp_2::context::params::LlamaContextParams;
    use llama_cpp_2::llama_batch::LlamaBatch;
    use llama_cpp_2::model::params::LlamaModelParams;
    use llama_cpp_2::model::{LlamaChatTemplate, LlamaModel};
    use llama_cpp_2::sampling::LlamaSampler;

    use llama_cpp_2::token::LlamaToken;

    use super::super::llama::{Constraint, Picker, Way, backend, end_token, tokenize_chat};
    use super::super::scheduler::Sampled;
    use super::super::{Grammar, Message, Role, Sampling};
    use super::{BareParallelRun, BareRun, GrammarRun};

    enum RunRequest {
        One(Vec<Message>, usize, mpsc::Sender<Result<BareRun, String>>),
        Together(
            Vec<Vec<Message>>,
            usize,
            mpsc::Sender<Result<BareParallelRun, String>>,
        ),
        Grammar(
            Vec<Message>,
            String,
            usize,
            mpsc::Sender<Result<GrammarRun, String>>,
        ),
    }

    /// A model loaded on its own thread, ready to run the bare loop on request.
    pub struct BareLoop {
        requests: mpsc::Sender<RunRequest>,
    }

    impl BareLoop {
        /// Loads `model` with `threads` threads; returns once it is loaded and
        /// warmed up (one short run), or the reason it could not be.
        pub fn start(model: &Path, threads: u32) -> Result<BareLoop, String> {
            let (requests, receiver) = mpsc::channel::<RunRequest>();
            let (ready, loaded) = mpsc::channel();
            let model = model.to_path_buf();
            std::thread::Builder::new()
                .name("hearth-bench-bare".into())
                .spawn(move || serve(model, threads, receiver, ready))
                .map_err(|e| format!("cannot start the reference thread: {e}"))?;
            loaded
                .recv()
                .map_err(|_| "the reference thread ended while loading".to_string())??;
            Ok(BareLoop { requests })
        }

        /// Evaluates the conversation from an empty cache and generates exactly
        /// `tokens` answer tokens. Blocking.
        pub fn run(&self, messages: &[Message], tokens: usize) -> Result<BareRun, String> {
            let (reply, result) = mpsc::channel();
            self.send(RunRequest::One(messages.to_vec(), tokens, reply))?;
            result
                .recv()
                .map_err(|_| "the reference thread has ended".to_string())?
        }

        /// Runs the conversations together from an empty cache, one sequence
        /// each, all prompts in the first batch and then one token of every
        /// conversation per step, `tokens` answer tokens each. Blocking.
        pub fn run_together(
            &self,
            conversations: Vec<Vec<Message>>,
            tokens: usize,
        ) -> Result<BareParallelRun, String> {
            let (reply, result) = mpsc::channel();
            self.send(RunRequest::Together(conversations, tokens, reply))?;
            result
                .recv()
                .map_err(|_| "the reference thread has ended".to_string())?
        }

        /// Samples the constrained answer to the conversation greedily, at
        /// most `max_tokens` tokens, each way, then as many tokens freely;
        /// each from an empty cache. Blocking.
        pub fn run_grammar(
            &self,
            messages: &[Message],
            grammar: &Grammar,
            max_tokens: usize,
        ) -> Result<GrammarRun, String> {
            let gbnf = grammar
                .gbnf()
                .ok_or("the grammar has no GBNF text")?
                .to_string();
            let (reply, result) = mpsc::channel();
            self.send(RunRequest::Grammar(
                messages.to_vec(),
                gbnf,
                max_tokens,
                reply,
            ))?;
            result
                .recv()
                .map_err(|_| "the reference thread has ended".to_string())?
        }

        fn send(&self, request: RunRequest) -> Result<(), String> {
            self.requests
                .send(request)
                .map_err(|_| "the reference thread has ended".to_string())
        }
    }

    fn serve(
        path: PathBuf,
        threads: u32,
        requests: mpsc::Receiver<RunRequest>,
        ready: mpsc::Sender<Result<(), String>>,
    ) {
        let loaded = (|| {
            let backend = backend()?;
            let model = LlamaModel::load_from_file(backend, &path, &LlamaModelParams::default())
                .map_err(|e| format!("cannot load {}: {e}", path.display()))?;
            let template = model
                .chat_template(None)
                .or_else(|_| LlamaChatTemplate::new("chatml"))
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((model, template))
        })();
        let (model, template) = match loaded {
            Ok(loaded) => loaded,
            Err(err) => {
                let _ = ready.send(Err(err));
                return;
            }
        };
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(4096))
            .with_n_batch(512)
            .with_n_ubatch(512)
            .with_n_threads(threads as i32)
            .with_n_threads_batch(threads as i32);
        let mut ctx = match backend().and_then(|b| {
            model
                .new_context(b, params)
                .map_err(|e| format!("cannot create a context: {e}"))
        }) {
            Ok(ctx) => ctx,
            Err(err) => {
                let _ = ready.send(Err(err));
                return;
            }
        };
        let warm_up = [Message::new(Role::User, "Hello")];
        if let Err(err) = run_once(&model, &template, &mut ctx, &warm_up, 8) {
            let _ = ready.send(Err(err));
            return;
        }
        let _ = ready.send(Ok(()));
        for request in requests {
            match request {
                RunRequest::One(messages, tokens, reply) => {
                    let _ = reply.send(run_once(&model, &template, &mut ctx, &messages, tokens));
                }
                RunRequest::Together(conversations, tokens, reply) => {
                    let _ = reply.send(run_together(
                        &model,
                        &template,
                        threads,
                        &conversations,
                        tokens,
                    ));
                }
                RunRequest::Grammar(messages, gbnf, tokens, reply) => {
                    let _ = reply.send(run_grammar(
                        &model, &template, &mut ctx, &messages, &gbnf, tokens,
                    ));
                }
            }
        }
    }

    /// The context for [`run_together`]: one KV stream per conversation, as the
    /// engine has, so the figures compare like with like. Created outside the
    /// timed part.
    fn run_together(
        model: &LlamaModel,
        template: &LlamaChatTemplate,
        threads: u32,
        conversations: &[Vec<Message>],
        tokens: usize,
    ) -> Result<BareParallelRun, String> {
        let n = conversations.len().max(1) as u32;
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(4096 * n))
            .with_n_batch(4096)
            .with_n_ubatch(512)
            .with_n_seq_max(n)
            .with_kv_unified(false)
            .with_n_threads(threads as i32)
            .with_n_threads_batch(threads as i32);
        let mut ctx = model
            .new_context(backend()?, params)
            .map_err(|e| format!("cannot create a context: {e}"))?;
        let started = Instant::now();
        let mut prompts = Vec::new();
        for messages in conversations {
            let refs: Vec<&Message> = messages.iter().collect();
            prompts.push(tokenize_chat(model, template, &[], &refs).map_err(|e| e.to_string())?);
        }
        let total: usize = prompts.iter().map(Vec::len).sum();
        let mut batch = LlamaBatch::new(total.max(conversations.len()), 1);
        let mut logits = Vec::new();
        for (seq, prompt) in prompts.iter().enumerate() {
            for (i, token) in prompt.iter().enumerate() {
                let last = i + 1 == prompt.len();
                if last {
                    logits.push(batch.n_tokens());
                }
                batch
                    .add(*token, i as i32, &[seq as i32], last)
                    .map_err(|e| e.to_string())?;
            }
        }
        ctx.decode(&mut batch).map_err(|e| e.to_string())?;
        let mut sampler = LlamaSampler::greedy();
        let mut next: Vec<_> = logits.iter().map(|&i| sampler.sample(&ctx, i)).collect();
        for step in 0..tokens.saturating_sub(1) {
            batch.clear();
            for (seq, token) in next.iter().enumerate() {
                let position = (prompts[seq].len() + step) as i32;
                batch
                    .add(*token, position, &[seq as i32], true)
                    .map_err(|e| e.to_string())?;
            }
            ctx.decode(&mut batch).map_err(|e| e.to_string())?;
            for (seq, token) in next.iter_mut().enumerate() {
                *token = sampler.sample(&ctx, seq as i32);
            }
        }
        Ok(BareParallelRun {
            generated: tokens * conversations.len(),
            total_time: started.elapsed(),
        })
    }

    fn run_once(
        model: &LlamaModel,
        template: &LlamaChatTemplate,
        ctx: &mut LlamaContext<'_>,
        messages: &[Message],
        tokens: usize,
    ) -> Result<BareRun, String> {
        ctx.clear_kv_cache();
        let refs: Vec<&Message> = messages.iter().collect();
        let started = Instant::now();
        let prompt = tokenize_chat(model, template, &[], &refs).map_err(|e| e.to_string())?;
        let mut batch = LlamaBatch::new(prompt.len().max(1), 1);
        for (i, token) in prompt.iter().enumerate() {
            batch
                .add(*token, i as i32, &[0], i + 1 == prompt.len())
                .map_err(|e| e.to_string())?;
        }
        let prompt_start = Instant::now();
        ctx.decode(&mut batch).map_err(|e| e.to_string())?;
        let prompt_time = prompt_start.elapsed();
        let mut sampler = LlamaSampler::greedy();
        let mut token = sampler.sample(ctx, batch.n_tokens() - 1);
        let first = Instant::now();
        let time_to_first_token = first.duration_since(started);
        for position in prompt.len()..prompt.len() + tokens.saturating_sub(1) {
            batch.clear();
            batch
                .add(token, position as i32, &[0], true)
                .map_err(|e| e.to_string())?;
            ctx.decode(&mut batch).map_err(|e| e.to_string())?;
            token = sampler.sample(ctx, 0);
        }
        Ok(BareRun {
            prompt_tokens: prompt.len(),
            prompt_time,
            time_to_first_token,
            generated: tokens,
            generation_time: first.elapsed(),
        })
    }

    /// Times each way is run in [`run_grammar`].
    const REPEATS: usize = 3;

    /// How [`answer`] samples.
    #[derive(Clone, Copy, PartialEq)]
    enum Mode {
        /// No grammar: exactly this many tokens, past any end token.
        Free(usize),
        Grammar(Way),
    }

    /// One answer: its tokens, its time, and the constraint's counts.
    struct Answer {
        tokens: Vec<LlamaToken>,
        time: Duration,
        refused: usize,
        whole_vocabulary: usize,
        complete: bool,
    }

    fn run_grammar(
        model: &LlamaModel,
        template: &LlamaChatTemplate,
        ctx: &mut LlamaContext<'_>,
        messages: &[Message],
        gbnf: &str,
        max_tokens: usize,
    ) -> Result<GrammarRun, String> {
        let refs: Vec<&Message> = messages.iter().collect();
        let prompt = tokenize_chat(model, template, &[], &refs).map_err(|e| e.to_string())?;
        let mut run = |mode| answer(model, ctx, &prompt, gbnf, mode, max_tokens);
        let mut naive = run(Mode::Grammar(Way::Naive))?;
        let mut rejection = run(Mode::Grammar(Way::Rejection))?;
        let mut shortlist = run(Mode::Grammar(Way::Shortlist))?;
        let free_tokens = Mode::Free(shortlist.tokens.len());
        let mut free = run(free_tokens)?;
        // Each way again, interleaved, keeping its fastest time: on a shared
        // two-core machine one answer in a few is slowed several times over
        // by other work, which would swamp differences of a millisecond per
        // token, and interference only ever adds time.
        for _ in 1..REPEATS {
            for (kept, mode) in [
                (&mut naive, Mode::Grammar(Way::Naive)),
                (&mut rejection, Mode::Grammar(Way::Rejection)),
                (&mut shortlist, Mode::Grammar(Way::Shortlist)),
                (&mut free, free_tokens),
            ] {
                let again = run(mode)?;
                kept.time = kept.time.min(again.time);
            }
        }
        let text: Vec<u8> = shortlist
            .tokens
            .iter()
            .flat_map(|t| model.vocab().token_to_piece(*t, false, None))
            .collect();
        Ok(GrammarRun {
            tokens: shortlist.tokens.len(),
            free: free.time,
            naive: naive.time,
            rejection: rejection.time,
            shortlist: shortlist.time,
            refused: shortlist.refused,
            whole_vocabulary: shortlist.whole_vocabulary,
            same_answer: naive.tokens == shortlist.tokens && rejection.tokens == shortlist.tokens,
            complete: shortlist.complete,
            text: String::from_utf8_lossy(&text).to_string(),
        })
    }

    /// One answer from an empty cache, sampled `mode` with the engine's
    /// greedy chain, timed from the first sampling to the last token.
    fn answer(
        model: &LlamaModel,
        ctx: &mut LlamaContext<'_>,
        prompt: &[LlamaToken],
        gbnf: &str,
        mode: Mode,
        max_tokens: usize,
    ) -> Result<Answer, String> {
        ctx.clear_kv_cache();
        let mut batch = LlamaBatch::new(prompt.len().max(1), 1);
        for (i, token) in prompt.iter().enumerate() {
            batch
                .add(*token, i as i32, &[0], i + 1 == prompt.len())
                .map_err(|e| e.to_string())?;
        }
        ctx.decode(&mut batch).map_err(|e| e.to_string())?;
        let greedy = Sampling {
            temperature: 0.0,
            ..Sampling::default()
        };
        let mut picker = Picker::new(&greedy);
        let (mut constraint, limit) = match mode {
            Mode::Free(tokens) => (None, tokens),
            Mode::Grammar(_) => {
                let constraint = Constraint::new(model, gbnf, &greedy, end_token(model))
                    .map_err(|e| e.to_string())?;
                (Some(constraint), max_tokens)
            }
        };
        let mut tokens = Vec::new();
        let mut index = batch.n_tokens() - 1;
        let mut complete = false;
        let started = Instant::now();
        while tokens.len() < limit {
            let sampled = match (&mut constraint, mode) {
                (Some(c), Mode::Grammar(way)) => c
                    .sample(model, ctx, index, way)
                    .map_err(|e| e.to_string())?,
                _ => {
                    let token = picker.pick(ctx, index).map_err(|e| e.to_string())?;
                    picker.accept(token);
                    Sampled {
                        token,
                        completes: false,
                    }
                }
            };
            if constraint.is_some() && model.vocab().is_eog(sampled.token) {
                complete = true;
                break;
            }
            tokens.push(sampled.token);
            if sampled.completes {
                complete = true;
                break;
            }
            if tokens.len() == limit {
                break;
            }
            batch.clear();
            let position = (prompt.len() + tokens.len() - 1) as i32;
            batch
                .add(sampled.token, position, &[0], true)
                .map_err(|e| e.to_string())?;
            ctx.decode(&mut batch).map_err(|e| e.to_string())?;
            index = 0;
        }
        let time = started.elapsed();
        let (refused, whole_vocabulary) =
            constraint.map_or((0, 0), |c| (c.refused, c.whole_vocabulary));
        Ok(Answer {
            tokens,
            time,
            refused,
            whole_vocabulary,
            complete,
        })
    }
}
